package train

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/internal/trainingtest"
)

// Early stopping restores the best step's weights: its outputs equal those
// of the same run halted at that step (Control.StopAt).
func TestEarlyStoppingRestoresBestStep(t *testing.T) {
	m := trainingtest.SentimentModel(t)
	task := trainingtest.SentimentTask(200, 4)
	base := Options{Steps: 200, BatchSize: 8, LearningRate: 1e-2, Seed: 3, EvalEvery: 8}
	setup := func() *peft.Setup { return peft.NewSetup("pfeiffer", trainingtest.Pfeiffer4()) }
	opt := base
	// MinDelta 0.05 on 30 dev examples: only a gain of 2+ examples counts, so
	// a plateau stops the run.
	opt.Control = Control{Patience: 3}
	es, err := Finetune(m, task, setup(), opt)
	if err != nil {
		t.Fatal(err)
	}
	rep := es.Control
	t.Logf("control report %+v, curve %d points", rep, len(es.Curve))
	if rep.StoppedAt == 0 || rep.StoppedAt >= base.Steps {
		t.Fatalf("early stopping did not stop the run before step %d: %+v", base.Steps, rep)
	}
	if len(es.Curve) != rep.StoppedAt || rep.StepsTrained != rep.StoppedAt {
		t.Errorf("curve %d points, %d steps trained; want both %d", len(es.Curve), rep.StepsTrained, rep.StoppedAt)
	}
	if rep.BestStep <= 0 || rep.BestStep >= rep.StoppedAt || rep.BestStep%base.EvalEvery != 0 || !rep.RestoredBest {
		t.Fatalf("best step %d: want an evaluated step before %d", rep.BestStep, rep.StoppedAt)
	}
	if got := es.Curve[rep.BestStep-1].DevAcc; got != rep.BestDev {
		t.Errorf("best dev %v, curve at step %d says %v", rep.BestDev, rep.BestStep, got)
	}

	opt = base
	opt.Control = Control{StopAt: rep.BestStep}
	halted, err := Finetune(m, task, setup(), opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(halted.Curve) != rep.BestStep || halted.Control.StoppedAt != rep.BestStep {
		t.Fatalf("StopAt %d trained %d steps (%+v)", rep.BestStep, len(halted.Curve), halted.Control)
	}
	a, err := es.outputs(es.encode(task.Test))
	if err != nil {
		t.Fatal(err)
	}
	b, err := halted.outputs(halted.encode(task.Test))
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if !slices.Equal(a[i], b[i]) {
			t.Fatalf("test example %d: early-stopped outputs %v, run halted at step %d %v", i, a[i], rep.BestStep, b[i])
		}
	}
	for _, k := range []string{"dev_accuracy", "test_accuracy", "test_macro_f1"} {
		if es.Metrics[k] != halted.Metrics[k] {
			t.Errorf("%s: early-stopped %v, halted %v", k, es.Metrics[k], halted.Metrics[k])
		}
	}

	// KeepLast stops at the same step and keeps its weights.
	opt = base
	opt.Control = Control{Patience: 3, KeepLast: true}
	last, err := Finetune(m, task, setup(), opt)
	if err != nil {
		t.Fatal(err)
	}
	if r := last.Control; r.StoppedAt != rep.StoppedAt || r.BestStep != rep.BestStep || r.RestoredBest {
		t.Errorf("KeepLast: %+v, want stopped at %d, best %d, not restored", r, rep.StoppedAt, rep.BestStep)
	}
}

