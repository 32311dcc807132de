package widgets

import (
	"bytes"
	"encoding/xml"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// wellFormed parses s as XML and fails the test on any error.
func wellFormed(t *testing.T, s string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(s))
	d.Strict = true
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, s[:min(len(s), 2000)])
		}
	}
}

// noScript guards the no-JavaScript promise.
func noScript(t *testing.T, s string) {
	t.Helper()
	low := strings.ToLower(s)
	for _, bad := range []string{"<script", "javascript:", " onload=", " onclick=", " onmouseover="} {
		if strings.Contains(low, bad) {
			t.Fatalf("output contains %q", bad)
		}
	}
}

func ptr(v float64) *float64 { return &v }

func TestNiceTicks(t *testing.T) {
	cases := [][2]float64{
		{0, 1}, {0.13, 0.87}, {-3, 7}, {0, 9999}, {1e-7, 3e-7}, {-1e12, 5e12},
		{5, 5}, {0, 0}, {-2.5, -2.5}, {0.69, 0.71}, {1, 1000}, {98, 102},
	}
	for _, c := range cases {
		ticks := NiceTicks(c[0], c[1], 6)
		if len(ticks) < 2 || len(ticks) > 13 {
			t.Fatalf("%v: %d ticks %v", c, len(ticks), ticks)
		}
		if ticks[0] > c[0] || ticks[len(ticks)-1] < c[1] {
			t.Errorf("%v: ticks %v do not cover the range", c, ticks)
		}
		step := ticks[1] - ticks[0]
		if !isOneTwoFive(step) {
			t.Errorf("%v: step %g not 1-2-5", c, step)
		}
		for i := 1; i < len(ticks); i++ {
			if math.Abs((ticks[i]-ticks[i-1])-step) > step*1e-6 {
				t.Errorf("%v: uneven ticks %v", c, ticks)
			}
		}
	}
	got := NiceTicks(0, 1, 6)
	want := []float64{0, 0.2, 0.4, 0.6, 0.8, 1}
	if len(got) != len(want) {
		t.Fatalf("NiceTicks(0,1) = %v", got)
	}
	for i := range want {
		if got[i] != want[i] { // exact: no 0.6000000000000001
			t.Errorf("NiceTicks(0,1)[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	if NiceTicks(math.NaN(), 1, 5) != nil || NiceTicks(0, math.Inf(1), 5) != nil {
		t.Error("non-finite range should give nil")
	}
	if s := formatTick(0.30000000000000004, 0.1); s != "0.3" {
		t.Errorf("formatTick = %q", s)
	}
	if s := formatTick(2e6, 1e6); s != "2e6" {
		t.Errorf("formatTick(2e6) = %q", s)
	}
}

func TestLogTicks(t *testing.T) {
	got := LogTicks(0.003, 20)
	want := []float64{0.001, 0.01, 0.1, 1, 10, 100}
	if len(got) != len(want) {
		t.Fatalf("LogTicks = %v", got)
	}
	for i := range want {
		if math.Abs(got[i]-want[i]) > want[i]*1e-9 {
			t.Fatalf("LogTicks = %v", got)
		}
	}
	narrow := LogTicks(0.3, 0.9)
	if len(narrow) < 3 || narrow[0] > 0.3 || narrow[len(narrow)-1] < 0.9 {
		t.Errorf("narrow LogTicks = %v", narrow)
	}
	if LogTicks(0, 1) != nil {
		t.Error("LogTicks with 0 should be nil")
	}
}

func TestLineChart(t *testing.T) {
	steps := []float64{0, 10, 20, 30, 40}
	s := LineChart([]Series{
		{Name: "loss <train>", X: steps, Y: []float64{2, 1.2, math.NaN(), 0.6, 0.5}},
		{Name: "loss & eval", X: steps, Y: []float64{2.1, 1.4, 1.0, math.Inf(1), 0.7}},
		{Name: "single", X: []float64{25}, Y: []float64{1.5}},
	}, LineChartOptions{Title: "Loss <vs> step & more", XLabel: "step", YLabel: "loss"})
	wellFormed(t, s)
	noScript(t, s)
	for _, want := range []string{"Loss &lt;vs&gt; step &amp; more", "loss &lt;train&gt;", "loss &amp; eval", ">step<", ">loss<", `viewBox="0 0 640 360"`} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %q", want)
		}
	}
	if n := strings.Count(s, `class="series"`); n != 3 {
		t.Errorf("%d series paths, want 3", n)
	}
	// The NaN breaks the first path into two subpaths.
	first := s[strings.Index(s, `class="series"`):]
	first = first[:strings.Index(first, `stroke=`)]
	if strings.Count(first, "M") != 2 {
		t.Errorf("NaN did not split the path: %s", first)
	}
	if !strings.Contains(s, "<circle") {
		t.Error("single point has no marker")
	}
}

