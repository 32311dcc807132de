package blas

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
)

type float interface{ ~float32 | ~float64 }

type integer interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64
}

type number interface{ float | integer }

const (
	opAdd = backends.OpTypeAdd
	opSub = backends.OpTypeSub
	opMul = backends.OpTypeMul
	opDiv = backends.OpTypeDiv
	opMax = backends.OpTypeMax
	opMin = backends.OpTypeMin
)

func unarySupported(op backends.OpType, dt dtypes.DType) bool {
	switch op {
	case backends.OpTypeLogicalNot:
		return dt == dtypes.Bool
	case backends.OpTypeBitwiseNot:
		return isIndex(dt)
	case backends.OpTypeNeg, backends.OpTypeAbs, backends.OpTypeSign:
		return isFloatOrInt(dt)
	}
	return isFloat(dt)
}

func binarySupported(op backends.OpType, dt dtypes.DType) bool {
	switch op {
	case backends.OpTypeLogicalAnd, backends.OpTypeLogicalOr, backends.OpTypeLogicalXor:
		return dt == dtypes.Bool
	case backends.OpTypeEqual, backends.OpTypeNotEqual:
		return isFloatOrInt(dt) || dt == dtypes.Bool
	case backends.OpTypeBitwiseAnd, backends.OpTypeBitwiseOr, backends.OpTypeBitwiseXor:
		return isIndex(dt)
	case backends.OpTypePow:
		return isFloat(dt)
	}
	return isFloatOrInt(dt)
}

// unaryFloat applies op to src into dst (which may be src): one tight loop
// per op, the switch outside it.
func unaryFloat[T float](op backends.OpType, dst, src []T) {
	src = src[:len(dst)]
	switch op {
	case backends.OpTypeNeg:
		for i, x := range src {
			dst[i] = -x
		}
	case backends.OpTypeAbs:
		for i, x := range src {
			dst[i] = T(math.Abs(float64(x)))
		}
	case backends.OpTypeExp:
		for i, x := range src {
			dst[i] = T(math.Exp(float64(x)))
		}
	case backends.OpTypeExpm1:
		for i, x := range src {
			dst[i] = T(math.Expm1(float64(x)))
		}
	case backends.OpTypeLog:
		for i, x := range src {
			dst[i] = T(math.Log(float64(x)))
		}
	case backends.OpTypeLog1p:
		for i, x := range src {
			dst[i] = T(math.Log1p(float64(x)))
		}
	case backends.OpTypeLogistic:
		for i, x := range src {
			dst[i] = T(logistic(float64(x)))
		}
	case backends.OpTypeTanh:
		for i, x := range src {
			dst[i] = T(math.Tanh(float64(x)))
		}
	case backends.OpTypeSqrt:
		for i, x := range src {
			dst[i] = T(math.Sqrt(float64(x)))
		}
	case backends.OpTypeRsqrt:
		for i, x := range src {
			dst[i] = T(1 / math.Sqrt(float64(x)))
		}
	case backends.OpTypeSign:
		for i, x := range src {
			switch {
			case x > 0:
				dst[i] = 1
			case x < 0:
				dst[i] = -1
			default:
				dst[i] = x // 0, -0 and NaN stay
			}
		}
	case backends.OpTypeSin:
		for i, x := range src {
			dst[i] = T(math.Sin(float64(x)))
		}
	case backends.OpTypeCos:
		for i, x := range src {
			dst[i] = T(math.Cos(float64(x)))
		}
	case backends.OpTypeErf:
		for i, x := range src {
			dst[i] = T(math.Erf(float64(x)))
		}
	case backends.OpTypeFloor:
		for i, x := range src {
			dst[i] = T(math.Floor(float64(x)))
		}
	case backends.OpTypeCeil:
		for i, x := range src {
			dst[i] = T(math.Ceil(float64(x)))
		}
	case backends.OpTypeRound:
		for i, x := range src {
			dst[i] = T(math.Round(float64(x)))
		}
	default:
		panic(fmt.Sprintf("unaryFloat: %s", op))
	}
}

