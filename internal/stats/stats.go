// Package stats holds the statistics that both the estimators (peft/estimate)
// and the plots (widgets) compute, so that the two cannot disagree.
package stats

import "math"

// KendallTau is Kendall's rank correlation τ-b of the pairs (x[i], y[i]),
// ties corrected as in scipy.stats.kendalltau, in [-1, 1]; NaN with fewer
// than two pairs or when either side is constant. Extra values of the
// longer slice are ignored.
func KendallTau(x, y []float64) float64 {
	n := min(len(x), len(y))
	var conc, disc, tx, ty float64
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			dx, dy := x[i]-x[j], y[i]-y[j]
			switch {
			case dx == 0 && dy == 0:
			case dx == 0:
				tx++
			case dy == 0:
				ty++
			case (dx > 0) == (dy > 0):
				conc++
			default:
				disc++
			}
		}
	}
	den := math.Sqrt((conc + disc + tx) * (conc + disc + ty))
	if den == 0 {
		return math.NaN()
	}
	return (conc - disc) / den
}
