package peft

import (
	"fmt"
	"strings"

	"github.com/gopeft/gopeft/peft/encoder"
	"github.com/gopeft/gopeft/peft/hf"
)

// BitFit trains only bias terms of the base model (Ben Zaken et al. 2022);
// everything else stays frozen. It adds no parameters: it unfreezes base
// weights, so two Tuneds never share them (each has its own copy).
//
// Biases "all" (the default) trains every bias of the embeddings and the
// encoder layers, LayerNorm biases included, as in the paper. "query_intermediate" is
// the paper's small subset: the query bias and the intermediate (first FFN)
// bias of each layer. The pooler is left out because GoPEFT's task head
// reads the [CLS] hidden state, not the pooler.
type BitFit struct {
	Biases string `json:"biases"`
}

func init() {
	registerMethod("bitfit", func() Method { return &BitFit{} })
	registerPreset("bitfit", func() Method { return DefaultBitFit() })
}

// DefaultBitFit trains all biases.
func DefaultBitFit() *BitFit { return &BitFit{Biases: "all"} }

func (b *BitFit) Kind() string { return "bitfit" }

func (b *BitFit) Validate(hf.Config) error {
	switch b.Biases {
	case "", "all", "query_intermediate":
		return nil
	}
	return fmt.Errorf("biases %q: use \"all\" or \"query_intermediate\"", b.Biases)
}

// NumParams is 0: BitFit trains existing base weights.
func (b *BitFit) NumParams(hf.Config) int { return 0 }

// inTunedEncoder reports whether a canonical name is an embedding or
// encoder-layer weight (the pooler and MLM head are not in the graph the
// task head uses).
func inTunedEncoder(canonical string) bool {
	return strings.HasPrefix(canonical, "embeddings.") || strings.HasPrefix(canonical, "encoder.")
}

// TrainsBase: the biases of the embeddings and encoder layers (or the subset).
func (b *BitFit) TrainsBase(_ hf.Config, canonical string) bool {
	if !inTunedEncoder(canonical) || !strings.HasSuffix(canonical, ".bias") {
		return false
	}
	if b.Biases == "query_intermediate" {
		return strings.HasSuffix(canonical, ".attention.self.query.bias") || strings.HasSuffix(canonical, ".intermediate.dense.bias")
	}
	return true
}

// placements: the projections whose biases train (the LayerNorm and
// embedding biases of "all" are not drawn).
func (b *BitFit) placements(int) []Placement {
	sites := encoder.Sites
	if b.Biases == "query_intermediate" {
		sites = []encoder.Site{encoder.Query, encoder.FFNIn}
	}
	out := make([]Placement, len(sites))
	for i, s := range sites {
		out[i] = Placement{Site: string(s), Method: "bitfit"}
	}
	return out
}

// LNTuning trains only the LayerNorm gains and biases of the base model
// (HF peft's LNTuningConfig; Zhao et al. 2023): the embedding LayerNorm and
// both LayerNorms of every layer. Like BitFit it adds no parameters.
type LNTuning struct{}

func init() {
	registerMethod("ln_tuning", func() Method { return &LNTuning{} })
	registerPreset("ln", func() Method { return &LNTuning{} })
}

func (LNTuning) Kind() string             { return "ln_tuning" }
func (LNTuning) Validate(hf.Config) error { return nil }

// NumParams is 0: LayerNorm tuning trains existing base weights.
func (LNTuning) NumParams(hf.Config) int { return 0 }

// TrainsBase: every LayerNorm gain and bias.
func (LNTuning) TrainsBase(_ hf.Config, canonical string) bool {
	return inTunedEncoder(canonical) && strings.Contains(canonical, ".LayerNorm.")
}

// placements: the LayerNorms after attention and after the FFN.
func (LNTuning) placements(int) []Placement {
	return []Placement{{Site: "attention", Method: "ln_tuning"}, {Site: "ffn", Method: "ln_tuning"}}
}
