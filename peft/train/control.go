package train

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gopeft/gopeft/internal/atomicfile"
	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/encoder"
	"github.com/gopeft/gopeft/peft/safetensors"
)

// Control is Options.Control: early stopping on a dev metric, periodic
// checkpoints and resume. The zero value does none of them.
type Control struct {
	// Patience > 0 turns early stopping on: training stops after Patience
	// evaluations in a row (one every EvalEvery steps, and the last step)
	// that do not beat the best dev metric by more than MinDelta, and the
	// weights of the best evaluated step are restored (Keras's
	// EarlyStopping with restore_best_weights). The curve ends at the step
	// where training stopped; final metrics are the restored weights'.
	Patience int
	MinDelta float64
	// Metric is the dev metric watched: "accuracy" (the default for
	// classification), "macro_f1", "mse" (the default for regression; lower
	// is better) or "pearson". It is measured on the curve's dev examples
	// (Options.EvalExamples).
	Metric string
	// KeepLast keeps the last step's weights instead of the best step's.
	KeepLast bool
	// StopAt > 0 ends training after that step while the learning-rate
	// schedule still spans Options.Steps: the run that early stopping at
	// StopAt would restore.
	StopAt int

	// CheckpointDir, if set, receives a checkpoint every CheckpointEvery
	// steps and one when training ends; Finetune resumes from the newest
	// checkpoint there whose Key matches, continuing the same curve (same
	// batches, dropout masks and optimizer state) instead of restarting. A
	// checkpoint is a directory step-NNNNNNNN written whole and renamed into
	// place; the previous one is removed only after the new one is complete.
	CheckpointDir string
	// CheckpointEvery defaults to EvalEvery (Steps/10 when that is < 0).
	CheckpointEvery int
	// Key names the configuration the checkpoints belong to (the run store
	// passes its config hash); checkpoints with another key are not resumed
	// and are replaced by the first new one. Empty: a key from the options.
	Key string
}

// ControlReport says what Control did in a run.
type ControlReport struct {
	StepsTrained int     `json:"steps_trained"`          // steps this call trained (0: resumed a finished run)
	ResumedFrom  int     `json:"resumed_from,omitempty"` // the checkpoint's step it continued from
	StoppedAt    int     `json:"stopped_at,omitempty"`   // the step early stopping or StopAt ended at
	BestStep     int     `json:"best_step,omitempty"`    // early stopping: the best evaluated step
	BestDev      float64 `json:"best_dev,omitempty"`     // and its dev metric (Control.Metric)
	Metric       string  `json:"metric,omitempty"`
	// RestoredBest: the run holds BestStep's weights, not its last step's.
	RestoredBest bool `json:"restored_best,omitempty"`
	// CheckpointSeconds is the time spent writing checkpoints, which
	// Run.TrainSeconds leaves out.
	CheckpointSeconds float64 `json:"checkpoint_seconds,omitempty"`
}

// Record is the part of c that changes a run's result (what the run
// store's config hash covers); zero when c changes nothing.
func (c Control) Record() ControlRecord {
	if c.Patience <= 0 && c.StopAt <= 0 {
		return ControlRecord{}
	}
	r := ControlRecord{StopAt: c.StopAt}
	if c.Patience > 0 {
		r.Patience, r.MinDelta, r.Metric, r.KeepLast = c.Patience, c.MinDelta, c.Metric, c.KeepLast
	}
	return r
}

// ControlRecord is Control.Record.
type ControlRecord struct {
	Patience int     `json:"patience,omitempty"`
	MinDelta float64 `json:"min_delta,omitempty"`
	Metric   string  `json:"metric,omitempty"`
	KeepLast bool    `json:"keep_last,omitempty"`
	StopAt   int     `json:"stop_at,omitempty"`
}

// resolved fills in Control's defaults (after Options' own).
func (c Control) resolved(o Options, regression bool) Control {
	if c.Metric == "" {
		c.Metric = "accuracy"
		if regression {
			c.Metric = "mse"
		}
	}
	if c.CheckpointEvery == 0 {
		c.CheckpointEvery = o.EvalEvery
		if c.CheckpointEvery < 0 {
			c.CheckpointEvery = max(1, o.Steps/10)
		}
	}
	return c
}

