package widgets

import (
	"encoding/xml"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// xnode is a generic XML element, for structural checks of the SVGs.
type xnode struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Children []xnode    `xml:",any"`
	Text     string     `xml:",chardata"`
}

func (n *xnode) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (n *xnode) hasClass(c string) bool { return slices.Contains(strings.Fields(n.attr("class")), c) }

func (n *xnode) walk(fn func(*xnode)) {
	fn(n)
	for i := range n.Children {
		n.Children[i].walk(fn)
	}
}

// all returns the elements whose class list holds every one of classes.
func (n *xnode) all(classes ...string) []*xnode {
	var out []*xnode
	n.walk(func(m *xnode) {
		for _, c := range classes {
			if !m.hasClass(c) {
				return
			}
		}
		out = append(out, m)
	})
	return out
}

// texts returns the content of every <text> element with class c ("" for all).
func (n *xnode) texts(c string) []string {
	var out []string
	n.walk(func(m *xnode) {
		if m.XMLName.Local == "text" && (c == "" || m.hasClass(c)) {
			out = append(out, m.Text)
		}
	})
	return out
}

// parseSVG checks that s is one well-formed <svg> whose first child is a
// non-empty <title>, and returns its tree.
func parseSVG(t *testing.T, s string) *xnode {
	t.Helper()
	wellFormed(t, s)
	noScript(t, s)
	var root xnode
	if err := xml.Unmarshal([]byte(s), &root); err != nil {
		t.Fatalf("parse: %v", err)
	}
	if root.XMLName.Local != "svg" {
		t.Fatalf("root is <%s>, want <svg>", root.XMLName.Local)
	}
	if len(root.Children) == 0 || root.Children[0].XMLName.Local != "title" || strings.TrimSpace(root.Children[0].Text) == "" {
		t.Fatalf("svg does not start with a non-empty <title>")
	}
	return &root
}

func svgTitle(n *xnode) string { return n.Children[0].Text }

// pathPoints counts the vertices of a path's d attribute.
func pathPoints(d string) int { return strings.Count(d, "M") + strings.Count(d, "L") }

func TestEverySVGHasATitle(t *testing.T) {
	svgs := map[string]string{
		"line chart":    LineChart([]Series{{Name: "a", Y: []float64{1, 2}}}, LineChartOptions{}),
		"empty line":    LineChart(nil, LineChartOptions{}),
		"heatmap":       Heatmap([][]float64{{1}}, HeatmapOptions{}),
		"bar chart":     BarChart([]Bar{{"a", 1}}, BarChartOptions{}),
		"layer diagram": LayerDiagram(nil, LayerDiagramOptions{NumLayers: 1}),
		"acc vs params": AccuracyVsParams(nil, AccuracyVsParamsOptions{}),
		"fusion":        FusionHeatmap(FusionAttention{}, FusionHeatmapOptions{}),
		"adapterdrop":   AdapterDropChart(nil, AdapterDropOptions{}),
		"sparsity":      SparsityChart(nil, SparsityOptions{}),
		"distillation":  DistillationChart(nil, DistillationOptions{}),
		"predicted":     PredictedVsActual(nil, PredictedVsActualOptions{}),
		"memory":        MemoryVsBatch(nil, MemoryOptions{}),
		"learning":      LearningCurveChart(LearningCurve{}, LearningCurveOptions{}),
	}
	for _, s := range previewItems() {
		if strings.HasPrefix(s, "<svg") {
			svgs["preview "+strconv.Itoa(len(svgs))] = s
		}
	}
	for name, s := range svgs {
		t.Run(name, func(t *testing.T) { parseSVG(t, s) })
	}
}

