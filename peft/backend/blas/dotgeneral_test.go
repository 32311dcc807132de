package blas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gopeft/gopeft/internal/dotlayouts"

	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// dgCase is one DotGeneral configuration.
type dgCase struct {
	name                  string
	lhsDims, rhsDims      []int
	lhsContract, lhsBatch []int
	rhsContract, rhsBatch []int
}

// cases: every layout of peft/fastgrad's tests, then the encoder's products
// and their gradients, then degenerate shapes.
var cases = append(commonCases(), []dgCase{
	// Encoder (batch 3, seq 5, hidden 8, 2 heads of 4, FFN 12): x W^T with
	// W [out, in]; its gradients dx = dy W and dW = dy^T x over (b, s).
	{"linear_xWt", []int{3, 5, 8}, []int{12, 8}, []int{2}, nil, []int{1}, nil},
	{"linear_grad_x", []int{3, 5, 12}, []int{12, 8}, []int{2}, nil, []int{0}, nil},
	{"linear_grad_w", []int{3, 5, 12}, []int{3, 5, 8}, []int{0, 1}, nil, []int{0, 1}, nil},
	// Einsum("bqhd,bkhd->bhqk") and ("bhqk,bkhd->bqhd"): batch axes b, h
	// not adjacent in memory.
	{"einsum_scores", []int{3, 5, 2, 4}, []int{3, 6, 2, 4}, []int{3}, []int{0, 2}, []int{3}, []int{0, 2}},
	{"einsum_values", []int{3, 2, 5, 6}, []int{3, 6, 2, 4}, []int{3}, []int{0, 1}, []int{1}, []int{0, 2}},
	// Attention gradients: dQ = dS K, dK = dS^T Q, dV = P^T dO.
	{"attention_grad_q", []int{3, 2, 5, 6}, []int{3, 2, 6, 4}, []int{3}, []int{0, 1}, []int{2}, []int{0, 1}},
	{"attention_grad_k", []int{3, 2, 5, 6}, []int{3, 2, 5, 4}, []int{2}, []int{0, 1}, []int{2}, []int{0, 1}},
	{"batch_order_swapped", []int{2, 3, 5, 6}, []int{3, 2, 6, 4}, []int{3}, []int{1, 0}, []int{2}, []int{0, 1}},
	{"contracting_first_both", []int{6, 5}, []int{6, 4}, []int{0}, nil, []int{0}, nil},
	{"free_axes_split_by_contracting", []int{2, 6, 3}, []int{6, 4}, []int{1}, nil, []int{0}, nil},

	{"scalars", nil, nil, nil, nil, nil, nil},
	{"scalar_times_matrix", nil, []int{3, 4}, nil, nil, nil, nil},
	{"unit_dims", []int{1, 5, 1, 7}, []int{7, 1, 3}, []int{3}, []int{2}, []int{0}, []int{1}},
	{"zero_batch", []int{0, 5, 7}, []int{0, 7, 3}, []int{2}, []int{0}, []int{1}, []int{0}},
	{"zero_rows", []int{0, 7}, []int{7, 3}, []int{1}, nil, []int{0}, nil},
	{"zero_cols", []int{5, 7}, []int{7, 0}, []int{1}, nil, []int{0}, nil},
	{"zero_contracting", []int{5, 0}, []int{0, 3}, []int{1}, nil, []int{0}, nil},
}...)

// commonCases are dotlayouts.Common as dgCases.
func commonCases() []dgCase {
	var cs []dgCase
	for _, l := range dotlayouts.Common {
		cs = append(cs, dgCase{l.Name, l.LHS, l.RHS, l.LHSContract, l.LHSBatch, l.RHSContract, l.RHSBatch})
	}
	return cs
}

func outDims(c dgCase) []int {
	lf, _ := freeAxes("lhs", c.lhsDims, c.lhsContract, c.lhsBatch)
	rf, _ := freeAxes("rhs", c.rhsDims, c.rhsContract, c.rhsBatch)
	var out []int
	for _, a := range c.lhsBatch {
		out = append(out, c.lhsDims[a])
	}
	for _, a := range lf {
		out = append(out, c.lhsDims[a])
	}
	for _, a := range rf {
		out = append(out, c.rhsDims[a])
	}
	return out
}