func (c Control) validate(o Options, regression bool) error {
	metrics := []string{"accuracy", "macro_f1"}
	if regression {
		metrics = []string{"mse", "pearson"}
	}
	switch {
	case c.Patience < 0:
		return fmt.Errorf("Control.Patience %d is negative: use 0 to train all steps", c.Patience)
	case c.Patience > 0 && o.EvalEvery <= 0:
		return fmt.Errorf("early stopping (Control.Patience %d) needs evaluations: set EvalEvery > 0", c.Patience)
	case c.Patience > 0 && !slices.Contains(metrics, c.Metric):
		return fmt.Errorf("Control.Metric %q: this task reports %s", c.Metric, strings.Join(metrics, ", "))
	case c.StopAt < 0 || c.StopAt > o.Steps:
		return fmt.Errorf("Control.StopAt %d is outside 1..Steps (%d); 0 trains all steps", c.StopAt, o.Steps)
	}
	return nil
}

// errStop ends the loop early (early stopping, StopAt).
var errStop = errors.New("stop")

// control runs Options.Control inside one Finetune call.
type control struct {
	c     Control
	r     *Run
	draw  *sampler
	lower bool // the metric improves downwards (mse)

	from       int // first step (0-based) this call trains
	stopped    bool
	pastTrain  float64 // training seconds before this process (resumed)
	saving     float64 // seconds this call spent writing checkpoints
	bestStep   int
	bestValue  float64
	sinceBest  int
	bestValues map[string]safetensors.Tensor // trainable variables at bestStep
	// streams are other random sources whose state checkpoints keep, by
	// name (keepStream); the sampler's is kept apart.
	streams map[string]*rand.PCG
}

// keepStream makes checkpoints keep src's state, and a resumed run restore
// it: every random source the loop draws from besides the sampler (an
// augmentation's own stream, say) must be kept for a bitwise resume.
// Register before resume.
func (k *control) keepStream(name string, src *rand.PCG) {
	if k.streams == nil {
		k.streams = map[string]*rand.PCG{}
	}
	k.streams[name] = src
}

// checkpointState is a checkpoint's state.json; the variables are in
// vars.safetensors, the best step's trainable ones in best.safetensors.
type checkpointState struct {
	Key          string            `json:"key"`
	Step         int               `json:"step"` // steps done
	Steps        int               `json:"steps"`
	Seed         int64             `json:"seed"`
	Stopped      bool              `json:"stopped,omitempty"` // early stopping or StopAt ended the run here
	TrainSeconds float64           `json:"train_seconds"`
	Sampler      samplerState      `json:"sampler"`
	Streams      map[string][]byte `json:"streams,omitempty"` // keepStream's, rand.PCG.MarshalBinary
	Curve        []Point           `json:"curve"`
	BestStep     int               `json:"best_step,omitempty"`
	BestValue    *float64          `json:"best_value,omitempty"`
	SinceBest    int               `json:"since_best,omitempty"`
	Variables    []savedVar        `json:"variables"`
}

// savedVar names a variable in vars.safetensors (keyed scope + "/" + name).
type savedVar struct {
	Scope     string `json:"scope"`
	Name      string `json:"name"`
	Trainable bool   `json:"trainable"`
}

const (
	checkpointPrefix = "step-"
	stateFile        = "state.json"
	varsFile         = "vars.safetensors"
	bestFile         = "best.safetensors"
)

func newControl(r *Run, draw *sampler) *control {
	return &control{c: r.Options.Control, r: r, draw: draw, lower: r.Options.Control.Metric == "mse", bestValue: math.NaN()}
}

