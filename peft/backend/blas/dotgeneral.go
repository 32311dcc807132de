package blas

import (
	"fmt"
	"slices"
	"sync"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
)

// DotGeneral as batched gemm. Each operand is viewed as B matrices: the lhs
// as [M, K] (rows: its free axes in order; columns: its contracting axes in
// lhsContracting order), the rhs as [K, N]. A matrix maps onto BLAS without
// a copy when each of its two axis groups collapses to one strided axis and
// one of the two has unit stride (NoTrans or Trans with a leading dimension);
// batch axes may sit anywhere, since every matrix gets its own offset. That
// covers the encoder's products (x W^T, the attention Einsums with batch
// axes b,h not leading, their gradients); other layouts are packed into
// scratch first. The output [batch..., lhs free..., rhs free...] is already
// B dense [M, N] matrices.

// dotGeneral computes out = DotGeneral(lhs, rhs) with GoMLX semantics for
// f32 and f64 flat row-major buffers; out need not be zeroed.
func dotGeneral(dtype dtypes.DType, lhs, rhs, out any,
	lhsDims, rhsDims []int,
	lhsContracting, lhsBatch, rhsContracting, rhsBatch []int) error {
	p, err := newProblem(lhsDims, rhsDims, lhsContracting, lhsBatch, rhsContracting, rhsBatch)
	if err != nil {
		return err
	}
	switch dtype {
	case dtypes.Float32:
		return runTyped[float32](p, lhs, rhs, out, &pool32)
	case dtypes.Float64:
		return runTyped[float64](p, lhs, rhs, out, &pool64)
	}
	return fmt.Errorf("blas DotGeneral: dtype %s is not supported (only float32 and float64)", dtype)
}

func runTyped[T float32 | float64](p *problem, lhs, rhs, out any, pool *sync.Pool) error {
	l, ok1 := lhs.([]T)
	r, ok2 := rhs.([]T)
	o, ok3 := out.([]T)
	if !ok1 || !ok2 || !ok3 {
		var zero T
		return fmt.Errorf("blas DotGeneral: buffers must all be []%T, got %T, %T, %T", zero, lhs, rhs, out)
	}
	if len(l) != p.lhs.size() || len(r) != p.rhs.size() || len(o) != p.B*p.M*p.N {
		return fmt.Errorf("blas DotGeneral: buffer lengths lhs %d, rhs %d, out %d do not match shapes %v, %v and output size %d",
			len(l), len(r), len(o), p.lhs.dims, p.rhs.dims, p.B*p.M*p.N)
	}
	lb, err := lib()
	if err != nil {
		return fmt.Errorf("blas DotGeneral: %w", err)
	}
	run(lb, p, l, r, o, pool)
	return nil
}

// operand is one side of the product, its axes grouped as batch, rows and
// columns of its matrices.
type operand struct {
	dims, strides     []int
	batch, rows, cols []int // axes
}

func (o *operand) size() int { return numElements(o.dims) }

func numElements(dims []int) int {
	n := 1
	for _, d := range dims {
		n *= d
	}
	return n
}

// problem is a validated DotGeneral.
type problem struct {
	B, M, N, K int
	lhs, rhs   operand
}

