package blas

import (
	"fmt"
	"slices"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/shapeinference"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

type windowAttr struct {
	red                                 backends.ReduceOpType
	window, strides, baseDil, windowDil []int
	padLow                              []int
}

// ReduceWindow (GoMLX's CumSum is one) with XLA's semantics: paddings and
// base-dilation holes hold the reduction's identity.
func (b *Builder) ReduceWindow(x backends.Op, red backends.ReduceOpType,
	window, strides, baseDil, windowDil []int, paddings [][2]int) (backends.Op, error) {
	ns, err := b.in(backends.OpTypeReduceWindow, x)
	if err != nil {
		return nil, err
	}
	shape, err := shapeinference.ReduceWindowOp(ns[0].shape, window, strides, baseDil, windowDil, paddings)
	if err != nil {
		return nil, err
	}
	if !reduceSupported(backends.OpTypeReduceSum, shape.DType) {
		return nil, fmt.Errorf("ReduceWindow on %s %s", shape.DType, notImplementedSuffix)
	}
	rank := ns[0].shape.Rank()
	ones := func(v []int, def func(a int) int) []int {
		if len(v) == rank {
			return slices.Clone(v)
		}
		out := make([]int, rank)
		for a := range out {
			out[a] = def(a)
		}
		return out
	}
	one := func(int) int { return 1 }
	a := windowAttr{red: red, window: ones(window, one)}
	a.strides = ones(strides, func(ax int) int { return a.window[ax] })
	a.baseDil, a.windowDil = ones(baseDil, one), ones(windowDil, one)
	a.padLow = make([]int, rank)
	for ax := range paddings {
		a.padLow[ax] = paddings[ax][0]
	}
	return b.newNode(backends.OpTypeReduceWindow, shape, a, ns...), nil
}

func kReduceWindow(ec *execCtx, n *node, ins []*Buffer) (*Buffer, error) {
	a := n.attr.(windowAttr)
	op := map[backends.ReduceOpType]backends.OpType{
		backends.ReduceOpSum: backends.OpTypeReduceSum, backends.ReduceOpProduct: backends.OpTypeReduceProduct,
		backends.ReduceOpMax: backends.OpTypeReduceMax, backends.ReduceOpMin: backends.OpTypeReduceMin,
	}[a.red]
	if op == 0 {
		return nil, fmt.Errorf("ReduceWindow reduction %s %s", a.red, notImplementedSuffix)
	}
	out := ec.alloc(n.shape)
	in := n.inputs[0].shape
	switch o := out.flat.(type) {
	case []float32:
		reduceWindow(op, a, in, n.shape, o, ins[0].flat.([]float32))
	case []float64:
		reduceWindow(op, a, in, n.shape, o, ins[0].flat.([]float64))
	case []int32:
		reduceWindow(op, a, in, n.shape, o, ins[0].flat.([]int32))
	case []int64:
		reduceWindow(op, a, in, n.shape, o, ins[0].flat.([]int64))
	case []uint32:
		reduceWindow(op, a, in, n.shape, o, ins[0].flat.([]uint32))
	case []uint64:
		reduceWindow(op, a, in, n.shape, o, ins[0].flat.([]uint64))
	default:
		return nil, fmt.Errorf("ReduceWindow on %s %s", n.shape.DType, notImplementedSuffix)
	}
	return out, nil
}

// reduceWindow visits, for each output element, its window positions in
// row-major order (a fixed order: deterministic sums).
func reduceWindow[T number](op backends.OpType, a windowAttr, in, outShape shapes.Shape, out, src []T) {
	rank := in.Rank()
	inSt := rowMajor(in.Dimensions)
	init := initial[T](op)
	wsize := 1
	for _, w := range a.window {
		wsize *= w
	}
	oidx, widx := make([]int, rank), make([]int, rank)
	for o := range out {
		rem := o
		for ax := rank - 1; ax >= 0; ax-- {
			oidx[ax] = rem % outShape.Dimensions[ax]
			rem /= outShape.Dimensions[ax]
		}
		acc := init
		for w := 0; w < wsize; w++ {
			rem, off, ok := w, 0, true
			for ax := rank - 1; ax >= 0; ax-- {
				widx[ax] = rem % a.window[ax]
				rem /= a.window[ax]
			}
			for ax := 0; ax < rank && ok; ax++ {
				// Position in the padded, base-dilated input.
				p := oidx[ax]*a.strides[ax] + widx[ax]*a.windowDil[ax] - a.padLow[ax]
				if p < 0 || p%a.baseDil[ax] != 0 || p/a.baseDil[ax] >= in.Dimensions[ax] {
					ok = false
					break
				}
				off += p / a.baseDil[ax] * inSt[ax]
			}
			if !ok {
				continue
			}
			v := src[off]
			switch op {
			case backends.OpTypeReduceSum:
				acc += v
			case backends.OpTypeReduceProduct:
				acc *= v
			case backends.OpTypeReduceMax:
				acc = max(acc, v)
			case backends.OpTypeReduceMin:
				acc = min(acc, v)
			}
		}
		out[o] = acc
	}
}
