package widgets

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/gopeft/gopeft/internal/stats"
)

// The teaching plots. Conventions shared by all of them:
//   - accuracies (and other [0, 1] metrics) are fractions, as train.Run.Metrics
//     reports them; axes and labels show them in percent (Raw in the options
//     plots other metrics, e.g. MSE, as given);
//   - every series differs by colour (Okabe-Ito), dash and marker shape, so the
//     plot reads in greyscale;
//   - each SVG starts with a <title>, and its parts carry classes (see
//     xyplot.go) that the structural tests count.

// metricAxis is the axis of a metric: a fraction shown in percent, or, with
// raw (e.g. MSE, loss), the values as given.
func metricAxis(label string, raw bool) axisSpec {
	if raw {
		return axisSpec{label: label}
	}
	return axisSpec{label: label + " (%)", scale: 100}
}

// metricText formats a metric value as metricAxis shows it.
func metricText(v float64, raw bool) string {
	if raw {
		return formatValue(v)
	}
	return formatValue(100*v) + "%"
}

// MethodResult is one fine-tuning method's point on AccuracyVsParams.
type MethodResult struct {
	Method           string
	TrainablePercent float64 // trainable parameters as % of the model (0.5 means 0.5%)
	Accuracy         float64 // fraction in [0, 1]
}

// AccuracyVsParamsOptions controls AccuracyVsParams. Metric names the y axis
// (default "test accuracy"); FullFineTuning, when set, draws full fine-tuning's
// accuracy as a horizontal reference line.
type AccuracyVsParamsOptions struct {
	Title          string
	Metric         string
	FullFineTuning *float64
	Raw            bool // the metric is not a fraction (e.g. MSE): plot it as given, not in %
	Width, Height  int
}

// AccuracyVsParams plots accuracy against the percentage of trainable
// parameters on a log x axis (ticks at decades), one labelled marker per
// method: the PEFT trade-off figure of Houlsby et al. (2019) and He et al. (2022).
func AccuracyVsParams(results []MethodResult, opt AccuracyVsParamsOptions) string {
	W, H := size(opt.Width, opt.Height, 640, 400)
	title := orDefault(opt.Title, "Accuracy vs trainable parameters")
	metric := orDefault(opt.Metric, "test accuracy")
	p := panel{
		x:   axisSpec{label: "trainable parameters (% of model, log scale)", log: true},
		y:   metricAxis(metric, opt.Raw),
		pad: true,
	}
	for i, r := range results {
		col, _, mk := seriesStyle(i)
		p.points = append(p.points, plotPoint{x: r.TrainablePercent, y: r.Accuracy, label: r.Method, colour: col, marker: mk,
			tip: fmt.Sprintf("%s: %s%% trainable, %s %s", r.Method, formatValue(r.TrainablePercent), metric, metricText(r.Accuracy, opt.Raw))})
	}
	if opt.FullFineTuning != nil {
		p.hlines = append(p.hlines, refLine{value: *opt.FullFineTuning, class: "reference", colour: colText,
			label: "full fine-tuning " + metricText(*opt.FullFineTuning, opt.Raw)})
	}
	b := &svgBuilder{w: W, h: H}
	b.text(W/2, 24, 16, "middle", colText, "600", title, "")
	b.drawPanel(&p, "p", 0, 34, W, H-34)
	return b.finish(title)
}

// FusionAttention is AdapterFusion's attention over the fused adapters:
// Weights[i][j] is layer Layers[i]'s mean attention on adapter Adapters[j]
// (each row sums to 1). notebook.FusionAttention builds it from a Tuned.
type FusionAttention struct {
	Layers   []int
	Adapters []string
	Weights  [][]float64
}

// FusionHeatmapOptions controls FusionHeatmap (default title "AdapterFusion attention").
type FusionHeatmapOptions struct {
	Title string
}

