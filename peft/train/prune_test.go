package train

import (
	"math"
	"testing"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/encoder"
	"github.com/gopeft/gopeft/peft/internal/trainingtest"
)

func TestCubicSchedule(t *testing.T) {
	p := Pruning{Sparsity: 0.8, Initial: 0.1, Start: 10, Every: 5, Updates: 4}.Resolved(100)
	// Zhu & Gupta: s_t = s_f + (s_i - s_f)(1 - (t - t0)/(nΔt))³.
	for _, c := range []struct {
		t    int
		want float64
		due  bool
	}{
		{0, 0.1, false}, {10, 0.1, true}, {12, 0.8 - 0.7*math.Pow(1-2.0/20, 3), false},
		{15, 0.8 - 0.7*math.Pow(0.75, 3), true}, {20, 0.8 - 0.7*0.125, true}, {30, 0.8, true}, {35, 0.8, false}, {99, 0.8, false},
	} {
		if got := p.At(c.t); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("At(%d) = %v, want %v", c.t, got, c.want)
		}
		if p.Due(c.t) != c.due {
			t.Errorf("Due(%d) = %v", c.t, !c.due)
		}
	}
	for _, bad := range []Pruning{{Sparsity: 1}, {Sparsity: -0.1}, {Sparsity: 0.5, Initial: 0.6}, {Sparsity: 0.5, Every: 10, Updates: 5}, {Sparsity: 0.5, Granularity: "row"}} {
		if bad.Validate(40) == nil {
			t.Errorf("%+v validated for 40 steps", bad)
		}
	}
}

// Fine-tuning with pruning: each mask update reaches its scheduled sparsity
// exactly (zero weights counted right after it), the final weights have exactly
// round(s_f·n) zeros, and the run records sparsity and parameters left.
func TestFinetunePrunesOnSchedule(t *testing.T) {
	m := trainingtest.SentimentModel(t)
	task := trainingtest.SentimentTask(64, 2)
	for _, g := range []peft.PruneGranularity{peft.PruneGlobal, peft.PruneLayer} {
		p := &Pruning{Sparsity: 0.7, Start: 2, Every: 3, Updates: 3, Granularity: g}
		r, err := Finetune(m, task, peft.NewSetup("lora", peft.DefaultLoRA()), Options{Steps: 14, BatchSize: 8, Seed: 3, Prune: p})
		if err != nil {
			t.Fatal(err)
		}
		targets := peft.PruneTargets(m.Config)
		n := 0
		for _, name := range targets {
			n += encoderSize(t, r, name)
		}
		want := []int{2, 5, 8, 11}
		if len(r.PruneEvents) != len(want) {
			t.Fatalf("%s: mask updates %+v, want at steps %v", g, r.PruneEvents, want)
		}
		res := p.Resolved(14)
		for i, e := range r.PruneEvents {
			s := res.At(want[i])
			if e.Step != want[i] || e.Sparsity != s {
				t.Errorf("%s: update %d at step %d sparsity %v, want step %d sparsity %v", g, i, e.Step, e.Sparsity, want[i], s)
			}
			want := int(math.Round(s * float64(n)))
			if g == peft.PruneLayer {
				want = 0
				for _, name := range targets {
					want += int(math.Round(s * float64(encoderSize(t, r, name))))
				}
			}
			if e.Zeros != want || e.Weights != want {
				t.Errorf("%s: update at step %d has %d masked and %d zero weights, want %d (s = %v)", g, e.Step, e.Zeros, e.Weights, want, s)
			}
		}
		zeros := 0
		for _, name := range targets {
			zeros += zerosOf(t, r, name)
		}
		if wantZeros := int(math.Round(0.7 * float64(n))); g == peft.PruneGlobal && zeros != wantZeros {
			t.Errorf("%s: %d zero weights after training, want %d of %d", g, zeros, wantZeros, n)
		}
		if math.Abs(r.Metrics["sparsity"]-float64(zeros)/float64(n)) > 1e-12 || r.Metrics["params_remaining"] != float64(r.Tuned.Counts().Total-zeros) {
			t.Errorf("%s: metrics %v, %d zeros of %d", g, r.Metrics, zeros, n)
		}
	}
}

func weightOf(t *testing.T, r *Run, name string) []float32 {
	t.Helper()
	scope, n := encoder.ScopeOf(name)
	v := r.Tuned.Ctx.GetVariableByScopeAndName(scope, n)
	if v == nil {
		t.Fatalf("no %s", name)
	}
	val, err := v.Value()
	if err != nil {
		t.Fatal(err)
	}
	var out []float32
	val.ConstFlatData(func(f any) { out = append(out, f.([]float32)...) })
	return out
}

func encoderSize(t *testing.T, r *Run, name string) int { return len(weightOf(t, r, name)) }

func zerosOf(t *testing.T, r *Run, name string) int {
	z := 0
	for _, v := range weightOf(t, r, name) {
		if v == 0 {
			z++
		}
	}
	return z
}

// One-shot pruning of a finished run reports the accuracy it costs and
// leaves the run as it was.
func TestRunPruneStructuredAndMagnitude(t *testing.T) {
	m := trainingtest.SentimentModel(t)
	task := trainingtest.SentimentTask(64, 2)
	r, err := Finetune(m, task, nil, Options{Steps: 10, BatchSize: 8, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	p, rep, err := r.PruneStructured(peft.StructuredPrune{Heads: 2, FFNFraction: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if rep.AccuracyBefore != r.Metrics["test_accuracy"] || math.IsNaN(rep.AccuracyAfter) || len(rep.Structured.Heads) != 2 || rep.Sparsity.Zeros == 0 {
		t.Errorf("report %+v (run's test accuracy %v)", rep, r.Metrics["test_accuracy"])
	}
	if peft.Sparsity(r.Tuned).Zeros != 0 || peft.Sparsity(p.Tuned).Zeros != rep.Sparsity.Zeros {
		t.Error("PruneStructured changed the original run, or the pruned run lost its masks")
	}
	heads, units, err := r.GateImportance(32)
	if err != nil {
		t.Fatal(err)
	}
	if _, rep, err := r.PruneStructured(peft.StructuredPrune{Heads: 3, HeadScores: heads, FFNScores: units, FFNFraction: 0.25}); err != nil || len(rep.Structured.Heads) != 3 {
		t.Errorf("PruneStructured by gradient importance: %+v, %v", rep, err)
	}
	if _, rep, err := r.PruneMagnitude(0.5, peft.PruneLayer, nil); err != nil || math.Abs(rep.Sparsity.Sparsity-0.5) > 1e-9 {
		t.Errorf("PruneMagnitude: %+v, %v", rep.Sparsity, err)
	}
}
