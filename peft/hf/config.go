// Package hf reads and writes Hugging Face model directories for the BERT
// family (BERT, RoBERTa, DistilBERT): config.json normalised into one Config,
// safetensors weights mapped onto GoPEFT's canonical (BERT, no prefix) names,
// and the tokenizer file.
//
//	md, err := hf.LoadDir("models/gopeft-small") // config.json, model.safetensors, tokenizer
//	fmt.Println(md.Config.ModelType, md.Config.NumLayers, len(md.Weights))
package hf

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/gopeft/gopeft/internal/atomicfile"
)

// Families GoPEFT's encoder implements. Other model_type values that share an
// architecture are mapped onto these by family().
const (
	BERT       = "bert"
	RoBERTa    = "roberta"
	DistilBERT = "distilbert"
)

// SupportedActivations are the hidden_act/activation values the encoder
// implements: "gelu" is the exact (erf) GELU; "gelu_new" and
// "gelu_pytorch_tanh" are the tanh approximation.
var SupportedActivations = []string{"gelu", "gelu_new", "gelu_pytorch_tanh", "relu"}

// Config is a BERT-family config.json normalised to one shape.
type Config struct {
	ModelType        string   // "bert", "roberta", "distilbert" (or an alias such as "xlm-roberta")
	Architectures    []string // e.g. ["BertForMaskedLM"]; empty picks a default on Write
	VocabSize        int
	HiddenSize       int
	NumLayers        int
	NumHeads         int
	IntermediateSize int
	MaxPositions     int
	TypeVocabSize    int    // 0 for DistilBERT
	HiddenAct        string // see SupportedActivations
	LayerNormEps     float64
	PadTokenID       int
	BosTokenID       *int // RoBERTa only
	EosTokenID       *int // RoBERTa only
	// PositionOffset is added to position indices: RoBERTa numbers real tokens
	// from padding_idx+1 (= 2) and gives pad tokens position padding_idx;
	// BERT and DistilBERT count from 0.
	PositionOffset   int
	HasPooler        bool // BERT/RoBERTa; LoadDir clears it when the checkpoint has no pooler
	HasTokenTypes    bool // false for DistilBERT
	HiddenDropout    float64
	AttentionDropout float64
	InitializerRange float64
	// SinusoidalPositions is DistilBERT's sinusoidal_pos_embds: the position
	// table is fixed rather than learned (it is still stored in the weights).
	SinusoidalPositions bool
	// Extra keeps config.json keys not modelled above, written back unchanged.
	Extra map[string]any
}

// family maps a model_type onto the implemented family.
func family(modelType string) (string, error) {
	switch modelType {
	case BERT:
		return BERT, nil
	case RoBERTa, "xlm-roberta", "camembert":
		return RoBERTa, nil
	case DistilBERT:
		return DistilBERT, nil
	}
	return "", fmt.Errorf("unsupported model_type %q: GoPEFT loads bert, roberta (also xlm-roberta, camembert) and distilbert; pick a checkpoint of one of those", modelType)
}

// Family returns "bert", "roberta" or "distilbert" for the config's model type.
func (c Config) Family() string {
	f, _ := family(c.ModelType)
	return f
}

// Validate reports the first inconsistency with a hint at the fix.
func (c Config) Validate() error {
	fam, err := family(c.ModelType)
	if err != nil {
		return err
	}
	pos := map[string]int{"vocab size": c.VocabSize, "hidden size": c.HiddenSize, "number of layers": c.NumLayers,
		"number of heads": c.NumHeads, "intermediate size": c.IntermediateSize, "max positions": c.MaxPositions}
	for _, k := range []string{"vocab size", "hidden size", "number of layers", "number of heads", "intermediate size", "max positions"} {
		if pos[k] <= 0 {
			return fmt.Errorf("config: %s must be positive, got %d", k, pos[k])
		}
	}
	if c.HiddenSize%c.NumHeads != 0 {
		return fmt.Errorf("config: hidden size %d is not divisible by the number of heads %d; pick heads dividing it", c.HiddenSize, c.NumHeads)
	}
	ok := false
	for _, a := range SupportedActivations {
		ok = ok || a == c.HiddenAct
	}
	if !ok {
		return fmt.Errorf("config: unsupported activation %q; supported: %s", c.HiddenAct, strings.Join(SupportedActivations, ", "))
	}
	if c.LayerNormEps <= 0 {
		return fmt.Errorf("config: layer_norm_eps must be positive, got %g", c.LayerNormEps)
	}
	if c.PadTokenID < 0 || c.PadTokenID >= c.VocabSize {
		return fmt.Errorf("config: pad_token_id %d outside the vocabulary of %d", c.PadTokenID, c.VocabSize)
	}
	if c.HasTokenTypes && c.TypeVocabSize <= 0 {
		return fmt.Errorf("config: token types enabled but type_vocab_size is %d", c.TypeVocabSize)
	}
	if fam == DistilBERT && (c.HasTokenTypes || c.HasPooler) {
		return fmt.Errorf("config: DistilBERT has no token types and no pooler")
	}
	if fam == RoBERTa && c.MaxPositions <= c.PositionOffset {
		return fmt.Errorf("config: RoBERTa max_position_embeddings %d must exceed the position offset %d", c.MaxPositions, c.PositionOffset)
	}
	return nil
}

