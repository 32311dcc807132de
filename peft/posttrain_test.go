package peft

import (
	"path/filepath"
	"testing"
)

// Every post-training change returns a new Tuned with a new version and
// leaves the original's outputs exactly as they were.
func TestPostTrainingChangesLeaveOriginal(t *testing.T) {
	m := tinyModel(t)
	lora := DefaultLoRA()
	lora.InitWeights = "false"
	saved := newTunedOne(t, m, "extra", Pfeiffer())
	trainFew(t, saved, 2)
	dir := t.TempDir()
	if err := SaveAdapter(saved, "extra", filepath.Join(dir, "extra")); err != nil {
		t.Fatal(err)
	}
	if err := SaveHead(saved, dir, nil); err != nil {
		t.Fatal(err)
	}
	if err := SaveScope(saved, "/peft/extra", filepath.Join(dir, "scope.safetensors")); err != nil {
		t.Fatal(err)
	}
	fused := func() *Setup {
		s := (&Setup{}).Add("a", Pfeiffer()).Add("b", Pfeiffer()).Add("c", Pfeiffer())
		s.Active = Fuse("a", "b", "c")
		return s
	}
	mergedLoRA := func(tu *Tuned) *Tuned {
		mt, err := tu.MergeLoRA("l")
		if err != nil {
			t.Fatal(err)
		}
		return mt
	}
	for _, c := range []struct {
		name   string
		setup  *Setup
		prep   func(*Tuned) *Tuned
		change func(*Tuned) (*Tuned, error)
	}{
		{"MergeLoRA", NewSetup("l", lora), nil, func(tu *Tuned) (*Tuned, error) { return tu.MergeLoRA("l") }},
		{"UnmergeLoRA", NewSetup("l", lora), mergedLoRA, func(tu *Tuned) (*Tuned, error) { return tu.UnmergeLoRA("l") }},
		{"PruneMasks", NewSetup("m", withMasks(Pfeiffer())), nil, func(tu *Tuned) (*Tuned, error) {
			n, _, err := tu.PruneMasks("m", 1)
			return n, err
		}},
		{"PruneFusion", fused(), nil, func(tu *Tuned) (*Tuned, error) {
			n, _, err := tu.PruneFusion(nil, 1, tinyBatch())
			return n, err
		}},
		{"FlattenPrefix", NewSetup("p", tinyPrefix()), nil, func(tu *Tuned) (*Tuned, error) { return tu.FlattenPrefix("p") }},
		{"LoadAdapter new", NewSetup("a", Pfeiffer()), nil, func(tu *Tuned) (*Tuned, error) {
			n, _, err := tu.LoadAdapter(filepath.Join(dir, "extra"))
			return n, err
		}},
		{"LoadAdapter overwrite", NewSetup("extra", Pfeiffer()), nil, func(tu *Tuned) (*Tuned, error) {
			n, _, err := tu.LoadAdapter(filepath.Join(dir, "extra"))
			return n, err
		}},
		{"LoadHead", NewSetup("a", Pfeiffer()), nil, func(tu *Tuned) (*Tuned, error) { return tu.LoadHead(dir) }},
		{"LoadScope", NewSetup("extra", Pfeiffer()), nil, func(tu *Tuned) (*Tuned, error) {
			return tu.LoadScope("/peft/extra", filepath.Join(dir, "scope.safetensors"), false)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tu, err := NewTuned(m, c.setup, ClassificationHead(2), 3)
			if err != nil {
				t.Fatal(err)
			}
			trainFew(t, tu, 2)
			if c.prep != nil {
				tu = c.prep(tu)
			}
			before, err := tu.Logits(tinyBatch())
			if err != nil {
				t.Fatal(err)
			}
			setupJSON, _ := MarshalSetup(tu.Setup)
			n, err := c.change(tu)
			if err != nil {
				t.Fatal(err)
			}
			if n == tu || n.Version() == tu.Version() {
				t.Errorf("the change kept the Tuned (version %d -> %d)", tu.Version(), n.Version())
			}
			after, err := tu.Logits(tinyBatch())
			if err != nil {
				t.Fatal(err)
			}
			if d := maxAbsDiff(flat(t, before), flat(t, after)); d != 0 {
				t.Errorf("the original's logits moved by %g", d)
			}
			if js, _ := MarshalSetup(tu.Setup); string(js) != string(setupJSON) {
				t.Errorf("the original's setup changed:\n%s\n%s", setupJSON, js)
			}
			if _, err := n.Logits(tinyBatch()); err != nil {
				t.Errorf("the changed Tuned does not run: %v", err)
			}
		})
	}
}
