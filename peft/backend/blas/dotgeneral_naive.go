package blas

// Temporary stand-in for cpu-blas's dotgeneral.go and cblas.go: the same
// functions (available, libraryInfo, LibraryStatus, dotGeneral) in plain Go,
// so the backend runs end to end before OpenBLAS is wired in. The lead
// deletes this file at merge.
//
// dotGeneral's contract: out = DotGeneral(lhs, rhs) with GoMLX's axis
// order (batch, lhs free, rhs free); dtype Float32 or Float64 with flat
// []float32/[]float64 row-major data; out fully overwritten, never aliasing
// the inputs; any axis layout; safe for concurrent calls; deterministic.

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
)

func available() bool { return true }

func libraryInfo() string { return "naive Go DotGeneral (placeholder until cblas.go lands)" }

// LibraryStatus is whether the backend can run and what it found (cpu-blas
// exports the same from cblas.go).
func LibraryStatus() (ok bool, info string) { return available(), libraryInfo() }

func dotGeneral(dtype dtypes.DType, lhs, rhs, out any, lhsDims, rhsDims []int,
	lhsContracting, lhsBatch, rhsContracting, rhsBatch []int) error {
	switch dtype {
	case dtypes.Float32:
		naiveDot(lhs.([]float32), rhs.([]float32), out.([]float32), lhsDims, rhsDims, lhsContracting, lhsBatch, rhsContracting, rhsBatch)
	case dtypes.Float64:
		naiveDot(lhs.([]float64), rhs.([]float64), out.([]float64), lhsDims, rhsDims, lhsContracting, lhsBatch, rhsContracting, rhsBatch)
	default:
		return fmt.Errorf("dotGeneral of %s", dtype)
	}
	return nil
}

// naiveDot transposes lhs to [B, M, K] and rhs to [B, K, N], then multiplies.
func naiveDot[T float](lhs, rhs, out []T, lhsDims, rhsDims []int, lc, lb, rc, rb []int) {
	normalize := func(x []T, dims, batch, first, second []int) ([]T, int, int, int) {
		perm := append(append(append([]int{}, batch...), first...), second...)
		st := rowMajor(dims)
		pd, ps := make([]int, len(perm)), make([]int, len(perm))
		for i, p := range perm {
			pd[i], ps[i] = dims[p], st[p]
		}
		size := func(axes []int) int {
			s := 1
			for _, a := range axes {
				s *= dims[a]
			}
			return s
		}
		y := make([]T, len(x))
		if len(x) > 0 {
			d, a, b := simplify(pd, rowMajor(pd), ps)
			copyStrided(d, y, 0, a, x, 0, b)
		}
		return y, size(batch), size(first), size(second)
	}
	free := func(dims []int, used ...[]int) []int {
		u := make([]bool, len(dims))
		for _, l := range used {
			for _, a := range l {
				u[a] = true
			}
		}
		var f []int
		for a := range dims {
			if !u[a] {
				f = append(f, a)
			}
		}
		return f
	}
	l, bs, m, k := normalize(lhs, lhsDims, lb, free(lhsDims, lc, lb), lc)
	r, _, _, n := normalize(rhs, rhsDims, rb, rc, free(rhsDims, rc, rb))
	clear(out)
	for b := 0; b < bs; b++ {
		for i := 0; i < m; i++ {
			o := out[(b*m+i)*n : (b*m+i+1)*n]
			for p := 0; p < k; p++ {
				x := l[(b*m+i)*k+p]
				row := r[(b*k+p)*n : (b*k+p+1)*n]
				for j := range o {
					o[j] += x * row[j]
				}
			}
		}
	}
}
