package peft

import (
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"

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
		candidates = append(candidates, filepath.Join(filepath.Dir(file), "..", "models", ShippedModel))
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
func LoadShipped() (*Model, error) {
	dir, err := ShippedModelDir()
	if err != nil {
		return nil, err
	}
	return LoadModel(dir)
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

// Describe is a one-line description of the model for notebooks.
func (m *Model) Describe() string {
	c := m.Config
	name := filepath.Base(m.Dir)
	if m.Dir == "" {
		name = "random " + c.ModelType
	}
	vocab := c.VocabSize
	return fmt.Sprintf("%s: %s encoder, %d layers, hidden %d, %d heads, FFN %d, vocabulary %d, %s parameters (%.1f MB as float32)",
		name, c.ModelType, c.NumLayers, c.HiddenSize, c.NumHeads, c.IntermediateSize, vocab,
		groupDigits(m.NumParams()), float64(4*m.NumParams())/1e6)
}

// Placements says where each active adapter of s sits in a model with
// numLayers layers, for widgets.LayerDiagram; adapters that AdapterDrop
// removes (at inference) are marked Dropped.
func Placements(s *Setup, numLayers int) []widgets.LayerSite {
	var out []widgets.LayerSite
	for _, p := range s.Placements(numLayers) {
		out = append(out, widgets.LayerSite{Layer: p.Layer, Site: p.Site, Method: p.Method, Label: p.Label, Dropped: p.Dropped})
	}
	return out
}

// Curves turns runs' learning curves into line-chart series: the training
// loss (smoothed over window steps) and the dev accuracy where evaluated.
func Curves(runs map[string]*Run, window int) (loss, devAcc []widgets.Series) {
	for _, name := range slices.Sorted(maps.Keys(runs)) {
		r := runs[name]
		l := widgets.Series{Name: name}
		a := widgets.Series{Name: name}
		for i, p := range r.Curve {
			lo := max(0, i-window+1)
			sum := 0.0
			for _, q := range r.Curve[lo : i+1] {
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

// MemorySeries estimates training memory (MB) against batch size for a
// setup, for the estimator plot.
func MemorySeries(m *Model, name string, s *Setup, seqLen int, batches []int) widgets.Series {
	series := widgets.Series{Name: name}
	for _, b := range batches {
		e := EstimateMemory(m.Config, s, b, seqLen, 4)
		series.X = append(series.X, float64(b))
		series.Y = append(series.Y, float64(e.Total)/1e6)
	}
	return series
}
