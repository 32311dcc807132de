package simd

import (
	"math"
	"testing"
)

// TestExpErf checks the vector exp and erf against math's float64 ones
// over the float32 range, plus NaN, overflow and underflow.
func TestExpErf(t *testing.T) {
	if !OKMath {
		t.Skip("no AVX2/FMA")
	}
	const n = 1 << 20
	x, e, f := make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range x {
		x[i] = -110 + 210*float32(i)/n
	}
	x[3], x[5], x[9] = float32(math.NaN()), 200, -1e9
	if k := ExpF32(e, x); k != n {
		t.Fatalf("ExpF32 did %d of %d", k, n)
	}
	ErfF32(f, x)
	worstExp, worstErf := 0.0, 0.0
	for i, v := range x {
		switch i {
		case 3:
			if e[i] == e[i] || f[i] == f[i] {
				t.Errorf("NaN: exp %v erf %v", e[i], f[i])
			}
			continue
		case 5:
			if !math.IsInf(float64(e[i]), 1) || f[i] != 1 {
				t.Errorf("x=200: exp %v erf %v", e[i], f[i])
			}
			continue
		case 9:
			if e[i] != 0 || f[i] != -1 {
				t.Errorf("x=-1e9: exp %v erf %v", e[i], f[i])
			}
			continue
		}
		want := math.Exp(float64(v))
		switch {
		case want > math.MaxFloat32:
			if !math.IsInf(float64(e[i]), 1) {
				t.Fatalf("exp(%v) = %v, want +Inf", v, e[i])
			}
		case want >= 1.1754944e-38: // normal range: relative error
			worstExp = max(worstExp, math.Abs(float64(e[i])-want)/want)
		default: // subnormal: absolute
			if d := math.Abs(float64(e[i]) - want); d > 3e-45 {
				t.Fatalf("exp(%v) = %v, want %v", v, e[i], want)
			}
		}
		worstErf = max(worstErf, math.Abs(float64(f[i])-math.Erf(float64(v))))
	}
	if worstExp > 3e-7 || worstErf > 5e-7 {
		t.Errorf("worst errors: exp relative %g, erf absolute %g", worstExp, worstErf)
	}
	t.Logf("exp worst relative error %.3g, erf worst absolute error %.3g", worstExp, worstErf)
}
