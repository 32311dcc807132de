package peft

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"time"

	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/gopeft/gopeft/peft/data"
	"github.com/gopeft/gopeft/widgets"
)

// Options control Finetune. Zero values take the documented defaults.
type Options struct {
	Steps     int // optimisation steps (default 500)
	BatchSize int // examples per step (default 16)
	// LearningRate is AdamW's peak rate (default 1e-3). AdapterHub uses 1e-4
	// for base-size models; adapters on small models like higher rates, and
	// GoPEFT's shipped encoder is small.
	LearningRate float64
	// WarmupFraction of the steps warms the rate up linearly from lr/warmup
	// to lr, then it decays linearly to 0 at the last step (Hugging Face's
	// linear schedule). Default 0.06; negative means no warmup.
	WarmupFraction float64
	// WeightDecay is AdamW's decoupled decay (default 0.01; negative means 0).
	WeightDecay float64
	// MaxLen caps tokens per example, [CLS] and [SEP] included (default 128,
	// and never more than the model's positions). Batches are padded to their
	// longest example rounded up to a multiple of 16, so few shapes compile.
	MaxLen int
	// EvalEvery evaluates on dev every so many steps (default Steps/10; < 0:
	// only at the end).
	EvalEvery int
	// EvalExamples caps the dev examples evaluated during training (the
	// learning curve); 0 means all. Final dev and test metrics always use
	// the whole splits.
	EvalExamples int
	Seed         int64 // batches, initialisation, dropout, AdapterDrop depths
	// Head defaults to ClassificationHead(len(task.Labels)), or
	// RegressionHead() for regression tasks.
	Head *Head
	// Progress shows a progress bar: a live HTML bar in a notebook, a text
	// line on stderr elsewhere.
	Progress bool
	// RunDir, if set, is where the finished run is saved; when it already
	// holds a finished run with the same configuration hash, Finetune loads
	// it instead of training (a re-run notebook cell takes seconds).
	RunDir string
	Quiet  bool // no messages on stderr
}

// Defaults.
const (
	DefaultSteps        = 500
	DefaultBatchSize    = 16
	DefaultLearningRate = 1e-3
	DefaultWarmup       = 0.06
	DefaultWeightDecay  = 0.01
	DefaultMaxLen       = 128
	seqBucket           = 16 // sequence lengths round up to a multiple of this
	maxEvalBatch        = 64
)

