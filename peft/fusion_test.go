package peft

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train"
	"github.com/gomlx/gomlx/pkg/ml/train/losses"
)

func fused(t *testing.T, f *FuseBlock) *Tuned {
	t.Helper()
	return twoAdapters(t, f, AdapterDrop{})
}

func TestFusionOfOneAdapterEqualsIt(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    *FuseBlock
		tol  float64
	}{
		{"static", StaticFuse("a"), 1e-6},
		// V = I + 1e-6 off the diagonal: identity up to 1e-6·Σ up.
		{"dynamic", Fuse("a"), 1e-4},
	} {
		tu := fused(t, tc.f)
		got := hiddenOf(t, tu, tinyBatch())
		want := hiddenOf(t, view(tu, Name("a"), AdapterDrop{}), tinyBatch())
		if d := maxAbsDiff(got, want); d > tc.tol {
			t.Errorf("%s fusion of one adapter differs from the adapter by %g (tolerance %g)", tc.name, d, tc.tol)
		}
	}
}

func TestFusionAttentionSumsToOne(t *testing.T) {
	tu := fused(t, Fuse("a", "b"))
	att, err := tu.FusionAttention(tinyBatch())
	if err != nil {
		t.Fatal(err)
	}
	if len(att) != tinyConfig().NumLayers {
		t.Fatalf("attention for %d layers, want %d", len(att), tinyConfig().NumLayers)
	}
	for layer, rows := range att {
		if len(rows) != len(tinyBatch().IDs) {
			t.Fatalf("layer %d: %d rows, want one per example", layer, len(rows))
		}
		for i, r := range rows {
			if len(r) != 2 || math.Abs(r[0]+r[1]-1) > 1e-5 {
				t.Errorf("layer %d example %d: attention %v does not sum to 1 over 2 adapters", layer, i, r)
			}
		}
	}
	// With AdapterDrop the dropped layers have no fusion.
	dropped := view(tu, tu.Setup.Active, StaticDrop(1))
	att, err = dropped.FusionAttention(tinyBatch())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := att[0]; ok || len(att) != 1 {
		t.Errorf("with layer 0 dropped, attention reported for layers %v", att)
	}
	if _, err := view(tu, Name("a"), AdapterDrop{}).FusionAttention(tinyBatch()); err == nil {
		t.Errorf("FusionAttention without an active Fuse should fail")
	}
}

func TestFusionTrainsOnlyFusionByDefault(t *testing.T) {
	tu := fused(t, Fuse("a", "b"))
	for v := range tu.Ctx.IterVariables() {
		scope := v.Scope()
		fusion := strings.HasPrefix(scope, "/peft/fusion_a,b/")
		if strings.HasPrefix(scope, "/peft/") && v.Trainable != fusion {
			t.Errorf("%s: trainable %v, want %v (only fusion layers train by default)", v.ScopeAndName(), v.Trainable, fusion)
		}
	}
	if tu.Setup.Trains("a") {
		t.Errorf("Setup.Trains(a) is true with a Fuse active and Train nil")
	}
	before := snapshot(t, tu)
	trainFew(t, tu, 2)
	after := snapshot(t, tu)
	changedV := false
	for name, b := range before {
		changed := !bytes.Equal(b, after[name])
		if strings.HasPrefix(name, "/peft/a/") && changed {
			t.Errorf("frozen adapter variable %s changed", name)
		}
		if strings.HasSuffix(name, "/value/weight") && changed {
			changedV = true
		}
	}
	if !changedV {
		t.Errorf("no fusion value matrix changed in training")
	}
	// Naming adapters in Train trains them as well.
	s := *tu.Setup
	s.Train = []string{"a"}
	tu2, err := NewTuned(tu.Model, &s, tu.Head, 1)
	if err != nil {
		t.Fatal(err)
	}
	for v := range tu2.Ctx.IterVariables() {
		if strings.HasPrefix(v.Scope(), "/peft/a/") && !v.Trainable {
			t.Errorf("%s frozen although Train names a", v.ScopeAndName())
		}
	}
}

