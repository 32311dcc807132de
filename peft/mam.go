package peft

import (
	"math"

	"fmt"

	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
	"github.com/gomlx/gomlx/pkg/ml/train"

	"github.com/gopeft/gopeft/peft/encoder"
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

func init() { registerMethod("mam", func() Method { return &MAM{} }) }

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

func (m *MAM) Validate(cfg hf.Config) error {
	if m.Prefix == nil || m.FFN == nil {
		return fmt.Errorf("a MAM adapter needs both Prefix and FFN: start from MAMAdapter() or SmallMAMAdapter()")
	}
	if err := m.Prefix.Validate(cfg); err != nil {
		return fmt.Errorf("prefix: %w", err)
	}
	if err := m.FFN.Validate(cfg); err != nil {
		return fmt.Errorf("ffn adapter: %w", err)
	}
	return nil
}

func (m *MAM) NumParams(cfg hf.Config) int { return m.Prefix.NumParams(cfg) + m.FFN.NumParams(cfg) }

func (m *MAM) prefix(ctx *context.Context, cfg hf.Config, layer int, x *graph.Node, memo memoFn) (*graph.Node, *graph.Node) {
	return m.Prefix.prefix(ctx.In("prefix"), cfg, layer, x, memo)
}

func (m *MAM) placedAt(cfg hf.Config, layer int, sub encoder.Sublayer) bool {
	return m.FFN.placedAt(cfg, layer, sub)
}

func (m *MAM) preForward(out, in *graph.Node, ln func(*graph.Node) *graph.Node) (*graph.Node, *graph.Node, *graph.Node) {
	return m.FFN.preForward(out, in, ln)
}

func (m *MAM) forward(ctx *context.Context, cfg hf.Config, layer int, sub encoder.Sublayer, hidden, residual *graph.Node) *graph.Node {
	return m.FFN.forward(ctx.In("adapter"), cfg, layer, sub, hidden, residual)
}

func (m *MAM) postForward(hidden, inputHidden, in *graph.Node, ln func(*graph.Node) *graph.Node) *graph.Node {
	return m.FFN.postForward(hidden, inputHidden, in, ln)
}

// MAMMasks is GoPEFT's learned pruning of bottleneck units — what the seed
// text calls "MAM": it is not part of He et al.'s MAM adapter.
//
//   - Each unit i of each adapter module has a mask-prediction logit; its
//     keep-probability is π_i = sigmoid(logit_i), initialised to InitKeep.
//   - Training: every unit is dropped independently with rate DropRate
//     (z_i ~ Bernoulli(1-DropRate), rescaled by 1/(1-DropRate)), and the
//     surviving activations are gated by π_i, so π_i learns how much the task
//     needs unit i.
//   - Mask loss: the mean keep-probability, an L1 pressure that drives the
//     π of units the task does not need towards 0. The training loss is
//     task + Lambda·mask loss.
//   - Inference: the Keep units with the highest π stay (gated by π), the
//     rest are pruned; Keep 0 keeps every unit. KeepProbabilities exposes π
//     for heatmaps and Prune reports the parameters saved.
type MAMMasks struct {
	DropRate float64 `json:"drop_rate"`
	Lambda   float64 `json:"lambda"`
	InitKeep float64 `json:"init_keep"`
	Keep     int     `json:"keep"`
}

// DefaultMasks drops units at rate 0.1, weighs the mask loss 0.01 and starts
// every unit at keep-probability 0.9.
func DefaultMasks() *MAMMasks { return &MAMMasks{DropRate: 0.1, Lambda: 0.01, InitKeep: 0.9} }

func (k *MAMMasks) validate() error {
	if k.DropRate < 0 || k.DropRate >= 1 {
		return fmt.Errorf("masks: drop_rate %v is outside [0, 1)", k.DropRate)
	}
	if k.Lambda < 0 {
		return fmt.Errorf("masks: lambda %v is negative", k.Lambda)
	}
	if k.InitKeep <= 0 || k.InitKeep >= 1 {
		return fmt.Errorf("masks: init_keep %v is outside (0, 1)", k.InitKeep)
	}
	if k.Keep < 0 {
		return fmt.Errorf("masks: keep %d is negative (0 keeps every unit)", k.Keep)
	}
	return nil
}

// numParams: one mask logit per bottleneck unit.
func (k *MAMMasks) numParams(_, units int) int { return units }

// apply gates the bottleneck activations h [..., units].
func (k *MAMMasks) apply(ctx *context.Context, _ int, _ *graph.Node, h *graph.Node) *graph.Node {
	g := h.Graph()
	units := h.Shape().Dim(-1)
	initLogit := logit(k.InitKeep)
	logits := ctx.WithInitializer(initializers.BroadcastTensorToShape(scalarTensor(initLogit))).
		VariableWithShape("logits", shapes.Make(dtypes.Float32, units)).ValueGraph(g)
	keep := graph.Sigmoid(logits)
	if ctx.IsTraining(g) {
		train.AddLoss(ctx, graph.MulScalar(graph.ReduceAllMean(keep), k.Lambda))
		if k.DropRate > 0 {
			dims := h.Shape().Clone().Dimensions
			dims[len(dims)-2] = 1 // one mask per example and unit, shared over tokens
			z := graph.LessThan(ctx.RandomUniform(g, shapes.Make(dtypes.Float32, dims...)), graph.Scalar(g, dtypes.Float32, 1-k.DropRate))
			h = graph.Where(graph.BroadcastToDims(z, h.Shape().Dimensions...), graph.MulScalar(h, 1/(1-k.DropRate)), graph.ZerosLike(h))
		}
		return graph.Mul(h, graph.ExpandLeftToRank(keep, h.Rank()))
	}
	if k.Keep > 0 && k.Keep < units {
		keep = graph.Mul(keep, topKMask(keep, k.Keep))
	}
	return graph.Mul(h, graph.ExpandLeftToRank(keep, h.Rank()))
}

// topKMask is 1 for the k largest entries of a vector and 0 elsewhere (ties
// broken towards lower indices).
func topKMask(v *graph.Node, k int) *graph.Node {
	n := v.Shape().Dim(0)
	// rank_i = #{j : v_j > v_i or (v_j == v_i and j < i)}; keep rank < k.
	vi := graph.Reshape(v, n, 1)
	vj := graph.Reshape(v, 1, n)
	g := v.Graph()
	idx := graph.Iota(g, shapes.Make(dtypes.Int32, n, n), 0)
	jdx := graph.Iota(g, shapes.Make(dtypes.Int32, n, n), 1)
	before := graph.LogicalOr(graph.GreaterThan(vj, vi), graph.LogicalAnd(graph.Equal(vj, vi), graph.LessThan(jdx, idx)))
	rank := graph.ReduceSum(graph.ConvertDType(before, dtypes.Int32), 1)
	return graph.ConvertDType(graph.LessThan(rank, graph.Scalar(g, dtypes.Int32, k)), v.DType())
}

func logit(p float64) float64 { return math.Log(p / (1 - p)) }

func scalarTensor(v float64) *tensors.Tensor { return tensors.FromValue(float32(v)) }
