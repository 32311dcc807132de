package estimate

import (
	"fmt"
	"strings"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/hf"
)

// BackendMemory is how a backend's peak memory relates to the tensors
// Memory counts, measured once per backend (FitBackendMemory, BENCHMARKS.md):
//
//	peak = Overhead + WeightCopies·Weights + StateFactor·(Gradients + Optimizer)
//	       + ActivationFactor·(Activations + Workspace)
type BackendMemory struct {
	Name string `json:"name"`
	// Overhead is what the process holds besides these tensors: the Go
	// runtime, the binary, thread stacks, BLAS buffers (CPU); for XLA's
	// compiled statistics the program's code and small buffers.
	Overhead int64 `json:"overhead"`
	// WeightCopies is how many copies of the weights are resident, fixed
	// by how GoPEFT holds them rather than fitted: on the CPU the Model's
	// and the Tuned's clone (2); XLA's statistics count the step's
	// arguments, one copy (1).
	WeightCopies float64 `json:"weight_copies"`
	// StateFactor scales gradients and AdamW's moments; ActivationFactor
	// the counted activations and workspace, to what the backend's buffer
	// planning (and on the CPU, Go's garbage collector) keeps at its peak.
	StateFactor      float64 `json:"state_factor"`
	ActivationFactor float64 `json:"activation_factor"`
	DTypeBytes       int     `json:"dtype_bytes"`
	Source           string  `json:"source"` // where the constants were measured
}

// MemoryPrediction is a predicted peak with the count it comes from.
type MemoryPrediction struct {
	MemoryUse
	Peak    int64         `json:"peak"`
	Backend BackendMemory `json:"backend"`
	Basis   string        `json:"basis"`
}

func (p MemoryPrediction) String() string {
	return fmt.Sprintf("peak %.1f MiB on %s", float64(p.Peak)/(1<<20), p.Backend.Name)
}

// Measured backend constants. blas: FitBackendMemory on 18 points (batch 4
// and 32 × seq 32, 64, 128 × full, LoRA, Houlsby) of `gopeft estimate sweep
// --model models/gopeft-small` on the 2-core CPU machine (peak RSS, VmHWM,
// one child process a point); the other 18 points (batch 8, 16) are its
// held-out check (BENCHMARKS.md). go: not measured; blas's constants are
// used. xla: FitBackendMemory on the 13 batch-8 and batch-64 points of
// scripts/estimate/gpu_memory_sweep.sh on an H200 (BERT-base shape, XLA's
// compiled memory statistics; 24 points measured in all), worst error 7.1%
// on those and 9.0% on the held-out batches 16 and 32 (BENCHMARKS.md). The
// negative overhead is the fit absorbing XLA reusing buffers across the
// counted tensors, not memory given back.
var (
	BLASMemory = BackendMemory{Name: "blas", Overhead: 29091990, WeightCopies: 2, StateFactor: 1.695, ActivationFactor: 1.213, DTypeBytes: 4,
		Source: "fitted on 18 CPU sweep points of the shipped encoder, 2026-12-01"}
	GoMemory = BackendMemory{Name: "go", Overhead: 29091990, WeightCopies: 2, StateFactor: 1.695, ActivationFactor: 1.213, DTypeBytes: 4,
		Source: "blas's constants (the pure-Go backend was not measured)"}
	XLAMemory = BackendMemory{Name: "xla", Overhead: -59197669, WeightCopies: 1, StateFactor: 1.624, ActivationFactor: 0.656, DTypeBytes: 4,
		Source: "fitted on 13 H200 sweep points of a BERT-base shape, 2026-12-01"}
)

// ActiveBackend returns the constants of the backend peft.Backend uses.
func ActiveBackend() BackendMemory {
	c := peft.BackendChoice()
	switch {
	case c.IsXLA():
		return XLAMemory
	case c.Config == "go" || strings.HasPrefix(c.Config, "go:"):
		return GoMemory
	}
	return BLASMemory
}

// PredictMemory predicts the peak memory of training setup s on a model of
// config cfg, batch × seqLen tokens, on backend bm.
func PredictMemory(cfg hf.Config, s *peft.Setup, batch, seqLen int, bm BackendMemory) MemoryPrediction {
	dt := bm.DTypeBytes
	if dt == 0 {
		dt = 4
	}
	u := Memory(cfg, s, batch, seqLen, dt)
	return MemoryPrediction{MemoryUse: u, Peak: bm.Peak(u), Backend: bm, Basis: fmt.Sprintf("%s constants: %s", bm.Name, bm.Source)}
}

// Peak is the predicted peak of the counted tensors u on this backend.
// It is never below the weights, gradients and optimizer state, which are
// all resident at once: XLA's fitted overhead is negative (see XLAMemory),
// which holds over the BERT-base shapes it was fitted on but would predict
// a negative peak for a model of a few megabytes.
func (bm BackendMemory) Peak(u MemoryUse) int64 {
	fit := bm.Overhead + int64(bm.WeightCopies*float64(u.Weights)+bm.StateFactor*float64(u.Gradients+u.Optimizer)+
		bm.ActivationFactor*float64(u.Activations+u.Workspace))
	return max(fit, u.Weights+u.Gradients+u.Optimizer)
}

// BackendNamed returns the measured constants of a backend by name (blas,
// go, xla), for re-pricing counts recorded under older constants.
func BackendNamed(name string) (BackendMemory, bool) {
	for _, bm := range []BackendMemory{BLASMemory, GoMemory, XLAMemory} {
		if bm.Name == name {
			return bm, true
		}
	}
	return BackendMemory{}, false
}

// MemoryPoint is one measured peak beside the tensors counted for it.
type MemoryPoint struct {
	Use  MemoryUse
	Peak int64
}

// FitBackendMemory fits Overhead, StateFactor and ActivationFactor (with
// WeightCopies given) to measured peaks by least squares on relative
// errors, so small and large points count alike.
func FitBackendMemory(name string, weightCopies float64, points []MemoryPoint) (BackendMemory, error) {
	if len(points) < 4 {
		return BackendMemory{}, fmt.Errorf("%d points cannot fit 3 constants with a check: measure at least 4", len(points))
	}
	a := make([][]float64, 3)
	for i := range a {
		a[i] = make([]float64, 3)
	}
	b := [][]float64{{0}, {0}, {0}}
	for _, p := range points {
		if p.Peak <= 0 {
			return BackendMemory{}, fmt.Errorf("a measured peak of %d bytes: every point needs a measurement", p.Peak)
		}
		w := 1 / float64(p.Peak)
		row := []float64{w, w * float64(p.Use.Gradients+p.Use.Optimizer), w * float64(p.Use.Activations+p.Use.Workspace)}
		target := w * (float64(p.Peak) - weightCopies*float64(p.Use.Weights))
		for i := range row {
			for j := range row {
				a[i][j] += row[i] * row[j]
			}
			b[i][0] += row[i] * target
		}
	}
	x, err := solveSPD(a, b)
	if err != nil {
		return BackendMemory{}, fmt.Errorf("the points do not separate state from activations (vary the method and the batch): %w", err)
	}
	return BackendMemory{Name: name, Overhead: int64(x[0][0]), WeightCopies: weightCopies, StateFactor: x[1][0], ActivationFactor: x[2][0], DTypeBytes: 4,
		Source: fmt.Sprintf("fitted on %d measured points", len(points))}, nil
}
