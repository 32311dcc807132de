package peft

import (
	"math"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/tensors"
)

func TestBottleneckIdentityInitReproducesBase(t *testing.T) {
	m := tinyModel(t)
	base := modelHidden(t, m)
	// "mam" init zeroes the up-projection: the adapter starts as the identity.
	if d := maxAbsDiff(base, tunedHidden(t, newTunedOne(t, m, "parallel", ParallelAdapter()))); d != 0 {
		t.Errorf("parallel: zero-initialised up-projection changed the output by %g", d)
	}
	for name, method := range map[string]Method{"houlsby": Houlsby(), "pfeiffer": Pfeiffer()} {
		if d := maxAbsDiff(base, tunedHidden(t, newTunedOne(t, m, name, method))); d == 0 {
			t.Errorf("%s: BERT-initialised adapter left the output unchanged", name)
		}
	}
}

func TestBottleneckParamCounts(t *testing.T) {
	cfg := tinyConfig()
	d := cfg.HiddenSize
	for _, tc := range []struct {
		name    string
		method  *Bottleneck
		modules int
		m       int
	}{
		{"pfeiffer", Pfeiffer(), cfg.NumLayers, d / 16},
		{"houlsby", Houlsby(), 2 * cfg.NumLayers, d / 16},
		{"parallel", ParallelAdapter(), cfg.NumLayers, d / 2},
	} {
		want := tc.modules * (2*tc.m*d + d + tc.m)
		if got := tc.method.NumParams(cfg); got != want {
			t.Errorf("%s: closed form %d, want %d", tc.name, got, want)
		}
		tu, err := NewTuned(tinyModel(t), NewSetup(tc.name, tc.method), ClassificationHead(2), 1)
		if err != nil {
			t.Fatal(err)
		}
		if got := tu.Counts().PerAdapter[tc.name]; got != want {
			t.Errorf("%s: live variables hold %d parameters, closed form says %d", tc.name, got, want)
		}
	}
}

// TestBottleneckInitStd checks that init_std sets the spread of the bert and
// houlsby initialisations (the down-projection's sample standard deviation)
// and that mam's, which has none, refuses it.
func TestBottleneckInitStd(t *testing.T) {
	m := tinyModel(t)
	for _, init := range []string{"bert", "houlsby"} {
		for _, std := range []float64{1e-4, 1e-1} {
			b := Houlsby()
			b.InitWeights, b.InitStd = init, std
			tu := newTunedOne(t, m, "a", b)
			v, err := tu.variableValue("/peft/a/layer_0_ffn/adapter_down", "weight")
			if err != nil {
				t.Fatal(err)
			}
			xs := tensors.MustCopyFlatData[float32](v)
			var sum, sq float64
			for _, x := range xs {
				sum += float64(x)
				sq += float64(x) * float64(x)
			}
			n := float64(len(xs))
			got := math.Sqrt(sq/n - (sum/n)*(sum/n))
			// A truncated normal at ±2σ has σ·0.88; the sample of a tiny model is small.
			if got < 0.6*std || got > 1.3*std {
				t.Errorf("%s init_std %g: down-projection std %g", init, std, got)
			}
		}
	}
	b := ParallelAdapter()
	b.InitStd = 0.1
	if err := b.Validate(tinyConfig()); err == nil {
		t.Error("init_std on mam's initialisation was accepted")
	}
}
