# Source of notebooks/03-peft-zoo.ipynb (python3 scripts/notebooks/nbjson.py THIS OUT).
CELLS = [
("md", r"""
# 03 · The PEFT zoo: LoRA, IA³, BitFit, LayerNorm tuning, prefix and prompt tuning

**What it teaches.** Six parameter-efficient methods that change a frozen encoder in six different places, trained
side by side on the same real task (SpamAssassin's spam vs ham) with the same steps and seed:

| method | what trains | paper |
| --- | --- | --- |
| **LoRA** | a low-rank update s·BA beside the query and value projections | Hu et al. 2021 |
| **IA³** | one vector rescaling the keys, one the values, one the FFN activation, per layer | Liu et al. 2022 |
| **BitFit** | the base model's bias terms only | Ben Zaken et al. 2022 |
| **LayerNorm tuning** | the base model's LayerNorm gains and biases only | HF peft's `LNTuningConfig` (Zhao et al. 2023) |
| **prefix tuning** | key/value vectors prepended in every attention layer | Li & Liang 2021 |
| **prompt tuning** | vectors prepended to the input once ("soft prompt") | Lester et al. 2021 |

and, as the reference, **full fine-tuning** (every weight) and **head only** (a linear probe on the frozen encoder:
every method must beat it to have learned anything). It sweeps LoRA's rank, shows that **merging** LoRA into the base
weights changes no prediction, and ends with accuracy against the share of trained parameters and each paper's
claim against what this run measured.

**Time.** 1 min 54 s top to bottom on 2 CPU cores (`blas` backend, measured 2026-12-01: thirteen trainings of 240
steps, at most three per cell, no cell over 28 s); 2 min 48 s on an H200 through the GPU kernel, measured from an empty run store while two other notebooks shared the GPU (so at most that alone; most of it is XLA compiling each cell's graphs, which the executable cache skips when a cell runs again). `GOPEFT_QUICK=1` trains a
quarter as long (CI). Finished runs are kept, so a re-run loads them in seconds.
"""),
("go", r"""
import (
	"fmt"
	"math"
	"slices"

	"github.com/gomlx/gomlx/pkg/core/tensors"
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

// head is a one-layer classification head (258 parameters). AdapterHub's default two-layer head alone has 16,770,
// 1.2% of this small encoder: it would hide the differences between methods that train 0.1% and 1%.
func head() *peft.Head {
	h := peft.ClassificationHead(2)
	h.Layers = 1
	return &h
}

// options: 240 steps on each email's first 32 tokens, as in the quickstart, at the method's learning rate;
// quick mode trains 64.
func options(lr float64) train.Options {
	o := train.Options{Steps: 240, BatchSize: 16, MaxLen: 32, LearningRate: lr, EvalEvery: 40, EvalExamples: 256, Seed: 1, Head: head()}
	if notebook.Quick() {
		o.Steps, o.EvalEvery, o.EvalExamples = 64, 16, 96
	}
	return o
}

// quiet, set by a cell, keeps the run store from saying that it loaded each finished run.
var quiet bool

// finetune trains one setup, or loads its finished run from the run directory.
func finetune(name string, setup *peft.Setup, lr float64) *runstore.Run {
	dir := "zoo-" + name
	if notebook.Quick() {
		dir += "-quick"
	}
	o := options(lr)
	if quiet {
		o.Log = func(string) {}
	}
	return must(notebook.Finetune(notebook.RunsDir(dir), must(notebook.LoadShipped()), spam(), setup, o))
}

%%
model := must(notebook.LoadShipped())
fmt.Println(model.Describe())
fmt.Printf("GoPEFT %s, backend %s, seed %d, quick mode %v\n", peft.Version, peft.BackendChoice().Display(), options(0).Seed, notebook.Quick())
"""),
("md", r"""
## LoRA: how small can the rank be?

LoRA (Hu et al. 2021) leaves each targeted weight W frozen and trains a low-rank update beside it:
y = xWᵀ + s·x Aᵀ Bᵀ with A [r × in], B [out × r], s = α/r. B starts at zero, so training starts from the pretrained
model. Hu et al. adapt only the query and value projections (HF peft's default for BERT, and ours) and report on
GPT-3 that **r = 1 to 8 perform about the same**: the update a task needs has a very low "intrinsic rank". They fix
α at the first r tried rather than tuning it; so do we (α = 8, HF's default, for every r), at AdamW's rate 2·10⁻³.
"""),
("go", r"""
// loraRanks are the ranks swept.
var loraRanks = []int{1, 2, 4, 8, 16}

// lora is LoRA of rank r on query and value, alpha 8.
func lora(r int) *peft.Setup {
	l := peft.DefaultLoRA()
	l.R = r
	return peft.NewSetup("lora", l)
}

// loraRun trains (or loads) LoRA of rank r.
func loraRun(r int) *runstore.Run { return finetune(fmt.Sprintf("lora-r%d", r), lora(r), 2e-3) }

%%
for _, r := range loraRanks[:3] {
	run := loraRun(r)
	fmt.Printf("LoRA r=%-2d  %6d trained parameters  test accuracy %.3f  (%.0f s)\n", r, run.Tuned.Counts().Trainable, run.Metrics["test_accuracy"], run.TrainSeconds)
}
"""),
("go", r"""
%%
acc := widgets.Series{Name: "test accuracy"}
for _, r := range loraRanks {
	quiet = r < 8 // trained in the cell above
	run := loraRun(r)
	acc.X, acc.Y = append(acc.X, float64(r)), append(acc.Y, run.Metrics["test_accuracy"])
	if r < 8 {
		continue
	}
	fmt.Printf("LoRA r=%-2d  %6d trained parameters  test accuracy %.3f  (%.0f s)\n", r, run.Tuned.Counts().Trainable, run.Metrics["test_accuracy"], run.TrainSeconds)
}
// The y axis runs from the majority class to 1: fitted to the data, a spread of half a point would look like a trend.
lo, hi := data.MajorityBaseline(spam()), 1.0
widgets.Display(widgets.LineChart([]widgets.Series{acc}, widgets.LineChartOptions{
	Title: "LoRA on query and value: test accuracy against rank", XLabel: "rank r", YLabel: "test accuracy", LogX: true, YMin: &lo, YMax: &hi}))
"""),
("md", r"""
## Merging LoRA: the same model at the base model's cost

Because the update is linear, a trained LoRA folds into the weight it adapts: W' = W + s·BA. The merged model has no
extra matrices at inference, so it runs exactly as fast as the base model — and it must compute the *same function*.
`Tuned.MergeLoRA` returns a new, merged model (the run's own is untouched); below, both score the test emails and we
compare their logits and predictions. The only allowed difference is float32 rounding (the merge sums in float64,
then rounds once).
"""),
("go", r"""
%%
run := loraRun(8)
merged := must(run.Tuned.MergeLoRA("lora"))
task := spam()
texts := make([]string, 0, 64)
for _, e := range task.Test[:64] {
	texts = append(texts, e.Text)
}
batch := peft.BatchFrom(run.Tuned.Model.Tokenizer.EncodeBatch(texts, 32))
before := must(tensors.CopyFlatData[float32](must(run.Tuned.Logits(batch))))
after := must(tensors.CopyFlatData[float32](must(merged.Logits(batch))))
maxDiff, maxLogit := 0.0, 0.0
for i := range before {
	maxDiff = math.Max(maxDiff, math.Abs(float64(before[i]-after[i])))
	maxLogit = math.Max(maxLogit, math.Abs(float64(before[i])))
}
fmt.Printf("logits of %d test emails: largest |unmerged - merged| = %.2g (largest |logit| %.2f)\n", len(texts), maxDiff, maxLogit)

all := make([]string, len(task.Test))
for i, e := range task.Test {
	all[i] = e.Text
}
p1 := must(run.Predict(all))
p2 := must(run.With(merged).Predict(all))
differ := 0
for i := range p1 {
	if p1[i] != p2[i] {
		differ++
	}
}
m := must(run.With(merged).Evaluate(task.Test))
fmt.Printf("predictions on all %d test emails: %d differ; test accuracy %.3f unmerged, %.3f merged\n", len(all), differ, run.Metrics["test_accuracy"], m["accuracy"])
fmt.Printf("merged: %v; its LoRA matrices no longer run at inference (%d parameters folded into W)\n", merged.IsMerged("lora"), run.Tuned.Counts().PerAdapter["lora"])
"""),
("md", r"""
## IA³, BitFit and LayerNorm tuning: a few thousand numbers each

* **IA³** (Liu et al. 2022, "Few-shot parameter-efficient fine-tuning is better and cheaper than in-context
  learning") learns vectors l_k, l_v, l_ff, initialised to ones, that rescale the keys, the values and the FFN's
  intermediate activation elementwise: 3 vectors a layer.
* **BitFit** (Ben Zaken et al. 2022) unfreezes only the base model's bias terms (every bias, LayerNorm biases included,
  as in the paper), adding no parameters at all.
* **LayerNorm tuning** unfreezes only the LayerNorm gains and biases.

None of them adds a matrix, so none changes inference cost. With so few parameters they want higher rates than
LoRA's (the papers tune theirs per task; Liu et al. use 3·10⁻³ on T0): IA³ trains at 10⁻², BitFit and LayerNorm
tuning at 5·10⁻³, each the better on the **dev** split of two rates tried on this model (IA³ 3·10⁻³ and 10⁻²,
the others 2·10⁻³ and 5·10⁻³).
"""),
("go", r"""
// smallMethods are IA3, BitFit and LayerNorm tuning with their learning rates.
func smallMethods() map[string]*runstore.Run {
	return map[string]*runstore.Run{
		"IA3":    finetune("ia3", peft.NewSetup("ia3", peft.DefaultIA3()), 1e-2),
		"BitFit": finetune("bitfit", peft.NewSetup("bitfit", peft.DefaultBitFit()), 5e-3),
		"LN":     finetune("ln", peft.NewSetup("ln", peft.LNTuning{}), 5e-3),
	}
}

%%
runs := smallMethods()
for _, name := range []string{"IA3", "BitFit", "LN"} {
	run := runs[name]
	fmt.Printf("%-7s %5d trained parameters  test accuracy %.3f  (%.0f s)\n", name, run.Tuned.Counts().Trainable, run.Metrics["test_accuracy"], run.TrainSeconds)
}
"""),
("md", r"""
## Prefix tuning and prompt tuning: learned vectors instead of words

* **Prefix tuning** (Li & Liang 2021) prepends P trained key and value vectors to every attention layer. The paper
  found training them directly unstable and trains them through a reparameterisation: a small embedding passed through
  an MLP. That MLP trains but is thrown away afterwards (`Tuned.FlattenPrefix` keeps only the keys and values it
  produced), so prefix tuning has two sizes: what trains, and what you keep. Here P = 8 through a 64-unit MLP
  (AdapterHub's default, 30 vectors through 512 units, trains 31% of this small model), at 2·10⁻³.
* **Prompt tuning** (Lester et al. 2021) prepends P trained vectors *once*, to the input: the encoder reads them like
  tokens. It trains the fewest parameters of all — and Lester et al. found it lags fine-tuning badly on small models,
  the gap closing only at about 10¹⁰ parameters. They found initialising the prompt from words (class labels) better
  than random, and trained at a rate of 0.3 (Adafactor); we compare random initialisation (`peft.RandomPrompt`) with
  one from text (`peft.PromptFromText`), P = 8, at 0.1 (better on dev than 3·10⁻² with AdamW here).
"""),
("go", r"""
// promptText initialises the text-initialised soft prompt.
const promptText = "is this email spam or ham ?"

// vectorMethods are prefix tuning and the two soft prompts.
func vectorMethods() map[string]*runstore.Run {
	tok := must(notebook.LoadShipped()).Tokenizer
	return map[string]*runstore.Run{
		"prefix":        finetune("prefix", peft.NewSetup("prefix", peft.SmallMAMAdapter().Prefix), 2e-3),
		"prompt random": finetune("prompt-random", peft.NewSetup("prompt", peft.RandomPrompt(8)), 0.1),
		"prompt text":   finetune("prompt-text", peft.NewSetup("prompt", must(peft.PromptFromText(tok, promptText, 8))), 0.1),
	}
}

%%
runs := vectorMethods()
for _, name := range []string{"prefix", "prompt random", "prompt text"} {
	run := runs[name]
	fmt.Printf("%-14s %6d trained parameters  test accuracy %.3f  (%.0f s)\n", name, run.Tuned.Counts().Trainable, run.Metrics["test_accuracy"], run.TrainSeconds)
}
flat := must(runs["prefix"].Tuned.FlattenPrefix("prefix"))
fmt.Printf("prefix tuning trains %d parameters through its MLP; flattened, it keeps %d (%d layers x 2 x %d vectors x %d)\n",
	runs["prefix"].Tuned.Counts().PerAdapter["prefix"], flat.Counts().PerAdapter["prefix"],
	flat.Model.Config.NumLayers, peft.SmallMAMAdapter().Prefix.PrefixLength, flat.Model.Config.HiddenSize)
"""),
("md", r"""
## The references: head only and full fine-tuning

**Head only** trains just the classifier on the frozen encoder's [CLS] vector: what the pretrained features give for
free. **Full fine-tuning** trains all 1.3 M weights, at a smaller rate (2·10⁻⁴), as is usual when every weight moves.
Full fine-tuning is `peft.Preset("full")`; a GoPEFT without it skips that row and says so.
"""),
("go", r"""
// fullFT is full fine-tuning, or nil (with the reason) where this GoPEFT has no "full" preset.
func fullFT() (*runstore.Run, error) {
	m, err := peft.Preset("full")
	if err != nil {
		return nil, err
	}
	return finetune("full", peft.NewSetup("full", m), 2e-4), nil
}

// references are head only and, where available, full fine-tuning.
func references() map[string]*runstore.Run {
	out := map[string]*runstore.Run{"head only": finetune("head-only", &peft.Setup{}, 2e-3)}
	if full, err := fullFT(); err == nil {
		out["full FT"] = full
	}
	return out
}

%%
runs := references()
if _, err := fullFT(); err != nil {
	fmt.Printf("full fine-tuning skipped: %v\n", err)
}
for _, name := range []string{"head only", "full FT"} {
	if run, ok := runs[name]; ok {
		fmt.Printf("%-10s %8d trained parameters  test accuracy %.3f  (%.0f s)\n", name, run.Tuned.Counts().Trainable, run.Metrics["test_accuracy"], run.TrainSeconds)
	}
}
"""),
("md", r"""
## Side by side: accuracy against the share of trained parameters

The x axis is logarithmic: the methods span four orders of magnitude. Counts include the 258-parameter head. The
table adds macro-F1, training time (on this machine, under whatever else it was running) and an *estimate* of training
memory at batch 16 × 32 tokens.
"""),
("go", r"""
// zoo is every run of this notebook, by the name the plots and tables show.
func zoo() map[string]*runstore.Run {
	out := map[string]*runstore.Run{}
	for _, r := range loraRanks {
		out[fmt.Sprintf("LoRA r=%d", r)] = loraRun(r)
	}
	for _, group := range []map[string]*runstore.Run{smallMethods(), vectorMethods(), references()} {
		for name, run := range group {
			out[name] = run
		}
	}
	return out
}

// order is the table's row order: the references' floor, the methods from LoRA's matrices to single vectors, full FT.
func order() []string {
	out := []string{"head only"}
	for _, r := range loraRanks {
		out = append(out, fmt.Sprintf("LoRA r=%d", r))
	}
	return append(out, "IA3", "BitFit", "LN", "prefix", "prompt random", "prompt text", "full FT")
}

// trainRuns are the runs as train.Runs, which the widgets' helpers take.
func trainRuns(runs map[string]*runstore.Run, skip ...string) map[string]*train.Run {
	out := map[string]*train.Run{}
	for name, run := range runs {
		if !slices.Contains(skip, name) {
			out[name] = run.Run
		}
	}
	return out
}

%%
quiet = true
runs := zoo()
opt := widgets.AccuracyVsParamsOptions{Title: "spam: test accuracy against trained parameters"}
if full, ok := runs["full FT"]; ok {
	acc := full.Metrics["test_accuracy"]
	opt.FullFineTuning = &acc
}
widgets.Display(widgets.AccuracyVsParams(notebook.MethodResults(trainRuns(runs, "full FT"), "test_accuracy"), opt))
rows := notebook.CompareRows(trainRuns(runs))
slices.SortStableFunc(rows, func(a, b widgets.CompareRow) int { return slices.Index(order(), a.Method) - slices.Index(order(), b.Method) })
widgets.Display(widgets.CompareTable(rows, widgets.CompareTableOptions{
	Caption: fmt.Sprintf("spam, %d test emails; majority class %.3f; memory is estimated, not measured", len(spam().Test), data.MajorityBaseline(spam())),
	Metrics: []string{"test_accuracy", "test_macro_f1"}, Best: "test_accuracy", MemoryHeader: "Est. memory (MB)"}))
"""),
("md", r"""
## What this run shows, against the papers

The papers measured much larger models on other tasks: LoRA on GPT-3 (175 B parameters), IA³ on T0 (3 B, few-shot),
BitFit on BERT-large, prompt tuning on T5 up to 11 B. This is a 1.3 M-parameter encoder on one classification task, so
agreement or disagreement below is evidence about this setting only. Two accuracies on the same n test emails differ
by noise of about √(2p(1-p)/n); a gap under two of those standard errors is no evidence either way.
"""),
("go", r"""
%%
quiet = true
runs := zoo()
acc := func(name string) float64 { return runs[name].Metrics["test_accuracy"] }
pct := func(name string) float64 {
	c := runs[name].Tuned.Counts()
	return 100 * float64(c.Trainable) / float64(c.Total)
}
n := float64(len(spam().Test))
// se is the standard error of the difference of two accuracies near a and b on the n test emails.
se := func(a, b float64) float64 { p := (a + b) / 2; return math.Sqrt(2 * p * (1 - p) / n) }
// verdict: does "a is better than b" hold here?
verdict := func(a, b float64, claim string) string {
	switch {
	case math.Abs(a-b) < 2*se(a, b):
		return fmt.Sprintf("cannot tell %s from its opposite: the gap is within two standard errors (±%.1f points)", claim, 200*se(a, b))
	case a > b:
		return "agrees with " + claim
	default:
		return "contradicts " + claim
	}
}
// same: does "a is as good as b" hold here?
same := func(a, b float64, claim string) string {
	if math.Abs(a-b) < 2*se(a, b) {
		return fmt.Sprintf("agrees with %s: the gap is within two standard errors (±%.1f points)", claim, 200*se(a, b))
	}
	if a > b {
		return fmt.Sprintf("goes beyond %s: the smaller rank is better by more than two standard errors", claim)
	}
	return fmt.Sprintf("contradicts %s: the gap is larger than two standard errors (±%.1f points)", claim, 200*se(a, b))
}
ref, refName := acc("LoRA r=8"), "LoRA r=8"
if _, ok := runs["full FT"]; ok {
	ref, refName = acc("full FT"), "full fine-tuning"
}

fmt.Printf("LoRA rank (Hu et al.: r = 1..8 about the same on GPT-3): r=1 %.3f, r=2 %.3f, r=4 %.3f, r=8 %.3f, r=16 %.3f — r=1 against r=8 %s.\n",
	acc("LoRA r=1"), acc("LoRA r=2"), acc("LoRA r=4"), acc("LoRA r=8"), acc("LoRA r=16"), same(acc("LoRA r=1"), acc("LoRA r=8"), `"a rank of 1 suffices"`))
fmt.Printf("IA3 vs LoRA (Liu et al.: IA3 better at fewer parameters, few-shot on T0-3B): IA3 %.3f at %.2f%% vs LoRA r=8 %.3f at %.2f%% — this run %s (and it is not few-shot: %d training emails).\n",
	acc("IA3"), pct("IA3"), acc("LoRA r=8"), pct("LoRA r=8"), verdict(acc("IA3"), acc("LoRA r=8"), `"IA3 beats LoRA"`), len(spam().Train))
fmt.Printf("BitFit (Ben Zaken et al.: competitive with full fine-tuning on small data, BERT-large on GLUE): BitFit %.3f at %.2f%%, %+.1f points from %s (%.3f) — %s.\n",
	acc("BitFit"), pct("BitFit"), 100*(acc("BitFit")-ref), refName, ref, same(acc("BitFit"), ref, `"BitFit is competitive"`))
bestPrompt := math.Max(acc("prompt random"), acc("prompt text"))
fmt.Printf("Prompt tuning (Lester et al.: lags fine-tuning on small models, the gap closing only near 10B parameters): best prompt %.3f (random %.3f, from text %.3f) vs %s %.3f on a %.1fM-parameter model — this run %s.\n",
	bestPrompt, acc("prompt random"), acc("prompt text"), refName, ref, float64(runs["head only"].Tuned.Counts().Base)/1e6, verdict(ref, bestPrompt, `"prompt tuning lags"`))
fmt.Printf("Prompt initialisation (Lester et al.: from words better than random, most of all on small models): from text %.3f vs random %.3f — this run %s.\n",
	acc("prompt text"), acc("prompt random"), verdict(acc("prompt text"), acc("prompt random"), `"initialising from words beats random"`))
fmt.Printf("Prefix tuning %.3f and LayerNorm tuning %.3f; head only (frozen encoder) %.3f; majority class %.3f.\n",
	acc("prefix"), acc("LN"), acc("head only"), data.MajorityBaseline(spam()))
if _, ok := runs["full FT"]; !ok {
	fmt.Println(`Full fine-tuning was skipped: this GoPEFT has no peft.Preset("full"); comparisons use LoRA r=8 instead.`)
}
fmt.Printf("GoPEFT %s, backend %s, seed %d, %d steps, quick mode %v\n", peft.Version, peft.BackendChoice().Display(), options(0).Seed, options(0).Steps, notebook.Quick())
"""),
]
