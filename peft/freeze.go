package peft

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gopeft/gopeft/peft/encoder"
)

// LayerOf is the encoder layer a parameter belongs to: a base weight's
// layer (BaseLayer; the embeddings are -1), or the layer of an adapter
// module scoped per layer (/peft/<name>/.../layer_<l>_<site>/...). ok is
// false for the head, the pooler and PEFT parameters shared by all layers
// (prefix tuning's MLP, prompt embeddings). Layer-wise learning rates,
// FreezeBelow and gradual unfreezing go by it.
func LayerOf(v *context.Variable) (layer int, ok bool) {
	if encoder.IsBase(v) {
		return BaseLayer(encoder.CanonicalName(v))
	}
	if _, isPEFT := adapterOf(v.Scope()); !isPEFT {
		return 0, false
	}
	for _, part := range strings.Split(v.Scope(), "/") {
		rest, found := strings.CutPrefix(part, "layer_")
		if !found {
			continue
		}
		num, _, _ := strings.Cut(rest, "_")
		if l, err := strconv.Atoi(num); err == nil {
			return l, true
		}
	}
	return 0, false
}

// FreezeBelow returns a Tuned in which nothing below layer k trains: the
// embeddings and layers 0..k-1, base weights and adapter modules alike
// (the recipe's "freeze the lowest k layers"). The head and PEFT
// parameters shared by all layers train as before. k = 0 freezes nothing;
// t is not changed.
func (t *Tuned) FreezeBelow(k int) (*Tuned, error) {
	if n := t.Model.Config.NumLayers; k < 0 || k > n {
		return nil, fmt.Errorf("freeze below layer %d: the model has layers 0..%d, so k must be in 0..%d", k, n-1, n)
	}
	return t.derive(func(n *Tuned) error {
		n.frozenBelow = k
		return nil
	})
}

// FrozenBelow is the k of FreezeBelow (0: nothing frozen by layer).
func (t *Tuned) FrozenBelow() int { return t.frozenBelow }

// frozenByLayer reports whether FreezeBelow keeps v from training.
func (t *Tuned) frozenByLayer(v *context.Variable) bool {
	if t.frozenBelow == 0 {
		return false
	}
	l, ok := LayerOf(v)
	return ok && l < t.frozenBelow
}
