package peft

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
	"github.com/gomlx/gomlx/pkg/ml/train"

	"github.com/gopeft/gopeft/peft/encoder"
)

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

// MaskRow is one masked bottleneck module's keep-probabilities.
type MaskRow struct {
	Layer    int
	Sublayer encoder.Sublayer // attention or ffn
	Keep     []float64        // sigmoid of the learned mask logits, one per unit
}

// masked is implemented by methods whose bottleneck units can carry MAM
// masks; maskedBottleneck is nil when masks are off.
type masked interface {
	maskedBottleneck() *Bottleneck
}

// maskedBottleneck finds the part of an adapter with MAM masks (a
// Bottleneck itself, or a union's bottleneck part, such as MAM's FFN
// adapter) and its variables' scope.
func maskedBottleneck(t *Tuned, adapter string) (*Bottleneck, string, error) {
	a := t.Setup.Adapter(adapter)
	if a == nil {
		return nil, "", fmt.Errorf("no adapter named %q (adapters: %v)", adapter, names(t.Setup))
	}
	for _, l := range leavesOf(a.Method) {
		if m, ok := l.method.(masked); ok && m.maskedBottleneck() != nil {
			scope := AdapterScope(adapter)
			if p := l.path(); p != "" {
				scope += "/" + p
			}
			return m.maskedBottleneck(), scope, nil
		}
	}
	return nil, "", fmt.Errorf("adapter %q (%s) has no MAM masks: set Masks: DefaultMasks() on its bottleneck (MAM: .FFN.Masks)", adapter, a.Method.Kind())
}

// MaskRows returns the keep-probabilities of every masked module of an
// adapter, in layer order (attention before ffn within a layer).
func MaskRows(t *Tuned, adapter string) ([]MaskRow, error) {
	b, scope, err := maskedBottleneck(t, adapter)
	if err != nil {
		return nil, err
	}
	cfg := t.Model.Config
	var rows []MaskRow
	for layer := range cfg.NumLayers {
		for _, sub := range b.sublayers() {
			if !b.placedAt(cfg, layer, sub) {
				continue
			}
			v := t.Ctx.GetVariableByScopeAndName(fmt.Sprintf("%s/layer_%d_%s/mask", scope, layer, sub), "logits")
			if v == nil {
				return nil, fmt.Errorf("adapter %q has no mask variables for layer %d %s: is it active in this Tuned?", adapter, layer, sub)
			}
			val, err := v.Value()
			if err != nil {
				return nil, err
			}
			logits := tensors.MustCopyFlatData[float32](val)
			keep := make([]float64, len(logits))
			for i, l := range logits {
				keep[i] = 1 / (1 + math.Exp(-float64(l)))
			}
			rows = append(rows, MaskRow{Layer: layer, Sublayer: sub, Keep: keep})
		}
	}
	return rows, nil
}

// KeepProbabilities returns the learned keep-probabilities, one row per
// masked module (one per layer for FFN-only adapters) and one column per
// bottleneck unit: the values for a heatmap (widgets.Heatmap). Rows differ
// in length when per-layer reduction factors differ.
func KeepProbabilities(t *Tuned, adapter string) ([][]float64, error) {
	rows, err := MaskRows(t, adapter)
	if err != nil {
		return nil, err
	}
	out := make([][]float64, len(rows))
	for i, r := range rows {
		out[i] = r.Keep
	}
	return out, nil
}

// PruneReport says what PruneMasks removed. A pruned unit removes one row
// of the down-projection (hidden weights), its bias, one column of the
// up-projection (hidden weights) and its mask logit: 2·hidden+2 parameters.
type PruneReport struct {
	Keep         int // units kept per module (0: all)
	UnitsBefore  int
	UnitsAfter   int
	ParamsBefore int // the adapter's parameters (a MAM adapter's prefix included)
	ParamsAfter  int
	ParamsSaved  int
	// Accuracy before and after, filled by Run.PruneMasks (NaN otherwise).
	AccuracyBefore, AccuracyAfter float64
}

