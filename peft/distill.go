package peft

import (
	"fmt"
	"math"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train"
	"github.com/gomlx/gomlx/pkg/ml/train/losses"

	"github.com/gopeft/gopeft/peft/encoder"
)

// Distillation is Hinton et al. (2015)'s knowledge distillation loss: the
// student matches the teacher's temperature-softened class distribution and
// the gold labels,
//
//	loss = Alpha·T²·KL(softmax(teacher/T) ‖ softmax(student/T)) + (1-Alpha)·CE(student, labels)
//
// with KL summed over classes and averaged over the batch (PyTorch's
// KLDivLoss "batchmean", as DistilBERT uses). T² keeps the soft term's
// gradients on the scale of the hard term's as T changes (Hinton et al. §2).
type Distillation struct {
	Temperature float64 `json:"temperature"` // T > 0; 1 is the plain softmax
	Alpha       float64 `json:"alpha"`       // weight of the soft term, in [0, 1]
}

// Validate names a bad field and its range.
func (d Distillation) Validate() error {
	if !(d.Temperature > 0) || math.IsInf(d.Temperature, 0) {
		return fmt.Errorf("distillation temperature %v must be positive (Hinton et al. use 1-20; 2 is common)", d.Temperature)
	}
	if !(d.Alpha >= 0 && d.Alpha <= 1) {
		return fmt.Errorf("distillation alpha %v is outside [0, 1] (0: labels only, 1: teacher only)", d.Alpha)
	}
	return nil
}

// DistillationLoss is the batch's loss, [B, C] logits and [B] int32 labels
// in, scalars out: the total, the soft (KL) term and the hard (CE) term,
// each before its weight.
func DistillationLoss(student, teacher, labels *graph.Node, d Distillation) (total, kl, ce *graph.Node) {
	invT := 1 / d.Temperature
	logPs := graph.LogSoftmax(graph.MulScalar(student, invT), -1)
	logPt := graph.LogSoftmax(graph.MulScalar(graph.StopGradient(teacher), invT), -1)
	kl = graph.ReduceAllMean(graph.ReduceSum(graph.Mul(graph.Exp(logPt), graph.Sub(logPt, logPs)), -1))
	ce = graph.ReduceAllMean(losses.SparseCategoricalCrossEntropyLogits(
		[]*graph.Node{graph.Reshape(labels, -1, 1)}, []*graph.Node{student}))
	total = graph.Add(graph.MulScalar(kl, d.Alpha*d.Temperature*d.Temperature), graph.MulScalar(ce, 1-d.Alpha))
	return total, kl, ce
}

type distillKey struct {
	depth int
	d     Distillation
}

// StepDistill is Step with a teacher: teacher holds the teacher's logits
// for each example of the batch ([len(b.IDs)][classes]), and the task loss
// is DistillationLoss's total (TaskLoss reports it; Loss adds the setup's
// extra terms, as in Step). Classification heads only.
func (s *Stepper) StepDistill(b Batch, y Labels, teacher [][]float32, d Distillation, lr float64, depth int) (StepResult, error) {
	if err := d.Validate(); err != nil {
		return StepResult{}, err
	}
	if s.t.Head.Regression {
		return StepResult{}, fmt.Errorf("distillation needs a classification head: this Tuned regresses (train it without a teacher)")
	}
	if n := s.t.Model.Config.NumLayers; depth < 0 || depth > n {
		return StepResult{}, fmt.Errorf("AdapterDrop depth %d is outside 0..%d", depth, n)
	}
	k := s.t.Head.Outputs
	if len(teacher) != len(b.IDs) || len(y.Classes) != len(b.IDs) {
		return StepResult{}, fmt.Errorf("batch of %d examples has %d teacher rows and %d class labels", len(b.IDs), len(teacher), len(y.Classes))
	}
	flatT := make([]float32, 0, len(teacher)*k)
	for i, row := range teacher {
		if len(row) != k {
			return StepResult{}, fmt.Errorf("teacher row %d has %d logits but the student's head has %d classes: distil from a teacher trained on the same labels", i, len(row), k)
		}
		flatT = append(flatT, row...)
	}
	if err := s.checkDevicesFor(len(b.IDs)); err != nil {
		return StepResult{}, err
	}
	ids, types, mask, err := b.tensors()
	if err != nil {
		return StepResult{}, err
	}
	if err := s.setRate(lr); err != nil {
		return StepResult{}, err
	}
	e, err := s.distillExec(distillKey{depth, d})
	if err != nil {
		return StepResult{}, err
	}
	out, _, err := s.run(e, ids, types, mask, tensors.FromValue(y.Classes), tensors.FromFlatDataAndDimensions(flatT, len(teacher), k))
	if err != nil {
		return StepResult{}, err
	}
	return StepResult{Loss: Scalar(out[0]), TaskLoss: Scalar(out[1])}, nil
}

