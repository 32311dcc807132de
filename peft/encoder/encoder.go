// Package encoder is GoPEFT's BERT-family encoder (BERT, RoBERTa, DistilBERT)
// written with explicit weights, so Hugging Face checkpoints load one-to-one,
// and with named hook points (see Hooks) where PEFT methods attach.
//
//	out := encoder.Forward(ctx, cfg, encoder.Inputs{IDs: ids, Mask: mask}, hooks) // hooks nil: plain BERT
//	pooled := encoder.Pool(ctx, cfg, out.Hidden)
//	scope, name := encoder.ScopeOf("encoder.layer.3.attention.self.query.weight")
//	// "/encoder/layer/3/attention/self/query", "weight"
//
// Weights are GoMLX variables named after their canonical Hugging Face BERT
// tensor names (see docs/ARCHITECTURE.md): the tensor
// "encoder.layer.3.attention.self.query.weight" is the variable "weight" in
// scope "/encoder/layer/3/attention/self/query", in PyTorch's [out, in]
// layout.
package encoder

import (
	"fmt"
	"math"
	"strconv"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
	"github.com/gomlx/gomlx/pkg/ml/layers"

	"github.com/gopeft/gopeft/peft/hf"
)

// InitStdDev is BERT's initializer_range: weights start as N(0, 0.02).
const InitStdDev = 0.02

// Inputs is one batch of token ids, each [batch, seq] int32.
type Inputs struct {
	IDs     *Node
	TypeIDs *Node // nil means all zeros
	Mask    *Node // 1 for tokens, 0 for padding; nil means no padding
}

// Outputs of the encoder.
type Outputs struct {
	Hidden *Node // last hidden state [batch', seq', hidden]
	Mask   *Node // the attention mask matching Hidden (prompts and batch replication included), float32
}

// Forward runs the encoder. ctx must be the model's root context; hooks may be
// nil for the plain model. It is a graph-building function: it panics on
// shape errors like the rest of GoMLX.
func Forward(ctx *context.Context, cfg hf.Config, in Inputs, hooks Hooks) Outputs {
	if hooks == nil {
		hooks = NoHooks{}
	}
	ctx = ctx.Checked(false)
	ids := in.IDs
	g := ids.Graph()
	batch, seq := ids.Shape().Dim(0), ids.Shape().Dim(1)
	mask := in.Mask
	if mask == nil {
		mask = Ones(g, shapes.Make(dtypes.Float32, batch, seq))
	}
	mask = ConvertDType(mask, dtypes.Float32)

	x := embeddings(ctx.In("embeddings"), cfg, ids, in.TypeIDs, mask)
	x, mask = hooks.Embeddings(ctx, x, mask)
	for layer := 0; layer < cfg.NumLayers; layer++ {
		lctx := ctx.In("encoder").In("layer").In(strconv.Itoa(layer))
		mask = matchBatch(mask, x)
		x = transformerLayer(lctx, ctx, cfg, layer, x, mask, hooks)
	}
	mask = matchBatch(mask, x)
	return Outputs{Hidden: x, Mask: mask}
}

func embeddings(ctx *context.Context, cfg hf.Config, ids, typeIDs, mask *Node) *Node {
	g := ids.Graph()
	batch, seq := ids.Shape().Dim(0), ids.Shape().Dim(1)
	if seq+cfg.PositionOffset > cfg.MaxPositions {
		panic(fmt.Sprintf("sequence length %d exceeds the model's max_position_embeddings %d (offset %d): truncate inputs to at most %d tokens",
			seq, cfg.MaxPositions, cfg.PositionOffset, cfg.MaxPositions-cfg.PositionOffset))
	}
	words := weight(g, ctx.In("word_embeddings"), "weight", InitStdDev, cfg.VocabSize, cfg.HiddenSize)
	x := Gather(words, InsertAxes(ConvertDType(ids, dtypes.Int32), -1))

	var positions *Node
	if cfg.PositionOffset > 0 {
		// RoBERTa numbers real tokens from padding_idx+1 and gives padding the
		// padding index itself, so positions follow the mask.
		m := ConvertDType(mask, dtypes.Int32)
		positions = AddScalar(Mul(CumSum(m, 1), m), cfg.PositionOffset-1)
	} else {
		positions = Iota(g, shapes.Make(dtypes.Int32, batch, seq), 1)
	}
	posTable := weight(g, ctx.In("position_embeddings"), "weight", InitStdDev, cfg.MaxPositions, cfg.HiddenSize)
	x = Add(x, Gather(posTable, InsertAxes(positions, -1)))

	if cfg.TypeVocabSize > 0 {
		types := weight(g, ctx.In("token_type_embeddings"), "weight", InitStdDev, cfg.TypeVocabSize, cfg.HiddenSize)
		if typeIDs == nil {
			// All-zero token types: row 0 broadcast, no gather needed.
			x = Add(x, Reshape(Slice(types, AxisElem(0)), 1, 1, cfg.HiddenSize))
		} else {
			x = Add(x, Gather(types, InsertAxes(ConvertDType(typeIDs, dtypes.Int32), -1)))
		}
	}
	x = LayerNorm(ctx.In("LayerNorm"), x, cfg.LayerNormEps)
	return layers.DropoutStatic(ctx, x, cfg.HiddenDropout)
}

