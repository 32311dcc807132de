package peft

import (
	"fmt"

	"github.com/gopeft/gopeft/peft/hf"
)

// MAM is the Mix-And-Match adapter of He et al. 2022 ("Towards a Unified View
// of Parameter-Efficient Transfer Learning"): prefix tuning on attention plus
// a scaled parallel adapter on the FFN. AdapterHub's MAMConfig is the same
// union (prefix 30 through an 800-unit MLP; parallel FFN adapter, reduction 2,
// scale 4). Masks on the FFN adapter are GoPEFT's "MAM masks" (see MAMMasks),
// which the paper does not have.
type MAM struct {
	Prefix *PrefixTuning `json:"prefix_tuning"`
	FFN    *Bottleneck   `json:"adapter"`
}

func init() {
	registerMethod("mam", func() Method { return &MAM{} })
	registerPreset("mam", func() Method { return SmallMAMAdapter() })
	registerPreset("mam-paper", func() Method { return MAMAdapter() })
	registerPreset("mam-masks", func() Method {
		m := SmallMAMAdapter()
		m.FFN.Masks = DefaultMasks()
		return m
	})
}

// MAMAdapter returns the paper's configuration for BERT-base-sized models:
// prefix length 30 with an 800-unit reparameterisation MLP and a parallel FFN
// adapter with 512 units (reduction 768/512 = 1.5) and scale 4.
func MAMAdapter() *MAM {
	prefix := Prefix()
	prefix.BottleneckSize = 800
	ffn := ParallelAdapter()
	ffn.ReductionFactor = 1.5
	return &MAM{Prefix: prefix, FFN: ffn}
}

// SmallMAMAdapter scales MAMAdapter to GoPEFT's shipped small encoder (see
// models/): prefix 8 through a 64-unit MLP and a parallel FFN adapter with
// hidden/4 units, scale 4 — the same proportions of added parameters.
func SmallMAMAdapter() *MAM {
	m := MAMAdapter()
	m.Prefix.PrefixLength = 8
	m.Prefix.BottleneckSize = 64
	m.FFN.ReductionFactor = 4
	return m
}

func (m *MAM) Kind() string { return "mam" }

// parts makes MAM a union: the hooks and composition see the prefix and
// the FFN adapter as two methods, in sub-scopes prefix and adapter.
func (m *MAM) parts() []Part {
	return []Part{{Scope: "prefix", Method: m.Prefix}, {Scope: "adapter", Method: m.FFN}}
}

func (m *MAM) Validate(cfg hf.Config) error {
	if m.Prefix == nil || m.FFN == nil {
		return fmt.Errorf("a MAM adapter needs both Prefix and FFN: start from MAMAdapter() or SmallMAMAdapter()")
	}
	return validateUnion(m, cfg)
}

func (m *MAM) NumParams(cfg hf.Config) int { return unionParams(m, cfg) }
