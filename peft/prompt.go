package peft

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"

	"github.com/gopeft/gopeft/peft/hf"
	"github.com/gopeft/gopeft/peft/tokenizer"
)

// PromptTuning prepends NumVirtualTokens trained vectors ("soft prompt") to
// every input sequence (Lester et al. 2021; HF peft's PromptTuningConfig).
//
// The vectors live where the encoder's embedding layer ends (after its
// LayerNorm) and every token attends to them; the attention mask grows by
// ones and the encoder's outputs hold P + seq positions. Real tokens keep
// their positions 0..seq-1 (HF peft instead prepends before the embedding
// layer, shifting them by P).
//
// The task head reads position 0, which is now the first virtual token: HF
// peft's behaviour for sequence classification (BERT's pooler reads the
// first position of the prompted sequence), so a trained soft prompt doubles
// as the classification query.
//
// Init "random" draws U(-0.5, 0.5), the paper's range (HF peft draws
// N(0, 1), torch.nn.Embedding's default). Init "text" starts from the
// embedding layer's output for InitTokenIDs at positions 0..P-1 (token type
// 0): exactly what HF's virtual tokens look like to the first layer when
// initialised from the same ids. Ids are repeated or truncated to P as HF
// does; PromptFromText fills them from a tokenizer.
type PromptTuning struct {
	NumVirtualTokens int     `json:"num_virtual_tokens"`
	Init             string  `json:"prompt_tuning_init"` // "random" or "text"
	InitText         string  `json:"prompt_tuning_init_text,omitempty"`
	InitTokenIDs     []int32 `json:"init_token_ids,omitempty"`
}

func init() {
	registerMethod("prompt_tuning", func() Method { return &PromptTuning{} })
	registerPreset("prompt", func() Method { return RandomPrompt(10) }) // 10 virtual tokens leave room in short inputs
}

// RandomPrompt is a randomly initialised soft prompt of n tokens.
func RandomPrompt(n int) *PromptTuning { return &PromptTuning{NumVirtualTokens: n, Init: "random"} }

// PromptFromText is a soft prompt of n tokens initialised from text, which
// tok encodes as HF's tokenizer(text) does ([CLS] ... [SEP]).
func PromptFromText(tok *tokenizer.Tokenizer, text string, n int) (*PromptTuning, error) {
	if tok == nil {
		return nil, fmt.Errorf("prompt init text needs a tokenizer: load the model with its tokenizer (model.Tokenizer)")
	}
	ids, _, _ := tok.Encode(text, 0)
	return &PromptTuning{NumVirtualTokens: n, Init: "text", InitText: text, InitTokenIDs: fitTokens(ids, n)}, nil
}

// fitTokens repeats or truncates ids to exactly n, as HF peft does.
func fitTokens(ids []int32, n int) []int32 {
	if len(ids) == 0 {
		return nil
	}
	out := make([]int32, n)
	for i := range out {
		out[i] = ids[i%len(ids)]
	}
	return out
}

func (p *PromptTuning) Kind() string { return "prompt_tuning" }

func (p *PromptTuning) Validate(cfg hf.Config) error {
	if p.NumVirtualTokens <= 0 {
		return fmt.Errorf("num_virtual_tokens is %d: it must be > 0", p.NumVirtualTokens)
	}
	switch p.Init {
	case "random", "":
	case "text":
		if len(p.InitTokenIDs) == 0 {
			return fmt.Errorf("prompt_tuning_init \"text\" needs init_token_ids: build the config with PromptFromText(model.Tokenizer, text, n)")
		}
		for _, id := range p.InitTokenIDs {
			if id < 0 || int(id) >= cfg.VocabSize {
				return fmt.Errorf("init token id %d is outside the vocabulary of %d: was the config made with this model's tokenizer?", id, cfg.VocabSize)
			}
		}
		if p.NumVirtualTokens+cfg.PositionOffset > cfg.MaxPositions {
			return fmt.Errorf("%d virtual tokens exceed the model's %d positions, which text init uses: use fewer tokens or random init", p.NumVirtualTokens, cfg.MaxPositions)
		}
	default:
		return fmt.Errorf("prompt_tuning_init %q: use \"random\" or \"text\"", p.Init)
	}
	return nil
}

