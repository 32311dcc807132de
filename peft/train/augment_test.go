package train

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/internal/trainingtest"
)

const (
	cls, sep, maskTok = 2, 3, 4
)

func example(n int) []int32 {
	ids := []int32{cls}
	for i := range n {
		ids = append(ids, int32(100+i))
	}
	return append(ids, sep)
}

func TestAugmentEachChange(t *testing.T) {
	ids := example(20)
	rng := func() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }
	check := func(name string, out []int32) {
		t.Helper()
		if out[0] != cls || out[len(out)-1] != sep {
			t.Errorf("%s: [CLS]/[SEP] not kept: %v", name, out)
		}
		if len(out) < 3 {
			t.Errorf("%s: every token gone: %v", name, out)
		}
	}
	if out := (Augment{}).Apply(ids, maskTok, rng()); !slices.Equal(out, ids) {
		t.Errorf("off changed %v to %v", ids, out)
	}
	// Span deletion removes one contiguous run of round(0.25·20) = 5.
	out := Augment{SpanDelete: 0.25}.Apply(ids, maskTok, rng())
	check("span", out)
	if len(out) != len(ids)-5 {
		t.Errorf("span deletion kept %d of %d", len(out), len(ids))
	}
	gaps := 0
	for i := 2; i < len(out)-1; i++ {
		if out[i] != out[i-1]+1 {
			gaps++
		}
	}
	if gaps > 1 {
		t.Errorf("span deletion left %d gaps: %v", gaps, out)
	}
	// Swap permutes, keeping every token.
	out = Augment{Swap: 0.2}.Apply(ids, maskTok, rng())
	check("swap", out)
	if a, b := slices.Sorted(slices.Values(out)), slices.Sorted(slices.Values(ids)); !slices.Equal(a, b) || slices.Equal(out, ids) {
		t.Errorf("swap gave %v", out)
	}
	// Dropout and masking hit about their rate over many examples.
	dropped, masked, total := 0, 0, 0
	r := rng()
	for range 500 {
		dropped += len(ids) - len(Augment{Dropout: 0.3}.Apply(ids, maskTok, r))
		for _, id := range (Augment{Mask: 0.15}).Apply(ids, maskTok, r) {
			if id == maskTok {
				masked++
			}
		}
		total += 20
	}
	if f := float64(dropped) / float64(total); f < 0.27 || f > 0.33 {
		t.Errorf("dropout removed %.3f of tokens, want about 0.3", f)
	}
	if f := float64(masked) / float64(total); f < 0.13 || f > 0.17 {
		t.Errorf("masking hit %.3f of tokens, want about 0.15", f)
	}
	check("dropout", Augment{Dropout: 0.99}.Apply(example(1), maskTok, rng()))
	all := Augment{SpanDelete: 0.1, Dropout: 0.1, Swap: 0.1, Mask: 0.1}
	if a, b := all.Apply(ids, maskTok, rng()), all.Apply(ids, maskTok, rng()); !slices.Equal(a, b) {
		t.Errorf("same seed, different results: %v vs %v", a, b)
	}
	if !slices.Equal(ids, example(20)) {
		t.Error("Apply changed its input")
	}
}

// Augmentation draws from its own stream (recipeRun.aug), never the
// sampler's: the same seed repeats an augmented run exactly, and with it
// off the run is the plain run.
func TestFinetuneAugmentSeededAndComparable(t *testing.T) {
	m := trainingtest.SentimentModel(t)
	task := trainingtest.SentimentTask(64, 2)
	run := func(a Augment) []Point {
		opt := Options{Steps: 5, BatchSize: 8, Seed: 4, EvalEvery: -1, Recipe: Recipe{Augment: a}}
		r, err := Finetune(m, task, peft.NewSetup("a", trainingtest.Pfeiffer4()), opt)
		if err != nil {
			t.Fatal(err)
		}
		return r.Curve
	}
	plain, off := run(Augment{}), run(Augment{})
	on := Augment{Mask: 0.3, Dropout: 0.1}
	a, b := run(on), run(on)
	for i := range plain {
		if !samePoint(plain[i], off[i]) || !samePoint(a[i], b[i]) {
			t.Fatalf("step %d: not repeatable: %+v %+v / %+v %+v", i+1, plain[i], off[i], a[i], b[i])
		}
	}
	if samePoint(plain[len(plain)-1], a[len(a)-1]) {
		t.Error("augmentation changed nothing")
	}
}
