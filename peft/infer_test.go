package peft

import (
	"strings"
	"testing"
)

// A batch that does not fit a BatchSplit panics while the graph is built;
// inference must report it as an error with the message kept.
func TestInferencePanicBecomesError(t *testing.T) {
	tu := twoAdapters(t, BatchSplit([]int{1, 2}, "a", "b"), AdapterDrop{})
	b := tinyBatch() // 2 examples, the sizes sum to 3
	_, err := tu.Hidden(b)
	if err == nil || !strings.Contains(err.Error(), "BatchSplit sizes [1 2] sum to 3 but the batch has 2 examples") {
		t.Errorf("Hidden error = %v, want the BatchSplit size message", err)
	}
	if _, err := tu.Logits(b); err == nil || !strings.Contains(err.Error(), "make the sizes sum to the batch size") {
		t.Errorf("Logits error = %v, want the BatchSplit size message", err)
	}
	// The Tuned stays usable with a fitting batch.
	b.IDs, b.Mask = append(b.IDs, b.IDs[0]), append(b.Mask, b.Mask[0])
	if _, err := tu.Hidden(b); err != nil {
		t.Errorf("a batch of 3 after the failed one: %v", err)
	}
}
