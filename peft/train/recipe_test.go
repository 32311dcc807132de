package train

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/encoder"
	"github.com/gopeft/gopeft/peft/internal/trainingtest"
)

// weightBytes copies every parameter's bytes by ScopeAndName.
func weightBytes(t *testing.T, ctx *context.Context) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for v := range ctx.IterVariables() {
		val, err := v.Value()
		if err != nil {
			t.Fatal(err)
		}
		var b []byte
		val.MutableBytes(func(data []byte) { b = append(b, data...) })
		out[v.ScopeAndName()] = b
	}
	return out
}

// recipeStepper builds what Finetune builds for a recipe: the prepared
// Tuned, the recipe at work and its stepper.
func recipeStepper(t *testing.T, s *peft.Setup, r Recipe, lr float64) (*peft.Tuned, *recipeRun, *peft.Stepper) {
	t.Helper()
	m := trainingtest.SentimentModel(t)
	tu, err := peft.NewTuned(m, s, peft.ClassificationHead(2), 1)
	if err != nil {
		t.Fatal(err)
	}
	tu, rr, err := r.prepare(tu, Options{LearningRate: lr, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	return tu, rr, tu.NewStepperWith(rr.stepperOptions(0.01))
}

func tinyTrainBatch() (peft.Batch, peft.Labels) {
	return peft.Batch{IDs: [][]int32{{2, 5, 6, 7, 3}, {2, 6, 8, 3, 0}}, Mask: [][]int32{{1, 1, 1, 1, 1}, {1, 1, 1, 1, 0}}},
		peft.Labels{Classes: []int32{1, 0}}
}

// Layer-wise decay sets rate·factor^(L-1-l) for layer l, read back from
// the optimizer, in both directions; group rates set the head's and the
// adapters' own.
func TestLayerDecayRatesReadBack(t *testing.T) {
	for _, factor := range []float64{0.8, 1.25} {
		s := peft.NewSetup("full", &peft.FullFinetune{}).Add("houlsby", peft.Houlsby())
		r := Recipe{LayerDecay: factor, HeadLR: 5e-3, AdapterLR: 2e-3}
		tu, rr, st := recipeStepper(t, s, r, 1e-3)
		L := tu.Model.Config.NumLayers
		rr.beforeStep(0, st)
		b, y := tinyTrainBatch()
		if _, err := st.Step(b, y, 1e-3, 0); err != nil {
			t.Fatal(err)
		}
		rates, err := st.LearningRates()
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for v := range tu.Ctx.IterVariables() {
			if !v.Trainable {
				continue
			}
			want := 1e-3
			switch {
			case strings.HasPrefix(v.Scope(), "/head"):
				want = 5e-3
			case strings.HasPrefix(v.Scope(), "/peft/"):
				want = 2e-3
			}
			if l, ok := peft.LayerOf(v); ok {
				want *= math.Pow(factor, float64(L-1-l))
				seen[map[bool]string{true: "embeddings", false: "layer"}[l < 0]] = true
			}
			if got := rates[v.ScopeAndName()]; math.Abs(got-want) > 1e-6*want { // float32 in the graph
				t.Errorf("factor %v: %s rate %v, want %v", factor, v.ScopeAndName(), got, want)
			}
		}
		if !seen["embeddings"] || !seen["layer"] {
			t.Errorf("checked %v", seen)
		}
		// The embeddings are one step below layer 0: factor^L.
		emb := rates["/embeddings/word_embeddings/weight"]
		if want := 1e-3 * math.Pow(factor, float64(L)); math.Abs(emb-want) > 1e-6*want {
			t.Errorf("embeddings rate %v, want %v", emb, want)
		}
	}
}

// Gradual unfreezing: a layer stays bitwise equal until its step, then
// trains; one graph serves every step.
func TestGradualUnfreezingHoldsLayersUntilTheirStep(t *testing.T) {
	r := Recipe{UnfreezeEvery: 2}
	tu, rr, st := recipeStepper(t, peft.NewSetup("full", &peft.FullFinetune{}), r, 1e-2)
	L := tu.Model.Config.NumLayers
	initial := weightBytes(t, tu.Ctx)
	b, y := tinyTrainBatch()
	for step := range r.UnfreezeStep(-1, L) + 1 {
		rr.beforeStep(step, st)
		if _, err := st.Step(b, y, 1e-2, 0); err != nil {
			t.Fatal(err)
		}
		now := weightBytes(t, tu.Ctx)
		for v := range tu.Ctx.IterVariables() {
			l, ok := peft.LayerOf(v)
			if !ok || !v.Trainable {
				continue
			}
			name := v.ScopeAndName()
			joined := step >= r.UnfreezeStep(l, L)
			if moved := !bytes.Equal(initial[name], now[name]); moved != joined {
				t.Errorf("after step %d, layer %d's %s moved %v (it joins at step %d)", step, l, name, moved, r.UnfreezeStep(l, L))
			}
		}
		if !bytes.Equal(initial["/head/out_proj/weight"], now["/head/out_proj/weight"]) != true {
			t.Errorf("the head did not train at step %d", step)
		}
	}
}

// FreezeLayers: Finetune leaves the embeddings and the lowest k layers
// bitwise equal to the model's, and changes every other trained weight.
func TestFinetuneFreezeLayersLeavesThemEqual(t *testing.T) {
	m := trainingtest.SentimentModel(t)
	task := trainingtest.SentimentTask(64, 2)
	r, err := Finetune(m, task, peft.NewSetup("full", &peft.FullFinetune{}), Options{Steps: 4, BatchSize: 8, Seed: 3, EvalEvery: -1, Recipe: Recipe{FreezeLayers: 1}})
	if err != nil {
		t.Fatal(err)
	}
	before, after := weightBytes(t, m.Ctx), weightBytes(t, r.Tuned.Ctx)
	for v := range r.Tuned.Ctx.IterVariables() {
		if !encoder.IsBase(v) || !strings.HasPrefix(v.Scope(), "/embeddings") && !strings.HasPrefix(v.Scope(), "/encoder") {
			continue
		}
		l, _ := peft.LayerOf(v)
		changed := !bytes.Equal(before[v.ScopeAndName()], after[v.ScopeAndName()])
		if frozen := l < 1; frozen == changed || frozen == v.Trainable {
			t.Errorf("%s (layer %d): changed %v, trainable %v", v.ScopeAndName(), l, changed, v.Trainable)
		}
	}
	full, err := peft.NewTuned(m, peft.NewSetup("full", &peft.FullFinetune{}), peft.ClassificationHead(2), 1)
	if err != nil {
		t.Fatal(err)
	}
	if r.Tuned.Counts().Trainable >= full.Counts().Trainable {
		t.Errorf("trainable %d with layer 0 frozen, %d without", r.Tuned.Counts().Trainable, full.Counts().Trainable)
	}
}

func TestRecipeValidate(t *testing.T) {
	for _, r := range []Recipe{
		{FreezeLayers: 3}, {FreezeLayers: -1}, {UnfreezeEvery: -1}, {LayerDecay: -0.5}, {LayerDecay: math.Inf(1)},
		{HeadLR: -1}, {ClipNorm: -1}, {Schedule: "step"}, {Augment: Augment{Mask: 1}},
	} {
		if err := r.Validate(2); err == nil {
			t.Errorf("%+v accepted", r)
		}
	}
	m := trainingtest.SentimentModel(t)
	task := trainingtest.SentimentTask(32, 2)
	_, err := Finetune(m, task, peft.NewSetup("head", &peft.HeadOnly{}), Options{Steps: 1, Recipe: Recipe{LayerDecay: 0.9}})
	if err == nil || !strings.Contains(err.Error(), "trains nothing in a layer") {
		t.Errorf("layer decay on a head-only run: %v", err)
	}
}

func TestCosineSchedule(t *testing.T) {
	o := Options{Steps: 110, LearningRate: 1, WarmupFraction: 10.0 / 110, Recipe: Recipe{Schedule: ScheduleCosine}}
	if got := o.LR(9); got != 1 {
		t.Errorf("LR(9) = %v, want 1 (end of warmup)", got)
	}
	if got := o.LR(10); got != 1 {
		t.Errorf("LR(10) = %v, want 1 (cosine starts at the peak)", got)
	}
	if got := o.LR(60); math.Abs(got-0.5) > 1e-12 {
		t.Errorf("LR(60) = %v, want 0.5 (half way)", got)
	}
	if got := o.LR(109); got <= 0 || got > 1e-3 {
		t.Errorf("LR(109) = %v, want a small positive rate", got)
	}
}

// Clipping and the cosine schedule run through Finetune and keep it
// deterministic.
func TestFinetuneRecipeDeterministic(t *testing.T) {
	m := trainingtest.SentimentModel(t)
	task := trainingtest.SentimentTask(64, 2)
	opt := Options{Steps: 6, BatchSize: 8, Seed: 2, EvalEvery: -1, Recipe: Recipe{ClipNorm: 0.5, Schedule: ScheduleCosine, LayerDecay: 0.9, UnfreezeEvery: 1}}
	run := func() []Point {
		r, err := Finetune(m, task, peft.NewSetup("top2", &peft.PartialFinetune{TopLayers: 2}), opt)
		if err != nil {
			t.Fatal(err)
		}
		return r.Curve
	}
	a, b := run(), run()
	for i := range a {
		if !samePoint(a[i], b[i]) {
			t.Fatalf("step %d: %+v vs %+v", i+1, a[i], b[i])
		}
	}
}

// HeadFrom starts from a saved head instead of a fresh one.
func TestRecipeHeadFrom(t *testing.T) {
	m := trainingtest.SentimentModel(t)
	probe, err := Finetune(m, trainingtest.SentimentTask(32, 2), peft.NewSetup("head", &peft.HeadOnly{}), Options{Steps: 2, BatchSize: 4, EvalEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	trained := probe.Tuned
	dir := t.TempDir()
	if err := peft.SaveHead(trained, dir, []string{"negative", "positive"}); err != nil {
		t.Fatal(err)
	}
	fresh, err := peft.NewTuned(m, peft.NewSetup("full", &peft.FullFinetune{}), peft.ClassificationHead(2), 1)
	if err != nil {
		t.Fatal(err)
	}
	started, _, err := Recipe{HeadFrom: dir}.prepare(fresh, Options{LearningRate: 1e-3})
	if err != nil {
		t.Fatal(err)
	}
	w := "/head/out_proj/weight"
	got, want, was := weightBytes(t, started.Ctx)[w], weightBytes(t, trained.Ctx)[w], weightBytes(t, fresh.Ctx)[w]
	if len(got) == 0 || !bytes.Equal(got, want) || bytes.Equal(got, was) {
		t.Error("the head is not the saved one")
	}
	if _, _, err := (Recipe{HeadFrom: t.TempDir()}).prepare(fresh, Options{}); err == nil || !strings.Contains(err.Error(), "head_from") {
		t.Errorf("a directory with no head: %v", err)
	}
}
