package hf

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gopeft/gopeft/peft/safetensors"
)

const (
	vocab, hidden, inter, maxPos, layers = 50, 8, 16, 20, 2
)

// Configs as transformers writes them (only the keys that matter here).
var configs = map[string]string{
	"bert": `{"architectures":["BertForMaskedLM"],"model_type":"bert","vocab_size":50,"hidden_size":8,
		"num_hidden_layers":2,"num_attention_heads":2,"intermediate_size":16,"hidden_act":"gelu",
		"max_position_embeddings":20,"type_vocab_size":2,"layer_norm_eps":1e-12,"pad_token_id":0,
		"hidden_dropout_prob":0.1,"attention_probs_dropout_prob":0.1,"initializer_range":0.02,
		"position_embedding_type":"absolute","transformers_version":"4.40.0","use_cache":true}`,
	"roberta": `{"architectures":["RobertaModel"],"model_type":"roberta","vocab_size":50,"hidden_size":8,
		"num_hidden_layers":2,"num_attention_heads":2,"intermediate_size":16,"hidden_act":"gelu",
		"max_position_embeddings":22,"type_vocab_size":1,"layer_norm_eps":1e-5,"pad_token_id":1,
		"bos_token_id":0,"eos_token_id":2}`,
	"distilbert": `{"architectures":["DistilBertModel"],"model_type":"distilbert","vocab_size":50,"dim":8,
		"n_layers":2,"n_heads":2,"hidden_dim":16,"activation":"gelu","max_position_embeddings":20,
		"dropout":0.1,"attention_dropout":0.1,"pad_token_id":0,"sinusoidal_pos_embds":false}`,
}

// hfTensors lists a checkpoint's tensors by their names in transformers,
// written out independently of names.go.
func hfTensors(family string) map[string][]int {
	m := map[string][]int{}
	switch family {
	case "bert", "roberta":
		p := family + "."
		pos, types := maxPos, 2
		if family == "roberta" {
			pos, types = maxPos+2, 1
			p = "" // saved from RobertaModel: no prefix
		}
		m[p+"embeddings.word_embeddings.weight"] = []int{vocab, hidden}
		m[p+"embeddings.position_embeddings.weight"] = []int{pos, hidden}
		m[p+"embeddings.token_type_embeddings.weight"] = []int{types, hidden}
		m[p+"embeddings.LayerNorm.weight"] = []int{hidden}
		m[p+"embeddings.LayerNorm.bias"] = []int{hidden}
		m[p+"embeddings.position_ids"] = []int{1, pos}
		for l := 0; l < layers; l++ {
			q := fmt.Sprintf("%sencoder.layer.%d.", p, l)
			for _, s := range []string{"attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"} {
				m[q+s+".weight"] = []int{hidden, hidden}
				m[q+s+".bias"] = []int{hidden}
			}
			m[q+"intermediate.dense.weight"] = []int{inter, hidden}
			m[q+"intermediate.dense.bias"] = []int{inter}
			m[q+"output.dense.weight"] = []int{hidden, inter}
			m[q+"output.dense.bias"] = []int{hidden}
			for _, s := range []string{"attention.output.LayerNorm", "output.LayerNorm"} {
				m[q+s+".weight"] = []int{hidden}
				m[q+s+".bias"] = []int{hidden}
			}
		}
		if family == "bert" { // BertForMaskedLM head, no pooler
			m["cls.predictions.bias"] = []int{vocab}
			m["cls.predictions.transform.dense.weight"] = []int{hidden, hidden}
			m["cls.predictions.transform.dense.bias"] = []int{hidden}
			m["cls.predictions.transform.LayerNorm.weight"] = []int{hidden}
			m["cls.predictions.transform.LayerNorm.bias"] = []int{hidden}
		} else {
			m["pooler.dense.weight"] = []int{hidden, hidden}
			m["pooler.dense.bias"] = []int{hidden}
		}
	case "distilbert":
		m["embeddings.word_embeddings.weight"] = []int{vocab, hidden}
		m["embeddings.position_embeddings.weight"] = []int{maxPos, hidden}
		m["embeddings.LayerNorm.weight"] = []int{hidden}
		m["embeddings.LayerNorm.bias"] = []int{hidden}
		for l := 0; l < layers; l++ {
			q := fmt.Sprintf("transformer.layer.%d.", l)
			for _, s := range []string{"attention.q_lin", "attention.k_lin", "attention.v_lin", "attention.out_lin"} {
				m[q+s+".weight"] = []int{hidden, hidden}
				m[q+s+".bias"] = []int{hidden}
			}
			m[q+"ffn.lin1.weight"] = []int{inter, hidden}
			m[q+"ffn.lin1.bias"] = []int{inter}
			m[q+"ffn.lin2.weight"] = []int{hidden, inter}
			m[q+"ffn.lin2.bias"] = []int{hidden}
			for _, s := range []string{"sa_layer_norm", "output_layer_norm"} {
				m[q+s+".weight"] = []int{hidden}
				m[q+s+".bias"] = []int{hidden}
			}
		}
	}
	return m
}

