package train

import (
	"fmt"
	"math"
	"time"

	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/data"
)

// Run is a finished fine-tuning run.
type Run struct {
	Tuned *peft.Tuned
	Task  *data.Task
	Curve []Point
	// Metrics: dev_/test_ accuracy and macro_f1 (classification) or mse and
	// pearson (regression), from the final weights.
	Metrics      map[string]float64
	TrainSeconds float64
	Baseline     float64 // majority-class test accuracy (regression: mean-prediction test MSE)
	Options      Options // resolved: what the run was trained with
	Control      ControlReport

	PruneEvents []PruneEvent // mask updates of Options.Prune, in order (not kept by the run store)
}

// LearningCurve is the run's curve (notebook.Curves draws it).
func (r *Run) LearningCurve() []Point { return r.Curve }

// Finetune trains s's adapters and a task head on task, starting from m
// (which it does not change), and evaluates on dev and test. See Options.
func Finetune(m *peft.Model, task *data.Task, s *peft.Setup, opt Options) (*Run, error) {
	if m == nil || task == nil {
		return nil, fmt.Errorf("Finetune needs a model and a task")
	}
	if m.Tokenizer == nil {
		return nil, fmt.Errorf("model has no tokenizer: load one (LoadModel reads tokenizer.json/vocab.txt) or set m.Tokenizer")
	}
	if len(task.Train) == 0 {
		return nil, fmt.Errorf("task %q has no training examples: give Train at least one example (data.LoadFile reads a CSV or JSONL file)", task.Name)
	}
	if !task.Regression && len(task.Labels) < 2 {
		return nil, fmt.Errorf("task %q has %d labels: classification needs at least 2 (set Regression for numeric targets)", task.Name, len(task.Labels))
	}
	if err := checkLabels(task); err != nil {
		return nil, err
	}
	if s == nil {
		s = &peft.Setup{}
	}
	if err := peft.MixedPrecisionSupported(); opt.Speed.MixedPrecision && err != nil && opt.Log != nil {
		opt.Log(err.Error() + "; training in float32")
	}
	opt = opt.Resolved(m, task)
	if err := opt.Control.validate(opt, task.Regression); err != nil {
		return nil, err
	}
	if err := opt.checkDevices(); err != nil {
		return nil, err
	}
	if opt.Prune != nil && opt.Control.CheckpointDir != "" {
		// Pruning zeroes frozen base weights, which checkpoints leave out.
		return nil, fmt.Errorf("a pruning run cannot resume from checkpoints yet (they leave out the frozen base weights that pruning zeroes): turn checkpoints off (CheckpointEvery < 0, no CheckpointDir) or train without Prune")
	}
	t, err := peft.NewTuned(m, s, *opt.Head, opt.Seed)
	if err != nil {
		return nil, err
	}
	for _, dir := range opt.Adapters {
		if t, _, err = t.LoadAdapter(dir); err != nil {
			return nil, fmt.Errorf("Options.Adapters: %w", err)
		}
	}
	t, rr, err := opt.Recipe.prepare(t, opt)
	if err != nil {
		return nil, err
	}
	if err := t.SetMixedPrecision(opt.Speed.MixedPrecision); err != nil {
		return nil, err
	}
	r := &Run{Tuned: t, Task: task, Options: opt, Baseline: Baseline(task)}
	if err := r.train(rr); err != nil {
		return nil, err
	}
	return r, nil
}

// checkLabels refuses a classification example whose label is not an index
// into task.Labels: the loss would gather outside the logits.
func checkLabels(task *data.Task) error {
	if task.Regression {
		return nil
	}
	for _, split := range []struct {
		name string
		es   []data.Example
	}{{"training", task.Train}, {"dev", task.Dev}, {"test", task.Test}} {
		for i, e := range split.es {
			if e.Label < 0 || e.Label >= len(task.Labels) {
				return fmt.Errorf("task %q: %s example %d has label %d, outside 0..%d (its %d labels %v): labels are indices into Task.Labels; list every class there",
					task.Name, split.name, i, e.Label, len(task.Labels)-1, len(task.Labels), task.Labels)
			}
		}
	}
	return nil
}