func TestLayerDiagramMarksDroppedLayers(t *testing.T) {
	for _, drop := range []int{0, 2, 6} {
		var sites []LayerSite
		for l := 0; l < 6; l++ {
			sites = append(sites,
				LayerSite{Layer: l, Site: "attention", Method: "houlsby", Dropped: l < drop},
				LayerSite{Layer: l, Site: "ffn", Method: "houlsby", Dropped: l < drop})
		}
		root := parseSVG(t, LayerDiagram(sites, LayerDiagramOptions{NumLayers: 6}))
		if n := len(root.all("layer")); n != 6 {
			t.Errorf("drop %d: %d layer rows, want one per layer (6)", drop, n)
		}
		var want, rows, hatched []int
		for l := 0; l < drop; l++ {
			want = append(want, l)
		}
		for _, g := range root.all("layer", "dropped") {
			l, _ := strconv.Atoi(g.attr("data-layer"))
			rows = append(rows, l)
		}
		for _, g := range root.all("site") {
			l, _ := strconv.Atoi(g.attr("data-layer"))
			rect := g.Children[1] // after the <title>
			if strings.HasPrefix(rect.attr("fill"), "url(#") != g.hasClass("dropped") {
				t.Errorf("drop %d: site in layer %d hatched=%v but dropped=%v", drop, l, !g.hasClass("dropped"), g.hasClass("dropped"))
			}
			if g.hasClass("dropped") && !slices.Contains(hatched, l) {
				hatched = append(hatched, l)
			}
		}
		slices.Sort(rows)
		slices.Sort(hatched)
		if !slices.Equal(rows, want) && !(len(rows) == 0 && len(want) == 0) {
			t.Errorf("drop %d: dropped layer rows %v, want %v", drop, rows, want)
		}
		if !slices.Equal(hatched, want) && !(len(hatched) == 0 && len(want) == 0) {
			t.Errorf("drop %d: hatched layers %v, want %v", drop, hatched, want)
		}
	}
}

func TestFusionHeatmapOneCellPerLayerAndAdapter(t *testing.T) {
	a := FusionAttention{Layers: []int{2, 3, 1}, Adapters: []string{"sentiment", "spam", "party", "topic"},
		Weights: [][]float64{{0.1, 0.2, 0.3, 0.4}, {0.25, 0.25, 0.25, 0.25}, {0.7, 0.1, 0.1, 0.1}}}
	root := parseSVG(t, FusionHeatmap(a, FusionHeatmapOptions{}))
	if n := len(root.all("cell")); n != 3*4 {
		t.Errorf("%d cells, want 3 layers x 4 adapters", n)
	}
	texts := root.texts("")
	for _, want := range []string{"layer 1", "layer 2", "layer 3", "sentiment", "topic", "0.7"} {
		if !slices.Contains(texts, want) {
			t.Errorf("no text %q in %v", want, texts)
		}
	}
	// Highest layer on top, as in LayerDiagram.
	y := func(label string) float64 {
		var v float64
		root.walk(func(m *xnode) {
			if m.XMLName.Local == "text" && m.Text == label {
				v, _ = strconv.ParseFloat(m.attr("y"), 64)
			}
		})
		return v
	}
	if !(y("layer 3") < y("layer 2") && y("layer 2") < y("layer 1")) {
		t.Errorf("layer rows not top-down from the highest layer")
	}
}

func TestAccuracyVsParams(t *testing.T) {
	res := []MethodResult{{"houlsby", 3.6, 0.95}, {"lora", 0.27, 0.94}, {"bitfit", 0.08, 0.91}, {"prefix", 0.9, 0.93}, {"head only", 0.05, 0.86}}
	root := parseSVG(t, AccuracyVsParams(res, AccuracyVsParamsOptions{FullFineTuning: ptr(0.96)}))
	if n := len(root.all("point")); n != len(res) {
		t.Errorf("%d points, want one per method (%d)", n, len(res))
	}
	if got, want := root.texts("xtick"), []string{"0.01", "0.1", "1", "10"}; !slices.Equal(got, want) {
		t.Errorf("log-x ticks %v, want decades %v", got, want)
	}
	labels := root.texts("point-label")
	for _, r := range res {
		if !slices.Contains(labels, r.Method) {
			t.Errorf("method %q not labelled", r.Method)
		}
	}
	if len(root.all("reference")) != 1 {
		t.Error("no full fine-tuning reference line")
	}
	if !strings.Contains(strings.Join(root.texts("ylabel"), ""), "(%)") || !strings.Contains(strings.Join(root.texts("xlabel"), ""), "%") {
		t.Error("axis labels lack units")
	}
	// Markers differ between methods (greyscale).
	shapes := map[string]bool{}
	for _, g := range root.all("point") {
		m := g.Children[1]
		shapes[m.XMLName.Local+m.attr("points")] = true // polygons differ by their vertices
	}
	if len(shapes) < 3 {
		t.Errorf("markers do not vary by method: %v", shapes)
	}
	plain := parseSVG(t, AccuracyVsParams(res, AccuracyVsParamsOptions{}))
	if len(plain.all("reference")) != 0 {
		t.Error("reference line drawn without FullFineTuning")
	}
}

