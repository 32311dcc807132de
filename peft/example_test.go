package peft_test

import (
	"fmt"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/hf"
)

// smallBERT is a randomly initialised 2-layer BERT, enough to show shapes
// and parameter counts (real work starts from notebook.LoadShipped or
// peft.LoadModel).
func smallBERT() *peft.Model {
	cfg, _ := hf.DefaultConfig(hf.BERT)
	cfg.VocabSize, cfg.HiddenSize, cfg.NumLayers, cfg.NumHeads, cfg.IntermediateSize, cfg.MaxPositions = 100, 32, 2, 2, 64, 64
	m, err := peft.NewModel(cfg, nil, 1)
	if err != nil {
		panic(err)
	}
	return m
}

// A setup names adapters and composes them; NewTuned adds them to a copy
// of the model with a task head, and marks what trains.
func Example() {
	model := smallBERT()
	setup := peft.NewSetup("houlsby", peft.Houlsby()).Add("lora", peft.DefaultLoRA())
	tuned, err := peft.NewTuned(model, setup, peft.ClassificationHead(2), 1)
	if err != nil {
		panic(err)
	}
	fmt.Println(tuned.TrainableLine())
	for _, p := range setup.Placements(1) {
		fmt.Println(p.Site, p.Method)
	}
	// Output:
	// trainable params: 3818 || all params: 27338 || trainable%: 13.9659
	// attention houlsby
	// ffn houlsby
	// query lora
	// value lora
}

// Every change after training returns a new Tuned; the original keeps its
// outputs.
func ExampleTuned_MergeLoRA() {
	tuned, err := peft.NewTuned(smallBERT(), peft.NewSetup("lora", peft.DefaultLoRA()), peft.ClassificationHead(2), 1)
	if err != nil {
		panic(err)
	}
	merged, err := tuned.MergeLoRA("lora")
	if err != nil {
		panic(err)
	}
	fmt.Println(tuned.IsMerged("lora"), merged.IsMerged("lora"), merged.Version() != tuned.Version())
	// Output: false true true
}

// Presets are the named starting points the CLI's --method accepts.
func ExamplePreset() {
	m, err := peft.Preset("mam")
	if err != nil {
		panic(err)
	}
	fmt.Println(m.Kind(), peft.PresetNames())
	// Output: mam [bitfit full houlsby ia3 ln lora mam mam-masks mam-paper parallel pfeiffer prefix prompt]
}
