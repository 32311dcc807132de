// Package blas is GoPEFT's CPU compute backend for GoMLX, registered as
// "blas" (GOMLX_BACKEND=blas).
//
// GoMLX's pure-Go backend ("go", simplego) spends most of a fine-tuning step
// in a portable-Go DotGeneral and in unfused, single-threaded elementwise ops
// that allocate per op. This backend records the graph GoMLX builds into a
// small IR, and Compile turns it into an execution plan: ops run as soon as
// their inputs are ready, independent ones on GOMAXPROCS workers at once,
// buffers freed as soon as their last reader finishes and reused across
// Execute calls through pools, elementwise ops run in place when an input is
// dead, chains of elementwise ops fused into one pass, and large elementwise
// ops and reductions split over the cores in fixed chunks (so results are
// bit-reproducible run to run). DotGeneral goes to OpenBLAS (cblas sgemm and
// dgemm, loaded at run time from libopenblas.so.0).
//
// Ops it does not implement return an error that names the op and says
// `not implemented by backend "blas": use GOMLX_BACKEND=go`; it never
// returns a wrong answer instead. Without OpenBLAS (apt-get install
// libopenblas0) the constructor fails, and peft/backend falls back to "go".
package blas
