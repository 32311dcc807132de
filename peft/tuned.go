package peft

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
	"github.com/gomlx/gomlx/pkg/ml/layers"

	"github.com/gopeft/gopeft/peft/encoder"
	"github.com/gopeft/gopeft/peft/hf"
)

// Head is the task head on top of the encoder. AdapterHub's default
// classification head: dropout, dense hidden->hidden, tanh, dropout, dense
// hidden->outputs, on the first ([CLS]) token. Its variables live under /head.
type Head struct {
	Outputs int     `json:"num_labels"` // classes, or 1 for regression
	Layers  int     `json:"layers"`     // 2 (AdapterHub's default) or 1
	Dropout float64 `json:"dropout"`
	// Regression predicts one float (mean-squared-error loss).
	Regression bool `json:"regression,omitempty"`
}

// ClassificationHead is AdapterHub's default two-layer head.
func ClassificationHead(numLabels int) Head {
	return Head{Outputs: numLabels, Layers: 2, Dropout: 0.1}
}

// RegressionHead predicts one value.
func RegressionHead() Head { return Head{Outputs: 1, Layers: 2, Dropout: 0.1, Regression: true} }

// NumParams of the head.
func (h Head) NumParams(hidden int) int {
	if h.Layers >= 2 {
		return hidden*hidden + hidden + hidden*h.Outputs + h.Outputs
	}
	return hidden*h.Outputs + h.Outputs
}

func (h Head) forward(ctx *context.Context, hidden *graph.Node) *graph.Node {
	ctx = ctx.Checked(false).In("head")
	x := graph.Squeeze(graph.Slice(hidden, graph.AxisRange(), graph.AxisElem(0)), 1) // [CLS]
	x = layers.DropoutStatic(ctx, x, h.Dropout)
	if h.Layers >= 2 {
		x = graph.Tanh(encoder.LinearWith(ctx.In("dense"), x, x.Shape().Dim(-1), initializers.RandomNormalFn(ctx, encoder.InitStdDev)))
		x = layers.DropoutStatic(ctx, x, h.Dropout)
	}
	return encoder.LinearWith(ctx.In("out_proj"), x, h.Outputs, initializers.RandomNormalFn(ctx, encoder.InitStdDev))
}

// Tuned is a Model with a PEFT Setup and a task head: its own copy of the
// base weights (never trained), the adapters and the head. train.Finetune trains
// one; the run store and hfpeft.LoadLoRA restore one.
//
// A trained Tuned does not change. Every change after training (MergeLoRA,
// UnmergeLoRA, PruneMasks, PruneFusion, FlattenPrefix, LoadAdapter,
// LoadHead, LoadScope) is a method that returns a new Tuned with its own
// copy of the weights and setup and a new Version, which compiled graphs
// are keyed on; the receiver keeps computing what it computed before.
type Tuned struct {
	Model *Model
	Setup *Setup
	Head  Head
	Ctx   *context.Context

	version uint64
	// merged names the LoRA adapters folded into the base weights: their
	// hooks add nothing and their parameters do not train.
	merged []string
	infer  *inferCache
	// frozenBelow is FreezeBelow's k: nothing below that layer trains.
	frozenBelow int
}

// versions numbers Tuneds process-wide, so that no two share a version.
var versions atomic.Uint64

// Version identifies this Tuned's weights and setup: it differs from the
// version of every Tuned it was derived from.
func (t *Tuned) Version() uint64 { return t.version }

// derive is the copy-on-write step of every post-training change: change
// edits a new Tuned with cloned weights, a cloned setup (methods deep-copied)
// and a new version; t is left as it was. Which parameters train is derived
// again afterwards.
func (t *Tuned) derive(change func(n *Tuned) error) (*Tuned, error) {
	ctx, err := t.Ctx.Clone()
	if err != nil {
		return nil, err
	}
	s, err := t.Setup.clone()
	if err != nil {
		return nil, err
	}
	n := &Tuned{Model: t.Model, Setup: s, Head: t.Head, Ctx: ctx, merged: slices.Clone(t.merged), frozenBelow: t.frozenBelow, version: versions.Add(1)}
	if err := change(n); err != nil {
		return nil, err
	}
	n.markTrainable()
	return n, nil
}

// NewTuned copies the model's weights into a new context, creates and
// initialises the setup's adapters and the head (seeded), and marks as
// trainable exactly the parameters that should train.
func NewTuned(m *Model, s *Setup, head Head, seed int64) (*Tuned, error) {
	if s == nil {
		s = &Setup{}
	}
	if err := s.Validate(m.Config); err != nil {
		return nil, err
	}
	if head.Outputs <= 0 {
		return nil, fmt.Errorf("head has %d outputs: use ClassificationHead(numLabels) or RegressionHead()", head.Outputs)
	}
	ctx, err := m.Ctx.Clone()
	if err != nil {
		return nil, err
	}
	t := &Tuned{Model: m, Setup: s, Head: head, Ctx: ctx, version: versions.Add(1)}
	// Every adapter (active or not) and fusion layer gets its variables.
	if err := initVariables(ctx, seed, t.initForward); err != nil {
		return nil, err
	}
	t.markTrainable()
	return t, nil
}

