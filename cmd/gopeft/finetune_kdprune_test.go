package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// A teacher run, a 1-layer student distilled from it, and a pruned run
// through the CLI; bad flags name the fix.
func TestFinetuneDistillAndPruneFlags(t *testing.T) {
	base := []string{"finetune", "--model", tinyModelDir, "--task", tinyTaskFile, "--method", "lora", "--steps", "4", "--batch", "4", "--json"}
	teacher := filepath.Join(t.TempDir(), "teacher")
	if _, errOut, code := gopeft(t, append(base, "--save", teacher)...); code != 0 {
		t.Fatalf("teacher: exit %d: %s", code, errOut)
	}
	out, errOut, code := gopeft(t, append(base, "--distill-from", teacher, "--student-layers", "1", "--alpha", "0.7")...)
	if code != 0 {
		t.Fatalf("student: exit %d: %s", code, errOut)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = gopeft(t, append(base, "--prune-sparsity", "0.5", "--prune-every", "1")...)
	if code != 0 {
		t.Fatalf("pruned: exit %d: %s", code, errOut)
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if m, _ := res["metrics"].(map[string]any); m["sparsity"] != 0.5 || m["params_remaining"] == nil {
		t.Errorf("pruned run's metrics %v: want sparsity 0.5 and params_remaining", res["metrics"])
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--prune-sparsity", "1.5"}, "--prune-*: prune sparsity 1.5 is outside [0, 1)"},
		{[]string{"--prune-sparsity", "0.5", "--prune-granularity", "row"}, `use "global" or "layer"`},
		{[]string{"--distill-from", filepath.Join(t.TempDir(), "none")}, "--distill-from: no finished run"},
		{[]string{"--distill-from", teacher, "--student-layers", "0,x"}, "give teacher layer numbers"},
		{[]string{"--distill-from", teacher, "--student-layers", "5"}, "outside 0..1"},
		{[]string{"--distill-from", teacher, "--temperature", "-1"}, "temperature -1 must be positive"},
	} {
		_, errOut, code := gopeft(t, append(base, c.args...)...)
		if code == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, error %q; want one containing %q", c.args, code, errOut, c.want)
		}
	}
}