// resolved fills defaults; the result is what the config hash covers.
func (o Options) resolved(m *Model, task *data.Task) Options {
	if o.Steps <= 0 {
		o.Steps = DefaultSteps
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.LearningRate <= 0 {
		o.LearningRate = DefaultLearningRate
	}
	switch {
	case o.WarmupFraction == 0:
		o.WarmupFraction = DefaultWarmup
	case o.WarmupFraction < 0:
		o.WarmupFraction = 0
	}
	switch {
	case o.WeightDecay == 0:
		o.WeightDecay = DefaultWeightDecay
	case o.WeightDecay < 0:
		o.WeightDecay = 0
	}
	if o.MaxLen <= 0 {
		o.MaxLen = DefaultMaxLen
	}
	o.MaxLen = max(2, min(o.MaxLen, m.Config.MaxPositions-m.Config.PositionOffset))
	if o.EvalEvery == 0 {
		o.EvalEvery = max(1, o.Steps/10)
	}
	if o.Head == nil {
		h := ClassificationHead(len(task.Labels))
		if task.Regression {
			h = RegressionHead()
		}
		o.Head = &h
	}
	return o
}

// LR is the learning rate at step (0-based) of the linear warmup/decay schedule.
func (o Options) LR(step int) float64 {
	return LinearSchedule(step, o.Steps, int(math.Round(o.WarmupFraction*float64(o.Steps))), o.LearningRate)
}

// Point is one training step on the learning curve.
type Point struct {
	Step     int     `json:"step"` // 1-based: steps done
	Loss     float64 `json:"loss"` // task + extra terms (Fusion regularisation, MAM mask loss)
	TaskLoss float64 `json:"task_loss"`
	LR       float64 `json:"lr"`
	DevAcc   float64 `json:"dev_accuracy"` // NaN when not evaluated at this step (null in JSON)
	DevMSE   float64 `json:"dev_mse"`      // regression; NaN when not evaluated
}

// pointJSON is Point on disk: NaN (not evaluated) is null.
type pointJSON struct {
	Step     int      `json:"step"`
	Loss     *float64 `json:"loss"`
	TaskLoss *float64 `json:"task_loss"`
	LR       float64  `json:"lr"`
	DevAcc   *float64 `json:"dev_accuracy,omitempty"`
	DevMSE   *float64 `json:"dev_mse,omitempty"`
}

// MarshalJSON writes NaN as null.
func (p Point) MarshalJSON() ([]byte, error) {
	return json.Marshal(pointJSON{p.Step, finiteOrNil(p.Loss), finiteOrNil(p.TaskLoss), p.LR, finiteOrNil(p.DevAcc), finiteOrNil(p.DevMSE)})
}

// UnmarshalJSON reads null (or a missing value) as NaN.
func (p *Point) UnmarshalJSON(b []byte) error {
	var aux pointJSON
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*p = Point{Step: aux.Step, Loss: nanIfNil(aux.Loss), TaskLoss: nanIfNil(aux.TaskLoss), LR: aux.LR, DevAcc: nanIfNil(aux.DevAcc), DevMSE: nanIfNil(aux.DevMSE)}
	return nil
}

func finiteOrNil(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func nanIfNil(v *float64) float64 {
	if v == nil {
		return math.NaN()
	}
	return *v
}

// Run is a finished fine-tuning run.
type Run struct {
	Tuned *Tuned
	Task  *data.Task
	Curve []Point
	// Metrics: dev_/test_ accuracy and macro_f1 (classification) or mse and
	// pearson (regression), from the final weights.
	Metrics      map[string]float64
	TrainSeconds float64
	Dir          string  // the run directory, "" when not saved
	Baseline     float64 // majority-class test accuracy (regression: mean-prediction test MSE)
	Config       RunConfig
	Loaded       bool // true when loaded from Dir instead of trained

	opt Options
}

// Finetune trains s's adapters and a task head on task, starting from m
// (which it does not change), and evaluates on dev and test. See Options.
func Finetune(m *Model, task *data.Task, s *Setup, opt Options) (*Run, error) {
	if m == nil || task == nil {
		return nil, fmt.Errorf("Finetune needs a model and a task")
	}
	if m.Tokenizer == nil {
		return nil, fmt.Errorf("model has no tokenizer: load one (LoadModel reads tokenizer.json/vocab.txt) or set m.Tokenizer")
	}
	if len(task.Train) == 0 {
		return nil, fmt.Errorf("task %q has no training examples", task.Name)
	}
	if !task.Regression && len(task.Labels) < 2 {
		return nil, fmt.Errorf("task %q has %d labels: classification needs at least 2 (set Regression for numeric targets)", task.Name, len(task.Labels))
	}
	if s == nil {
		s = &Setup{}
	}
	opt = opt.resolved(m, task)
	if err := s.Validate(m.Config); err != nil {
		return nil, err
	}
	rc, err := newRunConfig(m, task, s, opt)
	if err != nil {
		return nil, err
	}
	if opt.RunDir != "" {
		r, err := loadRun(m, task, s, opt, rc)
		switch {
		case err == nil:
			if !opt.Quiet {
				// Not an error: stdout, so notebooks do not flag it.
				fmt.Printf("gopeft: loaded the finished run in %s (config %s); delete the directory to train again\n", opt.RunDir, rc.Hash[:12])
			}
			return r, nil
		case !os.IsNotExist(err) && !opt.Quiet:
			fmt.Fprintf(os.Stderr, "gopeft: training anew: %v\n", err)
		}
	}
	t, err := NewTuned(m, s, *opt.Head, opt.Seed)
	if err != nil {
		return nil, err
	}
	r := &Run{Tuned: t, Task: task, Config: rc, opt: opt, Baseline: baseline(task)}
	if err := r.train(); err != nil {
		return nil, err
	}
	if opt.RunDir != "" {
		if err := r.save(opt.RunDir); err != nil {
			return nil, fmt.Errorf("training finished but saving the run failed: %w", err)
		}
	}
	return r, nil
}

func baseline(task *data.Task) float64 {
	if task.Regression {
		return data.MeanBaselineMSE(task)
	}
	return data.MajorityBaseline(task)
}

// encoded is one tokenized example, unpadded.
type encoded struct {
	ids   []int32
	label int
	value float64
}

func (r *Run) encode(examples []data.Example) []encoded {
	tok := r.Tuned.Model.Tokenizer
	out := make([]encoded, len(examples))
	for i, e := range examples {
		ids, _, mask := tok.Encode(e.Text, r.opt.MaxLen)
		n := 0
		for _, v := range mask {
			n += int(v)
		}
		out[i] = encoded{ids: ids[:n], label: e.Label, value: e.Value}
	}
	return out
}

// batchOf pads rows to their longest length rounded up to seqBucket (capped
// at MaxLen) and, with rows > len(es), adds empty rows to a fixed batch size.
func (r *Run) batchOf(es []encoded, rows int) Batch {
	n := 0
	for _, e := range es {
		n = max(n, len(e.ids))
	}
	n = min(r.opt.MaxLen, (n+seqBucket-1)/seqBucket*seqBucket)
	pad := r.Tuned.Model.Tokenizer.PadID
	b := Batch{IDs: make([][]int32, rows), TypeIDs: make([][]int32, rows), Mask: make([][]int32, rows)}
	for i := range rows {
		ids, mask := make([]int32, n), make([]int32, n)
		for j := range ids {
			ids[j] = pad
		}
		if i < len(es) {
			copy(ids, es[i].ids)
			for j := range es[i].ids {
				mask[j] = 1
			}
		} else {
			mask[0] = 1 // padding rows attend to their first token, never to nothing
		}
		b.IDs[i], b.TypeIDs[i], b.Mask[i] = ids, make([]int32, n), mask
	}
	return b
}

func (r *Run) labels(es []encoded) Labels {
	var y Labels
	for _, e := range es {
		if r.Tuned.Head.Regression {
			y.Values = append(y.Values, float32(e.value))
		} else {
			y.Classes = append(y.Classes, int32(e.label))
		}
	}
	return y
}

func (r *Run) train() error {
	opt, t := r.opt, r.Tuned
	if err := t.Ctx.SetRNGStateFromSeed(opt.Seed); err != nil {
		return err
	}
	train := r.encode(r.Task.Train)
	devSet := r.Task.Dev
	if opt.EvalExamples > 0 && opt.EvalExamples < len(devSet) {
		devSet = devSet[:opt.EvalExamples]
	}
	dev := r.encode(devSet)
	draw := newSampler(len(train), opt.Seed)
	st := newStepper(t, opt.WeightDecay)
	var bar *widgets.Progress
	if opt.Progress && !opt.Quiet {
		bar = widgets.NewProgress(opt.Steps, fmt.Sprintf("fine-tuning on %s", r.Task.Name))
	}
	start := time.Now()
	batch := make([]encoded, 0, opt.BatchSize)
	for step := range opt.Steps {
		batch = batch[:0]
		for len(batch) < opt.BatchSize {
			batch = append(batch, train[draw.next()])
		}
		depth := t.Setup.Drop.TrainDepth(t.Model.Config, draw.rng)
		lr := opt.LR(step)
		res, err := st.step(r.batchOf(batch, len(batch)), r.labels(batch), lr, depth)
		if err != nil {
			return fmt.Errorf("step %d: %w", step+1, err)
		}
		if math.IsNaN(res.Loss) {
			return fmt.Errorf("step %d: the loss is NaN: lower the learning rate (now %g)", step+1, opt.LearningRate)
		}
		p := Point{Step: step + 1, Loss: res.Loss, TaskLoss: res.TaskLoss, LR: lr, DevAcc: math.NaN(), DevMSE: math.NaN()}
		shown := map[string]float64{"loss": res.Loss}
		if len(dev) > 0 && opt.EvalEvery > 0 && (step+1)%opt.EvalEvery == 0 && step+1 < opt.Steps {
			ms, err := r.evaluateEncoded(dev)
			if err != nil {
				return err
			}
			if t.Head.Regression {
				p.DevMSE = ms["mse"]
				shown["dev_mse"] = p.DevMSE
			} else {
				p.DevAcc = ms["accuracy"]
				shown["dev_acc"] = p.DevAcc
			}
		}
		r.Curve = append(r.Curve, p)
		if bar != nil {
			bar.Update(step+1, shown)
		}
	}
	r.TrainSeconds = time.Since(start).Seconds()
	r.Metrics = map[string]float64{}
	for _, split := range []struct {
		name string
		es   []data.Example
	}{{"dev", r.Task.Dev}, {"test", r.Task.Test}} {
		if len(split.es) == 0 {
			continue
		}
		ms, err := r.Evaluate(split.es)
		if err != nil {
			return err
		}
		for k, v := range ms {
			r.Metrics[split.name+"_"+k] = v
		}
	}
	// The last curve point carries the final dev metric.
	if last := &r.Curve[len(r.Curve)-1]; len(r.Task.Dev) > 0 {
		last.DevAcc, last.DevMSE = r.metricOr("dev_accuracy"), r.metricOr("dev_mse")
	}
	if bar != nil {
		shown := map[string]float64{"loss": r.Curve[len(r.Curve)-1].Loss}
		for _, k := range []string{"dev_accuracy", "test_accuracy", "dev_mse", "test_mse"} {
			if v, ok := r.Metrics[k]; ok {
				shown[k] = v
			}
		}
		bar.Update(opt.Steps, shown)
		bar.Done()
	}
	return nil
}

func (r *Run) metricOr(k string) float64 {
	if v, ok := r.Metrics[k]; ok {
		return v
	}
	return math.NaN()
}

// With is the run's record (task, curve, metrics, options) serving t, a
// Tuned derived from r.Tuned after training (MergeLoRA, PruneMasks, ...), so
// Predict and Evaluate use it; r is not changed. Metrics stay the trained
// run's; Dir is cleared, since t is not what the run directory holds.
func (r *Run) With(t *Tuned) *Run {
	c := *r
	c.Tuned, c.Dir = t, ""
	return &c
}

// outputs returns the head's outputs for every example, [n][outputs].
func (r *Run) outputs(es []encoded) ([][]float32, error) {
	var out [][]float32
	for i := 0; i < len(es); i += maxEvalBatch {
		chunk := es[i:min(len(es), i+maxEvalBatch)]
		rows := 1
		for rows < len(chunk) {
			rows *= 2 // power-of-two batch sizes keep the compiled shapes few
		}
		res, err := r.Tuned.Logits(r.batchOf(chunk, rows))
		if err != nil {
			return nil, err
		}
		logits := tensors.MustCopyFlatData[float32](res)
		k := r.Tuned.Head.Outputs
		for j := range chunk {
			out = append(out, logits[j*k:(j+1)*k])
		}
	}
	return out, nil
}

// Predict returns the predicted class index of each text.
func (r *Run) Predict(texts []string) ([]int, error) {
	if r.Tuned.Head.Regression {
		return nil, fmt.Errorf("Predict is for classification; this run's head is a regression head: use PredictValues")
	}
	es := r.encode(textExamples(texts))
	outs, err := r.outputs(es)
	if err != nil {
		return nil, err
	}
	pred := make([]int, len(outs))
	for i, o := range outs {
		pred[i] = argmax(o)
	}
	return pred, nil
}

// PredictValues returns the regression head's prediction for each text.
func (r *Run) PredictValues(texts []string) ([]float64, error) {
	if !r.Tuned.Head.Regression {
		return nil, fmt.Errorf("PredictValues is for regression; this run classifies: use Predict")
	}
	outs, err := r.outputs(r.encode(textExamples(texts)))
	if err != nil {
		return nil, err
	}
	v := make([]float64, len(outs))
	for i, o := range outs {
		v[i] = float64(o[0])
	}
	return v, nil
}

func textExamples(texts []string) []data.Example {
	es := make([]data.Example, len(texts))
	for i, s := range texts {
		es[i].Text = s
	}
	return es
}

func argmax(v []float32) int {
	best := 0
	for i := range v {
		if v[i] > v[best] {
			best = i
		}
	}
	return best
}

// Evaluate scores examples: "accuracy" and "macro_f1" for classification,
// "mse" and "pearson" for regression.
func (r *Run) Evaluate(examples []data.Example) (map[string]float64, error) {
	if len(examples) == 0 {
		return nil, fmt.Errorf("no examples to evaluate")
	}
	return r.evaluateEncoded(r.encode(examples))
}

func (r *Run) evaluateEncoded(es []encoded) (map[string]float64, error) {
	outs, err := r.outputs(es)
	if err != nil {
		return nil, err
	}
	if r.Tuned.Head.Regression {
		pred, gold := make([]float64, len(es)), make([]float64, len(es))
		for i := range es {
			pred[i], gold[i] = float64(outs[i][0]), es[i].value
		}
		return map[string]float64{"mse": MSE(pred, gold), "pearson": Pearson(pred, gold)}, nil
	}
	pred, gold := make([]int, len(es)), make([]int, len(es))
	for i := range es {
		pred[i], gold[i] = argmax(outs[i]), es[i].label
	}
	return map[string]float64{"accuracy": Accuracy(pred, gold), "macro_f1": MacroF1(pred, gold)}, nil
}

// Accuracy is the fraction of equal entries.
func Accuracy(pred, gold []int) float64 {
	hit := 0
	for i := range gold {
		if pred[i] == gold[i] {
			hit++
		}
	}
	return float64(hit) / float64(max(1, len(gold)))
}

// MacroF1 averages per-class F1 over the classes that occur in gold or
// pred (scikit-learn's f1_score(average="macro") without labels=).
func MacroF1(pred, gold []int) float64 {
	classes := map[int]bool{}
	for i := range gold {
		classes[gold[i]], classes[pred[i]] = true, true
	}
	keys := make([]int, 0, len(classes))
	for c := range classes {
		keys = append(keys, c)
	}
	slices.Sort(keys)
	sum := 0.0
	for _, c := range keys {
		tp, fp, fn := 0, 0, 0
		for i := range gold {
			switch {
			case pred[i] == c && gold[i] == c:
				tp++
			case pred[i] == c:
				fp++
			case gold[i] == c:
				fn++
			}
		}
		if tp > 0 {
			sum += 2 * float64(tp) / float64(2*tp+fp+fn)
		}
	}
	return sum / float64(max(1, len(keys)))
}

// MSE is the mean squared error.
func MSE(pred, gold []float64) float64 {
	s := 0.0
	for i := range gold {
		s += (pred[i] - gold[i]) * (pred[i] - gold[i])
	}
	return s / float64(max(1, len(gold)))
}

// Pearson is the correlation coefficient; NaN when either side is constant.
func Pearson(x, y []float64) float64 {
	n := float64(len(x))
	var mx, my float64
	for i := range x {
		mx += x[i]
		my += y[i]
	}
	mx, my = mx/n, my/n
	var sxy, sxx, syy float64
	for i := range x {
		sxy += (x[i] - mx) * (y[i] - my)
		sxx += (x[i] - mx) * (x[i] - mx)
		syy += (y[i] - my) * (y[i] - my)
	}
	if sxx == 0 || syy == 0 {
		return math.NaN()
	}
	return sxy / math.Sqrt(sxx*syy)
}
