package encoder_test

import (
	"fmt"

	"github.com/gopeft/gopeft/peft/encoder"
)

// Safetensors files name tensors with dots; GoMLX names variables by scope.
func ExampleKeyScope() {
	fmt.Println(encoder.ScopeOf("encoder.layer.3.attention.self.query.weight"))
	fmt.Println(encoder.KeyScope("/peft/lora", "layer_0_query.lora_A.weight"))
	fmt.Println(encoder.ScopeKey("/peft/lora", "/peft/lora/layer_0_query/lora_A", "weight"))
	fmt.Println(encoder.Query.Module(), encoder.FFNOut.WeightName(2))
	// Output:
	// /encoder/layer/3/attention/self/query weight
	// /peft/lora/layer_0_query/lora_A weight
	// layer_0_query.lora_A.weight true
	// attention.self.query encoder.layer.2.output.dense.weight
}
