package peft

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
)

// With every multiplier 1 GoPEFT's AdamW takes the steps GoMLX's AdamW
// takes (the stepper used it before): same losses, same weights.
func TestAdamWMatchesGoMLXAdam(t *testing.T) {
	m := tinyModel(t)
	newTuned := func() *Tuned {
		tu, err := NewTuned(m, NewSetup("houlsby", Houlsby()).Add("full", &FullFinetune{}), ClassificationHead(2), 1)
		if err != nil {
			t.Fatal(err)
		}
		return tu
	}
	ours, theirs := newTuned(), newTuned()
	a := ours.NewStepper(0.01)
	b := &Stepper{t: theirs, opt: optimizers.Adam().WeightDecay(0.01).Epsilon(1e-8).Done(), execs: map[int]*context.Exec{}}
	y := Labels{Classes: []int32{0, 1}}
	for i := range 5 {
		ra, err := a.Step(tinyBatch(), y, 1e-2, 0)
		if err != nil {
			t.Fatal(err)
		}
		rb, err := b.Step(tinyBatch(), y, 1e-2, 0)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(ra.Loss-rb.Loss) > 1e-6 {
			t.Fatalf("step %d: loss %v, GoMLX's Adam %v", i+1, ra.Loss, rb.Loss)
		}
	}
	sa, sb := snapshot(t, ours), snapshot(t, theirs)
	for name, w := range sa {
		if isParam(name) && maxAbsDiff(bytesFloats(w), bytesFloats(sb[name])) > 1e-6 {
			t.Errorf("%s differs from GoMLX's Adam after 5 steps", name)
		}
	}
}

func bytesFloats(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(uint32(b[4*i]) | uint32(b[4*i+1])<<8 | uint32(b[4*i+2])<<16 | uint32(b[4*i+3])<<24)
	}
	return out
}

// A variable at multiplier 0 stays bitwise equal under weight decay, and
// moves once its multiplier turns positive, with no new graph.
func TestAdamWZeroMultiplierHoldsStill(t *testing.T) {
	tu, err := NewTuned(tinyModel(t), NewSetup("full", &FullFinetune{}), ClassificationHead(2), 1)
	if err != nil {
		t.Fatal(err)
	}
	inLayer0 := func(v *context.Variable) bool { l, ok := LayerOf(v); return ok && l <= 0 }
	st := tu.NewStepperWith(StepperOptions{WeightDecay: 0.1})
	st.SetLRMultipliers(func(v *context.Variable) float64 {
		if inLayer0(v) {
			return 0
		}
		return 1
	})
	y := Labels{Classes: []int32{0, 1}}
	before := snapshot(t, tu)
	for range 3 {
		if _, err := st.Step(tinyBatch(), y, 1e-2, 0); err != nil {
			t.Fatal(err)
		}
	}
	after := snapshot(t, tu)
	for v := range tu.Ctx.IterVariables() {
		if !v.Trainable {
			continue
		}
		changed := !bytes.Equal(before[v.ScopeAndName()], after[v.ScopeAndName()])
		if changed == inLayer0(v) {
			t.Errorf("%s changed %v at multiplier %v", v.ScopeAndName(), changed, map[bool]int{true: 0, false: 1}[inLayer0(v)])
		}
	}
	st.SetLRMultipliers(nil)
	if _, err := st.Step(tinyBatch(), y, 1e-2, 0); err != nil {
		t.Fatal(err)
	}
	if len(st.execs) != 1 {
		t.Errorf("%d graphs compiled, want 1", len(st.execs))
	}
	moved := snapshot(t, tu)
	if w := "/encoder/layer/0/attention/self/query/weight"; bytes.Equal(after[w], moved[w]) {
		t.Errorf("%s did not move at multiplier 1", w)
	}
}

// LearningRates reads back the scheduled rate times each multiplier.
func TestAdamWLearningRatesReadBack(t *testing.T) {
	tu, err := NewTuned(tinyModel(t), NewSetup("full", &FullFinetune{}), ClassificationHead(2), 1)
	if err != nil {
		t.Fatal(err)
	}
	st := tu.NewStepper(0)
	if _, err := st.LearningRates(); err == nil {
		t.Error("LearningRates before a step did not fail")
	}
	mult := func(v *context.Variable) float64 {
		if l, ok := LayerOf(v); ok {
			return math.Pow(0.5, float64(1-l)) // layer 1: 1, layer 0: 0.5, embeddings: 0.25
		}
		return 2
	}
	st.SetLRMultipliers(mult)
	if _, err := st.Step(tinyBatch(), Labels{Classes: []int32{0, 1}}, 1e-3, 0); err != nil {
		t.Fatal(err)
	}
	rates, err := st.LearningRates()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for v := range tu.Ctx.IterVariables() {
		if !v.Trainable {
			continue
		}
		got, ok := rates[v.ScopeAndName()]
		if want := 1e-3 * mult(v); !ok || math.Abs(got-want) > 1e-9 {
			t.Errorf("%s: rate %v, want %v", v.ScopeAndName(), got, want)
		}
		n++
	}
	if len(rates) != n {
		t.Errorf("%d rates for %d trainable variables", len(rates), n)
	}
	st.SetLRMultipliers(func(*context.Variable) float64 { return -1 })
	if _, err := st.Step(tinyBatch(), Labels{Classes: []int32{0, 1}}, 1e-3, 0); err == nil || !strings.Contains(err.Error(), ">= 0") {
		t.Errorf("negative multiplier: %v", err)
	}
}

// clipGlobalNorm scales to the norm limit, leaves small gradients alone,
// and leaves variables at multiplier 0 out of the norm.
func TestClipGlobalNorm(t *testing.T) {
	b, err := Backend()
	if err != nil {
		t.Fatal(err)
	}
	run := func(maxNorm float64, mult0 float32) []float32 {
		e := graph.MustNewExec(b, func(a, c, m0, m1 *graph.Node) []*graph.Node {
			return clipGlobalNorm([]*graph.Node{a, c}, []*graph.Node{m0, m1}, maxNorm)
		})
		out := e.MustExec([]float32{3, 0}, []float32{0, 4}, mult0, float32(1))
		return append(tensors.MustCopyFlatData[float32](out[0]), tensors.MustCopyFlatData[float32](out[1])...)
	}
	near := func(got, want []float32) bool { return maxAbsDiff(got, want) < 1e-5 }
	if got := run(1, 1); !near(got, []float32{0.6, 0, 0, 0.8}) {
		t.Errorf("norm 5 clipped to 1: %v", got)
	}
	if got := run(10, 1); !near(got, []float32{3, 0, 0, 4}) {
		t.Errorf("norm 5 under 10 changed: %v", got)
	}
	if got := run(2, 0); !near(got, []float32{1.5, 0, 0, 2}) {
		t.Errorf("norm of the training variable alone is 4, clipped to 2: %v", got)
	}
}
