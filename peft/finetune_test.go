package peft

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/gopeft/gopeft/peft/data"
	"github.com/gopeft/gopeft/peft/tokenizer"
)

var fillerWords = []string{"the", "a", "movie", "film", "was", "is", "plot", "actor", "very", "quite", "and", "story", "it", "really", "so", "this"}

// sentimentModel is a tiny encoder with a word-level tokenizer.
func sentimentModel(t *testing.T) *Model {
	t.Helper()
	vocab := append(append([]string{}, tokenizer.Specials...), "good", "bad")
	vocab = append(vocab, fillerWords...)
	tok, err := tokenizer.FromVocab(vocab, true)
	if err != nil {
		t.Fatal(err)
	}
	cfg := tinyConfig()
	cfg.VocabSize = len(vocab)
	cfg.HiddenSize, cfg.NumHeads, cfg.IntermediateSize = 32, 4, 64
	m, err := NewModel(cfg, tok, 1)
	if err != nil {
		t.Fatal(err)
	}
	// A random BERT init (std 0.02) barely mixes tokens: attention is uniform
	// and the value/output projections shrink what it mixes by ~0.02²·hidden.
	// Scaling them to unit gain makes [CLS] carry a bag of words, as a
	// pretrained encoder's would, so the task is learnable by a head and adapters.
	gain := float32(1 / (0.02 * math.Sqrt(float64(cfg.HiddenSize))))
	for l := range cfg.NumLayers {
		for _, scope := range []string{"attention/self/value", "attention/output/dense"} {
			v := m.Ctx.GetVariableByScopeAndName(fmt.Sprintf("/encoder/layer/%d/%s", l, scope), "weight")
			w := tensors.MustCopyFlatData[float32](v.MustValue())
			for i := range w {
				w[i] *= gain
			}
			v.MustSetValue(tensors.FromFlatDataAndDimensions(w, v.Shape().Dimensions...))
		}
	}
	return m
}

// sentimentTask: label 1 iff the text contains "good" (else "bad"), the
// cue at a random position among filler words; 60/40 class balance so the
// majority baseline is 0.6.
func sentimentTask(n int, seed uint64) *data.Task {
	rng := rand.New(rand.NewPCG(seed, 7))
	gen := func(k int) []data.Example {
		out := make([]data.Example, k)
		for i := range out {
			label := 0
			if rng.Float64() < 0.4 {
				label = 1
			}
			words := make([]string, 3+rng.IntN(6))
			for j := range words {
				words[j] = fillerWords[rng.IntN(len(fillerWords))]
			}
			cue := map[int]string{0: "bad", 1: "good"}[label]
			words[rng.IntN(len(words))] = cue
			out[i] = data.Example{Text: strings.Join(words, " "), Label: label}
		}
		return out
	}
	return &data.Task{Name: "synthetic-sentiment", Labels: []string{"negative", "positive"}, Train: gen(n), Dev: gen(60), Test: gen(100)}
}