// HeadDim is HiddenSize / NumHeads.
func (c Config) HeadDim() int { return c.HiddenSize / c.NumHeads }

// ParseConfig decodes config.json bytes, filling missing keys with the
// defaults of the transformers config classes.
func ParseConfig(data []byte) (Config, error) {
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		return Config{}, fmt.Errorf("config.json is not valid JSON: %v", err)
	}
	mt, _ := raw["model_type"].(string)
	if mt == "" {
		return Config{}, fmt.Errorf("config.json has no model_type; add \"model_type\": \"bert\" (or roberta, distilbert)")
	}
	fam, err := family(mt)
	if err != nil {
		return Config{}, err
	}
	r := reader{raw: raw, used: map[string]bool{"model_type": true, "architectures": true}}
	c := Config{ModelType: mt}
	if a, ok := raw["architectures"].([]any); ok {
		for _, x := range a {
			if s, ok := x.(string); ok {
				c.Architectures = append(c.Architectures, s)
			}
		}
	}
	c.VocabSize = r.int("vocab_size", 30522)
	c.MaxPositions = r.int("max_position_embeddings", 512)
	c.InitializerRange = r.float("initializer_range", 0.02)
	if fam == DistilBERT {
		c.HiddenSize = r.int("dim", 768)
		c.NumLayers = r.int("n_layers", 6)
		c.NumHeads = r.int("n_heads", 12)
		c.IntermediateSize = r.int("hidden_dim", 3072)
		c.HiddenAct = r.str("activation", "gelu")
		c.HiddenDropout = r.float("dropout", 0.1)
		c.AttentionDropout = r.float("attention_dropout", 0.1)
		c.PadTokenID = r.int("pad_token_id", 0)
		c.SinusoidalPositions = r.bool("sinusoidal_pos_embds", false)
		c.LayerNormEps = 1e-12 // fixed in DistilBERT's modelling code
	} else {
		c.HiddenSize = r.int("hidden_size", 768)
		c.NumLayers = r.int("num_hidden_layers", 12)
		c.NumHeads = r.int("num_attention_heads", 12)
		c.IntermediateSize = r.int("intermediate_size", 3072)
		c.HiddenAct = r.str("hidden_act", "gelu")
		c.HiddenDropout = r.float("hidden_dropout_prob", 0.1)
		c.AttentionDropout = r.float("attention_probs_dropout_prob", 0.1)
		c.TypeVocabSize = r.int("type_vocab_size", 2)
		c.LayerNormEps = r.float("layer_norm_eps", 1e-12)
		c.HasPooler = true
		c.HasTokenTypes = c.TypeVocabSize > 0
		if pet := r.str("position_embedding_type", "absolute"); pet != "absolute" {
			r.err = fmt.Errorf("position_embedding_type %q is not supported; only \"absolute\"", pet)
		}
		if fam == RoBERTa {
			c.PadTokenID = r.int("pad_token_id", 1)
			b, e := r.int("bos_token_id", 0), r.int("eos_token_id", 2)
			c.BosTokenID, c.EosTokenID = &b, &e
			c.PositionOffset = c.PadTokenID + 1
		} else {
			c.PadTokenID = r.int("pad_token_id", 0)
		}
	}
	if r.err != nil {
		return Config{}, fmt.Errorf("config.json: %v", r.err)
	}
	for k, v := range raw {
		if !r.used[k] {
			if c.Extra == nil {
				c.Extra = map[string]any{}
			}
			c.Extra[k] = v
		}
	}
	return c, c.Validate()
}

// DefaultConfig returns the transformers defaults for a model type
// ("bert" gives bert-base-uncased's shape); edit the fields, then Validate.
func DefaultConfig(modelType string) (Config, error) {
	data, _ := json.Marshal(map[string]string{"model_type": modelType})
	return ParseConfig(data)
}

