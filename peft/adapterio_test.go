package peft

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAdapterRoundTrip(t *testing.T) {
	m := tinyModel(t)
	s := NewSetup("bn", withMasks(Houlsby()))
	tu, err := NewTuned(m, s, ClassificationHead(2), 1)
	if err != nil {
		t.Fatal(err)
	}
	trainFew(t, tu, 3)
	want, err := tu.Logits(tinyBatch())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := SaveAdapter(tu, "bn", filepath.Join(dir, "bn")); err != nil {
		t.Fatal(err)
	}
	if err := SaveHead(tu, dir, []string{"neg", "pos"}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"bn/" + AdapterConfigFile, "bn/" + AdapterWeightsFile, HeadConfigFile, HeadWeightsFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	fc, method, err := ReadAdapterConfig(filepath.Join(dir, "bn"))
	if err != nil {
		t.Fatal(err)
	}
	if fc.Name != "bn" || fc.ModelClass != "BertModel" || fc.HiddenSize != m.Config.HiddenSize || !strings.HasPrefix(fc.Version, "gopeft-") || method.Kind() != "bottleneck" {
		t.Errorf("adapter_config.json = %+v", fc)
	}

	// A fresh Tuned without the adapter: LoadAdapter adds it.
	hc, err := ReadHeadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := NewTuned(m, &Setup{}, hc.Head, 7)
	if err != nil {
		t.Fatal(err)
	}
	empty := fresh
	fresh, name, err := empty.LoadAdapter(filepath.Join(dir, "bn"))
	if err != nil {
		t.Fatal(err)
	}
	if name != "bn" {
		t.Errorf("loaded name %q", name)
	}
	if len(empty.Setup.Adapters) != 0 {
		t.Errorf("LoadAdapter added %d adapters to the original Tuned's setup", len(empty.Setup.Adapters))
	}
	if fresh, err = fresh.LoadHead(dir); err != nil {
		t.Fatal(err)
	}
	got, err := fresh.Logits(tinyBatch())
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(flat(t, want), flat(t, got)); d > 1e-6 {
		t.Errorf("reloaded adapter's logits differ by %g", d)
	}
	if c := fresh.Counts(); c.PerAdapter["bn"] != s.Adapters[0].Method.NumParams(m.Config) || c.Trainable == 0 {
		t.Errorf("loaded adapter counts %+v", c)
	}

	// Overwriting with a different shape fails and names the tensors.
	ot2, err := NewTuned(m, NewSetup("bn", func() *Bottleneck { b := withMasks(Houlsby()); b.ReductionFactor = 8; return b }()), ClassificationHead(2), 1)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = ot2.LoadAdapter(filepath.Join(dir, "bn"))
	if err == nil || !strings.Contains(err.Error(), "adapter_down.weight") {
		t.Errorf("shape mismatch error = %v, want one naming adapter_down.weight", err)
	}
	if _, err := ot2.LoadHead(t.TempDir()); err == nil || !strings.Contains(err.Error(), HeadConfigFile) {
		t.Errorf("missing head error = %v", err)
	}
}

func TestLoadAdapterRejectsOtherModel(t *testing.T) {
	m := tinyModel(t)
	tu, err := NewTuned(m, NewSetup("a", Pfeiffer()), ClassificationHead(2), 1)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := SaveAdapter(tu, "a", dir); err != nil {
		t.Fatal(err)
	}
	cfg := tinyConfig()
	cfg.HiddenSize, cfg.IntermediateSize = 32, 64
	big, err := NewModel(cfg, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	bt, err := NewTuned(big, &Setup{}, ClassificationHead(2), 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := bt.LoadAdapter(dir); err == nil || !strings.Contains(err.Error(), "hidden size") {
		t.Errorf("error = %v, want a hidden-size mismatch", err)
	}
	if len(bt.Setup.Adapters) != 0 {
		t.Error("a failed load left the adapter in the setup")
	}
	if err := SaveAdapter(tu, "missing", dir); err == nil {
		t.Error("saving an unknown adapter succeeded")
	}
}
