package peft

import (
	"math"
	"testing"
)

// Mixed precision changes a step only by bfloat16 rounding: the same model,
// setup and batch give nearly the same loss, step after step, and the
// master weights stay float32.
func TestMixedPrecisionStepMatchesFloat32(t *testing.T) {
	m := tinyModel(t)
	losses := map[bool][]float64{}
	for _, mixed := range []bool{false, true} {
		tu, err := NewTuned(m, NewSetup("lora", DefaultLoRA()), ClassificationHead(2), 1)
		if err != nil {
			t.Fatal(err)
		}
		tu.Head.Dropout = 0
		if err := tu.SetMixedPrecision(mixed); err != nil {
			t.Skip(err)
		}
		if tu.MixedPrecision() != mixed {
			t.Fatalf("MixedPrecision() = %v after SetMixedPrecision(%v)", tu.MixedPrecision(), mixed)
		}
		s := tu.NewStepper(0)
		for range 3 {
			r, err := s.Step(tinyBatch(), Labels{Classes: []int32{0, 1}}, 1e-2, 0)
			if err != nil {
				t.Fatal(err)
			}
			losses[mixed] = append(losses[mixed], r.Loss)
		}
		for v := range tu.Ctx.IterVariables() {
			if v.Trainable && v.Shape().DType.String() != "Float32" {
				t.Errorf("trainable %s is %s, want float32 master weights", v.ScopeAndName(), v.Shape().DType)
			}
		}
	}
	for i, f32 := range losses[false] {
		if bf := losses[true][i]; math.Abs(bf-f32) > 0.02*math.Abs(f32)+1e-3 {
			t.Errorf("step %d: loss %.5f with bfloat16 products, %.5f in float32", i, bf, f32)
		}
	}
}