// Baseline is the majority-class test accuracy, or for regression the
// test MSE of predicting the training mean.
func Baseline(task *data.Task) float64 {
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
		ids, _, mask := tok.Encode(e.Text, r.Options.MaxLen)
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
// On XLA every batch is padded to MaxLen (fixedShapes).
func (r *Run) batchOf(es []encoded, rows int) peft.Batch {
	n := 0
	for _, e := range es {
		n = max(n, len(e.ids))
	}
	n = min(r.Options.MaxLen, (n+seqBucket-1)/seqBucket*seqBucket)
	if fixedShapes() {
		n = r.Options.MaxLen
	}
	pad := r.Tuned.Model.Tokenizer.PadID
	b := peft.Batch{IDs: make([][]int32, rows), TypeIDs: make([][]int32, rows), Mask: make([][]int32, rows)}
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

func (r *Run) labels(es []encoded) peft.Labels {
	var y peft.Labels
	for _, e := range es {
		if r.Tuned.Head.Regression {
			y.Values = append(y.Values, float32(e.value))
		} else {
			y.Classes = append(y.Classes, int32(e.label))
		}
	}
	return y
}

func (r *Run) train(rr *recipeRun) error {
	opt, t := r.Options, r.Tuned
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
	ctl := newControl(r, draw)
	ctl.keepStream("augment", rr.augSrc) // augmentation draws from its own stream
	if err := ctl.resume(); err != nil {
		return err
	}
	so := rr.stepperOptions(opt.WeightDecay)
	so.Devices = opt.DataParallelDevices()
	st := t.NewStepperWith(so)
	prune, err := r.startPruning() // before the first step: its graph applies the masks
	if err != nil {
		return err
	}
	teacher, err := r.startDistill()
	if err != nil {
		return err
	}
	start := time.Now()
	from := ctl.from
	if ctl.stopped {
		from = opt.Steps
	}
	err = loopFrom(from, opt.Steps, opt.LR, func(step int, lr float64) (float64, error) {
		if err := prune.after(step); err != nil {
			return 0, err
		}
		batch := make([]encoded, opt.BatchSize)
		idx := draw.take(opt.BatchSize)
		for i, k := range idx {
			batch[i] = train[k]
		}
		rr.augment(batch)
		rr.beforeStep(step, st)
		depth := t.Setup.Drop.TrainDepth(t.Model.Config, draw.rng)
		var res peft.StepResult
		if teacher == nil {
			res, err = st.Step(r.batchOf(batch, len(batch)), r.labels(batch), lr, depth)
		} else {
			var soft [][]float32
			if soft, err = teacher.of(idx); err == nil {
				res, err = st.StepDistill(r.batchOf(batch, len(batch)), r.labels(batch), soft, opt.Distill.Loss(), lr, depth)
			}
		}
		if err != nil || math.IsNaN(res.Loss) || math.IsInf(res.Loss, 0) {
			return res.Loss, err
		}
		p := Point{Step: step + 1, Loss: res.Loss, TaskLoss: res.TaskLoss, LR: lr, DevAcc: math.NaN(), DevMSE: math.NaN()}
		shown := map[string]float64{"loss": res.Loss}
		var ms map[string]float64
		if len(dev) > 0 && ctl.evaluates(step+1) {
			ms, err = r.evaluateEncoded(dev)
			if err != nil {
				return 0, err
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
		if opt.Progress != nil {
			opt.Progress(Progress{Task: r.Task.Name, Step: step + 1, Steps: opt.Steps, Metrics: shown})
		}
		return res.Loss, ctl.after(step+1, ms, ctl.elapsed(start))
	})
	if err != nil {
		return err
	}
	if err := prune.after(opt.Steps); err != nil {
		return err
	}
	if err := ctl.finish(ctl.elapsed(start)); err != nil {
		return err
	}
	r.TrainSeconds = ctl.elapsed(start)
	r.Metrics = map[string]float64{}
	prune.record(r)
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
	// (Not when early stopping restored an earlier step's weights.)
	if last := &r.Curve[len(r.Curve)-1]; len(r.Task.Dev) > 0 && !r.Control.RestoredBest {
		last.DevAcc, last.DevMSE = r.metricOr("dev_accuracy"), r.metricOr("dev_mse")
	}
	if opt.Progress != nil {
		shown := map[string]float64{"loss": r.Curve[len(r.Curve)-1].Loss}
		for _, k := range []string{"dev_accuracy", "test_accuracy", "dev_mse", "test_mse"} {
			if v, ok := r.Metrics[k]; ok {
				shown[k] = v
			}
		}
		opt.Progress(Progress{Task: r.Task.Name, Step: len(r.Curve), Steps: opt.Steps, Metrics: shown, Done: true})
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
// run's.
func (r *Run) With(t *peft.Tuned) *Run {
	c := *r
	c.Tuned = t
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
		if fixedShapes() {
			rows = maxEvalBatch
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

// PruneMasks prunes like Tuned.PruneMasks and returns the run of the
// pruned Tuned; the report also gives test accuracy (dev when there is no
// test split) before and after.
func (r *Run) PruneMasks(adapter string, keep int) (*Run, peft.PruneReport, error) {
	return r.prune(adapter, func(t *peft.Tuned) (*peft.Tuned, peft.PruneReport, error) { return t.PruneMasks(adapter, keep) })
}

// PruneRandomUnits is PruneMasks' control: keep units per module chosen at
// random (seeded), with the same report.
func (r *Run) PruneRandomUnits(adapter string, keep int, seed int64) (*Run, peft.PruneReport, error) {
	return r.prune(adapter, func(t *peft.Tuned) (*peft.Tuned, peft.PruneReport, error) {
		return t.PruneRandomUnits(adapter, keep, seed)
	})
}

func (r *Run) prune(adapter string, prune func(*peft.Tuned) (*peft.Tuned, peft.PruneReport, error)) (*Run, peft.PruneReport, error) {
	split, metric := r.Task.Test, "test_accuracy"
	if len(split) == 0 {
		split, metric = r.Task.Dev, "dev_accuracy"
	}
	var before map[string]float64
	var err error
	if len(split) > 0 && !r.Tuned.Head.Regression {
		// An unpruned run's accuracy is already in its metrics.
		kept, kerr := peft.MasksKept(r.Tuned, adapter)
		if acc, ok := r.Metrics[metric]; ok && kerr == nil && kept == 0 {
			before = map[string]float64{"accuracy": acc}
		} else if before, err = r.Evaluate(split); err != nil {
			return nil, peft.PruneReport{}, err
		}
	}
	t, rep, err := prune(r.Tuned)
	if err != nil {
		return nil, rep, err
	}
	pruned := r.With(t)
	if before == nil {
		return pruned, rep, nil
	}
	after, err := pruned.Evaluate(split)
	if err != nil {
		return nil, rep, err
	}
	rep.AccuracyBefore, rep.AccuracyAfter = before["accuracy"], after["accuracy"]
	return pruned, rep, nil
}

// fixedShapes says whether batches take one shape whatever their contents:
// on XLA each new input shape is a compilation of seconds (a GPU pads for
// free), while the CPU backends compile in milliseconds and pay for every
// padded token, so they keep the tighter buckets.
var fixedShapes = func() bool { return peft.BackendChoice().IsXLA() }
