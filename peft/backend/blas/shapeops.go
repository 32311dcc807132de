package blas

import (
	"fmt"
	"slices"

	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// rowMajor returns the strides of dims in row-major order.
func rowMajor(dims []int) []int {
	st := make([]int, len(dims))
	acc := 1
	for i := len(dims) - 1; i >= 0; i-- {
		st[i] = acc
		acc *= dims[i]
	}
	return st
}

// simplify drops unit axes and merges adjacent axes that are contiguous in
// both the destination and the source, so copies run in long inner loops.
func simplify(dims, ds, ss []int) ([]int, []int, []int) {
	var d, a, b []int
	for i, n := range dims {
		if n == 1 {
			continue
		}
		if k := len(d) - 1; k >= 0 && a[k] == ds[i]*n && b[k] == ss[i]*n {
			d[k] *= n
			a[k], b[k] = ds[i], ss[i]
			continue
		}
		d, a, b = append(d, n), append(a, ds[i]), append(b, ss[i])
	}
	if len(d) == 0 {
		return []int{1}, []int{1}, []int{1}
	}
	return d, a, b
}

// copyStrided copies the block dims from src (offset so, strides ss) to dst
// (offset do, strides ds). A source stride of 0 repeats (broadcasts).
func copyStrided[T any](dims []int, dst []T, do int, ds []int, src []T, so int, ss []int) {
	if len(dims) == 1 {
		n, a, b := dims[0], ds[0], ss[0]
		switch {
		case a == 1 && b == 1:
			copy(dst[do:do+n], src[so:so+n])
		case a == 1 && b == 0:
			fill(dst[do:do+n], src[so])
		default:
			for i := 0; i < n; i++ {
				dst[do+i*a] = src[so+i*b]
			}
		}
		return
	}
	for i := 0; i < dims[0]; i++ {
		copyStrided(dims[1:], dst, do+i*ds[0], ds[1:], src, so+i*ss[0], ss[1:])
	}
}

// parallelCopy runs copyStrided split over the first (simplified) axis.
func parallelCopy[T any](ec *execCtx, dims []int, dst []T, do int, ds []int, src []T, so int, ss []int) {
	dims, ds, ss = simplify(dims, ds, ss)
	if len(dims) == 1 {
		// Split a single long axis into rows so it can run in parallel.
		n := dims[0]
		parallelFor(ec.workers, n, costSimple, func(lo, hi int) {
			copyStrided([]int{hi - lo}, dst, do+lo*ds[0], ds, src, so+lo*ss[0], ss)
		})
		return
	}
	inner := 1
	for _, d := range dims[1:] {
		inner *= d
	}
	parallelFor(ec.workers, dims[0], inner, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			copyStrided(dims[1:], dst, do+i*ds[0], ds[1:], src, so+i*ss[0], ss[1:])
		}
	})
}

// stridedCopy dispatches parallelCopy on the buffers' element type.
func stridedCopy(ec *execCtx, dims []int, dst any, do int, ds []int, src any, so int, ss []int) error {
	switch d := dst.(type) {
	case []float32:
		parallelCopy(ec, dims, d, do, ds, src.([]float32), so, ss)
	case []float64:
		parallelCopy(ec, dims, d, do, ds, src.([]float64), so, ss)
	case []int32:
		parallelCopy(ec, dims, d, do, ds, src.([]int32), so, ss)
	case []int64:
		parallelCopy(ec, dims, d, do, ds, src.([]int64), so, ss)
	case []bool:
		parallelCopy(ec, dims, d, do, ds, src.([]bool), so, ss)
	case []uint32:
		parallelCopy(ec, dims, d, do, ds, src.([]uint32), so, ss)
	case []uint64:
		parallelCopy(ec, dims, d, do, ds, src.([]uint64), so, ss)
	case []uint8:
		parallelCopy(ec, dims, d, do, ds, src.([]uint8), so, ss)
	case []int8:
		parallelCopy(ec, dims, d, do, ds, src.([]int8), so, ss)
	case []int16:
		parallelCopy(ec, dims, d, do, ds, src.([]int16), so, ss)
	case []uint16:
		parallelCopy(ec, dims, d, do, ds, src.([]uint16), so, ss)
	default:
		return fmt.Errorf("copy of %T %s", dst, notImplementedSuffix)
	}
	return nil
}

