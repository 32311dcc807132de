package hf

import (
	"fmt"
	"strconv"
	"strings"
)

// Canonical names are Hugging Face BERT names without the "bert." prefix
// (docs/ARCHITECTURE.md, "Canonical weight names").

// layerSuffixes are the canonical tensors inside encoder.layer.N.
var layerSuffixes = []string{
	"attention.self.query.weight", "attention.self.query.bias",
	"attention.self.key.weight", "attention.self.key.bias",
	"attention.self.value.weight", "attention.self.value.bias",
	"attention.output.dense.weight", "attention.output.dense.bias",
	"attention.output.LayerNorm.weight", "attention.output.LayerNorm.bias",
	"intermediate.dense.weight", "intermediate.dense.bias",
	"output.dense.weight", "output.dense.bias",
	"output.LayerNorm.weight", "output.LayerNorm.bias",
}

var globalNames = map[string]bool{
	"embeddings.word_embeddings.weight":       true,
	"embeddings.position_embeddings.weight":   true,
	"embeddings.token_type_embeddings.weight": true,
	"embeddings.LayerNorm.weight":             true,
	"embeddings.LayerNorm.bias":               true,
	"pooler.dense.weight":                     true,
	"pooler.dense.bias":                       true,
}

// distilModules maps DistilBERT's per-layer modules onto BERT's.
var distilModules = [][2]string{
	{"attention.q_lin", "attention.self.query"},
	{"attention.k_lin", "attention.self.key"},
	{"attention.v_lin", "attention.self.value"},
	{"attention.out_lin", "attention.output.dense"},
	{"sa_layer_norm", "attention.output.LayerNorm"},
	{"ffn.lin1", "intermediate.dense"},
	{"ffn.lin2", "output.dense"},
	{"output_layer_norm", "output.LayerNorm"},
}

