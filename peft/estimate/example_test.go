package estimate_test

import (
	"fmt"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/estimate"
	"github.com/gopeft/gopeft/peft/hf"
)

// Training memory of a Houlsby adapter on BERT-base, batch 32 × 128 tokens,
// float32. With AdapterDrop on the lowest 6 layers, only the upper 6 keep
// activations for the backward pass.
func ExampleMemory() {
	cfg, _ := hf.DefaultConfig(hf.BERT)
	setup := peft.NewSetup("houlsby", peft.Houlsby())
	fmt.Println(estimate.Memory(cfg, setup, 32, 128, 4))
	setup.Drop = peft.StaticDrop(6)
	fmt.Println(estimate.Memory(cfg, setup, 32, 128, 4).BackwardLayers)
	// Output:
	// total 4186.0 MiB = weights 426.7 MiB + gradients 9.1 MiB + optimizer 18.2 MiB + activations 3636.0 MiB (12 layers) + workspace 96.0 MiB
	// 6
}
