package peft

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gopeft/gopeft/peft/hf"
)

// AdapterDrop removes adapters from the lowest layers (Rücklé et al. 2021),
// which speeds up training and especially multi-task inference: layers below
// the first active adapter run once for all tasks.
//
//   - Static: drop the adapters of layers 0..Layers-1, during training
//     (Training) and/or at inference (Inference).
//   - Robust: every training batch draws n uniformly from 0..MaxLayers
//     (default: all layers but the last) and drops layers 0..n-1, so one
//     trained adapter works at any drop depth at inference. This is a
//     training option, not a callback.
//
// With a Parallel composition the batch is replicated only at the first
// layer with an adapter, so the dropped layers run once for all tasks: the
// multi-task inference speed-up. Fusion pruning (keeping the k adapters with
// the highest mean fusion attention) is PruneFusion.
type AdapterDrop struct {
	Layers    int  `json:"layers"`
	Training  bool `json:"training"`
	Inference bool `json:"inference"`
	Robust    bool `json:"robust"`
	MaxLayers int  `json:"max_layers,omitempty"`
}

// StaticDrop drops the lowest n layers' adapters in training and inference.
func StaticDrop(n int) AdapterDrop { return AdapterDrop{Layers: n, Training: true, Inference: true} }

// RobustDrop samples the drop depth per training batch.
func RobustDrop() AdapterDrop { return AdapterDrop{Robust: true} }

func (d AdapterDrop) validate(cfg hf.Config) error {
	if d.Layers < 0 || d.Layers > cfg.NumLayers {
		return fmt.Errorf("AdapterDrop layers is %d: it must be within 0..%d (the model's layers)", d.Layers, cfg.NumLayers)
	}
	if d.MaxLayers < 0 || d.MaxLayers > cfg.NumLayers {
		return fmt.Errorf("AdapterDrop max_layers is %d: it must be within 0..%d", d.MaxLayers, cfg.NumLayers)
	}
	if d.Layers > 0 && !d.Training && !d.Inference {
		return fmt.Errorf("AdapterDrop drops %d layers but neither Training nor Inference is set: use StaticDrop(n)", d.Layers)
	}
	return nil
}

// maxRobust is the largest depth robust training draws.
func (d AdapterDrop) maxRobust(cfg hf.Config) int {
	if d.MaxLayers > 0 {
		return d.MaxLayers
	}
	return cfg.NumLayers - 1
}

// TrainDepth is the number of lowest layers without adapters for one
// training batch.
func (d AdapterDrop) TrainDepth(cfg hf.Config, rng *rand.Rand) int {
	if d.Robust {
		return rng.IntN(d.maxRobust(cfg) + 1)
	}
	if d.Training {
		return d.Layers
	}
	return 0
}

// InferenceDepth is the number of lowest layers without adapters at inference.
func (d AdapterDrop) InferenceDepth() int {
	if d.Inference {
		return d.Layers
	}
	return 0
}

// DroppedAt reports whether layer has no adapters at inference.
func (d AdapterDrop) DroppedAt(layer int) bool { return layer < d.InferenceDepth() }

// DropAtInference returns a Tuned that runs inference without the adapters
// of the lowest n layers (n 0: every adapter), whatever its setup trained
// with: how a robustly trained adapter (RobustDrop) is served at the depth a
// deployment's speed budget allows. Training options are left as they were.
func (t *Tuned) DropAtInference(n int) (*Tuned, error) {
	if l := t.Model.Config.NumLayers; n < 0 || n > l {
		return nil, fmt.Errorf("AdapterDrop depth %d is outside 0..%d (the model's layers)", n, l)
	}
	return t.derive(func(d *Tuned) error {
		d.Setup.Drop.Layers, d.Setup.Drop.Inference = n, n > 0
		if n > 0 && !d.Setup.Drop.Robust {
			d.Setup.Drop.Training = false // a static drop trained at another depth must not say it trained at n
		}
		return nil
	})
}

