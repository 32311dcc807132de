package fastgrad

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/gopeft/gopeft/internal/dotlayouts"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

func testBackend(t testing.TB) backends.Backend {
	t.Helper()
	if err := Install(); err != nil {
		t.Fatalf("Install: %v", err)
	}
	return simplego.GetBackend()
}

// layout is one DotGeneral configuration.
type layout struct {
	name                  string
	lhsDims, rhsDims      []int
	lhsContract, lhsBatch []int
	rhsContract, rhsBatch []int
}

var layouts = func() []layout {
	var ls []layout
	for _, l := range dotlayouts.Common {
		ls = append(ls, layout{l.Name, l.LHS, l.RHS, l.LHSContract, l.LHSBatch, l.RHSContract, l.RHSBatch})
	}
	return ls
}()

func randomFlat(rng *rand.Rand, dims []int) []float32 {
	n := 1
	for _, d := range dims {
		n *= d
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(rng.NormFloat64())
	}
	return out
}

func tensorOf(data []float32, dims []int) *tensors.Tensor {
	if len(dims) == 0 {
		return tensors.FromScalar(data[0])
	}
	return tensors.FromFlatDataAndDimensions(data, dims...)
}

// gradsOf returns d/dlhs and d/drhs of sum(DotGeneral(lhs, rhs) * w), computed in dtype
// and returned as float32, with the graph built in the current mode.
func gradsOf(t *testing.T, backend backends.Backend, l layout, dtype dtypes.DType, lhs, rhs, w *tensors.Tensor) (gl, gr []float32) {
	t.Helper()
	outs := graph.MustExecOnceN(backend, func(lhs, rhs, w *graph.Node) []*graph.Node {
		a := graph.ConvertDType(lhs, dtype)
		b := graph.ConvertDType(rhs, dtype)
		y := graph.DotGeneral(a, l.lhsContract, l.lhsBatch, b, l.rhsContract, l.rhsBatch)
		loss := graph.ReduceAllSum(graph.Mul(graph.ConvertDType(y, dtypes.Float32), w))
		g := graph.Gradient(loss, a, b)
		return []*graph.Node{graph.ConvertDType(g[0], dtypes.Float32), graph.ConvertDType(g[1], dtypes.Float32)}
	}, lhs, rhs, w)
	return tensors.MustCopyFlatData[float32](outs[0]), tensors.MustCopyFlatData[float32](outs[1])
}

// outDims is what DotGeneral returns for l: batch, lhs cross, rhs cross.
func outDims(l layout) []int {
	var out []int
	for _, a := range l.lhsBatch {
		out = append(out, l.lhsDims[a])
	}
	for _, a := range crossAxes(len(l.lhsDims), l.lhsContract, l.lhsBatch) {
		out = append(out, l.lhsDims[a])
	}
	for _, a := range crossAxes(len(l.rhsDims), l.rhsContract, l.rhsBatch) {
		out = append(out, l.rhsDims[a])
	}
	return out
}

// maxRelDiff is max|a-b| / max(max|b|, 1e-6).
func maxRelDiff(a, b []float32) float64 {
	var diff, scale float64
	for i := range a {
		diff = math.Max(diff, math.Abs(float64(a[i]-b[i])))
		scale = math.Max(scale, math.Abs(float64(b[i])))
	}
	return diff / math.Max(scale, 1e-6)
}

func TestFastMatchesStock(t *testing.T) {
	// SimpleGo has no Float16 ConvertDType; f16 shares the bf16 code path and
	// is covered by TestFastMatchesStockOnConfiguredBackend on XLA.
	compareLayouts(t, testBackend(t), []dtypes.DType{dtypes.Float32, dtypes.Float64, dtypes.BFloat16})
}

// TestFastMatchesStockOnConfiguredBackend runs the same comparison on the
// backend GOMLX_BACKEND names (e.g. XLA on a GPU) when
// GOPEFT_FASTGRAD_BACKEND_TEST=1; see gpucheck.sh.
func TestFastMatchesStockOnConfiguredBackend(t *testing.T) {
	if os.Getenv("GOPEFT_FASTGRAD_BACKEND_TEST") != "1" {
		t.Skip("set GOPEFT_FASTGRAD_BACKEND_TEST=1 and GOMLX_BACKEND to run on another backend")
	}
	if err := Install(); err != nil {
		t.Fatal(err)
	}
	backend, err := backends.NewWithConfig(os.Getenv("GOMLX_BACKEND"))
	if err != nil {
		t.Fatalf("creating backend %q: %v", os.Getenv("GOMLX_BACKEND"), err)
	}
	t.Logf("backend: %s", backend.Description())
	dts := []dtypes.DType{dtypes.Float32, dtypes.Float64, dtypes.BFloat16, dtypes.Float16}
	if isSimpleGo(backend) {
		dts = dts[:3]
	}
	compareLayouts(t, backend, dts)
}