func TestKendallTau(t *testing.T) {
	for _, c := range []struct {
		x, y []float64
		want float64
	}{
		{[]float64{1, 2, 3, 4}, []float64{1, 2, 3, 4}, 1},
		{[]float64{1, 2, 3, 4}, []float64{4, 3, 2, 1}, -1},
		{[]float64{1, 2, 3, 4}, []float64{1, 3, 2, 4}, 4.0 / 6},
		{[]float64{1, 1, 2}, []float64{1, 2, 3}, 2 / math.Sqrt(6)}, // τ-b tie correction
	} {
		if got := KendallTau(c.x, c.y); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("KendallTau(%v, %v) = %v, want %v", c.x, c.y, got, c.want)
		}
	}
	if !math.IsNaN(KendallTau([]float64{1}, []float64{2})) || !math.IsNaN(KendallTau([]float64{1, 2}, []float64{3, 3})) {
		t.Error("tau of one pair or a constant side should be NaN")
	}
}

func TestPredictedVsActual(t *testing.T) {
	preds := []Prediction{{"houlsby", 0.9, 0.92}, {"lora", 0.85, 0.88}, {"bitfit", 0.8, 0.79}, {"head", 0.7, 0.74}}
	root := parseSVG(t, PredictedVsActual(preds, PredictedVsActualOptions{}))
	if len(root.all("identity")) != 1 {
		t.Error("no y = x line")
	}
	if n := len(root.all("point")); n != len(preds) {
		t.Errorf("%d points, want %d", n, len(preds))
	}
	if !strings.Contains(svgTitle(root), "Kendall τ = 1.00") {
		t.Errorf("title %q lacks tau", svgTitle(root))
	}
	legend := strings.Join(root.all("legend")[0].texts(""), "|")
	if !strings.Contains(legend, "τ = 1.00") || !strings.Contains(legend, "y = x") {
		t.Errorf("legend %q lacks tau or y = x", legend)
	}
	// y = x runs corner to corner of a square range: its ends are at equal
	// data values, so x and y tick labels must be the same.
	if xt, yt := root.texts("xtick"), root.texts("ytick"); !slices.Equal(xt, yt) {
		t.Errorf("axes differ: x %v, y %v", xt, yt)
	}
}

func TestMemoryVsBatch(t *testing.T) {
	bs := []float64{1, 2, 4, 8, 16, 32, 64}
	var a, c []float64
	for _, b := range bs {
		a, c = append(a, 40+3*b), append(c, 60+5*b)
	}
	root := parseSVG(t, MemoryVsBatch([]Series{{Name: "houlsby", X: bs, Y: a}, {Name: "full FT", X: bs, Y: c}}, MemoryOptions{LimitMB: 256}))
	if len(root.all("limit")) != 1 {
		t.Error("no device limit line")
	}
	if got := root.texts("xtick"); !slices.Equal(got, []string{"1", "2", "4", "8", "16", "32", "64"}) {
		t.Errorf("x ticks %v, want the batch sizes", got)
	}
	if got := root.texts("ytick"); got[0] != "0" {
		t.Errorf("memory axis starts at %s, want 0", got[0])
	}
	lines := root.all("series")
	if len(lines) != 2 || lines[0].attr("stroke-dasharray") == lines[1].attr("stroke-dasharray") {
		t.Error("want two series with different dashes")
	}
	if n := len(root.all("point")); n != 14 {
		t.Errorf("%d markers, want 14", n)
	}
	if len(parseSVG(t, MemoryVsBatch(nil, MemoryOptions{})).all("limit")) != 0 {
		t.Error("limit drawn without LimitMB")
	}
}

