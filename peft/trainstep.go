package peft

import (
	"fmt"
	"strings"

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
// decay, Loshchilov & Hutter; GoPEFT's own, adamw.go, for per-variable
// rates and gradient clipping): what train.Finetune drives, and custom
// loops and `gopeft bench adapterdrop` use. It compiles one graph per
// AdapterDrop depth, so dropped layers cost nothing in the forward or
// backward pass.
//
// GoMLX's train.Trainer could hold the same per-depth graphs (its spec),
// but its step reports one loss, and the curve keeps both the task loss and
// the total with extra terms (Fusion regularisation, mask loss); this is
// the 60 lines that keep both, with no loop machinery the caller drives.
type Stepper struct {
	t     *Tuned
	opt   optimizers.Interface
	adamW *adamW // opt, when it is GoPEFT's AdamW (always, outside tests)
	execs map[int]*context.Exec
	lrVar *context.Variable
	last  *graph.Graph // the graph the last Step ran (Graph)

	devices int           // StepperOptions.Devices
	dp      *dataParallel // the mesh, from the first compile on; nil: one device without a mesh

	distillExecs map[distillKey]*context.Exec // StepDistill's graphs (distill.go)
}

// StepperOptions configure NewStepperWith's AdamW.
type StepperOptions struct {
	WeightDecay float64 // decoupled weight decay (0: none)
	// ClipNorm > 0 clips the gradients of the variables that train to this
	// global L2 norm before each update (PyTorch's clip_grad_norm_; 1.0 is
	// the Hugging Face Trainer's default). 0: no clipping.
	ClipNorm float64
	// Devices > 0 trains data parallel over the backend's first Devices
	// devices (dataparallel.go): each step's batch is split across them
	// and the gradients all-reduced. It needs the XLA backend, and batches
	// whose size is a multiple of Devices. 1 runs the same mesh code on
	// one device; 0 (default) compiles the plain single-device graph.
	Devices int
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
	return t.NewStepperWith(StepperOptions{WeightDecay: weightDecay})
}

// NewStepperWith starts an AdamW stepper (betas 0.9 and 0.999, epsilon
// 1e-8) with every variable's learning-rate multiplier 1.
func (t *Tuned) NewStepperWith(o StepperOptions) *Stepper {
	opt := &adamW{weightDecay: max(0, o.WeightDecay), beta1: 0.9, beta2: 0.999, epsilon: 1e-8, clipNorm: max(0, o.ClipNorm)}
	return &Stepper{t: t, opt: opt, adamW: opt, execs: map[int]*context.Exec{}, devices: o.Devices}
}

// SetLRMultipliers sets each trainable variable's learning rate to the
// step's rate times mult(v), from the next step on; mult must return a
// finite number >= 0, and 0 holds the variable bitwise still (its decay
// is scaled too). Changing multipliers recompiles nothing: they are
// variables the graph reads. nil sets every multiplier back to 1.
func (s *Stepper) SetLRMultipliers(mult func(v *context.Variable) float64) {
	if s.adamW != nil { // nil only for tests that step with GoMLX's Adam
		s.adamW.mult = mult
	}
}

// LearningRates reads back what the optimizer applied at the last step:
// each trained variable's rate (the step's rate times its multiplier), by
// ScopeAndName. Before the first step there is nothing to read.
func (s *Stepper) LearningRates() (map[string]float64, error) {
	if s.lrVar == nil {
		return nil, fmt.Errorf("no step has run: LearningRates reads the rates of the last step")
	}
	lr, err := s.lrVar.Value()
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	prefix := context.ScopeSeparator + adamWScope + "/lr_multiplier"
	for v := range s.t.Ctx.IterVariables() {
		scope, ok := strings.CutPrefix(v.Scope(), prefix)
		if !ok {
			continue
		}
		m, err := v.Value()
		if err != nil {
			return nil, err
		}
		out[scope+context.ScopeSeparator+v.Name()] = Scalar(lr) * Scalar(m)
	}
	return out, nil
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
		applyMasksGraph(ctx, g) // pruned weights stay zero (prune.go)
		return []*graph.Node{loss, task}
	})
	if err != nil {
		return nil, err
	}
	if err := s.distribute(e, 4); err != nil {
		return nil, err
	}
	s.execs[depth] = e
	return e, nil
}

