package train

import (
	"fmt"
	"slices"

	"github.com/gopeft/gopeft/peft"
)

// Distill trains the run's model as a student of a finished run, with
// Hinton et al.'s loss (peft.Distillation). The teacher may be any
// classification run on the same labels: full fine-tuning or PEFT, on any
// model; it sees each training text through its own tokenizer and length
// cap. Its logits are computed once per training example, with its
// inference graph (no dropout), the first time a batch draws the example.
//
// The usual student is a smaller encoder made from the teacher's layers:
//
//	student, _ := teacher.Tuned.Student(peft.SpreadLayers(4, 2)) // layers 0 and 2
//	run, _ := train.Finetune(student, task, setup, train.Options{Distill: &train.Distill{Teacher: teacher}})
type Distill struct {
	Teacher     *Run    `json:"-"`
	Temperature float64 `json:"temperature"` // T (default 2)
	Alpha       float64 `json:"alpha"`       // soft-term weight (default 0.5; negative means 0: labels only)
}

// Default distillation settings: T = 2 and an even mix of soft and hard
// targets, common choices for BERT students (DistilBERT trains with T = 2).
const (
	DefaultTemperature = 2
	DefaultAlpha       = 0.5
)

// Loss is the resolved peft.Distillation.
func (d Distill) Loss() peft.Distillation {
	l := peft.Distillation{Temperature: d.Temperature, Alpha: d.Alpha}
	if l.Temperature == 0 {
		l.Temperature = DefaultTemperature
	}
	switch {
	case l.Alpha == 0:
		l.Alpha = DefaultAlpha
	case l.Alpha < 0:
		l.Alpha = 0
	}
	return l
}

// validate checks that the teacher can teach the student on task.
func (d *Distill) validate(r *Run) error {
	te := d.Teacher
	if te == nil || te.Tuned == nil {
		return fmt.Errorf("distillation needs a teacher: set Distill.Teacher to a finished run (train.Finetune or runstore.Finetune)")
	}
	if te.Tuned.Head.Regression || r.Tuned.Head.Regression {
		return fmt.Errorf("distillation is for classification: the teacher or the student has a regression head")
	}
	if te.Tuned.Head.Outputs != r.Tuned.Head.Outputs {
		return fmt.Errorf("teacher has %d classes, the student %d: distil from a teacher trained on the same task", te.Tuned.Head.Outputs, r.Tuned.Head.Outputs)
	}
	if te.Task != nil && len(te.Task.Labels) > 0 && !slices.Equal(te.Task.Labels, r.Task.Labels) {
		return fmt.Errorf("teacher's labels %v differ from the task's %v: distil from a teacher trained on task %q", te.Task.Labels, r.Task.Labels, r.Task.Name)
	}
	return d.Loss().Validate()
}

// teacherCache holds the teacher's logits per training example.
type teacherCache struct {
	d      *Distill
	texts  []string
	logits [][]float32
}

func (r *Run) startDistill() (*teacherCache, error) {
	d := r.Options.Distill
	if d == nil {
		return nil, nil
	}
	if err := d.validate(r); err != nil {
		return nil, err
	}
	texts := make([]string, len(r.Task.Train))
	for i, e := range r.Task.Train {
		texts[i] = e.Text
	}
	return &teacherCache{d: d, texts: texts, logits: make([][]float32, len(texts))}, nil
}

// of returns the teacher's logits for training examples idx.
func (c *teacherCache) of(idx []int) ([][]float32, error) {
	var missing []int
	for _, i := range idx {
		if c.logits[i] == nil && !slices.Contains(missing, i) {
			missing = append(missing, i)
		}
	}
	if len(missing) > 0 {
		te := c.d.Teacher
		es := make([]string, len(missing))
		for j, i := range missing {
			es[j] = c.texts[i]
		}
		outs, err := te.outputs(te.encode(textExamples(es)))
		if err != nil {
			return nil, fmt.Errorf("teacher: %w", err)
		}
		for j, i := range missing {
			c.logits[i] = outs[j]
		}
	}
	out := make([][]float32, len(idx))
	for j, i := range idx {
		out[j] = c.logits[i]
	}
	return out, nil
}