// logits builds the forward pass; dropBelow is AdapterDrop's skipped depth.
func (t *Tuned) logits(ctx *context.Context, in encoder.Inputs, dropBelow int) *graph.Node {
	out, _ := t.forward(ctx, in, dropBelow)
	return t.Head.forward(ctx, out.Hidden)
}

func (t *Tuned) forward(ctx *context.Context, in encoder.Inputs, dropBelow int) (encoder.Outputs, *hooks) {
	h := newHooks(t.Setup, t.Model.Config, dropBelow)
	h.merged = t.merged
	return encoder.Forward(ctx, t.Model.Config, in, h), h
}

// BaseTrainer is implemented by methods that train base weights (BitFit,
// LayerNorm tuning, full and partial fine-tuning): TrainsBase says which,
// by canonical name, on a model of config cfg (top-k layers need its depth).
type BaseTrainer interface {
	TrainsBase(cfg hf.Config, canonical string) bool
}

// ActivationSizer is implemented by methods that know what they keep for
// the backward pass (the estimator asks): floats per encoder layer,
// averaged over layers, for tokens tokens, and the prefix positions that
// every attention layer attends to in addition.
type ActivationSizer interface {
	Activations(cfg hf.Config, tokens int64) (perLayer int64, prefix int)
}

// markTrainable freezes the base model, except base weights that a training
// method claims, and unfreezes the head and the adapters that train.
func (t *Tuned) markTrainable() {
	for v := range t.Ctx.IterVariables() {
		v.SetTrainable(t.isTrainable(v))
	}
}

func (t *Tuned) isTrainable(v *context.Variable) bool {
	if t.frozenByLayer(v) {
		return false
	}
	scope := v.Scope()
	switch {
	case encoder.IsBase(v):
		name := encoder.CanonicalName(v)
		for _, a := range t.Setup.Adapters {
			for _, l := range leavesOf(a.Method) {
				if bt, ok := l.method.(BaseTrainer); ok && t.Setup.Trains(a.Name) && bt.TrainsBase(t.Model.Config, name) {
					return true
				}
			}
		}
		return false
	case strings.HasPrefix(scope, "/head"):
		return true
	case strings.HasPrefix(scope, peftRoot+"/"):
		name, _ := adapterOf(scope)
		if isFusionScope(name) {
			return t.Setup.trainsFusion(name)
		}
		return t.Setup.Trains(name) && !t.IsMerged(name)
	}
	return false
}

// ParamCounts are the sizes Summary and the trainable-parameters line report.
type ParamCounts struct {
	Trainable, Total, Base int
	PerAdapter             map[string]int
	Head                   int
}

// Counts counts parameters by owner, from the live variables.
func (t *Tuned) Counts() ParamCounts {
	c := ParamCounts{PerAdapter: map[string]int{}}
	for v := range t.Ctx.IterVariables() {
		if !v.Shape().DType.IsFloat() {
			continue // RNG state and step counters are not parameters
		}
		n := v.Shape().Size()
		scope := v.Scope()
		switch {
		case encoder.IsBase(v):
			if strings.HasPrefix(scope, "/cls") {
				continue // the MLM head is not part of the fine-tuned model
			}
			c.Base += n
		case strings.HasPrefix(scope, "/head"):
			c.Head += n
		case strings.HasPrefix(scope, peftRoot+"/"):
			name, _ := adapterOf(scope)
			c.PerAdapter[name] += n
		default:
			continue // optimizer state
		}
		c.Total += n
		if v.Trainable {
			c.Trainable += n
		}
	}
	return c
}

// TrainableLine is Hugging Face peft's print_trainable_parameters line.
func (t *Tuned) TrainableLine() string {
	c := t.Counts()
	return fmt.Sprintf("trainable params: %d || all params: %d || trainable%%: %.4f",
		c.Trainable, c.Total, 100*float64(c.Trainable)/float64(max(c.Total, 1)))
}

// variableValue reads a variable by canonical scope path, for tests and I/O.
func (t *Tuned) variableValue(scope, name string) (*tensors.Tensor, error) {
	v := t.Ctx.GetVariableByScopeAndName(scope, name)
	if v == nil {
		return nil, fmt.Errorf("no variable %s/%s", scope, name)
	}
	return v.Value()
}
