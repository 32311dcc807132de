# Source of notebooks/02-adapters.ipynb (python3 scripts/notebooks/nbjson.py THIS OUT).
CELLS = [
("md", r"""
# 02 · Bottleneck adapters: where they sit, how big, how initialised, and against full fine-tuning

**What it teaches.** Houlsby et al. (2019, *Parameter-Efficient Transfer Learning for NLP*) insert small bottleneck
layers — down-projection, non-linearity, up-projection, residual — into every transformer layer and train only
those and the head. They report adapters within 0.4 GLUE points of full fine-tuning while training 3.6% of the
parameters per task, that the result is robust to the bottleneck size, that a near-identity initialisation
(standard deviation below about 10⁻²) matters, and that adapters in the lower layers matter less than in the upper
ones. Pfeiffer et al. (2021) keep only the adapter after the FFN (half the modules, about the same accuracy); He et
al. (2022) place it *in parallel* to the FFN.

This notebook measures each claim on spam with the shipped 4-layer encoder:
1. Houlsby vs Pfeiffer vs parallel;
2. the bottleneck size, and accuracy against % trained parameters next to full fine-tuning, the top 2 layers and the
   head alone;
3. the initialisation scale;
4. adapters only in the lower or only in the upper half of the layers.

**Time.** 2 min on 2 CPU cores (`blas` backend, measured 2026-12-01; no cell over 33 s); 2 min 23 s on an H200 through the GPU kernel, measured from an empty run store while two other notebooks shared the GPU (so at most that alone; most of it is XLA compiling each cell's graphs, which the executable cache skips when a cell runs again). `GOPEFT_QUICK=1` trains half as long (CI).
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

// options: 240 steps on each email's first 32 tokens; adapters and the head like a larger rate than full
// fine-tuning (see 01-fine-tuning-basics); quick mode trains 120.
func options(lr float64) train.Options {
	o := train.Options{Steps: 240, BatchSize: 16, MaxLen: 32, LearningRate: lr, EvalEvery: 40, EvalExamples: 256, Seed: 1}
	if notebook.Quick() {
		o.Steps, o.EvalEvery, o.EvalExamples = 120, 30, 96 // the parallel adapter starts at zero: 64 steps leave it at the majority class
	}
	return o
}

// fullLR is full fine-tuning's rate as 01-fine-tuning-basics tuned it on dev (1e-4 leaves it 4 points lower).
const adapterLR, fullLR = 2e-3, 1e-3

// finetune trains one configuration, or loads its finished run.
func finetune(name string, setup *peft.Setup, lr float64) *runstore.Run {
	dir := "adapters-" + name
	if notebook.Quick() {
		dir += "-quick"
	}
	return must(notebook.Finetune(notebook.RunsDir(dir), must(notebook.LoadShipped()), spam(), setup, options(lr)))
}

func houlsbyWith(change func(b *peft.Bottleneck)) *peft.Setup {
	b := peft.Houlsby()
	change(b)
	return peft.NewSetup("houlsby", b)
}

%%
model := must(notebook.LoadShipped())
fmt.Println(model.Describe())
fmt.Printf("GoPEFT %s, backend %s, seed %d, quick mode %v\n", peft.Version, peft.BackendChoice().Display(), options(adapterLR).Seed, notebook.Quick())
"""),
("md", r"""
## 1 · Houlsby, Pfeiffer, parallel
"""),
("go", r"""
// placements are the three architectures with their papers' defaults (reduction 16; parallel: 2, scaled by 4).
func placements() map[string]*peft.Setup {
	return map[string]*peft.Setup{
		"houlsby":  peft.NewSetup("houlsby", peft.Houlsby()),
		"pfeiffer": peft.NewSetup("pfeiffer", peft.Pfeiffer()),
		"parallel": peft.NewSetup("parallel", peft.ParallelAdapter()),
	}
}

var placementOrder = []string{"houlsby", "pfeiffer", "parallel"}

%%
layers := must(notebook.LoadShipped()).Config.NumLayers
var sites [][]widgets.LayerSite
for _, name := range placementOrder {
	sites = append(sites, notebook.Placements(placements()[name], layers))
}
widgets.Display(widgets.LayerDiagrams(placementOrder, sites, widgets.LayerDiagramOptions{Title: "Where each adapter sits", NumLayers: layers}))
for _, name := range placementOrder {
	r := finetune(name, placements()[name], adapterLR)
	fmt.Printf("%-9s %s: test accuracy %.3f (%.0f s)\n", name, r.Tuned.TrainableLine(), r.Metrics["test_accuracy"], r.TrainSeconds)
}
"""),
("md", r"""
## 2 · Bottleneck size, and adapters against fine-tuning

Reduction factor r means hidden/r bottleneck units (hidden 128 here: r = 64 is 2 units, r = 4 is 32). The baselines
train the head alone, the top 2 layers, or every weight (`peft.Preset("head")`, `"top2"`, `"full"`).
"""),
("go", r"""
var reductions = []float64{64, 16, 4}

func sized(r float64) (string, *peft.Setup) {
	if r == 16 {
		return "houlsby", placements()["houlsby"] // the default size: the same run as above
	}
	return fmt.Sprintf("houlsby-r%.0f", r), houlsbyWith(func(b *peft.Bottleneck) { b.ReductionFactor = r })
}

// baselines are the fine-tuning points of comparison, with the rate each wants.
func baselines() []*runstore.Run {
	var out []*runstore.Run
	for _, p := range []struct {
		name string
		lr   float64
	}{{"head", adapterLR}, {"top2", fullLR}, {"full", fullLR}} {
		out = append(out, finetune(p.name, peft.NewSetup(p.name, must(peft.Preset(p.name))), p.lr))
	}
	return out
}

%%
for _, r := range reductions {
	name, s := sized(r)
	run := finetune(name, s, adapterLR)
	fmt.Printf("reduction %-3.0f %s: test accuracy %.3f\n", r, run.Tuned.TrainableLine(), run.Metrics["test_accuracy"])
}
"""),
("go", r"""
%%
for _, run := range baselines() {
	fmt.Printf("%-5s %s: test accuracy %.3f (%.0f s)\n", run.Tuned.Setup.Adapters[0].Name, run.Tuned.TrainableLine(), run.Metrics["test_accuracy"], run.TrainSeconds)
}
"""),
("go", r"""
%%
runs := map[string]*train.Run{}
for _, name := range placementOrder {
	runs[name] = finetune(name, placements()[name], adapterLR).Run
}
for _, r := range reductions {
	name, s := sized(r)
	runs[name] = finetune(name, s, adapterLR).Run
}
b := baselines()
runs["head only"], runs["top 2 layers"] = b[0].Run, b[1].Run
full := b[2].Metrics["test_accuracy"]
widgets.Display(widgets.AccuracyVsParams(notebook.MethodResults(runs, "test_accuracy"), widgets.AccuracyVsParamsOptions{
	Title: "Test accuracy against trained parameters (spam)", FullFineTuning: &full}))
runs["full fine-tuning"] = b[2].Run
widgets.Display(widgets.CompareTable(notebook.CompareRows(runs), widgets.CompareTableOptions{
	Caption: "Every configuration of this notebook", Metrics: []string{"test_accuracy", "test_macro_f1"}, Best: "test_accuracy", MemoryHeader: "Est. memory (MB)"}))
"""),
("md", r"""
## 3 · Initialisation scale

Houlsby et al. draw the adapter's projections from a zero-mean normal and report robustness for standard deviations
below about 10⁻², degrading above (their Figure 6): a large initialisation makes the fresh adapter far from the
identity, so the pretrained network is disturbed before training starts. `Bottleneck.InitStd` sets it.
"""),
("go", r"""
var initStds = []float64{1e-4, 1e-2, 1e-1, 1}

func initScaled(std float64) (string, *peft.Setup) {
	return fmt.Sprintf("houlsby-init%g", std), houlsbyWith(func(b *peft.Bottleneck) { b.InitWeights, b.InitStd = "houlsby", std })
}

%%
curve := widgets.Series{Name: "Houlsby adapter"}
for _, std := range initStds {
	name, s := initScaled(std)
	r := finetune(name, s, adapterLR)
	curve.X, curve.Y = append(curve.X, std), append(curve.Y, r.Metrics["test_accuracy"])
	fmt.Printf("init std %-6g test accuracy %.3f\n", std, r.Metrics["test_accuracy"])
}
widgets.Display(widgets.LineChart([]widgets.Series{curve}, widgets.LineChartOptions{
	Title: "Test accuracy against the adapters' initialisation scale", XLabel: "initial standard deviation", YLabel: "test accuracy", LogX: true}))
"""),
("md", r"""
## 4 · Which layers need adapters?

Adapters only in the lower two layers (`LeaveOut: [2, 3]`) against only in the upper two (`LeaveOut: [0, 1]`), same
size otherwise.
"""),
("go", r"""
func halves() (lower, upper *peft.Setup) {
	return houlsbyWith(func(b *peft.Bottleneck) { b.LeaveOut = []int{2, 3} }), houlsbyWith(func(b *peft.Bottleneck) { b.LeaveOut = []int{0, 1} })
}

%%
lower, upper := halves()
lo, up := finetune("houlsby-lower", lower, adapterLR), finetune("houlsby-upper", upper, adapterLR)
fmt.Printf("adapters in layers 0-1 only: test accuracy %.3f\n", lo.Metrics["test_accuracy"])
fmt.Printf("adapters in layers 2-3 only: test accuracy %.3f\n", up.Metrics["test_accuracy"])
"""),
("md", r"""
## What this run shows, against the paper
"""),
("go", r"""
%%
task := spam()
n := float64(len(task.Test))
acc := func(r *runstore.Run) float64 { return r.Metrics["test_accuracy"] }
h := finetune("houlsby", placements()["houlsby"], adapterLR)
b := baselines()
full := acc(b[2])
se := math.Sqrt(2 * full * (1 - full) / n)
c := h.Tuned.Counts()
fmt.Printf("Two standard errors of an accuracy difference: ±%.1f points.\n", 200*se)
fmt.Printf("Houlsby adapters %.3f vs full fine-tuning %.3f: %+.1f points at %.1f%% of the parameters trained (Houlsby et al.: -0.4 points at 3.6%%).\n",
	acc(h), full, 100*(acc(h)-full), 100*float64(c.Trainable)/float64(c.Total))
fmt.Printf("Pfeiffer (half the modules) %.3f, parallel %.3f.\n", acc(finetune("pfeiffer", placements()["pfeiffer"], adapterLR)), acc(finetune("parallel", placements()["parallel"], adapterLR)))
var sizes []string
for _, r := range reductions {
	name, s := sized(r)
	sizes = append(sizes, fmt.Sprintf("r=%.0f %.3f", r, acc(finetune(name, s, adapterLR))))
}
fmt.Printf("Bottleneck size: %v.\n", sizes)
var inits []string
for _, std := range initStds {
	name, s := initScaled(std)
	inits = append(inits, fmt.Sprintf("%g: %.3f", std, acc(finetune(name, s, adapterLR))))
}
fmt.Printf("Initialisation scale: %v.\n", inits)
lower, upper := halves()
fmt.Printf("Lower layers only %.3f, upper layers only %.3f.\n", acc(finetune("houlsby-lower", lower, adapterLR)), acc(finetune("houlsby-upper", upper, adapterLR)))
fmt.Printf("Majority baseline %.3f. GoPEFT %s, backend %s, seed %d, quick mode %v\n",
	data.MajorityBaseline(task), peft.Version, peft.BackendChoice().Display(), options(adapterLR).Seed, notebook.Quick())
"""),
]