// FusionHeatmap renders one cell per layer x adapter, with the weight
// printed in each cell, layer rows labelled and the highest layer on top
// (like LayerDiagram); the colour scale is fixed to [0, 1].
func FusionHeatmap(a FusionAttention, opt FusionHeatmapOptions) string {
	type row struct {
		layer int
		w     []float64
	}
	rows := make([]row, len(a.Weights))
	for i, w := range a.Weights {
		l := i
		if i < len(a.Layers) {
			l = a.Layers[i]
		}
		rows[i] = row{l, w}
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].layer > rows[j].layer })
	values := make([][]float64, len(rows))
	labels := make([]string, len(rows))
	for i, r := range rows {
		values[i] = make([]float64, len(a.Adapters))
		for j := range values[i] {
			values[i][j] = math.NaN()
			if j < len(r.w) {
				values[i][j] = r.w[j]
			}
		}
		labels[i] = fmt.Sprintf("layer %d", r.layer)
	}
	cell := 56 // few adapters and layers: cells wide enough for names and values
	if len(rows) > 8 {
		cell = 36
	}
	if len(a.Adapters) > 10 {
		cell = 0 // Heatmap fits the width
	}
	return Heatmap(values, HeatmapOptions{
		Title:  orDefault(opt.Title, "AdapterFusion attention"),
		XLabel: "fused adapter", YLabel: "encoder layer", ScaleLabel: "attention weight (0–1)",
		RowLabels: labels, ColLabels: a.Adapters, Min: ptrTo(0), Max: ptrTo(1), ShowValues: true, CellSize: cell,
	})
}

// DropPoint is one AdapterDrop setting: adapters removed from the first
// Dropped layers, the accuracy reached and the measured speed.
type DropPoint struct {
	Dropped  int
	Accuracy float64 // fraction in [0, 1]
	Speed    float64 // in the unit SpeedLabel names
}

// AdapterDropOptions controls AdapterDropChart. SpeedLabel is the speed
// axis with its unit (default "speed-up over n = 0 (×)"); Metric names the
// accuracy axis (default "dev accuracy").
type AdapterDropOptions struct {
	Title      string
	Metric     string
	SpeedLabel string
	Raw        bool // the metric is not a fraction (e.g. MSE): plot it as given, not in %
	Width      int
}

// AdapterDropChart shows AdapterDrop's trade-off (Rücklé et al. 2021) as two
// panels over the same x axis, n = layers dropped: accuracy on top, speed
// below. x ticks are the n values given.
func AdapterDropChart(points []DropPoint, opt AdapterDropOptions) string {
	W, _ := size(opt.Width, 0, 560, 0)
	title := orDefault(opt.Title, "AdapterDrop: accuracy and speed vs layers dropped")
	metric := orDefault(opt.Metric, "dev accuracy")
	pts := slices.Clone(points)
	sort.SliceStable(pts, func(i, j int) bool { return pts[i].Dropped < pts[j].Dropped })
	var ns, acc, speed []float64
	for _, q := range pts {
		ns = append(ns, float64(q.Dropped))
		acc, speed = append(acc, q.Accuracy), append(speed, q.Speed)
	}
	var ticks []float64
	for _, n := range ns {
		if len(ticks) == 0 || ticks[len(ticks)-1] != n {
			ticks = append(ticks, n)
		}
	}
	xl := "n: layers without adapters (dropped from the bottom)"
	accP := panel{title: metric, x: axisSpec{ticks: ticks}, y: metricAxis(metric, opt.Raw),
		lines: []plotLine{{name: metric, x: ns, y: acc, colour: palette[0], marker: markerCircle, class: "accuracy"}}}
	spP := panel{title: "speed", x: axisSpec{label: xl, ticks: ticks}, y: axisSpec{label: orDefault(opt.SpeedLabel, "speed-up over n = 0 (×)")},
		lines: []plotLine{{name: "speed", x: ns, y: speed, colour: palette[1], dash: lineDashes[1], marker: markerSquare, class: "speed"}}}
	// One left margin for both, so the two x axes line up.
	accP.minLeft = math.Max(accP.leftMargin(), spP.leftMargin())
	spP.minLeft = accP.minLeft
	ph := 220.0
	H := 34 + 2*ph + 20
	b := &svgBuilder{w: W, h: H}
	b.text(W/2, 24, 16, "middle", colText, "600", title, "")
	b.drawPanel(&accP, "a", 0, 34, W, ph-20)
	b.drawPanel(&spP, "s", 0, 34+ph-20, W, ph+20)
	return b.finish(title)
}

