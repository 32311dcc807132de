package peft

import (
	"strings"
	"testing"
)

func TestIA3IdentityAtInit(t *testing.T) {
	m := tinyModel(t)
	tu := newTunedOne(t, m, "ia3", DefaultIA3())
	if d := maxAbsDiff(modelHidden(t, m), tunedHidden(t, tu)); d != 0 {
		t.Errorf("ones-initialised (IA)³ changed the output by %g", d)
	}
}

func TestIA3ParamCounts(t *testing.T) {
	cfg := tinyConfig()
	d, ff := cfg.HiddenSize, cfg.IntermediateSize
	for _, tc := range []struct {
		method *IA3
		want   int
	}{
		{DefaultIA3(), cfg.NumLayers * (d + d + ff)},
		{&IA3{}, cfg.NumLayers * (d + d + ff)}, // defaults
		{&IA3{TargetModules: []string{"query", "output.dense"}, FeedforwardModules: []string{}}, cfg.NumLayers * (d + d)},
		{&IA3{TargetModules: []string{"ffn_in"}, LayersToTransform: []int{0}}, ff},
	} {
		if got := tc.method.NumParams(cfg); got != tc.want {
			t.Errorf("%+v: closed form %d, want %d", tc.method, got, tc.want)
		}
		tu := newTunedOne(t, tinyModel(t), "ia3", tc.method)
		if got := tu.Counts().PerAdapter["ia3"]; got != tc.want {
			t.Errorf("%+v: live variables hold %d, want %d", tc.method, got, tc.want)
		}
	}
}

func TestIA3TrainsOnlyItsVectors(t *testing.T) {
	tu := newTunedOne(t, tinyModel(t), "ia3", DefaultIA3())
	checkTrainedExactly(t, tu, func(n string) bool { return strings.HasPrefix(n, "/peft/ia3/") })
	// The trained scales must now change the output.
	if d := maxAbsDiff(modelHidden(t, tu.Model), tunedHidden(t, tu)); d == 0 {
		t.Errorf("trained (IA)³ still reproduces the base output")
	}
}

func TestIA3ValidateAndJSON(t *testing.T) {
	cfg := tinyConfig()
	for _, bad := range []*IA3{
		{TargetModules: []string{"key", "ffn_in"}, FeedforwardModules: []string{"ffn_in"}},
		{TargetModules: []string{"key"}, FeedforwardModules: []string{"ffn_out"}},
		{TargetModules: []string{"nope"}},
		{LayersToTransform: []int{-1}},
	} {
		if err := bad.Validate(cfg); err == nil {
			t.Errorf("%+v validated", bad)
		}
	}
	methodJSONRoundTrip(t, DefaultIA3())
	methodJSONRoundTrip(t, &IA3{TargetModules: []string{"value"}, LayersToTransform: []int{1}})
}
