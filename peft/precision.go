package peft

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/dtypes"

	"github.com/gopeft/gopeft/peft/backend"
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
// the precision they were compiled with. It fails, changing nothing, where
// the backend has no bfloat16 (see MixedPrecisionSupported).
func (t *Tuned) SetMixedPrecision(on bool) error {
	v := "float32"
	if on {
		if err := MixedPrecisionSupported(); err != nil {
			return err
		}
		v = "bfloat16"
	}
	t.Ctx.SetParam(encoder.MatmulDTypeParam, v)
	return nil
}

// MixedPrecisionSupported says why this process's backend cannot run
// SetMixedPrecision(true), or nil: XLA (GPU) and the pure-Go backend can;
// GoPEFT's blas CPU backend has no bfloat16 operations.
func MixedPrecisionSupported() error {
	if c := BackendChoice(); c.Config == backend.BLASConfig {
		return fmt.Errorf("mixed precision needs bfloat16, which the %s backend lacks: use a GPU (XLA) backend, or %s=go", c.Name, backend.EnvGoMLX)
	}
	return nil
}

// MixedPrecision reports whether SetMixedPrecision(true) is in effect.
func (t *Tuned) MixedPrecision() bool {
	return encoder.MatmulDType(t.Ctx) == dtypes.BFloat16
}
