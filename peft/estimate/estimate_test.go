package estimate

import (
	"runtime"
	"testing"

	"github.com/gopeft/gopeft/internal/peftest"
	"github.com/gopeft/gopeft/peft"
)

func TestEstimateMemoryClosedForms(t *testing.T) {
	cfg := peftest.TinyConfig()
	s := peft.NewSetup("p", peft.Pfeiffer())
	e := Memory(cfg, s, 8, 16, 4)
	d, L := int64(cfg.HiddenSize), int64(cfg.NumLayers)
	m := d / 16
	adapter := L * (2*m*d + m + d)
	head := d*d + d + 2*d + 2
	if e.Trainable != 4*(adapter+head) || e.Optimizer != 2*e.Trainable || e.Gradients != e.Trainable {
		t.Errorf("trainable %d optimizer %d, want %d and twice that", e.Trainable, e.Optimizer, 4*(adapter+head))
	}
	B, S, I, A := int64(8), int64(16), int64(cfg.IntermediateSize), int64(cfg.NumHeads)
	perLayer := B*S*(actHidden*d+actIntermediate*I) + actScores*B*A*S*S + B*S*(d+2*m)
	if e.Activations != 4*L*perLayer || e.BackwardLayers != int(L) {
		t.Errorf("activations %d over %d layers, want %d over %d", e.Activations, e.BackwardLayers, 4*L*perLayer, L)
	}
	if e.Total != e.Weights+e.Gradients+e.Optimizer+e.Activations+e.Workspace {
		t.Error("total is not the sum of its parts")
	}
	// bfloat16 halves everything.
	if h := Memory(cfg, s, 8, 16, 2); 2*h.Total != e.Total {
		t.Errorf("bf16 total %d, f32 %d", h.Total, e.Total)
	}
	t.Log(e)
}

func TestEstimateMemoryMonotone(t *testing.T) {
	cfg := peftest.TinyConfig()
	s := peft.NewSetup("h", peft.Houlsby())
	prev := int64(0)
	for _, b := range []int{1, 2, 4, 8, 16, 32} {
		e := Memory(cfg, s, b, 32, 4)
		if e.Total <= prev {
			t.Errorf("batch %d: total %d not above %d", b, e.Total, prev)
		}
		prev = e.Total
	}
	// Longer sequences cost more; dropping lower layers' adapters costs less.
	if Memory(cfg, s, 8, 32, 4).Activations <= Memory(cfg, s, 8, 16, 4).Activations {
		t.Error("longer sequences do not cost more")
	}
	dropped := peft.NewSetup("h", peft.Houlsby())
	dropped.Drop = peft.StaticDrop(1)
	if e := Memory(cfg, dropped, 8, 16, 4); e.BackwardLayers != cfg.NumLayers-1 || e.Activations >= Memory(cfg, s, 8, 16, 4).Activations {
		t.Errorf("AdapterDrop of 1 layer: %d backward layers, activations %d", e.BackwardLayers, e.Activations)
	} else if e.LayerActivations[0] != 0 || e.LayerActivations[1] == 0 || e.LayerActivations[1]*int64(cfg.NumLayers-1) != e.Activations {
		t.Errorf("AdapterDrop of 1 layer: per layer %v, total %d", e.LayerActivations, e.Activations)
	}
	robust := peft.NewSetup("h", peft.Houlsby())
	robust.Drop = peft.RobustDrop()
	if e := Memory(cfg, robust, 8, 16, 4); e.BackwardLayers != cfg.NumLayers {
		t.Errorf("robust AdapterDrop plans %d backward layers, want all %d", e.BackwardLayers, cfg.NumLayers)
	}
	// Prefix tuning widens attention.
	if Memory(cfg, peft.NewSetup("m", peft.SmallMAMAdapter()), 8, 16, 4).Activations <= Memory(cfg, peft.NewSetup("p", peft.ParallelAdapter()), 8, 16, 4).Activations {
		t.Error("a prefix does not widen attention's activations")
	}
}

// TestEstimateAgainstAllocation compares the activation estimate with the
// bytes the pure-Go backend allocates during one training step. Allocation
// is not peak memory (buffers are reused and freed), so the test only
// checks the order of magnitude and logs the numbers.
func TestEstimateAgainstAllocation(t *testing.T) {
	m, err := peft.NewModel(peftest.TinyConfig(), nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	s := peft.NewSetup("p", peft.Pfeiffer())
	tu, err := peft.NewTuned(m, s, peft.ClassificationHead(2), 1)
	if err != nil {
		t.Fatal(err)
	}
	st := tu.NewStepper(0)
	b := peft.Batch{IDs: peftest.TinyIDs(), Mask: peftest.TinyMask()}
	y := peft.Labels{Classes: []int32{0, 1}}
	if _, err := st.Step(b, y, 1e-3, 0); err != nil { // compile outside the measurement
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if _, err := st.Step(b, y, 1e-3, 0); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	alloc := int64(after.TotalAlloc - before.TotalAlloc)
	e := Memory(m.Config, s, len(b.IDs), len(b.IDs[0]), 4)
	t.Logf("one step allocated %d bytes; estimated activations %d, workspace %d", alloc, e.Activations, e.Workspace)
	if e.Activations > 10*alloc {
		t.Errorf("estimated activations %d exceed ten times all bytes allocated in a step (%d)", e.Activations, alloc)
	}
}

// Partial fine-tuning keeps activations only from its lowest trained layer
// up; full fine-tuning and the head alone bound it.
func TestEstimatePartialFinetuneLayers(t *testing.T) {
	cfg := peftest.TinyConfig()
	cfg.NumLayers = 4
	for _, c := range []struct {
		m    peft.Method
		want int
	}{{&peft.PartialFinetune{TopLayers: 1}, 1}, {&peft.PartialFinetune{TopLayers: 3}, 3}, {&peft.FullFinetune{}, 4}, {&peft.HeadOnly{}, 0}} {
		if e := Memory(cfg, peft.NewSetup("a", c.m), 8, 16, 4); e.BackwardLayers != c.want {
			t.Errorf("%s %+v: %d backward layers, want %d", c.m.Kind(), c.m, e.BackwardLayers, c.want)
		}
	}
}
