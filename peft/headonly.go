package peft

import "github.com/gopeft/gopeft/peft/hf"

// HeadOnly trains nothing but the task head: the base model is frozen and
// no adapter is added (linear probing with AdapterHub's two-layer head).
// A Setup with no adapters trains the same; HeadOnly names that choice so
// it is a preset ("head"), a CLI --method and a row of a comparison.
type HeadOnly struct{}

func init() {
	registerMethod("head_only", func() Method { return &HeadOnly{} })
	registerPreset("head", func() Method { return &HeadOnly{} })
}

func (HeadOnly) Kind() string             { return "head_only" }
func (HeadOnly) Validate(hf.Config) error { return nil }
func (HeadOnly) NumParams(hf.Config) int  { return 0 }

// placements: nothing sits in the encoder.
func (HeadOnly) placements(int) []Placement { return nil }
