package estimate

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestFitCurveRecoversPowerLaw(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	a, b, c := 0.92, 1.5, 0.6
	var pts []CurvePoint
	for _, n := range []float64{25, 50, 100, 200, 400, 800} {
		pts = append(pts, CurvePoint{N: n, Value: a - b*math.Pow(n, -c) + 0.002*rng.NormFloat64()})
	}
	f, err := FitCurve(pts)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(f.A-a) > 0.02 || math.Abs(f.C-c) > 0.15 {
		t.Errorf("fit a=%.4f b=%.4f c=%.4f, want %.2f %.2f %.2f", f.A, f.B, f.C, a, b, c)
	}
	v, lo, hi := f.At(6400)
	want := a - b*math.Pow(6400, -c)
	if math.Abs(v-want) > 0.02 || lo > v || hi < v {
		t.Errorf("at 6400: %.4f [%.4f, %.4f], true %.4f", v, lo, hi, want)
	}
	// The band widens away from the data.
	_, l1, h1 := f.At(400)
	_, l2, h2 := f.At(100000)
	if h2-l2 <= h1-l1 {
		t.Errorf("band at 1e5 (%.4f) not wider than at 400 (%.4f)", h2-l2, h1-l1)
	}
	// Doubling past StopsPaying gains at most the given amount.
	n := f.StopsPaying(0.005)
	g1, _, _ := f.At(n)
	g2, _, _ := f.At(2 * n)
	if math.Abs((g2-g1)-0.005) > 1e-6 {
		t.Errorf("doubling at n=%.0f gains %.5f, want 0.005", n, g2-g1)
	}
	cb := f.Band(pts, 6400, 20, 0.005)
	if len(cb.N) != 20 || cb.N[0] != 25 || math.Abs(cb.N[19]-6400) > 1e-6 {
		t.Errorf("band samples %v", cb.N)
	}
	t.Log(cb)
}

func TestFitCurveWeights(t *testing.T) {
	// An outlier with a tiny weight barely moves the fit.
	var pts []CurvePoint
	for _, n := range []float64{10, 20, 40, 80, 160} {
		pts = append(pts, CurvePoint{N: n, Value: 0.9 - math.Pow(n, -0.5), Weight: 1})
	}
	pts = append(pts, CurvePoint{N: 320, Value: 0.2, Weight: 1e-9})
	f, err := FitCurve(pts)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(f.A-0.9) > 1e-3 || math.Abs(f.C-0.5) > 1e-2 {
		t.Errorf("down-weighted outlier moved the fit: a=%.4f c=%.4f", f.A, f.C)
	}
	if _, err := FitCurve(pts[:3]); err == nil {
		t.Error("3 points accepted")
	}
}

func TestFitCurveBoundedAsymptote(t *testing.T) {
	// Noisy, nearly flat accuracies: the free fit's asymptote runs away; the
	// bounded one stays at most 1 and still passes near the points.
	pts := []CurvePoint{{N: 50, Value: 0.66}, {N: 100, Value: 0.82}, {N: 200, Value: 0.79}, {N: 400, Value: 0.853}}
	f, err := FitCurveBounded(pts, 1)
	if err != nil {
		t.Fatal(err)
	}
	if f.A > 1 {
		t.Errorf("asymptote %g above the bound", f.A)
	}
	if v, _, _ := f.At(400); math.Abs(v-0.853) > 0.05 {
		t.Errorf("bounded fit at 400: %.3f, observed 0.853", v)
	}
}
