package peft

import (
	"path/filepath"
	"testing"

	"github.com/gopeft/gopeft/internal/peftest"
	"github.com/gopeft/gopeft/peft/safetensors"
)

func hfReferenceDir(t *testing.T) string { t.Helper(); return peftest.HFReferenceDir(t) }

// TestForwardMatchesTransformers compares GoPEFT's encoder with Hugging Face
// transformers on BERT, RoBERTa and DistilBERT checkpoints that transformers
// wrote, with its outputs.
func TestForwardMatchesTransformers(t *testing.T) {
	root := hfReferenceDir(t)
	for _, family := range []string{"bert", "roberta", "distilbert"} {
		t.Run(family, func(t *testing.T) {
			dir := filepath.Join(root, family)
			m, err := LoadModel(dir)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := safetensors.Read(filepath.Join(dir, "reference.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			b := Batch{IDs: int32Rows(t, ref.Tensors["input_ids"]), Mask: int32Rows(t, ref.Tensors["attention_mask"])}
			if tt, ok := ref.Tensors["token_type_ids"]; ok {
				b.TypeIDs = int32Rows(t, tt)
			}
			hidden, pooled, err := m.Hidden(b)
			if err != nil {
				t.Fatal(err)
			}
			got := flat(t, hidden)
			want, err := ref.Tensors["last_hidden_state"].Float32s()
			if err != nil {
				t.Fatal(err)
			}
			// Padding positions are unspecified: compare real tokens only.
			d := hidden.Shape().Dim(-1)
			worst := 0.0
			for i, row := range b.Mask {
				for j, real := range row {
					if real == 0 {
						continue
					}
					off := (i*len(row) + j) * d
					worst = max(worst, maxAbsDiff(got[off:off+d], want[off:off+d]))
				}
			}
			t.Logf("%s: last_hidden_state max |GoPEFT - transformers| = %.3g", family, worst)
			if worst > 1e-4 {
				t.Errorf("%s: last hidden state differs from transformers by %g (> 1e-4)", family, worst)
			}
			if p, ok := ref.Tensors["pooler_output"]; ok && m.Config.HasPooler {
				wantP, _ := p.Float32s()
				dp := maxAbsDiff(flat(t, pooled), wantP)
				t.Logf("%s: pooler_output max |diff| = %.3g", family, dp)
				if dp > 1e-4 {
					t.Errorf("%s: pooled output differs by %g", family, dp)
				}
			}
		})
	}
}

func int32Rows(t *testing.T, st safetensors.Tensor) [][]int32 {
	t.Helper()
	v, err := st.Int64s()
	if err != nil {
		t.Fatal(err)
	}
	rows, cols := st.Shape[0], st.Shape[1]
	out := make([][]int32, rows)
	for i := range out {
		out[i] = make([]int32, cols)
		for j := range out[i] {
			out[i][j] = int32(v[i*cols+j])
		}
	}
	return out
}