func synth(shapes map[string][]int) map[string]safetensors.Tensor {
	out := map[string]safetensors.Tensor{}
	k := 0
	for name, s := range shapes {
		n := 1
		for _, d := range s {
			n *= d
		}
		if strings.HasSuffix(name, "position_ids") {
			out[name] = safetensors.FromInt64(s, make([]int64, n))
			continue
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(k) + float32(i)/1000
		}
		k++
		out[name] = safetensors.FromFloat32(s, v)
	}
	return out
}

func writeCheckpoint(t *testing.T, family string, tensors map[string]safetensors.Tensor) string {
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "config.json"), []byte(configs[family]), 0o644))
	must(t, safetensors.Write(filepath.Join(dir, "model.safetensors"), &safetensors.File{Metadata: map[string]string{"format": "pt"}, Tensors: tensors}))
	must(t, os.WriteFile(filepath.Join(dir, "vocab.txt"), []byte("[PAD]\n"), 0o644))
	return dir
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestLoadAllFamilies(t *testing.T) {
	for _, fam := range []string{"bert", "roberta", "distilbert"} {
		t.Run(fam, func(t *testing.T) {
			src := synth(hfTensors(fam))
			md, err := LoadDir(writeCheckpoint(t, fam, src))
			must(t, err)
			c := md.Config
			if c.HiddenSize != hidden || c.NumLayers != layers || c.NumHeads != 2 || c.IntermediateSize != inter || c.HeadDim() != 4 {
				t.Fatalf("config %+v", c)
			}
			want := ExpectedShapes(c)
			if len(md.Weights) != len(want) {
				t.Errorf("%d canonical weights, want %d", len(md.Weights), len(want))
			}
			switch fam {
			case "bert":
				if c.HasPooler || !c.HasTokenTypes || c.PositionOffset != 0 || len(md.Extra) != 6 {
					t.Errorf("bert: pooler=%v types=%v offset=%d extra=%v", c.HasPooler, c.HasTokenTypes, c.PositionOffset, md.Extra)
				}
				// Canonical tensor carries the data of the prefixed HF one.
				if !reflect.DeepEqual(md.Weights["encoder.layer.1.output.dense.weight"], src["bert.encoder.layer.1.output.dense.weight"]) {
					t.Error("bert: data not carried over")
				}
			case "roberta":
				if !c.HasPooler || c.PositionOffset != 2 || c.PadTokenID != 1 || c.TypeVocabSize != 1 || c.LayerNormEps != 1e-5 {
					t.Errorf("roberta config %+v", c)
				}
			case "distilbert":
				if c.HasPooler || c.HasTokenTypes || c.LayerNormEps != 1e-12 || len(md.Extra) != 0 {
					t.Errorf("distilbert config %+v extra %v", c, md.Extra)
				}
				if !reflect.DeepEqual(md.Weights["encoder.layer.0.attention.output.LayerNorm.bias"], src["transformer.layer.0.sa_layer_norm.bias"]) {
					t.Error("distilbert: sa_layer_norm not mapped")
				}
			}
			if filepath.Base(md.TokenizerPath) != "vocab.txt" {
				t.Errorf("tokenizer %q", md.TokenizerPath)
			}

			// Write back through WriteDir and reload: same weights and config.
			out := filepath.Join(t.TempDir(), "out")
			must(t, WriteDir(out, md.Config, md.Weights, md.Extra, &WriteOptions{TokenizerFile: md.TokenizerPath}))
			md2, err := LoadDir(out)
			must(t, err)
			if !reflect.DeepEqual(md2.Weights, md.Weights) || !reflect.DeepEqual(md2.Extra, md.Extra) {
				t.Error("WriteDir/LoadDir round trip changed tensors")
			}
			md.Config.Architectures, md2.Config.Architectures = nil, nil
			delete(md2.Config.Extra, "qa_dropout")
			delete(md2.Config.Extra, "seq_classif_dropout")
			delete(md2.Config.Extra, "tie_weights_")
			if len(md2.Config.Extra) == 0 {
				md2.Config.Extra = nil
			}
			if !reflect.DeepEqual(md2.Config, md.Config) {
				t.Errorf("config changed:\n%+v\n%+v", md.Config, md2.Config)
			}
		})
	}
}

