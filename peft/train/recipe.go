package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gopeft/gopeft/peft"
)

// Recipe is the transfer-learning recipe on top of a Setup: which layers
// stay frozen and when the others thaw, the head to start from, per-group
// and layer-wise learning rates, the schedule's shape, gradient clipping
// and text augmentation. The zero value changes nothing. It is plain data
// of comparable fields, so the run store hashes and compares it.
//
// Learning rates: each trained variable's rate is the scheduled rate of
// its group (HeadLR for the head, AdapterLR for PEFT parameters, BaseLR
// for base weights; each defaults to Options.LearningRate), times
// LayerDecay^(L-1-l) for a variable of encoder layer l (peft.LayerOf: the
// top layer keeps its group's rate, the embeddings get factor^L), times 0
// while gradual unfreezing still holds its layer. Stepper.LearningRates
// reads the rates back from the optimizer.
type Recipe struct {
	// FreezeLayers keeps the embeddings and the lowest k encoder layers
	// from training (peft.Tuned.FreezeBelow): base weights and adapter
	// modules there alike. 0 freezes nothing.
	FreezeLayers int `json:"freeze_layers,omitempty"`
	// HeadFrom is a directory holding a trained head (a run directory, or
	// what peft.SaveHead wrote) to start from instead of a fresh one,
	// e.g. linear probing first, then fine-tuning (Kumar et al. 2022's
	// LP-FT). Its shape must match Options.Head. "" starts a fresh head.
	HeadFrom string `json:"head_from,omitempty"`
	// UnfreezeEvery > 0 unfreezes gradually (ULMFiT, Howard & Ruder 2018):
	// first only what no layer owns trains (the head, prefix MLPs,
	// prompts), then every UnfreezeEvery steps one more layer joins, top
	// down: layer l at step (L-l)·N, the embeddings at (L+1)·N. Layers
	// below FreezeLayers never join. A waiting layer stays bitwise equal.
	UnfreezeEvery int `json:"unfreeze_every,omitempty"`
	// LayerDecay is the layer-wise learning-rate factor (0 or 1: off).
	// < 1 gives lower layers smaller rates, as the literature does (ULMFiT's
	// discriminative fine-tuning, 1/2.6 per layer; Sun et al. 2019, 0.95 for
	// BERT); > 1 gives them larger ones, the seed text's claim.
	LayerDecay float64 `json:"layer_decay,omitempty"`
	// Peak rates per group; 0 takes Options.LearningRate.
	HeadLR    float64 `json:"head_lr,omitempty"`
	AdapterLR float64 `json:"adapter_lr,omitempty"`
	BaseLR    float64 `json:"base_lr,omitempty"`
	// Schedule is the rate's shape after the warmup: "linear" (the
	// default: linear decay, LinearSchedule) or "cosine" (CosineSchedule).
	Schedule string `json:"schedule,omitempty"`
	// ClipNorm > 0 clips the gradients to this global L2 norm before each
	// update (1.0 is Hugging Face Trainer's default). 0: no clipping.
	ClipNorm float64 `json:"clip_norm,omitempty"`
	// Augment changes training batches' tokens on the fly; off by default.
	Augment Augment `json:"augment,omitzero"`
}

// Schedules.
const (
	ScheduleLinear = "linear"
	ScheduleCosine = "cosine"
)

// Validate checks the recipe against a model of numLayers layers; errors
// name the field and the fix.
func (r Recipe) Validate(numLayers int) error {
	bad := func(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) || v < 0 }
	switch {
	case r.FreezeLayers < 0 || r.FreezeLayers > numLayers:
		return fmt.Errorf("recipe: freeze_layers %d is outside 0..%d (the model's layers)", r.FreezeLayers, numLayers)
	case r.UnfreezeEvery < 0:
		return fmt.Errorf("recipe: unfreeze_every %d is negative: give steps between unfreezing layers, or 0 for no gradual unfreezing", r.UnfreezeEvery)
	case bad(r.LayerDecay):
		return fmt.Errorf("recipe: layer_decay %v must be a finite number > 0 (e.g. 0.95; 0 or 1 turns it off)", r.LayerDecay)
	case bad(r.HeadLR) || bad(r.AdapterLR) || bad(r.BaseLR):
		return fmt.Errorf("recipe: learning rates head %v, adapter %v, base %v must be >= 0 (0 takes Options.LearningRate)", r.HeadLR, r.AdapterLR, r.BaseLR)
	case bad(r.ClipNorm):
		return fmt.Errorf("recipe: clip_norm %v must be >= 0 (0: no clipping)", r.ClipNorm)
	}
	switch r.Schedule {
	case "", ScheduleLinear, ScheduleCosine:
	default:
		return fmt.Errorf("recipe: schedule %q is unknown: use %q or %q", r.Schedule, ScheduleLinear, ScheduleCosine)
	}
	return r.Augment.Validate()
}

