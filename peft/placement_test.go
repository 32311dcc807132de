package peft

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// sitesAt formats the placements of one layer as "site:method[label]".
func sitesAt(ps []Placement, layer int) string {
	var out []string
	for _, p := range ps {
		if p.Layer == layer {
			s := p.Site + ":" + p.Method
			if p.Label != "" {
				s += "[" + p.Label + "]"
			}
			if p.Dropped {
				s += "(dropped)"
			}
			out = append(out, s)
		}
	}
	return strings.Join(out, " ")
}

func TestPlacementsEveryMethod(t *testing.T) {
	ia3 := func(targets, ff []string) *IA3 { return &IA3{TargetModules: targets, FeedforwardModules: ff} }
	lora := func(edit func(*LoRA)) *LoRA { l := DefaultLoRA(); edit(l); return l }
	leave := func(b *Bottleneck, layers ...int) *Bottleneck { b.LeaveOut = layers; return b }
	prefix := Prefix()
	prefixLeft := Prefix()
	prefixLeft.LeaveOut = []int{0}
	mam := SmallMAMAdapter()
	mam.FFN.Masks = DefaultMasks()
	for _, c := range []struct {
		name         string
		m            Method
		layer0, last string
	}{
		{"pfeiffer", Pfeiffer(), "ffn:pfeiffer", "ffn:pfeiffer"},
		{"houlsby", Houlsby(), "attention:houlsby ffn:houlsby", "attention:houlsby ffn:houlsby"},
		{"parallel", ParallelAdapter(), "parallel:parallel", "parallel:parallel"},
		{"masked houlsby", withMasks(Houlsby()), "attention:houlsby[M] ffn:houlsby[M]", "attention:houlsby[M] ffn:houlsby[M]"},
		{"leave_out", leave(Pfeiffer(), 0), "", "ffn:pfeiffer"},
		{"attention only", &Bottleneck{MHAdapter: true, ReductionFactor: 16}, "attention:houlsby", "attention:houlsby"},
		{"lora default", DefaultLoRA(), "query:lora value:lora", "query:lora value:lora"},
		{"lora all-linear", lora(func(l *LoRA) { l.TargetModules = []string{"all-linear"} }),
			"query:lora key:lora value:lora attn_out:lora ffn_in:lora ffn_out:lora", "query:lora key:lora value:lora attn_out:lora ffn_in:lora ffn_out:lora"},
		{"lora HF names", lora(func(l *LoRA) { l.TargetModules = []string{"output.dense", "k_lin"} }), "key:lora ffn_out:lora", "key:lora ffn_out:lora"},
		{"lora layers_to_transform", lora(func(l *LoRA) { l.LayersToTransform = []int{1} }), "", "query:lora value:lora"},
		{"ia3 default", DefaultIA3(), "key:ia3 value:ia3 intermediate:ia3", "key:ia3 value:ia3 intermediate:ia3"},
		{"ia3 empty targets", &IA3{}, "key:ia3 value:ia3 intermediate:ia3", "key:ia3 value:ia3 intermediate:ia3"},
		{"ia3 query alone", ia3([]string{"query"}, nil), "query:ia3", "query:ia3"},
		{"ia3 ffn_out as output", ia3([]string{"ffn_out"}, []string{}), "ffn_out:ia3", "ffn_out:ia3"},
		{"ia3 layers", &IA3{TargetModules: []string{"value"}, LayersToTransform: []int{0}}, "value:ia3", ""},
		{"prefix", prefix, "prefix:prefix", "prefix:prefix"},
		{"prefix leave_out", prefixLeft, "", "prefix:prefix"},
		{"prompt", RandomPrompt(4), "prompt:prompt", ""},
		{"bitfit all", DefaultBitFit(), "query:bitfit key:bitfit value:bitfit attn_out:bitfit ffn_in:bitfit ffn_out:bitfit",
			"query:bitfit key:bitfit value:bitfit attn_out:bitfit ffn_in:bitfit ffn_out:bitfit"},
		{"bitfit subset", &BitFit{Biases: "query_intermediate"}, "query:bitfit ffn_in:bitfit", "query:bitfit ffn_in:bitfit"},
		{"ln tuning", LNTuning{}, "attention:ln_tuning ffn:ln_tuning", "attention:ln_tuning ffn:ln_tuning"},
		{"mam with masks", mam, "prefix:prefix parallel:parallel[M]", "prefix:prefix parallel:parallel[M]"},
		{"union", Union(Part{"lora", DefaultLoRA()}, Part{"ia3", ia3([]string{"value"}, nil)}), "query:lora value:lora value:ia3", "query:lora value:lora value:ia3"},
	} {
		cfg := tinyConfig()
		if err := c.m.Validate(cfg); err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		ps := NewSetup("a", c.m).Placements(cfg.NumLayers)
		if got := sitesAt(ps, 0); got != c.layer0 {
			t.Errorf("%s: layer 0 is %q, want %q", c.name, got, c.layer0)
		}
		if got := sitesAt(ps, cfg.NumLayers-1); got != c.last {
			t.Errorf("%s: last layer is %q, want %q", c.name, got, c.last)
		}
	}
}

// Every registered method draws something (or is listed here as drawing
// nothing on purpose).
func TestPlacementsCoverEveryKind(t *testing.T) {
	for _, kind := range MethodKinds() {
		m := methodRegistry[kind]()
		if _, ok := m.(placer); !ok {
			if _, ok := m.(union); !ok {
				t.Errorf("method %s has no placements", kind)
			}
		}
	}
}

func TestPlacementsDropAndActive(t *testing.T) {
	s := (&Setup{}).Add("a", Pfeiffer()).Add("b", DefaultLoRA())
	s.Active = Name("a")
	s.Drop = StaticDrop(1)
	ps := s.Placements(3)
	var got []string
	for l := range 3 {
		got = append(got, fmt.Sprintf("%d: %s", l, sitesAt(ps, l)))
	}
	want := []string{"0: ffn:pfeiffer(dropped)", "1: ffn:pfeiffer", "2: ffn:pfeiffer"}
	if !slices.Equal(got, want) {
		t.Errorf("placements %q, want %q (inactive LoRA not drawn, layer 0 dropped)", got, want)
	}
}

func TestPresets(t *testing.T) {
	want := []string{"bitfit", "full", "houlsby", "ia3", "ln", "lora", "mam", "mam-masks", "mam-paper", "parallel", "pfeiffer", "prefix", "prompt"}
	if got := PresetNames(); !slices.Equal(got, want) {
		t.Errorf("presets %v, want %v", got, want)
	}
	for _, name := range PresetNames() {
		m, err := Preset(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Validate(tinyConfig()); err != nil {
			t.Errorf("preset %s: %v", name, err)
		}
		if _, ok := methodRegistry[m.Kind()]; !ok {
			t.Errorf("preset %s has unregistered kind %s", name, m.Kind())
		}
	}
	a, _ := Preset("lora")
	a.(*LoRA).R = 99
	if b, _ := Preset("lora"); b.(*LoRA).R == 99 {
		t.Error("presets share their config")
	}
	if _, err := Preset("nope"); err == nil {
		t.Error("unknown preset accepted")
	}
}