func TestNameMapping(t *testing.T) {
	cases := []struct{ mt, hf, canon string }{
		{"bert", "bert.encoder.layer.3.attention.self.query.weight", "encoder.layer.3.attention.self.query.weight"},
		{"bert", "encoder.layer.3.attention.self.query.weight", "encoder.layer.3.attention.self.query.weight"},
		{"bert", "bert.embeddings.LayerNorm.gamma", "embeddings.LayerNorm.weight"},
		{"bert", "bert.encoder.layer.0.output.LayerNorm.beta", "encoder.layer.0.output.LayerNorm.bias"},
		{"bert", "bert.pooler.dense.bias", "pooler.dense.bias"},
		{"roberta", "roberta.embeddings.token_type_embeddings.weight", "embeddings.token_type_embeddings.weight"},
		{"distilbert", "distilbert.transformer.layer.5.attention.out_lin.weight", "encoder.layer.5.attention.output.dense.weight"},
		{"distilbert", "transformer.layer.0.ffn.lin1.bias", "encoder.layer.0.intermediate.dense.bias"},
		{"distilbert", "transformer.layer.0.output_layer_norm.weight", "encoder.layer.0.output.LayerNorm.weight"},
		{"distilbert", "embeddings.position_embeddings.weight", "embeddings.position_embeddings.weight"},
	}
	for _, c := range cases {
		got, ok := CanonicalName(c.mt, c.hf)
		if !ok || got != c.canon {
			t.Errorf("CanonicalName(%s, %s) = %q, %v; want %q", c.mt, c.hf, got, ok, c.canon)
		}
		back := HFName(c.mt, got)
		again, ok := CanonicalName(c.mt, back)
		if !ok || again != got {
			t.Errorf("HFName(%s, %s) = %q does not map back", c.mt, got, back)
		}
	}
	for _, c := range []struct{ mt, hf string }{
		{"bert", "cls.predictions.bias"},
		{"bert", "bert.embeddings.position_ids"},
		{"bert", "classifier.weight"},
		{"bert", "bert.encoder.layer.x.output.dense.weight"},
		{"bert", "bert.encoder.layer.01.output.dense.weight"},
		{"roberta", "lm_head.dense.weight"},
		{"distilbert", "vocab_projector.bias"},
		{"distilbert", "encoder.layer.0.output.dense.weight"},
		{"gpt2", "h.0.attn.c_attn.weight"},
	} {
		if got, ok := CanonicalName(c.mt, c.hf); ok {
			t.Errorf("CanonicalName(%s, %s) = %q, want not ok", c.mt, c.hf, got)
		}
	}
	if HFName("bert", "encoder.layer.0.output.dense.bias") != "bert.encoder.layer.0.output.dense.bias" ||
		HFName("distilbert", "encoder.layer.2.attention.self.key.weight") != "distilbert.transformer.layer.2.attention.k_lin.weight" ||
		HFName("roberta", "embeddings.LayerNorm.bias") != "roberta.embeddings.LayerNorm.bias" {
		t.Error("HFName prefixes")
	}
}

