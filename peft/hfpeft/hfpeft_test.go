package hfpeft

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopeft/gopeft/internal/peftest"
	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/safetensors"
)

func TestHFLoRARoundTrip(t *testing.T) {
	m := tinyModel(t)
	for _, tc := range []struct {
		name  string
		lora  func() *peft.LoRA
		regex bool
	}{
		{"query-value", peft.DefaultLoRA, false},
		{"ffn_out-only", func() *peft.LoRA {
			l := peft.DefaultLoRA()
			l.TargetModules = []string{"key", "ffn_out"}
			return l
		}, true},
		{"one-layer", func() *peft.LoRA {
			l := peft.DefaultLoRA()
			l.LayersToTransform = []int{1}
			l.UseRSLoRA = true
			return l
		}, true},
	} {
		l := tc.lora()
		l.R, l.Alpha, l.InitWeights = 4, 8, "false" // non-zero B
		tu := newTunedOne(t, m, "lora", l)
		want := tunedHidden(t, tu)
		dir := t.TempDir()
		if err := SaveLoRA(tu, "lora", dir); err != nil {
			t.Fatal(err)
		}
		var cfg map[string]any
		raw, err := os.ReadFile(filepath.Join(dir, AdapterConfigFile))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &cfg); err != nil {
			t.Fatal(err)
		}
		if cfg["peft_type"] != "LORA" || cfg["r"] != 4.0 || cfg["lora_alpha"] != 8.0 || cfg["bias"] != "none" || cfg["fan_in_fan_out"] != false {
			t.Errorf("%s: adapter_config.json %s", tc.name, raw)
		}
		if _, isRegex := cfg["target_modules"].(string); isRegex != tc.regex {
			t.Errorf("%s: target_modules %v, regex form expected %v", tc.name, cfg["target_modules"], tc.regex)
		}
		f, err := safetensors.Read(filepath.Join(dir, AdapterWeightsFile))
		if err != nil {
			t.Fatal(err)
		}
		if x, ok := f.Tensors["base_model.model.encoder.layer.1.attention.self.query.lora_A.weight"]; tc.name != "ffn_out-only" && (!ok || x.Shape[0] != 4 || x.Shape[1] != 16) {
			t.Errorf("%s: lora_A key missing or shaped %v; keys %v", tc.name, x.Shape, keysOf(f.Tensors))
		}
		back, err := LoadLoRA(m, dir, "loaded", peft.ClassificationHead(2))
		if err != nil {
			t.Fatal(err)
		}
		if d := peftest.MaxAbsDiff(want, tunedHidden(t, back)); d > 1e-6 {
			t.Errorf("%s: reloaded adapter differs by %g", tc.name, d)
		}
		got := back.Setup.Adapter("loaded").Method.(*peft.LoRA)
		if got.Scaling() != l.Scaling() || got.NumParams(m.Config) != l.NumParams(m.Config) {
			t.Errorf("%s: reloaded config %+v, saved %+v", tc.name, got, l)
		}

		// BertForSequenceClassification's keys carry "bert."; they load too.
		prefixed := map[string]safetensors.Tensor{"base_model.model.classifier.weight": f.Tensors[keysOf(f.Tensors)[0]]}
		for k, v := range f.Tensors {
			prefixed[strings.Replace(k, "base_model.model.", "base_model.model.bert.", 1)] = v
		}
		if err := safetensors.Write(filepath.Join(dir, AdapterWeightsFile), &safetensors.File{Tensors: prefixed}); err != nil {
			t.Fatal(err)
		}
		back, err = LoadLoRA(m, dir, "loaded", peft.ClassificationHead(2))
		if err != nil {
			t.Fatal(err)
		}
		if d := peftest.MaxAbsDiff(want, tunedHidden(t, back)); d > 1e-6 {
			t.Errorf("%s: bert.-prefixed adapter differs by %g", tc.name, d)
		}
	}
}

