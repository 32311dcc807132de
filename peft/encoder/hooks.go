package encoder

import (
	"fmt"

	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gopeft/gopeft/peft/hf"
)

// Site names a linear projection inside a layer.
type Site string

// The projections of a layer, in the order the forward pass computes them.
const (
	Query   Site = "query"    // attention.self.query
	Key     Site = "key"      // attention.self.key
	Value   Site = "value"    // attention.self.value
	AttnOut Site = "attn_out" // attention.output.dense
	FFNIn   Site = "ffn_in"   // intermediate.dense
	FFNOut  Site = "ffn_out"  // output.dense
)

// Sites lists every projection site, for methods that target "all linear layers".
var Sites = []Site{Query, Key, Value, AttnOut, FFNIn, FFNOut}

// siteModules is each site's module path inside encoder.layer.N of a BERT
// checkpoint, which is also its variable scope below /encoder/layer/N.
var siteModules = map[Site]string{
	Query: "attention.self.query", Key: "attention.self.key", Value: "attention.self.value",
	AttnOut: "attention.output.dense", FFNIn: "intermediate.dense", FFNOut: "output.dense",
}

// Module is the site's BERT module path inside a layer ("attention.self.query").
func (s Site) Module() string { return siteModules[s] }

// WeightName is the canonical name of the site's weight in a layer.
func (s Site) WeightName(layer int) string {
	return fmt.Sprintf("encoder.layer.%d.%s.weight", layer, s.Module())
}

// Dims are the projection's input and output sizes.
func (s Site) Dims(cfg hf.Config) (in, out int) {
	switch s {
	case FFNIn:
		return cfg.HiddenSize, cfg.IntermediateSize
	case FFNOut:
		return cfg.IntermediateSize, cfg.HiddenSize
	}
	return cfg.HiddenSize, cfg.HiddenSize
}

// Sublayer names the two residual blocks of a layer.
type Sublayer string

const (
	Attention Sublayer = "attention"
	FFN       Sublayer = "ffn"
)

// Hooks is the one mechanism through which every PEFT method changes the
// encoder. The encoder calls each hook at a fixed point of the forward pass; a
// hook that has nothing to do returns its input unchanged (embed NoHooks to get
// that behaviour for the hooks you do not implement).
//
// Batch sizes may grow inside the forward pass: a Residual hook may return a
// tensor whose batch is a multiple of its input's (Parallel composition
// replicates the batch lazily); the encoder then replicates its attention mask
// to match, and later hooks see the larger batch.
type Hooks interface {
	// Embeddings sees the embedding output [batch, seq, hidden] and the
	// attention mask [batch, seq] (1 for tokens, 0 for padding). Prompt tuning
	// prepends virtual tokens here and extends the mask.
	Embeddings(ctx *context.Context, x, mask *Node) (*Node, *Node)

	// Linear sees a projection's input x [..., in] and its base output
	// y = x W^T + b [..., out] and returns the output to use (LoRA adds a
	// low-rank update, IA3 rescales).
	Linear(ctx *context.Context, layer int, site Site, x, y *Node) *Node

	// Prefix returns extra key and value states [batch, prefixLen, hidden]
	// that every query attends to (prefix tuning), or nil, nil. x is the
	// layer's input [batch, seq, hidden].
	Prefix(ctx *context.Context, layer int, x *Node) (keys, values *Node)

	// Intermediate sees the FFN activation output [batch, seq, intermediate].
	Intermediate(ctx *context.Context, layer int, h *Node) *Node

	// Residual replaces the point where a sub-block's output (after dropout)
	// meets its residual input. The default is ln(out + in), BERT's post-LN
	// residual; bottleneck and parallel adapters, Fusion and composition
	// blocks sit here because they need out, in and the LayerNorm together.
	Residual(ctx *context.Context, layer int, sub Sublayer, out, in *Node, ln func(*Node) *Node) *Node
}

// NoHooks is the plain encoder: every hook returns its input.
type NoHooks struct{}

func (NoHooks) Embeddings(_ *context.Context, x, mask *Node) (*Node, *Node) { return x, mask }
func (NoHooks) Linear(_ *context.Context, _ int, _ Site, _, y *Node) *Node  { return y }
func (NoHooks) Prefix(*context.Context, int, *Node) (*Node, *Node)          { return nil, nil }
func (NoHooks) Intermediate(_ *context.Context, _ int, h *Node) *Node       { return h }
func (NoHooks) Residual(_ *context.Context, _ int, _ Sublayer, out, in *Node, ln func(*Node) *Node) *Node {
	return ln(Add(out, in))
}
