package train

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/data"
	"github.com/gopeft/gopeft/peft/internal/trainingtest"
)

// TestFinetuneBadInput: an empty dataset, labels out of range and a loss
// that blows up are refused (or stop training) with an error naming the
// problem and the fix.
func TestFinetuneBadInput(t *testing.T) {
	m := trainingtest.SentimentModel(t)
	task := func(edit func(*data.Task)) *data.Task {
		tk := trainingtest.SentimentTask(32, 3)
		edit(tk)
		return tk
	}
	for _, c := range []struct {
		name string
		task *data.Task
		want []string // the problem, then the fix
	}{
		{"empty dataset", task(func(tk *data.Task) { tk.Train = nil }), []string{"has no training examples", "give Train at least one example"}},
		{"label too large", task(func(tk *data.Task) { tk.Train[5].Label = 2 }), []string{"training example 5 has label 2, outside 0..1", "list every class there"}},
		{"negative label", task(func(tk *data.Task) { tk.Test[0].Label = -1 }), []string{"test example 0 has label -1", "list every class there"}},
		{"one label", task(func(tk *data.Task) { tk.Labels = tk.Labels[:1] }), []string{"has 1 labels", "needs at least 2"}},
	} {
		_, err := Finetune(m, c.task, peft.NewSetup("a", trainingtest.Pfeiffer4()), Options{Steps: 2, BatchSize: 4, Seed: 1})
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", c.name, err, w)
			}
		}
	}

	// A rate that makes the loss overflow stops training at the step it
	// happens, says which, and suggests the fix.
	var steps []int
	_, err := Finetune(m, trainingtest.SentimentTask(32, 3), peft.NewSetup("a", trainingtest.Pfeiffer4()),
		Options{Steps: 20, BatchSize: 4, Seed: 1, LearningRate: 1e30, WarmupFraction: -1, Progress: func(p Progress) { steps = append(steps, p.Step) }})
	if err == nil {
		t.Fatal("a learning rate of 1e30 trained without complaint")
	}
	stopped := len(steps) + 1
	for _, w := range []string{fmt.Sprintf("step %d of 20: the loss is", stopped), "training stopped", "lower the learning rate"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("blown-up loss: error %q lacks %q (progress reached step %d)", err, w, len(steps))
		}
	}
}
