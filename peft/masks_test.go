package peft

import (
	"math"
	"testing"
)

func maskedSetup() *Setup {
	b := ParallelAdapter()
	b.ReductionFactor = 4 // 4 units on the tiny model
	b.Masks = DefaultMasks()
	return NewSetup("masked", b)
}

func TestPruneMasks(t *testing.T) {
	m := tinyModel(t)
	tu, err := NewTuned(m, maskedSetup(), ClassificationHead(2), 1)
	if err != nil {
		t.Fatal(err)
	}
	trainFew(t, tu, 3) // the up-projection starts at zero: train so the adapter matters
	before, err := tu.Logits(tinyBatch())
	if err != nil {
		t.Fatal(err)
	}
	keep, err := KeepProbabilities(tu, "masked")
	if err != nil {
		t.Fatal(err)
	}
	cfg := m.Config
	units := cfg.HiddenSize / 4
	if len(keep) != cfg.NumLayers || len(keep[0]) != units {
		t.Fatalf("keep-probabilities are %dx%d, want %dx%d", len(keep), len(keep[0]), cfg.NumLayers, units)
	}
	all, rep, err := tu.PruneMasks("masked", units)
	if err != nil {
		t.Fatal(err)
	}
	same, err := all.Logits(tinyBatch())
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(flat(t, before), flat(t, same)); d != 0 {
		t.Errorf("keeping every unit changed the logits by %g", d)
	}
	if rep.ParamsSaved != 0 || rep.UnitsAfter != rep.UnitsBefore {
		t.Errorf("keeping every unit reports %+v", rep)
	}
	one, rep, err := tu.PruneMasks("masked", 1)
	if err != nil {
		t.Fatal(err)
	}
	d := cfg.HiddenSize
	wantSaved := cfg.NumLayers * (units - 1) * (2*d + 2)
	module := 2*units*d + units + d + units // down, up, biases, mask logits
	if rep.UnitsBefore != cfg.NumLayers*units || rep.UnitsAfter != cfg.NumLayers || rep.ParamsSaved != wantSaved ||
		rep.ParamsBefore != cfg.NumLayers*module || rep.ParamsAfter != rep.ParamsBefore-wantSaved {
		t.Errorf("prune to 1: %+v, want saved %d of %d", rep, wantSaved, cfg.NumLayers*module)
	}
	pruned, err := one.Logits(tinyBatch())
	if err != nil {
		t.Fatal(err)
	}
	if maxAbsDiff(flat(t, before), flat(t, pruned)) == 0 {
		t.Error("pruning to one unit did not change the logits")
	}
	if after, err := tu.Logits(tinyBatch()); err != nil || maxAbsDiff(flat(t, before), flat(t, after)) != 0 {
		t.Errorf("pruning changed the original Tuned's logits (err %v)", err)
	}
	if _, _, err := tu.PruneMasks("masked", -1); err == nil {
		t.Error("negative keep accepted")
	}
	if _, err := KeepProbabilities(tu, "nope"); err == nil {
		t.Error("unknown adapter accepted")
	}
}

func TestKeepProbabilitiesMoveWithMaskLoss(t *testing.T) {
	m := tinyModel(t)
	s := maskedSetup()
	s.Adapters[0].Method.(*Bottleneck).Masks.Lambda = 10 // strong pressure towards 0
	tu, err := NewTuned(m, s, ClassificationHead(2), 1)
	if err != nil {
		t.Fatal(err)
	}
	mean := func() float64 {
		k, err := KeepProbabilities(tu, "masked")
		if err != nil {
			t.Fatal(err)
		}
		sum, n := 0.0, 0
		for _, row := range k {
			for _, v := range row {
				sum += v
				n++
			}
		}
		return sum / float64(n)
	}
	start := mean()
	if math.Abs(start-0.9) > 1e-6 {
		t.Errorf("initial keep-probability %v, want 0.9 (InitKeep)", start)
	}
	trainFew(t, tu, 5)
	if end := mean(); end >= start-1e-3 { // Adam moves each logit ~lr per step
		t.Errorf("mean keep-probability %v -> %v: the mask loss did not lower it", start, end)
	}
}

func TestPruneRandomUnits(t *testing.T) {
	m := tinyModel(t)
	tu, err := NewTuned(m, maskedSetup(), ClassificationHead(2), 1)
	if err != nil {
		t.Fatal(err)
	}
	trainFew(t, tu, 3)
	learned, err := KeepProbabilities(tu, "masked")
	if err != nil {
		t.Fatal(err)
	}
	units := len(learned[0])
	pruned, rep, err := tu.PruneRandomUnits("masked", 1, 5)
	if err != nil {
		t.Fatal(err)
	}
	if rep.UnitsAfter != m.Config.NumLayers {
		t.Errorf("kept %d units, want one per layer (%d)", rep.UnitsAfter, m.Config.NumLayers)
	}
	rows, err := KeepProbabilities(pruned, "masked")
	if err != nil {
		t.Fatal(err)
	}
	for l, row := range rows {
		kept := 0
		for i, p := range row {
			switch {
			case p == 0:
			case p == learned[l][i]:
				kept++
			default:
				t.Errorf("layer %d unit %d: keep-probability %g, want 0 or its learned %g", l, i, p, learned[l][i])
			}
		}
		if kept != 1 {
			t.Errorf("layer %d keeps %d of %d units, want 1", l, kept, units)
		}
	}
	again, _, err := tu.PruneRandomUnits("masked", 1, 5)
	if err != nil {
		t.Fatal(err)
	}
	same, _ := KeepProbabilities(again, "masked")
	for l := range rows {
		for i := range rows[l] {
			if rows[l][i] != same[l][i] {
				t.Fatalf("the same seed chose different units (layer %d unit %d)", l, i)
			}
		}
	}
	if orig, _ := KeepProbabilities(tu, "masked"); orig[0][0] != learned[0][0] {
		t.Error("PruneRandomUnits changed the original Tuned")
	}
	if _, _, err := tu.PruneRandomUnits("masked", 0, 1); err == nil {
		t.Error("keep 0 was accepted")
	}
}
