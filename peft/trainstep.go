package peft

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train"
	"github.com/gomlx/gomlx/pkg/ml/train/losses"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
)

// Labels are the targets of a batch: Classes for classification, Values for
// regression.
type Labels struct {
	Classes []int32
	Values  []float32
}

// Stepper runs optimisation steps on a Tuned with AdamW (decoupled weight
// decay, Loshchilov & Hutter): what train.Finetune drives, and custom loops
// and `gopeft bench adapterdrop` use. It compiles one graph per AdapterDrop
// depth, so dropped layers cost nothing in the forward or backward pass.
//
// GoMLX's train.Trainer could hold the same per-depth graphs (its spec),
// but its step reports one loss, and the curve keeps both the task loss and
// the total with extra terms (Fusion regularisation, mask loss); this is
// the 60 lines that keep both, with no loop machinery the caller drives.
type Stepper struct {
	t     *Tuned
	opt   optimizers.Interface
	execs map[int]*context.Exec
	lrVar *context.Variable
	last  *graph.Graph // the graph the last Step ran (Graph)
}

// Graph is the compiled graph of the last Step, nil before the first: for
// tools that read its compiled statistics (estimate's device memory, via
// fastgrad.CompiledDeviceBytes).
func (s *Stepper) Graph() *graph.Graph { return s.last }

// StepResult is one training step's losses.
type StepResult struct {
	Loss     float64 // total: task + every extra term (Fusion regularisation, MAM mask loss)
	TaskLoss float64
}

// NewStepper starts an AdamW stepper with the given decoupled weight decay.
func (t *Tuned) NewStepper(weightDecay float64) *Stepper {
	opt := optimizers.Adam().WeightDecay(weightDecay).Epsilon(1e-8).Done()
	return &Stepper{t: t, opt: opt, execs: map[int]*context.Exec{}}
}

func (s *Stepper) exec(depth int) (*context.Exec, error) {
	if e, ok := s.execs[depth]; ok {
		return e, nil
	}
	b, err := Backend()
	if err != nil {
		return nil, err
	}
	t := s.t
	e, err := context.NewExec(b, t.Ctx, func(ctx *context.Context, ids, types, mask, labels *graph.Node) []*graph.Node {
		g := ids.Graph()
		ctx.SetTraining(g, true)
		logits := t.logits(ctx, inputs(ids, types, mask), depth)
		var task *graph.Node
		if t.Head.Regression {
			task = losses.MeanSquaredError([]*graph.Node{graph.Reshape(labels, -1, 1)}, []*graph.Node{logits})
		} else {
			task = losses.SparseCategoricalCrossEntropyLogits([]*graph.Node{graph.Reshape(labels, -1, 1)}, []*graph.Node{logits})
		}
		task = graph.ReduceAllMean(task)
		train.AddLoss(ctx, task)
		loss := train.GetLosses(ctx, g)
		s.opt.UpdateGraph(ctx, g, loss)
		return []*graph.Node{loss, task}
	})
	if err != nil {
		return nil, err
	}
	s.execs[depth] = e
	return e, nil
}

// Step trains on one batch with learning rate lr, without adapters in the
// lowest depth layers (AdapterDrop.TrainDepth draws it).
func (s *Stepper) Step(b Batch, y Labels, lr float64, depth int) (StepResult, error) {
	if n := s.t.Model.Config.NumLayers; depth < 0 || depth > n {
		return StepResult{}, fmt.Errorf("AdapterDrop depth %d is outside 0..%d", depth, n)
	}
	ids, types, mask, err := b.tensors()
	if err != nil {
		return StepResult{}, err
	}
	var labels *tensors.Tensor
	switch {
	case s.t.Head.Regression && len(y.Values) == len(b.IDs):
		labels = tensors.FromValue(y.Values)
	case !s.t.Head.Regression && len(y.Classes) == len(b.IDs):
		labels = tensors.FromValue(y.Classes)
	default:
		return StepResult{}, fmt.Errorf("batch of %d examples has %d class labels and %d values", len(b.IDs), len(y.Classes), len(y.Values))
	}
	if s.lrVar == nil {
		s.lrVar = optimizers.LearningRateVar(s.t.Ctx, dtypes.Float32, lr)
	}
	s.lrVar.MustSetValue(tensors.FromValue(float32(lr)))
	e, err := s.exec(depth)
	if err != nil {
		return StepResult{}, err
	}
	out, g, err := e.ExecWithGraph(ids, types, mask, labels)
	s.last = g
	if err != nil {
		return StepResult{}, err
	}
	return StepResult{Loss: Scalar(out[0]), TaskLoss: Scalar(out[1])}, nil
}

// Scalar reads a float scalar tensor (a loss) as float64.
func Scalar(t *tensors.Tensor) float64 {
	switch v := t.Value().(type) {
	case float32:
		return float64(v)
	case float64:
		return v
	}
	return 0
}