func newProblem(lhsDims, rhsDims, lhsContracting, lhsBatch, rhsContracting, rhsBatch []int) (*problem, error) {
	if len(lhsContracting) != len(rhsContracting) || len(lhsBatch) != len(rhsBatch) {
		return nil, fmt.Errorf("blas DotGeneral: lhs has %d contracting and %d batch axes, rhs %d and %d: they must match",
			len(lhsContracting), len(lhsBatch), len(rhsContracting), len(rhsBatch))
	}
	lfree, err := freeAxes("lhs", lhsDims, lhsContracting, lhsBatch)
	if err != nil {
		return nil, err
	}
	rfree, err := freeAxes("rhs", rhsDims, rhsContracting, rhsBatch)
	if err != nil {
		return nil, err
	}
	for i := range lhsContracting {
		if a, b := lhsDims[lhsContracting[i]], rhsDims[rhsContracting[i]]; a != b {
			return nil, fmt.Errorf("blas DotGeneral: contracting axes lhs %d (dim %d) and rhs %d (dim %d) differ", lhsContracting[i], a, rhsContracting[i], b)
		}
	}
	for i := range lhsBatch {
		if a, b := lhsDims[lhsBatch[i]], rhsDims[rhsBatch[i]]; a != b {
			return nil, fmt.Errorf("blas DotGeneral: batch axes lhs %d (dim %d) and rhs %d (dim %d) differ", lhsBatch[i], a, rhsBatch[i], b)
		}
	}
	p := &problem{
		lhs: operand{dims: lhsDims, strides: rowMajorStrides(lhsDims), batch: lhsBatch, rows: lfree, cols: lhsContracting},
		rhs: operand{dims: rhsDims, strides: rowMajorStrides(rhsDims), batch: rhsBatch, rows: rhsContracting, cols: rfree},
	}
	p.B = prod(lhsDims, lhsBatch)
	p.M = prod(lhsDims, lfree)
	p.K = prod(lhsDims, lhsContracting)
	p.N = prod(rhsDims, rfree)
	return p, nil
}

// freeAxes checks that axes are in range and distinct and returns the rest
// in increasing order (GoMLX's order for cross axes in the output).
func freeAxes(side string, dims, contracting, batch []int) ([]int, error) {
	used := make([]bool, len(dims))
	for _, axes := range [][]int{contracting, batch} {
		for _, a := range axes {
			if a < 0 || a >= len(dims) {
				return nil, fmt.Errorf("blas DotGeneral: %s axis %d out of range for rank %d", side, a, len(dims))
			}
			if used[a] {
				return nil, fmt.Errorf("blas DotGeneral: %s axis %d is listed twice among contracting %v and batch %v", side, a, contracting, batch)
			}
			used[a] = true
		}
	}
	for _, d := range dims {
		if d < 0 {
			return nil, fmt.Errorf("blas DotGeneral: %s has a negative dimension in %v", side, dims)
		}
	}
	var free []int
	for a, u := range used {
		if !u {
			free = append(free, a)
		}
	}
	return free, nil
}

func rowMajorStrides(dims []int) []int {
	s := make([]int, len(dims))
	acc := 1
	for i := len(dims) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= dims[i]
	}
	return s
}

// prod of dims over axes (1 for no axes).
func prod(dims, axes []int) int {
	n := 1
	for _, a := range axes {
		n *= dims[a]
	}
	return n
}

// mergedStride is the stride of axes read as one axis, when they collapse to
// one (each stride is the next one times its dim; size-1 axes do not count).
// A group of total size 1 has no stride: single=true.
func (o *operand) mergedStride(axes []int) (stride int, single, ok bool) {
	last := -1
	for i := len(axes) - 1; i >= 0; i-- {
		a := axes[i]
		if o.dims[a] == 1 {
			continue
		}
		if last >= 0 && o.strides[a] != o.strides[last]*o.dims[last] {
			return 0, false, false
		}
		if last < 0 {
			stride = o.strides[a]
		}
		last = a
	}
	return stride, last < 0, true
}

// matrix is how BLAS reads one operand: row-major rows x cols (trans false)
// or its transpose stored cols x rows (trans true), with leading dimension
// ld, matrix i at offs[i].
type matrix struct {
	trans bool
	ld    int
	offs  []int64
}

// view returns the zero-copy matrix view of o, if there is one.
func (o *operand) view(rows, cols int) (trans bool, ld int, ok bool) {
	rs, rone, rok := o.mergedStride(o.rows)
	cs, cone, cok := o.mergedStride(o.cols)
	if !rok || !cok {
		return false, 0, false
	}
	// NoTrans: element (r, c) at r*ld + c.
	if cone || cs == 1 {
		switch {
		case rone:
			return false, max(cols, 1), true
		case rs >= cols:
			return false, rs, true
		}
	}
	// Trans: element (r, c) at c*ld + r.
	if rone || rs == 1 {
		switch {
		case cone:
			return true, max(rows, 1), true
		case cs >= rows:
			return true, cs, true
		}
	}
	return false, 0, false
}

