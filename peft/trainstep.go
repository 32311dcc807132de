package peft

import (
	"fmt"
	"math/rand/v2"

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

// stepper runs optimisation steps on a Tuned. It compiles one graph per
// AdapterDrop depth, so dropped layers cost nothing in forward or backward.
type stepper struct {
	t     *Tuned
	opt   optimizers.Interface
	execs map[int]*context.Exec
	lrVar *context.Variable
}

// StepResult is one training step's losses.
type StepResult struct {
	Loss     float64 // total: task + every extra term (Fusion regularisation, MAM mask loss)
	TaskLoss float64
}

// newStepper uses AdamW with decoupled weight decay (Loshchilov & Hutter).
func newStepper(t *Tuned, weightDecay float64) *stepper {
	opt := optimizers.Adam().WeightDecay(weightDecay).Epsilon(1e-8).Done()
	return &stepper{t: t, opt: opt, execs: map[int]*context.Exec{}}
}

func (s *stepper) exec(depth int) (*context.Exec, error) {
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

// step trains on one batch with the given learning rate and AdapterDrop depth.
func (s *stepper) step(b Batch, y Labels, lr float64, depth int) (StepResult, error) {
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
	out, err := e.Exec(ids, types, mask, labels)
	if err != nil {
		return StepResult{}, err
	}
	return StepResult{Loss: scalar(out[0]), TaskLoss: scalar(out[1])}, nil
}

func scalar(t *tensors.Tensor) float64 {
	switch v := t.Value().(type) {
	case float32:
		return float64(v)
	case float64:
		return v
	}
	return 0
}

// LinearSchedule is the learning rate at step (0-based) of steps: a linear
// warmup over the first warmup steps from peak/warmup to peak, then a linear
// decay that reaches peak/(steps-warmup) at the last step (Hugging Face's
// linear schedule, counted so that no step trains at rate 0).
func LinearSchedule(step, steps, warmup int, peak float64) float64 {
	if step < warmup {
		return peak * float64(step+1) / float64(warmup)
	}
	return peak * float64(max(0, steps-step)) / float64(max(1, steps-warmup))
}

// sampler draws example indices in epochs, each a seeded shuffle; its rng
// also serves the loop's other random choices (AdapterDrop depths, MLM
// masking), so one seed fixes a whole run.
type sampler struct {
	rng   *rand.Rand
	order []int
	pos   int
}

func newSampler(n int, seed int64) *sampler {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
	return &sampler{rng: rng, order: rng.Perm(n)}
}

// next is the next index, reshuffling at each epoch's end.
func (s *sampler) next() int {
	if s.pos == len(s.order) {
		s.order, s.pos = s.rng.Perm(len(s.order)), 0
	}
	s.pos++
	return s.order[s.pos-1]
}
