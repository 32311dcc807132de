package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/gopeft/gopeft/peft"
)

func init() {
	register("embed", "print token ids, last hidden state and pooled output of a model for a text", runEmbed)
}

func runEmbed(args []string) int {
	fs := newFlags("embed", "--model DIR --text STR [--json]")
	model := fs.String("model", "models/gopeft-small", "model directory (Hugging Face layout)")
	text := fs.String("text", "", "text to embed")
	asJSON := fs.Bool("json", false, "print JSON")
	maxLen := fs.Int("max-len", 0, "truncate to this many tokens (0: the model's maximum)")
	if fs.Parse(args) != nil {
		return 2
	}
	if *text == "" {
		fmt.Fprintln(os.Stderr, "gopeft embed: --text is required, e.g. --text \"Call me Ishmael.\"")
		return 2
	}
	m, err := peft.LoadModel(*model)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft embed:", err)
		return 1
	}
	if m.Tokenizer == nil {
		fmt.Fprintf(os.Stderr, "gopeft embed: %s has no tokenizer.json or vocab.txt\n", *model)
		return 1
	}
	limit := *maxLen
	if limit <= 0 {
		limit = m.Config.MaxPositions - m.Config.PositionOffset
	}
	ids, types, mask := m.Tokenizer.Encode(*text, limit)
	// Encode pads to limit; embed the real tokens only.
	real := 0
	for _, v := range mask {
		real += int(v)
	}
	ids, types, mask = ids[:real], types[:real], mask[:real]
	hidden, pooled, err := m.Hidden(peft.Batch{IDs: [][]int32{ids}, TypeIDs: [][]int32{types}, Mask: [][]int32{mask}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft embed:", err)
		return 1
	}
	out := struct {
		Tokens []string    `json:"tokens"`
		IDs    []int32     `json:"input_ids"`
		Hidden [][]float32 `json:"last_hidden_state"`
		Pooled []float32   `json:"pooler_output"`
		Shape  []int       `json:"hidden_shape"`
	}{IDs: ids, Hidden: rows(hidden), Pooled: rows(pooled)[0], Shape: hidden.Shape().Dimensions}
	vocab := m.Tokenizer.Vocab() // by id, so special tokens show as [CLS], [SEP]
	for _, id := range ids {
		out.Tokens = append(out.Tokens, vocab[id])
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		if err := enc.Encode(out); err != nil {
			return 1
		}
		return 0
	}
	fmt.Printf("tokens: %v\nids: %v\nlast hidden state: %v\n", out.Tokens, ids, out.Shape)
	for i, tok := range out.Tokens {
		fmt.Printf("  %-12s %8.4f %8.4f %8.4f ...\n", tok, out.Hidden[i][0], out.Hidden[i][1], out.Hidden[i][2])
	}
	fmt.Printf("pooled: %8.4f %8.4f %8.4f ...\n", out.Pooled[0], out.Pooled[1], out.Pooled[2])
	return 0
}

// rows flattens the batch axis away: [1, ..., d] -> [][d].
func rows(t *tensors.Tensor) [][]float32 {
	dims := t.Shape().Dimensions
	d := dims[len(dims)-1]
	var flat []float32
	t.ConstFlatData(func(v any) { flat = append(flat, v.([]float32)...) })
	out := make([][]float32, 0, len(flat)/d)
	for i := 0; i+d <= len(flat); i += d {
		out = append(out, flat[i:i+d])
	}
	return out
}