func isSimpleGo(b backends.Backend) bool {
	_, ok := b.(*simplego.Backend)
	return ok
}

func compareLayouts(t *testing.T, backend backends.Backend, dts []dtypes.DType) {
	for _, dtype := range dts {
		tol := 1e-5
		if dtype.IsFloat16() {
			tol = 3e-2 // stock and fast round partial sums differently
		} else if dtype == dtypes.Float32 && !isSimpleGo(backend) {
			tol = 1e-3 // GPUs may use TF32 for f32 matmuls
		}
		for i, l := range layouts {
			t.Run(fmt.Sprintf("%s/%s", dtype, l.name), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(uint64(i), 42))
				lhs := tensorOf(randomFlat(rng, l.lhsDims), l.lhsDims)
				rhs := tensorOf(randomFlat(rng, l.rhsDims), l.rhsDims)
				wd := outDims(l)
				w := tensorOf(randomFlat(rng, wd), wd)

				var sl, sr []float32
				WithStock(func() { sl, sr = gradsOf(t, backend, l, dtype, lhs, rhs, w) })
				before, fb := fastBuilt.Load(), fallbacks.Load()
				fl, fr := gradsOf(t, backend, l, dtype, lhs, rhs, w)
				if fastBuilt.Load() == before || fallbacks.Load() != fb {
					t.Fatalf("fast VJP not used (built %d, fallbacks %d)", fastBuilt.Load()-before, fallbacks.Load()-fb)
				}
				if d := maxRelDiff(fl, sl); d > tol {
					t.Errorf("d/dlhs: fast and stock differ by %.3g (tolerance %.1g)", d, tol)
				}
				if d := maxRelDiff(fr, sr); d > tol {
					t.Errorf("d/drhs: fast and stock differ by %.3g (tolerance %.1g)", d, tol)
				}
			})
		}
	}
}

// TestAgainstFiniteDifferences checks one layout against an independent
// reference, so fast and stock cannot agree on a shared mistake.
func TestAgainstFiniteDifferences(t *testing.T) {
	backend := testBackend(t)
	l := layouts[4] // two_contracting_reversed
	rng := rand.New(rand.NewPCG(7, 7))
	lhsData := randomFlat(rng, l.lhsDims)
	rhsData := randomFlat(rng, l.rhsDims)
	wd := outDims(l)
	w := tensorOf(randomFlat(rng, wd), wd)
	loss := func(lhsData []float32) float64 {
		out := graph.MustExecOnce(backend, func(lhs, rhs, w *graph.Node) *graph.Node {
			a, b := graph.ConvertDType(lhs, dtypes.Float64), graph.ConvertDType(rhs, dtypes.Float64)
			y := graph.DotGeneral(a, l.lhsContract, l.lhsBatch, b, l.rhsContract, l.rhsBatch)
			return graph.ReduceAllSum(graph.Mul(y, graph.ConvertDType(w, dtypes.Float64)))
		}, tensorOf(lhsData, l.lhsDims), tensorOf(rhsData, l.rhsDims), w)
		return tensors.MustCopyFlatData[float64](out)[0]
	}
	gl, _ := gradsOf(t, backend, l, dtypes.Float64, tensorOf(lhsData, l.lhsDims), tensorOf(rhsData, l.rhsDims), w)
	for _, i := range []int{0, 7, 31, len(lhsData) - 1} {
		const h = 1e-2 // loss is linear in lhs, so the central difference is exact up to rounding
		plus, minus := append([]float32(nil), lhsData...), append([]float32(nil), lhsData...)
		plus[i] += h
		minus[i] -= h
		want := (loss(plus) - loss(minus)) / (2 * h)
		if math.Abs(want-float64(gl[i])) > 1e-3*math.Max(1, math.Abs(want)) {
			t.Errorf("d/dlhs[%d] = %g, finite difference %g", i, gl[i], want)
		}
	}
}

