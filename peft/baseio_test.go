package peft

import (
	"path/filepath"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// A method that trains base weights (BitFit here) saves them and loads them
// back: SaveTuned used to fail with "adapter has no variables".
func TestSaveTunedKeepsTrainedBaseWeights(t *testing.T) {
	m := tinyModel(t)
	tu := newTunedOne(t, m, "bitfit", DefaultBitFit())
	// Stand-in for training: change one trained bias.
	v := tu.Ctx.GetVariableByScopeAndName("/encoder/layer/0/attention/self/query", "bias")
	vals := tensors.MustCopyFlatData[float32](v.MustValue())
	for i := range vals {
		vals[i] = float32(i) * 0.01
	}
	if err := v.SetValue(tensors.FromFlatDataAndDimensions(vals, len(vals))); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "run")
	if err := SaveTuned(tu, dir, nil); err != nil {
		t.Fatal(err)
	}
	back, err := LoadTuned(m, tu.Setup, tu.Head, 1, dir)
	if err != nil {
		t.Fatal(err)
	}
	got := tensors.MustCopyFlatData[float32](back.Ctx.GetVariableByScopeAndName("/encoder/layer/0/attention/self/query", "bias").MustValue())
	for i := range got {
		if got[i] != vals[i] {
			t.Fatalf("bias %d: loaded %g, saved %g", i, got[i], vals[i])
		}
	}
	if d := maxAbsDiff(tunedHidden(t, tu), tunedHidden(t, back)); d != 0 {
		t.Errorf("reloaded BitFit differs by %g", d)
	}
	// The model itself is not touched by loading.
	if orig := tensors.MustCopyFlatData[float32](m.Ctx.GetVariableByScopeAndName("/encoder/layer/0/attention/self/query", "bias").MustValue()); orig[5] == vals[5] {
		t.Error("loading a Tuned changed the model's weights")
	}
}
