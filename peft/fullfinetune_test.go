package peft

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gopeft/gopeft/peft/encoder"
	"github.com/gopeft/gopeft/peft/hf"
)

// baseSize counts the encoder's parameters that the head's graph uses:
// the embeddings and layers, not the pooler or the MLM head.
func baseSize(cfg hf.Config, keep func(canonical string) bool) int {
	n := 0
	for name, shape := range hf.ExpectedShapes(cfg) {
		if !inTunedEncoder(name) || !keep(name) {
			continue
		}
		size := 1
		for _, d := range shape {
			size *= d
		}
		n += size
	}
	return n
}

// Full fine-tuning trains, and changes, every base weight of the
// embeddings and layers; the pooler (unused by the head) stays.
func TestFullFinetuneChangesEveryBaseWeight(t *testing.T) {
	m := tinyModel(t)
	tu, err := NewTuned(m, NewSetup("full", &FullFinetune{}), ClassificationHead(2), 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg := m.Config
	c := tu.Counts()
	head := ClassificationHead(2).NumParams(cfg.HiddenSize)
	if want := baseSize(cfg, func(string) bool { return true }) + head; c.Trainable != want {
		t.Errorf("trainable %d, want %d (embeddings + layers + head)", c.Trainable, want)
	}
	before := snapshot(t, tu)
	trainFew(t, tu, 3)
	after := snapshot(t, tu)
	checked := 0
	for v := range tu.Ctx.IterVariables() {
		if !encoder.IsBase(v) || strings.HasPrefix(v.Scope(), "/cls") {
			continue
		}
		name := v.ScopeAndName()
		changed := !bytes.Equal(before[name], after[name])
		inEncoder := inTunedEncoder(encoder.CanonicalName(v))
		switch {
		case inEncoder && !changed:
			t.Errorf("%s did not change under full fine-tuning", name)
		case !inEncoder && changed:
			t.Errorf("%s (outside the head's graph) changed", name)
		}
		checked++
	}
	if checked < 10 {
		t.Fatalf("only %d base weights checked", checked)
	}
	rows := Summary(tu)
	if last := rows[len(rows)-1]; !last.Train {
		t.Error("Summary's Full model row does not train")
	}
}

// Full fine-tuning beside an adapter: both train.
func TestFullFinetuneWithAdapter(t *testing.T) {
	m := tinyModel(t)
	s := NewSetup("houlsby", Houlsby()).Add("full", &FullFinetune{})
	tu, err := NewTuned(m, s, ClassificationHead(2), 1)
	if err != nil {
		t.Fatal(err)
	}
	c := tu.Counts()
	head := ClassificationHead(2).NumParams(m.Config.HiddenSize)
	want := baseSize(m.Config, func(string) bool { return true }) + head + Houlsby().NumParams(m.Config)
	if c.Trainable != want {
		t.Errorf("trainable %d, want %d (base + head + Houlsby)", c.Trainable, want)
	}
	js, err := MarshalSetup(s)
	if err != nil {
		t.Fatal(err)
	}
	back, err := UnmarshalSetup(js)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := back.Adapter("full").Method.(*FullFinetune); !ok {
		t.Errorf("JSON round trip gave %T", back.Adapter("full").Method)
	}
}

// SaveTuned keeps the trained base weights, so LoadTuned gives back the
// fine-tuned model, not the pretrained one (BitFit's biases likewise).
func TestFullFinetuneSaveLoad(t *testing.T) {
	m := tinyModel(t)
	for _, method := range []Method{&FullFinetune{}, DefaultBitFit()} {
		s := NewSetup(method.Kind(), method)
		tu, err := NewTuned(m, s, ClassificationHead(2), 1)
		if err != nil {
			t.Fatal(err)
		}
		trainFew(t, tu, 2)
		dir := t.TempDir()
		if err := SaveTuned(tu, dir, nil); err != nil {
			t.Fatal(err)
		}
		back, err := LoadTuned(m, s, ClassificationHead(2), 1, dir)
		if err != nil {
			t.Fatal(err)
		}
		want, got := snapshot(t, tu), snapshot(t, back)
		for name, w := range want {
			if isParam(name) && !bytes.Equal(w, got[name]) {
				t.Errorf("%s: %s differs after LoadTuned", method.Kind(), name)
			}
		}
	}
}