// SparsityOptions controls SparsityChart. Dense, when set, is the unpruned
// accuracy, drawn as a reference line. XLabel defaults to "sparsity (% of
// units pruned)".
type SparsityOptions struct {
	Title, XLabel, Metric string
	Dense                 *float64
	Raw                   bool // the metric is not a fraction (e.g. MSE): plot it as given, not in %
	Width, Height         int
}

// SparsityChart draws pruning curves: accuracy (fractions, shown in %)
// against sparsity (fractions pruned, shown in %), one line with markers per
// series, e.g. "learned masks" vs "random".
func SparsityChart(series []Series, opt SparsityOptions) string {
	W, H := size(opt.Width, opt.Height, 640, 380)
	title := orDefault(opt.Title, "Accuracy vs sparsity")
	metric := orDefault(opt.Metric, "dev accuracy")
	p := panel{x: axisSpec{label: orDefault(opt.XLabel, "sparsity (% of units pruned)"), scale: 100},
		y: metricAxis(metric, opt.Raw)}
	p.lines, p.legend = styledLines(series, true)
	if opt.Dense != nil {
		p.hlines = append(p.hlines, refLine{value: *opt.Dense, class: "reference", colour: colText,
			label: "unpruned " + metricText(*opt.Dense, opt.Raw)})
	}
	b := &svgBuilder{w: W, h: H}
	b.text(W/2, 24, 16, "middle", colText, "600", title, "")
	b.drawPanel(&p, "p", 0, 34, W, H-34)
	return b.finish(title)
}

// styledLines gives each series its colour, dash and marker, and the legend.
func styledLines(series []Series, markers bool) ([]plotLine, []legendEntry) {
	var lines []plotLine
	var legend []legendEntry
	for i, s := range series {
		col, dash, mk := seriesStyle(i)
		if !markers {
			mk = markerNone
		}
		x := s.X
		if x == nil {
			x = make([]float64, len(s.Y))
			for j := range x {
				x[j] = float64(j)
			}
		}
		lines = append(lines, plotLine{name: s.Name, x: x, y: s.Y, colour: col, dash: dash, marker: mk})
		if s.Name != "" {
			legend = append(legend, legendEntry{name: s.Name, colour: col, dash: dash, marker: mk})
		}
	}
	return lines, legend
}

// DistillModel is one model of a distillation comparison.
type DistillModel struct {
	Name     string
	Teacher  bool
	Accuracy float64 // fraction in [0, 1]
	Params   int     // parameter count
}

// DistillationOptions controls DistillationChart.
type DistillationOptions struct {
	Title, Metric string
	Raw           bool // the metric is not a fraction (e.g. MSE): plot it as given, not in %
	Width         int
}

