package blas

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
)

// kReduce merges the input's axes into alternating groups of kept and
// reduced axes. Layouts [R] and [K R] reduce contiguous runs, [R K] and
// [K R K] accumulate rows, others are first transposed to [K R].
func kReduce(ec *execCtx, n *node, ins []*Buffer) (*Buffer, error) {
	in := n.inputs[0].shape
	axes := n.attr.([]int)
	isRed := make([]bool, in.Rank())
	for _, a := range axes {
		isRed[a] = true
	}
	var groups []int
	var red []bool
	for a, d := range in.Dimensions {
		if d == 1 {
			continue
		}
		if k := len(groups) - 1; k >= 0 && red[k] == isRed[a] {
			groups[k] *= d
			continue
		}
		groups, red = append(groups, d), append(red, isRed[a])
	}
	out := ec.alloc(n.shape)
	src := ins[0].flat
	var outer, r, inner int
	switch {
	case len(groups) == 0:
		outer, r, inner = 1, 1, 1
	case len(groups) == 1 && red[0]:
		outer, r, inner = 1, groups[0], 1
	case len(groups) == 1:
		outer, r, inner = groups[0], 1, 1
	case len(groups) == 2 && !red[0]:
		outer, r, inner = groups[0], groups[1], 1
	case len(groups) == 2:
		outer, r, inner = 1, groups[0], groups[1]
	case len(groups) == 3 && !red[0]:
		outer, r, inner = groups[0], groups[1], groups[2]
	default:
		// Transpose kept axes first, then reduce contiguous runs.
		var perm, dims []int
		kept := 1
		for _, want := range []bool{false, true} {
			for a, d := range in.Dimensions {
				if isRed[a] == want {
					perm, dims = append(perm, a), append(dims, d)
					if !want {
						kept *= d
					}
				}
			}
		}
		inSt := rowMajor(in.Dimensions)
		ss := make([]int, len(perm))
		for i, p := range perm {
			ss[i] = inSt[p]
		}
		tmp := ec.e.backend.pool.get(in.DType, in.Size())
		defer ec.e.backend.pool.put(in.DType, tmp)
		if err := stridedCopy(ec, dims, tmp, 0, rowMajor(dims), src, 0, ss); err != nil {
			return nil, err
		}
		src = tmp
		outer, r, inner = kept, in.Size()/max(kept, 1), 1
	}
	op := n.op
	var err error
	switch o := out.flat.(type) {
	case []float32:
		err = reduceNum(ec, op, o, src.([]float32), outer, r, inner)
	case []float64:
		err = reduceNum(ec, op, o, src.([]float64), outer, r, inner)
	case []int32:
		err = reduceNum(ec, op, o, src.([]int32), outer, r, inner)
	case []int64:
		err = reduceNum(ec, op, o, src.([]int64), outer, r, inner)
	case []uint32:
		err = reduceNum(ec, op, o, src.([]uint32), outer, r, inner)
	case []uint64:
		err = reduceNum(ec, op, o, src.([]uint64), outer, r, inner)
	case []bool:
		reduceBool(op, o, src.([]bool), outer, r, inner)
	default:
		err = fmt.Errorf("%s of %s %s", op, n.shape.DType, notImplementedSuffix)
	}
	return out, err
}

func initial[T number](op backends.OpType) T {
	var z T
	switch op {
	case backends.OpTypeReduceProduct:
		return 1
	case backends.OpTypeReduceMax:
		switch any(z).(type) {
		case float32, float64:
			return T(math.Inf(-1))
		}
		return lowest[T]()
	case backends.OpTypeReduceMin:
		switch any(z).(type) {
		case float32, float64:
			return T(math.Inf(1))
		}
		return highest[T]()
	}
	return 0
}

func lowest[T number]() T {
	var z T
	var v int64
	switch any(z).(type) {
	case int8:
		v = math.MinInt8
	case int16:
		v = math.MinInt16
	case int32:
		v = math.MinInt32
	case int64:
		v = math.MinInt64
	}
	return T(v)
}

func highest[T number]() T {
	var z T
	var v uint64
	switch any(z).(type) {
	case int8:
		v = math.MaxInt8
	case int16:
		v = math.MaxInt16
	case int32:
		v = math.MaxInt32
	case int64:
		v = math.MaxInt64
	default:
		v = math.MaxUint64
	}
	return T(v)
}

// reduceNum reduces src viewed as [outer, r, inner] over r. Each output
// element is accumulated by one goroutine in increasing index order, so the
// result does not depend on the split.
func reduceNum[T number](ec *execCtx, op backends.OpType, o, src []T, outer, r, inner int) error {
	init := initial[T](op)
	if inner == 1 {
		parallelFor(ec.workers, outer, r, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				o[i] = reduceRun(op, init, src[i*r:(i+1)*r])
			}
		})
		return nil
	}
	parallelFor(ec.workers, outer*inner, r, func(lo, hi int) {
		// Chunks of output elements; within one outer block, rows are
		// accumulated over the chunk's columns.
		for lo < hi {
			b, j0 := lo/inner, lo%inner
			j1 := min(inner, j0+hi-lo)
			dst := o[b*inner+j0 : b*inner+j1]
			fill(dst, init)
			base := src[b*r*inner:]
			for k := 0; k < r; k++ {
				accumulate(op, dst, base[k*inner+j0:k*inner+j1])
			}
			lo += j1 - j0
		}
	})
	return nil
}