// TestHighLevelOpsUseFastGradient checks that gradients through Dot (what
// MatMul of rank <= 2 and layers.Dense emit), MatMul and Einsum go through the
// fast VJPs and agree with stock.
func TestHighLevelOpsUseFastGradient(t *testing.T) {
	backend := testBackend(t)
	rng := rand.New(rand.NewPCG(3, 3))
	cases := []struct {
		name   string
		a, b   []int
		fn     func(a, b *graph.Node) *graph.Node
		isNode graph.NodeType
	}{
		{"Dot_matmul", []int{6, 5}, []int{5, 4}, graph.Dot, graph.NodeTypeDot},
		{"Dot_matvec", []int{6, 5}, []int{5}, graph.Dot, graph.NodeTypeDot},
		{"Dot_vecvec", []int{5}, []int{5}, graph.Dot, graph.NodeTypeDot},
		{"MatMul_rank2", []int{6, 5}, []int{5, 4}, graph.MatMul, graph.NodeTypeDot},
		{"MatMul_rank3x2", []int{2, 6, 5}, []int{5, 4}, graph.MatMul, graph.NodeTypeDotGeneral},
		{"MatMul_rank3x3", []int{2, 6, 5}, []int{2, 5, 4}, graph.MatMul, graph.NodeTypeDotGeneral},
		{"Einsum_attention", []int{2, 6, 5}, []int{2, 4, 5}, func(a, b *graph.Node) *graph.Node {
			return graph.Einsum("bqd,bkd->bqk", a, b)
		}, graph.NodeTypeDotGeneral},
		{"Einsum_transposed_out", []int{6, 5}, []int{4, 5}, func(a, b *graph.Node) *graph.Node {
			return graph.Einsum("id,jd->ji", a, b)
		}, graph.NodeTypeDotGeneral},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := tensorOf(randomFlat(rng, c.a), c.a)
			b := tensorOf(randomFlat(rng, c.b), c.b)
			run := func() []float32 {
				out := graph.MustExecOnceN(backend, func(a, b *graph.Node) []*graph.Node {
					y := c.fn(a, b)
					loss := graph.ReduceAllSum(graph.Mul(y, graph.Sin(y)))
					g := graph.Gradient(loss, a, b)
					return []*graph.Node{g[0], g[1]}
				}, a, b)
				return append(tensors.MustCopyFlatData[float32](out[0]), tensors.MustCopyFlatData[float32](out[1])...)
			}
			var stock []float32
			WithStock(func() { stock = run() })
			before := fastBuilt.Load()
			fast := run()
			if fastBuilt.Load() == before {
				t.Fatalf("%s: no fast VJP was built", c.name)
			}
			if d := maxRelDiff(fast, stock); d > 1e-5 {
				t.Errorf("fast and stock differ by %.3g", d)
			}
		})
	}
}

func TestInstallIdempotentAndSwitch(t *testing.T) {
	var done = make(chan error, 8)
	for range 8 {
		go func() { done <- Install() }()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if !Installed() || InstallError() != nil {
		t.Fatalf("Installed()=%v, InstallError()=%v", Installed(), InstallError())
	}
	if UsingStock() {
		t.Fatal("fresh install should use the fast VJP")
	}
	WithStock(func() {
		if !UsingStock() {
			t.Error("WithStock did not select the stock VJP")
		}
	})
	if UsingStock() {
		t.Fatal("WithStock did not restore the fast VJP")
	}
}

// TestLayoutGuard checks that a node whose inputs are not DotGeneral's is
// refused by the reader rather than misread.
func TestLayoutGuard(t *testing.T) {
	backend := testBackend(t)
	g := graph.NewGraph(backend, "guard")
	defer g.Finalize()
	x := graph.Parameter(g, "x", tensorOf([]float32{1, 2, 3, 4, 5, 6}, []int{2, 3}).Shape())
	y := graph.Parameter(g, "y", tensorOf([]float32{1, 2, 3}, []int{3}).Shape())
	if _, err := readDotGeneralAxes(graph.Dot(x, y)); err == nil {
		t.Error("readDotGeneralAxes accepted a Dot node")
	}
	if _, err := readDotGeneralAxes(graph.Add(x, x)); err == nil {
		t.Error("readDotGeneralAxes accepted an Add node")
	}
	node := graph.DotGeneral(x, []int{1}, nil, y, []int{0}, nil)
	bad := dotAxes{lhsContracting: []int{0}, rhsContracting: []int{0}}
	if validate(node, bad) == nil {
		t.Error("validate accepted axes that do not describe the node")
	}
}