// key is Control.Key, or without one a digest of what this package sees of
// the configuration: model, task sizes, setup, head and options (the run
// store's key also hashes the weights and examples).
func (k *control) key() string {
	if k.c.Key != "" {
		return k.c.Key
	}
	o, t := k.r.Options, k.r.Tuned
	setup, _ := peft.MarshalSetup(t.Setup)
	desc := fmt.Sprintf("model=%s task=%s/%d/%d/%d setup=%s head=%+v steps=%d batch=%d lr=%g warmup=%g wd=%g maxlen=%d eval=%d/%d seed=%d %+v",
		t.Model.Name(), k.r.Task.Name, len(k.r.Task.Train), len(k.r.Task.Dev), len(k.r.Task.Test), setup, t.Head,
		o.Steps, o.BatchSize, o.LearningRate, o.WarmupFraction, o.WeightDecay, o.MaxLen, o.EvalEvery, o.EvalExamples, o.Seed, k.c.Record())
	sum := sha256.Sum256([]byte(desc))
	return hex.EncodeToString(sum[:])
}

func (k *control) log(format string, args ...any) {
	if k.r.Options.Log != nil {
		k.r.Options.Log(fmt.Sprintf(format, args...))
	}
}

// evaluates reports whether the loop evaluates dev after step (1-based):
// every EvalEvery steps before the last, and with early stopping the last
// step too (it is a candidate for the best).
func (k *control) evaluates(step int) bool {
	o := k.r.Options
	if o.EvalEvery <= 0 {
		return false
	}
	last := step == o.Steps || step == k.c.StopAt
	return step%o.EvalEvery == 0 && step < o.Steps || k.c.Patience > 0 && last
}

// after runs once a step (1-based) is done: early stopping, StopAt and the
// periodic checkpoint. ms holds dev metrics when the step evaluated them;
// seconds is the training time so far.
func (k *control) after(step int, ms map[string]float64, seconds float64) error {
	if k.c.Patience > 0 && ms != nil {
		v := ms[k.c.Metric]
		better := math.IsNaN(k.bestValue) || (k.lower && v < k.bestValue-k.c.MinDelta) || (!k.lower && v > k.bestValue+k.c.MinDelta)
		if better {
			k.bestStep, k.bestValue, k.sinceBest = step, v, 0
			if !k.c.KeepLast {
				vals, err := trainableValues(k.r.Tuned.Ctx)
				if err != nil {
					return err
				}
				k.bestValues = vals
			}
		} else {
			k.sinceBest++
		}
		if k.sinceBest >= k.c.Patience && step < k.r.Options.Steps {
			k.stopped = true
			k.log("gopeft: early stopping at step %d: dev %s has not improved for %d evaluations (best %.4g at step %d)", step, k.c.Metric, k.sinceBest, k.bestValue, k.bestStep)
			return errStop
		}
	}
	if step == k.c.StopAt && step < k.r.Options.Steps {
		k.stopped = true
		return errStop
	}
	if k.c.CheckpointDir != "" && k.c.CheckpointEvery > 0 && step%k.c.CheckpointEvery == 0 && step < k.r.Options.Steps {
		return k.save(step, seconds)
	}
	return nil
}

// finish restores the best step's weights and writes the final checkpoint.
func (k *control) finish(trainSeconds float64) error {
	steps := len(k.r.Curve)
	if k.c.CheckpointDir != "" && k.from < steps {
		if err := k.save(steps, trainSeconds); err != nil {
			return err
		}
	}
	rep := &k.r.Control
	rep.StepsTrained, rep.CheckpointSeconds = steps-k.from, k.saving
	if k.stopped {
		rep.StoppedAt = steps
	}
	if k.c.Patience > 0 && k.bestStep > 0 {
		rep.BestStep, rep.BestDev, rep.Metric = k.bestStep, k.bestValue, k.c.Metric
		if !k.c.KeepLast && k.bestStep != steps {
			if err := setValues(k.r.Tuned.Ctx, k.bestValues); err != nil {
				return fmt.Errorf("restoring the best step's weights: %w", err)
			}
			rep.RestoredBest = true
		}
	}
	return nil
}

// elapsed is the training time so far: before this process plus since
// start, less checkpoint writing.
func (k *control) elapsed(start time.Time) float64 {
	return k.pastTrain + time.Since(start).Seconds() - k.saving
}

