package peft

import (
	"math"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// The distillation loss of a 2-example, 3-class batch against the formula
// computed by hand in float64.
func TestDistillationLossMatchesHandComputed(t *testing.T) {
	student := [][]float64{{1.0, -0.5, 2.0}, {0.3, 0.1, -1.2}}
	teacher := [][]float64{{2.5, 0.0, 1.0}, {-0.4, 1.5, 0.2}}
	labels := []int32{2, 1}
	d := Distillation{Temperature: 2.5, Alpha: 0.7}

	softmax := func(z []float64, T float64) []float64 {
		p, sum := make([]float64, len(z)), 0.0
		for i, v := range z {
			p[i] = math.Exp(v / T)
			sum += p[i]
		}
		for i := range p {
			p[i] /= sum
		}
		return p
	}
	var kl, ce float64
	for i := range student {
		ps, pt := softmax(student[i], d.Temperature), softmax(teacher[i], d.Temperature)
		for c := range pt {
			kl += pt[c] * math.Log(pt[c]/ps[c])
		}
		ce -= math.Log(softmax(student[i], 1)[labels[i]])
	}
	kl, ce = kl/2, ce/2
	want := d.Alpha*d.Temperature*d.Temperature*kl + (1-d.Alpha)*ce

	b, err := Backend()
	if err != nil {
		t.Fatal(err)
	}
	f32 := func(rows [][]float64) *tensors.Tensor {
		var flat []float32
		for _, r := range rows {
			for _, v := range r {
				flat = append(flat, float32(v))
			}
		}
		return tensors.FromFlatDataAndDimensions(flat, len(rows), len(rows[0]))
	}
	out, err := graph.ExecOnceN(b, func(s, te, y *graph.Node) *graph.Node {
		total, k, c := DistillationLoss(s, te, y, d)
		return graph.Stack([]*graph.Node{total, k, c}, 0)
	}, f32(student), f32(teacher), tensors.FromValue(labels))
	if err != nil {
		t.Fatal(err)
	}
	got := flat(t, out[0])
	for i, w := range []float64{want, kl, ce} {
		if math.Abs(float64(got[i])-w) > 1e-5 {
			t.Errorf("term %d (total, kl, ce) = %.7f, hand-computed %.7f", i, got[i], w)
		}
	}
}

func TestDistillationValidate(t *testing.T) {
	for _, d := range []Distillation{{0, 0.5}, {-1, 0.5}, {2, -0.1}, {2, 1.5}, {math.NaN(), 0.5}} {
		if d.Validate() == nil {
			t.Errorf("%+v validated", d)
		}
	}
	if err := (Distillation{2, 0.5}).Validate(); err != nil {
		t.Error(err)
	}
}

func TestStudentCopiesChosenLayers(t *testing.T) {
	cfg := tinyConfig()
	cfg.NumLayers = 4
	m, err := NewModel(cfg, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := SpreadLayers(4, 2); got[0] != 0 || got[1] != 2 {
		t.Fatalf("SpreadLayers(4, 2) = %v, want every other layer [0 2]", got)
	}
	s, err := m.Student([]int{1, 3})
	if err != nil {
		t.Fatal(err)
	}
	if s.Config.NumLayers != 2 {
		t.Fatalf("student has %d layers", s.Config.NumLayers)
	}
	read := func(m *Model, name string) []float32 {
		w, err := canonicalValue(&Tuned{Model: m, Ctx: m.Ctx}, name)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	for _, c := range [][2]string{
		{"encoder.layer.0.attention.self.query.weight", "encoder.layer.1.attention.self.query.weight"},
		{"encoder.layer.1.output.dense.weight", "encoder.layer.3.output.dense.weight"},
		{"embeddings.word_embeddings.weight", "embeddings.word_embeddings.weight"},
	} {
		if d := maxAbsDiff(read(s, c[0]), read(m, c[1])); d != 0 {
			t.Errorf("student %s differs from teacher %s by %g", c[0], c[1], d)
		}
	}
	if _, err := m.Student([]int{2, 1}); err == nil {
		t.Error("decreasing layers accepted")
	}
	if _, err := m.Student([]int{4}); err == nil {
		t.Error("layer beyond the teacher accepted")
	}
	// The student trains with a teacher.
	tu, err := NewTuned(s, NewSetup("lora", DefaultLoRA()), ClassificationHead(2), 1)
	if err != nil {
		t.Fatal(err)
	}
	st := tu.NewStepper(0)
	teacher := [][]float32{{3, -3}, {-3, 3}}
	var first, last float64
	for i := range 30 {
		r, err := st.StepDistill(tinyBatch(), Labels{Classes: []int32{0, 1}}, teacher, Distillation{Temperature: 2, Alpha: 0.5}, 1e-2, 0)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = r.TaskLoss
		}
		last = r.TaskLoss
	}
	if !(last < first) {
		t.Errorf("distillation loss went from %g to %g", first, last)
	}
	if _, err := st.StepDistill(tinyBatch(), Labels{Classes: []int32{0, 1}}, [][]float32{{1, 2, 3}, {1, 2, 3}}, Distillation{2, 0.5}, 1e-2, 0); err == nil {
		t.Error("teacher with 3 classes accepted for a 2-class student")
	}
}
