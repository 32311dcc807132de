package widgets

import (
	"math"
	"math/rand"
	"os"
	"path/filepath"
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
	return []string{loss, HStack(mem, empty), diagrams, heat, HStack(fusion, bars), bigHeat, table, live, final}
}
