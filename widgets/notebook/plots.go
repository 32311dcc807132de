package notebook

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/estimate"
	"github.com/gopeft/gopeft/peft/train"
	"github.com/gopeft/gopeft/widgets"
)

// Glue from finished runs and tuned models to the teaching plots' data types.
// Runs are *train.Run; for a stored run pass its embedded run (storedRun.Run).

// FusionAttention measures t's AdapterFusion attention on batch b for
// widgets.FusionHeatmap: per fused layer, the attention over the fused
// adapters averaged over the batch's examples. fuse picks the Fuse block; nil
// means the active composition, which must then be a single Fuse.
func FusionAttention(t *peft.Tuned, b peft.Batch, fuse *peft.FuseBlock) (widgets.FusionAttention, error) {
	if fuse == nil {
		f, ok := t.Setup.ActiveBlock().(*peft.FuseBlock)
		if !ok {
			return widgets.FusionAttention{}, fmt.Errorf("the active composition is not a single Fuse block: pass the Fuse block to plot (e.g. the one given to Setup.Active)")
		}
		fuse = f
	}
	att, err := t.FusionAttentionOf(b, fuse)
	if err != nil {
		return widgets.FusionAttention{}, err
	}
	return MeanFusionAttention(att, strings.Split(fuse.Name(), ",")), nil
}

// MeanFusionAttention averages Tuned.FusionAttention's layer ->
// [example][adapter] weights over the examples.
func MeanFusionAttention(att map[int][][]float64, adapters []string) widgets.FusionAttention {
	out := widgets.FusionAttention{Adapters: adapters}
	for _, layer := range slices.Sorted(maps.Keys(att)) {
		mean := make([]float64, len(adapters))
		for _, ex := range att[layer] {
			for j := range min(len(ex), len(mean)) {
				mean[j] += ex[j] / float64(len(att[layer]))
			}
		}
		out.Layers = append(out.Layers, layer)
		out.Weights = append(out.Weights, mean)
	}
	return out
}

// MethodResults gives each run's point for widgets.AccuracyVsParams: its
// trainable share of the parameters and its value of metric (default
// "test_accuracy"), in name order.
func MethodResults(runs map[string]*train.Run, metric string) []widgets.MethodResult {
	if metric == "" {
		metric = "test_accuracy"
	}
	var out []widgets.MethodResult
	for _, name := range slices.Sorted(maps.Keys(runs)) {
		r := runs[name]
		c := r.Tuned.Counts()
		acc, ok := r.Metrics[metric]
		if !ok {
			acc = math.NaN() // not drawn
		}
		out = append(out, widgets.MethodResult{Method: name, TrainablePercent: 100 * float64(c.Trainable) / float64(max(c.Total, 1)), Accuracy: acc})
	}
	return out
}

// CompareRows gives each run's row for widgets.CompareTable, in name order:
// parameter counts, metrics and training time from the run, and memory from
// estimate.Memory at the run's batch size and maximum length (float32), an
// estimate rather than a measurement: caption the table so.
func CompareRows(runs map[string]*train.Run) []widgets.CompareRow {
	var out []widgets.CompareRow
	for _, name := range slices.Sorted(maps.Keys(runs)) {
		r := runs[name]
		c := r.Tuned.Counts()
		mem := estimate.Memory(r.Tuned.Model.Config, r.Tuned.Setup, r.Options.BatchSize, r.Options.MaxLen, 4)
		out = append(out, widgets.CompareRow{Method: name, TrainableParams: c.Trainable, TotalParams: c.Total,
			Metrics: r.Metrics, Seconds: r.TrainSeconds, MemoryMB: float64(mem.Total) / 1e6})
	}
	return out
}