func TestLineChartEdgeCases(t *testing.T) {
	cases := map[string][]Series{
		"nil":       nil,
		"empty":     {{Name: "a"}},
		"all-nan":   {{Name: "a", Y: []float64{math.NaN(), math.NaN()}}},
		"one-point": {{Y: []float64{3}}},
		"equal":     {{Name: "flat", Y: []float64{0.5, 0.5, 0.5}}},
		"huge":      {{Name: "h", Y: []float64{1e15, 3e15, -2e15}}},
		"negative":  {{Name: "n", X: []float64{-5, -1}, Y: []float64{-100, -3}}},
		"tiny":      {{Name: "t", Y: []float64{1e-9, 2e-9}}},
		"mismatch":  {{Name: "m", X: []float64{1, 2, 3}, Y: []float64{1, 2}}},
	}
	for name, ser := range cases {
		t.Run(name, func(t *testing.T) {
			s := LineChart(ser, LineChartOptions{Title: name})
			wellFormed(t, s)
			if strings.Contains(s, "NaN") || strings.Contains(s, "Inf") {
				t.Errorf("NaN/Inf leaked into the SVG")
			}
			noData := name == "nil" || name == "empty" || name == "all-nan"
			if noData != strings.Contains(s, `class="nodata"`) {
				t.Errorf("no-data marker: got %v, want %v", !noData, noData)
			}
		})
	}
	many := make([]Series, 30)
	for i := range many {
		many[i] = Series{Name: "run " + string(rune('A'+i)), Y: []float64{float64(i), float64(i * 2)}}
	}
	s := LineChart(many, LineChartOptions{})
	wellFormed(t, s)
	if strings.Count(s, `class="series"`) != 30 || !strings.Contains(s, "more</text>") {
		t.Error("many series: wrong path count or legend overflow missing")
	}
	// Log axis: non-positive values become gaps, pinned bounds respected.
	s = LineChart([]Series{{Name: "mem", Y: []float64{0, 10, 100, 1000, -1}}}, LineChartOptions{LogY: true})
	wellFormed(t, s)
	if !strings.Contains(s, ">1000<") || strings.Contains(s, "NaN") {
		t.Error("log axis labels wrong")
	}
	s = LineChart([]Series{{Name: "mem", X: []float64{0, 1, 2, 4, 256}, Y: []float64{5, 1, 2, 4, 256}}}, LineChartOptions{LogX: true, LogY: true})
	wellFormed(t, s)
	if !strings.Contains(s, ">1000<") || !strings.Contains(s, ">1<") {
		t.Error("log-log axis labels wrong")
	}
	s = LineChart([]Series{{Name: "acc", Y: []float64{0.2, 0.9}}}, LineChartOptions{YMin: ptr(0), YMax: ptr(1)})
	wellFormed(t, s)
	if !strings.Contains(s, ">1.0<") || !strings.Contains(s, ">0.0<") {
		t.Error("pinned y range not labelled 0.0..1.0")
	}
}