func TestFinetuneLearnsAndReloads(t *testing.T) {
	m := sentimentModel(t)
	task := sentimentTask(400, 1)
	dir := filepath.Join(t.TempDir(), "run")
	opt := Options{Steps: 160, BatchSize: 16, LearningRate: 3e-3, Seed: 1, RunDir: dir, Quiet: true, EvalEvery: 50}
	start := time.Now()
	r, err := Finetune(m, task, NewSetup("pfeiffer", pfeiffer4()), opt)
	if err != nil {
		t.Fatal(err)
	}
	trainTime := time.Since(start)
	t.Logf("trained %d steps in %.2fs (loop %.2fs): %v, baseline %.3f; %s", opt.Steps, trainTime.Seconds(), r.TrainSeconds, r.Metrics, r.Baseline, r.Tuned.TrainableLine())
	if r.Loaded {
		t.Fatal("first run claims it was loaded")
	}
	if acc := r.Metrics["test_accuracy"]; acc < r.Baseline+0.2 {
		t.Errorf("test accuracy %.3f is not clearly above the majority baseline %.3f", acc, r.Baseline)
	}
	for _, k := range []string{"dev_accuracy", "dev_macro_f1", "test_accuracy", "test_macro_f1"} {
		if _, ok := r.Metrics[k]; !ok {
			t.Errorf("metric %s missing", k)
		}
	}
	if len(r.Curve) != opt.Steps {
		t.Fatalf("curve has %d points, want %d", len(r.Curve), opt.Steps)
	}
	evals := 0
	for _, p := range r.Curve {
		if !math.IsNaN(p.DevAcc) {
			evals++
		}
	}
	if evals != 4 { // steps 50, 100, 150 and the final evaluation
		t.Errorf("%d evaluated curve points, want 4", evals)
	}
	if r.Curve[0].LR >= r.Curve[20].LR || r.Curve[len(r.Curve)-1].LR >= r.Curve[20].LR {
		t.Errorf("learning rate does not warm up and decay: %g %g %g", r.Curve[0].LR, r.Curve[20].LR, r.Curve[len(r.Curve)-1].LR)
	}
	pred, err := r.Predict([]string{"this movie was good", "the plot was bad"})
	if err != nil {
		t.Fatal(err)
	}
	if pred[0] != 1 || pred[1] != 0 {
		t.Errorf("Predict = %v, want [1 0]", pred)
	}

	// Same config: loaded, not retrained, identical metrics and predictions.
	start = time.Now()
	r2, err := Finetune(m, task, NewSetup("pfeiffer", pfeiffer4()), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("reload took %.2fs", time.Since(start).Seconds())
	if !r2.Loaded {
		t.Fatal("second run with the same config was retrained, not loaded")
	}
	for k, v := range r.Metrics {
		if r2.Metrics[k] != v {
			t.Errorf("metric %s: loaded %v, trained %v", k, r2.Metrics[k], v)
		}
	}
	if len(r2.Curve) != len(r.Curve) || !samePoint(r2.Curve[50-1], r.Curve[50-1]) || !samePoint(r2.Curve[10], r.Curve[10]) {
		t.Errorf("loaded curve differs")
	}
	ev, err := r2.Evaluate(task.Test)
	if err != nil {
		t.Fatal(err)
	}
	if ev["accuracy"] != r.Metrics["test_accuracy"] {
		t.Errorf("loaded run evaluates to %v, trained run reported %v", ev["accuracy"], r.Metrics["test_accuracy"])
	}

	// Another seed: trained anew, and the directory then holds the new run.
	opt.Seed = 2
	opt.Steps = 20
	r3, err := Finetune(m, task, NewSetup("pfeiffer", pfeiffer4()), opt)
	if err != nil {
		t.Fatal(err)
	}
	if r3.Loaded {
		t.Error("a different seed loaded the old run")
	}
	rc, _, _, err := ReadRunFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	if rc.Seed != 2 || rc.Hash != r3.Config.Hash {
		t.Errorf("run dir holds seed %d hash %s, want the new run's", rc.Seed, rc.Hash)
	}
}

func TestFinetuneDeterministic(t *testing.T) {
	m := sentimentModel(t)
	task := sentimentTask(64, 2)
	opt := Options{Steps: 8, BatchSize: 8, Seed: 5, Quiet: true}
	s := func() *Setup {
		return NewSetup("mam", &MAM{Prefix: &PrefixTuning{PrefixLength: 2, BottleneckSize: 8, NonLinearity: "tanh"}, FFN: withMasks(ParallelAdapter())})
	}
	a, err := Finetune(m, task, s(), opt)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Finetune(m, task, s(), opt)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a.Curve {
		if a.Curve[i].Loss != b.Curve[i].Loss {
			t.Fatalf("step %d: loss %v vs %v with the same seed", i+1, a.Curve[i].Loss, b.Curve[i].Loss)
		}
	}
}

// pfeiffer4 has 8 bottleneck units on the tiny model (reduction 16 would leave 2).
func pfeiffer4() *Bottleneck {
	b := Pfeiffer()
	b.ReductionFactor = 4
	return b
}

func samePoint(a, b Point) bool {
	eq := func(x, y float64) bool { return x == y || math.IsNaN(x) && math.IsNaN(y) }
	return a.Step == b.Step && eq(a.Loss, b.Loss) && eq(a.TaskLoss, b.TaskLoss) && eq(a.LR, b.LR) && eq(a.DevAcc, b.DevAcc) && eq(a.DevMSE, b.DevMSE)
}

func withMasks(b *Bottleneck) *Bottleneck {
	b.Masks = DefaultMasks()
	return b
}

func TestFinetuneRegression(t *testing.T) {
	m := sentimentModel(t)
	task := sentimentTask(64, 3)
	task.Regression, task.Labels = true, nil
	for _, split := range [][]data.Example{task.Train, task.Dev, task.Test} {
		for i := range split {
			split[i].Value = float64(2*split[i].Label - 1)
		}
	}
	r, err := Finetune(m, task, NewSetup("a", Pfeiffer()), Options{Steps: 30, BatchSize: 8, Quiet: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Metrics["test_mse"]; !ok {
		t.Errorf("no test_mse in %v", r.Metrics)
	}
	if _, err := r.Predict([]string{"good"}); err == nil {
		t.Error("Predict on a regression run did not fail")
	}
	if v, err := r.PredictValues([]string{"good", "bad"}); err != nil || len(v) != 2 {
		t.Errorf("PredictValues = %v, %v", v, err)
	}
}

func TestScheduleAndMetrics(t *testing.T) {
	o := Options{Steps: 100, LearningRate: 1, WarmupFraction: 0.1}
	if got := o.LR(0); math.Abs(got-0.1) > 1e-12 {
		t.Errorf("LR(0) = %v, want 0.1", got)
	}
	if got := o.LR(9); got != 1 {
		t.Errorf("LR(9) = %v, want 1 (end of warmup)", got)
	}
	if got := o.LR(99); math.Abs(got-1.0/90) > 1e-12 {
		t.Errorf("LR(99) = %v, want 1/90", got)
	}
	// scikit-learn: f1_score([0,0,1,1,2],[0,1,1,1,0], average="macro") = (0.5+0.8+0)/3
	if got, want := MacroF1([]int{0, 1, 1, 1, 0}, []int{0, 0, 1, 1, 2}), (0.5+0.8)/3; math.Abs(got-want) > 1e-12 {
		t.Errorf("MacroF1 = %v, want %v", got, want)
	}
	if got := Pearson([]float64{1, 2, 3}, []float64{2, 4, 6}); math.Abs(got-1) > 1e-12 {
		t.Errorf("Pearson = %v", got)
	}
}

func TestSetupJSONRoundTrip(t *testing.T) {
	s := NewSetup("a", Houlsby()).Add("b", withMasks(ParallelAdapter()))
	s.Active = Stack{Name("a"), Name("b")}
	s.Train = []string{"b"}
	s.Drop = RobustDrop()
	js, err := MarshalSetup(s)
	if err != nil {
		t.Fatal(err)
	}
	back, err := UnmarshalSetup(js)
	if err != nil {
		t.Fatal(err)
	}
	js2, err := MarshalSetup(back)
	if err != nil {
		t.Fatal(err)
	}
	if string(js) != string(js2) {
		t.Errorf("round trip changed the setup:\n%s\n%s", js, js2)
	}
	if _, err := UnmarshalSetup([]byte(`{"adapters":[{"name":"x","method":{"method":"nope"}}]}`)); err == nil || !strings.Contains(err.Error(), "known methods") {
		t.Errorf("unknown method error = %v", err)
	}
}