// DistillationChart compares teacher and students side by side in one SVG:
// accuracy bars (%) on the left, parameter-count bars on the right, one bar
// per model in each (<rect class="bar accuracy"> / "bar params"). Teachers
// are solid blue, students hatched vermillion, and each label says which.
func DistillationChart(models []DistillModel, opt DistillationOptions) string {
	W, _ := size(opt.Width, 0, 680, 0)
	title := orDefault(opt.Title, "Distillation: teacher vs student")
	metric := orDefault(opt.Metric, "test accuracy")
	labels := make([]string, len(models))
	labelW := 0.0
	for i, m := range models {
		role := "student"
		if m.Teacher {
			role = "teacher"
		}
		labels[i] = truncate(m.Name, 22) + " (" + role + ")"
		labelW = math.Max(labelW, textWidth(labels[i], 12))
	}
	barH, gap := 22.0, 8.0
	top := 62.0
	ph := math.Max(float64(len(models))*(barH+gap)+gap, 40)
	H := top + ph + 56
	left := labelW + 16
	panelW := (W - left - 24) / 2
	b := &svgBuilder{w: W, h: H}
	b.text(W/2, 24, 16, "middle", colText, "600", title, "")
	b.printf(`<defs><pattern id="%s" patternUnits="userSpaceOnUse" width="6" height="6" patternTransform="rotate(45)"><rect width="6" height="6" fill="%s"/><line x1="0" y1="0" x2="0" y2="6" stroke="#ffffff" stroke-width="2"/></pattern></defs>`, idPlaceholder, palette[1])
	for i := range models {
		y := top + gap + float64(i)*(barH+gap)
		b.text(left-8, y+barH/2+4, 12, "end", colText, "", labels[i], "")
	}
	maxP, accMax := 0.0, 1.0
	for _, m := range models {
		maxP = math.Max(maxP, float64(m.Params))
		if opt.Raw && finite(m.Accuracy) {
			accMax = math.Max(accMax, m.Accuracy)
		}
	}
	type side struct {
		name, class, axis string
		x0                float64
		value             func(DistillModel) float64
		lo, hi            float64
		scale             float64
		label             func(DistillModel) string
	}
	sides := []side{
		{metric, "accuracy", metricAxis(metric, opt.Raw).label, left, func(m DistillModel) float64 { return m.Accuracy }, 0, accMax, scaleOf(metricAxis("", opt.Raw)),
			func(m DistillModel) string { return metricText(m.Accuracy, opt.Raw) }},
		{"parameters", "params", "parameters (count)", left + panelW + 24, func(m DistillModel) float64 { return float64(m.Params) }, 0, math.Max(maxP, 1), 1,
			func(m DistillModel) string { return formatCount(m.Params) }},
	}
	for _, s := range sides {
		ticks := NiceTicks(s.lo, s.hi, 5)
		lo, hi := ticks[0], ticks[len(ticks)-1]
		step := ticks[1] - ticks[0]
		pw := panelW - 52 // room for the value printed after the bar
		sx := func(v float64) float64 { return s.x0 + (math.Max(lo, math.Min(hi, v))-lo)/(hi-lo)*pw }
		b.text(s.x0+pw/2, top-10, 13, "middle", colText, "600", s.name, `class="panel-title"`)
		b.printf(`<g stroke="%s">`, colGrid)
		for _, t := range ticks {
			b.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s"/>`, f(sx(t)), f(top), f(sx(t)), f(top+ph))
		}
		b.printf(`</g><g font-size="11" fill="%s" text-anchor="middle">`, colMuted)
		for _, t := range ticks {
			lab := formatTick(t*s.scale, step*s.scale)
			if s.class == "params" {
				lab = formatCount(int(t))
			}
			b.printf(`<text class="xtick" x="%s" y="%s">%s</text>`, f(sx(t)), f(top+ph+16), esc(lab))
		}
		b.printf(`</g>`)
		b.text(s.x0+pw/2, top+ph+36, 12, "middle", colText, "", s.axis, `class="xlabel"`)
		for i, m := range models {
			y := top + gap + float64(i)*(barH+gap)
			v := s.value(m)
			if !finite(v) {
				b.text(s.x0+4, y+barH/2+4, 11, "start", colMuted, "", "n/a", "")
				continue
			}
			fill := fmt.Sprintf("url(#%s)", idPlaceholder)
			cls := "bar " + s.class + " student"
			if m.Teacher {
				fill, cls = palette[0], "bar "+s.class+" teacher"
			}
			b.printf(`<rect class="%s" x="%s" y="%s" width="%s" height="%s" fill="%s" stroke="%s"><title>%s</title></rect>`,
				cls, f(s.x0), f(y), f(math.Max(sx(v)-s.x0, 0.5)), f(barH), fill, colText, esc(labels[i]+": "+s.label(m)))
			b.text(sx(v)+4, y+barH/2+4, 11, "start", colText, "", s.label(m), "")
		}
		b.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s"/>`, f(s.x0), f(top), f(s.x0), f(top+ph), colAxis)
	}
	if len(models) == 0 {
		b.text(W/2, top+ph/2+5, 14, "middle", colMuted, "", "no data", `class="nodata"`)
	}
	return b.finish(title)
}

// formatCount writes a parameter count compactly: 1.2M, 74.6k, 512.
func formatCount(n int) string {
	a := math.Abs(float64(n))
	switch {
	case a >= 1e9:
		return trimZero(fmt.Sprintf("%.2f", float64(n)/1e9)) + "G"
	case a >= 1e6:
		return trimZero(fmt.Sprintf("%.2f", float64(n)/1e6)) + "M"
	case a >= 1e3:
		return trimZero(fmt.Sprintf("%.1f", float64(n)/1e3)) + "k"
	}
	return fmt.Sprint(n)
}

