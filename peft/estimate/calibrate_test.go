package estimate

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gopeft/gopeft/internal/peftest"
	"github.com/gopeft/gopeft/peft"
)

func TestKendallTau(t *testing.T) {
	for _, c := range []struct {
		x, y []float64
		want float64
	}{
		{[]float64{1, 2, 3, 4}, []float64{10, 20, 30, 40}, 1},
		{[]float64{1, 2, 3, 4}, []float64{4, 3, 2, 1}, -1},
		// scipy.stats.kendalltau([1,2,3,4,5],[3,1,2,5,4]) = 0.4; with a tie
		// in y, tau-b ([1,2,3,4],[1,1,2,3]) = 0.9128709...
		{[]float64{1, 2, 3, 4, 5}, []float64{3, 1, 2, 5, 4}, 0.4},
		{[]float64{1, 2, 3, 4}, []float64{1, 1, 2, 3}, 0.9128709291752769},
	} {
		if got := KendallTau(c.x, c.y); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("tau(%v, %v) = %g, want %g", c.x, c.y, got, c.want)
		}
	}
	if !math.IsNaN(KendallTau([]float64{1, 1}, []float64{1, 2})) {
		t.Error("tau of a constant sample is not NaN")
	}
}

// synthetic observations: accuracy = 0.2 + 0.8·probe + method offset + noise.
func syntheticObservations(n int) []Observation {
	rng := rand.New(rand.NewPCG(3, 3))
	methods := []string{"houlsby", "lora"}
	var obs []Observation
	for i := 0; i < n; i++ {
		probe := 0.5 + 0.45*rng.Float64()
		m := methods[i%2]
		off := 0.0
		if m == "lora" {
			off = 0.02
		}
		obs = append(obs, Observation{
			Config: Config{Task: []string{"a", "b", "c"}[i%3], Method: m},
			Scores: Scores{Probe: probe, LogME: -1 + probe + 0.05*rng.NormFloat64()},
			Actual: 0.2 + 0.8*probe + off + 0.005*rng.NormFloat64(),
		})
	}
	return obs
}

func TestFitAndLeaveOneOut(t *testing.T) {
	obs := syntheticObservations(30)
	inputs := append([]string{"probe"}, MethodInputs(obs)...)
	if len(inputs) != 2 || inputs[1] != "method:lora" {
		t.Fatalf("inputs %v, want probe and method:lora (houlsby the baseline)", inputs)
	}
	p, err := Fit(obs, inputs)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(p.Coef[1]-0.8) > 0.03 || math.Abs(p.Coef[2]-0.02) > 0.005 || p.Runs != 30 {
		t.Errorf("coefficients %v on %d runs, want about [0.2 0.8 0.02] on 30", p.Coef, p.Runs)
	}
	pr, err := p.Predict(Observation{Config: Config{Method: "lora"}, Scores: Scores{Probe: 0.7}})
	if err != nil {
		t.Fatal(err)
	}
	if want := 0.2 + 0.8*0.7 + 0.02; math.Abs(pr.Value-want) > 0.01 || pr.Low >= pr.Value || pr.High <= pr.Value {
		t.Errorf("prediction %v, want about %.3f inside its interval", pr, want)
	}
	loo, err := LeaveOneOut(obs, inputs)
	if err != nil {
		t.Fatal(err)
	}
	if loo.Tau < 0.9 || loo.Covered < 0.7 || len(loo.Points) != 30 || len(loo.PerTask) != 3 {
		t.Errorf("leave-one-out tau %.3f, coverage %.2f, %d points, %d tasks", loo.Tau, loo.Covered, len(loo.Points), len(loo.PerTask))
	}
	if _, err := Fit(obs[:3], inputs); err == nil {
		t.Error("3 runs fitted 3 coefficients with an interval")
	}
	if _, err := Fit(obs, []string{"accuracy"}); err == nil {
		t.Error("an unknown input accepted")
	}
}

func TestStudentT95(t *testing.T) {
	// Exact 0.95 quantiles: df 5 2.015048, df 10 1.812461, df 30 1.697261.
	for df, want := range map[int]float64{5: 2.015048, 10: 1.812461, 30: 1.697261} {
		if got := studentT95(df); math.Abs(got-want)/want > 0.003 {
			t.Errorf("t(0.95, %d) = %.6f, want %.6f", df, got, want)
		}
	}
}

func TestFitBackendMemoryRecoversConstants(t *testing.T) {
	cfg := peftest.TinyConfig()
	truth := BackendMemory{Name: "x", Overhead: 30 << 20, WeightCopies: 2, StateFactor: 1.5, ActivationFactor: 1.2, DTypeBytes: 4}
	var pts []MemoryPoint
	for _, m := range []peft.Method{peft.Houlsby(), peft.DefaultLoRA(), &peft.FullFinetune{}} {
		for _, b := range []int{2, 8, 32} {
			s := peft.NewSetup("a", m)
			pred := PredictMemory(cfg, s, b, 16, truth)
			pts = append(pts, MemoryPoint{Use: pred.MemoryUse, Peak: pred.Peak})
		}
	}
	got, err := FitBackendMemory("x", 2, pts)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(float64(got.Overhead-truth.Overhead)) > 1e4 || math.Abs(got.StateFactor-1.5) > 1e-3 || math.Abs(got.ActivationFactor-1.2) > 1e-3 {
		t.Errorf("fitted %+v, want %+v", got, truth)
	}
}

func TestMemoryFullFinetuningKeepsProjectionInputs(t *testing.T) {
	cfg := peftest.TinyConfig()
	full := Memory(cfg, peft.NewSetup("f", &peft.FullFinetune{}), 4, 16, 4)
	bitfit := Memory(cfg, peft.NewSetup("b", peft.DefaultBitFit()), 4, 16, 4)
	H, I := int64(cfg.HiddenSize), int64(cfg.IntermediateSize)
	if d := full.Activations - bitfit.Activations; d != 4*int64(cfg.NumLayers)*4*16*(3*H+I) {
		t.Errorf("full fine-tuning keeps %d activation bytes more than BitFit, want the inputs of 4 projections", d)
	}
	if full.Trainable <= bitfit.Trainable || full.BackwardLayers != cfg.NumLayers {
		t.Errorf("full: trainable %d, %d backward layers", full.Trainable, full.BackwardLayers)
	}
	// MaxBatch is the largest batch under the limit.
	s := peft.NewSetup("h", peft.Houlsby())
	limit := PredictMemory(cfg, s, 37, 16, BLASMemory).Peak
	if got := MaxBatch(cfg, s, 16, BLASMemory, limit); got != 37 {
		t.Errorf("MaxBatch at the peak of batch 37 = %d", got)
	}
	ms := MemoryCurve(cfg, s, 16, []int{1, 2, 4}, BLASMemory, limit)
	if ms.MaxBatch != 37 || len(ms.Predicted) != 3 || ms.Predicted[2] <= ms.Predicted[0] {
		t.Errorf("memory series %+v", ms)
	}
}
