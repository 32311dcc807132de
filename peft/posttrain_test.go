package peft

import (
	"path/filepath"
	"testing"

	"github.com/gopeft/gopeft/peft/data"
)

// A 30-step LoRA regression run, merged: predictions equal the unmerged
// ones, and the finished run's own predictions do not move (before, its
// cached graph applied the update a second time on merged weights).
func TestMergeLoRAOnFinishedRun(t *testing.T) {
	m := sentimentModel(t)
	task := sentimentTask(64, 3)
	task.Regression, task.Labels = true, nil
	for _, split := range [][]data.Example{task.Train, task.Dev, task.Test} {
		for i := range split {
			split[i].Value = float64(2*split[i].Label - 1)
		}
	}
	l := DefaultLoRA()
	l.TargetModules = []string{"all-linear"}
	r, err := Finetune(m, task, NewSetup("lora", l), Options{Steps: 30, BatchSize: 8, LearningRate: 5e-3, Quiet: true})
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

// Every post-training change returns a new Tuned with a new version and
// leaves the original's outputs exactly as they were.
func TestPostTrainingChangesLeaveOriginal(t *testing.T) {
	m := tinyModel(t)
	lora := DefaultLoRA()
	lora.InitWeights = "false"
	saved := newTunedOne(t, m, "extra", Pfeiffer())
	trainFew(t, saved, 2)
	dir := t.TempDir()
	if err := SaveAdapter(saved, "extra", filepath.Join(dir, "extra")); err != nil {
		t.Fatal(err)
	}
	if err := SaveHead(saved, dir, nil); err != nil {
		t.Fatal(err)
	}
	if err := SaveScope(saved, "/peft/extra", filepath.Join(dir, "scope.safetensors")); err != nil {
		t.Fatal(err)
	}
	fused := func() *Setup {
		s := (&Setup{}).Add("a", Pfeiffer()).Add("b", Pfeiffer()).Add("c", Pfeiffer())
		s.Active = Fuse("a", "b", "c")
		return s
	}
	mergedLoRA := func(tu *Tuned) *Tuned {
		mt, err := tu.MergeLoRA("l")
		if err != nil {
			t.Fatal(err)
		}
		return mt
	}
	for _, c := range []struct {
		name   string
		setup  *Setup
		prep   func(*Tuned) *Tuned
		change func(*Tuned) (*Tuned, error)
	}{
		{"MergeLoRA", NewSetup("l", lora), nil, func(tu *Tuned) (*Tuned, error) { return tu.MergeLoRA("l") }},
		{"UnmergeLoRA", NewSetup("l", lora), mergedLoRA, func(tu *Tuned) (*Tuned, error) { return tu.UnmergeLoRA("l") }},
		{"PruneMasks", NewSetup("m", withMasks(Pfeiffer())), nil, func(tu *Tuned) (*Tuned, error) {
			n, _, err := tu.PruneMasks("m", 1)
			return n, err
		}},
		{"PruneFusion", fused(), nil, func(tu *Tuned) (*Tuned, error) {
			n, _, err := tu.PruneFusion(nil, 1, tinyBatch())
			return n, err
		}},
		{"FlattenPrefix", NewSetup("p", tinyPrefix()), nil, func(tu *Tuned) (*Tuned, error) { return tu.FlattenPrefix("p") }},
		{"LoadAdapter new", NewSetup("a", Pfeiffer()), nil, func(tu *Tuned) (*Tuned, error) {
			n, _, err := tu.LoadAdapter(filepath.Join(dir, "extra"))
			return n, err
		}},
		{"LoadAdapter overwrite", NewSetup("extra", Pfeiffer()), nil, func(tu *Tuned) (*Tuned, error) {
			n, _, err := tu.LoadAdapter(filepath.Join(dir, "extra"))
			return n, err
		}},
		{"LoadHead", NewSetup("a", Pfeiffer()), nil, func(tu *Tuned) (*Tuned, error) { return tu.LoadHead(dir) }},
		{"LoadScope", NewSetup("extra", Pfeiffer()), nil, func(tu *Tuned) (*Tuned, error) {
			return tu.LoadScope("/peft/extra", filepath.Join(dir, "scope.safetensors"), false)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tu, err := NewTuned(m, c.setup, ClassificationHead(2), 3)
			if err != nil {
				t.Fatal(err)
			}
			trainFew(t, tu, 2)
			if c.prep != nil {
				tu = c.prep(tu)
			}
			before, err := tu.Logits(tinyBatch())
			if err != nil {
				t.Fatal(err)
			}
			setupJSON, _ := MarshalSetup(tu.Setup)
			n, err := c.change(tu)
			if err != nil {
				t.Fatal(err)
			}
			if n == tu || n.Version() == tu.Version() {
				t.Errorf("the change kept the Tuned (version %d -> %d)", tu.Version(), n.Version())
			}
			after, err := tu.Logits(tinyBatch())
			if err != nil {
				t.Fatal(err)
			}
			if d := maxAbsDiff(flat(t, before), flat(t, after)); d != 0 {
				t.Errorf("the original's logits moved by %g", d)
			}
			if js, _ := MarshalSetup(tu.Setup); string(js) != string(setupJSON) {
				t.Errorf("the original's setup changed:\n%s\n%s", setupJSON, js)
			}
			if _, err := n.Logits(tinyBatch()); err != nil {
				t.Errorf("the changed Tuned does not run: %v", err)
			}
		})
	}
}