// vGradient is the gradient of the training loss with respect to layer 0's
// fusion value matrix.
func vGradient(t *testing.T, tu *Tuned, scope string) []float32 {
	t.Helper()
	backend, err := Backend()
	if err != nil {
		t.Fatal(err)
	}
	ids, types, mask, _ := tinyBatch().tensors()
	e, err := context.NewExec(backend, tu.Ctx, func(ctx *context.Context, ids, types, mask, labels *graph.Node) *graph.Node {
		g := ids.Graph()
		ctx.SetTraining(g, true)
		logits := tu.logits(ctx, inputs(ids, types, mask), 0)
		task := losses.SparseCategoricalCrossEntropyLogits([]*graph.Node{graph.Reshape(labels, -1, 1)}, []*graph.Node{logits})
		train.AddLoss(ctx, graph.ReduceAllMean(task))
		v := tu.Ctx.GetVariableByScopeAndName(scope, "weight")
		return graph.Gradient(train.GetLosses(ctx, g), v.ValueGraph(g))[0]
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Exec(ids, types, mask, tensors.FromValue([]int32{0, 1}))
	if err != nil {
		t.Fatal(err)
	}
	return flat(t, out[0])
}

func TestFusionRegularizationChangesVGradient(t *testing.T) {
	f := Fuse("a", "b")
	tu := fused(t, f)
	scope := "/peft/fusion_a,b/layer_0_ffn/value"
	d := tinyConfig().HiddenSize
	// Move V away from the identity so the regulariser's gradient is large.
	rng := rand.New(rand.NewPCG(3, 4))
	v := identity(d, 0)
	for i := range v {
		for j := range v[i] {
			v[i][j] += float32(0.1 * rng.NormFloat64())
		}
	}
	tu.Ctx.GetVariableByScopeAndName(scope, "weight").MustSetValue(tensors.FromValue(v))

	with := vGradient(t, tu, scope)
	f.Config.Regularization = false
	without := vGradient(t, tu, scope)
	// d/dV 0.01·||I - V||² = 0.02·(V - I).
	worst := 0.0
	for i := 0; i < d; i++ {
		for j := 0; j < d; j++ {
			want := 2 * FusionRegularizationWeight * float64(v[i][j]-identity(d, 0)[i][j])
			worst = math.Max(worst, math.Abs(float64(with[i*d+j]-without[i*d+j])-want))
		}
	}
	if worst > 1e-5 {
		t.Errorf("regularisation changed V's gradient by something other than 0.02·(V - I): worst error %g", worst)
	}
	if maxAbsDiff(with, without) < 1e-4 {
		t.Errorf("regularisation did not change V's gradient")
	}
}

func TestFusionTemperatureAnnealsPerTrainingStep(t *testing.T) {
	f := Fuse("a", "b")
	f.Config.Temperature = true
	tu := fused(t, f)
	steps := func() int64 {
		v := tu.Ctx.GetVariableByScopeAndName("/peft/fusion_a,b", "steps")
		if v == nil {
			t.Fatal("no fusion step counter")
		}
		return v.MustValue().Value().(int64)
	}
	spread := func() float64 {
		att, err := tu.FusionAttention(tinyBatch())
		if err != nil {
			t.Fatal(err)
		}
		s := 0.0
		for _, rows := range att {
			for _, r := range rows {
				s = math.Max(s, math.Abs(r[0]-r[1]))
			}
		}
		return s
	}
	hot := spread()
	for range 3 {
		_ = spread() // forward calls must not anneal
	}
	if got := steps(); got != 0 {
		t.Fatalf("inference forward passes moved the temperature: %d steps counted", got)
	}
	const k = 3
	trainFew(t, tu, k)
	if got := steps(); got != k {
		t.Errorf("after %d training steps the fusion counted %d", k, got)
	}
	if got, want := FusionTemperatureAt(k), 50-k*0.05; math.Abs(got-want) > 1e-9 {
		t.Errorf("T after %d steps is %v, want %v", k, got, want)
	}
	if got := FusionTemperatureAt(5000); got != 1 {
		t.Errorf("T after 5000 steps is %v, want the floor 1", got)
	}
	// T = 50 makes the attention nearly uniform; without temperature it is not.
	f.Config.Temperature = false
	cold := spread()
	if !(hot < cold) {
		t.Errorf("attention spread with T=50 (%g) is not below the spread at T=1 (%g)", hot, cold)
	}
}

func TestFusionOfStacksAndHoulsbyRuns(t *testing.T) {
	s := NewSetup("a", Houlsby()).Add("b", Houlsby()).Add("c", Houlsby())
	f := &FuseBlock{Children: []Block{Stack{Name("a"), Name("b")}, Name("c")}, Config: DynamicFusion()}
	s.Active = f
	tu, err := NewTuned(tinyModel(t), s, Head{Outputs: 2, Layers: 1}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if f.ScopeName() != "fusion_b,c" {
		t.Errorf("fusion scope %q, want AdapterHub's name of the last adapters, fusion_b,c", f.ScopeName())
	}
	for _, sub := range []string{"attention", "ffn"} {
		if tu.Ctx.GetVariableByScopeAndName("/peft/fusion_b,c/layer_1_"+sub+"/value", "weight") == nil {
			t.Errorf("no fusion value matrix at layer 1 %s: Houlsby adapters fuse at both residual points", sub)
		}
	}
	att, err := tu.FusionAttention(tinyBatch())
	if err != nil {
		t.Fatal(err)
	}
	for layer, rows := range att {
		for _, r := range rows {
			if math.Abs(r[0]+r[1]-1) > 1e-5 {
				t.Errorf("layer %d: attention %v does not sum to 1", layer, r)
			}
		}
	}
	trainFew(t, tu, 1)
}