func trimZero(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// Prediction is one fine-tuning run: the estimator's predicted accuracy and
// the accuracy it actually reached (fractions in [0, 1], unless Raw).
type Prediction struct {
	Label             string
	Predicted, Actual float64
}

// PredictedVsActualOptions controls PredictedVsActual. Metric names what was
// predicted (default "dev accuracy").
type PredictedVsActualOptions struct {
	Title, Metric string
	Raw           bool // the metric is not a fraction (e.g. MSE): plot it as given, not in %
	Width, Height int
}

// PredictedVsActual plots predicted (x) against actual (y) accuracy on one
// shared range with the y = x line (<line class="identity">), one labelled
// marker per run, and the rank agreement, Kendall's τ-b, in the title and
// the legend.
func PredictedVsActual(preds []Prediction, opt PredictedVsActualOptions) string {
	W, H := size(opt.Width, opt.Height, 560, 460)
	metric := orDefault(opt.Metric, "dev accuracy")
	var px, ay []float64
	for _, q := range preds {
		if finite(q.Predicted) && finite(q.Actual) {
			px, ay = append(px, q.Predicted), append(ay, q.Actual)
		}
	}
	tau := KendallTau(px, ay)
	tauText := "Kendall τ = " + fmtTau(tau)
	title := orDefault(opt.Title, "Estimator: predicted vs actual "+metric)
	title += " (" + tauText + ")"
	p := panel{x: metricAxis("predicted "+metric, opt.Raw), y: metricAxis("actual "+metric, opt.Raw), identity: true, pad: true}
	for _, q := range preds {
		p.points = append(p.points, plotPoint{x: q.Predicted, y: q.Actual, label: q.Label, colour: palette[0], marker: markerCircle,
			tip: fmt.Sprintf("%s: predicted %s, actual %s", q.Label, metricText(q.Predicted, opt.Raw), metricText(q.Actual, opt.Raw))})
	}
	p.legend = []legendEntry{
		{name: fmt.Sprintf("%d runs, τ = %s", len(px), fmtTau(tau)), colour: palette[0], marker: markerCircle, noLine: true},
		{name: "y = x", colour: colMuted, dash: "5 4", marker: markerNone},
	}
	b := &svgBuilder{w: W, h: H}
	b.text(W/2, 24, 15, "middle", colText, "600", title, "")
	b.drawPanel(&p, "p", 0, 34, W, H-34)
	return b.finish(title)
}

func fmtTau(t float64) string {
	if math.IsNaN(t) {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", t)
}

// KendallTau is Kendall's rank correlation τ-b of x and y (ties corrected),
// in [-1, 1]; NaN with fewer than two pairs or when either side is constant.
// It is the estimators' own (peft/estimate.KendallTau), from internal/stats.
func KendallTau(x, y []float64) float64 { return stats.KendallTau(x, y) }

// MemoryOptions controls MemoryVsBatch. LimitMB > 0 draws the device's
// memory as a horizontal line (<line class="limit">) labelled LimitLabel
// (default "device limit"). Unit is the y unit (default "MB").
type MemoryOptions struct {
	Title      string
	LimitMB    float64
	LimitLabel string
	Unit       string
	Width      int
	Height     int
}

// MemoryVsBatch plots estimated training memory against batch size (log x,
// ticked at the batch sizes given when there are few), one line with markers
// per series, from zero up, with the device limit.
func MemoryVsBatch(series []Series, opt MemoryOptions) string {
	W, H := size(opt.Width, opt.Height, 640, 380)
	title := orDefault(opt.Title, "Estimated training memory vs batch size")
	unit := orDefault(opt.Unit, "MB")
	var ticks []float64
	for _, s := range series {
		for _, x := range s.X {
			if x > 0 && finite(x) && !slices.Contains(ticks, x) {
				ticks = append(ticks, x)
			}
		}
	}
	slices.Sort(ticks)
	if len(ticks) > 10 || len(ticks) < 2 {
		ticks = nil
	}
	p := panel{x: axisSpec{label: "batch size (examples, log scale)", log: true, ticks: ticks},
		y: axisSpec{label: "memory (" + unit + ")", min: ptrTo(0)}}
	p.lines, p.legend = styledLines(series, true)
	if opt.LimitMB > 0 {
		name := orDefault(opt.LimitLabel, "device limit")
		lab := name + " " + formatValue(opt.LimitMB) + " " + unit
		p.hlines = append(p.hlines, refLine{value: opt.LimitMB, label: lab, class: "limit", colour: colText})
		p.legend = append(p.legend, legendEntry{name: name, colour: colText, dash: "8 3 2 3", marker: markerNone})
	}
	b := &svgBuilder{w: W, h: H}
	b.text(W/2, 24, 16, "middle", colText, "600", title, "")
	b.drawPanel(&p, "p", 0, 34, W, H-34)
	return b.finish(title)
}

// LearningCurve is an estimator's learning curve: the measured points, and
// a fitted curve with its uncertainty band (Lo..Hi at each FitX) that runs
// past the measurements. Fit points beyond ExtrapolateFrom (0: the largest
// ObservedX) are extrapolation and are drawn dashed. Y values are fractions.
type LearningCurve struct {
	ObservedX, ObservedY []float64
	FitX, FitY           []float64
	Lo, Hi               []float64
	ExtrapolateFrom      float64
}

// LearningCurveOptions controls LearningCurveChart. XLabel defaults to
// "training examples"; Metric to "dev accuracy"; BandLabel to "90% band".
type LearningCurveOptions struct {
	Title, XLabel, Metric, BandLabel string
	LogX                             bool
	Raw                              bool // the metric is not a fraction (e.g. loss): plot it as given, not in %
	Width, Height                    int
}

// LearningCurveChart draws the band as a shaded <polygon class="band">, the
// fit solid where interpolated (class "fit") and dashed where extrapolated
// (class "extrapolation"), the measured points as markers, and a vertical
// line where extrapolation starts.
func LearningCurveChart(c LearningCurve, opt LearningCurveOptions) string {
	W, H := size(opt.Width, opt.Height, 640, 380)
	title := orDefault(opt.Title, "Learning curve with extrapolation")
	metric := orDefault(opt.Metric, "dev accuracy")
	xl := orDefault(opt.XLabel, "training examples")
	if opt.LogX {
		xl += " (log scale)"
	}
	from := c.ExtrapolateFrom
	if from <= 0 {
		for _, x := range c.ObservedX {
			if finite(x) {
				from = math.Max(from, x)
			}
		}
	}
	p := panel{x: axisSpec{label: xl, log: opt.LogX}, y: metricAxis(metric, opt.Raw)}
	band := orDefault(opt.BandLabel, "90% band")
	p.bands = []plotBand{{x: c.FitX, lo: c.Lo, hi: c.Hi, colour: palette[0]}}
	var ix, iy, ex, ey []float64
	for i := 0; i < min(len(c.FitX), len(c.FitY)); i++ {
		if c.FitX[i] <= from {
			ix, iy = append(ix, c.FitX[i]), append(iy, c.FitY[i])
		}
		if c.FitX[i] >= from {
			if len(ex) == 0 && len(ix) > 0 && c.FitX[i] > from { // join the two pieces
				ex, ey = append(ex, ix[len(ix)-1]), append(ey, iy[len(iy)-1])
			}
			ex, ey = append(ex, c.FitX[i]), append(ey, c.FitY[i])
		}
	}
	p.lines = []plotLine{
		{name: "fit", x: ix, y: iy, colour: palette[0], marker: markerNone, class: "fit"},
		{name: "extrapolation", x: ex, y: ey, colour: palette[0], dash: "6 4", marker: markerNone, class: "extrapolation"},
	}
	for i := 0; i < min(len(c.ObservedX), len(c.ObservedY)); i++ {
		p.points = append(p.points, plotPoint{x: c.ObservedX[i], y: c.ObservedY[i], colour: palette[1], marker: markerSquare, class: "observed",
			tip: fmt.Sprintf("measured: %s examples, %s %s", formatValue(c.ObservedX[i]), metric, metricText(c.ObservedY[i], opt.Raw))})
	}
	if from > 0 && len(ex) > 1 {
		p.vlines = []refLine{{value: from, class: "reference", colour: colMuted, label: "extrapolated →"}}
	}
	p.legend = []legendEntry{
		{name: "measured", colour: palette[1], marker: markerSquare, noLine: true},
		{name: "fit", colour: palette[0], marker: markerNone},
		{name: "extrapolation", colour: palette[0], dash: "6 4", marker: markerNone},
		{name: band, colour: palette[0], band: true},
	}
	b := &svgBuilder{w: W, h: H}
	b.text(W/2, 24, 16, "middle", colText, "600", title, "")
	b.drawPanel(&p, "p", 0, 34, W, H-34)
	return b.finish(title)
}

// CompareRow is one method in CompareTable. Zero Seconds or MemoryMB leave
// the cell blank; Metrics are fractions (accuracy, F1) or raw (MSE) and are
// printed with three decimals.
type CompareRow struct {
	Method          string
	TrainableParams int
	TotalParams     int // for the percentage; 0 leaves it blank
	Metrics         map[string]float64
	Seconds         float64 // training time
	MemoryMB        float64 // peak or estimated training memory
}

// CompareTableOptions controls CompareTable. Metrics orders the metric
// columns (default: every metric name, sorted). Best, when it names a metric,
// highlights the row with its highest value (lowest if LowerIsBetter).
// MemoryHeader names the memory column (default "Memory (MB)"; say
// "Est. memory (MB)" for estimates).
type CompareTableOptions struct {
	Caption       string
	Metrics       []string
	Best          string
	LowerIsBetter bool
	MemoryHeader  string
}

// CompareTable renders methods side by side as an HTML table: method,
// trainable parameters, % trainable, the metrics, training time (s) and
// memory (MB).
func CompareTable(rows []CompareRow, opt CompareTableOptions) string {
	metrics := opt.Metrics
	if metrics == nil {
		seen := map[string]bool{}
		for _, r := range rows {
			for k := range r.Metrics {
				if !seen[k] {
					seen[k] = true
					metrics = append(metrics, k)
				}
			}
		}
		slices.Sort(metrics)
	}
	header := []string{"Method", "Trainable params", "% trainable"}
	for _, m := range metrics {
		header = append(header, strings.ReplaceAll(m, "_", " "))
	}
	header = append(header, "Time (s)", orDefault(opt.MemoryHeader, "Memory (MB)"))
	cells := make([][]string, len(rows))
	best, bestV := -1, math.NaN()
	for i, r := range rows {
		pct := ""
		if r.TotalParams > 0 {
			pct = formatPercent(100 * float64(r.TrainableParams) / float64(r.TotalParams))
		}
		c := []string{r.Method, groupDigits(r.TrainableParams), pct}
		for _, m := range metrics {
			v, ok := r.Metrics[m]
			if ok && finite(v) {
				c = append(c, fmt.Sprintf("%.3f", v))
			} else {
				c = append(c, "")
			}
		}
		c = append(c, blankZero(r.Seconds, "%.1f"), blankZero(r.MemoryMB, "%.0f"))
		cells[i] = c
		if v, ok := r.Metrics[opt.Best]; ok && finite(v) {
			if best < 0 || (!opt.LowerIsBetter && v > bestV) || (opt.LowerIsBetter && v < bestV) {
				best, bestV = i, v
			}
		}
	}
	var hl []int
	if best >= 0 {
		hl = []int{best}
	}
	return Table(header, cells, TableOptions{Caption: opt.Caption, HighlightRows: hl})
}

func formatPercent(p float64) string {
	switch {
	case p == 0:
		return "0%"
	case p < 0.01:
		return fmt.Sprintf("%.4f%%", p)
	case p < 1:
		return fmt.Sprintf("%.3f%%", p)
	}
	return fmt.Sprintf("%.2f%%", p)
}

func blankZero(v float64, format string) string {
	if v == 0 || !finite(v) {
		return ""
	}
	return fmt.Sprintf(format, v)
}

// groupDigits writes n with thousands commas: 74,560.
func groupDigits(n int) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

func size(w, h int, dw, dh float64) (float64, float64) {
	W, H := float64(w), float64(h)
	if W <= 0 {
		W = dw
	}
	if H <= 0 {
		H = dh
	}
	return W, H
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func ptrTo(v float64) *float64 { return &v }
