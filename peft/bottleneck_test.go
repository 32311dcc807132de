package peft

import "testing"

func TestBottleneckIdentityInitReproducesBase(t *testing.T) {
	m := tinyModel(t)
	base, _, err := m.Hidden(tinyBatch())
	if err != nil {
		t.Fatal(err)
	}
	for name, method := range map[string]Method{"parallel": ParallelAdapter(), "mam": SmallMAMAdapter()} {
		if name == "mam" {
			continue // prefix states are not the identity
		}
		tu, err := NewTuned(m, NewSetup(name, method), ClassificationHead(2), 3)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tu.Hidden(tinyBatch())
		if err != nil {
			t.Fatal(err)
		}
		if d := maxAbsDiff(flat(t, base), flat(t, got)); d != 0 {
			t.Errorf("%s: zero-initialised up-projection changed the output by %g", name, d)
		}
	}
	for name, method := range map[string]Method{"houlsby": Houlsby(), "pfeiffer": Pfeiffer()} {
		tu, err := NewTuned(m, NewSetup(name, method), ClassificationHead(2), 3)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tu.Hidden(tinyBatch())
		if err != nil {
			t.Fatal(err)
		}
		if d := maxAbsDiff(flat(t, base), flat(t, got)); d == 0 {
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