// placements: the soft prompt sits below layer 0.
func (p *PromptTuning) placements(layer int) []Placement {
	if layer != 0 {
		return nil
	}
	return []Placement{{Site: "prompt", Method: "prompt"}}
}

// NumParams: P·hidden.
func (p *PromptTuning) NumParams(cfg hf.Config) int { return p.NumVirtualTokens * cfg.HiddenSize }

func (p *PromptTuning) embeddings(ctx *context.Context, cfg hf.Config, x, mask *graph.Node) (*graph.Node, *graph.Node) {
	g := x.Graph()
	batch, n, d := x.Shape().Dim(0), p.NumVirtualTokens, cfg.HiddenSize
	init := initializers.RandomUniformFn(ctx, -0.5, 0.5)
	if p.Init == "text" {
		init = func(g *graph.Graph, shape shapes.Shape) *graph.Node {
			t, err := textPromptInit(ctx, cfg, fitTokens(p.InitTokenIDs, n))
			if err != nil {
				panic(err) // graph building reports errors by panicking, as GoMLX does
			}
			return graph.Const(g, t)
		}
	}
	prompt := ctx.WithInitializer(init).VariableWithShape("prompt_embeddings", shapes.Make(x.DType(), n, d)).ValueGraph(g)
	prompt = graph.BroadcastToDims(graph.Reshape(prompt, 1, n, d), batch, n, d)
	x = graph.Concatenate([]*graph.Node{prompt, x}, 1)
	mask = graph.Concatenate([]*graph.Node{graph.Ones(g, shapes.Make(mask.DType(), batch, n)), mask}, 1)
	return x, mask
}

// textPromptInit computes, from the base weights' values, the embedding
// layer's output LN(word[id_j] + position[j] + type[0]) for each id.
func textPromptInit(ctx *context.Context, cfg hf.Config, ids []int32) (*tensors.Tensor, error) {
	read := func(scope string) ([]float32, error) {
		v := ctx.GetVariableByScopeAndName(scope, "weight")
		if v == nil {
			return nil, fmt.Errorf("prompt text init: base weight %s/weight is missing", scope)
		}
		t, err := v.Value()
		if err != nil {
			return nil, fmt.Errorf("prompt text init: %s: %w", scope, err)
		}
		return tensors.CopyFlatData[float32](t)
	}
	readBias := func(scope string) ([]float32, error) {
		v := ctx.GetVariableByScopeAndName(scope, "bias")
		if v == nil {
			return nil, fmt.Errorf("prompt text init: base weight %s/bias is missing", scope)
		}
		return tensors.CopyFlatData[float32](v.MustValue())
	}
	d := cfg.HiddenSize
	words, err := read("/embeddings/word_embeddings")
	if err != nil {
		return nil, err
	}
	pos, err := read("/embeddings/position_embeddings")
	if err != nil {
		return nil, err
	}
	var types []float32
	if cfg.TypeVocabSize > 0 {
		if types, err = read("/embeddings/token_type_embeddings"); err != nil {
			return nil, err
		}
	}
	gain, err := read("/embeddings/LayerNorm")
	if err != nil {
		return nil, err
	}
	offset, err := readBias("/embeddings/LayerNorm")
	if err != nil {
		return nil, err
	}
	out := make([]float32, len(ids)*d)
	row := make([]float64, d)
	for j, id := range ids {
		mean := 0.0
		for k := range row {
			row[k] = float64(words[int(id)*d+k]) + float64(pos[(j+cfg.PositionOffset)*d+k])
			if types != nil {
				row[k] += float64(types[k])
			}
			mean += row[k]
		}
		mean /= float64(d)
		variance := 0.0
		for k := range row {
			row[k] -= mean
			variance += row[k] * row[k]
		}
		inv := 1 / math.Sqrt(variance/float64(d)+cfg.LayerNormEps)
		for k := range row {
			out[j*d+k] = float32(row[k]*inv*float64(gain[k]) + float64(offset[k]))
		}
	}
	return tensors.FromFlatDataAndDimensions(out, len(ids), d), nil
}
