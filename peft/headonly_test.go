package peft

import (
	"bytes"
	"strings"
	"testing"
)

// The head preset trains the head and nothing else; a run store can save
// and load it though it has no weights of its own.
func TestHeadOnlyTrainsOnlyTheHead(t *testing.T) {
	m := tinyModel(t)
	method, err := Preset("head")
	if err != nil {
		t.Fatal(err)
	}
	tu, err := NewTuned(m, NewSetup("head", method), ClassificationHead(2), 1)
	if err != nil {
		t.Fatal(err)
	}
	c := tu.Counts()
	if want := ClassificationHead(2).NumParams(m.Config.HiddenSize); c.Trainable != want || c.Head != want {
		t.Errorf("trainable %d, head %d, want %d", c.Trainable, c.Head, want)
	}
	before := snapshot(t, tu)
	trainFew(t, tu, 2)
	after := snapshot(t, tu)
	for name, b := range before {
		if changed := !bytes.Equal(b, after[name]); isParam(name) && changed != strings.HasPrefix(name, "/head") {
			t.Errorf("%s changed %v", name, changed)
		}
	}
	dir := t.TempDir()
	if err := SaveTuned(tu, dir, nil); err != nil {
		t.Fatal(err)
	}
	back, err := LoadTuned(m, NewSetup("head", &HeadOnly{}), ClassificationHead(2), 1, dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := snapshot(t, back); !bytes.Equal(got["/head/out_proj/weight"], after["/head/out_proj/weight"]) {
		t.Error("loaded head differs from the saved one")
	}
}
