package estimate

import (
	"fmt"
	"math"
)

// CurvePoint is one observation of a learning curve: the metric Value
// (accuracy, say) after N examples or steps. Weight is its weight in the
// fit (0 means 1); give 1/variance where known, e.g. m/(v(1−v)) for an
// accuracy measured on m examples.
type CurvePoint struct {
	N      float64 `json:"n"`
	Value  float64 `json:"value"`
	Weight float64 `json:"weight,omitempty"`
}

// CurveFit is the inverse power law y(n) = A − B·n^(−C) fitted by weighted
// least squares (the learning-curve model of, e.g., Hestness et al. 2017
// and Figueroa et al. 2012).
type CurveFit struct {
	A, B, C    float64
	Points     int
	ResidualSD float64 // weighted residual standard deviation (n − 3 degrees of freedom)
	cov        [3][3]float64
}

func (p CurvePoint) weight() float64 {
	if p.Weight == 0 {
		return 1
	}
	return p.Weight
}

// wlsAB solves the weighted least squares for A, B at a fixed C and
// returns them with the weighted sum of squared residuals.
func wlsAB(points []CurvePoint, c float64) (a, b, sse float64) {
	var sw, sx, sy, sxx, sxy float64
	for _, p := range points {
		w, x := p.weight(), -math.Pow(p.N, -c)
		sw, sx, sy, sxx, sxy = sw+w, sx+w*x, sy+w*p.Value, sxx+w*x*x, sxy+w*x*p.Value
	}
	det := sw*sxx - sx*sx
	if det == 0 {
		return math.NaN(), math.NaN(), math.Inf(1)
	}
	a = (sxx*sy - sx*sxy) / det
	b = (sw*sxy - sx*sy) / det
	for _, p := range points {
		r := a - b*math.Pow(p.N, -c) - p.Value
		sse += p.weight() * r * r
	}
	return a, b, sse
}

// wlsB solves for B at fixed A and C (A − y = B·n^(−C), weighted).
func wlsB(points []CurvePoint, a, c float64) (b, sse float64) {
	var sxx, sxy float64
	for _, p := range points {
		w, x := p.weight(), math.Pow(p.N, -c)
		sxx, sxy = sxx+w*x*x, sxy+w*x*(a-p.Value)
	}
	b = sxy / sxx
	for _, p := range points {
		r := a - b*math.Pow(p.N, -c) - p.Value
		sse += p.weight() * r * r
	}
	return b, sse
}

// FitCurve fits A − B·n^(−C) to at least 4 points with distinct N > 0.
// A and B are linear given C, so C is found by a log-spaced scan of
// [0.01, 4] refined by golden-section search, and A, B in closed form.
func FitCurve(points []CurvePoint) (*CurveFit, error) { return FitCurveBounded(points, math.Inf(1)) }

// FitCurveBounded is FitCurve with the asymptote A at most maxA (1 for an
// accuracy): few noisy points otherwise fit a nearly flat power with an
// asymptote far above anything reachable. When the free fit's A exceeds
// maxA, A is fixed at maxA and B, C refitted.
func FitCurveBounded(points []CurvePoint, maxA float64) (*CurveFit, error) {
	distinct := map[float64]bool{}
	for _, p := range points {
		if p.N <= 0 || math.IsNaN(p.Value) || p.Weight < 0 {
			return nil, fmt.Errorf("curve point %+v: n must be positive, the value a number and the weight not negative", p)
		}
		distinct[p.N] = true
	}
	if len(distinct) < 4 {
		return nil, fmt.Errorf("%d distinct sizes: fitting a − b·n^(−c) with an uncertainty band needs at least 4", len(distinct))
	}
	bounded := false
	sse := func(c float64) float64 {
		if bounded {
			_, s := wlsB(points, maxA, c)
			return s
		}
		_, _, s := wlsAB(points, c)
		return s
	}
	c, err := minimiseC(sse)
	if err != nil {
		return nil, err
	}
	a, b, s := wlsAB(points, c)
	if a > maxA {
		bounded = true
		if c, err = minimiseC(sse); err != nil {
			return nil, err
		}
		a = maxA
		b, s = wlsB(points, a, c)
	}
	f := &CurveFit{A: a, B: b, C: c, Points: len(points), ResidualSD: math.Sqrt(s / float64(len(points)-3))}
	f.covariance(points)
	return f, nil
}

// minimiseC scans C over [0.01, 4] log-spaced and refines the best by
// golden-section search.
func minimiseC(sse func(float64) float64) (float64, error) {
	bestC, best := 0.0, math.Inf(1)
	lo, hi := math.Log(0.01), math.Log(4.0)
	const scan = 200
	for i := 0; i <= scan; i++ {
		c := math.Exp(lo + (hi-lo)*float64(i)/scan)
		if s := sse(c); s < best {
			bestC, best = c, s
		}
	}
	step := (hi - lo) / scan
	l, r := math.Log(bestC)-step, math.Log(bestC)+step
	phi := (math.Sqrt(5) - 1) / 2
	for range 100 {
		m1, m2 := r-phi*(r-l), l+phi*(r-l)
		if sse(math.Exp(m1)) < sse(math.Exp(m2)) {
			r = m2
		} else {
			l = m1
		}
	}
	if math.IsInf(best, 1) {
		return 0, fmt.Errorf("no power law fits these points")
	}
	return math.Exp((l + r) / 2), nil
}

