package train

import (
	"fmt"
	"math/rand/v2"
)

// Augment is text augmentation on the fly: each training batch's token ids
// are changed, freshly drawn at every step, while dev and test stay as they
// are. Each rate is a fraction of an example's tokens, [CLS] and [SEP]
// never touched; 0 turns that change off. The draws come from a stream of
// their own seeded by Options.Seed, so a run with augmentation sees the
// same examples in the same batches as one without, and the same seed
// gives the same augmented batches. The changes apply in this order:
//
//   - SpanDelete: one contiguous span of round(rate·n) tokens (at least 1)
//     is deleted at a random position.
//   - Dropout: each token is deleted with this probability (token-level
//     word dropout; Iyyer et al. 2015).
//   - Swap: max(1, ⌊rate·n⌋) times two random tokens trade places (EDA's
//     random swap; Wei & Zou 2019).
//   - Mask: each token becomes [MASK] with this probability (BERT's
//     masking as noise).
//
// At least one token is always kept.
type Augment struct {
	SpanDelete float64 `json:"span_delete,omitempty"`
	Dropout    float64 `json:"dropout,omitempty"`
	Swap       float64 `json:"swap,omitempty"`
	Mask       float64 `json:"mask,omitempty"`
}

// On reports whether any change is on.
func (a Augment) On() bool { return a != Augment{} }

// Validate checks every rate is in [0, 1).
func (a Augment) Validate() error {
	for _, r := range []struct {
		name string
		v    float64
	}{{"span_delete", a.SpanDelete}, {"dropout", a.Dropout}, {"swap", a.Swap}, {"mask", a.Mask}} {
		if !(r.v >= 0 && r.v < 1) {
			return fmt.Errorf("augment %s rate %v must be in [0, 1) (a fraction of each example's tokens; 0 turns it off)", r.name, r.v)
		}
	}
	return nil
}

// Apply returns an augmented copy of one encoded example, ids being
// [CLS] tokens... [SEP] (the first and last ids are kept as they are);
// maskID is the tokenizer's [MASK]. ids is not changed.
func (a Augment) Apply(ids []int32, maskID int32, rng *rand.Rand) []int32 {
	if len(ids) <= 2 || !a.On() {
		return append([]int32(nil), ids...)
	}
	body := append([]int32(nil), ids[1:len(ids)-1]...)
	if a.SpanDelete > 0 && len(body) > 1 {
		n := min(len(body)-1, max(1, int(a.SpanDelete*float64(len(body))+0.5)))
		at := rng.IntN(len(body) - n + 1)
		body = append(body[:at], body[at+n:]...)
	}
	if a.Dropout > 0 {
		kept := body[:0:0]
		for _, id := range body {
			if rng.Float64() >= a.Dropout {
				kept = append(kept, id)
			}
		}
		if len(kept) == 0 {
			kept = append(kept, body[rng.IntN(len(body))])
		}
		body = kept
	}
	if a.Swap > 0 && len(body) >= 2 {
		for range max(1, int(a.Swap*float64(len(body)))) {
			i, j := rng.IntN(len(body)), rng.IntN(len(body))
			body[i], body[j] = body[j], body[i]
		}
	}
	if a.Mask > 0 {
		for i := range body {
			if rng.Float64() < a.Mask {
				body[i] = maskID
			}
		}
	}
	out := make([]int32, 0, len(body)+2)
	out = append(out, ids[0])
	out = append(out, body...)
	return append(out, ids[len(ids)-1])
}

// augment changes a training batch in place (its encodings are copies of
// the training set's: the set itself is not changed).
func (rr *recipeRun) augment(batch []encoded) {
	if !rr.r.Augment.On() {
		return
	}
	for i := range batch {
		batch[i].ids = rr.r.Augment.Apply(batch[i].ids, rr.maskID, rr.aug)
	}
}
