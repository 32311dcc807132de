# Source of notebooks/04-adapterfusion.ipynb (python3 scripts/notebooks/nbjson.py THIS OUT).
CELLS = [
("md", r"""
# 04 · AdapterFusion: combining task adapters for a low-resource target

**What it teaches.** Pfeiffer et al. (2021, *AdapterFusion: Non-Destructive Task Composition for Transfer Learning*)
split transfer into two stages. First, **knowledge extraction**: one adapter per task, each trained alone, the base
model frozen — nothing a later task does can destroy them. Then **knowledge composition**: for a target task, a
*fusion* layer in every transformer layer learns, per token, an attention over the adapters' outputs; only the fusion
layers and the head train. They report that fusion helps most where the target has little data, and that a
regulariser keeping the fusion's value matrix near the identity matters.

Here, on the shipped 4-layer encoder and the data package's tasks:
1. four task adapters (Pfeiffer configuration): `spam`, `sotu-era`, `source` (Moby Dick or State of the Union) and
   the target itself, `sotu-era` (which era of US history a State of the Union passage comes from) with only
   **64 passages per era**;
2. AdapterFusion over all four on the low-resource target, with the value regulariser on and off;
3. the fusion attention per layer and adapter, and **fusion pruning** (Rücklé et al. 2021): keep the two adapters
   the fusion attends to most.

**Time.** 1 min 15 s on 2 CPU cores (`blas` backend, measured 2026-12-01; no cell over 34 s; fusion steps run four
adapters each); 1 min 57 s on an H200 through the GPU kernel, measured from an empty run store while two other notebooks shared the GPU (so at most that alone; most of it is XLA compiling each cell's graphs, which the executable cache skips when a cell runs again). `GOPEFT_QUICK=1` trains a quarter as long (CI).
"""),
("go", r"""
import (
	"fmt"
	"math"
	"path/filepath"

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

// kPerClass is the target's training data: this many passages per era.
const kPerClass = 64

// target is the low-resource target task; the dev and test splits are whole.
func target() *data.Task {
	return must(data.Load("sotu-era", data.Options{Seed: 1, KPerClass: kPerClass}))
}

// sources are the tasks whose adapters are fused, the target's own last (Pfeiffer et al. fuse it too).
var sources = []string{"spam", "source", "sotu-party", "sotu-era"}

func task(name string) *data.Task {
	if name == "sotu-era" {
		return target()
	}
	return must(data.Load(name, data.Options{Seed: 1}))
}

// options: 240 steps on the first 32 tokens of each text; quick mode trains 64.
func options() train.Options {
	o := train.Options{Steps: 240, BatchSize: 16, MaxLen: 32, LearningRate: 2e-3, EvalEvery: 40, EvalExamples: 256, Seed: 1}
	if notebook.Quick() {
		o.Steps, o.EvalEvery, o.EvalExamples = 64, 16, 96
	}
	return o
}

func runDir(name string) string {
	if notebook.Quick() {
		name += "-quick"
	}
	return notebook.RunsDir("fusion-" + name)
}

%%
model := must(notebook.LoadShipped())
fmt.Println(model.Describe())
for _, name := range sources {
	t := task(name)
	fmt.Printf("%-11s %5d train / %4d dev / %4d test, labels %v\n", name, len(t.Train), len(t.Dev), len(t.Test), t.Labels)
}
fmt.Printf("GoPEFT %s, backend %s, seed %d, quick mode %v\n", peft.Version, peft.BackendChoice().Display(), options().Seed, notebook.Quick())
"""),
("md", r"""
## Stage 1 · knowledge extraction: one adapter per task

Each adapter is a Pfeiffer bottleneck (after the FFN only, reduction 16) with its own head, trained alone. The last
one, trained on the 256 target examples, is the **single-task adapter** baseline fusion must beat. The party adapter
is related: a Democratic-Republican president can only be from the first era.
"""),
("go", r"""
// taskAdapter trains (or loads) the adapter of one source task.
func taskAdapter(name string) *runstore.Run {
	return must(notebook.Finetune(runDir(name), must(notebook.LoadShipped()), task(name), peft.NewSetup(name, peft.Pfeiffer()), options()))
}

// adapterDirs are the trained adapters' directories, in the order of sources.
func adapterDirs() []string {
	var dirs []string
	for _, name := range sources {
		dirs = append(dirs, filepath.Join(taskAdapter(name).Dir, peft.AdaptersDir, name))
	}
	return dirs
}

%%
for _, name := range sources {
	r := taskAdapter(name)
	fmt.Printf("%-11s test accuracy %.3f (majority %.3f)\n", name, r.Metrics["test_accuracy"], r.Baseline)
}
"""),
("md", r"""
## Stage 2 · knowledge composition: AdapterFusion on the target

The fusion setup declares the four adapters and `peft.Fuse(...)` over them; `train.Options.Adapters` reads the trained
adapters in before training. With a Fuse active, only the fusion layers (query, key, value per layer) and a fresh
head train, as AdapterHub's `train_adapter_fusion`. `peft.DynamicFusion()` is AdapterHub's default configuration,
including the value regulariser 0.01·‖I − V‖²; the second run switches it off.
"""),
("go", r"""
// fusion trains (or loads) AdapterFusion over every source adapter on the target.
func fusion(regularize bool) *runstore.Run {
	s := &peft.Setup{}
	for _, name := range sources {
		s.Add(name, peft.Pfeiffer())
	}
	f := peft.Fuse(sources...)
	f.Config.Regularization = regularize
	s.Active = f
	o := options()
	o.Adapters = adapterDirs()
	name := "fuse-reg"
	if !regularize {
		name = "fuse-noreg"
	}
	return must(notebook.Finetune(runDir(name), must(notebook.LoadShipped()), target(), s, o))
}

%%
withReg := fusion(true)
fmt.Println(withReg.Tuned.TrainableLine())
fmt.Printf("fusion with the value regulariser: test accuracy %.3f (%.0f s)\n", withReg.Metrics["test_accuracy"], withReg.TrainSeconds)
"""),
("go", r"""
%%
single, withReg, noReg := taskAdapter("sotu-era"), fusion(true), fusion(false)
fmt.Printf("single-task adapter %.3f, fusion %.3f (regulariser on), %.3f (off, %.0f s)\n",
	single.Metrics["test_accuracy"], withReg.Metrics["test_accuracy"], noReg.Metrics["test_accuracy"], noReg.TrainSeconds)
"""),
("md", r"""
## Where does the fusion look?

Each row is a layer, each column an adapter; a cell is the fusion attention averaged over 64 test passages and their
tokens. Rows sum to 1.
"""),
("go", r"""
func argmax(v []float64) int {
	best := 0
	for i := range v {
		if v[i] > v[best] {
			best = i
		}
	}
	return best
}

// probe is a batch of test passages for looking inside the fusion.
func probe() peft.Batch {
	t := target()
	texts := make([]string, 64)
	for i := range texts {
		texts[i] = t.Test[i].Text
	}
	return peft.BatchFrom(must(notebook.LoadShipped()).Tokenizer.EncodeBatch(texts, 32))
}

%%
run := fusion(true)
att := must(notebook.FusionAttention(run.Tuned, probe(), nil))
widgets.Display(widgets.FusionHeatmap(att, widgets.FusionHeatmapOptions{Title: "AdapterFusion attention on sotu-era (mean over 64 test passages)"}))
for i, l := range att.Layers {
	sum := 0.0
	for _, w := range att.Weights[i] {
		sum += w
	}
	fmt.Printf("layer %d: attention sums to %.4f; most on %s\n", l, sum, att.Adapters[argmax(att.Weights[i])])
}
"""),
("md", r"""
## Fusion pruning: keep the two adapters the fusion uses most

`Tuned.PruneFusion` (Rücklé et al. 2021, §5) runs a batch through the fusion, keeps the k adapters with the highest
mean attention, and fuses only those with the trained fusion weights: no retraining, and inference runs two adapters
instead of four.
"""),
("go", r"""
%%
run := fusion(true)
f := run.Tuned.Setup.Active.(*peft.FuseBlock)
pruned, kept, err := run.Tuned.PruneFusion(f, 2, probe())
if err != nil {
	panic(err)
}
acc := must(run.With(pruned).Evaluate(target().Test))["accuracy"]
fmt.Printf("kept %v: test accuracy %.3f with 2 adapters, %.3f with all 4\n", kept, acc, run.Metrics["test_accuracy"])
"""),
("md", r"""
## What this run shows, against the paper

Pfeiffer et al. report that AdapterFusion improves on single-task adapters most for low-resource targets (on their
smallest tasks by several points) and never loses much elsewhere; the fusion attention concentrates on the target's
own adapter and on related tasks. The cell states what this run measured.
"""),
("go", r"""
%%
single, withReg, noReg := taskAdapter("sotu-era"), fusion(true), fusion(false)
s, f, n := single.Metrics["test_accuracy"], withReg.Metrics["test_accuracy"], noReg.Metrics["test_accuracy"]
se := math.Sqrt(2 * s * (1 - s) / float64(len(target().Test)))
word := func(d float64) string {
	switch {
	case math.Abs(d) < 2*se:
		return "within noise of"
	case d > 0:
		return "better than"
	default:
		return "worse than"
	}
}
fmt.Printf("Low-resource target (%d passages per era): fusion %.3f is %s the single-task adapter %.3f (%+.1f points; two standard errors ±%.1f).\n",
	kPerClass, f, word(f-s), s, 100*(f-s), 200*se)
fmt.Printf("Regulariser: on %.3f, off %.3f (%+.1f points).\n", f, n, 100*(f-n))
fmt.Printf("Majority baseline %.3f. GoPEFT %s, backend %s, seed %d, quick mode %v\n",
	data.MajorityBaseline(target()), peft.Version, peft.BackendChoice().Display(), options().Seed, notebook.Quick())
"""),
]
