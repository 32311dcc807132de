package blas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gopeft/gopeft/internal/dotlayouts"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/core/tensors/images"

	"github.com/gopeft/gopeft/peft/backend/blas/internal/simd"
	"github.com/gopeft/gopeft/peft/fastgrad"
)

func backendsForTest(t testing.TB) (goB, blasB backends.Backend) {
	t.Helper()
	g, err := simplego.New("ops_sequential")
	if err != nil {
		t.Fatal(err)
	}
	b, err := New("")
	if err != nil {
		t.Skip(err)
	}
	return g, b
}

// randomTensor fills a tensor of shape with seeded values: floats in
// [-2, 2), ints in [0, 7), bools at random.
func randomTensor(rng *rand.Rand, s shapes.Shape) *tensors.Tensor {
	t := tensors.FromShape(s)
	_ = t.MutableFlatData(func(flat any) {
		switch f := flat.(type) {
		case []float32:
			for i := range f {
				f[i] = float32(rng.Float64()*4 - 2)
			}
		case []float64:
			for i := range f {
				f[i] = rng.Float64()*4 - 2
			}
		case []int32:
			for i := range f {
				f[i] = int32(rng.IntN(7))
			}
		case []int64:
			for i := range f {
				f[i] = int64(rng.IntN(7))
			}
		case []uint32:
			for i := range f {
				f[i] = rng.Uint32()
			}
		case []uint64:
			for i := range f {
				f[i] = rng.Uint64()
			}
		case []bool:
			for i := range f {
				f[i] = rng.IntN(2) == 1
			}
		}
	})
	return t
}

type opCase struct {
	name   string
	inputs []shapes.Shape
	fn     func(xs []*Node) *Node
	tol    float64 // relative tolerance for floats; 0: exact
}

func f32(dims ...int) shapes.Shape { return shapes.Make(dtypes.Float32, dims...) }
func f64(dims ...int) shapes.Shape { return shapes.Make(dtypes.Float64, dims...) }
func i32(dims ...int) shapes.Shape { return shapes.Make(dtypes.Int32, dims...) }
func i64(dims ...int) shapes.Shape { return shapes.Make(dtypes.Int64, dims...) }

