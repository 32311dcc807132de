package peft

import (
	"path/filepath"
	"strings"
	"testing"
)

func tinyPrefix() *PrefixTuning {
	return &PrefixTuning{PrefixLength: 3, BottleneckSize: 8, NonLinearity: "tanh", Dropout: 0.1}
}

// checkFlatten trains a reparameterised prefix a little, flattens it and
// checks outputs, parameter counts, the copied config and that the MLP is
// gone; mlpScope is where the prefix's variables live.
func checkFlatten(t *testing.T, method Method, prefixOf func(Method) *PrefixTuning, mlpScope string) *Tuned {
	t.Helper()
	cfg := tinyConfig()
	tu := newTunedOne(t, tinyModel(t), "p", method)
	trainFew(t, tu, 2) // a trained MLP, not the initial one
	before := tunedHidden(t, tu)
	logitsBefore, err := tu.Logits(tinyBatch())
	if err != nil {
		t.Fatal(err)
	}
	otherParams := method.NumParams(cfg) - prefixOf(method).NumParams(cfg)

	orig := tu
	tu, err = orig.FlattenPrefix("p")
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(before, tunedHidden(t, orig)); d != 0 {
		t.Errorf("flattening changed the original Tuned's hidden states by %g", d)
	}
	if prefixOf(orig.Setup.Adapter("p").Method).Flat {
		t.Error("flattening marked the original Tuned's config flat")
	}
	if d := maxAbsDiff(before, tunedHidden(t, tu)); d > 1e-6 {
		t.Errorf("flattening changed the hidden states by %g", d)
	}
	logitsAfter, err := tu.Logits(tinyBatch())
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(flat(t, logitsBefore), flat(t, logitsAfter)); d > 1e-6 {
		t.Errorf("flattening changed the logits by %g", d)
	}
	p := prefixOf(method)
	want := p.PrefixLength*cfg.NumLayers*2*cfg.HiddenSize + otherParams
	if got := tu.Counts().PerAdapter["p"]; got != want {
		t.Errorf("flattened adapter has %d parameters, want P·L·2·d (+ the rest) = %d", got, want)
	}
	if got := tu.Setup.NumParams(cfg); got != want {
		t.Errorf("flattened config's closed form is %d, want %d", got, want)
	}
	if p.Flat {
		t.Error("FlattenPrefix changed the caller's config; it must work on a copy")
	}
	if !prefixOf(tu.Setup.Adapter("p").Method).Flat {
		t.Error("the Tuned's config is not marked flat")
	}
	for v := range tu.Ctx.IterVariables() {
		if strings.HasPrefix(v.Scope(), mlpScope+"/") {
			t.Errorf("reparameterisation variable %s is still there", v.ScopeAndName())
		}
	}
	if v := tu.Ctx.GetVariableByScopeAndName(mlpScope, "prefix"); v == nil || !v.Trainable {
		t.Errorf("flat prefix variable %s/prefix missing or frozen: %v", mlpScope, v)
	}
	if _, err := tu.FlattenPrefix("p"); err == nil || !strings.Contains(err.Error(), "already flat") {
		t.Errorf("flattening twice: error %v, want one saying it is already flat", err)
	}
	return tu
}

func TestFlattenPrefix(t *testing.T) {
	tu := checkFlatten(t, tinyPrefix(), func(m Method) *PrefixTuning { return m.(*PrefixTuning) }, "/peft/p")
	// The flat prefix still trains, through graphs that read only it.
	checkTrainedExactly(t, tu, func(n string) bool { return strings.HasPrefix(n, "/peft/p/") })

	// A saved flat adapter loads into a fresh model with the same outputs.
	want := tunedHidden(t, tu)
	dir := filepath.Join(t.TempDir(), "p")
	if err := SaveAdapter(tu, "p", dir); err != nil {
		t.Fatal(err)
	}
	fresh, err := NewTuned(tu.Model, &Setup{}, tu.Head, 1)
	if err != nil {
		t.Fatal(err)
	}
	if fresh, _, err = fresh.LoadAdapter(dir); err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(want, tunedHidden(t, fresh)); d > 1e-6 {
		t.Errorf("reloaded flat adapter differs by %g", d)
	}
}

func TestFlattenMAMPrefix(t *testing.T) {
	m := &MAM{Prefix: tinyPrefix(), FFN: ParallelAdapter()}
	m.FFN.InitWeights = "bert" // a non-zero FFN adapter, so its part of the output counts
	checkFlatten(t, m, func(m Method) *PrefixTuning { return m.(*MAM).Prefix }, "/peft/p/prefix")
}

func TestFlattenPrefixErrors(t *testing.T) {
	tu := newTunedOne(t, tinyModel(t), "a", Pfeiffer())
	for name, want := range map[string]string{"a": "only prefix tuning and unions", "nope": `no adapter "nope"`} {
		if _, err := tu.FlattenPrefix(name); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("FlattenPrefix(%q) error = %v, want one containing %q", name, err, want)
		}
	}
}
