package peft

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gopeft/gopeft/peft/encoder"
	"github.com/gopeft/gopeft/peft/hf"
	"github.com/gopeft/gopeft/peft/safetensors"
	"github.com/gopeft/gopeft/peft/tokenizer"
)

// Model is a pretrained encoder: its Hugging Face config, its tokenizer and
// its weights, held as GoMLX variables in Ctx under their canonical names.
// Fine-tuning never changes a Model: NewTuned clones its weights.
type Model struct {
	Config    hf.Config
	Tokenizer *tokenizer.Tokenizer
	Ctx       *context.Context
	Dir       string // where it was loaded from, "" for a fresh model
}

// LoadModel reads a Hugging Face model directory (config.json,
// model.safetensors, tokenizer.json or vocab.txt): a BERT, RoBERTa or
// DistilBERT checkpoint, or GoPEFT's shipped encoder in models/.
func LoadModel(dir string) (*Model, error) {
	md, err := hf.LoadDir(dir)
	if err != nil {
		return nil, err
	}
	m := &Model{Config: md.Config, Ctx: context.New(), Dir: dir}
	weights := make(map[string]*tensors.Tensor, len(md.Weights))
	for name, t := range md.Weights {
		gt, err := t.ToGoMLX()
		if err != nil {
			return nil, fmt.Errorf("%s: tensor %s: %w", dir, name, err)
		}
		weights[name] = gt
	}
	// The MLM head, when present, is kept so that pretraining can resume.
	for name, t := range md.Extra {
		if strings.HasPrefix(name, "cls.") {
			gt, err := t.ToGoMLX()
			if err != nil {
				return nil, fmt.Errorf("%s: tensor %s: %w", dir, name, err)
			}
			weights[name] = gt
		}
	}
	if err := encoder.SetWeights(m.Ctx, weights); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	if md.TokenizerPath != "" {
		if m.Tokenizer, err = tokenizer.Load(md.TokenizerPath); err != nil {
			return nil, fmt.Errorf("%s: %w", dir, err)
		}
	}
	return m, nil
}

// NewModel is a randomly initialised encoder of the given shape (BERT's
// initialisation: N(0, 0.02) weights, LayerNorm gain 1, zero biases), for
// pretraining and for the "no pretraining" baseline.
func NewModel(cfg hf.Config, tok *tokenizer.Tokenizer, seed int64) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Model{Config: cfg, Tokenizer: tok, Ctx: context.New()}
	if err := initVariables(m.Ctx, seed, func(ctx *context.Context, in encoder.Inputs) {
		out := encoder.Forward(ctx, cfg, in, nil)
		encoder.Pool(ctx, cfg, out.Hidden)
		encoder.MLMLogits(ctx, cfg, out.Hidden)
	}); err != nil {
		return nil, err
	}
	return m, nil
}

// NumParams counts the base model's parameters (encoder and pooler; the MLM
// head's own transform and bias included when present).
func (m *Model) NumParams() int {
	n := 0
	for v := range m.Ctx.IterVariables() {
		if encoder.IsBase(v) {
			n += v.Shape().Size()
		}
	}
	return n
}

// Save writes the model as a Hugging Face directory that transformers loads
// (BertForMaskedLM naming when the MLM head is present).
func (m *Model) Save(dir string) error {
	weights, err := encoder.Weights(m.Ctx)
	if err != nil {
		return err
	}
	// The MLM head's names are the same in GoPEFT and BertForMaskedLM.
	st, head := map[string]safetensors.Tensor{}, map[string]safetensors.Tensor{}
	for name, t := range weights {
		s, err := safetensors.FromGoMLX(t)
		if err != nil {
			return fmt.Errorf("tensor %s: %w", name, err)
		}
		if strings.HasPrefix(name, "cls.") {
			head[name] = s
		} else {
			st[name] = s
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if m.Tokenizer != nil {
		if err := m.Tokenizer.Save(dir); err != nil {
			return err
		}
	}
	return hf.WriteDir(dir, m.Config, st, head, nil)
}

// Describe is a one-line description of the model for notebooks.
func (m *Model) Describe() string {
	c := m.Config
	name := filepath.Base(m.Dir)
	if m.Dir == "" {
		name = "random " + c.ModelType
	}
	vocab := c.VocabSize
	return fmt.Sprintf("%s: %s encoder, %d layers, hidden %d, %d heads, FFN %d, vocabulary %d, %s parameters (%.1f MB as float32)",
		name, c.ModelType, c.NumLayers, c.HiddenSize, c.NumHeads, c.IntermediateSize, vocab,
		GroupDigits(m.NumParams()), float64(4*m.NumParams())/1e6)
}
