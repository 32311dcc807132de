package train

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// LinearSchedule is the learning rate at step (0-based) of steps: a linear
// warmup over the first warmup steps from peak/warmup to peak, then a linear
// decay that reaches peak/(steps-warmup) at the last step (Hugging Face's
// linear schedule, counted so that no step trains at rate 0).
func LinearSchedule(step, steps, warmup int, peak float64) float64 {
	if step < warmup {
		return peak * float64(step+1) / float64(warmup)
	}
	return peak * float64(max(0, steps-step)) / float64(max(1, steps-warmup))
}

// sampler draws example indices in epochs, each a seeded shuffle; its rng
// also serves the loop's other random choices (AdapterDrop depths, MLM
// masking), so one seed fixes a whole run.
type sampler struct {
	rng   *rand.Rand
	order []int
	pos   int
}

func newSampler(n int, seed int64) *sampler {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
	return &sampler{rng: rng, order: rng.Perm(n)}
}

// next is the next index, reshuffling at each epoch's end.
func (s *sampler) next() int {
	if s.pos == len(s.order) {
		s.order, s.pos = s.rng.Perm(len(s.order)), 0
	}
	s.pos++
	return s.order[s.pos-1]
}

// take draws n indices.
func (s *sampler) take(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = s.next()
	}
	return out
}

// loop is the training loop Finetune and Pretrain share: for each step
// (0-based) it takes the scheduled rate, runs step, and stops at an error
// or a NaN or infinite loss.
func loop(steps int, rate func(step int) float64, step func(i int, lr float64) (loss float64, err error)) error {
	for i := range steps {
		lr := rate(i)
		loss, err := step(i, lr)
		if err != nil {
			return fmt.Errorf("step %d: %w", i+1, err)
		}
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return fmt.Errorf("step %d of %d: the loss is %v, training stopped: lower the learning rate (now %g)", i+1, steps, loss, lr)
		}
	}
	return nil
}