// reduceRun folds x into acc. Sums and extremes keep four partial results
// (element i goes to partial i%4, combined at the end), which breaks the
// dependency chain of one accumulator; the order is fixed, so results are
// still the same on every run.
func reduceRun[T number](op backends.OpType, acc T, x []T) T {
	switch op {
	case backends.OpTypeReduceSum:
		var s0, s1, s2, s3 T
		i := 0
		for ; i+4 <= len(x); i += 4 {
			s0 += x[i]
			s1 += x[i+1]
			s2 += x[i+2]
			s3 += x[i+3]
		}
		for ; i < len(x); i++ {
			s0 += x[i]
		}
		acc += (s0 + s1) + (s2 + s3)
	case backends.OpTypeReduceProduct:
		for _, v := range x {
			acc *= v
		}
	case backends.OpTypeReduceMax:
		m0, m1, m2, m3 := acc, acc, acc, acc
		i := 0
		for ; i+4 <= len(x); i += 4 {
			m0, m1, m2, m3 = max(m0, x[i]), max(m1, x[i+1]), max(m2, x[i+2]), max(m3, x[i+3])
		}
		for ; i < len(x); i++ {
			m0 = max(m0, x[i])
		}
		acc = max(max(m0, m1), max(m2, m3))
	case backends.OpTypeReduceMin:
		m0, m1, m2, m3 := acc, acc, acc, acc
		i := 0
		for ; i+4 <= len(x); i += 4 {
			m0, m1, m2, m3 = min(m0, x[i]), min(m1, x[i+1]), min(m2, x[i+2]), min(m3, x[i+3])
		}
		for ; i < len(x); i++ {
			m0 = min(m0, x[i])
		}
		acc = min(min(m0, m1), min(m2, m3))
	default:
		panic(fmt.Sprintf("reduceRun: %s", op))
	}
	return acc
}

func accumulate[T number](op backends.OpType, dst, x []T) {
	x = x[:len(dst)]
	switch op {
	case backends.OpTypeReduceSum:
		for i, v := range x {
			dst[i] += v
		}
	case backends.OpTypeReduceProduct:
		for i, v := range x {
			dst[i] *= v
		}
	case backends.OpTypeReduceMax:
		for i, v := range x {
			dst[i] = max(dst[i], v)
		}
	case backends.OpTypeReduceMin:
		for i, v := range x {
			dst[i] = min(dst[i], v)
		}
	default:
		panic(fmt.Sprintf("accumulate: %s", op))
	}
}

func reduceBool(op backends.OpType, o, src []bool, outer, r, inner int) {
	and := op == backends.OpTypeReduceLogicalAnd
	for b := 0; b < outer; b++ {
		for j := 0; j < inner; j++ {
			acc := and
			for k := 0; k < r; k++ {
				v := src[(b*r+k)*inner+j]
				if and {
					acc = acc && v
				} else {
					acc = acc || v
				}
			}
			o[b*inner+j] = acc
		}
	}
}

func reduceSupported(op backends.OpType, dt dtypes.DType) bool {
	switch op {
	case backends.OpTypeReduceLogicalAnd, backends.OpTypeReduceLogicalOr:
		return dt == dtypes.Bool
	}
	switch dt {
	case dtypes.Float32, dtypes.Float64, dtypes.Int32, dtypes.Int64, dtypes.Uint32, dtypes.Uint64:
		return true
	}
	return false
}

func kArgMinMax(ec *execCtx, n *node, ins []*Buffer) (*Buffer, error) {
	a := n.attr.(argAttr)
	in := n.inputs[0].shape
	outer, inner := 1, 1
	for ax, d := range in.Dimensions {
		switch {
		case ax < a.axis:
			outer *= d
		case ax > a.axis:
			inner *= d
		}
	}
	r := in.Dimensions[a.axis]
	idx := make([]int, outer*inner)
	switch x := ins[0].flat.(type) {
	case []float32:
		argMinMax(idx, x, outer, r, inner, a.isMin)
	case []float64:
		argMinMax(idx, x, outer, r, inner, a.isMin)
	case []int32:
		argMinMax(idx, x, outer, r, inner, a.isMin)
	case []int64:
		argMinMax(idx, x, outer, r, inner, a.isMin)
	default:
		return nil, fmt.Errorf("ArgMinMax of %s %s", in.DType, notImplementedSuffix)
	}
	out := ec.alloc(n.shape)
	switch o := out.flat.(type) {
	case []int32:
		for i, v := range idx {
			o[i] = int32(v)
		}
	case []int64:
		for i, v := range idx {
			o[i] = int64(v)
		}
	case []uint32:
		for i, v := range idx {
			o[i] = uint32(v)
		}
	case []uint64:
		for i, v := range idx {
			o[i] = uint64(v)
		}
	case []int16:
		for i, v := range idx {
			o[i] = int16(v)
		}
	case []int8:
		for i, v := range idx {
			o[i] = int8(v)
		}
	case []uint8:
		for i, v := range idx {
			o[i] = uint8(v)
		}
	default:
		return nil, fmt.Errorf("ArgMinMax to %s %s", n.shape.DType, notImplementedSuffix)
	}
	return out, nil
}

// argMinMax picks the first extreme value; a NaN wins over numbers (as in
// JAX, TensorFlow and PyTorch).
func argMinMax[T number](idx []int, x []T, outer, r, inner int, isMin bool) {
	for b := 0; b < outer; b++ {
		for j := 0; j < inner; j++ {
			base := b*r*inner + j
			best, bi := x[base], 0
			for k := 1; k < r && best == best; k++ {
				v := x[base+k*inner]
				if v != v || (isMin && v < best) || (!isMin && v > best) {
					best, bi = v, k
				}
			}
			idx[b*inner+j] = bi
		}
	}
}
