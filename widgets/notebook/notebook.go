// Package notebook is what GoPEFT's notebook cells reach for: the shipped
// encoder, the runs directory, quick mode, fine-tuning with a live progress
// bar, and the data behind the inline plots (layer diagrams, learning
// curves, memory estimates, summary tables) in widgets' types. The core
// packages never import widgets; this one does.
//
//	model := must(notebook.LoadShipped())
//	run := must(notebook.Finetune(notebook.RunsDir("houlsby"), model, task, peft.NewSetup("houlsby", peft.Houlsby()), train.Options{Steps: 240, Seed: 1}))
//	loss, devAcc := notebook.Curves(map[string]*runstore.Run{"houlsby": run}, 8)
//	widgets.Display(widgets.LineChart(loss, widgets.LineChartOptions{Title: "Training loss"}))
package notebook

import (
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/data"
	"github.com/gopeft/gopeft/peft/estimate"
	"github.com/gopeft/gopeft/peft/runstore"
	"github.com/gopeft/gopeft/peft/train"
	"github.com/gopeft/gopeft/widgets"
)

// ShippedModel is the name of the pretrained encoder in the repository's
// models/ folder.
const ShippedModel = "gopeft-small"

// QuickEnv names the environment variable of quick mode: GOPEFT_QUICK=1 makes
// notebooks train briefly on short inputs (CI runs them so, under 5 minutes
// on 2 CPU cores); anything else is the real, default mode.
const QuickEnv = "GOPEFT_QUICK"

// Quick reports whether quick mode is on.
func Quick() bool { return os.Getenv(QuickEnv) == "1" }

// ShippedModelDir finds models/gopeft-small: $GOPEFT_MODEL if set, else under
// $GOPEFT_ROOT (the checkout the kernel imports GoPEFT from), else beside
// this package's source, else ./models.
func ShippedModelDir() (string, error) {
	if dir := os.Getenv("GOPEFT_MODEL"); dir != "" {
		return dir, nil
	}
	var candidates []string
	if root := os.Getenv("GOPEFT_ROOT"); root != "" {
		candidates = append(candidates, filepath.Join(root, "models", ShippedModel))
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		candidates = append(candidates, filepath.Join(filepath.Dir(file), "..", "..", "models", ShippedModel))
	}
	candidates = append(candidates, filepath.Join("models", ShippedModel))
	for _, dir := range candidates {
		if _, err := os.Stat(filepath.Join(dir, "config.json")); err == nil {
			return filepath.Clean(dir), nil
		}
	}
	return "", fmt.Errorf("cannot find models/%s (looked in %v): set GOPEFT_MODEL to its directory, or GOPEFT_ROOT to the GoPEFT checkout", ShippedModel, candidates)
}

// LoadShipped loads GoPEFT's pretrained small encoder.
func LoadShipped() (*peft.Model, error) {
	dir, err := ShippedModelDir()
	if err != nil {
		return nil, err
	}
	return peft.LoadModel(dir)
}

// RunsDir is where notebooks keep finished runs, so that re-running a
// training cell loads instead of retraining: $GOPEFT_RUNS, else
// ${XDG_CACHE_HOME:-~/.cache}/gopeft/runs, joined with name.
func RunsDir(name string) string {
	root := os.Getenv("GOPEFT_RUNS")
	if root == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		root = filepath.Join(cache, "gopeft", "runs")
	}
	return filepath.Join(root, name)
}

// Placements says where each active adapter of s sits in a model with
// numLayers layers, for widgets.LayerDiagram; adapters that AdapterDrop
// removes (at inference) are marked Dropped.
func Placements(s *peft.Setup, numLayers int) []widgets.LayerSite {
	var out []widgets.LayerSite
	for _, p := range s.Placements(numLayers) {
		out = append(out, widgets.LayerSite(p))
	}
	return out
}

// Curved is a run with a learning curve: *train.Run or *runstore.Run.
type Curved interface {
	LearningCurve() []train.Point
}

// Curves turns runs' learning curves into line-chart series: the training
// loss (smoothed over window steps) and the dev accuracy where evaluated.
func Curves[R Curved](runs map[string]R, window int) (loss, devAcc []widgets.Series) {
	for _, name := range slices.Sorted(maps.Keys(runs)) {
		curve := runs[name].LearningCurve()
		l := widgets.Series{Name: name}
		a := widgets.Series{Name: name}
		for i, p := range curve {
			lo := max(0, i-window+1)
			sum := 0.0
			for _, q := range curve[lo : i+1] {
				sum += q.TaskLoss
			}
			l.X = append(l.X, float64(p.Step))
			l.Y = append(l.Y, sum/float64(i+1-lo))
			if !math.IsNaN(p.DevAcc) {
				a.X = append(a.X, float64(p.Step))
				a.Y = append(a.Y, p.DevAcc)
			}
		}
		loss, devAcc = append(loss, l), append(devAcc, a)
	}
	return loss, devAcc
}

// MemorySeries predicts peak training memory (MB) against batch size for a
// setup on the active backend (estimate.PredictMemory with its measured
// constants), for the estimator plot.
func MemorySeries(m *peft.Model, name string, s *peft.Setup, seqLen int, batches []int) widgets.Series {
	series := widgets.Series{Name: name}
	bm := estimate.ActiveBackend()
	for _, b := range batches {
		p := estimate.PredictMemory(m.Config, s, b, seqLen, bm)
		series.X = append(series.X, float64(b))
		series.Y = append(series.Y, float64(p.Peak)/1e6)
	}
	return series
}

// SummaryHTML is Summary as an HTML table (widgets.Table) for notebooks,
// captioned with the trainable-parameters line.
func SummaryHTML(t *peft.Tuned) string {
	rows := peft.Summary(t)
	cells := make([][]string, len(rows))
	yes := func(b bool) string {
		if b {
			return "✓"
		}
		return ""
	}
	for i, r := range rows {
		active := yes(r.Active)
		if i == len(rows)-1 {
			active = ""
		}
		cells[i] = []string{r.Name, r.Architecture, peft.GroupDigits(r.Params), fmt.Sprintf("%.3f", r.Percent), active, yes(r.Train)}
	}
	return widgets.Table([]string{"Name", "Architecture", "#Param", "%Param", "Active", "Train"}, cells,
		widgets.TableOptions{Caption: t.TrainableLine(), HighlightRows: []int{len(rows) - 1}})
}

// Progress draws a training run's progress (train.Options.Progress) as a
// live HTML bar in a notebook, a text line on stderr elsewhere.
func Progress() func(train.Progress) {
	var bar *widgets.Progress
	return func(p train.Progress) {
		if bar == nil {
			bar = widgets.NewProgress(p.Steps, "fine-tuning on "+p.Task)
		}
		bar.Update(p.Step, p.Metrics)
		if p.Done {
			bar.Done()
			bar = nil
		}
	}
}

// Finetune is runstore.Finetune for a notebook cell: unless opt says
// otherwise, a progress bar shows while it trains and the store's messages
// go to stdout (a cell's stderr reads as an error).
func Finetune(dir string, m *peft.Model, task *data.Task, s *peft.Setup, opt train.Options) (*runstore.Run, error) {
	if opt.Progress == nil {
		opt.Progress = Progress()
	}
	if opt.Log == nil {
		opt.Log = func(msg string) { fmt.Println(msg) }
	}
	return runstore.Finetune(dir, m, task, s, opt)
}
