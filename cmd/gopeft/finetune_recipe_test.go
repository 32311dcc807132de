package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// Full fine-tuning with the recipe's flags trains, saves, and loads back.
func TestFinetuneRecipeFlags(t *testing.T) {
	save := filepath.Join(t.TempDir(), "run")
	args := []string{"finetune", "--model", tinyModelDir, "--task", tinyTaskFile, "--method", "full", "--steps", "4", "--batch", "4",
		"--freeze-layers", "1", "--layer-decay", "0.8", "--clip-norm", "1", "--schedule", "cosine", "--aug-mask", "0.1", "--save", save, "--json"}
	for i, wantLoaded := range []bool{false, true} {
		out, errOut, code := gopeft(t, args...)
		if code != 0 {
			t.Fatalf("run %d: exit %d: %s", i+1, code, errOut)
		}
		var res map[string]any
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		tr, total := res["trainable_params"].(float64), res["total_params"].(float64)
		if tr <= 0 || tr >= total {
			t.Errorf("run %d: trainable %v of %v", i+1, tr, total)
		}
		if res["loaded"] != wantLoaded {
			t.Errorf("run %d: loaded %v, want %v", i+1, res["loaded"], wantLoaded)
		}
		if rec, _ := res["recipe"].(map[string]any); rec["layer_decay"] != 0.8 || rec["schedule"] != "cosine" {
			t.Errorf("run %d: recipe %v", i+1, res["recipe"])
		}
	}
	out, errOut, code := gopeft(t, "finetune", "--model", tinyModelDir, "--task", tinyTaskFile, "--method", "houlsby+top2", "--steps", "2", "--batch", "4", "--json")
	if code != 0 || !strings.Contains(out, `"houlsby"`) || !strings.Contains(out, `"top2"`) {
		t.Errorf("houlsby+top2: exit %d: %s %s", code, out, errOut)
	}
}

func TestFinetuneRecipeFlagErrors(t *testing.T) {
	_, errOut, code := gopeft(t, "finetune", "--model", tinyModelDir, "--task", tinyTaskFile, "--method", "full",
		"--freeze-layers", "9", "--layer-decay", "-1", "--schedule", "step", "--aug-swap", "1.5")
	if code != 2 {
		t.Fatalf("exit %d, want 2: %s", code, errOut)
	}
	for _, want := range []string{"--freeze-layers 9: give 0..2", "--layer-decay -1", "--schedule \"step\": use linear or cosine", "--aug-swap 1.5"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("error lacks %q: %s", want, errOut)
		}
	}
	_, errOut, code = gopeft(t, "finetune", "--model", tinyModelDir, "--task", tinyTaskFile, "--method", "head", "--layer-decay", "0.9", "--steps", "1")
	if code == 0 || !strings.Contains(errOut, "trains nothing in a layer") {
		t.Errorf("layer decay on the head preset: exit %d: %s", code, errOut)
	}
}