// naive evaluates the definition: for every output index (batch, lhs free,
// rhs free) the sum over the contracting index, in float64. It also returns
// the sum of |products| per output, the scale of the rounding error.
func naive(c dgCase, lhs, rhs []float64) (out, scale []float64) {
	lf, _ := freeAxes("lhs", c.lhsDims, c.lhsContract, c.lhsBatch)
	rf, _ := freeAxes("rhs", c.rhsDims, c.rhsContract, c.rhsBatch)
	od := outDims(c)
	n := numElements(od)
	out, scale = make([]float64, n), make([]float64, n)
	cdims := make([]int, len(c.lhsContract))
	for i, a := range c.lhsContract {
		cdims[i] = c.lhsDims[a]
	}
	ls, rs := rowMajorStrides(c.lhsDims), rowMajorStrides(c.rhsDims)
	li, ri := make([]int, len(c.lhsDims)), make([]int, len(c.rhsDims))
	forEach(od, func(o int, idx []int) {
		p := 0
		for j := range c.lhsBatch {
			li[c.lhsBatch[j]], ri[c.rhsBatch[j]] = idx[p], idx[p]
			p++
		}
		for _, a := range lf {
			li[a] = idx[p]
			p++
		}
		for _, a := range rf {
			ri[a] = idx[p]
			p++
		}
		forEach(cdims, func(_ int, k []int) {
			for j := range k {
				li[c.lhsContract[j]], ri[c.rhsContract[j]] = k[j], k[j]
			}
			x, y := lhs[dot(li, ls)], rhs[dot(ri, rs)]
			out[o] += x * y
			scale[o] += math.Abs(x * y)
		})
	})
	return out, scale
}

// forEach calls fn for every index of dims in row-major order (once for
// rank 0, never when a dim is 0).
func forEach(dims []int, fn func(flat int, idx []int)) {
	n := numElements(dims)
	idx := make([]int, len(dims))
	for f := range n {
		fn(f, idx)
		for j := len(dims) - 1; j >= 0; j-- {
			idx[j]++
			if idx[j] < dims[j] {
				break
			}
			idx[j] = 0
		}
	}
}

func dot(a, b []int) int {
	s := 0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func randomData(rng *rand.Rand, n int) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	return x
}

func convert[T float32 | float64](x []float64) []T {
	out := make([]T, len(x))
	for i, v := range x {
		out[i] = T(v)
	}
	return out
}

func requireBLAS(t testing.TB) {
	t.Helper()
	if !available() {
		t.Skipf("no BLAS on this machine: %s", libraryInfo())
	}
}

// check runs c in dtype T and compares with the naive loop.
func check[T float32 | float64](t *testing.T, rng *rand.Rand, c dgCase, tol float64) {
	t.Helper()
	l64 := randomData(rng, numElements(c.lhsDims))
	r64 := randomData(rng, numElements(c.rhsDims))
	want, scale := naive(c, l64, r64)
	lhs, rhs := convert[T](l64), convert[T](r64)
	lhsCopy, rhsCopy := slices.Clone(lhs), slices.Clone(rhs)
	out := make([]T, len(want))
	for i := range out {
		out[i] = T(math.NaN()) // the contract: out holds garbage on entry
	}
	var zero T
	dt := dtypes.Float32
	if _, is64 := any(zero).(float64); is64 {
		dt = dtypes.Float64
	}
	if err := dotGeneral(dt, lhs, rhs, out, c.lhsDims, c.rhsDims, c.lhsContract, c.lhsBatch, c.rhsContract, c.rhsBatch); err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	if !slices.Equal(lhs, lhsCopy) || !slices.Equal(rhs, rhsCopy) {
		t.Fatalf("%s: inputs were modified", c.name)
	}
	for i := range want {
		if d := math.Abs(float64(out[i]) - want[i]); !(d <= tol*(scale[i]+1e-30)) {
			t.Fatalf("%s (%s): out[%d] = %g, want %g (scale %g)", c.name, dt, i, out[i], want[i], scale[i])
		}
	}
}