func opCases() []opCase {
	var cs []opCase
	unaries := map[string]func(*Node) *Node{
		"Neg": Neg, "Abs": Abs, "Exp": Exp, "Log": func(x *Node) *Node { return Log(Abs(x)) }, "Tanh": Tanh,
		"Logistic": Logistic, "Sqrt": func(x *Node) *Node { return Sqrt(Abs(x)) }, "Rsqrt": func(x *Node) *Node { return Rsqrt(Abs(x)) },
		"Sign": Sign, "Sin": Sin, "Cos": Cos, "Erf": Erf, "Floor": Floor, "Ceil": Ceil, "Round": Round,
		"Expm1": Expm1, "Log1p": func(x *Node) *Node { return Log1p(Abs(x)) },
		"IsNaN":    func(x *Node) *Node { return ConvertDType(IsNaN(Div(x, x)), dtypes.Float32) },
		"IsFinite": func(x *Node) *Node { return ConvertDType(IsFinite(Div(OnesLike(x), Floor(x))), dtypes.Float32) },
	}
	for name, f := range unaries {
		for _, s := range []shapes.Shape{f32(3, 5), f64(70000)} {
			cs = append(cs, opCase{name: name + "/" + s.String(), inputs: []shapes.Shape{s}, fn: func(xs []*Node) *Node { return f(xs[0]) }, tol: 1e-6})
		}
	}
	binaries := map[string]func(a, b *Node) *Node{
		"Add": Add, "Sub": Sub, "Mul": Mul, "Div": Div, "Max": Max, "Min": Min,
		"Pow":         func(a, b *Node) *Node { return Pow(Abs(a), b) },
		"GreaterThan": func(a, b *Node) *Node { return ConvertDType(GreaterThan(a, b), a.DType()) },
		"LessOrEqual": func(a, b *Node) *Node { return ConvertDType(LessOrEqual(a, b), a.DType()) },
		"Equal":       func(a, b *Node) *Node { return ConvertDType(Equal(Round(a), Round(b)), a.DType()) },
		"Where":       func(a, b *Node) *Node { return Where(GreaterThan(a, b), a, b) },
		"WhereScalar": func(a, b *Node) *Node { return Where(GreaterThan(a, b), a, ScalarZero(a.Graph(), a.DType())) },
	}
	pairs := [][2]shapes.Shape{{f32(4, 6), f32(4, 6)}, {f32(64, 128), f32(1, 128)}, {f32(64, 1), f32(64, 128)},
		{f32(8, 4, 16, 16), f32(8, 1, 1, 16)}, {f64(300, 300), f64(300, 300)}, {f32(5, 7), f32()}, {f32(), f32(2, 3)}}
	for name, f := range binaries {
		for _, p := range pairs {
			if name == "Where" || name == "WhereScalar" {
				if !p[0].Equal(p[1]) {
					continue
				}
			}
			cs = append(cs, opCase{name: fmt.Sprintf("%s/%s,%s", name, p[0], p[1]), inputs: []shapes.Shape{p[0], p[1]},
				fn: func(xs []*Node) *Node { return f(xs[0], xs[1]) }, tol: 1e-6})
		}
	}
	for _, s := range []shapes.Shape{i32(5, 6), i64(5, 6)} {
		cs = append(cs, opCase{name: "IntArith/" + s.String(), inputs: []shapes.Shape{s, s}, fn: func(xs []*Node) *Node {
			a, b := xs[0], xs[1]
			return Add(Mul(a, b), Sub(Max(a, b), Min(Neg(a), b)))
		}})
		cs = append(cs, opCase{name: "IntDivRem/" + s.String(), inputs: []shapes.Shape{s, s}, fn: func(xs []*Node) *Node {
			b := AddScalar(xs[1], 1)
			return Add(Div(xs[0], b), Mod(xs[0], b))
		}})
	}
	for _, s := range []shapes.Shape{f32(2, 3, 4, 5), f64(16, 4, 64, 64), f32(1024, 128)} {
		for _, axes := range [][]int{{0}, {s.Rank() - 1}, {0, 1}, {1}, {0, s.Rank() - 1}, nil} {
			// Float32 rounding in a sum of n terms grows like sqrt(n), and the
			// two backends add in different orders.
			n := s.Size()
			if axes != nil {
				n = 1
				for _, a := range axes {
					n *= s.Dimensions[a]
				}
			}
			cs = append(cs, opCase{name: fmt.Sprintf("ReduceSum%v/%s", axes, s), inputs: []shapes.Shape{s},
				fn: func(xs []*Node) *Node { return ReduceSum(xs[0], axes...) }, tol: 1e-5 * math.Sqrt(float64(n))})
			cs = append(cs, opCase{name: fmt.Sprintf("ReduceMax%v/%s", axes, s), inputs: []shapes.Shape{s},
				fn: func(xs []*Node) *Node { return ReduceMax(xs[0], axes...) }})
			cs = append(cs, opCase{name: fmt.Sprintf("ReduceMin%v/%s", axes, s), inputs: []shapes.Shape{s},
				fn: func(xs []*Node) *Node { return ReduceMin(xs[0], axes...) }})
		}
		cs = append(cs, opCase{name: "ArgMax/" + s.String(), inputs: []shapes.Shape{s},
			fn: func(xs []*Node) *Node { return ArgMax(xs[0], -1, dtypes.Int32) }})
		cs = append(cs, opCase{name: "ArgMin0/" + s.String(), inputs: []shapes.Shape{s},
			fn: func(xs []*Node) *Node { return ArgMin(xs[0], 0, dtypes.Int64) }})
		cs = append(cs, opCase{name: "Softmax/" + s.String(), inputs: []shapes.Shape{s},
			fn: func(xs []*Node) *Node { return Softmax(xs[0], -1) }, tol: 1e-5})
	}
	cs = append(cs,
		opCase{name: "ReduceProduct", inputs: []shapes.Shape{f64(3, 4)}, fn: func(xs []*Node) *Node { return ReduceMultiply(xs[0], 1) }, tol: 1e-12},
		opCase{name: "ReduceSumInt", inputs: []shapes.Shape{i32(3, 4, 5)}, fn: func(xs []*Node) *Node { return ReduceSum(xs[0], 0, 2) }},
		opCase{name: "ReduceLogical", inputs: []shapes.Shape{f32(3, 4)}, fn: func(xs []*Node) *Node {
			m := GreaterThan(xs[0], ScalarZero(xs[0].Graph(), dtypes.Float32))
			return Add(ConvertDType(ReduceLogicalAnd(m, 1), dtypes.Int32), ConvertDType(ReduceLogicalOr(m, 1), dtypes.Int32))
		}},
		opCase{name: "Logical", inputs: []shapes.Shape{f32(6, 5), f32(6, 5)}, fn: func(xs []*Node) *Node {
			a, b := GreaterThan(xs[0], xs[1]), LessThan(xs[0], ScalarZero(xs[0].Graph(), dtypes.Float32))
			r := LogicalOr(LogicalAnd(a, LogicalNot(b)), LogicalXor(a, b))
			return ConvertDType(r, dtypes.Int32)
		}},
		opCase{name: "Uint32Bits", inputs: []shapes.Shape{shapes.Make(dtypes.Uint32, 40), shapes.Make(dtypes.Uint32, 40)}, fn: func(xs []*Node) *Node {
			g := xs[0].Graph()
			a, b := xs[0], xs[1]
			x := BitwiseXor(BitwiseAnd(a, b), BitwiseOr(a, MulScalar(b, 3)))
			return Add(Mod(x, AddScalar(BitwiseAnd(b, Const(g, uint32(0xffff))), 1)), BitwiseNot(a))
		}},
		opCase{name: "ConvertAll", inputs: []shapes.Shape{f64(30)}, fn: func(xs []*Node) *Node {
			x := MulScalar(xs[0], 50)
			var sum *Node
			for _, dt := range []dtypes.DType{dtypes.Float32, dtypes.Int32, dtypes.Int64, dtypes.Uint8, dtypes.Bool, dtypes.Int8} {
				y := ConvertDType(ConvertDType(Abs(x), dt), dtypes.Float64)
				if sum == nil {
					sum = y
				} else {
					sum = Add(sum, y)
				}
			}
			return sum
		}},
		opCase{name: "WhereInt", inputs: []shapes.Shape{i64(4, 5), i64(4, 5)}, fn: func(xs []*Node) *Node {
			return Where(GreaterOrEqual(xs[0], xs[1]), xs[0], Neg(xs[1]))
		}},
		opCase{name: "ArgMaxNaN", inputs: []shapes.Shape{f32(4, 6)}, fn: func(xs []*Node) *Node {
			// One NaN per row (the pure-Go backend picks the last of several,
			// this backend the first, as JAX and PyTorch do).
			g := xs[0].Graph()
			nan := Div(ScalarZero(g, dtypes.Float32), ScalarZero(g, dtypes.Float32))
			x := Where(Equal(Iota(g, shapes.Make(dtypes.Int32, 4, 6), 1), Const(g, int32(3))), BroadcastToDims(nan, 4, 6), xs[0])
			return Concatenate([]*Node{ArgMax(x, 1, dtypes.Int32), ArgMin(x, 1, dtypes.Int32)}, 0)
		}},
		opCase{name: "IotaInt64", inputs: []shapes.Shape{i64(2)}, fn: func(xs []*Node) *Node {
			return Add(Iota(xs[0].Graph(), i64(3, 4), 0), ReduceSum(xs[0]))
		}},
		opCase{name: "ClampF64", inputs: []shapes.Shape{f64(7, 3)}, fn: func(xs []*Node) *Node {
			return Clip(xs[0], Const(xs[0].Graph(), -0.5), Const(xs[0].Graph(), 0.7))
		}},
		opCase{name: "CumSum", inputs: []shapes.Shape{i32(3, 7)}, fn: func(xs []*Node) *Node { return CumSum(xs[0], 1) }},
		opCase{name: "CumSumF", inputs: []shapes.Shape{f64(5, 4)}, fn: func(xs []*Node) *Node { return CumSum(xs[0], 0) }, tol: 1e-12},
		opCase{name: "MaxPool", inputs: []shapes.Shape{f32(2, 9, 8, 3)}, fn: func(xs []*Node) *Node {
			return MaxPool(xs[0]).ChannelsAxis(images.ChannelsLast).Window(3).Strides(2).PadSame().Done()
		}},
		opCase{name: "Transpose2D", inputs: []shapes.Shape{f32(128, 384)}, fn: func(xs []*Node) *Node { return TransposeAllDims(xs[0], 1, 0) }},
		opCase{name: "TransposeHeads", inputs: []shapes.Shape{f32(16, 64, 4, 32)}, fn: func(xs []*Node) *Node { return TransposeAllDims(xs[0], 0, 2, 1, 3) }},
		opCase{name: "Transpose4D", inputs: []shapes.Shape{f64(3, 4, 5, 6)}, fn: func(xs []*Node) *Node { return TransposeAllDims(xs[0], 3, 1, 0, 2) }},
		opCase{name: "Reshape", inputs: []shapes.Shape{f32(6, 4)}, fn: func(xs []*Node) *Node { return Add(Reshape(xs[0], 3, 8), Reshape(xs[0], 3, 8)) }},
		opCase{name: "BroadcastToDims", inputs: []shapes.Shape{f32(1, 5)}, fn: func(xs []*Node) *Node { return BroadcastToDims(xs[0], 4, 5) }},
		opCase{name: "BroadcastPrefix", inputs: []shapes.Shape{f32(3, 5)}, fn: func(xs []*Node) *Node { return BroadcastPrefix(xs[0], 2) }},
		opCase{name: "ExpandAndBroadcast", inputs: []shapes.Shape{f32(4, 6)}, fn: func(xs []*Node) *Node {
			return ExpandAndBroadcast(xs[0], []int{4, 3, 6}, []int{1})
		}},
		opCase{name: "Slice", inputs: []shapes.Shape{f32(7, 9, 3)}, fn: func(xs []*Node) *Node {
			return Slice(xs[0], AxisRange(1, 6), AxisRange(0, 9).Stride(2), AxisElem(2))
		}},
		opCase{name: "Concatenate", inputs: []shapes.Shape{f32(3, 4), f32(3, 2)}, fn: func(xs []*Node) *Node { return Concatenate([]*Node{xs[0], xs[1], xs[0]}, 1) }},
		opCase{name: "Concatenate0", inputs: []shapes.Shape{i64(3, 4), i64(1, 4)}, fn: func(xs []*Node) *Node { return Concatenate([]*Node{xs[0], xs[1]}, 0) }},
		opCase{name: "Iota", inputs: []shapes.Shape{f32(2)}, fn: func(xs []*Node) *Node {
			return Add(ConvertDType(Iota(xs[0].Graph(), shapes.Make(dtypes.Int32, 3, 4, 5), 1), dtypes.Float32), Iota(xs[0].Graph(), f32(3, 4, 5), 2))
		}},
		opCase{name: "ConvertDType", inputs: []shapes.Shape{f32(4, 5)}, fn: func(xs []*Node) *Node {
			x := MulScalar(xs[0], 3)
			return Add(ConvertDType(ConvertDType(x, dtypes.Int32), dtypes.Float64), ConvertDType(ConvertDType(x, dtypes.Bool), dtypes.Float64))
		}},
		opCase{name: "Gather", inputs: []shapes.Shape{f32(50, 16), i32(2, 6)}, fn: func(xs []*Node) *Node {
			return Gather(xs[0], ExpandAxes(xs[1], -1))
		}},
		opCase{name: "GatherF64", inputs: []shapes.Shape{f64(10, 3, 4), i64(5, 1)}, fn: func(xs []*Node) *Node { return Gather(xs[0], xs[1]) }},
		opCase{name: "ScatterSum", inputs: []shapes.Shape{f32(10, 4), i32(6, 1), f32(6, 4)}, fn: func(xs []*Node) *Node {
			return ScatterSum(xs[0], xs[1], xs[2], false, false)
		}},
		opCase{name: "Scatter", inputs: []shapes.Shape{i32(6, 1), f64(6, 4)}, fn: func(xs []*Node) *Node {
			return Scatter(xs[0], xs[1], f64(9, 4), false, false)
		}},
		opCase{name: "GatherGrad", inputs: []shapes.Shape{f32(12, 8), i32(3, 5)}, fn: func(xs []*Node) *Node {
			y := Gather(xs[0], ExpandAxes(xs[1], -1))
			return Gradient(ReduceAllSum(Mul(y, y)), xs[0])[0]
		}, tol: 1e-6},
		opCase{name: "LayerNormGrad", inputs: []shapes.Shape{f32(64, 32)}, fn: func(xs []*Node) *Node {
			x := xs[0]
			m := ReduceAndKeep(x, ReduceMean, -1)
			c := Sub(x, m)
			v := ReduceAndKeep(Square(c), ReduceMean, -1)
			y := Div(c, Sqrt(AddScalar(v, 1e-12)))
			return Gradient(ReduceAllSum(Mul(y, Tanh(x))), x)[0]
		}, tol: 1e-4},
	)
	// DotGeneral layouts (matmul, transposed, batched attention-style).
	dots := []struct {
		name string
		a, b shapes.Shape
		fn   func(a, b *Node) *Node
	}{
		{"MatMul", f32(64, 128), f32(128, 96), func(a, b *Node) *Node { return Dot(a, b) }},
		{"Linear", f32(2, 16, 128), f32(96, 128), func(a, b *Node) *Node { return Einsum("bsi,oi->bso", a, b) }},
		{"WeightGrad", f32(2, 16, 128), f32(2, 16, 96), func(a, b *Node) *Node { return Einsum("bsi,bso->oi", a, b) }},
		{"Scores", f32(4, 2, 16, 8), f32(4, 2, 16, 8), func(a, b *Node) *Node { return Einsum("bhqd,bhkd->bhqk", a, b) }},
		{"Context", f32(4, 2, 16, 16), f32(4, 16, 2, 8), func(a, b *Node) *Node { return Einsum("bhqk,bkhd->bqhd", a, b) }},
		{"F64", f64(33, 17), f64(17, 5), func(a, b *Node) *Node { return Dot(a, b) }},
		{"MatVec", f32(9, 7), f32(7), func(a, b *Node) *Node { return Dot(a, b) }},
	}
	// peft/fastgrad's layouts, forward and gradients (fastgrad's VJP is
	// installed in TestOpsMatchGo, as peft/backend does).
	for _, dl := range dotlayouts.Common {
		l := struct {
			name           string
			a, b           []int
			ac, ab, bc, bb []int
		}{dl.Name, dl.LHS, dl.RHS, dl.LHSContract, dl.LHSBatch, dl.RHSContract, dl.RHSBatch}
		for _, dt := range []dtypes.DType{dtypes.Float32, dtypes.Float64} {
			tol := 1e-10
			if dt == dtypes.Float32 {
				tol = 1e-4 // y·cos(y) amplifies float32 rounding
			}
			cs = append(cs, opCase{name: fmt.Sprintf("DotGeneral/%s/%s", l.name, dt), inputs: []shapes.Shape{shapes.Make(dt, l.a...), shapes.Make(dt, l.b...)},
				fn: func(xs []*Node) *Node {
					y := DotGeneral(xs[0], l.ac, l.ab, xs[1], l.bc, l.bb)
					loss := ReduceAllSum(Mul(y, Sin(y)))
					g := Gradient(loss, xs[0], xs[1])
					return Concatenate([]*Node{Reshape(y, -1), Reshape(g[0], -1), Reshape(g[1], -1)}, 0)
				}, tol: tol})
		}
	}
	for _, d := range dots {
		cs = append(cs, opCase{name: "DotGeneral/" + d.name, inputs: []shapes.Shape{d.a, d.b}, fn: func(xs []*Node) *Node { return d.fn(xs[0], xs[1]) }, tol: 1e-4}) // sums of 128 products of O(1) terms
	}
	return cs
}

