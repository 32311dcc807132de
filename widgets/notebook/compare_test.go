package notebook

import (
	"math"
	"strings"
	"testing"

	"github.com/gopeft/gopeft/peft/compare"
)

func TestCompareTableHighlightsBest(t *testing.T) {
	res := &compare.Result{Task: "spam", Model: "m", Metric: "accuracy", Baseline: 0.7, Rows: []compare.Row{
		{Method: "lora", TrainableParams: 10, TrainablePercent: 1, Dev: 0.8, Test: 0.81},
		{Method: "full", TrainableParams: 1000, TrainablePercent: 100, Dev: 0.9, Test: 0.93, PeakRSSBytes: 64 << 20},
		{Method: "ia3", Error: "boom", Dev: math.NaN(), Test: math.NaN()},
	}}
	html := CompareTable(res)
	for _, want := range []string{"lora", "full", "error: boom", "0.9300", ">64<"} {
		if !strings.Contains(html, want) {
			t.Errorf("table lacks %q:\n%s", want, html)
		}
	}
	// The highlighted row is full's (0.93), drawn bold.
	i := strings.Index(html, "full")
	if j := strings.LastIndex(html[:i], "<tr"); j < 0 || !strings.Contains(html[j:i], "font-weight:600") {
		t.Errorf("full's row is not highlighted:\n%s", html)
	}
	if svg := CompareBars(res); !strings.Contains(svg, "full (100.00%)") {
		t.Errorf("bars lack full's label:\n%s", svg)
	}
}
