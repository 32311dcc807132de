package notebook

import (
	"fmt"
	"math"

	"github.com/gopeft/gopeft/peft/compare"
	"github.com/gopeft/gopeft/widgets"
)

// CompareTable draws a compare.Result as an HTML table, the best test
// metric highlighted (highest accuracy, lowest MSE).
func CompareTable(res *compare.Result) string {
	header := []string{"method", "trainable", "%", "dev " + res.Metric, "test " + res.Metric, "train s", "step ms", "peak RSS MiB"}
	var rows [][]string
	better := func(a, b float64) bool {
		if res.Metric == "mse" {
			return a < b
		}
		return a > b
	}
	best := -1
	for i, r := range res.Rows {
		if r.Error != "" {
			rows = append(rows, []string{r.Method, "error: " + r.Error})
			continue
		}
		mem := "-"
		if r.PeakRSSBytes > 0 {
			mem = fmt.Sprintf("%.0f", float64(r.PeakRSSBytes)/(1<<20))
		}
		rows = append(rows, []string{r.Method, fmt.Sprint(r.TrainableParams), fmt.Sprintf("%.2f", r.TrainablePercent),
			fmt.Sprintf("%.4f", r.Dev), fmt.Sprintf("%.4f", r.Test), fmt.Sprintf("%.1f", r.TrainSeconds),
			fmt.Sprintf("%.0f", 1000*r.StepSeconds), mem})
		if !math.IsNaN(r.Test) && (best < 0 || better(r.Test, res.Rows[best].Test)) {
			best = i
		}
	}
	opt := widgets.TableOptions{Caption: fmt.Sprintf("%s on %s, %d steps; %s", res.Model, res.Task, res.Steps, res.MemoryMeasure)}
	if best >= 0 {
		opt.HighlightRows = []int{best}
	}
	return widgets.Table(header, rows, opt)
}

// CompareBars are the rows' test metric as bars, with the baseline.
func CompareBars(res *compare.Result) string {
	var bars []widgets.Bar
	for _, r := range res.Rows {
		bars = append(bars, widgets.Bar{Label: fmt.Sprintf("%s (%.2f%%)", r.Method, r.TrainablePercent), Value: r.Test})
	}
	b := res.Baseline
	return widgets.BarChart(bars, widgets.BarChartOptions{Title: "test " + res.Metric + " on " + res.Task, Baseline: &b, BaselineLabel: "baseline"})
}
