# Source of notebooks/01-fine-tuning-basics.ipynb (python3 scripts/notebooks/nbjson.py THIS OUT).
CELLS = [
("md", r"""
# 01 · Fine-tuning basics: the transfer-learning recipe, step by step, measured

**What it teaches.** The classic recipe for adapting a pretrained model to a new task, each step run on real data so
you see what it buys:

1. pick a pretrained model and **replace its head** with one for the task;
2. **freeze** the pretrained layers and train only the head (a *linear probe*);
3. **unfreeze** the top layers, then everything (*full fine-tuning*, the baseline every PEFT method is judged
   against);
4. start full fine-tuning from the probe's head instead of a fresh one (LP-FT, Kumar et al. 2022), or **unfreeze
   gradually**, one layer at a time from the top (ULMFiT, Howard & Ruder 2018);
5. **layer-wise learning rates**: the project's seed text says lower layers should get a *larger* rate "to adapt the
   features faster"; the literature does the opposite (ULMFiT's discriminative fine-tuning; Sun et al. 2019 use a
   decay of 0.95 per layer for BERT). Both directions are measured below;
6. **data augmentation** on the fly and **early stopping** with restore of the best weights.

Everything trains the shipped 4-layer encoder on spam for the same steps and seed, so differences come from the
recipe. **Time.** 4 min 44 s on 2 CPU cores (`blas` backend, no cell over 64 s), measured 2026-12-01 on a machine running about 2x slower than usual (the previous, 240-step version of this notebook took 5 min 52 s there and 2 min 55 s on a usual day), so about 2 min 20 s at usual speed; on an H200 through the GPU kernel the previous version took 1 min 39 s from an empty run store while two other notebooks shared the GPU (most of it XLA compiling each cell's graphs, which the executable cache skips when a cell runs again); this version is not yet timed there. `GOPEFT_QUICK=1` trains about a third as long (CI).
"""),
("go", r"""
import (
	"fmt"
	"math"
	
	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/data"
	"github.com/gopeft/gopeft/peft/runstore"
	"github.com/gopeft/gopeft/peft/train"
	"github.com/gopeft/gopeft/widgets"
	"github.com/gopeft/gopeft/widgets/notebook"
)

// must stops the cell with the error; the kernel reports it as the cell's error.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// spam is SpamAssassin's spam vs ham, split 80/10/10 with a fixed seed.
func spam() *data.Task { return must(data.Load("spam", data.Options{Seed: 1})) }

// options: 200 steps on each email's first 32 tokens at a rate that suits full fine-tuning of this small model
// (tuned on dev: 1e-3; adapters elsewhere use 2e-3); quick mode trains 64. No evaluation during training: this
// notebook reads the final metrics (early stopping sets its own evaluations, of 256 dev emails).
func options() train.Options {
	o := train.Options{Steps: 200, BatchSize: 16, MaxLen: 32, LearningRate: 1e-3, EvalEvery: -1, EvalExamples: 256, Seed: 1}
	if notebook.Quick() {
		o.Steps, o.EvalExamples = 64, 96
	}
	return o
}

// step is one configuration of the recipe.
type step struct {
	name  string
	setup func() *peft.Setup
	opt   func(train.Options) train.Options
}

func same(o train.Options) train.Options { return o }

func preset(name string) func() *peft.Setup {
	return func() *peft.Setup { return peft.NewSetup(name, must(peft.Preset(name))) }
}

// finetune trains one step of the recipe, or loads its finished run.
func finetune(s step) *runstore.Run {
	dir := "basics-" + s.name
	if notebook.Quick() {
		dir += "-quick"
	}
	return must(notebook.Finetune(notebook.RunsDir(dir), must(notebook.LoadShipped()), spam(), s.setup(), s.opt(options())))
}

%%
model := must(notebook.LoadShipped())
fmt.Println(model.Describe())
fmt.Printf("GoPEFT %s, backend %s, seed %d, quick mode %v\n", peft.Version, peft.BackendChoice().Display(), options().Seed, notebook.Quick())
"""),
("md", r"""
## Steps 1-3 · replace the head, freeze, unfreeze

* **head only**: the encoder frozen, a fresh two-class head on the [CLS] state trains (`peft.Preset("head")`);
* **top 2 layers**: the lower 2 layers and the embeddings frozen (`peft.PartialFinetune{TopLayers: 2}`);
* **full fine-tuning**: every weight trains (`peft.FullFinetune{}`).
"""),
("go", r"""
// probe is the linear probe: only the fresh head trains. Head-only training wants a larger rate.
var probe = step{"head", preset("head"), func(o train.Options) train.Options { o.LearningRate = 2e-3; return o }}

// ladder are the freezing levels, from everything frozen to nothing frozen.
func ladder() []step {
	return []step{
		probe,
		{"top2", preset("top2"), same},
		{"full", preset("full"), same},
	}
}

%%
for _, s := range ladder() {
	r := finetune(s)
	fmt.Printf("%-5s trains %s: test accuracy %.3f (%.0f s)\n", s.name, r.Tuned.TrainableLine(), r.Metrics["test_accuracy"], r.TrainSeconds)
}
"""),
("md", r"""
## Step 4 · start from the probe's head, or unfreeze gradually

* **LP-FT**: full fine-tuning whose head starts as the trained probe's (`Recipe.HeadFrom`), so the first steps do
  not push random-head gradients into the pretrained layers;
* **gradual unfreezing**: at first only the head trains; every sixth of the run (33 steps) one more layer joins from the top
  (`Recipe.UnfreezeEvery`).
"""),
("go", r"""
func lpft() step {
	return step{"lp-ft", preset("full"), func(o train.Options) train.Options {
		o.Recipe.HeadFrom = finetune(probe).Dir
		return o
	}}
}

func gradual() step {
	return step{"gradual", preset("full"), func(o train.Options) train.Options {
		o.Recipe.UnfreezeEvery = o.Steps / 6
		return o
	}}
}

%%
for _, s := range []step{lpft(), gradual()} {
	r := finetune(s)
	fmt.Printf("%-7s test accuracy %.3f (%.0f s)\n", s.name, r.Metrics["test_accuracy"], r.TrainSeconds)
}
"""),
("md", r"""
## Step 5 · layer-wise learning rates, in both directions

`Recipe.LayerDecay` multiplies the rate of layer l by decay^(L-1-l): the top layer keeps the base rate; with 0.8 the
bottom layer trains at 0.8³ ≈ 0.51 of it (the literature's direction), with 1.25 at 1.25³ ≈ 1.95 (the seed text's).
The answer depends on the base rate, so each factor is measured at the tuned rate (1e-3) and at a rate 4x too small
(2.5e-4), two seeds each: one cell per factor, then the rates the optimizer applies and the chart.
"""),
("go", r"""
// decays are the layer-wise factors compared: the literature's, none, the seed text's.
var decays = []float64{0.8, 1, 1.25}

// baseRates are the peak rates the comparison runs at: too small, and tuned.
var baseRates = []float64{2.5e-4, 1e-3}

// seeds for the layer-wise comparison.
var seeds = []int64{1, 2}

func decayed(rate, d float64, seed int64) step {
	if rate == options().LearningRate && d == 1 && seed == options().Seed {
		return ladder()[2] // no decay at the default rate and seed is plain full fine-tuning: the same run
	}
	return step{fmt.Sprintf("decay-%.2f-lr%g-seed%d", d, rate, seed), preset("full"), func(o train.Options) train.Options {
		if d != 1 {
			o.Recipe.LayerDecay = d
		}
		o.LearningRate, o.Seed = rate, seed
		return o
	}}
}

// atDecay trains one layer-wise factor at every base rate and seed and gives its mean test accuracy over the seeds
// at each base rate.
func atDecay(d float64) []float64 {
	mean := make([]float64, len(baseRates))
	for i, rate := range baseRates {
		for _, seed := range seeds {
			mean[i] += finetune(decayed(rate, d, seed)).Metrics["test_accuracy"] / float64(len(seeds))
		}
	}
	return mean
}

func showDecay(d float64) {
	for i, acc := range atDecay(d) {
		fmt.Printf("layer decay %.2f, base rate %g: test accuracy %.3f (mean of %d seeds)\n", d, baseRates[i], acc, len(seeds))
	}
}

%%
showDecay(0.8) // the literature's direction: lower layers slower
"""),
("go", r"""
%%
showDecay(1) // one rate for every layer
"""),
("go", r"""
%%
showDecay(1.25) // the seed text's direction: lower layers faster
"""),
("go", r"""
%%
r := finetune(decayed(baseRates[1], 0.8, 2))
rates := r.Options.Recipe.Rates(r.Tuned, 1, r.Options.Steps/2)
fmt.Println("relative rates at decay 0.8, as the optimizer applies them:")
for _, k := range []string{"/embeddings/word_embeddings/weight", "/encoder/layer/0/attention/self/query/weight", "/encoder/layer/3/attention/self/query/weight"} {
	fmt.Printf("  %-45s %.3f\n", k, rates[k])
}
var series []widgets.Series
for _, rate := range baseRates {
	series = append(series, widgets.Series{Name: fmt.Sprintf("base rate %g", rate)})
}
for _, d := range decays {
	for i, acc := range atDecay(d) {
		series[i].X, series[i].Y = append(series[i].X, d), append(series[i].Y, acc)
	}
}
widgets.Display(widgets.LineChart(series, widgets.LineChartOptions{Title: "Full fine-tuning with layer-wise rates (mean of 2 seeds)",
	XLabel: "layer-wise factor (< 1: lower layers slower)", YLabel: "test accuracy"}))
"""),
("md", r"""
## Step 6 · augmentation and early stopping

* **augmentation**: 10% of each training email's tokens masked and 10% dropped, freshly drawn every step
  (`Recipe.Augment`);
* **early stopping**: evaluate on dev every twelfth of the run (16 steps), stop after 2 evaluations without improvement, restore the
  best step's weights (`Options.Control`).
"""),
("go", r"""
func augmented() step {
	return step{"augment", preset("full"), func(o train.Options) train.Options {
		o.Recipe.Augment = train.Augment{Mask: 0.1, Dropout: 0.1}
		return o
	}}
}

func early() step {
	return step{"early-stop", preset("full"), func(o train.Options) train.Options {
		o.EvalEvery = max(1, o.Steps/12)
		o.Control.Patience = 2
		return o
	}}
}

%%
a, e := finetune(augmented()), finetune(early())
fmt.Printf("augmentation: test accuracy %.3f (%.0f s)\n", a.Metrics["test_accuracy"], a.TrainSeconds)
fmt.Printf("early stopping: stopped after %d of %d steps, test accuracy %.3f (%.0f s)\n", len(e.Curve), e.Options.Steps, e.Metrics["test_accuracy"], e.TrainSeconds)
fmt.Printf("  best dev %s %.3f at step %d; the run holds that step's weights: %v\n", e.Control.Metric, e.Control.BestDev, e.Control.BestStep, e.Control.RestoredBest)
"""),
("md", r"""
## The recipe in one table
"""),
("go", r"""
%%
task := spam()
all := append(ladder(), lpft(), gradual(), augmented(), early())
var rows [][]string
var bars []widgets.Bar
for _, s := range all {
	r := finetune(s)
	c := r.Tuned.Counts()
	rows = append(rows, []string{s.name, peft.GroupDigits(c.Trainable), fmt.Sprintf("%.1f%%", 100*float64(c.Trainable)/float64(c.Total)),
		fmt.Sprintf("%.3f", r.Metrics["test_accuracy"]), fmt.Sprintf("%.0f", r.TrainSeconds)})
	bars = append(bars, widgets.Bar{Label: s.name, Value: r.Metrics["test_accuracy"]})
}
base := data.MajorityBaseline(task)
lo, hi := 0.5, 1.0
widgets.Display(widgets.BarChart(bars, widgets.BarChartOptions{Title: "The recipe's steps on spam", XLabel: "test accuracy",
	Baseline: &base, BaselineLabel: "majority class", Min: &lo, Max: &hi, Format: "%.3f"}))
widgets.Display(widgets.Table([]string{"step", "trained parameters", "% of the model", "test accuracy", "train s"}, rows,
	widgets.TableOptions{Caption: fmt.Sprintf("spam, %d test emails", len(task.Test))}))
"""),
("md", r"""
## What this run shows

The cell below states the measured answers, with a two-standard-error noise band for single runs (the layer-wise
comparison uses two seeds at each of two rates).
"""),
("go", r"""
%%
task := spam()
n := float64(len(task.Test))
acc := func(s step) float64 { return finetune(s).Metrics["test_accuracy"] }
head, top2, full := acc(ladder()[0]), acc(ladder()[1]), acc(ladder()[2])
se := math.Sqrt(2 * full * (1 - full) / n)
fmt.Printf("Two standard errors of a single-run accuracy difference: ±%.1f points.\n", 200*se)
fmt.Printf("Unfreezing: head only %.3f, top 2 layers %.3f, everything %.3f.\n", head, top2, full)
// A mean of len(seeds) runs differs from another by noise of about sqrt(2 p (1-p) / (n seeds)).
seSeeds := math.Sqrt(2 * full * (1 - full) / (n * float64(len(seeds))))
lits, flats, seedTexts := atDecay(0.8), atDecay(1), atDecay(1.25)
for i, rate := range baseRates {
	lit, flat, seed := lits[i], flats[i], seedTexts[i]
	best := "one rate for every layer"
	switch {
	case lit > flat && lit > seed:
		best = "smaller rates for lower layers (the literature)"
	case seed > flat && seed > lit:
		best = "larger rates for lower layers (the seed text)"
	}
	spread := math.Max(lit, math.Max(flat, seed)) - math.Min(lit, math.Min(flat, seed))
	noise := "beyond"
	if spread < 2*seSeeds {
		noise = "within"
	}
	fmt.Printf("Layer-wise rates at base rate %g (mean of %d seeds): decay 0.8 %.3f, none %.3f, 1.25 %.3f: best is %s; the spread, %.1f points, is %s two standard errors (±%.1f).\n",
		rate, len(seeds), lit, flat, seed, best, 100*spread, noise, 200*seSeeds)
}
fmt.Printf("LP-FT %.3f and gradual unfreezing %.3f against plain full fine-tuning %.3f.\n", acc(lpft()), acc(gradual()), full)
fmt.Printf("Majority baseline %.3f. GoPEFT %s, backend %s, seed %d, quick mode %v\n",
	data.MajorityBaseline(task), peft.Version, peft.BackendChoice().Display(), options().Seed, notebook.Quick())
"""),
]
