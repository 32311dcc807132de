package estimate_test

import (
	"fmt"
	"math"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/estimate"
	"github.com/gopeft/gopeft/peft/hf"
)

// Training memory of a Houlsby adapter on BERT-base, batch 32 × 128 tokens,
// float32. With AdapterDrop on the lowest 6 layers, only the upper 6 keep
// activations for the backward pass.
func ExampleMemory() {
	cfg, _ := hf.DefaultConfig(hf.BERT)
	setup := peft.NewSetup("houlsby", peft.Houlsby())
	fmt.Println(estimate.Memory(cfg, setup, 32, 128, 4))
	setup.Drop = peft.StaticDrop(6)
	fmt.Println(estimate.Memory(cfg, setup, 32, 128, 4).BackwardLayers)
	// Output:
	// total 4186.0 MiB = weights 426.7 MiB + gradients 9.1 MiB + optimizer 18.2 MiB + activations 3636.0 MiB (12 layers) + workspace 96.0 MiB
	// 6
}

// LogME, H-score and the probe on features that separate two classes
// well; LEEP on source-label distributions that lean on the class.
func ExampleLogME() {
	features := [][]float64{{2.0, 0.1}, {2.2, -0.1}, {1.9, 0.3}, {2.1, 0.0}, {-2.0, 0.2}, {-1.8, -0.2}, {-2.1, 0.1}, {-2.2, -0.1}}
	labels := []int{0, 0, 0, 0, 1, 1, 1, 1}
	logme, _ := estimate.LogME(features, labels)
	hs, _ := estimate.HScore(features, labels)
	acc, _ := estimate.ProbeAccuracy(features, labels, estimate.ProbeOptions{Folds: 4})
	probs := [][]float64{{0.9, 0.1}, {0.8, 0.2}, {0.7, 0.3}, {0.9, 0.1}, {0.2, 0.8}, {0.1, 0.9}, {0.3, 0.7}, {0.2, 0.8}}
	leep, _ := estimate.LEEP(probs, labels)
	fmt.Printf("LogME %.3f, H-score %.3f, probe %.2f, LEEP %.3f\n", logme, hs, acc, leep)
	// Output:
	// LogME -0.917, H-score 0.997, probe 1.00, LEEP -0.366
}

// A learning curve from four exact points, extrapolated to 3200 examples
// (no noise, so no band).
func ExampleFitCurveBounded() {
	var pts []estimate.CurvePoint
	for _, n := range []float64{100, 200, 400, 800} {
		pts = append(pts, estimate.CurvePoint{N: n, Value: 0.95 - 0.9*math.Pow(n, -0.4)})
	}
	fit, _ := estimate.FitCurveBounded(pts, 1)
	fmt.Printf("a %.3f b %.3f c %.3f\n", fit.A, fit.B, fit.C)
	fmt.Println(fit.Band(pts, 3200, 10, 0.01))
	// Output:
	// a 0.950 b 0.900 c 0.400
	// at n = 3200: 0.914 (90% band 0.914-0.914); asymptote 0.950; more data stops paying (doubling gains < 0.01) at about n = 2217
}
