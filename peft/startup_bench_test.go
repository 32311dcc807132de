package peft

import (
	"testing"

	"github.com/gopeft/gopeft/peft/hf"
)

// Start-up of a BERT-base-sized model (issue 16: NewModel and LoadModel
// within 3 s). Both fill host tensors only; the device copy happens at the
// first step, so the CPU timing holds for the GPU backend too.
//
//	go test ./peft -run '^$' -bench 'NewModelBERTBase|LoadModelBERTBase' -benchtime 3x
func bertBaseConfig(b *testing.B) hf.Config {
	cfg, err := hf.DefaultConfig("bert")
	if err != nil {
		b.Fatal(err)
	}
	return cfg
}

func BenchmarkNewModelBERTBase(b *testing.B) {
	cfg := bertBaseConfig(b)
	for b.Loop() {
		if _, err := NewModel(cfg, nil, 1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoadModelBERTBase(b *testing.B) {
	m, err := NewModel(bertBaseConfig(b), nil, 1)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	if err := m.Save(dir); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := LoadModel(dir); err != nil {
			b.Fatal(err)
		}
	}
}
