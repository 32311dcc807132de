package train

import (
	"os"
	"strings"
	"testing"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/data"
	"github.com/gopeft/gopeft/peft/internal/trainingtest"
)

// A one-layer student made from a trained two-layer teacher's lower layer
// learns the task from the teacher alone (Alpha 1: no labels).
func TestDistilledStudentLearnsFromTeacher(t *testing.T) {
	m := trainingtest.SentimentModel(t)
	task := trainingtest.SentimentTask(200, 4)
	teacher, err := Finetune(m, task, peft.NewSetup("houlsby", peft.Houlsby()), Options{Steps: 120, BatchSize: 16, LearningRate: 3e-3, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if teacher.Metrics["test_accuracy"] <= teacher.Baseline {
		t.Fatalf("teacher did not learn (%v): nothing to distil", teacher.Metrics)
	}
	student, err := teacher.Tuned.Student([]int{0})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Finetune(student, task, peft.NewSetup("lora", peft.DefaultLoRA()), Options{Steps: 120, BatchSize: 16, Seed: 1, LearningRate: 3e-3,
		Distill: &Distill{Teacher: teacher, Temperature: 2, Alpha: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Metrics["test_accuracy"] <= r.Baseline {
		t.Errorf("distilled student: test accuracy %v, majority baseline %v (teacher %v)", r.Metrics["test_accuracy"], r.Baseline, teacher.Metrics["test_accuracy"])
	}
	// Bad teachers are refused with the fix named.
	three := trainingtest.SentimentTask(32, 5)
	three.Labels = append(three.Labels, "neutral")
	for _, c := range []struct {
		d    *Distill
		task *data.Task
		want string
	}{
		{&Distill{}, task, "set Distill.Teacher"},
		{&Distill{Teacher: teacher, Temperature: -1}, task, "temperature"},
		{&Distill{Teacher: teacher}, three, "classes"},
	} {
		_, err := Finetune(student, c.task, nil, Options{Steps: 2, BatchSize: 4, Distill: c.d})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Distill %+v: error %v, want one naming %q", c.d, err, c.want)
		}
	}
}

// On spam with the shipped encoder, a two-layer Houlsby student (layers 0
// and 2) distilled from a four-layer Houlsby teacher beats the majority
// baseline. About two minutes on two cores: set GOPEFT_TEST_SPAM=1.
func TestDistilledStudentOnSpam(t *testing.T) {
	if os.Getenv("GOPEFT_TEST_SPAM") != "1" {
		t.Skip("set GOPEFT_TEST_SPAM=1 to train on spam with the shipped encoder (about a minute)")
	}
	m, err := peft.LoadModel("../../models/gopeft-small")
	if err != nil {
		t.Fatal(err)
	}
	task, err := data.Load("spam", data.Options{Seed: 1})
	if err != nil {
		t.Skipf("spam is not available (gopeft data fetch): %v", err)
	}
	opt := Options{Steps: 120, BatchSize: 16, MaxLen: 64, Seed: 1, LearningRate: 2e-3, EvalEvery: -1}
	teacher, err := Finetune(m, task, peft.NewSetup("houlsby", peft.Houlsby()), opt)
	if err != nil {
		t.Fatal(err)
	}
	student, err := teacher.Tuned.Student(peft.SpreadLayers(m.Config.NumLayers, 2))
	if err != nil {
		t.Fatal(err)
	}
	opt.Distill = &Distill{Teacher: teacher}
	r, err := Finetune(student, task, peft.NewSetup("houlsby", peft.Houlsby()), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("teacher %.4f, student %.4f, baseline %.4f", teacher.Metrics["test_accuracy"], r.Metrics["test_accuracy"], r.Baseline)
	if r.Metrics["test_accuracy"] <= r.Baseline {
		t.Errorf("distilled student: test accuracy %v, majority baseline %v", r.Metrics["test_accuracy"], r.Baseline)
	}
}
