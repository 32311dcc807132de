package runstore

import (
	"encoding/json"
	"os"
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

// A run that starts from another run's head is identified by that head's
// files, not by where the run store lies: a moved store keeps its runs, and
// a retrained head trains the run again.
func TestHeadFromIsIdentifiedByContent(t *testing.T) {
	m := trainingtest.SentimentModel(t)
	task := trainingtest.SentimentTask(64, 1)
	probeOpt := train.Options{Steps: 2, BatchSize: 4, Seed: 1, EvalEvery: -1}
	root := t.TempDir()
	probe, err := Finetune(filepath.Join(root, "a", "probe"), m, task, peft.NewSetup("head", &peft.HeadOnly{}), probeOpt)
	if err != nil {
		t.Fatal(err)
	}
	moved := filepath.Join(root, "b", "probe")
	if err := os.Rename(filepath.Dir(probe.Dir), filepath.Dir(moved)); err != nil {
		t.Fatal(err)
	}
	s := peft.NewSetup("full", &peft.FullFinetune{})
	config := func(headFrom string) (Config, error) {
		opt := train.Options{Steps: 3, BatchSize: 4, Seed: 1, EvalEvery: -1, Recipe: train.Recipe{HeadFrom: headFrom}}
		return NewConfig(m, task, s, opt.Resolved(m, task))
	}
	before, err := config(moved)
	if err != nil {
		t.Fatal(err)
	}
	copyDir := filepath.Join(root, "c", "probe")
	if err := os.MkdirAll(copyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{peft.HeadConfigFile, peft.HeadWeightsFile} {
		b, err := os.ReadFile(filepath.Join(moved, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(copyDir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	elsewhere, err := config(copyDir)
	if err != nil {
		t.Fatal(err)
	}
	if before.Hash != elsewhere.Hash {
		t.Error("the same head at another path changes the run's hash")
	}
	if elsewhere.Options.Recipe.HeadFrom != copyDir {
		t.Errorf("run.json should still name the head's directory, has %q", elsewhere.Options.Recipe.HeadFrom)
	}
	other, err := Finetune(filepath.Join(root, "d", "probe"), m, task, peft.NewSetup("head", &peft.HeadOnly{}), train.Options{Steps: 2, BatchSize: 4, Seed: 2, EvalEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	retrained, err := config(other.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if retrained.Hash == before.Hash {
		t.Error("a different head keeps the run's hash")
	}
	if _, err := config(filepath.Join(root, "missing")); err == nil || !strings.Contains(err.Error(), "Recipe.HeadFrom") {
		t.Errorf("a missing head: got %v, want an error naming Recipe.HeadFrom", err)
	}
}
