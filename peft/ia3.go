package peft

import (
	"fmt"
	"slices"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"

	"github.com/gopeft/gopeft/peft/encoder"
	"github.com/gopeft/gopeft/peft/hf"
)

// IA3 is (IA)³ (Liu et al. 2022): learned vectors, initialised to ones, that
// rescale the attention keys and values and the FFN's intermediate
// activation, so the adapter starts as the identity. Names follow HF peft's
// IA3Config: a target scales its projection's output (bias included), a
// target that is also a feedforward module scales its input instead.
//
// The default is the paper's: key, value and ffn_out as a feedforward module
// (its input is the intermediate activation). HF peft's BERT default,
// ["key", "value", "output.dense"], matches module names by suffix and so
// also scales the input of attention.output.dense; GoPEFT maps
// "output.dense" to ffn_out only.
type IA3 struct {
	// TargetModules are sites or HF module names, as for LoRA; empty means
	// key, value, ffn_out.
	TargetModules []string `json:"target_modules,omitempty"`
	// FeedforwardModules are the targets whose input is scaled; only ffn_out
	// is supported (its input is the FFN activation). nil means ffn_out when
	// it is a target.
	FeedforwardModules []string `json:"feedforward_modules,omitempty"`
	// LayersToTransform limits the adapter to these layers; nil means all.
	LayersToTransform []int `json:"layers_to_transform,omitempty"`
}

func init() {
	registerMethod("ia3", func() Method { return &IA3{} })
	registerPreset("ia3", func() Method { return DefaultIA3() })
}

// DefaultIA3 is the paper's (IA)³: keys, values and the FFN activation.
func DefaultIA3() *IA3 {
	return &IA3{TargetModules: []string{"key", "value", "ffn_out"}, FeedforwardModules: []string{"ffn_out"}}
}

func (a *IA3) Kind() string { return "ia3" }

func (a *IA3) sites() (targets, feedforward []encoder.Site, err error) {
	targets, err = parseSites(a.TargetModules, []encoder.Site{encoder.Key, encoder.Value, encoder.FFNOut})
	if err != nil {
		return nil, nil, err
	}
	if a.FeedforwardModules == nil {
		if slices.Contains(targets, encoder.FFNOut) {
			feedforward = []encoder.Site{encoder.FFNOut}
		}
		return targets, feedforward, nil
	}
	feedforward, err = parseSites(a.FeedforwardModules, nil)
	return targets, feedforward, err
}

func (a *IA3) Validate(cfg hf.Config) error {
	targets, ff, err := a.sites()
	if err != nil {
		return err
	}
	for _, s := range ff {
		if s != encoder.FFNOut {
			return fmt.Errorf("feedforward module %s is not supported: only ffn_out (output.dense) scales its input, the FFN activation; list %s in target_modules only to scale its output", s, s)
		}
		if !slices.Contains(targets, s) {
			return fmt.Errorf("feedforward module %s is not a target: feedforward_modules must be a subset of target_modules", s)
		}
	}
	for _, n := range a.LayersToTransform {
		if n < 0 || n >= cfg.NumLayers {
			return fmt.Errorf("layers_to_transform names layer %d, but the model has layers 0..%d", n, cfg.NumLayers-1)
		}
	}
	return nil
}

func (a *IA3) InLayer(layer int) bool {
	return a.LayersToTransform == nil || slices.Contains(a.LayersToTransform, layer)
}

// placements: an output-scaled target at its projection, a feedforward
// target at the activation it scales (its input).
func (a *IA3) placements(layer int) []Placement {
	targets, ff, err := a.sites()
	if err != nil || !a.InLayer(layer) {
		return nil
	}
	var out []Placement
	for _, s := range targets {
		site := string(s)
		if slices.Contains(ff, s) {
			site = "intermediate"
		}
		out = append(out, Placement{Site: site, Method: "ia3"})
	}
	return out
}

// NumParams: per layer, the output size of every output-scaled target plus
// the input size of every feedforward target.
func (a *IA3) NumParams(cfg hf.Config) int {
	targets, ff, _ := a.sites()
	n := 0
	for layer := 0; layer < cfg.NumLayers; layer++ {
		if !a.InLayer(layer) {
			continue
		}
		for _, s := range targets {
			in, out := s.Dims(cfg)
			if slices.Contains(ff, s) {
				n += in
			} else {
				n += out
			}
		}
	}
	return n
}

// scale multiplies x [..., n] by the vector ia3_l [n] (initialised to ones).
func ia3Scale(ctx *context.Context, layer int, site encoder.Site, x *graph.Node) *graph.Node {
	n := x.Shape().Dim(-1)
	l := ctx.In(fmt.Sprintf("layer_%d_%s", layer, site)).WithInitializer(initializers.One).
		VariableWithShape("ia3_l", shapes.Make(x.DType(), n)).ValueGraph(x.Graph())
	return graph.Mul(x, graph.ExpandLeftToRank(l, x.Rank()))
}

func (a *IA3) linear(ctx *context.Context, cfg hf.Config, layer int, site encoder.Site, x, y *graph.Node) *graph.Node {
	targets, ff, _ := a.sites()
	if !a.InLayer(layer) || !slices.Contains(targets, site) || slices.Contains(ff, site) {
		return y
	}
	return ia3Scale(ctx, layer, site, y)
}

// intermediate scales ffn_out's input, the FFN activation.
func (a *IA3) intermediate(ctx *context.Context, cfg hf.Config, layer int, h *graph.Node) *graph.Node {
	_, ff, _ := a.sites()
	if !a.InLayer(layer) || !slices.Contains(ff, encoder.FFNOut) {
		return h
	}
	return ia3Scale(ctx, layer, encoder.FFNOut, h)
}