func transformerLayer(ctx, root *context.Context, cfg hf.Config, layer int, x, mask *Node, hooks Hooks) *Node {
	attnCtx := ctx.In("attention")
	attn := selfAttention(attnCtx.In("self"), root, cfg, layer, x, mask, hooks)
	outCtx := attnCtx.In("output")
	attn = linearSite(outCtx.In("dense"), root, hooks, layer, AttnOut, attn, cfg.HiddenSize)
	attn = layers.DropoutStatic(ctx, attn, cfg.HiddenDropout)
	x = hooks.Residual(root, layer, Attention, attn, x, func(h *Node) *Node {
		return LayerNorm(outCtx.In("LayerNorm"), h, cfg.LayerNormEps)
	})

	h := linearSite(ctx.In("intermediate").In("dense"), root, hooks, layer, FFNIn, x, cfg.IntermediateSize)
	h = Activation(cfg.HiddenAct, h)
	h = hooks.Intermediate(root, layer, h)
	ffnCtx := ctx.In("output")
	h = linearSite(ffnCtx.In("dense"), root, hooks, layer, FFNOut, h, cfg.HiddenSize)
	h = layers.DropoutStatic(ctx, h, cfg.HiddenDropout)
	return hooks.Residual(root, layer, FFN, h, x, func(h *Node) *Node {
		return LayerNorm(ffnCtx.In("LayerNorm"), h, cfg.LayerNormEps)
	})
}

func selfAttention(ctx, root *context.Context, cfg hf.Config, layer int, x, mask *Node, hooks Hooks) *Node {
	batch, seq := x.Shape().Dim(0), x.Shape().Dim(1)
	heads := cfg.NumHeads
	headDim := cfg.HiddenSize / heads
	q := linearSite(ctx.In("query"), root, hooks, layer, Query, x, cfg.HiddenSize)
	k := linearSite(ctx.In("key"), root, hooks, layer, Key, x, cfg.HiddenSize)
	v := linearSite(ctx.In("value"), root, hooks, layer, Value, x, cfg.HiddenSize)

	keyMask := mask
	if pk, pv := hooks.Prefix(root, layer, x); pk != nil {
		// Prefix states are attended to by every query and never masked.
		k = Concatenate([]*Node{pk, k}, 1)
		v = Concatenate([]*Node{pv, v}, 1)
		keyMask = Concatenate([]*Node{Ones(x.Graph(), shapes.Make(mask.DType(), batch, pk.Shape().Dim(1))), mask}, 1)
	}
	keys := k.Shape().Dim(1)
	splitHeads := func(t *Node, n int) *Node { return Reshape(t, batch, n, heads, headDim) }
	q, k, v = splitHeads(q, seq), splitHeads(k, keys), splitHeads(v, keys)

	// scores[b, h, q, k]
	scores := mixed(ctx, func(q, k *Node) *Node { return Einsum("bqhd,bkhd->bhqk", q, k) }, q, k)
	scores = MulScalar(scores, 1/math.Sqrt(float64(headDim)))
	// Padding keys get a large negative bias, as Hugging Face does, so they
	// receive (numerically) zero attention.
	bias := MulScalar(OneMinus(keyMask), -1e9)
	scores = Add(scores, Reshape(bias, batch, 1, 1, keys))
	probs := Softmax(scores, -1)
	probs = layers.DropoutStatic(ctx, probs, cfg.AttentionDropout)
	out := mixed(ctx, func(p, v *Node) *Node { return Einsum("bhqk,bkhd->bqhd", p, v) }, probs, v)
	return Reshape(out, batch, seq, cfg.HiddenSize)
}

// Pool is BERT's pooler, tanh(dense(hidden[:, 0])), when the model has one,
// else hidden[:, 0]. It is separate from Forward because a graph must not
// read variables it does not use (the pure-Go backend fails on them).
func Pool(ctx *context.Context, cfg hf.Config, x *Node) *Node {
	first := Squeeze(Slice(x, AxisRange(), AxisElem(0)), 1)
	if !cfg.HasPooler {
		return first
	}
	return Tanh(Linear(ctx.Checked(false).In("pooler").In("dense"), first, cfg.HiddenSize))
}

// linearSite is a projection followed by its hook.
func linearSite(ctx, root *context.Context, hooks Hooks, layer int, site Site, x *Node, out int) *Node {
	return hooks.Linear(root, layer, site, x, Linear(ctx, x, out))
}

