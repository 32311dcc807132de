package runstore

import (
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopeft/gopeft/internal/peftest"
	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/internal/trainingtest"
	"github.com/gopeft/gopeft/peft/train"
)

func TestFinetuneLearnsAndReloads(t *testing.T) {
	m := trainingtest.SentimentModel(t)
	task := trainingtest.SentimentTask(400, 1)
	dir := filepath.Join(t.TempDir(), "run")
	opt := train.Options{Steps: 160, BatchSize: 16, LearningRate: 3e-3, Seed: 1, EvalEvery: 50}
	start := time.Now()
	r, err := Finetune(dir, m, task, peft.NewSetup("pfeiffer", trainingtest.Pfeiffer4()), opt)
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
	r2, err := Finetune(dir, m, task, peft.NewSetup("pfeiffer", trainingtest.Pfeiffer4()), opt)
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
	r3, err := Finetune(dir, m, task, peft.NewSetup("pfeiffer", trainingtest.Pfeiffer4()), opt)
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

// TestFinetuneFuseRunReloads saves a run whose setup fuses two adapters and
// finetunes again with the setup read back from run.json: the run loads
// instead of training, with the same outputs.
func TestFinetuneFuseRunReloads(t *testing.T) {
	m := trainingtest.SentimentModel(t)
	task := trainingtest.SentimentTask(32, 4)
	task.Dev, task.Test = task.Dev[:8], task.Test[:8]
	dir := filepath.Join(t.TempDir(), "run")
	opt := train.Options{Steps: 3, BatchSize: 4, LearningRate: 1e-2, Seed: 3}
	s := peft.NewSetup("a", trainingtest.Pfeiffer4()).Add("b", trainingtest.Pfeiffer4())
	s.Active = peft.Stack{&peft.FuseBlock{Children: []peft.Block{peft.Name("a"), peft.Name("b")}, Config: peft.DynamicFusion()}}
	s.Active.(peft.Stack)[0].(*peft.FuseBlock).Config.Temperature = true
	r, err := Finetune(dir, m, task, s, opt)
	if err != nil {
		t.Fatal(err)
	}
	rc, _, _, err := ReadRunFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	back, err := peft.UnmarshalSetup(rc.Setup)
	if err != nil {
		t.Fatalf("run.json's setup cannot be read back: %v", err)
	}
	r2, err := Finetune(dir, m, task, back, opt)
	if err != nil {
		t.Fatal(err)
	}
	if !r2.Loaded {
		t.Fatal("the same Fuse setup read from run.json was retrained, not loaded")
	}
	b := peft.Batch{IDs: peftest.TinyIDs(), Mask: peftest.TinyMask()}
	want, err := r.Tuned.Logits(b)
	if err != nil {
		t.Fatal(err)
	}
	got, err := r2.Tuned.Logits(b)
	if err != nil {
		t.Fatal(err)
	}
	if d := peftest.MaxAbsDiff(peftest.Flat(t, got), peftest.Flat(t, want)); d > 1e-6 {
		t.Errorf("reloaded Fuse run's logits differ by %g", d)
	}
	for k, v := range r.Metrics {
		if r2.Metrics[k] != v {
			t.Errorf("metric %s: loaded %v, trained %v", k, r2.Metrics[k], v)
		}
	}
}

func samePoint(a, b train.Point) bool {
	eq := func(x, y float64) bool { return x == y || math.IsNaN(x) && math.IsNaN(y) }
	return a.Step == b.Step && eq(a.Loss, b.Loss) && eq(a.TaskLoss, b.TaskLoss) && eq(a.LR, b.LR) && eq(a.DevAcc, b.DevAcc) && eq(a.DevMSE, b.DevMSE)
}

// TestFuseTrainedAdapters is AdapterFusion's workflow: two task adapters
// trained and kept by the store, then a Fuse run that reads them in
// (Options.Adapters) and trains only the fusion layers and the head. The
// source adapters' weights must come through unchanged, and retraining a
// source adapter must retrain the fusion instead of loading it.
func TestFuseTrainedAdapters(t *testing.T) {
	m := trainingtest.SentimentModel(t)
	task := trainingtest.SentimentTask(32, 4)
	task.Dev, task.Test = task.Dev[:8], task.Test[:8]
	root := t.TempDir()
	opt := train.Options{Steps: 3, BatchSize: 4, LearningRate: 1e-2, Seed: 3}
	var dirs []string
	var sources []*Run
	for i, name := range []string{"a", "b"} {
		o := opt
		o.Seed = int64(10 + i)
		r, err := Finetune(filepath.Join(root, name), m, task, peft.NewSetup(name, trainingtest.Pfeiffer4()), o)
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, r)
		dirs = append(dirs, filepath.Join(r.Dir, peft.AdaptersDir, name))
	}
	s := peft.NewSetup("a", trainingtest.Pfeiffer4()).Add("b", trainingtest.Pfeiffer4())
	s.Active = peft.Fuse("a", "b")
	fo := opt
	fo.Adapters = dirs
	fused, err := Finetune(filepath.Join(root, "fusion"), m, task, s, fo)
	if err != nil {
		t.Fatal(err)
	}
	c := fused.Tuned.Counts()
	if c.Trainable != c.Total-c.Base-c.PerAdapter["a"]-c.PerAdapter["b"] {
		t.Errorf("fusion trains %d parameters; want only the fusion layers and the head (%+v)", c.Trainable, c)
	}
	// Each source adapter alone, read from the fusion run, gives the source run's outputs.
	b := peft.Batch{IDs: peftest.TinyIDs(), Mask: peftest.TinyMask()}
	for i, name := range []string{"a", "b"} {
		view := peft.NewSetup(name, trainingtest.Pfeiffer4())
		alone, err := peft.NewTuned(m, view, sources[i].Tuned.Head, 1)
		if err != nil {
			t.Fatal(err)
		}
		if alone, _, err = alone.LoadAdapter(filepath.Join(fused.Dir, peft.AdaptersDir, name)); err != nil {
			t.Fatal(err)
		}
		if alone, err = alone.LoadHead(sources[i].Dir); err != nil {
			t.Fatal(err)
		}
		want, _ := sources[i].Tuned.Logits(b)
		got, err := alone.Logits(b)
		if err != nil {
			t.Fatal(err)
		}
		if d := peftest.MaxAbsDiff(peftest.Flat(t, got), peftest.Flat(t, want)); d != 0 {
			t.Errorf("adapter %s changed while the fusion trained (outputs differ by %g)", name, d)
		}
	}
	again, err := Finetune(filepath.Join(root, "fusion"), m, task, s, fo)
	if err != nil || !again.Loaded {
		t.Fatalf("the same fusion was not loaded: %v", err)
	}
	o := opt
	o.Seed = 99
	if _, err := Finetune(filepath.Join(root, "a"), m, task, peft.NewSetup("a", trainingtest.Pfeiffer4()), o); err != nil {
		t.Fatal(err)
	}
	changed, err := Finetune(filepath.Join(root, "fusion"), m, task, s, fo)
	if err != nil {
		t.Fatal(err)
	}
	if changed.Loaded {
		t.Error("a retrained source adapter did not retrain the fusion")
	}
}