func TestHeatmap(t *testing.T) {
	vals := make([][]float64, 4)
	for i := range vals {
		vals[i] = make([]float64, 64)
		for j := range vals[i] {
			vals[i][j] = float64(i*64+j) / 256
		}
	}
	vals[1][3] = math.NaN()
	s := Heatmap(vals, HeatmapOptions{Title: "keep p <MAM>", XLabel: "unit", YLabel: "layer", RowLabels: []string{"L0", "L1", "L2", "L3"}})
	wellFormed(t, s)
	noScript(t, s)
	if n := strings.Count(s, `class="cell"`); n != 256 {
		t.Errorf("%d cells, want 256", n)
	}
	if !strings.Contains(s, "keep p &lt;MAM&gt;") || !strings.Contains(s, `class="colorscale"`) {
		t.Error("title or colour scale missing")
	}
	if strings.Contains(s, ">63<") && strings.Contains(s, ">1<") && strings.Contains(s, ">2<") {
		t.Error("column labels were not thinned")
	}

	big := make([][]float64, 12)
	for i := range big {
		big[i] = make([]float64, 512)
		for j := range big[i] {
			big[i][j] = math.Sin(float64(i*j) / 50)
		}
	}
	s = Heatmap(big, HeatmapOptions{Title: "12x512"})
	wellFormed(t, s)
	if n := strings.Count(s, `class="cell"`); n != 12*512 {
		t.Errorf("%d cells, want %d", n, 12*512)
	}
	if strings.Contains(s, "<title>0, 0:") {
		t.Error("large heatmaps should skip per-cell tooltips")
	}
	if len(s) > 600_000 {
		t.Errorf("12x512 heatmap is %d bytes", len(s))
	}

	// Edge cases: empty, all equal, ragged rows, huge and negative values, values shown.
	for name, v := range map[string][][]float64{
		"empty":  nil,
		"equal":  {{0.5, 0.5}, {0.5, 0.5}},
		"ragged": {{1, 2, 3}, {4}},
		"huge":   {{-1e12, 1e12}, {0, 5e11}},
		"allnan": {{math.NaN()}},
	} {
		s := Heatmap(v, HeatmapOptions{Title: name, ShowValues: true})
		wellFormed(t, s)
		if strings.Contains(s, `fill="#NaN`) || strings.Contains(s, "NaN\"") {
			t.Errorf("%s: NaN leaked into attributes", name)
		}
	}
	s = Heatmap([][]float64{{0.1, 0.9}, {0.5, 0.25}}, HeatmapOptions{ShowValues: true, ColLabels: []string{"adapter A", "adapter B"}, Min: ptr(0), Max: ptr(1)})
	wellFormed(t, s)
	if !strings.Contains(s, ">0.25</text>") {
		t.Error("values not shown")
	}
	if Viridis(0) != "#440154" || Viridis(1) != "#fde725" {
		t.Errorf("viridis ends: %s %s", Viridis(0), Viridis(1))
	}
}

