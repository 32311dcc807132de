package train

// Speed are the options that change how fast a step runs; results move only
// by rounding.
type Speed struct {
	// MixedPrecision runs matrix products on bfloat16 operands with float32
	// master weights (peft.Tuned.SetMixedPrecision): about twice the speed on
	// a GPU with bfloat16 tensor cores, no gain on the CPU backends.
	MixedPrecision bool
}
