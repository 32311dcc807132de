package runstore

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/internal/trainingtest"
	"github.com/gopeft/gopeft/peft/train"
)

// The recipe is part of a run's identity; the zero recipe leaves the
// configuration JSON as it was before recipes existed. A fully fine-tuned
// run with frozen layers loads back with its weights and its counts.
func TestRecipeInConfigAndReload(t *testing.T) {
	m := trainingtest.SentimentModel(t)
	task := trainingtest.SentimentTask(64, 1)
	s := peft.NewSetup("full", &peft.FullFinetune{})
	opt := train.Options{Steps: 3, BatchSize: 4, Seed: 1, EvalEvery: -1}
	plain, err := NewConfig(m, task, s, opt.Resolved(m, task))
	if err != nil {
		t.Fatal(err)
	}
	opt.Recipe = train.Recipe{FreezeLayers: 1, LayerDecay: 0.8}
	withRecipe, err := NewConfig(m, task, s, opt.Resolved(m, task))
	if err != nil {
		t.Fatal(err)
	}
	if plain.Hash == withRecipe.Hash {
		t.Error("the recipe does not change the configuration hash")
	}
	if js := string(mustJSON(t, plain)); strings.Contains(js, "recipe") {
		t.Errorf("a zero recipe is written: %s", js)
	}
	dir := filepath.Join(t.TempDir(), "run")
	r, err := Finetune(dir, m, task, s, opt)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Finetune(dir, m, task, s, opt)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Loaded {
		t.Fatal("the finished run was trained again")
	}
	if a, b := r.Tuned.Counts(), back.Tuned.Counts(); a.Trainable != b.Trainable {
		t.Errorf("trainable %d after loading, %d when trained", b.Trainable, a.Trainable)
	}
	w := "/encoder/layer/1/output/dense/weight"
	if a, b := r.Tuned.Ctx.GetVariableByScopeAndName(filepath.Dir(w), filepath.Base(w)), back.Tuned.Ctx.GetVariableByScopeAndName(filepath.Dir(w), filepath.Base(w)); !a.MustValue().Equal(b.MustValue()) {
		t.Errorf("%s differs after loading the run", w)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
