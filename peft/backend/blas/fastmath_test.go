package blas

import (
	"math"
	"testing"
)

// TestFastMath checks expf and erff against math's float64 routines over
// the ranges the encoder uses, at float32 accuracy.
func TestFastMath(t *testing.T) {
	worstExp, worstErf := 0.0, 0.0
	for i := -2_000_000; i <= 2_000_000; i++ {
		x := float32(i) * 5e-5 // [-100, 100]
		want := math.Exp(float64(x))
		if got := float64(expf(x)); want > 1e-37 && !math.IsInf(want, 0) && float32(want) != float32(math.Inf(1)) {
			worstExp = max(worstExp, math.Abs(got-want)/want)
		}
		if x >= -10 && x <= 10 {
			we := math.Erf(float64(x))
			worstErf = max(worstErf, math.Abs(float64(erff(x))-we))
		}
	}
	if worstExp > 2.5e-7 {
		t.Errorf("expf relative error %g", worstExp)
	}
	if worstErf > 5e-7 {
		t.Errorf("erff absolute error %g", worstErf)
	}
	t.Logf("expf worst relative error %.3g, erff worst absolute error %.3g", worstExp, worstErf)
	for _, c := range []struct{ x, want float32 }{{89, float32(math.Inf(1))}, {-105, 0}, {0, 1}} {
		if got := expf(c.x); got != c.want {
			t.Errorf("expf(%g) = %g, want %g", c.x, got, c.want)
		}
	}
	if v := expf(float32(math.NaN())); v == v {
		t.Errorf("expf(NaN) = %g", v)
	}
	if erff(0) != 0 || erff(10) != 1 || erff(-10) != -1 {
		t.Errorf("erff(0, 10, -10) = %g, %g, %g", erff(0), erff(10), erff(-10))
	}
}