func copyFlat(dst, src any) {
	switch d := dst.(type) {
	case []float32:
		copy(d, src.([]float32))
	case []float64:
		copy(d, src.([]float64))
	case []int32:
		copy(d, src.([]int32))
	case []int64:
		copy(d, src.([]int64))
	case []bool:
		copy(d, src.([]bool))
	case []uint32:
		copy(d, src.([]uint32))
	case []uint64:
		copy(d, src.([]uint64))
	case []uint8:
		copy(d, src.([]uint8))
	case []int8:
		copy(d, src.([]int8))
	case []int16:
		copy(d, src.([]int16))
	case []uint16:
		copy(d, src.([]uint16))
	default:
		panic(fmt.Sprintf("copyFlat of %T", dst))
	}
}

func kTranspose(ec *execCtx, n *node, ins []*Buffer) (*Buffer, error) {
	perm := n.attr.([]int)
	inSt := rowMajor(n.inputs[0].shape.Dimensions)
	ss := make([]int, len(perm))
	for i, p := range perm {
		ss[i] = inSt[p]
	}
	out := ec.alloc(n.shape)
	return out, stridedCopy(ec, n.shape.Dimensions, out.flat, 0, rowMajor(n.shape.Dimensions), ins[0].flat, 0, ss)
}

func kBroadcastInDim(ec *execCtx, n *node, ins []*Buffer) (*Buffer, error) {
	axes := n.attr.([]int)
	in := n.inputs[0].shape
	inSt := rowMajor(in.Dimensions)
	ss := make([]int, n.shape.Rank())
	for k, a := range axes {
		if in.Dimensions[k] != 1 {
			ss[a] = inSt[k]
		}
	}
	out := ec.alloc(n.shape)
	if n.shape.Size() == 0 {
		return out, nil
	}
	return out, stridedCopy(ec, n.shape.Dimensions, out.flat, 0, rowMajor(n.shape.Dimensions), ins[0].flat, 0, ss)
}

func kSlice(ec *execCtx, n *node, ins []*Buffer) (*Buffer, error) {
	a := n.attr.(sliceAttr)
	inSt := rowMajor(n.inputs[0].shape.Dimensions)
	ss := make([]int, len(inSt))
	so := 0
	for i := range inSt {
		ss[i] = inSt[i] * a.strides[i]
		so += a.starts[i] * inSt[i]
	}
	out := ec.alloc(n.shape)
	if n.shape.Size() == 0 {
		return out, nil
	}
	return out, stridedCopy(ec, n.shape.Dimensions, out.flat, 0, rowMajor(n.shape.Dimensions), ins[0].flat, so, ss)
}

func kConcatenate(ec *execCtx, n *node, ins []*Buffer) (*Buffer, error) {
	axis := n.attr.(int)
	out := ec.alloc(n.shape)
	ds := rowMajor(n.shape.Dimensions)
	at := 0
	for k, in := range n.inputs {
		if in.shape.Size() > 0 {
			if err := stridedCopy(ec, in.shape.Dimensions, out.flat, at*ds[axis], ds, ins[k].flat, 0, rowMajor(in.shape.Dimensions)); err != nil {
				return nil, err
			}
		}
		at += in.shape.Dimensions[axis]
	}
	return out, nil
}

func kIota(ec *execCtx, n *node, _ []*Buffer) (*Buffer, error) {
	axis := n.attr.(int)
	out := ec.alloc(n.shape)
	dim := n.shape.Dimensions[axis]
	inner := 1
	for _, d := range n.shape.Dimensions[axis+1:] {
		inner *= d
	}
	idx := func(i int) int { return (i / inner) % dim }
	switch o := out.flat.(type) {
	case []float32:
		iota(o, idx)
	case []float64:
		iota(o, idx)
	case []int32:
		iota(o, idx)
	case []int64:
		iota(o, idx)
	case []uint32:
		iota(o, idx)
	case []uint64:
		iota(o, idx)
	case []int8:
		iota(o, idx)
	case []int16:
		iota(o, idx)
	case []uint8:
		iota(o, idx)
	case []uint16:
		iota(o, idx)
	default:
		return nil, fmt.Errorf("Iota of %s %s", n.shape.DType, notImplementedSuffix)
	}
	return out, nil
}

func iota[T number](o []T, idx func(int) int) {
	for i := range o {
		o[i] = T(idx(i))
	}
}

// indexAt reads an integer index of any index dtype.
func indexAt(flat any, i int) int {
	switch f := flat.(type) {
	case []int32:
		return int(f[i])
	case []int64:
		return int(f[i])
	case []uint32:
		return int(f[i])
	case []uint64:
		return int(f[i])
	case []int8:
		return int(f[i])
	case []int16:
		return int(f[i])
	case []uint8:
		return int(f[i])
	case []uint16:
		return int(f[i])
	}
	panic(fmt.Sprintf("indexAt: %T", flat))
}

