package runstore

import (
	"path/filepath"
	"testing"

	"github.com/gopeft/gopeft/internal/peftest"
	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/internal/trainingtest"
	"github.com/gopeft/gopeft/peft/train"
)

// A pruned run keeps its masks: loaded back, it has the same zeros and the
// same outputs; a distilled run is keyed on its teacher; other pruning or
// another teacher trains anew.
func TestPrunedAndDistilledRunsReload(t *testing.T) {
	m := trainingtest.SentimentModel(t)
	task := trainingtest.SentimentTask(32, 4)
	task.Dev, task.Test = task.Dev[:8], task.Test[:8]
	root := t.TempDir()
	opt := train.Options{Steps: 4, BatchSize: 4, LearningRate: 1e-2, Seed: 3, Prune: &train.Pruning{Sparsity: 0.6, Every: 1, Updates: 2}}
	s := peft.NewSetup("a", trainingtest.Pfeiffer4())
	r, err := Finetune(filepath.Join(root, "pruned"), m, task, s, opt)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := Finetune(filepath.Join(root, "pruned"), m, task, s, opt)
	if err != nil {
		t.Fatal(err)
	}
	if !r2.Loaded {
		t.Fatal("the pruned run was retrained, not loaded")
	}
	if a, b := peft.Sparsity(r.Tuned), peft.Sparsity(r2.Tuned); a.Zeros == 0 || a.Zeros != b.Zeros {
		t.Errorf("loaded run has %d pruned weights, trained %d", b.Zeros, a.Zeros)
	}
	b := peft.Batch{IDs: peftest.TinyIDs(), Mask: peftest.TinyMask()}
	want, _ := r.Tuned.Logits(b)
	got, err := r2.Tuned.Logits(b)
	if err != nil {
		t.Fatal(err)
	}
	if d := peftest.MaxAbsDiff(peftest.Flat(t, got), peftest.Flat(t, want)); d > 1e-6 {
		t.Errorf("reloaded pruned run's logits differ by %g", d)
	}
	opt.Prune = &train.Pruning{Sparsity: 0.5, Every: 1, Updates: 2}
	if r3, err := Finetune(filepath.Join(root, "pruned"), m, task, s, opt); err != nil || r3.Loaded {
		t.Errorf("other sparsity: loaded %v, err %v; want a new run", r3 != nil && r3.Loaded, err)
	}

	student, err := r.Tuned.Student([]int{0})
	if err != nil {
		t.Fatal(err)
	}
	dopt := train.Options{Steps: 3, BatchSize: 4, LearningRate: 1e-2, Seed: 3, Distill: &train.Distill{Teacher: r2.Run}}
	if _, err := Finetune(filepath.Join(root, "student"), student, task, nil, dopt); err != nil {
		t.Fatal(err)
	}
	dopt.Distill = &train.Distill{Teacher: r.Run} // the same teacher, trained rather than loaded
	if s2, err := Finetune(filepath.Join(root, "student"), student, task, nil, dopt); err != nil || !s2.Loaded {
		t.Errorf("the same teacher: loaded %v, err %v", s2 != nil && s2.Loaded, err)
	}
	dopt.Distill = &train.Distill{Teacher: r.Run, Temperature: 4}
	if s3, err := Finetune(filepath.Join(root, "student"), student, task, nil, dopt); err != nil || s3.Loaded {
		t.Errorf("another temperature: loaded %v, err %v; want a new run", s3 != nil && s3.Loaded, err)
	}
}
