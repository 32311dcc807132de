package stats

import (
	"math"
	"testing"
)

// Values checked by hand (and against scipy.stats.kendalltau's tau-b).
func TestKendallTau(t *testing.T) {
	for _, c := range []struct {
		x, y []float64
		want float64
	}{
		{[]float64{1, 2, 3, 4}, []float64{1, 2, 3, 4}, 1},
		{[]float64{1, 2, 3, 4}, []float64{4, 3, 2, 1}, -1},
		{[]float64{1, 2, 3}, []float64{1, 3, 2}, 1.0 / 3},
		// y ties its last two: 2 concordant pairs, 1 tied in y, so tau-b = 2/sqrt(3·2).
		{[]float64{1, 2, 3}, []float64{1, 2, 2}, 2 / math.Sqrt(6)},
	} {
		if got := KendallTau(c.x, c.y); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("KendallTau(%v, %v) = %v, want %v", c.x, c.y, got, c.want)
		}
	}
	if !math.IsNaN(KendallTau([]float64{1}, []float64{2})) || !math.IsNaN(KendallTau([]float64{1, 2}, []float64{3, 3})) {
		t.Error("fewer than two pairs or a constant side must give NaN")
	}
}
