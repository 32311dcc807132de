package peft

import (
	"github.com/gomlx/gomlx/pkg/core/dtypes"

	"github.com/gopeft/gopeft/peft/encoder"
)

// SetMixedPrecision switches t to bfloat16 matrix products with float32
// master weights: every product of the encoder, the adapters built on its
// Linear and the head reads bfloat16 operands, and everything else
// (variables, LayerNorm, softmax, the loss, gradients' accumulation in the
// variables, AdamW) stays float32. On a GPU with bfloat16 tensor cores the
// products run at about twice the TF32 rate. bfloat16 keeps float32's
// exponent range, so no loss scaling is needed. Results differ from float32
// by rounding (about 3 significant digits per product).
//
// Set it before the first step or inference: graphs already compiled keep
// the precision they were compiled with.
func (t *Tuned) SetMixedPrecision(on bool) {
	v := "float32"
	if on {
		v = "bfloat16"
	}
	t.Ctx.SetParam(encoder.MatmulDTypeParam, v)
}

// MixedPrecision reports whether SetMixedPrecision(true) is in effect.
func (t *Tuned) MixedPrecision() bool {
	return encoder.MatmulDType(t.Ctx) == dtypes.BFloat16
}