func TestLayerDiagram(t *testing.T) {
	var sites []LayerSite
	for l := 0; l < 6; l++ {
		sites = append(sites,
			LayerSite{Layer: l, Site: "attention", Method: "houlsby", Dropped: l < 2},
			LayerSite{Layer: l, Site: "ffn", Method: "houlsby", Dropped: l < 2})
	}
	sites = append(sites, LayerSite{Layer: 3, Site: "weird<site>", Method: "custom & co", Label: "x<y"})
	s := LayerDiagram(sites, LayerDiagramOptions{Title: "Houlsby <drop 2>", NumLayers: 6})
	wellFormed(t, s)
	noScript(t, s)
	if n := strings.Count(s, `<g class="site`); n != 13 {
		t.Errorf("%d site markers, want 13", n)
	}
	if n := strings.Count(s, `class="site dropped"`); n != 4 {
		t.Errorf("%d dropped markers, want 4", n)
	}
	for _, want := range []string{"dropped by AdapterDrop", "Houlsby &lt;drop 2&gt;", "Layer 5", "Embeddings", "custom &amp; co", "x&lt;y"} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %q", want)
		}
	}
	if strings.Contains(s, "Layer 6") {
		t.Error("drew too many layers")
	}
	// Layer 0 is at the bottom: its label is below layer 5's.
	y0, _ := strconv.ParseFloat(labelY(t, s, "Layer 0"), 64)
	y5, _ := strconv.ParseFloat(labelY(t, s, "Layer 5"), 64)
	if y0 <= y5 {
		t.Errorf("layer 0 (y=%v) should be below layer 5 (y=%v)", y0, y5)
	}

	empty := LayerDiagram(nil, LayerDiagramOptions{NumLayers: 2})
	wellFormed(t, empty)
	if strings.Contains(empty, "dropped by AdapterDrop") || !strings.Contains(empty, "no adapters") {
		t.Error("empty diagram wrong")
	}
	mam := []LayerSite{{Layer: 0, Site: "prefix", Method: "prefix"}, {Layer: 0, Site: "ffn", Method: "parallel"}, {Site: "embeddings", Method: "prompt"},
		{Layer: 1, Site: "query", Method: "lora", Label: "r=8"}, {Layer: 1, Site: "value", Method: "lora", Label: "r=8"}, {Layer: 1, Site: "ffn", Method: "houlsby"}, {Layer: 1, Site: "ffn", Method: "fusion"}}
	both := LayerDiagrams([]string{"A", "B"}, [][]LayerSite{sites, mam}, LayerDiagramOptions{})
	wellFormed(t, both)
	if strings.Count(both, "<svg") != 2 || strings.Count(both, "Layer 5") != 2 {
		t.Error("side-by-side diagrams should share the layer count")
	}
}

// labelY finds the y coordinate of the <text> holding label.
func labelY(t *testing.T, s, label string) string {
	t.Helper()
	i := strings.Index(s, ">"+label+"</text>")
	if i < 0 {
		t.Fatalf("no label %q", label)
	}
	j := strings.LastIndex(s[:i], `y="`)
	y := s[j+3:]
	return y[:strings.Index(y, `"`)]
}

func TestTable(t *testing.T) {
	s := Table([]string{"Method", "Acc", "#Param"}, [][]string{
		{"houlsby <2019>", "0.931", "1,024"},
		{"lora & co", "95.2%", "+512"},
		{"short"},
	}, TableOptions{Caption: "Results <test>", HighlightRows: []int{1}})
	wellFormed(t, s)
	noScript(t, s)
	if strings.Count(s, "<tr") != 4 || strings.Count(s, "<td") != 9 {
		t.Errorf("rows/cells wrong: %s", s)
	}
	for _, want := range []string{"houlsby &lt;2019&gt;", "lora &amp; co", "Results &lt;test&gt;", "background:#fff4cc"} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %q", want)
		}
	}
	if strings.Count(s, "text-align:right") != 8 { // 2 numeric columns x (header + 3 rows)
		t.Errorf("numeric columns not right-aligned: %d", strings.Count(s, "text-align:right"))
	}
	wellFormed(t, Table(nil, nil, TableOptions{}))
}

func TestBarChart(t *testing.T) {
	s := BarChart([]Bar{{"houlsby", 0.93}, {"lora <r=8>", 0.95}, {"broken", math.NaN()}, {"neg", -0.1}},
		BarChartOptions{Title: "Accuracy & baseline", XLabel: "accuracy", Baseline: ptr(0.62), BaselineLabel: "majority"})
	wellFormed(t, s)
	noScript(t, s)
	if n := strings.Count(s, `class="bar"`); n != 3 {
		t.Errorf("%d bars, want 3", n)
	}
	for _, want := range []string{`class="baseline"`, "majority 0.62", "lora &lt;r=8&gt;", "Accuracy &amp; baseline", "n/a"} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %q", want)
		}
	}
	for _, bars := range [][]Bar{nil, {{"zero", 0}}, {{"huge", 1e18}, {"small", 1}}, {{"a", -5}, {"b", -1}}} {
		wellFormed(t, BarChart(bars, BarChartOptions{}))
	}
}