// covariance sets the parameter covariance s²(JᵀWJ)⁻¹ from the Jacobian at
// the optimum (a bounded A is treated as free: the band stays honest-sized).
func (f *CurveFit) covariance(points []CurvePoint) {
	// Parameter covariance s²(JᵀWJ)⁻¹ from the Jacobian at the optimum.
	jtj := make([][]float64, 3)
	for i := range jtj {
		jtj[i] = make([]float64, 3)
	}
	for _, p := range points {
		g := f.grad(p.N)
		for i := range 3 {
			for j := range 3 {
				jtj[i][j] += p.weight() * g[i] * g[j]
			}
		}
	}
	eye := [][]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}
	if inv, err := solveSPD(jtj, eye); err == nil {
		for i := range 3 {
			for j := range 3 {
				f.cov[i][j] = f.ResidualSD * f.ResidualSD * inv[i][j]
			}
		}
	} else {
		for i := range 3 {
			f.cov[i][i] = math.Inf(1) // B ≈ 0 leaves C unidentified: no band to give
		}
	}
}

// grad is ∂y/∂(A, B, C) at n.
func (f *CurveFit) grad(n float64) [3]float64 {
	p := math.Pow(n, -f.C)
	return [3]float64{1, -p, f.B * p * math.Log(n)}
}

// At returns the fitted value at n and its 90% band (delta method on the
// parameter covariance, z = 1.645): the uncertainty of the curve, not of a
// single new measurement.
func (f *CurveFit) At(n float64) (value, low, high float64) {
	value = f.A - f.B*math.Pow(n, -f.C)
	g := f.grad(n)
	v := 0.0
	for i := range 3 {
		for j := range 3 {
			if g[i] != 0 && g[j] != 0 {
				v += g[i] * f.cov[i][j] * g[j]
			}
		}
	}
	half := 1.6448536269514722 * math.Sqrt(math.Max(v, 0))
	return value, value - half, value + half
}

// StopsPaying is the n beyond which doubling n gains less than gain (in
// the metric's units, e.g. 0.01 accuracy): B·n^(−C)·(1 − 2^(−C)) = gain.
// It is +Inf when the curve never flattens that much in a meaningful way
// (B <= 0: the curve does not rise).
func (f *CurveFit) StopsPaying(gain float64) float64 {
	if f.B <= 0 || gain <= 0 {
		return math.Inf(1)
	}
	return math.Pow(f.B*(1-math.Pow(2, -f.C))/gain, 1/f.C)
}

// CurveBand is what a widget draws: the observations, the fitted curve
// with its band out to a target n, the prediction there and where more
// data stops paying.
type CurveBand struct {
	Observed    []CurvePoint `json:"observed"`
	N           []float64    `json:"n"`
	Value       []float64    `json:"value"`
	Low         []float64    `json:"low"`
	High        []float64    `json:"high"`
	A, B, C     float64      `json:"-"`
	Target      float64      `json:"target_n"`
	Predicted   float64      `json:"predicted"`
	PredLow     float64      `json:"predicted_low"`
	PredHigh    float64      `json:"predicted_high"`
	Asymptote   float64      `json:"asymptote"`
	StopsPaying float64      `json:"stops_paying_at"` // doubling gains less than Gain from here on
	Gain        float64      `json:"gain_per_doubling"`
}

// Band samples the fitted curve at k log-spaced points from the smallest
// observed n to target, and predicts the metric at target.
func (f *CurveFit) Band(observed []CurvePoint, target float64, k int, gain float64) CurveBand {
	lo := math.Inf(1)
	for _, p := range observed {
		lo = math.Min(lo, p.N)
	}
	target = math.Max(target, lo)
	k = max(k, 2)
	cb := CurveBand{Observed: observed, A: f.A, B: f.B, C: f.C, Target: target, Asymptote: f.A, Gain: gain, StopsPaying: f.StopsPaying(gain)}
	for i := 0; i < k; i++ {
		n := math.Exp(math.Log(lo) + (math.Log(target)-math.Log(lo))*float64(i)/float64(k-1))
		switch i {
		case 0:
			n = lo
		case k - 1:
			n = target
		}
		v, l, h := f.At(n)
		cb.N, cb.Value, cb.Low, cb.High = append(cb.N, n), append(cb.Value, v), append(cb.Low, l), append(cb.High, h)
	}
	cb.Predicted, cb.PredLow, cb.PredHigh = f.At(target)
	return cb
}

// String says what the fit predicts, in a sentence.
func (cb CurveBand) String() string {
	s := fmt.Sprintf("at n = %.0f: %.3f (90%% band %.3f-%.3f); asymptote %.3f", cb.Target, cb.Predicted, cb.PredLow, cb.PredHigh, cb.Asymptote)
	switch {
	case cb.StopsPaying > 1e9 || math.IsInf(cb.StopsPaying, 1):
		s += fmt.Sprintf("; doubling keeps gaining %.3g or more past n = 1e9 (the fit sees no flattening)", cb.Gain)
	default:
		s += fmt.Sprintf("; more data stops paying (doubling gains < %.3g) at about n = %.0f", cb.Gain, cb.StopsPaying)
	}
	return s
}

// StepCurve turns a run's learning curve (train.Point's Step and DevAcc,
// NaN where dev was not evaluated) into curve points over steps.
func StepCurve(steps []int, devAcc []float64) []CurvePoint {
	var out []CurvePoint
	for i, s := range steps {
		if !math.IsNaN(devAcc[i]) && s > 0 {
			out = append(out, CurvePoint{N: float64(s), Value: devAcc[i]})
		}
	}
	return out
}
