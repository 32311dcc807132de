package blas

import (
	"github.com/gomlx/gomlx/backends"

	"github.com/gopeft/gopeft/peft/backend/blas/internal/simd"
)

// The float32 Add/Sub/Mul/Div loops run 8 lanes at a time with AVX
// (internal/simd) where the CPU has AVX2: Go does not vectorise, and these
// loops are most of the elementwise time after fusion. Results are the
// same bits as the Go loops.

// binarySIMD runs op on o = a op b (strides 1 or 0, as binaryFloat) and
// reports whether it did. a and b must hold len(o) elements where their
// stride is 1.
func binarySIMD(op backends.OpType, o, a, b []float32, sa, sb int) bool {
	if !simd.OK || len(o) < 16 || (sa == 0 && sb == 0) {
		return false
	}
	n := len(o)
	switch {
	case sa == 1 && sb == 1:
		a, b = a[:n], b[:n]
		switch op {
		case opAdd:
			simd.AddVV(o, a, b)
		case opSub:
			simd.SubVV(o, a, b)
		case opMul:
			simd.MulVV(o, a, b)
		case opDiv:
			simd.DivVV(o, a, b)
		default:
			return false
		}
	case sa == 1:
		a = a[:n]
		switch op {
		case opAdd:
			simd.AddVS(o, a, b[0])
		case opSub:
			simd.SubVS(o, a, b[0])
		case opMul:
			simd.MulVS(o, a, b[0])
		case opDiv:
			simd.DivVS(o, a, b[0])
		default:
			return false
		}
	default:
		b = b[:n]
		switch op {
		case opAdd:
			simd.AddVS(o, b, a[0])
		case opSub:
			simd.SubSV(o, a[0], b)
		case opMul:
			simd.MulVS(o, b, a[0])
		case opDiv:
			simd.DivSV(o, a[0], b)
		default:
			return false
		}
	}
	return true
}
