package peft

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gopeft/gopeft/peft/encoder"
)

// view is the same trained weights with another active composition.
func view(tu *Tuned, active Block, drop AdapterDrop) *Tuned {
	s := *tu.Setup
	s.Active, s.Drop = active, drop
	return &Tuned{Model: tu.Model, Setup: &s, Head: tu.Head, Ctx: tu.Ctx}
}

// twoAdapters is a Tuned with two Pfeiffer adapters "a" and "b" (BERT init,
// so each changes the output) and the given active composition.
func twoAdapters(t *testing.T, active Block, drop AdapterDrop) *Tuned {
	t.Helper()
	s := NewSetup("a", Pfeiffer()).Add("b", Pfeiffer())
	s.Active, s.Drop = active, drop
	tu, err := NewTuned(tinyModel(t), s, Head{Outputs: 2, Layers: 1}, 5)
	if err != nil {
		t.Fatal(err)
	}
	return tu
}

func hiddenOf(t *testing.T, tu *Tuned, b Batch) []float32 {
	t.Helper()
	h, err := tu.Hidden(b)
	if err != nil {
		t.Fatal(err)
	}
	return flat(t, h)
}

func TestInactiveAdaptersGetVariables(t *testing.T) {
	tu := twoAdapters(t, Name("a"), AdapterDrop{})
	c := tu.Counts()
	want := Pfeiffer().NumParams(tinyConfig())
	if c.PerAdapter["a"] != want || c.PerAdapter["b"] != want {
		t.Fatalf("per-adapter parameters %v, want %d each (inactive adapters must be created too)", c.PerAdapter, want)
	}
	for v := range tu.Ctx.IterVariables() {
		if strings.HasPrefix(v.Scope(), "/peft/b/") && v.Trainable {
			t.Errorf("inactive adapter variable %s is trainable", v.ScopeAndName())
		}
	}
}

func TestParallelEqualsSeparateRuns(t *testing.T) {
	for _, drop := range []AdapterDrop{{}, {Layers: 1, Inference: true}} {
		tu := twoAdapters(t, Parallel("a", "b"), drop)
		b := tinyBatch()
		got := hiddenOf(t, tu, b)
		a := hiddenOf(t, view(tu, Name("a"), drop), b)
		bb := hiddenOf(t, view(tu, Name("b"), drop), b)
		want := append(append([]float32{}, a...), bb...)
		if d := maxAbsDiff(got, want); d > 1e-5 {
			t.Errorf("drop %d: Parallel(a, b) differs from separate runs by %g", drop.Layers, d)
		}
		if d := maxAbsDiff(a, bb); d < 1e-4 {
			t.Fatalf("adapters a and b give the same output: the test would prove nothing")
		}
		logits, err := tu.Logits(b)
		if err != nil {
			t.Fatal(err)
		}
		if got := logits.Shape().Dim(0); got != 2*len(b.IDs) {
			t.Errorf("Parallel logits have %d rows, want n·B = %d", got, 2*len(b.IDs))
		}
	}
}

func TestBatchSplitEqualsSeparateParts(t *testing.T) {
	tu := twoAdapters(t, BatchSplit([]int{1, 1}, "a", "b"), AdapterDrop{})
	b := tinyBatch()
	got := hiddenOf(t, tu, b)
	row := func(i int) Batch { return Batch{IDs: b.IDs[i : i+1], Mask: b.Mask[i : i+1]} }
	want := append(hiddenOf(t, view(tu, Name("a"), AdapterDrop{}), row(0)), hiddenOf(t, view(tu, Name("b"), AdapterDrop{}), row(1))...)
	if d := maxAbsDiff(got, want); d > 1e-5 {
		t.Errorf("BatchSplit differs from running the parts separately by %g", d)
	}
	if err := catch(func() error { _, err := tu.Hidden(Batch{IDs: b.IDs[:1]}); return err }); err == nil || !strings.Contains(err.Error(), "BatchSplit") {
		t.Errorf("a batch not matching the BatchSplit sizes should fail naming BatchSplit, got %v", err)
	}
}

