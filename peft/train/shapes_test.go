package train

import (
	"testing"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/internal/trainingtest"
)

// On XLA every batch is padded to MaxLen and every evaluation chunk to
// maxEvalBatch rows (one compilation instead of one per shape). Padding is
// masked, so the predictions must not move beyond float rounding.
func TestFixedShapesPredictTheSame(t *testing.T) {
	m := trainingtest.SentimentModel(t)
	task := trainingtest.Regression(trainingtest.SentimentTask(70, 3))
	r, err := Finetune(m, task, peft.NewSetup("lora", peft.DefaultLoRA()), Options{Steps: 20, BatchSize: 8, LearningRate: 5e-3, MaxLen: 48})
	if err != nil {
		t.Fatal(err)
	}
	texts := make([]string, len(task.Test))
	for i, e := range task.Test {
		texts[i] = e.Text
	}
	bucketed, err := r.PredictValues(texts)
	if err != nil {
		t.Fatal(err)
	}
	short := len(r.batchOf(r.encode(task.Test[:1]), 1).IDs[0])
	defer func(f func() bool) { fixedShapes = f }(fixedShapes)
	fixedShapes = func() bool { return true }
	if n := len(r.batchOf(r.encode(task.Test[:1]), 1).IDs[0]); n != r.Options.MaxLen || n <= short {
		t.Fatalf("a fixed-shape batch is %d tokens long (bucketed %d), want MaxLen %d", n, short, r.Options.MaxLen)
	}
	fixed, err := r.PredictValues(texts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range bucketed {
		if d := abs(fixed[i] - bucketed[i]); d > 1e-5 {
			t.Fatalf("prediction %d: %v padded to one shape, %v bucketed (|diff| %g)", i, fixed[i], bucketed[i], d)
		}
	}
}
