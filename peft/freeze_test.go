package peft

import (
	"bytes"
	"testing"
)

func TestLayerOf(t *testing.T) {
	s := NewSetup("houlsby", Houlsby()).Add("prefix", Prefix())
	tu, err := NewTuned(tinyModel(t), s, ClassificationHead(2), 1)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{
		"/embeddings/word_embeddings/weight": -1, "/encoder/layer/1/output/dense/weight": 1,
		"/head/out_proj/weight": -2, "/pooler/dense/weight": -2,
	}
	seen := map[string]bool{}
	for v := range tu.Ctx.IterVariables() {
		l, ok := LayerOf(v)
		if w, listed := want[v.ScopeAndName()]; listed {
			seen[v.ScopeAndName()] = true
			if (w == -2) == ok || ok && l != w {
				t.Errorf("%s: layer %d %v, want %d", v.ScopeAndName(), l, ok, w)
			}
		}
		if a, isPEFT := adapterOf(v.Scope()); isPEFT {
			if a == "prefix" && ok {
				t.Errorf("prefix tuning's shared %s has layer %d", v.ScopeAndName(), l)
			}
			if a == "houlsby" && !ok {
				t.Errorf("Houlsby's %s has no layer", v.ScopeAndName())
			}
		}
	}
	if len(seen) != len(want) {
		t.Errorf("checked %v of %v", seen, want)
	}
}

// FreezeBelow(1) keeps the embeddings, layer 0 and layer 0's adapters
// bitwise equal while the rest trains; the counts say so.
func TestFreezeBelowLeavesLowerLayersEqual(t *testing.T) {
	s := NewSetup("houlsby", Houlsby()).Add("full", &FullFinetune{})
	tu, err := NewTuned(tinyModel(t), s, ClassificationHead(2), 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tu.FreezeBelow(3); err == nil {
		t.Error("FreezeBelow(3) on 2 layers accepted")
	}
	fr, err := tu.FreezeBelow(1)
	if err != nil {
		t.Fatal(err)
	}
	if fr.Counts().Trainable >= tu.Counts().Trainable {
		t.Errorf("freezing did not lower the trainable count (%d vs %d)", fr.Counts().Trainable, tu.Counts().Trainable)
	}
	before := snapshot(t, fr)
	trainFew(t, fr, 3)
	after := snapshot(t, fr)
	for v := range fr.Ctx.IterVariables() {
		name := v.ScopeAndName()
		if !isParam(name) {
			continue
		}
		l, ok := LayerOf(v)
		frozen := ok && l < 1
		changed := !bytes.Equal(before[name], after[name])
		if frozen && (changed || v.Trainable) {
			t.Errorf("%s below layer 1: changed %v, trainable %v", name, changed, v.Trainable)
		}
		if ok && l == 1 && !changed {
			t.Errorf("%s in layer 1 did not train", name)
		}
	}
	// A change after training keeps the freeze.
	if d, err := fr.FreezeBelow(1); err != nil || d.Counts().Trainable != fr.Counts().Trainable {
		t.Errorf("derived Tuned: %v, trainable %d vs %d", err, d.Counts().Trainable, fr.Counts().Trainable)
	}
}