func keysOf(m map[string]safetensors.Tensor) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestHFLoRARejects(t *testing.T) {
	m := tinyModel(t)
	l := peft.DefaultLoRA()
	tu := newTunedOne(t, m, "lora", l)
	mt, err := tu.MergeLoRA("lora")
	if err != nil {
		t.Fatal(err)
	}
	if err := SaveLoRA(mt, "lora", t.TempDir()); err == nil {
		t.Errorf("saving a merged adapter succeeded")
	}
	dir := t.TempDir()
	if err := SaveLoRA(tu, "lora", dir); err != nil {
		t.Fatal(err)
	}
	for _, edit := range []string{`"use_dora": true`, `"peft_type": "IA3"`, `"r": 3`} {
		raw, _ := os.ReadFile(filepath.Join(dir, AdapterConfigFile))
		bad := t.TempDir()
		key := strings.SplitN(edit, ":", 2)[0]
		lines := strings.Split(string(raw), "\n")
		for i, line := range lines {
			if strings.HasPrefix(strings.TrimSpace(line), key+":") {
				lines[i] = "  " + edit + ","
			}
		}
		os.WriteFile(filepath.Join(bad, AdapterConfigFile), []byte(strings.Join(lines, "\n")), 0o644)
		w, _ := os.ReadFile(filepath.Join(dir, AdapterWeightsFile))
		os.WriteFile(filepath.Join(bad, AdapterWeightsFile), w, 0o644)
		if _, _, err := ReadLoRA(bad, m.Config); err == nil {
			t.Errorf("adapter with %s loaded", edit)
		}
	}
}

// TestHFPeftReference compares GoPEFT with Hugging Face peft on the adapter
// that scripts/hf/peft_lora_reference.py writes (set GOPEFT_HF_REFERENCE to
// its OUTDIR).
func TestHFPeftReference(t *testing.T) {
	root := peftest.HFReferenceDir(t)
	m, err := peft.LoadModel(filepath.Join(root, "bert"))
	if err != nil {
		t.Fatal(err)
	}
	adir := filepath.Join(root, "lora_adapter")
	tu, err := LoadLoRA(m, adir, "hf", peft.ClassificationHead(2))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := safetensors.Read(filepath.Join(adir, "reference.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	toI32 := func(name string) [][]int32 {
		x := ref.Tensors[name]
		v, err := x.Int64s()
		if err != nil {
			t.Fatal(err)
		}
		out := make([][]int32, x.Shape[0])
		for i := range out {
			for j := 0; j < x.Shape[1]; j++ {
				out[i] = append(out[i], int32(v[i*x.Shape[1]+j]))
			}
		}
		return out
	}
	b := peft.Batch{IDs: toI32("input_ids"), TypeIDs: toI32("token_type_ids"), Mask: toI32("attention_mask")}
	got, err := tu.Hidden(b)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ref.Tensors["last_hidden_state"].Float32s()
	if err != nil {
		t.Fatal(err)
	}
	// Compare real tokens only: padded positions are not defined the same way.
	g := peftest.Flat(t, got)
	h := m.Config.HiddenSize
	worst := 0.0
	for i, row := range b.Mask {
		for j, on := range row {
			if on == 1 {
				k := (i*len(row) + j) * h
				worst = max(worst, peftest.MaxAbsDiff(g[k:k+h], want[k:k+h]))
			}
		}
	}
	t.Logf("max |GoPEFT - HF peft| on real tokens: %.3g", worst)
	if worst > 1e-4 {
		t.Errorf("GoPEFT and HF peft differ by %g (tolerance 1e-4)", worst)
	}
	// The reverse direction: with GOPEFT_HF_REFERENCE_OUT set, write our
	// adapter and GoPEFT's outputs there for the script's --check mode.
	out := os.Getenv("GOPEFT_HF_REFERENCE_OUT")
	if out == "" {
		return
	}
	if err := SaveLoRA(tu, "hf", out); err != nil {
		t.Fatal(err)
	}
	gs := safetensors.FromFloat32(got.Shape().Dimensions, g)
	refOut := map[string]safetensors.Tensor{"last_hidden_state": gs}
	for _, k := range []string{"input_ids", "token_type_ids", "attention_mask"} {
		refOut[k] = ref.Tensors[k]
	}
	if err := safetensors.Write(filepath.Join(out, "reference.safetensors"), &safetensors.File{Tensors: refOut}); err != nil {
		t.Fatal(err)
	}
}

func tinyModel(t *testing.T) *peft.Model {
	t.Helper()
	m, err := peft.NewModel(peftest.TinyConfig(), nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func newTunedOne(t *testing.T, m *peft.Model, name string, method peft.Method) *peft.Tuned {
	t.Helper()
	tu, err := peft.NewTuned(m, peft.NewSetup(name, method), peft.ClassificationHead(2), 3)
	if err != nil {
		t.Fatal(err)
	}
	return tu
}

func tunedHidden(t *testing.T, tu *peft.Tuned) []float32 {
	t.Helper()
	x, err := tu.Hidden(peft.Batch{IDs: peftest.TinyIDs(), Mask: peftest.TinyMask()})
	if err != nil {
		t.Fatal(err)
	}
	return peftest.Flat(t, x)
}
