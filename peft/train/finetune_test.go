package train

import (
	"math"
	"slices"
	"testing"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/internal/trainingtest"
)

func TestFinetuneDeterministic(t *testing.T) {
	m := trainingtest.SentimentModel(t)
	task := trainingtest.SentimentTask(64, 2)
	opt := Options{Steps: 8, BatchSize: 8, Seed: 5}
	s := func() *peft.Setup {
		return peft.NewSetup("mam", &peft.MAM{Prefix: &peft.PrefixTuning{PrefixLength: 2, BottleneckSize: 8, NonLinearity: "tanh"}, FFN: func() *peft.Bottleneck { b := peft.ParallelAdapter(); b.Masks = peft.DefaultMasks(); return b }()})
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

func samePoint(a, b Point) bool {
	eq := func(x, y float64) bool { return x == y || math.IsNaN(x) && math.IsNaN(y) }
	return a.Step == b.Step && eq(a.Loss, b.Loss) && eq(a.TaskLoss, b.TaskLoss) && eq(a.LR, b.LR) && eq(a.DevAcc, b.DevAcc) && eq(a.DevMSE, b.DevMSE)
}

func TestFinetuneRegression(t *testing.T) {
	m := trainingtest.SentimentModel(t)
	task := trainingtest.SentimentTask(64, 3)
	trainingtest.Regression(task)
	r, err := Finetune(m, task, peft.NewSetup("a", peft.Pfeiffer()), Options{Steps: 30, BatchSize: 8})
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

// A 30-step LoRA regression run, merged: predictions equal the unmerged
// ones, and the finished run's own predictions do not move (before, its
// cached graph applied the update a second time on merged weights).
func TestMergeLoRAOnFinishedRun(t *testing.T) {
	m := trainingtest.SentimentModel(t)
	task := trainingtest.Regression(trainingtest.SentimentTask(64, 3))
	l := peft.DefaultLoRA()
	l.TargetModules = []string{"all-linear"}
	r, err := Finetune(m, task, peft.NewSetup("lora", l), Options{Steps: 30, BatchSize: 8, LearningRate: 5e-3})
	if err != nil {
		t.Fatal(err)
	}
	texts := make([]string, len(task.Test))
	for i, e := range task.Test {
		texts[i] = e.Text
	}
	before, err := r.PredictValues(texts)
	if err != nil {
		t.Fatal(err)
	}
	mt, err := r.Tuned.MergeLoRA("lora")
	if err != nil {
		t.Fatal(err)
	}
	merged, err := r.With(mt).PredictValues(texts)
	if err != nil {
		t.Fatal(err)
	}
	after, err := r.PredictValues(texts)
	if err != nil {
		t.Fatal(err)
	}
	moved, spread := 0.0, 0.0
	for i := range before {
		moved = max(moved, abs(merged[i]-before[i]))
		spread = max(spread, abs(before[i]-before[0]))
		if after[i] != before[i] {
			t.Fatalf("the finished run's prediction %d moved from %v to %v after MergeLoRA", i, before[i], after[i])
		}
	}
	if moved > 1e-5 {
		t.Errorf("merged predictions differ from the unmerged ones by up to %g", moved)
	}
	if spread < 1e-3 {
		t.Errorf("predictions vary by only %g: the run learnt too little for the test to mean anything", spread)
	}
}

func abs(x float64) float64 { return max(x, -x) }

// Run.PruneMasks returns a pruned run; the original run predicts as before.
func TestRunPruneMasksLeavesRun(t *testing.T) {
	m := trainingtest.SentimentModel(t)
	task := trainingtest.SentimentTask(64, 4)
	b := peft.Pfeiffer()
	b.ReductionFactor, b.Masks = 2, peft.DefaultMasks()
	r, err := Finetune(m, task, peft.NewSetup("m", b), Options{Steps: 20, BatchSize: 8, LearningRate: 5e-3, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{"this movie was good", "the plot was bad", "a film", "so very good"}
	logits := func(r *Run) []float32 {
		t.Helper()
		out, err := r.outputs(r.encode(textExamples(texts)))
		if err != nil {
			t.Fatal(err)
		}
		var flat []float32
		for _, o := range out {
			flat = append(flat, o...)
		}
		return flat
	}
	before := logits(r)
	pruned, rep, err := r.PruneMasks("m", 1)
	if err != nil {
		t.Fatal(err)
	}
	if rep.AccuracyBefore != r.Metrics["test_accuracy"] || math.IsNaN(rep.AccuracyAfter) {
		t.Errorf("report %+v: accuracy before should be the run's test accuracy %v", rep, r.Metrics["test_accuracy"])
	}
	if !slices.Equal(before, logits(r)) {
		t.Error("pruning changed the original run's outputs")
	}
	if slices.Equal(before, logits(pruned)) {
		t.Error("the pruned run computes what the original does")
	}
	if kept, _ := peft.MasksKept(r.Tuned, "m"); kept != 0 {
		t.Errorf("the original's masks keep %d", kept)
	}
}