// batchWalk iterates the positions of indices' batch axes (all but the index
// vector axis), calling f with each position's flat offset into indices
// (of the index vector's first element) and its batch multi-index.
func batchWalk(indices shapes.Shape, indexVectorAxis int, f func(off int, idx []int)) {
	st := rowMajor(indices.Dimensions)
	var bdims, bst []int
	for a, d := range indices.Dimensions {
		if a != indexVectorAxis {
			bdims, bst = append(bdims, d), append(bst, st[a])
		}
	}
	total := 1
	for _, d := range bdims {
		total *= d
	}
	idx := make([]int, len(bdims))
	for p := 0; p < total; p++ {
		rem, off := p, 0
		for k := len(bdims) - 1; k >= 0; k-- {
			idx[k] = rem % bdims[k]
			rem /= bdims[k]
			off += idx[k] * bst[k]
		}
		f(off, idx)
	}
}

func kGather(ec *execCtx, n *node, ins []*Buffer) (*Buffer, error) {
	a := n.attr.(gatherAttr)
	op, ind := n.inputs[0].shape, n.inputs[1].shape
	out := ec.alloc(n.shape)
	if n.shape.Size() == 0 {
		return out, nil
	}
	opSt, outSt := rowMajor(op.Dimensions), rowMajor(n.shape.Dimensions)
	vecSt := 0
	if a.indexVectorAxis < ind.Rank() {
		vecSt = rowMajor(ind.Dimensions)[a.indexVectorAxis]
	}
	offsetAxes := slices.Clone(a.offsetOutputAxes)
	slices.Sort(offsetAxes)
	isOffset := make([]bool, n.shape.Rank())
	for _, ax := range offsetAxes {
		isOffset[ax] = true
	}
	var batchOutSt []int
	for ax := range n.shape.Dimensions {
		if !isOffset[ax] {
			batchOutSt = append(batchOutSt, outSt[ax])
		}
	}
	collapsed := make([]bool, op.Rank())
	for _, ax := range a.collapsedSliceAxes {
		collapsed[ax] = true
	}
	var sdims, sds, sss []int
	k := 0
	for ax := range op.Dimensions {
		if collapsed[ax] {
			continue
		}
		sdims, sds, sss = append(sdims, a.sliceSizes[ax]), append(sds, outSt[offsetAxes[k]]), append(sss, opSt[ax])
		k++
	}
	if len(sdims) == 0 {
		sdims, sds, sss = []int{1}, []int{1}, []int{1}
	}
	sdims, sds, sss = simplify(sdims, sds, sss)
	var err error
	batchWalk(ind, a.indexVectorAxis, func(off int, idx []int) {
		so := 0
		for j, opAx := range a.startIndexMap {
			s := indexAt(ins[1].flat, off+j*vecSt)
			s = max(0, min(s, op.Dimensions[opAx]-a.sliceSizes[opAx]))
			so += s * opSt[opAx]
		}
		do := 0
		for j, i := range idx {
			do += i * batchOutSt[j]
		}
		if err == nil {
			err = copyBlock(sdims, out.flat, do, sds, ins[0].flat, so, sss)
		}
	})
	return out, err
}

// copyBlock is a serial stridedCopy (gather copies many small blocks).
func copyBlock(dims []int, dst any, do int, ds []int, src any, so int, ss []int) error {
	switch d := dst.(type) {
	case []float32:
		copyStrided(dims, d, do, ds, src.([]float32), so, ss)
	case []float64:
		copyStrided(dims, d, do, ds, src.([]float64), so, ss)
	case []int32:
		copyStrided(dims, d, do, ds, src.([]int32), so, ss)
	case []int64:
		copyStrided(dims, d, do, ds, src.([]int64), so, ss)
	case []bool:
		copyStrided(dims, d, do, ds, src.([]bool), so, ss)
	case []uint32:
		copyStrided(dims, d, do, ds, src.([]uint32), so, ss)
	case []uint64:
		copyStrided(dims, d, do, ds, src.([]uint64), so, ss)
	case []uint8:
		copyStrided(dims, d, do, ds, src.([]uint8), so, ss)
	default:
		return fmt.Errorf("Gather of %T %s", dst, notImplementedSuffix)
	}
	return nil
}
