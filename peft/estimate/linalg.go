package estimate

import (
	"fmt"
	"math"
	"sort"
)

// Small dense linear algebra for the estimators: feature dimensions are the
// encoder's hidden size (128 for the shipped model, 768 for BERT-base), so
// plain float64 loops are fast enough and keep the package dependency-free.

// symEigen returns the eigenvalues (descending) and eigenvectors (columns of
// vecs, vecs[i][k] is component i of vector k) of the symmetric matrix a,
// by cyclic Jacobi rotations, which are accurate to working precision even
// for tiny eigenvalues. a is not changed.
func symEigen(a [][]float64) (vals []float64, vecs [][]float64) {
	n := len(a)
	m := make([][]float64, n)
	v := make([][]float64, n)
	for i := range a {
		m[i] = append([]float64(nil), a[i]...)
		v[i] = make([]float64, n)
		v[i][i] = 1
	}
	for sweep := 0; sweep < 100; sweep++ {
		off, diag := 0.0, 0.0
		for i := 0; i < n; i++ {
			diag += m[i][i] * m[i][i]
			for j := i + 1; j < n; j++ {
				off += m[i][j] * m[i][j]
			}
		}
		if off <= 1e-30*diag || off == 0 {
			break
		}
		for p := 0; p < n; p++ {
			for q := p + 1; q < n; q++ {
				apq := m[p][q]
				if apq == 0 {
					continue
				}
				// Rotation that zeroes m[p][q] (Golub & Van Loan, Algorithm 8.4.1).
				theta := (m[q][q] - m[p][p]) / (2 * apq)
				t := 1 / (math.Abs(theta) + math.Sqrt(theta*theta+1))
				if theta < 0 {
					t = -t
				}
				c := 1 / math.Sqrt(t*t+1)
				s := t * c
				for k := 0; k < n; k++ {
					mkp, mkq := m[k][p], m[k][q]
					m[k][p], m[k][q] = c*mkp-s*mkq, s*mkp+c*mkq
				}
				for k := 0; k < n; k++ {
					mpk, mqk := m[p][k], m[q][k]
					m[p][k], m[q][k] = c*mpk-s*mqk, s*mpk+c*mqk
				}
				for k := 0; k < n; k++ {
					vkp, vkq := v[k][p], v[k][q]
					v[k][p], v[k][q] = c*vkp-s*vkq, s*vkp+c*vkq
				}
			}
		}
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(i, j int) bool { return m[order[i]][order[i]] > m[order[j]][order[j]] })
	vals = make([]float64, n)
	vecs = make([][]float64, n)
	for i := range vecs {
		vecs[i] = make([]float64, n)
	}
	for k, o := range order {
		vals[k] = m[o][o]
		for i := 0; i < n; i++ {
			vecs[i][k] = v[i][o]
		}
	}
	return vals, vecs
}

// gram returns XᵀX for X [n][d].
func gram(x [][]float64) [][]float64 {
	d := len(x[0])
	g := make([][]float64, d)
	for i := range g {
		g[i] = make([]float64, d)
	}
	for _, row := range x {
		for i, xi := range row {
			if xi == 0 {
				continue
			}
			gi := g[i]
			for j := i; j < d; j++ {
				gi[j] += xi * row[j]
			}
		}
	}
	for i := 0; i < d; i++ {
		for j := 0; j < i; j++ {
			g[i][j] = g[j][i]
		}
	}
	return g
}

// solveSPD solves A x = b for each column of b (A symmetric positive
// definite, [d][d]; b [d][k]) by Cholesky factorisation.
func solveSPD(a [][]float64, b [][]float64) ([][]float64, error) {
	d := len(a)
	l := make([][]float64, d)
	for i := range l {
		l[i] = make([]float64, d)
		for j := 0; j <= i; j++ {
			s := a[i][j]
			for k := 0; k < j; k++ {
				s -= l[i][k] * l[j][k]
			}
			if i == j {
				if s <= 0 {
					return nil, fmt.Errorf("matrix is not positive definite (pivot %d is %g)", i, s)
				}
				l[i][i] = math.Sqrt(s)
			} else {
				l[i][j] = s / l[j][j]
			}
		}
	}
	k := len(b[0])
	x := make([][]float64, d)
	for i := range x {
		x[i] = make([]float64, k)
	}
	for c := 0; c < k; c++ {
		y := make([]float64, d)
		for i := 0; i < d; i++ {
			s := b[i][c]
			for j := 0; j < i; j++ {
				s -= l[i][j] * y[j]
			}
			y[i] = s / l[i][i]
		}
		for i := d - 1; i >= 0; i-- {
			s := y[i]
			for j := i + 1; j < d; j++ {
				s -= l[j][i] * x[j][c]
			}
			x[i][c] = s / l[i][i]
		}
	}
	return x, nil
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}
