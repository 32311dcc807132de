// Package peft is GoPEFT's library: parameter-efficient fine-tuning methods on
// a BERT-family encoder, built on GoMLX.
package peft

// Version is GoPEFT's release, reported by the CLI, the kernel and notebooks.
const Version = "0.1.0"
