package blas

import (
	"fmt"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/shapeinference"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// compileNode picks n's kernel and precomputes its layout.
func compileNode(e *Executable, n *node) (kernel, any, error) {
	switch n.op {
	case backends.OpTypeParameter, backends.OpTypeConstant:
		return func(*execCtx, *node, []*Buffer) (*Buffer, error) { return nil, nil }, nil, nil
	case backends.OpTypeReshape, backends.OpTypeIdentity:
		return kAlias, nil, nil
	case backends.OpTypeWhere:
		return kWhere, nil, nil
	case backends.OpTypeConvertDType:
		return kConvert, nil, nil
	case backends.OpTypeTranspose:
		return kTranspose, nil, nil
	case backends.OpTypeBroadcastInDim:
		return kBroadcastInDim, nil, nil
	case backends.OpTypeSlice:
		return kSlice, nil, nil
	case backends.OpTypeConcatenate:
		return kConcatenate, nil, nil
	case backends.OpTypeIota:
		return kIota, nil, nil
	case backends.OpTypeReduceSum, backends.OpTypeReduceMax, backends.OpTypeReduceMin, backends.OpTypeReduceProduct,
		backends.OpTypeReduceLogicalAnd, backends.OpTypeReduceLogicalOr:
		return kReduce, nil, nil
	case backends.OpTypeArgMinMax:
		return kArgMinMax, nil, nil
	case backends.OpTypeReduceWindow:
		return kReduceWindow, nil, nil
	case backends.OpTypeGather:
		return kGather, nil, nil
	case backends.OpTypeScatterSum, backends.OpTypeScatterMax, backends.OpTypeScatterMin:
		return kScatter, nil, nil
	case backends.OpTypeDotGeneral:
		return kDotGeneral, nil, nil
	case backends.OpTypeRNGBitGenerator:
		return kRNGValues, nil, nil
	case opRNGState:
		return kRNGState, nil, nil
	}
	if len(n.inputs) == 1 && (shapeinference.StandardUnaryOperations.Has(n.op) || n.op == backends.OpTypeIsNaN || n.op == backends.OpTypeIsFinite) {
		return kUnary, nil, nil
	}
	if len(n.inputs) == 2 {
		return kBinary, newBinaryPlan(n.shape, n.inputs[0].shape, n.inputs[1].shape), nil
	}
	return nil, nil, fmt.Errorf("op %s %s", n.op, notImplementedSuffix)
}

func kAlias(_ *execCtx, n *node, ins []*Buffer) (*Buffer, error) {
	return &Buffer{shape: n.shape, flat: ins[0].flat}, nil
}

// Per-element cost weights for parallelFor: transcendental functions cost
// about 20 simple ops.
const (
	costSimple = 1
	costMath   = 20
)

func unaryCost(op backends.OpType) int {
	switch op {
	case backends.OpTypeNeg, backends.OpTypeAbs, backends.OpTypeSign, backends.OpTypeBitwiseNot, backends.OpTypeLogicalNot,
		backends.OpTypeIsNaN, backends.OpTypeIsFinite, backends.OpTypeFloor, backends.OpTypeCeil, backends.OpTypeRound:
		return costSimple
	}
	return costMath
}

func kUnary(ec *execCtx, n *node, ins []*Buffer) (*Buffer, error) {
	op := n.op
	var out *Buffer
	if n.shape.DType == ins[0].shape.DType {
		out = ec.reuse(n, 0, ins)
	} else {
		out = ec.alloc(n.shape)
	}
	size, cost := n.shape.Size(), unaryCost(op)
	if op == backends.OpTypeIsNaN || op == backends.OpTypeIsFinite {
		dst := out.flat.([]bool)
		switch src := ins[0].flat.(type) {
		case []float32:
			parallelFor(ec.workers, size, cost, func(lo, hi int) { unaryPredicate(op, dst[lo:hi], src[lo:hi]) })
		case []float64:
			parallelFor(ec.workers, size, cost, func(lo, hi int) { unaryPredicate(op, dst[lo:hi], src[lo:hi]) })
		default:
			return nil, fmt.Errorf("%s of %s %s", op, n.shape.DType, notImplementedSuffix)
		}
		return out, nil
	}
	switch src := ins[0].flat.(type) {
	case []float32:
		dst := out.flat.([]float32)
		parallelFor(ec.workers, size, cost, func(lo, hi int) {
			if !unaryFast(op, dst[lo:hi], src[lo:hi]) {
				unaryFloat(op, dst[lo:hi], src[lo:hi])
			}
		})
	case []float64:
		dst := out.flat.([]float64)
		parallelFor(ec.workers, size, cost, func(lo, hi int) { unaryFloat(op, dst[lo:hi], src[lo:hi]) })
	case []bool:
		dst := out.flat.([]bool)
		for i, x := range src {
			dst[i] = !x
		}
	case []int32:
		unaryInt(op, out.flat.([]int32), src)
	case []int64:
		unaryInt(op, out.flat.([]int64), src)
	case []int8:
		unaryInt(op, out.flat.([]int8), src)
	case []int16:
		unaryInt(op, out.flat.([]int16), src)
	case []uint8:
		unaryInt(op, out.flat.([]uint8), src)
	case []uint16:
		unaryInt(op, out.flat.([]uint16), src)
	case []uint32:
		unaryInt(op, out.flat.([]uint32), src)
	case []uint64:
		unaryInt(op, out.flat.([]uint64), src)
	default:
		return nil, fmt.Errorf("%s of %s %s", op, n.shape.DType, notImplementedSuffix)
	}
	return out, nil
}

// binaryPlan walks a broadcast binary op as rows of one run each: the
// output's axes with the same broadcast pattern in both operands are merged,
// the last merged axis is the run, the others are the row's outer axes.
type binaryPlan struct {
	outer  []int // dims of the outer axes
	sa, sb []int // operand strides of the outer axes (0 when broadcast)
	run    int
	ra, rb int // operand strides within the run: 1 or 0
	rows   int
}

func newBinaryPlan(out, a, b shapes.Shape) *binaryPlan {
	strides := func(s shapes.Shape) []int {
		st := make([]int, out.Rank())
		if s.IsScalar() {
			return st
		}
		acc := 1
		for ax := s.Rank() - 1; ax >= 0; ax-- {
			if s.Dimensions[ax] != 1 {
				st[ax] = acc
			}
			acc *= s.Dimensions[ax]
		}
		return st
	}
	stA, stB := strides(a), strides(b)
	var dims, da, db []int
	for ax := 0; ax < out.Rank(); ax++ {
		d := out.Dimensions[ax]
		if d == 1 {
			continue
		}
		if k := len(dims) - 1; k >= 0 && da[k] == stA[ax]*d && db[k] == stB[ax]*d {
			dims[k] *= d
			da[k], db[k] = stA[ax], stB[ax]
			continue
		}
		dims, da, db = append(dims, d), append(da, stA[ax]), append(db, stB[ax])
	}
	p := &binaryPlan{run: 1, rows: 1}
	if k := len(dims) - 1; k >= 0 {
		p.run, p.ra, p.rb = dims[k], da[k], db[k]
		p.outer, p.sa, p.sb = dims[:k], da[:k], db[:k]
	}
	for _, d := range p.outer {
		p.rows *= d
	}
	return p
}

// forRows calls f for rows [lo, hi) with each row's operand offsets.
func (p *binaryPlan) forRows(lo, hi int, f func(row, offA, offB int)) {
	for r := lo; r < hi; r++ {
		offA, offB, rem := 0, 0, r
		for k := len(p.outer) - 1; k >= 0; k-- {
			i := rem % p.outer[k]
			rem /= p.outer[k]
			offA += i * p.sa[k]
			offB += i * p.sb[k]
		}
		f(r, offA, offB)
	}
}

func binaryRows[T, O any](ec *execCtx, p *binaryPlan, o []O, a, b []T, f func(o []O, a, b []T, sa, sb int)) {
	run := p.run
	parallelFor(ec.workers, p.rows, run, func(lo, hi int) {
		p.forRows(lo, hi, func(r, offA, offB int) {
			f(o[r*run:(r+1)*run], a[offA:], b[offB:], p.ra, p.rb)
		})
	})
}

func kBinary(ec *execCtx, n *node, ins []*Buffer) (*Buffer, error) {
	p := ec.e.plans[n.id].(*binaryPlan)
	op := n.op
	var out *Buffer
	if n.shape.DType == ins[0].shape.DType {
		out = ec.reuseAny(n, ins)
	} else {
		out = ec.alloc(n.shape)
	}
	if n.shape.DType == dtypes.Bool && ins[0].shape.DType != dtypes.Bool {
		o := out.flat.([]bool)
		switch a := ins[0].flat.(type) {
		case []float32:
			binaryRows(ec, p, o, a, ins[1].flat.([]float32), func(o []bool, a, b []float32, sa, sb int) { compare(op, o, a, b, sa, sb) })
		case []float64:
			binaryRows(ec, p, o, a, ins[1].flat.([]float64), func(o []bool, a, b []float64, sa, sb int) { compare(op, o, a, b, sa, sb) })
		case []int32:
			binaryRows(ec, p, o, a, ins[1].flat.([]int32), func(o []bool, a, b []int32, sa, sb int) { compare(op, o, a, b, sa, sb) })
		case []int64:
			binaryRows(ec, p, o, a, ins[1].flat.([]int64), func(o []bool, a, b []int64, sa, sb int) { compare(op, o, a, b, sa, sb) })
		case []uint32:
			binaryRows(ec, p, o, a, ins[1].flat.([]uint32), func(o []bool, a, b []uint32, sa, sb int) { compare(op, o, a, b, sa, sb) })
		case []uint64:
			binaryRows(ec, p, o, a, ins[1].flat.([]uint64), func(o []bool, a, b []uint64, sa, sb int) { compare(op, o, a, b, sa, sb) })
		case []int8:
			binaryRows(ec, p, o, a, ins[1].flat.([]int8), func(o []bool, a, b []int8, sa, sb int) { compare(op, o, a, b, sa, sb) })
		case []int16:
			binaryRows(ec, p, o, a, ins[1].flat.([]int16), func(o []bool, a, b []int16, sa, sb int) { compare(op, o, a, b, sa, sb) })
		case []uint8:
			binaryRows(ec, p, o, a, ins[1].flat.([]uint8), func(o []bool, a, b []uint8, sa, sb int) { compare(op, o, a, b, sa, sb) })
		case []uint16:
			binaryRows(ec, p, o, a, ins[1].flat.([]uint16), func(o []bool, a, b []uint16, sa, sb int) { compare(op, o, a, b, sa, sb) })
		default:
			return nil, fmt.Errorf("%s of %s %s", op, ins[0].shape.DType, notImplementedSuffix)
		}
		return out, nil
	}
	switch a := ins[0].flat.(type) {
	case []float32:
		binaryRows(ec, p, out.flat.([]float32), a, ins[1].flat.([]float32), func(o, a, b []float32, sa, sb int) { binaryFloat(op, o, a, b, sa, sb) })
	case []float64:
		binaryRows(ec, p, out.flat.([]float64), a, ins[1].flat.([]float64), func(o, a, b []float64, sa, sb int) { binaryFloat(op, o, a, b, sa, sb) })
	case []bool:
		binaryRows(ec, p, out.flat.([]bool), a, ins[1].flat.([]bool), func(o, a, b []bool, sa, sb int) { binaryBool(op, o, a, b, sa, sb) })
	case []int32:
		binaryRows(ec, p, out.flat.([]int32), a, ins[1].flat.([]int32), func(o, a, b []int32, sa, sb int) { binaryInt(op, o, a, b, sa, sb) })
	case []int64:
		binaryRows(ec, p, out.flat.([]int64), a, ins[1].flat.([]int64), func(o, a, b []int64, sa, sb int) { binaryInt(op, o, a, b, sa, sb) })
	case []uint32:
		binaryRows(ec, p, out.flat.([]uint32), a, ins[1].flat.([]uint32), func(o, a, b []uint32, sa, sb int) { binaryInt(op, o, a, b, sa, sb) })
	case []uint64:
		binaryRows(ec, p, out.flat.([]uint64), a, ins[1].flat.([]uint64), func(o, a, b []uint64, sa, sb int) { binaryInt(op, o, a, b, sa, sb) })
	case []int8:
		binaryRows(ec, p, out.flat.([]int8), a, ins[1].flat.([]int8), func(o, a, b []int8, sa, sb int) { binaryInt(op, o, a, b, sa, sb) })
	case []int16:
		binaryRows(ec, p, out.flat.([]int16), a, ins[1].flat.([]int16), func(o, a, b []int16, sa, sb int) { binaryInt(op, o, a, b, sa, sb) })
	case []uint8:
		binaryRows(ec, p, out.flat.([]uint8), a, ins[1].flat.([]uint8), func(o, a, b []uint8, sa, sb int) { binaryInt(op, o, a, b, sa, sb) })
	case []uint16:
		binaryRows(ec, p, out.flat.([]uint16), a, ins[1].flat.([]uint16), func(o, a, b []uint16, sa, sb int) { binaryInt(op, o, a, b, sa, sb) })
	default:
		return nil, fmt.Errorf("%s of %s %s", op, ins[0].shape.DType, notImplementedSuffix)
	}
	return out, nil
}

func kWhere(ec *execCtx, n *node, ins []*Buffer) (*Buffer, error) {
	cond := ins[0].flat.([]bool)
	var out *Buffer
	switch {
	case n.inputs[1].shape.Size() == n.shape.Size():
		out = ec.reuse(n, 1, ins)
	case n.inputs[2].shape.Size() == n.shape.Size():
		out = ec.reuse(n, 2, ins)
	default:
		out = ec.alloc(n.shape)
	}
	switch o := out.flat.(type) {
	case []float32:
		where(ec, o, cond, ins[1].flat.([]float32), ins[2].flat.([]float32))
	case []float64:
		where(ec, o, cond, ins[1].flat.([]float64), ins[2].flat.([]float64))
	case []int32:
		where(ec, o, cond, ins[1].flat.([]int32), ins[2].flat.([]int32))
	case []int64:
		where(ec, o, cond, ins[1].flat.([]int64), ins[2].flat.([]int64))
	case []bool:
		where(ec, o, cond, ins[1].flat.([]bool), ins[2].flat.([]bool))
	case []uint32:
		where(ec, o, cond, ins[1].flat.([]uint32), ins[2].flat.([]uint32))
	case []uint64:
		where(ec, o, cond, ins[1].flat.([]uint64), ins[2].flat.([]uint64))
	case []uint8:
		where(ec, o, cond, ins[1].flat.([]uint8), ins[2].flat.([]uint8))
	default:
		return nil, fmt.Errorf("Where of %s %s", n.shape.DType, notImplementedSuffix)
	}
	return out, nil
}

// where: each of cond, t, f is either the output's size or a single value.
func where[T any](ec *execCtx, o []T, cond []bool, t, f []T) {
	parallelFor(ec.workers, len(o), costSimple, func(lo, hi int) {
		switch {
		case len(cond) == 1:
			src := t
			if !cond[0] {
				src = f
			}
			if len(src) == 1 {
				fill(o[lo:hi], src[0])
				return
			}
			copy(o[lo:hi], src[lo:hi])
		case len(t) > 1 && len(f) > 1:
			for i := lo; i < hi; i++ {
				if cond[i] {
					o[i] = t[i]
				} else {
					o[i] = f[i]
				}
			}
		default:
			st, sf := min(len(t)-1, 1), min(len(f)-1, 1)
			for i := lo; i < hi; i++ {
				if cond[i] {
					o[i] = t[i*st]
				} else {
					o[i] = f[i*sf]
				}
			}
		}
	})
}
