package peft

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gopeft/gopeft/peft/hf"
)

// PartialFinetune trains part of the base model: every weight of the top
// TopLayers encoder layers (the classic "freeze the lower layers" of
// transfer learning; Howard & Ruder 2018, Sun et al. 2019), and/or named
// subsets across the whole encoder: the embeddings, the LayerNorms, the
// biases. The selections add up (a weight trains if any selects it). It
// adds no parameters, and combines with adapters in one Setup, e.g.
// Houlsby adapters plus an unfrozen top layer:
//
//	peft.NewSetup("houlsby", peft.Houlsby()).Add("top1", &peft.PartialFinetune{TopLayers: 1})
//
// Biases alone is BitFit's "all" and LayerNorms alone is LNTuning; those
// methods stay for their papers' names. The pooler is never trained (the
// head reads [CLS], not the pooler).
type PartialFinetune struct {
	TopLayers  int  `json:"top_layers,omitempty"`
	Embeddings bool `json:"embeddings,omitempty"`  // word, position and type embeddings and their LayerNorm
	LayerNorms bool `json:"layer_norms,omitempty"` // every LayerNorm gain and bias
	Biases     bool `json:"biases,omitempty"`      // every bias, LayerNorm biases included
}

func init() {
	registerMethod("partial_finetune", func() Method { return &PartialFinetune{} })
	registerPreset("top2", func() Method { return &PartialFinetune{TopLayers: 2} })
}

func (*PartialFinetune) Kind() string { return "partial_finetune" }

func (p *PartialFinetune) Validate(cfg hf.Config) error {
	if p.TopLayers < 0 || p.TopLayers > cfg.NumLayers {
		return fmt.Errorf("top_layers %d is outside 0..%d (the model's layers): use FullFinetune to train all of them", p.TopLayers, cfg.NumLayers)
	}
	if p.TopLayers == 0 && !p.Embeddings && !p.LayerNorms && !p.Biases {
		return fmt.Errorf("partial fine-tuning selects nothing: set top_layers, embeddings, layer_norms or biases (for a head-only run use the \"head\" preset, HeadOnly)")
	}
	return nil
}

// NumParams is 0: partial fine-tuning trains existing base weights.
func (*PartialFinetune) NumParams(hf.Config) int { return 0 }

// TrainsBase: weights of the top layers, and the named subsets.
func (p *PartialFinetune) TrainsBase(cfg hf.Config, canonical string) bool {
	if !inTunedEncoder(canonical) {
		return false
	}
	if l, ok := BaseLayer(canonical); ok && l >= 0 && l >= cfg.NumLayers-p.TopLayers {
		return true
	}
	return p.Embeddings && strings.HasPrefix(canonical, "embeddings.") ||
		p.LayerNorms && strings.Contains(canonical, ".LayerNorm.") ||
		p.Biases && strings.HasSuffix(canonical, ".bias")
}

// BaseLayer is the encoder layer of a base weight by canonical name:
// "encoder.layer.3.output.dense.weight" is in layer 3, the embeddings are
// -1 (below layer 0); ok is false for the pooler, the MLM head and names
// outside the model.
func BaseLayer(canonical string) (layer int, ok bool) {
	if strings.HasPrefix(canonical, "embeddings.") {
		return -1, true
	}
	rest, found := strings.CutPrefix(canonical, "encoder.layer.")
	if !found {
		return 0, false
	}
	num, _, _ := strings.Cut(rest, ".")
	l, err := strconv.Atoi(num)
	return l, err == nil
}

// placementsAt: both sub-blocks of a top layer; elsewhere the LayerNorms
// and biases it selects, as LNTuning and BitFit draw them.
func (p *PartialFinetune) placementsAt(layer, numLayers int) []Placement {
	if layer >= numLayers-p.TopLayers {
		return []Placement{{Site: "attention", Method: "partial_finetune"}, {Site: "ffn", Method: "partial_finetune"}}
	}
	var out []Placement
	if p.LayerNorms {
		out = append(out, LNTuning{}.placements(layer)...)
	}
	if p.Biases {
		out = append(out, DefaultBitFit().placements(layer)...)
	}
	for i := range out {
		out[i].Method = "partial_finetune"
	}
	return out
}
