package blas

import (
	"math"

	"github.com/gomlx/gomlx/backends"

	"github.com/gopeft/gopeft/peft/backend/blas/internal/simd"
)

// Float32 versions of the transcendental functions the encoder's training
// step spends its elementwise time in (GELU's Erf, softmax's and GELU
// gradient's Exp). math's float64 routines are accurate far past float32 and
// several times slower; these keep float32 accuracy (a few ulp) with plain
// arithmetic the compiler inlines.

// expf is e^x for float32 inputs: x = k·ln2 + r with |r| <= ln2/2, e^r by a
// degree-7 Taylor polynomial (relative error under 1e-8, below float32's
// epsilon), times 2^k built from the exponent bits.
func expf(x float32) float32 {
	switch {
	case x != x:
		return x
	case x > 88.72284:
		return float32(math.Inf(1))
	case x < -104:
		return 0
	}
	xd := float64(x)
	// Round x·log2(e) to the nearest integer by adding and subtracting
	// 1.5·2^52 (cheaper than math.Floor's call; |x·log2(e)| < 2^51).
	const magic = 1.5 * (1 << 52)
	k := (xd*math.Log2E + magic) - magic
	r := xd - k*math.Ln2
	p := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720+r*(1.0/5040)))))))
	return float32(p * math.Float64frombits(uint64(int64(k)+1023)<<52))
}

// erff is erf(x) for float32 inputs, as a rational function of x on
// [-4, 4] (odd numerator of degree 13, even denominator of degree 8; the
// same form XLA uses for f32); beyond ±4 erf is ±1 to float32 precision.
func erff(x float32) float32 {
	if x != x {
		return x
	}
	xd := max(-4, min(4, float64(x)))
	x2 := xd * xd
	p := x2*-2.72614225801306e-10 + 2.77068142495902e-08
	p = x2*p + -2.10102402082508e-06
	p = x2*p + -5.69250639462346e-05
	p = x2*p + -7.34990630326855e-04
	p = x2*p + -2.95459980854025e-03
	p = x2*p + -1.60960333262415e-02
	p *= xd
	q := x2*-1.45660718464996e-05 + -2.13374055278905e-04
	q = x2*q + -1.68282697438203e-03
	q = x2*q + -7.37332916720468e-03
	q = x2*q + -1.42647390514189e-02
	return float32(p / q)
}

// unaryFast runs the float32 ops that have a fast form; false for others.
func unaryFast(op backends.OpType, dst, src []float32) bool {
	src = src[:len(dst)]
	switch op {
	case backends.OpTypeExp:
		k := 0
		if simd.OKMath {
			k = simd.ExpF32(dst, src) // 8 lanes at a time; the tail here
		}
		for i, x := range src[k:] {
			dst[k+i] = expf(x)
		}
	case backends.OpTypeErf:
		k := 0
		if simd.OKMath {
			k = simd.ErfF32(dst, src)
		}
		for i, x := range src[k:] {
			dst[k+i] = erff(x)
		}
	case backends.OpTypeLogistic:
		for i, x := range src {
			dst[i] = 1 / (1 + expf(-x))
		}
	default:
		return false
	}
	return true
}