// trainableValues copies the trainable variables' values.
func trainableValues(ctx *context.Context) (map[string]safetensors.Tensor, error) {
	out := map[string]safetensors.Tensor{}
	for v := range ctx.IterVariables() {
		if !v.Trainable {
			continue
		}
		t, err := safetensors.FromGoMLX(v.MustValue())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", v.ScopeAndName(), err)
		}
		out[varKey(v.Scope(), v.Name())] = t
	}
	return out, nil
}

func varKey(scope, name string) string { return scope + "/" + name }

// setValues writes saved values into existing variables.
func setValues(ctx *context.Context, vals map[string]safetensors.Tensor) error {
	for key, st := range vals {
		i := strings.LastIndexByte(key, '/')
		v := ctx.GetVariableByScopeAndName(key[:i], key[i+1:])
		if v == nil {
			return fmt.Errorf("variable %s is not in this run", key)
		}
		if err := setValue(v, st); err != nil {
			return err
		}
	}
	return nil
}

func setValue(v *context.Variable, st safetensors.Tensor) error {
	gt, err := st.ToGoMLX()
	if err != nil {
		return err
	}
	if !gt.Shape().Equal(v.Shape()) {
		return fmt.Errorf("variable %s: saved shape %s, this run's %s", v.ScopeAndName(), gt.Shape(), v.Shape())
	}
	return v.SetValue(gt)
}

// savedVariables are what a checkpoint keeps: every variable except the
// frozen base weights, which NewTuned copies from the model unchanged
// (adapters, head, trained base weights, optimizer moments and step, the
// learning rate, the graph's RNG state).
func savedVariables(ctx *context.Context) []*context.Variable {
	var vs []*context.Variable
	for v := range ctx.IterVariables() {
		if v.Trainable || !encoder.IsBase(v) {
			vs = append(vs, v)
		}
	}
	return vs
}

// save writes the checkpoint after step (1-based) and removes older ones.
func (k *control) save(step int, trainSeconds float64) error {
	began := time.Now()
	defer func() { k.saving += time.Since(began).Seconds() }()
	dir := k.c.CheckpointDir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	ss, err := k.draw.state()
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	st := checkpointState{
		Key: k.key(), Step: step, Steps: k.r.Options.Steps, Seed: k.r.Options.Seed, Stopped: k.stopped,
		TrainSeconds: trainSeconds, Sampler: ss, Curve: k.r.Curve,
		BestStep: k.bestStep, BestValue: NullIfNaN(k.bestValue), SinceBest: k.sinceBest,
	}
	for name, src := range k.streams {
		b, err := src.MarshalBinary()
		if err != nil {
			return fmt.Errorf("checkpoint: stream %s: %w", name, err)
		}
		if st.Streams == nil {
			st.Streams = map[string][]byte{}
		}
		st.Streams[name] = b
	}
	vars := &safetensors.File{Tensors: map[string]safetensors.Tensor{}}
	for _, v := range savedVariables(k.r.Tuned.Ctx) {
		t, err := safetensors.FromGoMLX(v.MustValue())
		if err != nil {
			return fmt.Errorf("checkpoint %s: %w", v.ScopeAndName(), err)
		}
		vars.Tensors[varKey(v.Scope(), v.Name())] = t
		st.Variables = append(st.Variables, savedVar{Scope: v.Scope(), Name: v.Name(), Trainable: v.Trainable})
	}
	js, err := json.Marshal(st)
	if err != nil {
		return err
	}
	name := fmt.Sprintf("%s%08d", checkpointPrefix, step)
	err = atomicfile.ReplaceDir(filepath.Join(dir, name), func(tmp string) error {
		if err := safetensors.Write(filepath.Join(tmp, varsFile), vars); err != nil {
			return err
		}
		if k.bestValues != nil {
			if err := safetensors.Write(filepath.Join(tmp, bestFile), &safetensors.File{Tensors: k.bestValues}); err != nil {
				return err
			}
		}
		return atomicfile.WriteFile(filepath.Join(tmp, stateFile), js, 0o644)
	})
	if err != nil {
		return fmt.Errorf("checkpoint at step %d: %w", step, err)
	}
	// The new checkpoint is complete: older ones and leftovers of killed
	// writes can go.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		n := e.Name()
		if n != name && (strings.HasPrefix(n, checkpointPrefix) || strings.HasPrefix(n, "."+checkpointPrefix)) {
			os.RemoveAll(filepath.Join(dir, n))
		}
	}
	return nil
}

