package train

import "github.com/gopeft/gopeft/peft"

// Speed are the options that change how fast a step runs; results move only
// by rounding.
type Speed struct {
	// MixedPrecision runs matrix products on bfloat16 operands with float32
	// master weights (peft.Tuned.SetMixedPrecision): about twice the speed on
	// a GPU with bfloat16 tensor cores, no gain on the CPU backends. Where
	// the backend has no bfloat16 (blas), Finetune says so through Log and
	// trains in float32 (Resolved turns it off, so the run record says so).
	MixedPrecision bool
}

func (s Speed) resolved() Speed {
	if s.MixedPrecision && peft.MixedPrecisionSupported() != nil {
		s.MixedPrecision = false
	}
	return s
}