func TestLearningCurveChart(t *testing.T) {
	c := LearningCurve{ObservedX: []float64{100, 200, 400, 800}, ObservedY: []float64{0.7, 0.76, 0.81, 0.84}}
	for x := 100.0; x <= 6400; x *= 2 {
		y := 0.9 - 0.4*math.Pow(x, -0.3)
		w := 0.01 * math.Log2(x/50)
		c.FitX, c.FitY, c.Lo, c.Hi = append(c.FitX, x), append(c.FitY, y), append(c.Lo, y-w), append(c.Hi, y+w)
	}
	root := parseSVG(t, LearningCurveChart(c, LearningCurveOptions{LogX: true}))
	bands := root.all("band")
	if len(bands) != 1 || bands[0].XMLName.Local != "polygon" {
		t.Fatalf("want one band polygon, got %d", len(bands))
	}
	if n := len(strings.Fields(bands[0].attr("points"))); n != 2*len(c.FitX) {
		t.Errorf("band has %d vertices, want %d", n, 2*len(c.FitX))
	}
	fit, ext := root.all("fit"), root.all("extrapolation")
	if len(fit) != 1 || len(ext) != 1 || ext[0].attr("stroke-dasharray") == "" {
		t.Fatal("want a solid fit and a dashed extrapolation")
	}
	if got := pathPoints(fit[0].attr("d")) + pathPoints(ext[0].attr("d")); got != len(c.FitX)+1 { // +1: shared join point
		t.Errorf("fit + extrapolation have %d vertices, want %d", got, len(c.FitX)+1)
	}
	if n := len(root.all("observed")); n != 4 {
		t.Errorf("%d measured points, want 4", n)
	}
}

func TestAdapterDropChart(t *testing.T) {
	var pts []DropPoint
	for n := 0; n <= 4; n++ {
		pts = append(pts, DropPoint{Dropped: n, Accuracy: 0.95 - 0.01*float64(n*n), Speed: 1 + 0.1*float64(n)})
	}
	root := parseSVG(t, AdapterDropChart(pts, AdapterDropOptions{}))
	if n := len(root.all("panel-title")); n != 2 {
		t.Errorf("%d panels, want 2", n)
	}
	for _, c := range []string{"accuracy", "speed"} {
		p := root.all("series", c)
		if len(p) != 1 || pathPoints(p[0].attr("d")) != 5 {
			t.Errorf("%s series wrong: %d", c, len(p))
		}
	}
	if got := root.texts("xtick"); !slices.Equal(got, []string{"0", "1", "2", "3", "4", "0", "1", "2", "3", "4"}) {
		t.Errorf("x ticks %v, want n = 0..4 in both panels", got)
	}
	var xs []string
	root.walk(func(m *xnode) {
		if m.hasClass("xtick") {
			xs = append(xs, m.attr("x"))
		}
	})
	if !slices.Equal(xs[:5], xs[5:]) {
		t.Errorf("the panels' x axes do not line up: %v", xs)
	}
}

func TestSparsityChart(t *testing.T) {
	sp := []float64{0, 0.25, 0.5, 0.75, 0.9}
	root := parseSVG(t, SparsityChart([]Series{
		{Name: "learned masks", X: sp, Y: []float64{0.95, 0.95, 0.94, 0.9, 0.83}},
		{Name: "random", X: sp, Y: []float64{0.95, 0.92, 0.87, 0.78, 0.66}},
	}, SparsityOptions{Dense: ptr(0.95)}))
	lines := root.all("series")
	if len(lines) != 2 || lines[0].attr("stroke") == lines[1].attr("stroke") || lines[0].attr("stroke-dasharray") == lines[1].attr("stroke-dasharray") {
		t.Error("series must differ by colour and dash")
	}
	if got := root.texts("xtick"); got[len(got)-1] != "100" {
		t.Errorf("sparsity ticks %v should be in percent", got)
	}
	if !slices.Contains(root.all("legend")[0].texts(""), "random") || len(root.all("reference")) != 1 {
		t.Error("legend or dense reference missing")
	}
}

func TestDistillationChart(t *testing.T) {
	models := []DistillModel{{"teacher 4L", true, 0.95, 1_800_000}, {"student 2L", false, 0.93, 900_000}, {"student 1L", false, 0.9, 450_000}}
	root := parseSVG(t, DistillationChart(models, DistillationOptions{}))
	if a, p := len(root.all("bar", "accuracy")), len(root.all("bar", "params")); a != 3 || p != 3 {
		t.Errorf("%d accuracy and %d parameter bars, want 3 each", a, p)
	}
	if n := len(root.all("bar", "teacher")); n != 2 {
		t.Errorf("%d teacher bars, want 2", n)
	}
	texts := root.texts("")
	for _, want := range []string{"1.8M", "450k", "95%", "student 1L (student)"} {
		if !slices.Contains(texts, want) {
			t.Errorf("missing %q", want)
		}
	}
}