// distribute puts e, a step graph whose inputs (that many) all have the
// batch as axis 0, on the Stepper's mesh; nothing without one.
func (s *Stepper) distribute(e *context.Exec, inputs int) error {
	if s.devices == 0 {
		return nil
	}
	if s.dp == nil {
		dp, err := newDataParallel(s.devices)
		if err != nil {
			return err
		}
		s.dp = dp
	}
	s.dp.configure(e, inputs)
	return nil
}

// checkDevicesFor refuses, before anything compiles, a step the devices
// cannot run: a negative count, or a batch that does not split evenly.
func (s *Stepper) checkDevicesFor(examples int) error {
	if s.devices < 0 {
		return fmt.Errorf("StepperOptions.Devices is %d: give 0 (one device) or the number of devices to train on", s.devices)
	}
	if s.devices == 0 {
		return nil
	}
	return CheckBatchSplits(examples, s.devices)
}

// run executes a step graph on the step's inputs (split over the devices
// when there is a mesh) and returns the first device's outputs: with
// every output replicated, each device holds the same losses.
func (s *Stepper) run(e *context.Exec, inputs ...*tensors.Tensor) ([]*tensors.Tensor, *graph.Graph, error) {
	args, err := s.dp.args(inputs...)
	if err != nil {
		return nil, nil, err
	}
	out, g, err := e.ExecWithGraph(args...)
	if err != nil {
		return nil, g, err
	}
	if n := s.dp.devices(); len(out)%n != 0 {
		return nil, g, fmt.Errorf("step returned %d outputs for %d devices", len(out), n)
	}
	return out[:len(out)/s.dp.devices()], g, nil
}

// Step trains on one batch with learning rate lr, without adapters in the
// lowest depth layers (AdapterDrop.TrainDepth draws it).
func (s *Stepper) Step(b Batch, y Labels, lr float64, depth int) (StepResult, error) {
	p, err := s.StepLazy(b, y, lr, depth)
	if err != nil {
		return StepResult{}, err
	}
	return p.Result(), nil
}

// PendingStep is a step whose losses have not been read back: reading them
// waits for the device, so a loop that reads them every few steps lets the
// host queue the next steps while the device runs.
type PendingStep struct{ loss, task *tensors.Tensor }

// Result reads the step's losses (waiting for the step to finish).
func (p PendingStep) Result() StepResult {
	return StepResult{Loss: Scalar(p.loss), TaskLoss: Scalar(p.task)}
}

// StepLazy is Step without reading the losses back.
func (s *Stepper) StepLazy(b Batch, y Labels, lr float64, depth int) (PendingStep, error) {
	if n := s.t.Model.Config.NumLayers; depth < 0 || depth > n {
		return PendingStep{}, fmt.Errorf("AdapterDrop depth %d is outside 0..%d", depth, n)
	}
	if err := s.checkDevicesFor(len(b.IDs)); err != nil {
		return PendingStep{}, err
	}
	ids, types, mask, err := b.tensors()
	if err != nil {
		return PendingStep{}, err
	}
	var labels *tensors.Tensor
	switch {
	case s.t.Head.Regression && len(y.Values) == len(b.IDs):
		labels = tensors.FromValue(y.Values)
	case !s.t.Head.Regression && len(y.Classes) == len(b.IDs):
		labels = tensors.FromValue(y.Classes)
	default:
		return PendingStep{}, fmt.Errorf("batch of %d examples has %d class labels and %d values", len(b.IDs), len(y.Classes), len(y.Values))
	}
	if err := s.setRate(lr); err != nil {
		return PendingStep{}, err
	}
	e, err := s.exec(depth)
	if err != nil {
		return PendingStep{}, err
	}
	out, g, err := s.run(e, ids, types, mask, labels)
	s.last = g
	if err != nil {
		return PendingStep{}, err
	}
	return PendingStep{loss: out[0], task: out[1]}, nil
}

// setRate sets the step's peak learning rate and the per-variable
// multipliers (Recipe's layer-wise rates and unfreezing) that scale it.
func (s *Stepper) setRate(lr float64) error {
	if s.lrVar == nil {
		s.lrVar = optimizers.LearningRateVar(s.t.Ctx, dtypes.Float32, lr)
	}
	s.lrVar.MustSetValue(tensors.FromValue(float32(lr)))
	if s.adamW != nil {
		return s.adamW.syncMultipliers(s.t.Ctx)
	}
	return nil
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
