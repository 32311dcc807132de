package peft

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// referencePython is Debian's python3 with torch, which the CPU reference
// forward (peft/encoder/testdata/reference_forward.py) needs.
func referencePython(t *testing.T) string {
	t.Helper()
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import torch, numpy").Run(); err != nil {
		t.Skip("the reference forward needs /usr/bin/python3 with torch (Debian python3-torch; ./install.sh installs it)")
	}
	return py
}

// compareWithReference runs the independent PyTorch forward on dir and
// compares GoPEFT's hidden states (and pooled output) with it.
func compareWithReference(t *testing.T, py, dir string, b Batch) {
	t.Helper()
	m, err := LoadModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	in, _ := json.Marshal(map[string]any{"input_ids": b.IDs, "attention_mask": b.Mask})
	inPath := filepath.Join(t.TempDir(), "ids.json")
	if err := os.WriteFile(inPath, in, 0o644); err != nil {
		t.Fatal(err)
	}
	script, _ := filepath.Abs("encoder/testdata/reference_forward.py")
	out, err := exec.Command(py, script, dir, inPath).Output()
	if err != nil {
		t.Fatalf("reference forward: %v", err)
	}
	var ref struct {
		Hidden [][][]float32 `json:"last_hidden_state"`
		Pooled [][]float32   `json:"pooler_output"`
	}
	if err := json.Unmarshal(out, &ref); err != nil {
		t.Fatal(err)
	}
	hidden, pooled, err := m.Hidden(b)
	if err != nil {
		t.Fatal(err)
	}
	got := flat(t, hidden)
	var want []float32
	for i, row := range ref.Hidden {
		for j, tok := range row {
			if b.Mask[i][j] == 0 {
				tok = make([]float32, len(tok)) // padding positions are unspecified
				for k := range tok {
					got[(i*len(row)+j)*len(tok)+k] = 0
				}
			}
			want = append(want, tok...)
		}
	}
	if d := maxAbsDiff(got, want); d > 1e-4 {
		t.Errorf("%s: last hidden state differs from the PyTorch reference by %g (> 1e-4)", dir, d)
	} else {
		t.Logf("%s: last hidden state max |diff| %.2g", dir, d)
	}
	if ref.Pooled != nil {
		var wantP []float32
		for _, r := range ref.Pooled {
			wantP = append(wantP, r...)
		}
		if d := maxAbsDiff(flat(t, pooled), wantP); d > 1e-4 {
			t.Errorf("%s: pooled output differs by %g", dir, d)
		}
	}
}

func TestEncoderMatchesIndependentPyTorchForward(t *testing.T) {
	py := referencePython(t)
	for _, family := range []string{"bert", "roberta"} {
		cfg := tinyConfig()
		cfg.ModelType = family
		if family == "roberta" {
			cfg.PadTokenID, cfg.PositionOffset, cfg.TypeVocabSize, cfg.MaxPositions = 1, 2, 1, 34
		}
		m, err := NewModel(cfg, nil, 7)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(t.TempDir(), family)
		if err := m.Save(dir); err != nil {
			t.Fatal(err)
		}
		b := tinyBatch()
		if family == "roberta" { // RoBERTa pads with id 1
			for i := range b.IDs {
				for j := range b.IDs[i] {
					if b.Mask[i][j] == 0 {
						b.IDs[i][j] = 1
					}
				}
			}
		}
		compareWithReference(t, py, dir, b)
	}
}

func TestShippedModelMatchesIndependentPyTorchForward(t *testing.T) {
	py := referencePython(t)
	dir, _ := filepath.Abs("../models/gopeft-small")
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err != nil {
		t.Skip("models/gopeft-small is not there yet")
	}
	m, err := LoadModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{"Call me Ishmael.", "The state of the Union is strong, and our economy grows."}
	b := BatchFrom(m.Tokenizer.EncodeBatch(texts, 0))
	compareWithReference(t, py, dir, b)
}
