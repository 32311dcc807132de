package main

import (
	"flag"
	"fmt"
	"math"
	"strings"

	"github.com/gopeft/gopeft/peft/train"
)

// recipeFlags adds `gopeft finetune`'s recipe flags (train.Recipe) to fs;
// the returned function reads them back, checked, once fs is parsed.
func recipeFlags(fs *flag.FlagSet) func(numLayers int) (train.Recipe, error) {
	freeze := fs.Int("freeze-layers", 0, "freeze the embeddings and the lowest K encoder layers")
	headFrom := fs.String("head-from", "", "start from the trained head in this run directory instead of a fresh head")
	unfreeze := fs.Int("unfreeze-every", 0, "gradual unfreezing (ULMFiT): one more layer, top down, every N steps (0: off)")
	decay := fs.Float64("layer-decay", 0, "layer-wise LR factor: layer l trains at lr*F^(L-1-l); <1 lower layers slower (0.95 in Sun et al. 2019), >1 faster (0: off)")
	headLR := fs.Float64("head-lr", 0, "peak learning rate of the head (0: --lr)")
	adapterLR := fs.Float64("adapter-lr", 0, "peak learning rate of adapter parameters (0: --lr)")
	baseLR := fs.Float64("base-lr", 0, "peak learning rate of trained base weights (0: --lr)")
	schedule := fs.String("schedule", train.ScheduleLinear, "learning-rate decay after warmup: linear or cosine")
	clip := fs.Float64("clip-norm", 0, "clip gradients to this global L2 norm (0: off; 1.0 is Hugging Face's default)")
	augMask := fs.Float64("aug-mask", 0, "augmentation: replace this fraction of tokens by [MASK]")
	augDrop := fs.Float64("aug-dropout", 0, "augmentation: delete this fraction of tokens")
	augSpan := fs.Float64("aug-span", 0, "augmentation: delete one span of this fraction of each example's tokens")
	augSwap := fs.Float64("aug-swap", 0, "augmentation: swap token pairs, this fraction of the tokens times")
	return func(numLayers int) (train.Recipe, error) {
		r := train.Recipe{
			FreezeLayers: *freeze, HeadFrom: *headFrom, UnfreezeEvery: *unfreeze, LayerDecay: *decay,
			HeadLR: *headLR, AdapterLR: *adapterLR, BaseLR: *baseLR, ClipNorm: *clip,
			Augment: train.Augment{Mask: *augMask, Dropout: *augDrop, SpanDelete: *augSpan, Swap: *augSwap},
		}
		if *schedule != train.ScheduleLinear {
			r.Schedule = *schedule // the default stays the zero value: the run's hash is a plain run's
		}
		var bad []string
		if *freeze < 0 || *freeze > numLayers {
			bad = append(bad, fmt.Sprintf("--freeze-layers %d: give 0..%d (the model's layers)", *freeze, numLayers))
		}
		if *unfreeze < 0 {
			bad = append(bad, fmt.Sprintf("--unfreeze-every %d: give steps > 0, or 0 for no gradual unfreezing", *unfreeze))
		}
		for _, f := range []struct {
			name string
			v    float64
		}{{"--layer-decay", *decay}, {"--head-lr", *headLR}, {"--adapter-lr", *adapterLR}, {"--base-lr", *baseLR}, {"--clip-norm", *clip}} {
			if math.IsNaN(f.v) || math.IsInf(f.v, 0) || f.v < 0 {
				bad = append(bad, fmt.Sprintf("%s %v: give a number >= 0 (0: off or the default)", f.name, f.v))
			}
		}
		for _, f := range []struct {
			name string
			v    float64
		}{{"--aug-mask", *augMask}, {"--aug-dropout", *augDrop}, {"--aug-span", *augSpan}, {"--aug-swap", *augSwap}} {
			if !(f.v >= 0 && f.v < 1) {
				bad = append(bad, fmt.Sprintf("%s %v: give a fraction in [0, 1)", f.name, f.v))
			}
		}
		if *schedule != train.ScheduleLinear && *schedule != train.ScheduleCosine {
			bad = append(bad, fmt.Sprintf("--schedule %q: use %s or %s", *schedule, train.ScheduleLinear, train.ScheduleCosine))
		}
		if len(bad) > 0 {
			return r, fmt.Errorf("%s", strings.Join(bad, "; "))
		}
		return r, r.Validate(numLayers)
	}
}