// TestOpsMatchGo runs each case on the pure-Go backend and on blas with the
// same random inputs.
func TestOpsMatchGo(t *testing.T) { testOpsMatchGo(t) }

// TestOpsMatchGoWithoutSIMD checks the Go loops that machines without AVX2
// run.
func TestOpsMatchGoWithoutSIMD(t *testing.T) {
	ok, okMath := simd.OK, simd.OKMath
	simd.OK, simd.OKMath = false, false
	defer func() { simd.OK, simd.OKMath = ok, okMath }()
	testOpsMatchGo(t)
}

func testOpsMatchGo(t *testing.T) {
	if err := fastgrad.Install(); err != nil {
		t.Fatal(err)
	}
	goB, blasB := backendsForTest(t)
	for i, c := range opCases() {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			var ins []any
			for _, s := range c.inputs {
				ins = append(ins, randomTensor(rng, s))
			}
			want := runOn(t, goB, c.fn, ins)
			got := runOn(t, blasB, c.fn, ins)
			compareTensors(t, want, got, c.tol)
			// Same inputs again: identical bits.
			again := runOn(t, blasB, c.fn, ins)
			compareTensors(t, got, again, 0)
		})
	}
}

func runOn(t *testing.T, b backends.Backend, fn func([]*Node) *Node, ins []any) *tensors.Tensor {
	t.Helper()
	e, err := NewExec(b, fn)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Finalize()
	local := make([]any, len(ins))
	for i, in := range ins {
		// A tensor may live on one backend only.
		if local[i], err = in.(*tensors.Tensor).LocalClone(); err != nil {
			t.Fatal(err)
		}
	}
	out, err := e.Exec(local...)
	if err != nil {
		t.Fatalf("%s: %v", b.Name(), err)
	}
	return out[0]
}

