package estimate

import "testing"

// XLA's fit has a negative overhead; a model of a few megabytes must still
// get a positive peak, at least its resident state.
func TestPeakNeverBelowResidentState(t *testing.T) {
	u := MemoryUse{Weights: 5 << 20, Gradients: 1 << 20, Optimizer: 2 << 20, Activations: 1 << 20}
	if got, floor := XLAMemory.Peak(u), u.Weights+u.Gradients+u.Optimizer; got < floor {
		t.Fatalf("XLA peak of a small model %d < its resident state %d", got, floor)
	}
}
