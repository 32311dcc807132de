package hfpeft_test

import (
	"fmt"
	"os"

	"github.com/gopeft/gopeft/internal/peftest"
	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/hfpeft"
)

// A LoRA adapter written in Hugging Face peft's layout reads back with the
// same configuration.
func ExampleSaveLoRA() {
	model, err := peft.NewModel(peftest.TinyConfig(), nil, 1)
	if err != nil {
		panic(err)
	}
	tuned, err := peft.NewTuned(model, peft.NewSetup("lora", peft.DefaultLoRA()), peft.ClassificationHead(2), 1)
	if err != nil {
		panic(err)
	}
	dir, _ := os.MkdirTemp("", "lora")
	defer os.RemoveAll(dir)
	if err := hfpeft.SaveLoRA(tuned, "lora", dir); err != nil {
		panic(err)
	}
	l, _, err := hfpeft.ReadLoRA(dir, model.Config)
	if err != nil {
		panic(err)
	}
	fmt.Println(l.R, l.Alpha, l.TargetModules)
	// Output: 8 8 [query value]
}