func compareTensors(t *testing.T, want, got *tensors.Tensor, tol float64) {
	t.Helper()
	if !want.Shape().Equal(got.Shape()) {
		t.Fatalf("shape %s, want %s", got.Shape(), want.Shape())
	}
	w, g := flatFloat64(want), flatFloat64(got)
	worst, at := 0.0, -1
	for i := range w {
		d := math.Abs(w[i] - g[i])
		if math.IsNaN(w[i]) && math.IsNaN(g[i]) {
			continue
		}
		if math.IsNaN(w[i]) != math.IsNaN(g[i]) || d > tol*max(1, math.Abs(w[i])) {
			if d > worst || at < 0 || math.IsNaN(d) {
				worst, at = d, i
			}
		}
	}
	if at >= 0 {
		t.Fatalf("element %d: got %v, want %v (tolerance %g; %d elements)", at, g[at], w[at], tol, len(w))
	}
}

func flatFloat64(x *tensors.Tensor) []float64 {
	var out []float64
	_ = x.ConstFlatData(func(flat any) {
		switch f := flat.(type) {
		case []float32:
			for _, v := range f {
				out = append(out, float64(v))
			}
		case []float64:
			out = append(out, f...)
		case []int32:
			for _, v := range f {
				out = append(out, float64(v))
			}
		case []int64:
			for _, v := range f {
				out = append(out, float64(v))
			}
		case []uint32:
			for _, v := range f {
				out = append(out, float64(v))
			}
		case []uint64:
			for _, v := range f {
				out = append(out, float64(v))
			}
		case []bool:
			for _, v := range f {
				out = append(out, map[bool]float64{false: 0, true: 1}[v])
			}
		default:
			panic(fmt.Sprintf("flatFloat64: %T", flat))
		}
	})
	return out
}

// TestUnimplementedOpSaysUseGo: an op this backend lacks fails while the
// graph is built, naming the op and the fallback, never computing garbage.
func TestUnimplementedOpSaysUseGo(t *testing.T) {
	_, blasB := backendsForTest(t)
	e, err := NewExec(blasB, func(x *Node) *Node { return Reverse(x, 0) })
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Exec([]float32{1, 2, 3})
	if err == nil || !strings.Contains(err.Error(), `Reverse not implemented by backend "blas": use GOMLX_BACKEND=go`) {
		t.Fatalf("error = %v", err)
	}
}
