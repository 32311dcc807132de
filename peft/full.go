package peft

import (
	"github.com/gopeft/gopeft/peft/encoder"
	"github.com/gopeft/gopeft/peft/hf"
)

// FullFinetuning trains every base weight of the embeddings and encoder
// layers, with the task head: the baseline every PEFT method is measured
// against (Houlsby et al. 2019's "full fine-tuning"). It adds no
// parameters. The pooler and MLM head stay out, as in BitFit, because the
// task head reads the [CLS] state.
type FullFinetuning struct{}

func init() {
	registerMethod("full_finetuning", func() Method { return &FullFinetuning{} })
	registerPreset("full", func() Method { return &FullFinetuning{} })
}

func (FullFinetuning) Kind() string             { return "full_finetuning" }
func (FullFinetuning) Validate(hf.Config) error { return nil }

// NumParams is 0: full fine-tuning trains the existing base weights.
func (FullFinetuning) NumParams(hf.Config) int { return 0 }

// TrainsBase: every embedding and encoder-layer weight.
func (FullFinetuning) TrainsBase(canonical string) bool { return inTunedEncoder(canonical) }

// placements: every projection.
func (FullFinetuning) placements(int) []Placement {
	out := make([]Placement, len(encoder.Sites))
	for i, s := range encoder.Sites {
		out[i] = Placement{Site: string(s), Method: "full_finetuning"}
	}
	return out
}