// PruneMasks returns a Tuned whose masked modules of adapter keep only the
// keep units with the highest learned keep-probability (keep 0 restores
// all): it sets Masks.Keep, which inference graphs read, on the new Tuned's
// copy of the adapter's config.
func (t *Tuned) PruneMasks(adapter string, keep int) (*Tuned, PruneReport, error) {
	rep := PruneReport{Keep: keep, AccuracyBefore: math.NaN(), AccuracyAfter: math.NaN()}
	if keep < 0 {
		return nil, rep, fmt.Errorf("keep is %d: give the number of units to keep per module (0 keeps all)", keep)
	}
	rows, err := MaskRows(t, adapter)
	if err != nil {
		return nil, rep, err
	}
	d := t.Model.Config.HiddenSize
	for _, r := range rows {
		units := len(r.Keep)
		kept := units
		if keep > 0 {
			kept = min(keep, units)
		}
		rep.UnitsBefore += units
		rep.UnitsAfter += kept
		rep.ParamsSaved += (units - kept) * (2*d + 2)
	}
	n, ok := t.Counts().PerAdapter[adapter]
	if !ok {
		n = t.Setup.Adapter(adapter).Method.NumParams(t.Model.Config)
	}
	rep.ParamsBefore = n
	rep.ParamsAfter = n - rep.ParamsSaved
	pruned, err := t.derive(func(n *Tuned) error {
		b, _, err := maskedBottleneck(n, adapter)
		if err == nil {
			b.Masks.Keep = keep
		}
		return err
	})
	return pruned, rep, err
}

// PruneRandomUnits is the control experiment for PruneMasks: it keeps keep
// units per masked module chosen uniformly at random (seeded) instead of
// those with the highest keep-probability. The kept units keep their learned
// gates; the others' mask logits go to -1e4, whose sigmoid is exactly 0 in
// float32, so they are pruned as surely as by PruneMasks. If learned masks
// carry information, PruneMasks keeps more accuracy than this at equal keep.
func (t *Tuned) PruneRandomUnits(adapter string, keep int, seed int64) (*Tuned, PruneReport, error) {
	if keep <= 0 {
		return nil, PruneReport{}, fmt.Errorf("keep is %d: give the number of units to keep per module (at least 1)", keep)
	}
	// The same accounting as PruneMasks.
	_, rep, err := t.PruneMasks(adapter, keep)
	if err != nil {
		return nil, rep, err
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6d61736b)) // "mask"
	pruned, err := t.derive(func(n *Tuned) error {
		b, scope, err := maskedBottleneck(n, adapter)
		if err != nil {
			return err
		}
		cfg := n.Model.Config
		for layer := range cfg.NumLayers {
			for _, sub := range b.sublayers() {
				if !b.placedAt(cfg, layer, sub) {
					continue
				}
				v := n.Ctx.GetVariableByScopeAndName(fmt.Sprintf("%s/layer_%d_%s/mask", scope, layer, sub), "logits")
				if v == nil {
					return fmt.Errorf("adapter %q has no mask variables for layer %d %s: is it active in this Tuned?", adapter, layer, sub)
				}
				val, err := v.Value()
				if err != nil {
					return err
				}
				logits := tensors.MustCopyFlatData[float32](val)
				for _, i := range rng.Perm(len(logits))[min(keep, len(logits)):] {
					logits[i] = -1e4
				}
				if err := v.SetValue(tensors.FromFlatDataAndDimensions(logits, len(logits))); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return pruned, rep, err
}

// MasksKept is the Keep of the adapter's MAM masks: 0 while unpruned.
func MasksKept(t *Tuned, adapter string) (int, error) {
	b, _, err := maskedBottleneck(t, adapter)
	if err != nil {
		return 0, err
	}
	return b.Masks.Keep, nil
}