// CosineSchedule is the learning rate at step (0-based) of steps: the
// linear warmup of LinearSchedule, then half a cosine from peak towards 0
// (Hugging Face's cosine schedule with warmup), counted like
// LinearSchedule so that no step trains at rate 0.
func CosineSchedule(step, steps, warmup int, peak float64) float64 {
	if step < warmup {
		return peak * float64(step+1) / float64(warmup)
	}
	progress := float64(step-warmup) / float64(max(1, steps-warmup))
	return peak * 0.5 * (1 + math.Cos(math.Pi*progress))
}

// recipeRun is a recipe at work on one Tuned during Finetune.
type recipeRun struct {
	r      Recipe
	layers int
	baseLR float64 // Options.LearningRate, what the schedule scales
	step   int
	aug    *rand.Rand // augmentation's own stream: batches stay those of a run without it
	augSrc *rand.PCG  // aug's source, which checkpoints keep
	maskID int32
}

// prepare applies what the recipe changes before training (FreezeLayers,
// HeadFrom) and checks that each option has something to act on.
func (r Recipe) prepare(t *peft.Tuned, opt Options) (*peft.Tuned, *recipeRun, error) {
	if err := r.Validate(t.Model.Config.NumLayers); err != nil {
		return nil, nil, err
	}
	var err error
	if r.FreezeLayers > 0 {
		if t, err = t.FreezeBelow(r.FreezeLayers); err != nil {
			return nil, nil, err
		}
	}
	if r.HeadFrom != "" {
		if t, err = t.LoadHead(r.HeadFrom); err != nil {
			return nil, nil, fmt.Errorf("recipe head_from: %w", err)
		}
	}
	layered := false
	for v := range t.Ctx.IterVariables() {
		if _, ok := peft.LayerOf(v); ok && v.Trainable {
			layered = true
			break
		}
	}
	if !layered && (r.LayerDecay > 0 && r.LayerDecay != 1 || r.UnfreezeEvery > 0) {
		return nil, nil, fmt.Errorf("recipe: layer_decay and unfreeze_every act on layers, and this setup trains nothing in a layer: add \"full\", \"top2\" or an adapter, or drop those options")
	}
	src := rand.NewPCG(uint64(opt.Seed), 0xa06e17)
	rr := &recipeRun{r: r, layers: t.Model.Config.NumLayers, baseLR: opt.LearningRate,
		aug: rand.New(src), augSrc: src, maskID: t.Model.Tokenizer.MaskID}
	return t, rr, nil
}

// stepperOptions are the optimizer's options under the recipe.
func (rr *recipeRun) stepperOptions(weightDecay float64) peft.StepperOptions {
	return peft.StepperOptions{WeightDecay: weightDecay, ClipNorm: rr.r.ClipNorm}
}

// multiplier is v's learning rate relative to the scheduled rate at the
// current step.
func (rr *recipeRun) multiplier(v *context.Variable) float64 {
	group := rr.r.BaseLR
	switch {
	case strings.HasPrefix(v.Scope(), "/head"):
		group = rr.r.HeadLR
	case strings.HasPrefix(v.Scope(), "/peft/"):
		group = rr.r.AdapterLR
	}
	m := 1.0
	if group > 0 {
		m = group / rr.baseLR
	}
	l, inLayer := peft.LayerOf(v)
	if !inLayer {
		return m
	}
	if d := rr.r.LayerDecay; d > 0 && d != 1 {
		m *= math.Pow(d, float64(rr.layers-1-l))
	}
	if rr.step < rr.r.UnfreezeStep(l, rr.layers) {
		return 0
	}
	return m
}

// UnfreezeStep is the first step (0-based) at which gradual unfreezing
// lets encoder layer l (-1: the embeddings) train; 0 without it.
func (r Recipe) UnfreezeStep(layer, numLayers int) int {
	if r.UnfreezeEvery <= 0 {
		return 0
	}
	return (numLayers - layer) * r.UnfreezeEvery
}

// Rates is each trainable variable's learning rate at step (0-based) of
// a run of t under the recipe with peak rate lr, by ScopeAndName, before
// the schedule's warmup and decay (multiply by Options.LR(step)/lr for
// those): what Finetune's optimizer applies, for tables and plots of
// layer-wise rates.
func (r Recipe) Rates(t *peft.Tuned, lr float64, step int) map[string]float64 {
	rr := &recipeRun{r: r, layers: t.Model.Config.NumLayers, baseLR: lr, step: step}
	out := map[string]float64{}
	for v := range t.Ctx.IterVariables() {
		if v.Trainable {
			out[v.ScopeAndName()] = lr * rr.multiplier(v)
		}
	}
	return out
}

// beforeStep sets the optimizer's multipliers for step (0-based).
func (rr *recipeRun) beforeStep(step int, st *peft.Stepper) {
	rr.step = step
	st.SetLRMultipliers(rr.multiplier)
}
