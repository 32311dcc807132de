# Source of notebooks/10-playground.ipynb (python3 scripts/notebooks/nbjson.py THIS OUT).
CELLS = [
("md", r"""
# 10 · Playground: configure an adapter with controls, then train it

**What it teaches.** How the choices of a PEFT configuration trade against each other before anything trains: the
method, its size (bottleneck reduction factor or LoRA rank), AdapterDrop's n, the batch size and sequence length.
Move the controls and watch the trainable parameters, the layer diagram and the estimated training memory change;
press **Train** to fine-tune the configuration on spam and watch its loss curve grow.

The controls are real Jupyter widgets (the standard widget protocol; they work in the classic Notebook, JupyterLab,
VS Code and under a JupyterHub base URL). A cell that serves controls keeps running until you click its **Done**
button or interrupt the kernel; each control keeps its value for later cells (`widgets.Value(name)`). Executed
without a browser (nbconvert, CI), every view shows its defaults and the cells end at once.

**Papers.** Houlsby et al. 2019 and Pfeiffer et al. 2021 (bottleneck adapters), Hu et al. 2021 (LoRA), Rücklé et al.
2021 (AdapterDrop). **Time.** Instant to configure; a training run takes about 10 s on 2 CPU cores (`blas`); the notebook runs top to bottom in 2 s on an H200.
"""),
("go", r"""
import (
	"fmt"

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

// methods are the configurations the method control offers.
var methods = []string{"houlsby", "pfeiffer", "lora"}

// setupOf builds the configuration the controls describe.
func setupOf(method string, size, drop int) *peft.Setup {
	var m peft.Method
	switch method {
	case "lora":
		l := peft.DefaultLoRA()
		l.R = size
		m = l
	case "pfeiffer":
		b := peft.Pfeiffer()
		b.ReductionFactor = float64(size)
		m = b
	default:
		b := peft.Houlsby()
		b.ReductionFactor = float64(size)
		m = b
	}
	s := peft.NewSetup(method, m)
	s.Drop = peft.StaticDrop(drop)
	return s
}

// view is what the controls show: the layer diagram, the trainable parameters and the estimated memory.
func view(v widgets.Values) string {
	model := must(notebook.LoadShipped())
	cfg := model.Config
	s := setupOf(v.String("method"), v.Int("size"), v.Int("drop"))
	if err := s.Validate(cfg); err != nil {
		return "<p>" + err.Error() + "</p>"
	}
	tuned := must(peft.NewTuned(model, s, peft.ClassificationHead(2), 1))
	mem := estimate.PredictMemory(cfg, s, v.Int("batch"), v.Int("tokens"), estimate.ActiveBackend())
	line := fmt.Sprintf("<p><b>%s</b> · size %d · %d of %d layers dropped · %s<br>estimated training memory at batch %d × %d tokens: <b>%.1f MiB</b> on %s (activations %.1f MiB, %d layers keep activations for the backward pass)</p>",
		v.String("method"), v.Int("size"), v.Int("drop"), cfg.NumLayers, tuned.TrainableLine(), v.Int("batch"), v.Int("tokens"),
		float64(mem.Peak)/(1<<20), mem.Backend.Name, float64(mem.Activations)/(1<<20), mem.BackwardLayers)
	diagram := widgets.LayerDiagram(notebook.Placements(s, cfg.NumLayers), widgets.LayerDiagramOptions{Title: "Where the adapter sits", NumLayers: cfg.NumLayers})
	return line + diagram
}

%%
model := must(notebook.LoadShipped())
fmt.Println(model.Describe())
fmt.Printf("GoPEFT %s, backend %s, seed 1 (every training run)\n", peft.Version, peft.BackendChoice().Display())
"""),
("md", r"""
## Configure

*size* is the bottleneck's reduction factor (hidden / units) for Houlsby and Pfeiffer, and the rank r for LoRA.
"""),
("go", r"""
%%
layers := must(notebook.LoadShipped()).Config.NumLayers
method := widgets.ToggleButtons("method", methods, "houlsby").Describe("method")
size := widgets.IntSlider("size", 16, 1, 64).Describe("size")
drop := widgets.IntSlider("drop", 0, 0, layers-1).Describe("AdapterDrop n")
batch := widgets.IntSlider("batch", 16, 1, 256).Describe("batch")
tokens := widgets.IntSlider("tokens", 32, 8, 128).Describe("tokens")
widgets.Interact(view, method, size, drop, batch, tokens)
"""),
("md", r"""
## Train what you configured

The next cell reads the controls' current values (`widgets.Value`), so it trains whatever you left them at. Press
**Train** to fine-tune on spam for 240 steps; the curve updates as it trains. Runs are kept: the same configuration
trains once.
"""),
("go", r"""
// configured is the setup the controls above describe now.
func configured() (*peft.Setup, string) {
	method, _ := widgets.Value("method").(string)
	size, drop := toInt(widgets.Value("size")), toInt(widgets.Value("drop"))
	if method == "" {
		method, size = "houlsby", 16
	}
	return setupOf(method, size, drop), fmt.Sprintf("playground-%s-%d-drop%d", method, size, drop)
}

func toInt(v any) int {
	switch x := v.(type) {
	case int:
		return x
	case int64:
		return int(x)
	case float64:
		return int(x)
	}
	return 0
}

%%
setup, name := configured()
task := must(data.Load("spam", data.Options{Seed: 1}))
steps := 240
if notebook.Quick() {
	steps = 32
}
curve := widgets.Output("curve", "<p>press Train</p>")
result := widgets.Output("result", "")
start := widgets.Button("train", "Train "+name)
start.OnClick(func() {
	o := train.Options{Steps: steps, BatchSize: 16, MaxLen: 32, LearningRate: 2e-3, EvalEvery: -1, Seed: 1, Progress: notebook.LiveCurve(curve)}
	run, err := notebook.Finetune(notebook.RunsDir(name), must(notebook.LoadShipped()), task, setup, o)
	if err != nil {
		result.Update("<p>" + err.Error() + "</p>")
		return
	}
	result.Update(fmt.Sprintf("<p>test accuracy <b>%.3f</b> (majority class %.3f), trained in %.0f s</p>",
		run.Metrics["test_accuracy"], data.MajorityBaseline(task), run.TrainSeconds))
})
widgets.Show(widgets.VBox(start, curve, result))
widgets.Serve()
fmt.Println("configured:", name)
"""),
]