func logistic(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

func unaryInt[T integer](op backends.OpType, dst, src []T) {
	src = src[:len(dst)]
	switch op {
	case backends.OpTypeNeg:
		for i, x := range src {
			dst[i] = -x
		}
	case backends.OpTypeAbs:
		for i, x := range src {
			if x < 0 {
				x = -x
			}
			dst[i] = x
		}
	case backends.OpTypeSign:
		for i, x := range src {
			switch {
			case x > 0:
				dst[i] = 1
			case x < 0:
				dst[i] = ^T(0) // -1
			default:
				dst[i] = 0
			}
		}
	case backends.OpTypeBitwiseNot:
		for i, x := range src {
			dst[i] = ^x
		}
	default:
		panic(fmt.Sprintf("unaryInt: %s", op))
	}
}

func unaryPredicate[T float](op backends.OpType, dst []bool, src []T) {
	src = src[:len(dst)]
	switch op {
	case backends.OpTypeIsNaN:
		for i, x := range src {
			dst[i] = x != x
		}
	case backends.OpTypeIsFinite:
		for i, x := range src {
			dst[i] = !math.IsInf(float64(x), 0) && x == x
		}
	default:
		panic(fmt.Sprintf("unaryPredicate: %s", op))
	}
}

// Binary loops: sa, sb are the operands' strides over the run (1: a vector,
// 0: one value repeated). Each op has its own loops so the compiler emits
// plain arithmetic with no per-element dispatch.

func binaryFloat[T float](op backends.OpType, o, a, b []T, sa, sb int) {
	if o32, ok := any(o).([]float32); ok && binarySIMD(op, o32, any(a).([]float32), any(b).([]float32), sa, sb) {
		return
	}
	binaryLoops(op, o, a, b, sa, sb)
}

func binaryLoops[T float](op backends.OpType, o, a, b []T, sa, sb int) {
	n := len(o)
	if sa == 1 {
		a = a[:n]
	}
	if sb == 1 {
		b = b[:n]
	}
	switch op {
	case opAdd:
		switch {
		case sa == 1 && sb == 1:
			for i := range o {
				o[i] = a[i] + b[i]
			}
		case sa == 1:
			y := b[0]
			for i := range o {
				o[i] = a[i] + y
			}
		case sb == 1:
			x := a[0]
			for i := range o {
				o[i] = x + b[i]
			}
		default:
			fill(o, a[0]+b[0])
		}
	case opSub:
		switch {
		case sa == 1 && sb == 1:
			for i := range o {
				o[i] = a[i] - b[i]
			}
		case sa == 1:
			y := b[0]
			for i := range o {
				o[i] = a[i] - y
			}
		case sb == 1:
			x := a[0]
			for i := range o {
				o[i] = x - b[i]
			}
		default:
			fill(o, a[0]-b[0])
		}
	case opMul:
		switch {
		case sa == 1 && sb == 1:
			for i := range o {
				o[i] = a[i] * b[i]
			}
		case sa == 1:
			y := b[0]
			for i := range o {
				o[i] = a[i] * y
			}
		case sb == 1:
			x := a[0]
			for i := range o {
				o[i] = x * b[i]
			}
		default:
			fill(o, a[0]*b[0])
		}
	case opDiv:
		switch {
		case sa == 1 && sb == 1:
			for i := range o {
				o[i] = a[i] / b[i]
			}
		case sa == 1:
			y := b[0]
			for i := range o {
				o[i] = a[i] / y
			}
		case sb == 1:
			x := a[0]
			for i := range o {
				o[i] = x / b[i]
			}
		default:
			fill(o, a[0]/b[0])
		}
	case opMax:
		for i := range o {
			o[i] = max(a[i*sa], b[i*sb])
		}
	case opMin:
		for i := range o {
			o[i] = min(a[i*sa], b[i*sb])
		}
	case backends.OpTypePow:
		for i := range o {
			o[i] = T(math.Pow(float64(a[i*sa]), float64(b[i*sb])))
		}
	case backends.OpTypeRem:
		for i := range o {
			o[i] = T(math.Mod(float64(a[i*sa]), float64(b[i*sb])))
		}
	default:
		panic(fmt.Sprintf("binaryFloat: %s", op))
	}
}

func fill[T any](o []T, v T) {
	for i := range o {
		o[i] = v
	}
}

func binaryInt[T integer](op backends.OpType, o, a, b []T, sa, sb int) {
	switch op {
	case opAdd:
		for i := range o {
			o[i] = a[i*sa] + b[i*sb]
		}
	case opSub:
		for i := range o {
			o[i] = a[i*sa] - b[i*sb]
		}
	case opMul:
		for i := range o {
			o[i] = a[i*sa] * b[i*sb]
		}
	case opDiv:
		for i := range o {
			if y := b[i*sb]; y != 0 {
				o[i] = a[i*sa] / y
			} else {
				o[i] = ^T(0) // -1: XLA's result for integer division by zero
			}
		}
	case backends.OpTypeRem:
		for i := range o {
			if y := b[i*sb]; y != 0 {
				o[i] = a[i*sa] % y
			} else {
				o[i] = a[i*sa]
			}
		}
	case opMax:
		for i := range o {
			o[i] = max(a[i*sa], b[i*sb])
		}
	case opMin:
		for i := range o {
			o[i] = min(a[i*sa], b[i*sb])
		}
	case backends.OpTypeBitwiseAnd:
		for i := range o {
			o[i] = a[i*sa] & b[i*sb]
		}
	case backends.OpTypeBitwiseOr:
		for i := range o {
			o[i] = a[i*sa] | b[i*sb]
		}
	case backends.OpTypeBitwiseXor:
		for i := range o {
			o[i] = a[i*sa] ^ b[i*sb]
		}
	default:
		panic(fmt.Sprintf("binaryInt: %s", op))
	}
}

func binaryBool(op backends.OpType, o, a, b []bool, sa, sb int) {
	switch op {
	case backends.OpTypeLogicalAnd:
		for i := range o {
			o[i] = a[i*sa] && b[i*sb]
		}
	case backends.OpTypeLogicalOr:
		for i := range o {
			o[i] = a[i*sa] || b[i*sb]
		}
	case backends.OpTypeLogicalXor, backends.OpTypeNotEqual:
		for i := range o {
			o[i] = a[i*sa] != b[i*sb]
		}
	case backends.OpTypeEqual:
		for i := range o {
			o[i] = a[i*sa] == b[i*sb]
		}
	default:
		panic(fmt.Sprintf("binaryBool: %s", op))
	}
}

func compare[T number](op backends.OpType, o []bool, a, b []T, sa, sb int) {
	switch op {
	case backends.OpTypeEqual:
		for i := range o {
			o[i] = a[i*sa] == b[i*sb]
		}
	case backends.OpTypeNotEqual:
		for i := range o {
			o[i] = a[i*sa] != b[i*sb]
		}
	case backends.OpTypeGreaterThan:
		for i := range o {
			o[i] = a[i*sa] > b[i*sb]
		}
	case backends.OpTypeGreaterOrEqual:
		for i := range o {
			o[i] = a[i*sa] >= b[i*sb]
		}
	case backends.OpTypeLessThan:
		for i := range o {
			o[i] = a[i*sa] < b[i*sb]
		}
	case backends.OpTypeLessOrEqual:
		for i := range o {
			o[i] = a[i*sa] <= b[i*sb]
		}
	default:
		panic(fmt.Sprintf("compare: %s", op))
	}
}
