package peft

import (
	"strings"
	"testing"
)

// TestBadInputErrors: every invalid configuration value and composition a
// student can write is refused by Setup.Validate with an error naming the
// problem and the fix.
func TestBadInputErrors(t *testing.T) {
	one := func(m Method) *Setup { return NewSetup("a", m) }
	lora := func(edit func(*LoRA)) *Setup { l := DefaultLoRA(); edit(l); return one(l) }
	pfeiffer := func(edit func(*Bottleneck)) *Setup { b := Pfeiffer(); edit(b); return one(b) }
	two := func(active Block) *Setup {
		s := NewSetup("a", Pfeiffer()).Add("b", Pfeiffer()).Add("l", DefaultLoRA()).Add("p", ParallelAdapter())
		s.Active = active
		return s
	}
	for _, c := range []struct {
		name  string
		setup *Setup
		want  []string // the problem, then the fix
	}{
		{"lora r 0", lora(func(l *LoRA) { l.R = 0 }), []string{"r is 0", "must be > 0"}},
		{"lora r negative", lora(func(l *LoRA) { l.R = -4 }), []string{"r is -4", "must be > 0"}},
		{"lora alpha 0", lora(func(l *LoRA) { l.Alpha = 0 }), []string{"lora_alpha is 0", "must be > 0"}},
		{"lora dropout 1", lora(func(l *LoRA) { l.Dropout = 1 }), []string{"lora_dropout 1", "[0, 1)"}},
		{"lora dropout negative", lora(func(l *LoRA) { l.Dropout = -0.1 }), []string{"lora_dropout -0.1", "[0, 1)"}},
		{"lora layer out of range", lora(func(l *LoRA) { l.LayersToTransform = []int{7} }), []string{"layer 7", "0..1"}},
		{"bottleneck factor 0", pfeiffer(func(b *Bottleneck) { b.ReductionFactor = 0 }), []string{"reduction factor for layer 0 is 0", "must be > 0"}},
		{"bottleneck larger than hidden", pfeiffer(func(b *Bottleneck) { b.ReductionFactor = 0.5 }), []string{"larger than the hidden size 16", "factor >= 1"}},
		{"bottleneck dropout 1", pfeiffer(func(b *Bottleneck) { b.Dropout = 1 }), []string{"dropout 1", "[0, 1)"}},
		{"bottleneck nowhere", pfeiffer(func(b *Bottleneck) { b.OutputAdapter = false }), []string{"sit nowhere", "set OutputAdapter"}},
		{"mask rate 1", pfeiffer(func(b *Bottleneck) { b.Masks = DefaultMasks(); b.Masks.DropRate = 1 }), []string{"drop_rate 1", "[0, 1)"}},
		{"prefix length 0", func() *Setup { p := Prefix(); p.PrefixLength = 0; return one(p) }(), []string{"prefix_length is 0", "> 0"}},
		{"prompt tokens 0", one(RandomPrompt(0)), []string{"num_virtual_tokens is 0", "> 0"}},
		{"adapterdrop too deep", func() *Setup { s := one(Pfeiffer()); s.Drop = StaticDrop(9); return s }(), []string{"layers is 9", "within 0..2"}},
		{"fusion dropout 1", func() *Setup {
			f := Fuse("a", "b")
			one := 1.0
			f.Config.DropoutProb = &one
			return two(f)
		}(), []string{"dropout_prob 1", "[0, 1)"}},
		{"unknown adapter", two(Stack{Name("a"), Name("zz")}), []string{`"zz", which was never added`, "added: [a b l p]"}},
		{"empty stack", two(Stack{}), []string{"Stack block is empty", "at least one adapter"}},
		{"parallel of lora", two(Parallel("a", "l")), []string{`cannot hold adapter "l" (lora)`, "put it in a Stack"}},
		{"fuse of parallel adapter", two(Fuse("a", "p")), []string{`Fuse cannot hold adapter "p"`, "sequential bottleneck adapters"}},
		{"average weights", two(WeightedAverage([]float64{1}, "a", "b")), []string{"1 weights for 2 children", "one weight per child"}},
		{"batch split size 0", two(BatchSplit([]int{2, 0}, "a", "b")), []string{"size 0 is not positive", "at least one example"}},
		{"duplicate names", NewSetup("a", Pfeiffer()).Add("a", DefaultLoRA()), []string{`two adapters are named "a"`, "must be unique"}},
		{"train unknown", func() *Setup { s := one(Pfeiffer()); s.Train = []string{"b"}; return s }(), []string{`Train names adapter "b"`, "added: [a]"}},
	} {
		err := c.setup.Validate(tinyConfig())
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", c.name, err, w)
			}
		}
	}
}

// TestLoadAdapterBadFiles: an adapter saved for another hidden size or
// another method, or a damaged adapter directory, is refused naming the
// problem and the fix, and leaves the Tuned unchanged.
func TestLoadAdapterBadFiles(t *testing.T) {
	m := tinyModel(t)
	save := func(method Method) string {
		tu, err := NewTuned(m, NewSetup("a", method), ClassificationHead(2), 1)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		if err := SaveAdapter(tu, "a", dir); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	loraDir := save(DefaultLoRA())
	into, err := NewTuned(m, NewSetup("a", Pfeiffer()), ClassificationHead(2), 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := into.LoadAdapter(loraDir); err == nil || !strings.Contains(err.Error(), "is a lora adapter, but this Tuned's \"a\" is bottleneck") || !strings.Contains(err.Error(), "load it under another name") {
		t.Errorf("other method: %v", err)
	}
	if _, _, err := into.LoadAdapter(t.TempDir()); err == nil || !strings.Contains(err.Error(), "adapter directory holds adapter_config.json") {
		t.Errorf("empty directory: %v", err)
	}
	if into.Setup.Adapter("a").Method.Kind() != "bottleneck" {
		t.Error("a refused load changed the setup")
	}
}