func TestDotGeneralLayouts(t *testing.T) {
	requireBLAS(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range cases {
		check[float32](t, rng, c, 1e-5)
		check[float64](t, rng, c, 1e-13)
	}
}

// randomCase draws a rank 0-4 lhs and rhs with random batch, contracting
// and free axes in random positions and orders.
func randomCase(rng *rand.Rand, i int) dgCase {
	nb, nc := rng.IntN(3), rng.IntN(3)
	lfree, rfree := rng.IntN(3), rng.IntN(3)
	for nb+nc+lfree > 4 || nb+nc+rfree > 4 {
		lfree, rfree = rng.IntN(3), rng.IntN(3)
		nb, nc = rng.IntN(3), rng.IntN(3)
	}
	dim := func() int { return 1 + rng.IntN(5) }
	bd, cd := make([]int, nb), make([]int, nc)
	for j := range bd {
		bd[j] = dim()
	}
	for j := range cd {
		cd[j] = dim()
	}
	side := func(nfree int) (dims, contract, batch []int) {
		rank := nb + nc + nfree
		pos := rng.Perm(rank)
		dims = make([]int, rank)
		for j := range nb {
			batch = append(batch, pos[j])
			dims[pos[j]] = bd[j]
		}
		for j := range nc {
			contract = append(contract, pos[nb+j])
			dims[pos[nb+j]] = cd[j]
		}
		for j := nb + nc; j < rank; j++ {
			dims[pos[j]] = dim()
		}
		return dims, contract, batch
	}
	c := dgCase{name: fmt.Sprintf("random_%d", i)}
	c.lhsDims, c.lhsContract, c.lhsBatch = side(lfree)
	c.rhsDims, c.rhsContract, c.rhsBatch = side(rfree)
	return c
}

func TestDotGeneralRandomLayouts(t *testing.T) {
	requireBLAS(t)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 300 {
		c := randomCase(rng, i)
		check[float32](t, rng, c, 1e-5)
		check[float64](t, rng, c, 1e-13)
	}
}

// TestDotGeneralLarge: sizes that reach OpenBLAS's threaded path.
func TestDotGeneralLarge(t *testing.T) {
	requireBLAS(t)
	rng := rand.New(rand.NewPCG(5, 6))
	for _, c := range []dgCase{
		{"ffn_in", []int{4, 32, 64}, []int{256, 64}, []int{2}, nil, []int{1}, nil},
		{"grad_w", []int{4, 32, 256}, []int{4, 32, 64}, []int{0, 1}, nil, []int{0, 1}, nil},
		{"scores", []int{4, 32, 4, 16}, []int{4, 32, 4, 16}, []int{3}, []int{0, 2}, []int{3}, []int{0, 2}},
		{"packed", []int{8, 40, 12, 9}, []int{9, 30, 8}, []int{0, 3}, nil, []int{2, 0}, nil},
	} {
		check[float32](t, rng, c, 1e-5)
		check[float64](t, rng, c, 1e-13)
	}
}

// TestDotGeneralConcurrentDeterministic: concurrent calls (cpu-core runs ops
// from several goroutines) give the bits of a lone call, for batched small
// products and for products large enough for OpenBLAS's own threads.
func TestDotGeneralConcurrentDeterministic(t *testing.T) {
	requireBLAS(t)
	rng := rand.New(rand.NewPCG(7, 8))
	for _, c := range []dgCase{
		{"scores", []int{4, 32, 4, 16}, []int{4, 32, 4, 16}, []int{3}, []int{0, 2}, []int{3}, []int{0, 2}},
		{"ffn_in", []int{8, 64, 128}, []int{512, 128}, []int{2}, nil, []int{1}, nil},
	} {
		lhs := convert[float32](randomData(rng, numElements(c.lhsDims)))
		rhs := convert[float32](randomData(rng, numElements(c.rhsDims)))
		n := numElements(outDims(c))
		call := func() []float32 {
			out := make([]float32, n)
			if err := dotGeneral(dtypes.Float32, lhs, rhs, out, c.lhsDims, c.rhsDims, c.lhsContract, c.lhsBatch, c.rhsContract, c.rhsBatch); err != nil {
				t.Error(err)
			}
			return out
		}
		want := call()
		var wg sync.WaitGroup
		results := make([][]float32, 8)
		for i := range results {
			wg.Go(func() { results[i] = call() })
		}
		wg.Wait()
		for i, r := range results {
			if !slices.Equal(r, want) {
				t.Fatalf("%s: concurrent call %d differs from a lone call", c.name, i)
			}
		}
	}
}

func TestDotGeneralErrors(t *testing.T) {
	f := make([]float32, 6)
	for _, tc := range []struct {
		name          string
		dt            dtypes.DType
		lhs, rhs, out any
		ld, rd        []int
		lc, lb        []int
		rc, rb        []int
		want          string
	}{
		{"dtype", dtypes.Int32, []int32{1}, []int32{1}, []int32{0}, []int{1}, []int{1}, []int{0}, nil, []int{0}, nil, "not supported"},
		{"buffer type", dtypes.Float32, []float64{1}, f[:1], f[:1], []int{1}, []int{1}, []int{0}, nil, []int{0}, nil, "[]float32"},
		{"contracting dims", dtypes.Float32, f, f, f[:4], []int{2, 3}, []int{2, 3}, []int{1}, nil, []int{0}, nil, "contracting axes"},
		{"batch dims", dtypes.Float32, f, f, f, []int{2, 3}, []int{3, 3}, []int{1}, []int{0}, []int{1}, []int{0}, "batch axes"},
		{"axis count", dtypes.Float32, f, f, f, []int{2, 3}, []int{2, 3}, []int{1}, nil, nil, nil, "must match"},
		{"axis range", dtypes.Float32, f, f, f, []int{2, 3}, []int{2, 3}, []int{2}, nil, []int{1}, nil, "out of range"},
		{"axis twice", dtypes.Float32, f, f, f, []int{2, 3}, []int{2, 3}, []int{1}, []int{1}, []int{1}, []int{0}, "twice"},
		{"buffer length", dtypes.Float32, f, f, f, []int{2, 3}, []int{3, 2}, []int{1}, nil, []int{0}, nil, "buffer lengths"},
	} {
		err := dotGeneral(tc.dt, tc.lhs, tc.rhs, tc.out, tc.ld, tc.rd, tc.lc, tc.lb, tc.rc, tc.rb)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

// TestZeroCopyViews pins which layouts BLAS reads in place: a copy there
// would be a silent slowdown, not a wrong answer.
func TestZeroCopyViews(t *testing.T) {
	for _, tc := range []struct {
		name       string
		c          dgCase
		lhs, rhs   bool // expect a zero-copy view
		lhsT, rhsT bool // and with these transpose flags
	}{
		{"linear_xWt", cases[14], true, true, false, true},
		{"linear_grad_x", cases[15], true, true, false, false},
		{"linear_grad_w", cases[16], true, true, true, false},
		{"einsum_scores", cases[17], true, true, false, true},
		{"einsum_values", cases[18], true, true, false, false},
		{"attention_grad_k", cases[20], true, true, true, false},
		{"two_contracting_reversed", cases[4], false, false, false, false},
	} {
		c := tc.c
		if c.name != tc.name {
			t.Fatalf("cases order changed: %s is not %s", c.name, tc.name)
		}
		p, err := newProblem(c.lhsDims, c.rhsDims, c.lhsContract, c.lhsBatch, c.rhsContract, c.rhsBatch)
		if err != nil {
			t.Fatal(err)
		}
		lt, _, lok := p.lhs.view(p.M, p.K)
		rt, _, rok := p.rhs.view(p.K, p.N)
		if lok != tc.lhs || rok != tc.rhs || (lok && lt != tc.lhsT) || (rok && rt != tc.rhsT) {
			t.Errorf("%s: lhs view %v trans %v, rhs view %v trans %v; want %v %v, %v %v",
				tc.name, lok, lt, rok, rt, tc.lhs, tc.lhsT, tc.rhs, tc.rhsT)
		}
	}
}

// encoderShapes are the DotGenerals of one training step of the shipped
// encoder (models/gopeft-small: hidden 128, 4 heads of 32, FFN 512) at
// batch 16 x seq 64, in the layouts the encoder and fastgrad emit.
var encoderShapes = []dgCase{
	{"qkv_1024x128x128", []int{16, 64, 128}, []int{128, 128}, []int{2}, nil, []int{1}, nil},
	{"ffn_in_1024x128x512", []int{16, 64, 128}, []int{512, 128}, []int{2}, nil, []int{1}, nil},
	{"ffn_out_1024x512x128", []int{16, 64, 512}, []int{128, 512}, []int{2}, nil, []int{1}, nil},
	{"grad_x_ffn_in", []int{16, 64, 512}, []int{512, 128}, []int{2}, nil, []int{0}, nil},
	{"grad_w_ffn_in", []int{16, 64, 512}, []int{16, 64, 128}, []int{0, 1}, nil, []int{0, 1}, nil},
	{"scores_64x(64x32x64)", []int{16, 64, 4, 32}, []int{16, 64, 4, 32}, []int{3}, []int{0, 2}, []int{3}, []int{0, 2}},
	{"values_64x(64x64x32)", []int{16, 4, 64, 64}, []int{16, 64, 4, 32}, []int{3}, []int{0, 1}, []int{1}, []int{0, 2}},
}

func flops(c dgCase) float64 {
	p, err := newProblem(c.lhsDims, c.rhsDims, c.lhsContract, c.lhsBatch, c.rhsContract, c.rhsBatch)
	if err != nil {
		panic(err)
	}
	return 2 * float64(p.B) * float64(p.M) * float64(p.N) * float64(p.K)
}

func reportGFLOPs(b *testing.B, c dgCase) {
	b.ReportMetric(flops(c)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkEncoderDotGeneral: this package's DotGeneral (f32) at the
// encoder's shapes.
func BenchmarkEncoderDotGeneral(b *testing.B) {
	requireBLAS(b)
	rng := rand.New(rand.NewPCG(9, 10))
	for _, c := range encoderShapes {
		lhs := convert[float32](randomData(rng, numElements(c.lhsDims)))
		rhs := convert[float32](randomData(rng, numElements(c.rhsDims)))
		out := make([]float32, numElements(outDims(c)))
		b.Run("blas/"+c.name, func(b *testing.B) {
			for b.Loop() {
				if err := dotGeneral(dtypes.Float32, lhs, rhs, out, c.lhsDims, c.rhsDims, c.lhsContract, c.lhsBatch, c.rhsContract, c.rhsBatch); err != nil {
					b.Fatal(err)
				}
			}
			reportGFLOPs(b, c)
		})
	}
}

// BenchmarkEncoderDotGeneralSimpleGo is the same products on GoMLX's
// pure-Go backend, through a compiled graph (inputs already on the backend).
func BenchmarkEncoderDotGeneralSimpleGo(b *testing.B) {
	be, err := simplego.New("")
	if err != nil {
		b.Fatal(err)
	}
	defer be.Finalize()
	rng := rand.New(rand.NewPCG(9, 10))
	for _, c := range encoderShapes {
		b.Run("go/"+c.name, func(b *testing.B) {
			lhs := tensors.FromFlatDataAndDimensions(convert[float32](randomData(rng, numElements(c.lhsDims))), c.lhsDims...)
			rhs := tensors.FromFlatDataAndDimensions(convert[float32](randomData(rng, numElements(c.rhsDims))), c.rhsDims...)
			exec, err := graph.NewExec(be, func(x, y *graph.Node) *graph.Node {
				return graph.DotGeneral(x, c.lhsContract, c.lhsBatch, y, c.rhsContract, c.rhsBatch)
			})
			if err != nil {
				b.Fatal(err)
			}
			defer exec.Finalize()
			for b.Loop() {
				out, err := exec.Exec(lhs, rhs)
				if err != nil {
					b.Fatal(err)
				}
				out[0].FinalizeAll()
			}
			reportGFLOPs(b, c)
		})
	}
}

// BenchmarkSmallProducts compares BLAS with a plain Go loop on tiny
// products: the reason run has no Go path for small sizes.
func BenchmarkSmallProducts(b *testing.B) {
	requireBLAS(b)
	rng := rand.New(rand.NewPCG(11, 12))
	for _, n := range []int{4, 8, 16} {
		c := dgCase{fmt.Sprintf("%dx%dx%d", n, n, n), []int{n, n}, []int{n, n}, []int{1}, nil, []int{1}, nil}
		lhs := convert[float32](randomData(rng, n*n))
		rhs := convert[float32](randomData(rng, n*n))
		out := make([]float32, n*n)
		b.Run("blas/"+c.name, func(b *testing.B) {
			for b.Loop() {
				if err := dotGeneral(dtypes.Float32, lhs, rhs, out, c.lhsDims, c.rhsDims, c.lhsContract, c.lhsBatch, c.rhsContract, c.rhsBatch); err != nil {
					b.Fatal(err)
				}
			}
			reportGFLOPs(b, c)
		})
		b.Run("go_loop/"+c.name, func(b *testing.B) {
			for b.Loop() {
				for i := range n {
					for j := range n {
						var s float32
						for k := range n {
							s += lhs[i*n+k] * rhs[j*n+k]
						}
						out[i*n+j] = s
					}
				}
			}
			reportGFLOPs(b, c)
		})
	}
}
