# Source of notebooks/05-adapterdrop.ipynb (python3 scripts/notebooks/nbjson.py THIS OUT).
CELLS = [
("md", r"""
# 05 · AdapterDrop: faster training and multi-task inference by removing adapters from the lowest layers

**What it teaches.** Rücklé et al. (2021, *AdapterDrop: On the Efficiency of Adapters in Transformers*) observed that
the adapters of a transformer's lowest layers matter least, and that removing them saves more than their own cost:
below the first adapter nothing needs a backward pass, and in **multi-task inference** (several adapters in
parallel on one input) the adapter-free lowest layers run once for all tasks instead of once per task. They report,
for BERT-base with 5 of 12 layers dropped, about 26% faster training and 39% faster inference over 8 parallel
adapters, at a small cost in accuracy; and that **robust** AdapterDrop (a random depth for every training batch)
yields one adapter that works at every depth.

This notebook measures each claim on the shipped 4-layer encoder and real spam data:
1. training step time against the number of dropped layers n;
2. accuracy against n, for adapters trained at that depth and for one robustly trained adapter;
3. multi-task inference time of a Parallel block of 4 adapters against n.

**Time.** 48 s on 2 CPU cores (`blas` backend, measured 2026-12-01: five short trainings and a few timed loops; no cell
over 33 s); 1 min 22 s on an H200 through the GPU kernel, measured from an empty run store while three other notebooks shared the GPU (so at most that alone; most of it is XLA compiling each cell's graphs, which the executable cache skips when a cell runs again). `GOPEFT_QUICK=1` trains a quarter as long (CI).
"""),
("go", r"""
import (
	"fmt"
	"math"
	"sort"
	"time"

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

// options: 240 steps on each email's first 32 tokens; quick mode trains 64.
func options() train.Options {
	o := train.Options{Steps: 240, BatchSize: 16, MaxLen: 32, LearningRate: 2e-3, EvalEvery: 40, EvalExamples: 256, Seed: 1}
	if notebook.Quick() {
		o.Steps, o.EvalEvery, o.EvalExamples = 64, 16, 96
	}
	return o
}

// finetune trains one setup, or loads its finished run from the run directory.
func finetune(name string, setup *peft.Setup) *runstore.Run {
	dir := "adapterdrop-" + name
	if notebook.Quick() {
		dir += "-quick"
	}
	return must(notebook.Finetune(notebook.RunsDir(dir), must(notebook.LoadShipped()), spam(), setup, options()))
}

// fastestMS times f reps times after one untimed call (which compiles) and returns the fastest in milliseconds:
// other processes on the cores only ever add time, so the minimum is the steadiest estimate of the cost itself.
func fastestMS(reps int, f func() error) float64 {
	must(0, f())
	ms := make([]float64, reps)
	for i := range ms {
		start := time.Now()
		must(0, f())
		ms[i] = float64(time.Since(start).Microseconds()) / 1000
	}
	sort.Float64s(ms)
	return ms[0]
}

%%
model := must(notebook.LoadShipped())
fmt.Println(model.Describe())
fmt.Printf("GoPEFT %s, backend %s, seed %d, quick mode %v\n", peft.Version, peft.BackendChoice().Display(), options().Seed, notebook.Quick())
"""),
("md", r"""
## Where the adapters go

A Houlsby adapter sits after attention and after the FFN of every layer. `peft.StaticDrop(n)` removes those of layers
0 … n-1 (hatched), in training and at inference.
"""),
("go", r"""
// dropped is a Houlsby adapter without adapters in the lowest n layers.
func dropped(n int) *peft.Setup {
	s := peft.NewSetup("houlsby", peft.Houlsby())
	s.Drop = peft.StaticDrop(n)
	return s
}

// depths are the drop depths compared: 0 .. layers-1 (at n = layers no adapter would be left).
func depths() []int {
	var out []int
	for n := range must(notebook.LoadShipped()).Config.NumLayers {
		out = append(out, n)
	}
	return out
}

%%
layers := must(notebook.LoadShipped()).Config.NumLayers
var titles []string
var sites [][]widgets.LayerSite
for _, n := range depths() {
	titles = append(titles, fmt.Sprintf("n = %d", n))
	sites = append(sites, notebook.Placements(dropped(n), layers))
}
widgets.Display(widgets.LayerDiagrams(titles, sites, widgets.LayerDiagramOptions{Title: "Houlsby adapters with the lowest n layers dropped", NumLayers: layers}))
"""),
("md", r"""
## 1 · Training step time against n

One AdamW step on a batch of 16 emails × 32 tokens, fastest of 15 after a warm-up, through the same `peft.Stepper`
that `train.Finetune` drives. The stepper compiles one graph per depth: in the graph for depth n, layers below n are
a plain forward pass with no gradient at all.
"""),
("go", r"""
%%
model := must(notebook.LoadShipped())
task := spam()
tok := model.Tokenizer
texts := make([]string, 16)
labels := peft.Labels{Classes: make([]int32, 16)}
for i := range texts {
	texts[i] = task.Train[i].Text
	labels.Classes[i] = int32(task.Train[i].Label)
}
batch := peft.BatchFrom(tok.EncodeBatch(texts, 32))
tuned := must(peft.NewTuned(model, dropped(0), peft.ClassificationHead(2), 1))
stepper := tuned.NewStepper(0.01)
step := widgets.Series{Name: "train step"}
var rows [][]string
var base float64
for _, n := range append(depths(), model.Config.NumLayers) {
	ms := fastestMS(15, func() error { _, err := stepper.Step(batch, labels, 1e-4, n); return err })
	if n == 0 {
		base = ms
	}
	step.X, step.Y = append(step.X, float64(n)), append(step.Y, ms)
	rows = append(rows, []string{fmt.Sprint(n), fmt.Sprintf("%.1f", ms), fmt.Sprintf("%.2fx", base/ms)})
}
widgets.Display(widgets.LineChart([]widgets.Series{step}, widgets.LineChartOptions{
	Title: "Training step time against dropped layers (batch 16 × 32 tokens)", XLabel: "layers dropped (n)", YLabel: "ms per step"}))
widgets.Display(widgets.Table([]string{"n", "ms per step", "speed-up vs n=0"}, rows, widgets.TableOptions{
	Caption: fmt.Sprintf("At n = %d no adapter is left: only the head trains", model.Config.NumLayers)}))
"""),
("md", r"""
## 2 · Accuracy against n: specialised and robust adapters

For each n, one adapter trained with its lowest n layers dropped (the same steps and seed), and one adapter trained
with **robust** AdapterDrop (`peft.RobustDrop()`: every batch draws n uniformly from 0 … layers-1) and then served at
each depth with `Tuned.DropAtInference(n)`.
"""),
("go", r"""
// specialised are the adapters trained at each depth, by n.
func specialised() []*runstore.Run {
	var out []*runstore.Run
	for _, n := range depths() {
		out = append(out, finetune(fmt.Sprintf("static-%d", n), dropped(n)))
	}
	return out
}

// robust is one adapter trained with a random drop depth per batch.
func robust() *runstore.Run {
	s := peft.NewSetup("houlsby", peft.Houlsby())
	s.Drop = peft.RobustDrop()
	return finetune("robust", s)
}

%%
spec, rob := specialised(), robust()
for i, n := range depths() {
	fmt.Printf("trained at n=%d: test accuracy %.3f (%.0f s)\n", n, spec[i].Metrics["test_accuracy"], spec[i].TrainSeconds)
}
fmt.Printf("robust (depth drawn per batch), served with every adapter: test accuracy %.3f (%.0f s)\n", rob.Metrics["test_accuracy"], rob.TrainSeconds)
"""),
("go", r"""
%%
spec, rob := specialised(), robust()
task := spam()
specSeries := widgets.Series{Name: "trained at depth n"}
robSeries := widgets.Series{Name: "robust, served at depth n"}
var rows [][]string
for i, n := range depths() {
	a := spec[i].Metrics["test_accuracy"]
	served := rob.With(must(rob.Tuned.DropAtInference(n)))
	r := must(served.Evaluate(task.Test))["accuracy"]
	specSeries.X, specSeries.Y = append(specSeries.X, float64(n)), append(specSeries.Y, a)
	robSeries.X, robSeries.Y = append(robSeries.X, float64(n)), append(robSeries.Y, r)
	rows = append(rows, []string{fmt.Sprint(n), fmt.Sprintf("%.3f", a), fmt.Sprintf("%.3f", r), fmt.Sprintf("%+.1f", 100*(r-a))})
}
widgets.Display(widgets.LineChart([]widgets.Series{specSeries, robSeries}, widgets.LineChartOptions{
	Title: "Test accuracy against dropped layers", XLabel: "layers dropped (n)", YLabel: "test accuracy"}))
widgets.Display(widgets.Table([]string{"n", "specialised", "robust", "robust - specialised (points)"}, rows,
	widgets.TableOptions{Caption: fmt.Sprintf("spam, %d test emails; majority class %.3f", len(task.Test), data.MajorityBaseline(task))}))
"""),
("md", r"""
## 3 · Multi-task inference: 4 adapters in parallel on one input

`peft.Parallel("t0", "t1", "t2", "t3")` runs four task adapters on the same batch. The encoder replicates the batch at
the first layer that has an adapter, so the layers below it run once for all four tasks. The adapters here are
untrained: the timing does not depend on their values.
"""),
("go", r"""
%%
model := must(notebook.LoadShipped())
task := spam()
texts := make([]string, 16)
for i := range texts {
	texts[i] = task.Test[i].Text
}
batch := peft.BatchFrom(model.Tokenizer.EncodeBatch(texts, 32))
s := &peft.Setup{}
names := []string{"t0", "t1", "t2", "t3"}
for _, name := range names {
	s.Add(name, peft.Houlsby())
}
s.Active = peft.Parallel(names...)
multi := must(peft.NewTuned(model, s, peft.ClassificationHead(2), 1))
inference := widgets.Series{Name: "4 tasks in parallel"}
var rows [][]string
var base float64
for _, n := range depths() {
	f := must(multi.LogitsAt(n))
	ms := fastestMS(15, func() error { _, err := f(batch); return err })
	if n == 0 {
		base = ms
	}
	inference.X, inference.Y = append(inference.X, float64(n)), append(inference.Y, ms)
	rows = append(rows, []string{fmt.Sprint(n), fmt.Sprintf("%.1f", ms), fmt.Sprintf("%.2fx", base/ms)})
}
widgets.Display(widgets.LineChart([]widgets.Series{inference}, widgets.LineChartOptions{
	Title: "Multi-task inference time (4 adapters, batch 16 × 32 tokens)", XLabel: "layers dropped (n)", YLabel: "ms per batch"}))
widgets.Display(widgets.Table([]string{"n", "ms per batch", "speed-up vs n=0"}, rows, widgets.TableOptions{}))
"""),
("md", r"""
## What this run shows, against the paper

Rücklé et al. report for 12-layer BERT-base on a GPU: dropping 5 layers' adapters trains about 1.26x faster and runs
8-task inference about 1.39x faster, losing little accuracy; robust AdapterDrop stays close to the specialised
adapters at every depth. The shipped encoder has 4 layers, so the nearest point is n = 2 (half the layers; the paper's
5 of 12 is 42%). Speed-ups on 2 CPU cores are not GPU speed-ups: here every layer's cost is mostly matrix products, so
removing a layer's backward saves a larger share.
"""),
("go", r"""
%%
spec, rob := specialised(), robust()
task := spam()
n := 2
a0, an := spec[0].Metrics["test_accuracy"], spec[n].Metrics["test_accuracy"]
rn := must(rob.With(must(rob.Tuned.DropAtInference(n))).Evaluate(task.Test))["accuracy"]
se := math.Sqrt(2 * a0 * (1 - a0) / float64(len(task.Test)))
fmt.Printf("Accuracy: no drop %.3f, %d layers dropped %.3f (%+.1f points; two standard errors are ±%.1f points).\n", a0, n, an, 100*(an-a0), 200*se)
fmt.Printf("Robust adapter served at n=%d: %.3f (%+.1f points against the adapter trained at n=%d).\n", n, rn, 100*(rn-an), n)
fmt.Printf("Majority baseline %.3f. GoPEFT %s, backend %s, seed %d, quick mode %v\n",
	data.MajorityBaseline(task), peft.Version, peft.BackendChoice().Display(), options().Seed, notebook.Quick())
"""),
]