func TestProgressText(t *testing.T) {
	var buf bytes.Buffer
	clock := time.Unix(1000, 0)
	p := NewProgress(100, "train <houlsby>")
	p.out, p.notebook = &buf, false
	p.now = func() time.Time { return clock }
	p.start = clock

	clock = clock.Add(time.Second)
	p.Update(10, map[string]float64{"loss": 0.5, "acc": 0.75})
	clock = clock.Add(10 * time.Millisecond)
	p.Update(11, nil) // rate-limited: not drawn
	clock = clock.Add(time.Second)
	p.Update(20, map[string]float64{"loss": 0.25})
	clock = clock.Add(8 * time.Second)
	p.Update(100, map[string]float64{"loss": 0.125}) // last step always drawn
	p.Done()
	p.Update(5, nil) // after Done: ignored

	out := buf.String()
	frames := strings.Split(strings.TrimSuffix(out, "\n"), "\r")[1:]
	if len(frames) != 4 {
		t.Fatalf("%d frames, want 4: %q", len(frames), out)
	}
	if !strings.HasSuffix(out, "\n") || strings.Count(out, "\n") != 1 {
		t.Errorf("Done should end the line once: %q", out)
	}
	f0 := frames[0]
	for _, want := range []string{"train <houlsby>", "10/100", " 10%", "10.0 it/s", "ETA 0:09", "acc=0.7500", "loss=0.5000", "[##..."} {
		if !strings.Contains(f0, want) {
			t.Errorf("frame %q lacks %q", f0, want)
		}
	}
	if strings.Contains(out, "11/100") {
		t.Error("rate limiting did not skip step 11")
	}
	last := frames[3]
	for _, want := range []string{"100/100", "100%", "ETA 0:00", "loss=0.1250", "elapsed 0:10"} {
		if !strings.Contains(last, want) {
			t.Errorf("final frame %q lacks %q", last, want)
		}
	}
	h := p.HTML()
	wellFormed(t, h)
	noScript(t, h)
	if !strings.Contains(h, "train &lt;houlsby&gt;") || !strings.Contains(h, "width:100.0%") {
		t.Errorf("HTML: %s", h)
	}

	// Unknown total: no bar, no ETA.
	q := NewProgress(0, "")
	q.out, q.notebook = &buf, false
	q.Update(3, nil)
	if txt := q.Text(); strings.Contains(txt, "[") || strings.Contains(txt, "ETA") {
		t.Errorf("unknown total text: %q", txt)
	}
	wellFormed(t, q.HTML())
}

func TestSaveAndStack(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.svg")
	svg := LineChart([]Series{{Name: "a", Y: []float64{1, 2}}}, LineChartOptions{})
	if err := SaveSVG(path, svg); err != nil {
		t.Fatal(err)
	}
	if err := SaveSVG(path, svg); err != nil { // overwrite
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != svg {
		t.Fatalf("read back: %v", err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("temporary files left behind: %v", ents)
	}
	if err := SaveSVG(filepath.Join(dir, "missing", "x.svg"), svg); err == nil {
		t.Error("expected error for a missing directory")
	}
	st := HStack(svg, Table([]string{"a"}, [][]string{{"1"}}, TableOptions{}))
	wellFormed(t, st)
	wellFormed(t, Page("page & title", st))
	Display(svg) // outside a notebook: must be a silent no-op
}

// Two charts on one page must not share clip-path/pattern ids.
func TestUniqueIDs(t *testing.T) {
	a := LineChart([]Series{{Name: "a", Y: []float64{1, 2}}}, LineChartOptions{})
	b := LineChart([]Series{{Name: "b", Y: []float64{1, 3}}}, LineChartOptions{})
	id := func(s string) string {
		i := strings.Index(s, `id="`)
		s = s[i+4:]
		return s[:strings.Index(s, `"`)]
	}
	if id(a) == id(b) || strings.Contains(a, idPlaceholder) {
		t.Errorf("ids: %q %q", id(a), id(b))
	}
	if a != LineChart([]Series{{Name: "a", Y: []float64{1, 2}}}, LineChartOptions{}) {
		t.Error("rendering is not deterministic")
	}
}