// ReadConfig reads and validates a config.json.
func ReadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	c, err := ParseConfig(data)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

type reader struct {
	raw  map[string]any
	used map[string]bool
	err  error
}

func (r *reader) get(k string) (any, bool) {
	r.used[k] = true
	v, ok := r.raw[k]
	return v, ok && v != nil
}

func (r *reader) int(k string, def int) int {
	v, ok := r.get(k)
	if !ok {
		return def
	}
	f, isNum := v.(float64)
	if !isNum || f != float64(int(f)) {
		r.setErr(fmt.Errorf("%s must be an integer, got %v", k, v))
		return def
	}
	return int(f)
}

func (r *reader) float(k string, def float64) float64 {
	v, ok := r.get(k)
	if !ok {
		return def
	}
	f, isNum := v.(float64)
	if !isNum {
		r.setErr(fmt.Errorf("%s must be a number, got %v", k, v))
		return def
	}
	return f
}

func (r *reader) str(k, def string) string {
	v, ok := r.get(k)
	if !ok {
		return def
	}
	s, isStr := v.(string)
	if !isStr {
		r.setErr(fmt.Errorf("%s must be a string, got %v", k, v))
		return def
	}
	return s
}

func (r *reader) bool(k string, def bool) bool {
	v, ok := r.get(k)
	if !ok {
		return def
	}
	b, isBool := v.(bool)
	if !isBool {
		r.setErr(fmt.Errorf("%s must be true or false, got %v", k, v))
		return def
	}
	return b
}

func (r *reader) setErr(err error) {
	if r.err == nil {
		r.err = err
	}
}

// defaultArchitecture is what Write records when Architectures is empty.
func defaultArchitecture(fam string) string {
	switch fam {
	case RoBERTa:
		return "RobertaForMaskedLM"
	case DistilBERT:
		return "DistilBertForMaskedLM"
	}
	return "BertForMaskedLM"
}

// Map returns the config.json content as transformers writes it for the
// family: the standard keys plus Extra (which never overrides them).
func (c Config) Map() (map[string]any, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	fam := c.Family()
	arch := c.Architectures
	if len(arch) == 0 {
		arch = []string{defaultArchitecture(fam)}
	}
	m := map[string]any{}
	for k, v := range c.Extra {
		m[k] = v
	}
	std := map[string]any{
		"model_type":              c.ModelType,
		"architectures":           arch,
		"vocab_size":              c.VocabSize,
		"max_position_embeddings": c.MaxPositions,
		"initializer_range":       c.InitializerRange,
		"pad_token_id":            c.PadTokenID,
	}
	if fam == DistilBERT {
		for k, v := range map[string]any{
			"dim": c.HiddenSize, "n_layers": c.NumLayers, "n_heads": c.NumHeads,
			"hidden_dim": c.IntermediateSize, "activation": c.HiddenAct,
			"dropout": c.HiddenDropout, "attention_dropout": c.AttentionDropout,
			"sinusoidal_pos_embds": c.SinusoidalPositions,
		} {
			std[k] = v
		}
		for k, v := range map[string]any{"qa_dropout": 0.1, "seq_classif_dropout": 0.2, "tie_weights_": true} {
			if _, ok := m[k]; !ok {
				m[k] = v
			}
		}
	} else {
		for k, v := range map[string]any{
			"hidden_size": c.HiddenSize, "num_hidden_layers": c.NumLayers,
			"num_attention_heads": c.NumHeads, "intermediate_size": c.IntermediateSize,
			"hidden_act": c.HiddenAct, "hidden_dropout_prob": c.HiddenDropout,
			"attention_probs_dropout_prob": c.AttentionDropout,
			"type_vocab_size":              c.TypeVocabSize, "layer_norm_eps": c.LayerNormEps,
			"position_embedding_type": "absolute",
		} {
			std[k] = v
		}
		if c.BosTokenID != nil {
			std["bos_token_id"] = *c.BosTokenID
		}
		if c.EosTokenID != nil {
			std["eos_token_id"] = *c.EosTokenID
		}
	}
	for k, v := range std {
		m[k] = v
	}
	return m, nil
}

// Marshal encodes the config as indented JSON with sorted keys, as
// transformers' save_pretrained does.
func (c Config) Marshal() ([]byte, error) {
	m, err := c.Map()
	if err != nil {
		return nil, err
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// Write stores the config atomically at path.
func (c Config) Write(path string) error {
	data, err := c.Marshal()
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, data, 0o644)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
