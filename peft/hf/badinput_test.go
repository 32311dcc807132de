package hf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopeft/gopeft/peft/safetensors"
)

// TestBadModelDirErrors: every broken model directory a user can point
// LoadDir at is refused with an error naming the problem and the fix.
func TestBadModelDirErrors(t *testing.T) {
	edit := func(f func(map[string]safetensors.Tensor)) map[string]safetensors.Tensor {
		w := synth(hfTensors("bert"))
		f(w)
		return w
	}
	const match = "use the config.json saved with these weights"
	for _, c := range []struct {
		name   string
		config string // "" keeps the tiny BERT config
		remove string // a file to delete after writing
		trunc  bool   // cut model.safetensors short
		w      map[string]safetensors.Tensor
		want   []string // the problem, then the fix
	}{
		{name: "unknown architecture", config: strings.Replace(configs["bert"], `"model_type":"bert"`, `"model_type":"gpt2"`, 1),
			want: []string{`unsupported model_type "gpt2"`, "pick a checkpoint of one of those"}},
		{name: "config disagrees with shapes", config: strings.Replace(configs["bert"], `"intermediate_size":16`, `"intermediate_size":32`, 1),
			want: []string{"encoder.layer.0.intermediate.dense.weight has shape [16 8], expected [32 8]", match}},
		{name: "missing tensor", w: edit(func(w map[string]safetensors.Tensor) { delete(w, "bert.encoder.layer.1.output.dense.weight") }),
			want: []string{"missing encoder.layer.1.output.dense.weight (expected shape [8 16])", match}},
		{name: "integer weight", w: edit(func(w map[string]safetensors.Tensor) {
			w["bert.embeddings.word_embeddings.weight"] = safetensors.FromInt32([]int{vocab, hidden}, make([]int32, vocab*hidden))
		}), want: []string{"embeddings.word_embeddings.weight has dtype I32, but encoder weights are floating point", match}},
		{name: "truncated weights", trunc: true, want: []string{"model.safetensors", "download or save it again"}},
		{name: "no weights", remove: "model.safetensors", want: []string{"no model.safetensors", "written by save_pretrained"}},
		{name: "no config", remove: "config.json", want: []string{"has no config.json", "as save_pretrained writes them"}},
		{name: "config not json", config: `{"model_type": "bert",`, want: []string{"config.json is not valid JSON"}},
		{name: "config value", config: strings.Replace(configs["bert"], `"num_attention_heads":2`, `"num_attention_heads":3`, 1),
			want: []string{"not divisible by the number of heads 3", "pick heads dividing it"}},
	} {
		w := c.w
		if w == nil {
			w = synth(hfTensors("bert"))
		}
		dir := writeCheckpoint(t, "bert", w)
		if c.config != "" {
			must(t, os.WriteFile(filepath.Join(dir, "config.json"), []byte(c.config), 0o644))
		}
		if c.trunc {
			p := filepath.Join(dir, "model.safetensors")
			st, err := os.Stat(p)
			must(t, err)
			must(t, os.Truncate(p, st.Size()-10))
		}
		if c.remove != "" {
			must(t, os.Remove(filepath.Join(dir, c.remove)))
		}
		_, err := LoadDir(dir)
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		for _, want := range c.want {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q lacks %q", c.name, err, want)
			}
		}
	}
}
