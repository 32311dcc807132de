package widgets

import (
	"math"
	"strconv"
	"strings"
)

// NiceTicks returns about target tick values covering [lo, hi] whose step is
// 1, 2 or 5 times a power of ten. The first tick is <= lo and the last >= hi,
// so the caller can use them as the axis range. Degenerate ranges are widened;
// non-finite inputs give nil.
func NiceTicks(lo, hi float64, target int) []float64 {
	if !finite(lo) || !finite(hi) {
		return nil
	}
	if lo > hi {
		lo, hi = hi, lo
	}
	if target < 2 {
		target = 2
	}
	if hi == lo {
		d := math.Abs(lo) * 0.1
		if d == 0 {
			d = 1
		}
		lo, hi = lo-d, hi+d
	}
	// Among the 1-2-5 steps around the raw step, take the one whose tick
	// count is closest to target (ties: fewer ticks).
	base := niceStep((hi - lo) / float64(target-1))
	if base == 0 || !finite(base) {
		return []float64{lo, hi}
	}
	step, bestDiff := base, math.Inf(1)
	for _, c := range []float64{base / 2.5, base / 2, base} {
		if !isOneTwoFive(c) {
			continue
		}
		cnt := math.Ceil(hi/c-1e-9) - math.Floor(lo/c+1e-9) + 1
		if d := math.Abs(cnt - float64(target)); d < bestDiff {
			step, bestDiff = c, d
		}
	}
	start := math.Floor(lo/step+1e-9) * step
	end := math.Ceil(hi/step-1e-9) * step
	n := int(math.Round((end-start)/step)) + 1
	if n > 1000 { // guards against absurd ranges from huge values
		n = 1000
	}
	ticks := make([]float64, 0, n)
	for i := 0; i < n; i++ {
		// Multiply rather than accumulate, and round, so 0.1+0.2 noise
		// does not leak into labels.
		t := start + float64(i)*step
		ticks = append(ticks, roundTo(t, step))
	}
	return ticks
}

// isOneTwoFive reports whether step is 1, 2 or 5 times a power of ten.
func isOneTwoFive(step float64) bool {
	p := math.Pow(10, math.Floor(math.Log10(step)+1e-9))
	m := step / p
	for _, n := range []float64{1, 2, 5, 10} {
		if math.Abs(m-n) < 1e-6 {
			return true
		}
	}
	return false
}

// niceStep rounds raw up to the nearest 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 || !finite(raw) {
		return 0
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	m := raw / p
	switch {
	case m <= 1+1e-9:
		m = 1
	case m <= 2+1e-9:
		m = 2
	case m <= 5+1e-9:
		m = 5
	default:
		m = 10
	}
	return m * p
}

func roundTo(v, step float64) float64 {
	d := decimals(step)
	if d > 15 {
		return v
	}
	p := math.Pow(10, float64(d))
	r := math.Round(v*p) / p
	if r == 0 {
		r = 0 // normalise -0
	}
	return r
}

// decimals is how many fractional digits a step of this size needs.
func decimals(step float64) int {
	if step <= 0 || !finite(step) {
		return 0
	}
	d := int(math.Ceil(-math.Log10(step) - 1e-9))
	if d < 0 {
		return 0
	}
	return d
}

// LogTicks returns powers of ten covering [lo, hi] (both > 0). When the range
// spans less than two decades it adds the 2 and 5 multiples so the axis is
// not left with one or two labels.
func LogTicks(lo, hi float64) []float64 {
	if !(lo > 0) || !(hi > 0) || !finite(lo) || !finite(hi) {
		return nil
	}
	if lo > hi {
		lo, hi = hi, lo
	}
	a := math.Floor(math.Log10(lo) + 1e-9)
	b := math.Ceil(math.Log10(hi) - 1e-9)
	if b == a {
		b = a + 1
	}
	mults := []float64{1}
	if b-a < 2 {
		mults = []float64{1, 2, 5}
	}
	var ticks []float64
	for e := a; e <= b; e++ {
		for _, m := range mults {
			t := m * math.Pow(10, e)
			if e == b && m > 1 {
				break
			}
			ticks = append(ticks, t)
		}
	}
	// Trim multiples outside the data, keeping one tick beyond each end.
	for len(ticks) > 2 && ticks[1] <= lo {
		ticks = ticks[1:]
	}
	for len(ticks) > 2 && ticks[len(ticks)-2] >= hi {
		ticks = ticks[:len(ticks)-1]
	}
	return ticks
}

// formatTick renders a tick value with just enough digits for the given step;
// very large or very small magnitudes use compact exponent notation.
func formatTick(v, step float64) string {
	a := math.Abs(v)
	if v == 0 && step < 1e-4 || v == 0 && step >= 1e6 {
		return "0"
	}
	if a >= 1e6 || (a < 1e-4 && a > 0) {
		s := strconv.FormatFloat(v, 'g', 3, 64)
		s = strings.Replace(s, "e+0", "e", 1)
		s = strings.Replace(s, "e+", "e", 1)
		s = strings.Replace(s, "e-0", "e-", 1)
		return s
	}
	return strconv.FormatFloat(v, 'f', decimals(step), 64)
}

// formatValue renders a data value for labels and tooltips: up to four
// significant digits.
func formatValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "∞"
	case math.IsInf(v, -1):
		return "-∞"
	}
	a := math.Abs(v)
	if a != 0 && (a >= 1e6 || a < 1e-3) {
		return formatTick(v, 0)
	}
	s := strconv.FormatFloat(v, 'g', 4, 64)
	if strings.ContainsAny(s, "e") {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return s
}