// With a checkpoint directory, a finished run leaves a final checkpoint: a
// re-run resumes at its end and trains zero steps, with the same results.
// A run halted by StopAt resumes in another configuration (StopAt is part
// of the key) from scratch, not from the halted checkpoint.
func TestCheckpointRerunTrainsZeroSteps(t *testing.T) {
	m := trainingtest.SentimentModel(t)
	task := trainingtest.SentimentTask(100, 5)
	dir := t.TempDir()
	var logs []string
	opt := Options{Steps: 20, BatchSize: 8, LearningRate: 3e-3, Seed: 2, EvalEvery: 5,
		Control: Control{CheckpointDir: dir}, Log: func(s string) { logs = append(logs, s) }}
	setup := func() *peft.Setup { return peft.NewSetup("lora", peft.DefaultLoRA()) }
	first, err := Finetune(m, task, setup(), opt)
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "step-00000020" {
		t.Fatalf("checkpoint directory holds %v, want only step-00000020", entries)
	}
	steps := 0
	opt.Progress = func(p Progress) {
		if !p.Done {
			steps++
		}
	}
	again, err := Finetune(m, task, setup(), opt)
	if err != nil {
		t.Fatal(err)
	}
	if steps != 0 || again.Control.StepsTrained != 0 || again.Control.ResumedFrom != 20 {
		t.Errorf("re-run trained %d steps (%+v), want 0 resumed from 20", steps, again.Control)
	}
	if !slices.EqualFunc(first.Curve, again.Curve, samePoint) {
		t.Error("re-run's curve differs")
	}
	for k, v := range first.Metrics {
		if again.Metrics[k] != v {
			t.Errorf("%s: first %v, re-run %v", k, v, again.Metrics[k])
		}
	}
	if !strings.Contains(strings.Join(logs, "\n"), "resuming from the checkpoint at step 20") {
		t.Errorf("no resume message in %q", logs)
	}

	// Another setup, or another seed, ignores the checkpoint and says why.
	logs = nil
	ia3, err := Finetune(m, task, peft.NewSetup("lora", peft.DefaultIA3()), opt)
	if err != nil {
		t.Fatal(err)
	}
	if ia3.Control.ResumedFrom != 0 || !strings.Contains(strings.Join(logs, "\n"), "another configuration") {
		t.Errorf("another setup under the same name resumed (%+v; %q)", ia3.Control, logs)
	}
	logs = nil
	opt.Seed = 9
	other, err := Finetune(m, task, setup(), opt)
	if err != nil {
		t.Fatal(err)
	}
	if other.Control.ResumedFrom != 0 || other.Control.StepsTrained != 20 {
		t.Errorf("another seed resumed: %+v", other.Control)
	}
	if !strings.Contains(strings.Join(logs, "\n"), "another configuration") {
		t.Errorf("no message about the ignored checkpoint in %q", logs)
	}
	if _, err := os.Stat(filepath.Join(dir, "step-00000020", stateFile)); err != nil {
		t.Errorf("the new run's final checkpoint is missing: %v", err)
	}
}

func TestControlValidation(t *testing.T) {
	m := trainingtest.SentimentModel(t)
	task := trainingtest.SentimentTask(40, 1)
	for _, c := range []struct {
		opt  Options
		want string
	}{
		{Options{Steps: 10, EvalEvery: -1, Control: Control{Patience: 2}}, "set EvalEvery > 0"},
		{Options{Steps: 10, Control: Control{Patience: 2, Metric: "mse"}}, "accuracy, macro_f1"},
		{Options{Steps: 10, Control: Control{StopAt: 11}}, "outside 1..Steps"},
		{Options{Steps: 10, Control: Control{Patience: -1}}, "negative"},
	} {
		_, err := Finetune(m, task, nil, c.opt)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err %v, want it to say %q", c.opt.Control, err, c.want)
		}
	}
}

func TestSamplerStateRoundTrip(t *testing.T) {
	a := newSampler(7, 11)
	a.take(10) // into the second epoch
	st, err := a.state()
	if err != nil {
		t.Fatal(err)
	}
	want := a.take(20)
	wantDepth := a.rng.IntN(100)
	b := newSampler(7, 99)
	if err := b.restore(st); err != nil {
		t.Fatal(err)
	}
	if got := b.take(20); !slices.Equal(got, want) {
		t.Errorf("restored sampler drew %v, want %v", got, want)
	}
	if got := b.rng.IntN(100); got != wantDepth {
		t.Errorf("restored rng drew %d, want %d", got, wantDepth)
	}
	if err := newSampler(8, 1).restore(st); err == nil {
		t.Error("restoring a 7-example state into an 8-example sampler did not fail")
	}
}

// keepStream's sources resume where the checkpoint left them.
func TestCheckpointKeepsStreams(t *testing.T) {
	m := trainingtest.SentimentModel(t)
	task := trainingtest.SentimentTask(40, 1)
	dir := t.TempDir()
	r := &Run{Task: task, Options: Options{Steps: 4, Seed: 1, Control: Control{CheckpointDir: dir}}.Resolved(m, task)}
	tuned, err := peft.NewTuned(m, nil, *r.Options.Head, 1)
	if err != nil {
		t.Fatal(err)
	}
	r.Tuned = tuned
	src := rand.NewPCG(1, 2)
	k := newControl(r, newSampler(len(task.Train), 1))
	k.keepStream("augment", src)
	rand.New(src).Uint64()
	r.Curve = make([]Point, 2)
	for i := range r.Curve {
		r.Curve[i].Step = i + 1
	}
	if err := k.save(2, 0); err != nil {
		t.Fatal(err)
	}
	want := rand.New(src).Uint64()

	again := rand.NewPCG(9, 9)
	k2 := newControl(&Run{Task: task, Tuned: tuned, Options: r.Options}, newSampler(len(task.Train), 1))
	k2.keepStream("augment", again)
	if err := k2.resume(); err != nil || k2.from != 2 {
		t.Fatalf("resume: from %d, %v", k2.from, err)
	}
	if got := rand.New(again).Uint64(); got != want {
		t.Errorf("restored stream drew %d, want %d", got, want)
	}
}