// PruneFusion is AdapterDrop's fusion pruning (Rücklé et al. 2021, §5):
// it runs b through t, keeps the k children of fuse with the highest mean
// fusion attention (over examples, tokens and layers) and returns a Tuned
// whose composition fuses only those, with the kept names in the Fuse's
// order. Its fusion layers keep the trained Q, K and V (their shapes do not
// depend on the number of adapters), so pruning needs no retraining. fuse
// nil means the one Fuse of the active composition.
func (t *Tuned) PruneFusion(fuse *FuseBlock, k int, b Batch) (*Tuned, []string, error) {
	if fuse == nil {
		fuses := t.Setup.activeFuses()
		if len(fuses) != 1 {
			return nil, nil, fmt.Errorf("PruneFusion needs the Fuse block to prune: the active composition has %d", len(fuses))
		}
		fuse = fuses[0]
	}
	n := len(fuse.Children)
	if k < 1 || k > n {
		return nil, nil, fmt.Errorf("PruneFusion keeps k=%d of %d adapters: k must be within 1..%d", k, n, n)
	}
	att, err := t.FusionAttentionOf(b, fuse)
	if err != nil {
		return nil, nil, err
	}
	score := make([]float64, n)
	for _, rows := range att {
		for _, r := range rows {
			if len(r) != n {
				continue // a layer where not every child has a module
			}
			for i, p := range r {
				score[i] += p
			}
		}
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(score[b], score[a]) })
	keep := order[:k]
	slices.Sort(keep)
	pruned := &FuseBlock{Config: fuse.Config, Scope: fuse.ScopeName()}
	var kept []string
	for _, i := range keep {
		pruned.Children = append(pruned.Children, fuse.Children[i])
		kept = append(kept, lastName(fuse.Children[i]))
	}
	out, err := t.derive(func(n *Tuned) error {
		n.Setup.Active = replaceBlock(t.Setup.ActiveBlock(), fuse, pruned)
		return n.Setup.Validate(t.Model.Config)
	})
	if err != nil {
		return nil, nil, err
	}
	return out, kept, nil
}

// replaceBlock returns b with old (compared by identity) replaced by repl.
func replaceBlock(b, old, repl Block) Block {
	if f, ok := b.(*FuseBlock); ok && f == old {
		return repl
	}
	kids := func(cs []Block) []Block {
		out := make([]Block, len(cs))
		for i, c := range cs {
			out[i] = replaceBlock(c, old, repl)
		}
		return out
	}
	switch x := b.(type) {
	case Stack:
		return Stack(kids(x))
	case ParallelBlock:
		return ParallelBlock(kids(x))
	case *AverageBlock:
		return &AverageBlock{Children: kids(x.Children), Weights: x.Weights}
	case *BatchSplitBlock:
		return &BatchSplitBlock{Children: kids(x.Children), Sizes: x.Sizes}
	case *FuseBlock:
		return &FuseBlock{Children: kids(x.Children), Config: x.Config, Scope: x.Scope}
	}
	return b
}

// LogitsAt compiles the forward pass with the lowest depth layers' adapters
// dropped and returns a function computing the head's outputs (n·B rows for
// a Parallel composition). Repeated calls with batches of one shape reuse
// the compiled graph, so this is what multi-task inference timing measures.
func (t *Tuned) LogitsAt(depth int) (func(Batch) (*tensors.Tensor, error), error) {
	if n := t.Model.Config.NumLayers; depth < 0 || depth > n {
		return nil, fmt.Errorf("AdapterDrop depth %d is outside 0..%d", depth, n)
	}
	backend, err := Backend()
	if err != nil {
		return nil, err
	}
	exec, err := context.NewExec(backend, t.Ctx, func(ctx *context.Context, ids, types, mask *graph.Node) *graph.Node {
		ctx.SetTraining(ids.Graph(), false)
		return t.logits(ctx, inputs(ids, types, mask), depth)
	})
	if err != nil {
		return nil, err
	}
	return func(b Batch) (*tensors.Tensor, error) {
		ids, types, mask, err := b.tensors()
		if err != nil {
			return nil, err
		}
		out, err := exec.Exec(ids, types, mask)
		if err != nil {
			return nil, err
		}
		return out[0], nil
	}, nil
}