// residualPoint runs fn on random sub-block outputs at layer 0's FFN residual
// point and returns its results.
func residualPoint(t *testing.T, tu *Tuned, active Block, fn func(h *hooks, ctx *context.Context, st bnState) []*graph.Node) [][]float32 {
	t.Helper()
	backend, err := Backend()
	if err != nil {
		t.Fatal(err)
	}
	s := *tu.Setup
	s.Active = active
	rng := rand.New(rand.NewPCG(1, 2))
	rnd := func() *tensors.Tensor {
		v := make([]float32, 2*3*tinyConfig().HiddenSize)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return tensors.FromFlatDataAndDimensions(v, 2, 3, tinyConfig().HiddenSize)
	}
	exec, err := context.NewExec(backend, tu.Ctx, func(ctx *context.Context, out, in *graph.Node) []*graph.Node {
		h := newHooks(&s, tu.Model.Config, 0)
		h.memo("compose/original_batch", func() *graph.Node { return out })
		ln := func(x *graph.Node) *graph.Node {
			return encoder.LayerNorm(ctx.Checked(false).In("encoder").In("layer").In("0").In("output").In("LayerNorm"), x, 1e-12)
		}
		return fn(h, ctx, bnState{hidden: out, input: in, inputHidden: out, ln: ln})
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := exec.Exec(rnd(), rnd())
	if err != nil {
		t.Fatal(err)
	}
	out := make([][]float32, len(res))
	for i, r := range res {
		out[i] = flat(t, r)
	}
	return out
}

func TestStackEqualsManualSequence(t *testing.T) {
	tu := twoAdapters(t, Stack{Name("a"), Name("b")}, AdapterDrop{})
	a, b := tu.Setup.Adapter("a").Method.(residualHook), tu.Setup.Adapter("b").Method.(residualHook)
	res := residualPoint(t, tu, tu.Setup.Active, func(h *hooks, ctx *context.Context, st bnState) []*graph.Node {
		got := h.residualBlock(ctx, Stack{Name("a"), Name("b")}, 0, encoder.FFN, st.hidden, st.input, st.ln)
		// By hand: a, then b on a's output, then b's postForward.
		x, _, r := a.preForward(st.hidden, st.input, st.ln)
		x = a.forward(adapterCtx(ctx, "a"), h.cfg, 0, encoder.FFN, x, r)
		x, _, r = b.preForward(x, st.input, st.ln)
		x = b.forward(adapterCtx(ctx, "b"), h.cfg, 0, encoder.FFN, x, r)
		want := b.postForward(x, st.hidden, st.input, st.ln)
		onlyA := h.residualBlock(ctx, Name("a"), 0, encoder.FFN, st.hidden, st.input, st.ln)
		return []*graph.Node{got, want, onlyA}
	})
	if d := maxAbsDiff(res[0], res[1]); d > 1e-6 {
		t.Errorf("Stack(a, b) differs from applying a then b by hand by %g", d)
	}
	if d := maxAbsDiff(res[0], res[2]); d < 1e-4 {
		t.Errorf("Stack(a, b) equals a alone: b had no effect")
	}
}

func TestAverageIsWeightedMean(t *testing.T) {
	avg := WeightedAverage([]float64{3, 1}, "a", "b")
	tu := twoAdapters(t, avg, AdapterDrop{})
	res := residualPoint(t, tu, avg, func(h *hooks, ctx *context.Context, st bnState) []*graph.Node {
		got := h.compose(ctx, avg, 0, encoder.FFN, st)
		a := h.compose(ctx, Name("a"), 0, encoder.FFN, st)
		b := h.compose(ctx, Name("b"), 0, encoder.FFN, st)
		want := graph.Add(graph.MulScalar(a.hidden, 0.75), graph.MulScalar(b.hidden, 0.25))
		return []*graph.Node{got.hidden, want}
	})
	if d := maxAbsDiff(res[0], res[1]); d > 1e-6 {
		t.Errorf("Average(3:1) differs from 0.75·a + 0.25·b by %g", d)
	}
	// Uniform Average of one adapter is that adapter, end to end.
	one := hiddenOf(t, view(tu, Average("a"), AdapterDrop{}), tinyBatch())
	if d := maxAbsDiff(one, hiddenOf(t, view(tu, Name("a"), AdapterDrop{}), tinyBatch())); d > 1e-6 {
		t.Errorf("Average of one adapter differs from it by %g", d)
	}
}

func TestInvalidNestingsRejected(t *testing.T) {
	cfg := tinyConfig()
	base := func() *Setup { return NewSetup("a", Pfeiffer()).Add("b", Pfeiffer()).Add("c", Pfeiffer()) }
	for _, tc := range []struct {
		name   string
		active Block
		want   string
	}{
		{"fuse in fuse", &FuseBlock{Children: []Block{Name("a"), Fuse("b", "c")}, Config: DynamicFusion()}, "Fuse cannot contain Fuse"},
		{"parallel in parallel", ParallelBlock{Name("a"), Parallel("b", "c")}, "Parallel cannot contain Parallel"},
		{"fuse in parallel", ParallelBlock{Name("a"), Fuse("b", "c")}, "Parallel cannot contain Fuse"},
		{"parallel in average", &AverageBlock{Children: []Block{Name("a"), Parallel("b", "c")}}, "Average cannot contain Parallel"},
		{"too deep", Stack{ParallelBlock{Name("a"), &AverageBlock{Children: []Block{Name("b"), Name("c")}}}}, "too deep"},
		{"block in inner stack", ParallelBlock{Name("a"), Stack{Name("b"), Average("a", "c")}}, "too deep"},
		{"split sizes", BatchSplit([]int{1}, "a", "b"), "batch sizes"},
		{"average weights", WeightedAverage([]float64{1}, "a", "b"), "weights"},
		{"parallel widths", Stack{Parallel("a", "b"), Parallel("a", "b", "c")}, "same number of children"},
		{"unknown name", Parallel("a", "zzz"), "never added"},
		{"empty", ParallelBlock{}, "empty"},
	} {
		s := base()
		s.Active = tc.active
		err := s.Validate(cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
	for name, ok := range map[string]Block{
		"stack of parallel":     Stack{Name("a"), Parallel("b", "c")},
		"parallel of stacks":    ParallelBlock{Stack{Name("a"), Name("b")}, Name("c")},
		"fuse of stack":         &FuseBlock{Children: []Block{Stack{Name("a"), Name("b")}, Name("c")}, Config: DynamicFusion()},
		"average of batchsplit": &AverageBlock{Children: []Block{Name("a"), BatchSplit([]int{1, 1}, "b", "c")}},
	} {
		s := base()
		s.Active = ok
		if err := s.Validate(cfg); err != nil {
			t.Errorf("%s: valid composition rejected: %v", name, err)
		}
	}
	// Methods acting outside residual points cannot be routed per child.
	s := NewSetup("a", Pfeiffer()).Add("m", SmallMAMAdapter())
	s.Active = Parallel("a", "m")
	if err := s.Validate(cfg); err == nil || !strings.Contains(err.Error(), "Stack") {
		t.Errorf("Parallel holding a MAM adapter: got %v, want an error pointing to Stack", err)
	}
}

// catch turns a graph-building panic into an error (runInference returns
// errors from execution but lets building panics through).
func catch(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return fn()
}