// batchOffsets fills the element offsets of every batch entry of lhs and
// rhs, batch axes enumerated row-major in lhsBatch order (the output's).
func batchOffsets(p *problem, loffs, roffs []int64) {
	nb := len(p.lhs.batch)
	idx := make([]int, nb)
	var lo, ro int64
	for b := range p.B {
		loffs[b], roffs[b] = lo, ro
		for j := nb - 1; j >= 0; j-- {
			la, ra := p.lhs.batch[j], p.rhs.batch[j]
			idx[j]++
			lo += int64(p.lhs.strides[la])
			ro += int64(p.rhs.strides[ra])
			if idx[j] < p.lhs.dims[la] {
				break
			}
			lo -= int64(idx[j] * p.lhs.strides[la])
			ro -= int64(idx[j] * p.rhs.strides[ra])
			idx[j] = 0
		}
	}
}

// pack copies o into dst as dense [batch..., rows..., cols...] (the group
// orders of o), for layouts BLAS cannot read in place.
func pack[T float32 | float64](o *operand, src, dst []T) {
	perm := slices.Concat(o.batch, o.rows, o.cols)
	if len(perm) == 0 {
		dst[0] = src[0]
		return
	}
	inner := perm[len(perm)-1]
	n, s := o.dims[inner], o.strides[inner]
	outer := perm[:len(perm)-1]
	idx := make([]int, len(outer))
	off := 0
	for d := 0; d < len(dst); d += n {
		for i := range n {
			dst[d+i] = src[off+i*s]
		}
		for j := len(outer) - 1; j >= 0; j-- {
			a := outer[j]
			idx[j]++
			off += o.strides[a]
			if idx[j] < o.dims[a] {
				break
			}
			off -= idx[j] * o.strides[a]
			idx[j] = 0
		}
	}
}

var pool32 = sync.Pool{New: func() any { return new([]float32) }}
var pool64 = sync.Pool{New: func() any { return new([]float64) }}
var poolOffsets = sync.Pool{New: func() any { return new([]int64) }}

func getScratch[T any](pool *sync.Pool, n int) *[]T {
	p := pool.Get().(*[]T)
	if cap(*p) < n {
		*p = make([]T, n)
	}
	*p = (*p)[:n]
	return p
}

// run computes the product with BLAS whatever its size: a plain Go loop
// wins only below about 8x8x8, by under a microsecond a call
// (BenchmarkSmallProducts), and the encoder has no products that small.
func run[T float32 | float64](l *library, p *problem, lhs, rhs, out []T, pool *sync.Pool) {
	if len(out) == 0 {
		return
	}
	if p.K == 0 {
		clear(out)
		return
	}
	offs := getScratch[int64](&poolOffsets, 2*p.B)
	defer poolOffsets.Put(offs)
	a := matrix{offs: (*offs)[:p.B]}
	b := matrix{offs: (*offs)[p.B:]}
	batchOffsets(p, a.offs, b.offs)

	var ok bool
	if a.trans, a.ld, ok = p.lhs.view(p.M, p.K); !ok {
		s := getScratch[T](pool, len(lhs))
		defer pool.Put(s)
		pack(&p.lhs, lhs, *s)
		lhs, a.trans, a.ld = *s, false, p.K
		for i := range a.offs {
			a.offs[i] = int64(i * p.M * p.K)
		}
	}
	if b.trans, b.ld, ok = p.rhs.view(p.K, p.N); !ok {
		s := getScratch[T](pool, len(rhs))
		defer pool.Put(s)
		pack(&p.rhs, rhs, *s)
		rhs, b.trans, b.ld = *s, false, p.N
		for i := range b.offs {
			b.offs[i] = int64(i * p.K * p.N)
		}
	}

	// One call runs the whole batch. Splitting the batch over goroutines
	// (OpenBLAS runs products this small on one thread) gained nothing
	// measurable on the 2-core machine: 95 against 105 GFLOP/s on the
	// attention products.
	gemmBatch(l, a.trans, b.trans, p.M, p.N, p.K, lhs, a.offs, a.ld, rhs, b.offs, b.ld, out, p.N)
}
