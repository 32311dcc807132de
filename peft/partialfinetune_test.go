package peft

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gopeft/gopeft/peft/encoder"
)

func TestPartialFinetuneTrainsOnlyItsSelection(t *testing.T) {
	cfg := tinyConfig() // 2 layers
	cases := []struct {
		name   string
		p      *PartialFinetune
		trains func(canonical string) bool
	}{
		{"top1", &PartialFinetune{TopLayers: 1}, func(n string) bool { return strings.HasPrefix(n, "encoder.layer.1.") }},
		{"embeddings", &PartialFinetune{Embeddings: true}, func(n string) bool { return strings.HasPrefix(n, "embeddings.") }},
		{"layernorms", &PartialFinetune{LayerNorms: true}, func(n string) bool { return strings.Contains(n, ".LayerNorm.") }},
		{"biases", &PartialFinetune{Biases: true}, func(n string) bool { return strings.HasSuffix(n, ".bias") }},
		{"top1+embeddings", &PartialFinetune{TopLayers: 1, Embeddings: true}, func(n string) bool {
			return strings.HasPrefix(n, "encoder.layer.1.") || strings.HasPrefix(n, "embeddings.")
		}},
	}
	head := ClassificationHead(2).NumParams(cfg.HiddenSize)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tu, err := NewTuned(tinyModel(t), NewSetup(c.name, c.p), ClassificationHead(2), 1)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := tu.Counts().Trainable, baseSize(cfg, c.trains)+head; got != want {
				t.Errorf("trainable %d, want %d", got, want)
			}
			for v := range tu.Ctx.IterVariables() {
				if encoder.IsBase(v) && !strings.HasPrefix(v.Scope(), "/cls") {
					name := encoder.CanonicalName(v)
					if want := inTunedEncoder(name) && c.trains(name); v.Trainable != want {
						t.Errorf("%s trainable %v, want %v", name, v.Trainable, want)
					}
				}
			}
		})
	}
}

// Top layer 1 of 2 trains and changes; everything below stays bitwise equal.
func TestPartialFinetuneLeavesLowerLayersEqual(t *testing.T) {
	s := NewSetup("houlsby", Houlsby()).Add("top1", &PartialFinetune{TopLayers: 1})
	tu, err := NewTuned(tinyModel(t), s, ClassificationHead(2), 1)
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, tu)
	trainFew(t, tu, 3)
	after := snapshot(t, tu)
	for v := range tu.Ctx.IterVariables() {
		if !encoder.IsBase(v) {
			continue
		}
		name := encoder.CanonicalName(v)
		changed := !bytes.Equal(before[v.ScopeAndName()], after[v.ScopeAndName()])
		if top := strings.HasPrefix(name, "encoder.layer.1."); top != changed {
			t.Errorf("%s changed %v, want %v", name, changed, top)
		}
	}
}

func TestPartialFinetuneValidate(t *testing.T) {
	cfg := tinyConfig()
	for _, p := range []*PartialFinetune{{}, {TopLayers: 3}, {TopLayers: -1}} {
		if err := p.Validate(cfg); err == nil {
			t.Errorf("%+v accepted", *p)
		}
	}
	js, err := MarshalMethod(&PartialFinetune{TopLayers: 2, Biases: true})
	if err != nil {
		t.Fatal(err)
	}
	back, err := UnmarshalMethod(js)
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := back.(*PartialFinetune); !ok || *p != (PartialFinetune{TopLayers: 2, Biases: true}) {
		t.Errorf("round trip of %s gave %#v", js, back)
	}
}

func TestBaseLayer(t *testing.T) {
	for name, want := range map[string]int{"embeddings.word_embeddings.weight": -1, "encoder.layer.11.output.dense.bias": 11, "pooler.dense.weight": -2} {
		l, ok := BaseLayer(name)
		if want == -2 {
			if ok {
				t.Errorf("%s: layer %d, want none", name, l)
			}
			continue
		}
		if !ok || l != want {
			t.Errorf("%s: layer %d %v, want %d", name, l, ok, want)
		}
	}
}