// Linear is y = x W^T + b with W stored [out, in] as in PyTorch, so Hugging
// Face weights need no transposes. Variables "weight" and "bias" live in ctx.
func Linear(ctx *context.Context, x *Node, out int) *Node {
	return LinearNormal(ctx, x, out, InitStdDev)
}

// LinearWith is Linear with a chosen weight initialiser (the bias starts at
// zero), for adapters and heads that initialise otherwise.
func LinearWith(ctx *context.Context, x *Node, out int, init initializers.VariableInitializer) *Node {
	in := x.Shape().Dim(-1)
	w := ctx.WithInitializer(init).VariableWithShape("weight", shapes.Make(x.DType(), out, in)).ValueGraph(x.Graph())
	b := HostVariable(ctx, "bias", shapes.Make(x.DType(), out), HostZeros).ValueGraph(x.Graph())
	return linear(ctx, x, w, b)
}

// LinearNormal is Linear with N(0, std) weights made on the host.
func LinearNormal(ctx *context.Context, x *Node, out int, std float64) *Node {
	return LinearHost(ctx, x, out, HostNormal(std))
}

func linear(ctx *context.Context, x, w, b *Node) *Node {
	y := mixed(ctx, func(x, w *Node) *Node { return DotGeneral(x, []int{x.Rank() - 1}, nil, w, []int{1}, nil) }, x, w)
	return Add(y, ExpandLeftToRank(b, y.Rank()))
}

// LayerNorm normalises the last axis with learned "weight" (init 1) and
// "bias" (init 0), matching torch.nn.LayerNorm (biased variance).
func LayerNorm(ctx *context.Context, x *Node, eps float64) *Node {
	g := x.Graph()
	dim := x.Shape().Dim(-1)
	gain := HostVariable(ctx, "weight", shapes.Make(x.DType(), dim), HostOnes).ValueGraph(g)
	offset := HostVariable(ctx, "bias", shapes.Make(x.DType(), dim), HostZeros).ValueGraph(g)
	mean := ReduceAndKeep(x, ReduceMean, -1)
	centred := Sub(x, mean)
	variance := ReduceAndKeep(Square(centred), ReduceMean, -1)
	// Rsqrt has no gradient in GoMLX v0.26.0; Sqrt does.
	normed := Div(centred, Sqrt(AddScalar(variance, eps)))
	return Add(Mul(normed, ExpandLeftToRank(gain, x.Rank())), ExpandLeftToRank(offset, x.Rank()))
}

// Activation applies a Hugging Face hidden_act by name (see ActivationFn).
func Activation(name string, x *Node) *Node {
	fn, err := ActivationFn(name)
	if err != nil {
		panic(err)
	}
	return fn(x)
}

// ActivationFn maps an activation's name to its function: Hugging Face's
// hidden_act names and AdapterHub's non_linearity names ("" is BERT's gelu).
func ActivationFn(name string) (func(*Node) *Node, error) {
	switch name {
	case "gelu", "":
		// Exact (erf) GELU, BERT's default.
		return func(x *Node) *Node { return Mul(MulScalar(x, 0.5), OnePlus(Erf(MulScalar(x, 1/math.Sqrt2)))) }, nil
	case "gelu_new", "gelu_pytorch_tanh", "gelu_fast":
		return func(x *Node) *Node {
			inner := MulScalar(Add(x, MulScalar(Mul(Square(x), x), 0.044715)), math.Sqrt(2/math.Pi))
			return Mul(MulScalar(x, 0.5), OnePlus(Tanh(inner)))
		}, nil
	case "relu":
		return func(x *Node) *Node { return Max(x, ZerosLike(x)) }, nil
	case "tanh":
		return Tanh, nil
	case "silu", "swish":
		return func(x *Node) *Node { return Mul(x, Sigmoid(x)) }, nil
	case "linear", "identity":
		return func(x *Node) *Node { return x }, nil
	}
	return nil, fmt.Errorf("activation %q is not supported: use gelu, gelu_new, relu, tanh, silu (swish) or linear", name)
}

// weight returns an [rows, cols] variable initialised N(0, std).
func weight(g *Graph, ctx *context.Context, name string, std float64, rows, cols int) *Node {
	return HostVariable(ctx, name, shapes.Make(dtypes.Float32, rows, cols), HostNormal(std)).ValueGraph(g)
}

// matchBatch replicates mask along the batch axis when a hook has grown x's
// batch (Parallel composition).
func matchBatch(mask, x *Node) *Node {
	mb, xb := mask.Shape().Dim(0), x.Shape().Dim(0)
	if mb == xb {
		return mask
	}
	if xb%mb != 0 {
		panic(fmt.Sprintf("hook changed the batch from %d to %d, which is not a multiple", mb, xb))
	}
	reps := make([]*Node, xb/mb)
	for i := range reps {
		reps[i] = mask
	}
	return Concatenate(reps, 0)
}
