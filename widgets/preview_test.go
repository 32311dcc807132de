package widgets

import (
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPreviewPage writes every widget into one HTML page, the artefact to
// look at in a browser (or screenshot with headless Chromium). Set
// WIDGETS_PREVIEW=/path/page.html to keep it; otherwise it goes to a temp dir.
func TestPreviewPage(t *testing.T) {
	path := os.Getenv("WIDGETS_PREVIEW")
	if path == "" {
		path = filepath.Join(t.TempDir(), "widgets.html")
	}
	page := Page("GoPEFT widgets preview", previewItems()...)
	wellFormed(t, page)
	noScript(t, page)
	if err := SavePage(path, "GoPEFT widgets preview", previewItems()...); err != nil {
		t.Fatal(err)
	}
	t.Logf("preview written to %s", path)
}

func previewItems() []string {
	r := rand.New(rand.NewSource(1))
	curve := func(name string, start, rate, noise float64, nan bool) Series {
		var xs, ys []float64
		for s := 0; s <= 600; s += 10 {
			xs = append(xs, float64(s))
			y := 0.2 + (start-0.2)*math.Exp(-rate*float64(s)) + noise*r.NormFloat64()
			if nan && s == 300 {
				y = math.NaN()
			}
			ys = append(ys, y)
		}
		return Series{Name: name, X: xs, Y: ys}
	}
	loss := LineChart([]Series{
		curve("houlsby train", 0.7, 0.008, 0.02, false),
		curve("houlsby eval", 0.7, 0.006, 0.01, true),
		curve("mam train", 0.72, 0.011, 0.02, false),
		curve("mam eval", 0.72, 0.009, 0.01, false),
	}, LineChartOptions{Title: "Learning curves", XLabel: "step", YLabel: "loss"})

	var bs, m1, m2 []float64
	for b := 1; b <= 256; b *= 2 {
		bs = append(bs, float64(b))
		m1 = append(m1, 45+3.1*float64(b))
		m2 = append(m2, 60+2.2*float64(b))
	}
	mem := LineChart([]Series{{Name: "houlsby", X: bs, Y: m1}, {Name: "mam + masks", X: bs, Y: m2}},
		LineChartOptions{Title: "Predicted memory vs batch size", XLabel: "batch size", YLabel: "MiB", LogY: true, LogX: true, Width: 480, Height: 320})

	var houlsby, mam []LayerSite
	for l := 0; l < 6; l++ {
		houlsby = append(houlsby,
			LayerSite{Layer: l, Site: "attention", Method: "houlsby", Dropped: l < 2},
			LayerSite{Layer: l, Site: "ffn", Method: "houlsby", Dropped: l < 2})
		mam = append(mam,
			LayerSite{Layer: l, Site: "prefix", Method: "prefix"},
			LayerSite{Layer: l, Site: "ffn", Method: "parallel", Label: "×4"})
	}
	mam = append(mam, LayerSite{Layer: 5, Site: "query", Method: "lora"}, LayerSite{Layer: 5, Site: "value", Method: "lora"})
	diagrams := LayerDiagrams([]string{"Houlsby, AdapterDrop n=2", "MAM adapter (+ LoRA on top layer)"}, [][]LayerSite{houlsby, mam}, LayerDiagramOptions{})

	keep := make([][]float64, 4)
	rows := []string{"layer 0", "layer 1", "layer 2", "layer 3"}
	for i := range keep {
		keep[i] = make([]float64, 64)
		for j := range keep[i] {
			keep[i][j] = 1 / (1 + math.Exp(-(r.NormFloat64()*1.5 + float64(i)*0.4 - 0.3)))
		}
	}
	heat := Heatmap(keep, HeatmapOptions{Title: "MAM keep-probabilities", XLabel: "bottleneck unit", YLabel: "layer", RowLabels: rows, Min: ptr(0), Max: ptr(1)})

	big := make([][]float64, 12)
	for i := range big {
		big[i] = make([]float64, 512)
		for j := range big[i] {
			big[i][j] = math.Sin(float64(i)*0.5+float64(j)/40) * math.Exp(-float64(j)/600)
		}
	}
	bigHeat := Heatmap(big, HeatmapOptions{Title: "12 x 512 keep-probabilities", XLabel: "unit", YLabel: "layer"})
	fusion := Heatmap([][]float64{{0.62, 0.25, 0.13}, {0.4, 0.45, 0.15}, {0.1, 0.2, 0.7}},
		HeatmapOptions{Title: "Fusion attention", XLabel: "adapter", YLabel: "layer", ShowValues: true, Min: ptr(0), Max: ptr(1),
			ColLabels: []string{"sentiment", "spam", "party"}, RowLabels: []string{"layer 3", "layer 4", "layer 5"}})

	table := Table([]string{"Method", "Trainable params", "% params", "Test accuracy"}, [][]string{
		{"majority baseline", "0", "0.00%", "0.682"},
		{"houlsby (drop 2)", "74,560", "3.71%", "0.951"},
		{"mam + masks", "98,304", "4.89%", "0.962"},
	}, TableOptions{Caption: "Spam: test accuracy", HighlightRows: []int{2}})
	bars := BarChart([]Bar{{"houlsby (drop 2)", 0.951}, {"mam + masks", 0.962}, {"lora r=8", 0.944}, {"bitfit", 0.912}},
		BarChartOptions{Title: "Test accuracy", XLabel: "accuracy", Baseline: ptr(0.682), BaselineLabel: "majority", Min: ptr(0), Max: ptr(1), Format: "%.3f"})

	p := NewProgress(600, "houlsby on spam")
	p.notebook = false
	clock := time.Unix(0, 0)
	p.now = func() time.Time { return clock }
	p.start = clock
	clock = clock.Add(47 * time.Second)
	p.step = 385
	p.metrics = map[string]float64{"loss": 0.2312, "acc": 0.9375}
	live := p.HTML()
	clock = clock.Add(25 * time.Second)
	p.step = 600
	p.done = true
	final := p.HTML()

	empty := LineChart(nil, LineChartOptions{Title: "Empty chart", Width: 320, Height: 200})
	items := []string{loss, HStack(mem, empty), diagrams, heat, HStack(fusion, bars), bigHeat, table, live, final}
	for _, p := range teachingPlots() {
		items = append(items, p.svg)
	}
	return items
}

type namedPlot struct{ name, svg string }

// teachingPlots renders each plot of plots.go on made-up but plausible data.
func teachingPlots() []namedPlot {
	accParams := AccuracyVsParams([]MethodResult{
		{"houlsby", 3.71, 0.951}, {"pfeiffer", 1.9, 0.948}, {"lora r=8", 0.27, 0.944}, {"prefix", 0.9, 0.93},
		{"ia3", 0.03, 0.915}, {"bitfit", 0.08, 0.912}, {"mam", 4.89, 0.962}, {"head only", 0.013, 0.86},
	}, AccuracyVsParamsOptions{Title: "Spam: accuracy vs trainable parameters", FullFineTuning: ptr(0.965)})

	fusion := FusionHeatmap(FusionAttention{Layers: []int{0, 1, 2, 3}, Adapters: []string{"sentiment", "spam", "party"},
		Weights: [][]float64{{0.34, 0.33, 0.33}, {0.3, 0.45, 0.25}, {0.2, 0.62, 0.18}, {0.1, 0.8, 0.1}}},
		FusionHeatmapOptions{Title: "AdapterFusion attention on spam"})

	var drop []DropPoint
	for n := 0; n <= 4; n++ {
		drop = append(drop, DropPoint{Dropped: n, Accuracy: 0.951 - 0.004*float64(n*n), Speed: 1 + 0.09*float64(n)})
	}
	adapterDrop := AdapterDropChart(drop, AdapterDropOptions{Title: "AdapterDrop on spam (4-layer encoder)"})

	sp := []float64{0, 0.25, 0.5, 0.625, 0.75, 0.875, 0.9375}
	sparsity := SparsityChart([]Series{
		{Name: "learned masks", X: sp, Y: []float64{0.962, 0.962, 0.958, 0.951, 0.94, 0.91, 0.86}},
		{Name: "random units", X: sp, Y: []float64{0.962, 0.95, 0.93, 0.91, 0.87, 0.8, 0.72}},
		{Name: "smallest norm", X: sp, Y: []float64{0.962, 0.958, 0.95, 0.94, 0.92, 0.87, 0.8}},
	}, SparsityOptions{Title: "MAM masks: pruning bottleneck units", Dense: ptr(0.962)})

	distill := DistillationChart([]DistillModel{
		{"4-layer encoder", true, 0.962, 1_830_000}, {"2-layer", false, 0.951, 1_010_000}, {"1-layer", false, 0.928, 600_000},
	}, DistillationOptions{Title: "Distilling the spam classifier"})

	pred := PredictedVsActual([]Prediction{
		{"houlsby", 0.94, 0.951}, {"lora", 0.93, 0.944}, {"prefix", 0.925, 0.93}, {"bitfit", 0.9, 0.912},
		{"ia3", 0.91, 0.915}, {"head", 0.87, 0.86}, {"mam", 0.95, 0.962}, {"pfeiffer", 0.945, 0.948},
	}, PredictedVsActualOptions{Title: "Estimator on spam"})

	var bs, m1, m2, m3 []float64
	for b := 1; b <= 256; b *= 2 {
		bs = append(bs, float64(b))
		m1, m2, m3 = append(m1, 45+3.1*float64(b)), append(m2, 60+2.2*float64(b)), append(m3, 120+6.5*float64(b))
	}
	mem := MemoryVsBatch([]Series{{Name: "houlsby", X: bs, Y: m1}, {Name: "lora r=8", X: bs, Y: m2}, {Name: "full fine-tuning", X: bs, Y: m3}},
		MemoryOptions{Title: "Estimated training memory (seq 128)", LimitMB: 1024, LimitLabel: "2 GB class machine, free"})

	acc := func(x float64) float64 { return 0.97 - 1.4*math.Pow(x, -0.42) }
	lc := LearningCurve{ObservedX: []float64{50, 100, 200, 400}}
	for i, x := range lc.ObservedX {
		lc.ObservedY = append(lc.ObservedY, acc(x)+[]float64{0.006, -0.008, 0.004, -0.003}[i])
	}
	for x := 50.0; x <= 6400; x *= math.Sqrt2 {
		y := acc(x)
		w := 0.006 * (1 + math.Max(0, math.Log2(x/400))*1.6)
		lc.FitX, lc.FitY, lc.Lo, lc.Hi = append(lc.FitX, x), append(lc.FitY, y), append(lc.Lo, y-w), append(lc.Hi, math.Min(1, y+w))
	}
	learning := LearningCurveChart(lc, LearningCurveOptions{Title: "Estimated learning curve (houlsby, spam)", LogX: true})

	compare := CompareTable([]CompareRow{
		{Method: "houlsby", TrainableParams: 74_560, TotalParams: 2_010_000, Metrics: map[string]float64{"test_accuracy": 0.951, "test_macro_f1": 0.94}, Seconds: 61.2, MemoryMB: 412},
		{Method: "lora r=8", TrainableParams: 5_120, TotalParams: 1_940_000, Metrics: map[string]float64{"test_accuracy": 0.944, "test_macro_f1": 0.93}, Seconds: 55.8, MemoryMB: 380},
		{Method: "mam", TrainableParams: 98_304, TotalParams: 2_034_000, Metrics: map[string]float64{"test_accuracy": 0.962, "test_macro_f1": 0.955}, Seconds: 70.1},
	}, CompareTableOptions{Caption: "Spam: methods compared", Best: "test_accuracy"})

	return []namedPlot{{"accuracy-vs-params", accParams}, {"fusion-attention", fusion}, {"adapterdrop", adapterDrop},
		{"sparsity", sparsity}, {"distillation", distill}, {"predicted-vs-actual", pred}, {"memory-vs-batch", mem},
		{"learning-curve", learning}, {"compare-table", compare}}
}

// TestPreviewFiles writes each teaching plot to its own file (.svg, or .html
// for tables) in $WIDGETS_PREVIEW_DIR, for a human to open one by one.
func TestPreviewFiles(t *testing.T) {
	dir := os.Getenv("WIDGETS_PREVIEW_DIR")
	if dir == "" {
		t.Skip("set WIDGETS_PREVIEW_DIR to write one file per plot")
	}
	for _, p := range teachingPlots() {
		name, err := p.name+".svg", error(nil)
		if !strings.HasPrefix(p.svg, "<svg") {
			name = p.name + ".html"
			err = SavePage(filepath.Join(dir, name), p.name, p.svg)
		} else {
			err = SaveSVG(filepath.Join(dir, name), p.svg)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("plots written to %s", dir)
}