// resume restores the newest matching checkpoint, if any: the variables,
// the sampler, the curve and the early-stopping state; k.from becomes its
// step.
func (k *control) resume() error {
	dir := k.c.CheckpointDir
	if dir == "" {
		return nil
	}
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	} else if err != nil {
		return fmt.Errorf("checkpoints: %w", err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), checkpointPrefix) && e.IsDir() {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	for _, n := range slices.Backward(names) {
		path := filepath.Join(dir, n)
		st, err := readCheckpointState(path)
		if err == nil {
			err = k.matches(st)
		}
		if err != nil {
			k.log("gopeft: not resuming from %s: %v", path, err)
			continue
		}
		if err := k.restore(path, st); err != nil {
			return fmt.Errorf("resuming from %s: %w (delete it to train from the start)", path, err)
		}
		k.log("gopeft: resuming from the checkpoint at step %d of %d in %s", st.Step, st.Steps, path)
		return nil
	}
	return nil
}

func readCheckpointState(path string) (*checkpointState, error) {
	raw, err := os.ReadFile(filepath.Join(path, stateFile))
	if err != nil {
		return nil, err
	}
	var st checkpointState
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", stateFile, err)
	}
	return &st, nil
}

func (k *control) matches(st *checkpointState) error {
	o := k.r.Options
	switch {
	case st.Key != k.key():
		return fmt.Errorf("it belongs to another configuration")
	case st.Steps != o.Steps || st.Seed != o.Seed:
		return fmt.Errorf("it is for %d steps with seed %d, this run is %d steps with seed %d", st.Steps, st.Seed, o.Steps, o.Seed)
	case st.Step < 1 || st.Step > o.Steps || len(st.Curve) != st.Step:
		return fmt.Errorf("its step %d and curve of %d points do not fit %d steps", st.Step, len(st.Curve), o.Steps)
	}
	return nil
}

func (k *control) restore(path string, st *checkpointState) error {
	f, err := safetensors.Read(filepath.Join(path, varsFile))
	if err != nil {
		return err
	}
	ctx := k.r.Tuned.Ctx
	for _, sv := range st.Variables {
		t, ok := f.Tensors[varKey(sv.Scope, sv.Name)]
		if !ok {
			return fmt.Errorf("%s lacks variable %s", varsFile, varKey(sv.Scope, sv.Name))
		}
		v := ctx.GetVariableByScopeAndName(sv.Scope, sv.Name)
		if v == nil {
			// Created by the first step's graph (optimizer moments, step
			// counter): create it now, so that the graph reuses it.
			gt, err := t.ToGoMLX()
			if err != nil {
				return err
			}
			ctx.InAbsPath(sv.Scope).Checked(false).VariableWithValue(sv.Name, gt).SetTrainable(sv.Trainable)
			continue
		}
		if v.Trainable != sv.Trainable {
			return fmt.Errorf("variable %s trains here but not in the checkpoint, or the other way round", v.ScopeAndName())
		}
		if err := setValue(v, t); err != nil {
			return err
		}
	}
	if err := k.draw.restore(st.Sampler); err != nil {
		return err
	}
	for name, src := range k.streams {
		b, ok := st.Streams[name]
		if !ok {
			return fmt.Errorf("the checkpoint lacks the state of random stream %q", name)
		}
		if err := src.UnmarshalBinary(b); err != nil {
			return fmt.Errorf("random stream %q: %w", name, err)
		}
	}
	if st.BestValue != nil && !k.c.KeepLast && k.c.Patience > 0 {
		b, err := safetensors.Read(filepath.Join(path, bestFile))
		if err != nil {
			return err
		}
		k.bestValues = b.Tensors
	}
	k.r.Curve = st.Curve
	k.from, k.stopped, k.pastTrain = st.Step, st.Stopped, st.TrainSeconds
	k.bestStep, k.bestValue, k.sinceBest = st.BestStep, NaNIfNull(st.BestValue), st.SinceBest
	k.r.Control.ResumedFrom = st.Step
	return nil
}
