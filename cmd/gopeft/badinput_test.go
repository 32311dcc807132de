package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadFlagsAndNames: out-of-range flags and unknown names are refused
// with an error naming the flag or name and the fix, before any work.
func TestBadFlagsAndNames(t *testing.T) {
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ft := func(extra ...string) []string {
		return append([]string{"finetune", "--model", tinyModelDir, "--task", tinyTaskFile, "--method", "lora"}, extra...)
	}
	for _, c := range []struct {
		name string
		args []string
		code int
		want []string // the problem, then the fix
	}{
		{"negative steps", ft("--steps", "-5"), 2, []string{"--steps -5", "must be greater than 0"}},
		{"zero batch", ft("--batch", "0"), 2, []string{"--batch 0", "must be greater than 0"}},
		{"zero lr", ft("--lr", "0"), 2, []string{"--lr 0", "leave a flag out for its default"}},
		{"negative max-len", ft("--max-len", "-1"), 2, []string{"--max-len -1", "must be greater than 0"}},
		{"unknown method", []string{"finetune", "--model", tinyModelDir, "--task", tinyTaskFile, "--method", "nope"}, 2, []string{`unknown method "nope"`, "lora"}},
		{"unknown task", []string{"finetune", "--model", tinyModelDir, "--task", "nope", "--method", "lora"}, 1, []string{`unknown task "nope"`, "built-in tasks: spam"}},
		{"no model", []string{"finetune", "--model", filepath.Join(t.TempDir(), "nomodel"), "--task", tinyTaskFile, "--method", "lora"}, 1, []string{"has no config.json", "as save_pretrained writes them"}},
		{"unwritable run dir", ft("--steps", "2", "--save", filepath.Join(notDir, "run")), 1, []string{"cannot keep a run", "pick another run directory"}},
		{"estimate dtype", []string{"estimate", "--model", tinyModelDir, "--method", "lora", "--dtype-bytes", "3"}, 2, []string{"--dtype-bytes 3", "use 4 (float32) or 2 (bfloat16)"}},
		{"estimate seq-len", []string{"estimate", "--model", tinyModelDir, "--method", "lora", "--seq-len", "0"}, 2, []string{"--seq-len 0", "must be greater than 0"}},
		{"estimate batch sizes", []string{"estimate", "--model", tinyModelDir, "--method", "lora", "--batch-sizes", "8,x"}, 2, []string{`batch size "x"`, "use e.g. --batch-sizes 8,16,32"}},
		{"pretrain batch", []string{"pretrain", "--batch", "0", "--out", filepath.Join(t.TempDir(), "m")}, 2, []string{"--batch 0", "must be greater than 0"}},
		{"pretrain seq-len", []string{"pretrain", "--seq-len", "5", "--out", filepath.Join(t.TempDir(), "m")}, 2, []string{"--seq-len 5", "must be at least 10"}},
		{"data show n", []string{"data", "show", tinyTaskFile, "-n", "-1"}, 2, []string{"-n -1", "must not be negative"}},
		{"data show split", []string{"data", "show", tinyTaskFile, "--split", "val"}, 2, []string{`not "val"`, "must be train, dev or test"}},
	} {
		_, errOut, code := gopeft(t, c.args...)
		if code != c.code {
			t.Errorf("%s: exit %d, want %d; stderr: %s", c.name, code, c.code, errOut)
		}
		for _, w := range c.want {
			if !strings.Contains(errOut, w) {
				t.Errorf("%s: stderr lacks %q: %s", c.name, w, errOut)
			}
		}
	}
}
