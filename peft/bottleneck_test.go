package peft

import "testing"

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
