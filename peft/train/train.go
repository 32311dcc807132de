// Package train fine-tunes a peft.Tuned on a task and pretrains encoders:
// the loop (seeded batches, the learning-rate schedule, AdapterDrop depths,
// evaluation), the metrics and the learning curve. It prints nothing:
// progress and messages reach the caller through Options.Progress and
// Options.Log. The run store (peft/runstore) wraps it to keep finished runs.
//
//	model, _ := peft.LoadModel("models/gopeft-small")
//	task, _ := data.Load("spam", data.Options{Seed: 1})
//	run, err := train.Finetune(model, task, peft.NewSetup("houlsby", peft.Houlsby()), train.Options{Steps: 240, Seed: 1})
//	if err != nil { ... }
//	fmt.Println(run.Metrics["test_accuracy"], run.Tuned.TrainableLine())
package train

import (
	"math"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/data"
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
	// Adapters are adapter directories (as SaveAdapter and the run store
	// write them) read into the model before training starts: the trained
	// task adapters an AdapterFusion fuses, or an adapter to continue from.
	// A name the setup declares takes the file's weights and method; a new
	// name is added.
	Adapters []string
	// Head defaults to ClassificationHead(len(task.Labels)), or
	// RegressionHead() for regression tasks.
	Head *peft.Head
	// Progress, if set, hears of every step and of the end (notebook.Progress
	// draws a bar from it).
	Progress func(Progress)
	// Log, if set, receives messages for the user (the run store says
	// whether it loaded or retrains a run through it).
	Log func(string)

	Distill *Distill // knowledge distillation from a teacher run (distill.go)
	Prune   *Pruning // gradual magnitude pruning (prune.go)
	// Speed: mixed precision (see Speed).
	Speed Speed
	// Devices > 1: data parallel over that many devices (devices.go; not hashed).
	Devices int
	// Control: early stopping, checkpoints and resume (control.go).
	Control Control
	// Recipe: frozen and gradually unfrozen layers, a trained head to start
	// from, layer-wise and per-group rates, the schedule, clipping and
	// augmentation (recipe.go); the zero value changes nothing.
	Recipe Recipe
	// Store: what peft/runstore does with a stored run (not hashed).
	Store StoreOptions
}

// Progress is one report of the training loop: after each step, and once
// more when the run has finished (Done, with the final metrics).
type Progress struct {
	Task        string
	Step, Steps int
	// Metrics shown: loss, and dev_acc or dev_mse where evaluated; when Done,
	// the dev/test accuracy or MSE.
	Metrics map[string]float64
	Done    bool
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

// Resolved fills in the defaults for a model and task: what Finetune runs
// with, and what the run store's configuration hash covers.
func (o Options) Resolved(m *peft.Model, task *data.Task) Options {
	o.Speed = o.Speed.resolved()
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
		h := peft.ClassificationHead(len(task.Labels))
		if task.Regression {
			h = peft.RegressionHead()
		}
		o.Head = &h
	}
	o.Control = o.Control.resolved(o, task.Regression)
	return o
}

// LR is the learning rate at step (0-based) of the schedule: linear
// warmup, then linear decay (or cosine, Recipe.Schedule).
func (o Options) LR(step int) float64 {
	warmup := int(math.Round(o.WarmupFraction * float64(o.Steps)))
	if o.Recipe.Schedule == ScheduleCosine {
		return CosineSchedule(step, o.Steps, warmup, o.LearningRate)
	}
	return LinearSchedule(step, o.Steps, warmup, o.LearningRate)
}