// splitLayer splits "<prefix>N.rest" into N and rest.
func splitLayer(name, prefix string) (int, string, bool) {
	if !strings.HasPrefix(name, prefix) {
		return 0, "", false
	}
	num, rest, ok := strings.Cut(name[len(prefix):], ".")
	if !ok {
		return 0, "", false
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 0 || strconv.Itoa(n) != num {
		return 0, "", false
	}
	return n, rest, true
}

// IsCanonical reports whether name is one of the canonical encoder tensors.
func IsCanonical(name string) bool {
	if globalNames[name] {
		return true
	}
	_, rest, ok := splitLayer(name, "encoder.layer.")
	if !ok {
		return false
	}
	for _, s := range layerSuffixes {
		if rest == s {
			return true
		}
	}
	return false
}

// CanonicalName maps a checkpoint tensor name of the given model type onto its
// canonical name. ok is false for tensors outside the encoder (task heads,
// MLM heads, position_ids buffers), which callers keep under their HF names.
// Both prefixed (BertForX: "bert.", "roberta.", "distilbert.") and bare
// (BertModel) names are accepted, as are old "gamma"/"beta" LayerNorm names.
func CanonicalName(modelType, hfName string) (string, bool) {
	fam, err := family(modelType)
	if err != nil {
		return "", false
	}
	name := hfName
	switch fam {
	case BERT:
		name = strings.TrimPrefix(name, "bert.")
	case RoBERTa:
		name = strings.TrimPrefix(name, "roberta.")
	case DistilBERT:
		name = strings.TrimPrefix(name, "distilbert.")
	}
	if strings.Contains(name, "LayerNorm.") || strings.Contains(name, "layer_norm.") {
		if base, ok := strings.CutSuffix(name, ".gamma"); ok {
			name = base + ".weight"
		} else if base, ok := strings.CutSuffix(name, ".beta"); ok {
			name = base + ".bias"
		}
	}
	if fam == DistilBERT {
		if strings.HasPrefix(name, "embeddings.token_type") || strings.HasPrefix(name, "pooler.") || strings.HasPrefix(name, "encoder.") {
			return "", false // not part of DistilBERT
		}
		if n, rest, ok := splitLayer(name, "transformer.layer."); ok {
			for _, m := range distilModules {
				if p, ok := strings.CutPrefix(rest, m[0]+"."); ok {
					name = fmt.Sprintf("encoder.layer.%d.%s.%s", n, m[1], p)
					break
				}
			}
		}
	}
	if !IsCanonical(name) {
		return "", false
	}
	return name, true
}

// HFName is the inverse of CanonicalName for writing checkpoints that
// transformers loads: BERT and RoBERTa names get the "bert."/"roberta."
// prefix used by BertForMaskedLM/RobertaForMaskedLM (transformers strips it
// when loading a bare BertModel), DistilBERT names get "distilbert." and its
// own module names. A name that is not canonical is returned unchanged.
func HFName(modelType, canonical string) string {
	fam, err := family(modelType)
	if err != nil || !IsCanonical(canonical) {
		return canonical
	}
	switch fam {
	case RoBERTa:
		return "roberta." + canonical
	case DistilBERT:
		if n, rest, ok := splitLayer(canonical, "encoder.layer."); ok {
			for _, m := range distilModules {
				if p, ok := strings.CutPrefix(rest, m[1]+"."); ok {
					return fmt.Sprintf("distilbert.transformer.layer.%d.%s.%s", n, m[0], p)
				}
			}
		}
		return "distilbert." + canonical
	}
	return "bert." + canonical
}

// ExpectedShapes lists every canonical tensor the config implies, with its
// shape. Linear weights are [out, in] as in PyTorch.
func ExpectedShapes(cfg Config) map[string][]int {
	h, i := cfg.HiddenSize, cfg.IntermediateSize
	m := map[string][]int{
		"embeddings.word_embeddings.weight":     {cfg.VocabSize, h},
		"embeddings.position_embeddings.weight": {cfg.MaxPositions, h},
		"embeddings.LayerNorm.weight":           {h},
		"embeddings.LayerNorm.bias":             {h},
	}
	if cfg.HasTokenTypes {
		m["embeddings.token_type_embeddings.weight"] = []int{cfg.TypeVocabSize, h}
	}
	if cfg.HasPooler {
		m["pooler.dense.weight"] = []int{h, h}
		m["pooler.dense.bias"] = []int{h}
	}
	for l := 0; l < cfg.NumLayers; l++ {
		for _, s := range layerSuffixes {
			var shape []int
			switch {
			case strings.HasPrefix(s, "intermediate.dense.weight"):
				shape = []int{i, h}
			case s == "intermediate.dense.bias":
				shape = []int{i}
			case s == "output.dense.weight":
				shape = []int{h, i}
			case strings.HasSuffix(s, ".weight") && !strings.Contains(s, "LayerNorm"):
				shape = []int{h, h}
			default:
				shape = []int{h}
			}
			m[fmt.Sprintf("encoder.layer.%d.%s", l, s)] = shape
		}
	}
	return m
}

// MLMHeadShapes lists the masked-language-model head of each family under
// the names transformers' *ForMaskedLM classes use, without the decoder
// weight, which is tied to the word embeddings (transformers re-ties it on
// load, and save_pretrained leaves it out too).
//
//	BERT:       cls.predictions.transform.{dense,LayerNorm}.*, cls.predictions.bias
//	RoBERTa:    lm_head.{dense,layer_norm}.*, lm_head.bias
//	DistilBERT: vocab_transform.*, vocab_layer_norm.*, vocab_projector.bias
func MLMHeadShapes(cfg Config) map[string][]int {
	h, v := []int{cfg.HiddenSize}, []int{cfg.VocabSize}
	hh := []int{cfg.HiddenSize, cfg.HiddenSize}
	switch cfg.Family() {
	case RoBERTa:
		return map[string][]int{
			"lm_head.dense.weight": hh, "lm_head.dense.bias": h,
			"lm_head.layer_norm.weight": h, "lm_head.layer_norm.bias": h,
			"lm_head.bias": v,
		}
	case DistilBERT:
		return map[string][]int{
			"vocab_transform.weight": hh, "vocab_transform.bias": h,
			"vocab_layer_norm.weight": h, "vocab_layer_norm.bias": h,
			"vocab_projector.bias": v,
		}
	}
	return map[string][]int{
		"cls.predictions.transform.dense.weight": hh, "cls.predictions.transform.dense.bias": h,
		"cls.predictions.transform.LayerNorm.weight": h, "cls.predictions.transform.LayerNorm.bias": h,
		"cls.predictions.bias": v,
	}
}
