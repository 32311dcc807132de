package peft

import (
	"github.com/gopeft/gopeft/peft/hf"
)

// FullFinetune trains every weight of the base model: the embeddings and
// all encoder layers, with the head. It is the baseline every PEFT method
// is judged against (Houlsby et al. 2019, Table 1; He et al. 2022). Like
// BitFit it adds no parameters and unfreezes base weights, so each Tuned
// trains its own copy. The pooler is left out: GoPEFT's head reads the
// [CLS] hidden state, not the pooler, so the pooler gets no gradient.
//
// It combines with adapters in one Setup (an adapter trains beside the
// whole model); for the top k layers or a named subset use PartialFinetune.
type FullFinetune struct{}

func init() {
	registerMethod("full_finetune", func() Method { return &FullFinetune{} })
	registerPreset("full", func() Method { return &FullFinetune{} })
}

func (FullFinetune) Kind() string             { return "full_finetune" }
func (FullFinetune) Validate(hf.Config) error { return nil }

// NumParams is 0: full fine-tuning trains existing base weights.
func (FullFinetune) NumParams(hf.Config) int { return 0 }

// TrainsBase: every embedding and encoder-layer weight.
func (FullFinetune) TrainsBase(_ hf.Config, canonical string) bool { return inTunedEncoder(canonical) }

// placements: the whole of both sub-blocks trains.
func (FullFinetune) placements(int) []Placement {
	return []Placement{{Site: "attention", Method: "full_finetune"}, {Site: "ffn", Method: "full_finetune"}}
}