func TestLoadErrors(t *testing.T) {
	src := synth(hfTensors("bert"))
	delete(src, "bert.encoder.layer.1.attention.self.key.bias")
	src["bert.encoder.layer.0.intermediate.dense.weight"] = safetensors.FromFloat32([]int{hidden, inter}, make([]float32, hidden*inter))
	src["bert.encoder.layer.2.output.dense.bias"] = safetensors.FromFloat32([]int{hidden}, make([]float32, hidden))
	_, err := LoadDir(writeCheckpoint(t, "bert", src))
	if err == nil {
		t.Fatal("accepted bad weights")
	}
	for _, want := range []string{
		"missing encoder.layer.1.attention.self.key.bias (expected shape [8])",
		"encoder.layer.0.intermediate.dense.weight has shape [8 16], expected [16 8]",
		"unexpected encoder.layer.2.output.dense.bias",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}

	// Both prefixed and bare copies of a tensor.
	src = synth(hfTensors("bert"))
	src["embeddings.LayerNorm.bias"] = src["bert.embeddings.LayerNorm.bias"]
	if _, err := LoadDir(writeCheckpoint(t, "bert", src)); err == nil || !strings.Contains(err.Error(), "both map to") {
		t.Errorf("duplicate: %v", err)
	}

	// pytorch_model.bin only.
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "config.json"), []byte(configs["bert"]), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "pytorch_model.bin"), []byte("x"), 0o644))
	if _, err := LoadDir(dir); err == nil || !strings.Contains(err.Error(), "safe_serialization=True") {
		t.Errorf("pytorch_model.bin: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct{ edit, want string }{
		{`"num_attention_heads":2`, "not divisible by the number of heads"},
		{`"hidden_act":"gelu"`, `unsupported activation "swish"`},
		{`"model_type":"bert"`, `unsupported model_type "gpt2"`},
		{`"hidden_size":8`, "hidden_size must be an integer"},
	} {
		repl := map[string]string{
			`"num_attention_heads":2`: `"num_attention_heads":3`,
			`"hidden_act":"gelu"`:     `"hidden_act":"swish"`,
			`"model_type":"bert"`:     `"model_type":"gpt2"`,
			`"hidden_size":8`:         `"hidden_size":"8"`,
		}[c.edit]
		_, err := ParseConfig([]byte(strings.Replace(configs["bert"], c.edit, repl, 1)))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", repl, err, c.want)
		}
	}
	if _, err := ParseConfig([]byte(`{"vocab_size":3}`)); err == nil || !strings.Contains(err.Error(), "no model_type") {
		t.Errorf("missing model_type: %v", err)
	}
}

func TestConfigWriteKeys(t *testing.T) {
	for fam, keys := range map[string][]string{
		"bert": {"model_type", "architectures", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
			"hidden_act", "max_position_embeddings", "type_vocab_size", "layer_norm_eps", "vocab_size", "pad_token_id",
			"hidden_dropout_prob", "attention_probs_dropout_prob", "initializer_range", "transformers_version", "use_cache"},
		"roberta":    {"model_type", "bos_token_id", "eos_token_id", "pad_token_id", "type_vocab_size"},
		"distilbert": {"model_type", "dim", "n_layers", "n_heads", "hidden_dim", "activation", "max_position_embeddings", "sinusoidal_pos_embds", "dropout", "attention_dropout"},
	} {
		c, err := ParseConfig([]byte(configs[fam]))
		must(t, err)
		data, err := c.Marshal()
		must(t, err)
		var m map[string]any
		must(t, json.Unmarshal(data, &m))
		for _, k := range keys {
			if _, ok := m[k]; !ok {
				t.Errorf("%s: written config lacks %s:\n%s", fam, k, data)
			}
		}
		if fam == "distilbert" {
			if _, ok := m["hidden_size"]; ok {
				t.Error("distilbert config must not use BERT key names")
			}
		}
	}
}

func TestShardedIndex(t *testing.T) {
	src := synth(hfTensors("distilbert"))
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "config.json"), []byte(configs["distilbert"]), 0o644))
	a, b := map[string]safetensors.Tensor{}, map[string]safetensors.Tensor{}
	wm := map[string]string{}
	for name, tt := range src {
		if strings.Contains(name, "layer.1") {
			b[name], wm[name] = tt, "model-00002-of-00002.safetensors"
		} else {
			a[name], wm[name] = tt, "model-00001-of-00002.safetensors"
		}
	}
	must(t, safetensors.Write(filepath.Join(dir, "model-00001-of-00002.safetensors"), &safetensors.File{Tensors: a}))
	must(t, safetensors.Write(filepath.Join(dir, "model-00002-of-00002.safetensors"), &safetensors.File{Tensors: b}))
	idx, _ := json.Marshal(map[string]any{"metadata": map[string]any{"total_size": 0}, "weight_map": wm})
	must(t, os.WriteFile(filepath.Join(dir, "model.safetensors.index.json"), idx, 0o644))
	md, err := LoadDir(dir)
	must(t, err)
	if len(md.Weights) != len(src) || md.TokenizerPath != "" {
		t.Fatalf("%d weights, tokenizer %q", len(md.Weights), md.TokenizerPath)
	}
}

