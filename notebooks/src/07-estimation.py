# Source of notebooks/07-estimation.ipynb (python3 scripts/notebooks/nbjson.py THIS OUT).
CELLS = [
("md", r"""
# 07 · Estimating before training: accuracy, data, memory and time — and where the estimates fail

**What it teaches.** The project's seed text says "PEFT" stands for *performance estimation for fine-tuning*. It does
not: PEFT is parameter-efficient fine-tuning. But what the seed text describes is worth doing, and no PEFT library
does it: before training, sample a little data, take features from the frozen pretrained model, and predict

1. **accuracy**: transferability scores — LogME (You et al. 2021), H-score (Bao et al. 2019), LEEP (Nguyen et al.
   2020) and a linear probe — fitted to fine-tuned accuracy over finished runs;
2. **how much data pays**: a learning curve a − b·n^(−c) fitted to a few small samples, extrapolated with a band;
3. **memory**: tensors counted layer by layer, turned into a peak with constants measured on each backend;
4. **time**: a pre-flight that times a few real steps.

Each prediction is checked against the real thing here. Transferability scores rank models well *on average*
(LogME is positively correlated with fine-tuned accuracy in 94% of NLP setups, Bassignana et al. 2022) but can fail
on a given dataset; the notebook shows both.

**Time.** 2 min 20 s on 2 CPU cores (`blas` backend, measured 2026-12-01; ten short fine-tuning runs are the ground
truth; no cell over 48 s); 2 min 44 s on an H200 through the GPU kernel, measured alone from an empty run store (most of it is XLA compiling each cell's graphs, which the executable cache skips when a cell runs again).
`GOPEFT_QUICK=1` trains a quarter as long (CI).
"""),
("go", r"""
import (
	"fmt"
	"math"
	"sort"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/data"
	"github.com/gopeft/gopeft/peft/estimate"
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

// tasks are the ground truth's tasks, from the data package.
var tasks = []string{"spam", "sotu-party", "sotu-era", "source", "names"}

// methods are the fine-tuning methods of the ground truth.
var methods = []string{"houlsby", "lora"}

func loadTask(name string) (*data.Task, error) { return data.Load(name, data.Options{Seed: 1}) }

// options are each ground-truth run's: 240 steps on the first 32 tokens; quick mode trains 64.
func options() train.Options {
	o := train.Options{Steps: 240, BatchSize: 16, MaxLen: 32, LearningRate: 2e-3, EvalEvery: -1, Seed: 1}
	if notebook.Quick() {
		o.Steps = 64
	}
	return o
}

// transfer are the scores' options: 500 sampled training examples, mean-pooled features.
func transfer() estimate.TransferOptions {
	return estimate.TransferOptions{N: 500, Seed: 1, MaxLen: 32, Pooling: "mean"}
}

func runsDir() string {
	if notebook.Quick() {
		return notebook.RunsDir("estimation-quick")
	}
	return notebook.RunsDir("estimation")
}

// groundTruth fine-tunes (or loads) every task with the given methods and scores each task's frozen features.
func groundTruth(ms ...string) []estimate.Observation {
	var configs []estimate.Config
	for _, t := range tasks {
		for _, m := range ms {
			configs = append(configs, estimate.Config{Task: t, Method: m, Layer: -1})
		}
	}
	return must(estimate.GroundTruth(runsDir(), must(notebook.LoadShipped()), loadTask, configs, transfer(), options()))
}

%%
model := must(notebook.LoadShipped())
fmt.Println(model.Describe())
fmt.Printf("GoPEFT %s, backend %s, seed %d, quick mode %v\n", peft.Version, peft.BackendChoice().Display(), options().Seed, notebook.Quick())
"""),
("md", r"""
## 1 · Transferability scores from frozen features

For each task: 500 training examples through the frozen encoder, mean-pooled at every layer. LogME is the
log marginal evidence of a Bayesian linear model on the features (per example, averaged over one-vs-rest targets);
H-score is tr(cov(f)⁻¹ cov(E[f|y])); LEEP scores the MLM head's predictions as a source-label distribution; the probe
is 5-fold ridge-classifier accuracy. The NumPy reference in `scripts/estimate/reference.py` checks the first three to
1e-6 (`go test ./peft/estimate -run NumPy`).
"""),
("go", r"""
%%
model := must(notebook.LoadShipped())
var rows [][]string
for _, name := range tasks {
	layers := must(estimate.Transfer(model, must(loadTask(name)), transfer()))
	top := layers[len(layers)-1]
	rows = append(rows, []string{name, fmt.Sprintf("%.3f", top.LogME), fmt.Sprintf("%.3f", top.HScore), fmt.Sprintf("%.3f", top.LEEP),
		fmt.Sprintf("%.3f", top.Probe), fmt.Sprintf("%.3f", top.Baseline)})
}
widgets.Display(widgets.Table([]string{"task", "LogME", "H-score", "LEEP", "probe accuracy", "majority class"}, rows,
	widgets.TableOptions{Caption: "Scores of the frozen encoder's output layer, 500 sampled examples per task"}))
"""),
("md", r"""
## 2 · The ground truth: ten fine-tuning runs

Houlsby and LoRA on each of five tasks, kept in the run store. Then a predictor maps the scores (probe accuracy and
LogME, plus one offset per method) to test accuracy by least squares, and is checked **leave-one-out**: each run is
predicted by a predictor fitted on the other nine.
"""),
("go", r"""
%%
obs := groundTruth(methods[0])
for _, o := range obs {
	fmt.Printf("%-10s %-8s test accuracy %.3f (trained %.0f s)\n", o.Task, o.Method, o.Actual, o.TrainSeconds)
}
"""),
("go", r"""
%%
obs := groundTruth(methods[1])
for _, o := range obs {
	fmt.Printf("%-10s %-8s test accuracy %.3f (trained %.0f s)\n", o.Task, o.Method, o.Actual, o.TrainSeconds)
}
"""),
("go", r"""
// predicted is the leave-one-out check of the predictor over every run.
func predicted() *estimate.PredictedVsActual {
	obs := groundTruth(methods...)
	inputs := append([]string{"probe", "logme"}, estimate.MethodInputs(obs)...)
	return must(estimate.LeaveOneOut(obs, inputs))
}

%%
loo := predicted()
var points []widgets.Prediction
for _, p := range loo.Points {
	points = append(points, widgets.Prediction{Label: p.Config.Label(), Predicted: p.Prediction.Value, Actual: p.Actual})
}
widgets.Display(widgets.PredictedVsActual(points, widgets.PredictedVsActualOptions{
	Title: "Predicted (leave-one-out) against actual test accuracy", Metric: "test accuracy"}))
fmt.Printf("Kendall tau over %d runs: %.3f; mean absolute error %.3f; %.0f%% of actuals inside their 90%% interval\n",
	len(loo.Points), loo.Tau, loo.MAE, 100*loo.Covered)
var names []string
for t := range loo.PerTask {
	names = append(names, t)
}
sort.Strings(names)
for _, t := range names {
	fmt.Printf("  within %-10s tau %+.2f\n", t, loo.PerTask[t])
}
"""),
("md", r"""
The pooled tau mostly measures how well the scores order the **tasks** (their difficulty). *Within* a task every
method gets the same frozen-feature scores, so only the method offset can order two runs of one task: where the two
methods land within noise of each other, the within-task tau is a coin flip. That is the failure that a single pooled
number hides.

## 3 · How much data pays: a learning curve

Probe accuracy on 50 … 800 training examples, fitted with a − b·n^(−c) (weighted least squares, asymptote at most
1), extrapolated to 3200 with a 90% band, and checked against the probe actually trained on 3200.
"""),
("go", r"""
%%
model := must(notebook.LoadShipped())
task := must(loadTask("spam"))
sizes := []int{50, 100, 200, 400, 800}
pts := must(estimate.ProbeCurve(model, task, sizes, transfer()))
fit := must(estimate.FitCurveBounded(pts, 1))
band := fit.Band(pts, 3200, 24, 0.01)
actual := must(estimate.ProbeCurve(model, task, []int{3200}, transfer()))[0].Value
lc := widgets.LearningCurve{FitX: band.N, FitY: band.Value, Lo: band.Low, Hi: band.High}
for _, p := range pts {
	lc.ObservedX, lc.ObservedY = append(lc.ObservedX, p.N), append(lc.ObservedY, p.Value)
}
widgets.Display(widgets.LearningCurveChart(lc, widgets.LearningCurveOptions{Title: "Linear-probe accuracy on spam against training examples",
	Metric: "probe accuracy", LogX: true}))
fmt.Println(band)
fmt.Printf("at n = 3200: predicted %.3f (band %.3f-%.3f), measured %.3f\n", band.Predicted, band.PredLow, band.PredHigh, actual)
"""),
("md", r"""
## 4 · Memory and time before training

`estimate.PredictMemory` counts weights, gradients, AdamW's moments and what each layer keeps for the backward pass
(a frozen layer below the first adapter keeps nothing; full fine-tuning keeps the inputs of every trained
projection), then applies the active backend's constants, fitted on measured sweeps (peak RSS on this CPU backend:
within 18% over 36 points; XLA's device memory on an H200: within 9% over 24 points, BENCHMARKS.md). The line is a
course JupyterHub's 2 GB per student.
"""),
("go", r"""
%%
model := must(notebook.LoadShipped())
bm := estimate.ActiveBackend()
limit := int64(2 << 30)
batches := []int{8, 16, 32, 64, 128, 256}
var series []widgets.Series
for _, name := range []string{"full", "houlsby", "lora"} {
	s := peft.NewSetup(name, must(peft.Preset(name)))
	mc := estimate.MemoryCurve(model.Config, s, 128, batches, bm, limit)
	sr := widgets.Series{Name: name}
	for i, b := range mc.Batch {
		sr.X, sr.Y = append(sr.X, float64(b)), append(sr.Y, float64(mc.Predicted[i])/(1<<20))
	}
	series = append(series, sr)
	fmt.Printf("%-8s largest batch of 128 tokens under 2 GiB: %d\n", name, mc.MaxBatch)
}
widgets.Display(widgets.MemoryVsBatch(series, widgets.MemoryOptions{Title: fmt.Sprintf("Predicted peak training memory, 128 tokens, %s backend", bm.Name),
	LimitMB: float64(limit) / (1 << 20), LimitLabel: "2 GiB per student"}))
"""),
("md", r"""
A **pre-flight** times a few real steps at the padded lengths the task's batches will have, and predicts the run's
time; the cell then trains the same run and compares.
"""),
("go", r"""
%%
model := must(notebook.LoadShipped())
task := must(loadTask("spam"))
setup := peft.NewSetup("houlsby", peft.Houlsby())
o := options()
pf := must(estimate.Preflight(model, task, setup, estimate.PreflightOptions{Train: o}))
fmt.Println(pf)
run := must(notebook.Finetune(notebook.RunsDir("estimation-preflight-check"), model, task, setup, o))
fmt.Printf("pre-flight predicted %.1f s for %d steps; the run took %.1f s (%+.0f%%)%s\n", pf.RunSeconds, o.Steps, run.TrainSeconds,
	100*(pf.RunSeconds/run.TrainSeconds-1), map[bool]string{true: " (loaded: trained earlier, maybe under other load)", false: ""}[run.Loaded])
"""),
("md", r"""
## What this run shows
"""),
("go", r"""
%%
loo := predicted()
worst, worstTask := 1.0, ""
var order []string
for t := range loo.PerTask {
	order = append(order, t)
}
sort.Strings(order) // ties go to the first task by name, so re-runs print the same line
for _, t := range order {
	if tau := loo.PerTask[t]; !math.IsNaN(tau) && tau < worst {
		worst, worstTask = tau, t
	}
}
fmt.Printf("Accuracy: the predictor ranks %d runs with Kendall tau %.2f (leave-one-out), but within %s it gets tau %+.2f: the pooled number hides per-task failures.\n",
	len(loo.Points), loo.Tau, worstTask, worst)
fmt.Printf("Majority baseline of spam %.3f. GoPEFT %s, backend %s, seed %d, quick mode %v\n",
	data.MajorityBaseline(must(loadTask("spam"))), peft.Version, peft.BackendChoice().Display(), options().Seed, notebook.Quick())
"""),
]
