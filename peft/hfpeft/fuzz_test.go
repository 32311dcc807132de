package hfpeft

import (
	"encoding/json"
	"testing"

	"github.com/gopeft/gopeft/internal/peftest"
	"github.com/gopeft/gopeft/peft/safetensors"
)

// FuzzReadLoRA feeds a Hugging Face peft adapter_config.json and
// adapter_model.safetensors to ReadLoRA's parsing: it must never panic, and
// what it accepts must be a valid LoRA for the model with a weight for
// every matrix it targets.
func FuzzReadLoRA(f *testing.F) {
	cfg := peftest.TinyConfig()
	h, r := cfg.HiddenSize, 4
	weights := func(layers ...int) []byte {
		ts := map[string]safetensors.Tensor{}
		for _, l := range layers {
			for _, site := range []string{"query", "value"} {
				p := "base_model.model.encoder.layer." + string(rune('0'+l)) + ".attention.self." + site
				ts[p+".lora_A.weight"] = safetensors.FromFloat32([]int{r, h}, make([]float32, r*h))
				ts[p+".lora_B.weight"] = safetensors.FromFloat32([]int{h, r}, make([]float32, r*h))
			}
		}
		b, _ := safetensors.Marshal(&safetensors.File{Tensors: ts})
		return b
	}
	conf, _ := json.Marshal(map[string]any{"peft_type": "LORA", "r": r, "lora_alpha": 8, "target_modules": []string{"query", "value"}, "bias": "none"})
	f.Add(conf, weights(0, 1))
	f.Add(conf, weights(1))
	f.Add([]byte(`{"peft_type":"LORA","r":0}`), weights(0))
	f.Add([]byte(`{"peft_type":"IA3"}`), []byte{})
	f.Fuzz(func(t *testing.T, conf, st []byte) {
		hc, err := parseLoRAConfig(conf, "dir")
		if err != nil {
			return
		}
		file, err := safetensors.Parse(st)
		if err != nil {
			return
		}
		l, ws, err := loraFromFile(hc, file, "dir", cfg)
		if err != nil {
			return
		}
		if err := l.Validate(cfg); err != nil {
			t.Fatalf("accepted an invalid LoRA: %v", err)
		}
		if len(ws) == 0 || len(ws)%2 != 0 {
			t.Fatalf("accepted %d LoRA matrices", len(ws))
		}
	})
}
