package runstore

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopeft/gopeft/internal/disktest"
	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/internal/trainingtest"
	"github.com/gopeft/gopeft/peft/train"
)

// A run trained on another backend is reused with a message saying so, or
// trained again when Options.Store asks.
func TestRunFromOtherBackend(t *testing.T) {
	m := trainingtest.SentimentModel(t)
	task := trainingtest.SentimentTask(40, 1)
	dir := filepath.Join(t.TempDir(), "run")
	var log []string
	opt := train.Options{Steps: 3, BatchSize: 4, Seed: 1, Log: func(s string) { log = append(log, s) }}
	setup := func() *peft.Setup { return peft.NewSetup("a", trainingtest.Pfeiffer4()) }
	if _, err := Finetune(dir, m, task, setup(), opt); err != nil {
		t.Fatal(err)
	}
	var rf map[string]any
	raw, err := os.ReadFile(filepath.Join(dir, RunFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &rf); err != nil {
		t.Fatal(err)
	}
	if rf["backend"] != peft.BackendChoice().Display() || rf["versions"].(map[string]any)["gopeft"] != peft.Version {
		t.Fatalf("run.json records backend %v, versions %v; want %s and GoPEFT %s", rf["backend"], rf["versions"], peft.BackendChoice().Display(), peft.Version)
	}
	rf["backend"] = "xla:cuda (/opt/jax_plugins/xla_cuda_plugin.so)"
	raw, _ = json.Marshal(rf)
	if err := os.WriteFile(filepath.Join(dir, RunFile), raw, 0o644); err != nil {
		t.Fatal(err)
	}

	log = nil
	r, err := Finetune(dir, m, task, setup(), opt)
	if err != nil {
		t.Fatal(err)
	}
	said := strings.Join(log, "\n")
	if !r.Loaded || r.Backend != "xla:cuda" {
		t.Errorf("Loaded %v, Backend %q: want the stored xla:cuda run reused", r.Loaded, r.Backend)
	}
	for _, w := range []string{"trained on backend xla:cuda", "not this " + peft.BackendChoice().Name, "Options.Store.RetrainOnOtherBackend"} {
		if !strings.Contains(said, w) {
			t.Errorf("log %q lacks %q", said, w)
		}
	}

	log = nil
	opt.Store.RetrainOnOtherBackend = true
	r, err = Finetune(dir, m, task, setup(), opt)
	if err != nil {
		t.Fatal(err)
	}
	if said := strings.Join(log, "\n"); r.Loaded || !strings.Contains(said, "training again on "+peft.BackendChoice().Name) {
		t.Errorf("with RetrainOnOtherBackend: Loaded %v, log %q", r.Loaded, said)
	}
	if r.Backend != peft.BackendChoice().Name {
		t.Errorf("retrained run records backend %q", r.Backend)
	}
}

// A run directory that cannot be written is refused before training, and a
// disk that fills up while saving says so; nothing half-written is left.
func TestUnwritableRunDir(t *testing.T) {
	m := trainingtest.SentimentModel(t)
	task := trainingtest.SentimentTask(40, 1)
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	try := func(dir string) (error, int) {
		steps := 0
		opt := train.Options{Steps: 3, BatchSize: 4, Seed: 1, Progress: func(train.Progress) { steps++ }}
		_, err := Finetune(dir, m, task, peft.NewSetup("a", trainingtest.Pfeiffer4()), opt)
		return err, steps
	}
	check := func(name string, err error, want ...string) {
		if err == nil {
			t.Errorf("%s: accepted", name)
			return
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", name, err, w)
			}
		}
	}
	err, steps := try(filepath.Join(notDir, "runs", "a"))
	check("parent is a file", err, "cannot keep a run in", "not a directory", "pick another run directory")
	if steps != 0 {
		t.Errorf("parent is a file: trained %d steps before refusing", steps)
	}

	t.Run("read-only disk", func(t *testing.T) {
		ro := disktest.Mount(t, "1m", true)
		err, steps := try(filepath.Join(ro, "run"))
		check("read-only", err, "read-only file system", "not writable", "pick another run directory")
		if steps != 0 {
			t.Errorf("read-only: trained %d steps before refusing", steps)
		}
	})
	t.Run("full disk", func(t *testing.T) {
		full := disktest.Mount(t, "64k", false)
		disktest.Fill(t, full)
		err, _ := try(filepath.Join(full, "run"))
		check("full", err, "no space left on device", "the disk is full; free some space")
		es, _ := os.ReadDir(full)
		if len(es) != 1 {
			t.Errorf("a failed run left %d entries, want only the filler", len(es))
		}
	})
}