func TestCompareTable(t *testing.T) {
	h := CompareTable([]CompareRow{
		{Method: "houlsby", TrainableParams: 74560, TotalParams: 2_010_000, Metrics: map[string]float64{"test_accuracy": 0.951, "test_macro_f1": 0.94}, Seconds: 61.2, MemoryMB: 412},
		{Method: "lora", TrainableParams: 5120, TotalParams: 1_940_000, Metrics: map[string]float64{"test_accuracy": 0.962}},
	}, CompareTableOptions{Caption: "spam", Best: "test_accuracy"})
	wellFormed(t, h)
	noScript(t, h)
	for _, want := range []string{">Trainable params<", ">% trainable<", ">test accuracy<", ">test macro f1<", ">Time (s)<", ">Memory (MB)<",
		">74,560<", ">3.71%<", ">0.264%<", ">61.2<", ">412<"} {
		if !strings.Contains(h, want) {
			t.Errorf("table lacks %q", want)
		}
	}
	if i := strings.Index(h, "font-weight:600\"><td"); i < 0 || !strings.Contains(h[i:i+200], "lora") {
		t.Error("best row (lora) not highlighted")
	}
	if strings.Count(h, "<tr") != 3 {
		t.Error("want a header and two rows")
	}
}

// TestPlotsSurviveBadData feeds NaN, Inf, zeros, single points and huge
// values to every plot: each must still be one titled SVG with no NaN or
// Inf leaking into its coordinates.
func TestPlotsSurviveBadData(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	svgs := map[string]string{
		"acc nan":      AccuracyVsParams([]MethodResult{{"a", nan, 0.5}, {"b", 0, 0.6}, {"c", 1, inf}, {"d", 2, 0.7}}, AccuracyVsParamsOptions{FullFineTuning: &nan}),
		"acc one":      AccuracyVsParams([]MethodResult{{"only", 1, 0.9}}, AccuracyVsParamsOptions{}),
		"fusion rag":   FusionHeatmap(FusionAttention{Layers: []int{0}, Adapters: []string{"a", "b"}, Weights: [][]float64{{1}, {nan, 0.5}}}, FusionHeatmapOptions{}),
		"drop one":     AdapterDropChart([]DropPoint{{Dropped: 0, Accuracy: nan, Speed: 1}}, AdapterDropOptions{}),
		"sparsity nil": SparsityChart([]Series{{Name: "empty"}, {Name: "y only", Y: []float64{0.9, 0.8}}}, SparsityOptions{}),
		"distill nan":  DistillationChart([]DistillModel{{"t", true, nan, 0}, {"s", false, 2, -5}}, DistillationOptions{}),
		"pred const":   PredictedVsActual([]Prediction{{"a", 0.5, 0.5}, {"b", 0.5, nan}}, PredictedVsActualOptions{}),
		"memory huge":  MemoryVsBatch([]Series{{Name: "m", X: []float64{0, 1, 1e6}, Y: []float64{1e12, nan, 5}}}, MemoryOptions{LimitMB: inf}),
		"curve ragged": LearningCurveChart(LearningCurve{ObservedX: []float64{1}, ObservedY: []float64{nan}, FitX: []float64{1, 2, 3}, FitY: []float64{0.5}, Lo: []float64{0.4, 0.5}, Hi: []float64{0.6}}, LearningCurveOptions{LogX: true}),
	}
	for name, s := range svgs {
		t.Run(name, func(t *testing.T) {
			parseSVG(t, s)
			for _, bad := range []string{`="NaN`, `"Inf`, `+Inf`, `,NaN`, ` NaN `} {
				if strings.Contains(s, bad) {
					t.Errorf("%q leaked into the SVG", bad)
				}
			}
		})
	}
	if tab := CompareTable(nil, CompareTableOptions{Best: "x"}); !strings.Contains(tab, "<table") {
		t.Error("empty CompareTable")
	}
}

func TestRawMetricsAreNotPercent(t *testing.T) {
	root := parseSVG(t, PredictedVsActual([]Prediction{{"a", 2.5, 3}, {"b", 4, 4.5}, {"c", 1, 0.5}}, PredictedVsActualOptions{Metric: "dev MSE", Raw: true}))
	if yl := strings.Join(root.texts("ylabel"), ""); yl != "actual dev MSE" {
		t.Errorf("y label %q, want no (%%)", yl)
	}
	if yt := root.texts("ytick"); yt[len(yt)-1] != "5" {
		t.Errorf("y ticks %v: raw values must not be scaled", yt)
	}
}