func TestWriteDirRefusesBadInput(t *testing.T) {
	c, err := ParseConfig([]byte(configs["bert"]))
	must(t, err)
	md := map[string]safetensors.Tensor{}
	for name, tt := range synth(hfTensors("bert")) {
		if canon, ok := CanonicalName("bert", name); ok {
			md[canon] = tt
		}
	}
	c.HasPooler = false
	dir := filepath.Join(t.TempDir(), "m")
	delete(md, "embeddings.LayerNorm.bias")
	if err := WriteDir(dir, c, md, nil, nil); err == nil || !strings.Contains(err.Error(), "missing embeddings.LayerNorm.bias") {
		t.Errorf("WriteDir: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Error("WriteDir created a directory for rejected input")
	}
}

// TestReferenceDirs loads the directories scripts/hf/make_reference.py writes
// with transformers. Set GOPEFT_HF_REFERENCE=OUTDIR to run it (e.g. after
// copying OUTDIR back from the GPU machine).
func TestReferenceDirs(t *testing.T) {
	root := os.Getenv("GOPEFT_HF_REFERENCE")
	if root == "" {
		t.Skip("GOPEFT_HF_REFERENCE not set")
	}
	for _, fam := range []string{"bert", "roberta", "distilbert"} {
		md, err := LoadDir(filepath.Join(root, fam))
		if err != nil {
			t.Errorf("%s: %v", fam, err)
			continue
		}
		ref, err := safetensors.Read(filepath.Join(root, fam, "reference.safetensors"))
		if err != nil {
			t.Errorf("%s: %v", fam, err)
			continue
		}
		lh := ref.Tensors["last_hidden_state"]
		if len(lh.Shape) != 3 || lh.Shape[2] != md.Config.HiddenSize {
			t.Errorf("%s: last_hidden_state shape %v", fam, lh.Shape)
		}
		_, hasPool := ref.Tensors["pooler_output"]
		if hasPool != md.Config.HasPooler {
			t.Errorf("%s: pooler_output present=%v but HasPooler=%v", fam, hasPool, md.Config.HasPooler)
		}
		t.Logf("%s: %d weights, extra %v, notes %v", fam, len(md.Weights), sortedKeys(md.Extra), md.Notes)
	}
}

// The shipped-model path: a config built in code, canonical weights and an
// MLM head written with WriteDir in BF16, then loaded back.
func TestWriteWithMLMHead(t *testing.T) {
	for _, fam := range []string{"bert", "roberta", "distilbert"} {
		c, err := DefaultConfig(fam)
		must(t, err)
		c.VocabSize, c.HiddenSize, c.NumLayers, c.NumHeads, c.IntermediateSize, c.MaxPositions = 30, 8, 1, 2, 12, 16
		if fam == "roberta" {
			c.MaxPositions += c.PositionOffset
		}
		c.HasPooler = false
		must(t, c.Validate())
		w := synth(ExpectedShapes(c))
		head := synth(MLMHeadShapes(c))
		dir := filepath.Join(t.TempDir(), fam)
		must(t, WriteDir(dir, c, w, head, &WriteOptions{DType: "BF16", Files: map[string][]byte{"README.md": []byte("# tiny\n")}}))
		md, err := LoadDir(dir)
		must(t, err)
		if !reflect.DeepEqual(sortedKeys(md.Extra), sortedKeys(head)) {
			t.Errorf("%s: extra %v, want %v", fam, sortedKeys(md.Extra), sortedKeys(head))
		}
		if md.Config.Architectures[0] != defaultArchitecture(fam) {
			t.Errorf("%s: architectures %v", fam, md.Config.Architectures)
		}
		g, err := md.GoMLXWeights("F32")
		must(t, err)
		x := g["embeddings.LayerNorm.bias"]
		if x.Shape().Dimensions[0] != 8 || x.DType().String() != "Float32" {
			t.Errorf("%s: GoMLX tensor %v", fam, x.Shape())
		}
		want, _ := w["embeddings.word_embeddings.weight"].Float32s()
		got, _ := md.Weights["embeddings.word_embeddings.weight"].Float32s()
		for i := range want {
			if d := want[i] - got[i]; d > want[i]/128+1e-6 || -d > want[i]/128+1e-6 {
				t.Fatalf("%s: bf16 value %g for %g", fam, got[i], want[i])
			}
		}
		h, err := safetensors.ReadHeader(filepath.Join(dir, "model.safetensors"))
		must(t, err)
		prefix := map[string]string{"bert": "bert.", "roberta": "roberta.", "distilbert": "distilbert."}[fam]
		if _, ok := h.Tensors[prefix+"embeddings.word_embeddings.weight"]; !ok || h.Metadata["format"] != "pt" {
			t.Errorf("%s: header names %v metadata %v", fam, h.Names, h.Metadata)
		}
		if _, err := os.Stat(filepath.Join(dir, "README.md")); err != nil {
			t.Error(err)
		}
	}
}