func (s *Stepper) distillExec(key distillKey) (*context.Exec, error) {
	if e, ok := s.distillExecs[key]; ok {
		return e, nil
	}
	b, err := Backend()
	if err != nil {
		return nil, err
	}
	t := s.t
	e, err := context.NewExec(b, t.Ctx, func(ctx *context.Context, ids, types, mask, labels, teacher *graph.Node) []*graph.Node {
		g := ids.Graph()
		ctx.SetTraining(g, true)
		logits := t.logits(ctx, inputs(ids, types, mask), key.depth)
		task, _, _ := DistillationLoss(logits, teacher, labels, key.d)
		train.AddLoss(ctx, task)
		loss := train.GetLosses(ctx, g)
		s.opt.UpdateGraph(ctx, g, loss)
		applyMasksGraph(ctx, g)
		return []*graph.Node{loss, task}
	})
	if err != nil {
		return nil, err
	}
	if err := s.distribute(e, 5); err != nil {
		return nil, err
	}
	if s.distillExecs == nil {
		s.distillExecs = map[distillKey]*context.Exec{}
	}
	s.distillExecs[key] = e
	return e, nil
}

// SpreadLayers picks k of n layers spread evenly from the bottom, i·n/k for
// i < k: every other layer when k = n/2 (DistilBERT's initialisation, which
// takes one layer out of two from BERT), 0,2 of 4, 0,1,3 of 4... Lowest
// layers instead are 0..k-1.
func SpreadLayers(n, k int) []int {
	out := make([]int, 0, k)
	for i := range k {
		out = append(out, i*n/k)
	}
	return out
}

// Student is a smaller encoder initialised from m (DistilBERT-style): its
// embeddings, pooler and MLM head, and layer i a copy of m's layer
// layers[i]. The hidden size, heads and tokenizer stay m's.
func (m *Model) Student(layers []int) (*Model, error) {
	return studentOf(m, m.Ctx, layers)
}

// Student is Model.Student from t's base weights: the fine-tuned ones when
// t trained its base (full fine-tuning, BitFit), otherwise the pretrained.
func (t *Tuned) Student(layers []int) (*Model, error) {
	return studentOf(t.Model, t.Ctx, layers)
}

func studentOf(m *Model, ctx *context.Context, layers []int) (*Model, error) {
	n := m.Config.NumLayers
	if len(layers) == 0 {
		return nil, fmt.Errorf("a student needs at least one layer: pick teacher layers such as SpreadLayers(%d, %d)", n, max(1, n/2))
	}
	for i, l := range layers {
		if l < 0 || l >= n {
			return nil, fmt.Errorf("student layer %d copies teacher layer %d, outside 0..%d", i, l, n-1)
		}
		if i > 0 && l <= layers[i-1] {
			return nil, fmt.Errorf("student layers %v must increase (a student keeps the teacher's layer order)", layers)
		}
	}
	ws, err := encoder.Weights(ctx)
	if err != nil {
		return nil, err
	}
	from := map[int]int{} // teacher layer -> student layer
	for i, l := range layers {
		from[l] = i
	}
	out := map[string]*tensors.Tensor{}
	for name, w := range ws {
		c, err := w.LocalClone()
		if err != nil {
			return nil, fmt.Errorf("weight %s: %w", name, err)
		}
		rest, ok := strings.CutPrefix(name, "encoder.layer.")
		if !ok {
			out[name] = c
			continue
		}
		var l int
		var tail string
		if _, err := fmt.Sscanf(rest, "%d.", &l); err != nil {
			return nil, fmt.Errorf("weight %s: no layer number", name)
		}
		tail = rest[strings.IndexByte(rest, '.'):]
		if i, ok := from[l]; ok {
			out[fmt.Sprintf("encoder.layer.%d%s", i, tail)] = c
		}
	}
	cfg := m.Config
	cfg.NumLayers = len(layers)
	s := &Model{Config: cfg, Tokenizer: m.Tokenizer, Ctx: context.New()}
	if err := encoder.SetWeights(s.Ctx, out); err != nil {
		return nil, err
	}
	return s, nil
}
