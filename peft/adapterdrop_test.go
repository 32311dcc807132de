package peft

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestRobustDropSamplesEveryDepthUniformly(t *testing.T) {
	cfg := tinyConfig()
	cfg.NumLayers = 12
	for _, tc := range []struct {
		drop AdapterDrop
		max  int
	}{
		{RobustDrop(), 11}, // default: all layers but the last
		{AdapterDrop{Robust: true, MaxLayers: 5}, 5},
	} {
		rng := rand.New(rand.NewPCG(7, 11))
		const draws = 24000
		counts := make([]int, cfg.NumLayers+1)
		for range draws {
			counts[tc.drop.TrainDepth(cfg, rng)]++
		}
		bins := tc.max + 1
		expected := float64(draws) / float64(bins)
		chi2 := 0.0
		for n, c := range counts {
			if n > tc.max {
				if c != 0 {
					t.Errorf("max %d: depth %d drawn %d times", tc.max, n, c)
				}
				continue
			}
			if c == 0 {
				t.Errorf("max %d: depth %d never drawn", tc.max, n)
			}
			chi2 += (float64(c) - expected) * (float64(c) - expected) / expected
		}
		// χ² with up to 11 degrees of freedom: 31.3 is the 0.1% critical value.
		if chi2 > 31.3 {
			t.Errorf("max %d: depth counts %v are not uniform (χ² = %.1f)", tc.max, counts[:bins], chi2)
		}
	}
	if d := StaticDrop(3).TrainDepth(cfg, nil); d != 3 {
		t.Errorf("static drop of 3 trains at depth %d", d)
	}
	if d := (AdapterDrop{Layers: 3, Inference: true}).TrainDepth(cfg, nil); d != 0 {
		t.Errorf("inference-only drop trains at depth %d, want 0", d)
	}
}

func TestMultiTaskInferenceWithDropEqualsSeparateRuns(t *testing.T) {
	tu := twoAdapters(t, Parallel("a", "b"), AdapterDrop{})
	b := tinyBatch()
	for n := 0; n < tinyConfig().NumLayers; n++ {
		drop := AdapterDrop{Layers: n, Inference: true}
		got := hiddenOf(t, view(tu, Parallel("a", "b"), drop), b)
		want := append(hiddenOf(t, view(tu, Name("a"), drop), b), hiddenOf(t, view(tu, Name("b"), drop), b)...)
		if d := maxAbsDiff(got, want); d > 1e-5 {
			t.Errorf("drop %d: Parallel differs from separate runs by %g", n, d)
		}
		f, err := view(tu, Parallel("a", "b"), AdapterDrop{}).LogitsAt(n)
		if err != nil {
			t.Fatal(err)
		}
		logits, err := f(b)
		if err != nil {
			t.Fatal(err)
		}
		if logits.Shape().Dim(0) != 2*len(b.IDs) {
			t.Errorf("drop %d: LogitsAt gave %d rows, want %d", n, logits.Shape().Dim(0), 2*len(b.IDs))
		}
	}
}

func TestPruneFusionKeepsHighestAttention(t *testing.T) {
	s := NewSetup("a", Pfeiffer()).Add("b", Pfeiffer()).Add("c", Pfeiffer())
	s.Active = Fuse("a", "b", "c")
	tu, err := NewTuned(tinyModel(t), s, Head{Outputs: 2, Layers: 1}, 9)
	if err != nil {
		t.Fatal(err)
	}
	trainFew(t, tu, 3) // move the fusion away from its initialisation
	att, err := tu.FusionAttention(tinyBatch())
	if err != nil {
		t.Fatal(err)
	}
	score := make([]float64, 3)
	for _, rows := range att {
		for _, r := range rows {
			for i := range r {
				score[i] += r[i]
			}
		}
	}
	names := []string{"a", "b", "c"}
	worst := 0
	for i := range score {
		if score[i] < score[worst] {
			worst = i
		}
	}
	pruned, kept, err := tu.PruneFusion(nil, 2, tinyBatch())
	if err != nil {
		t.Fatal(err)
	}
	if len(kept) != 2 || slices.Contains(kept, names[worst]) {
		t.Errorf("kept %v, want the two adapters other than %q (scores %v)", kept, names[worst], score)
	}
	patt, err := pruned.FusionAttention(tinyBatch())
	if err != nil {
		t.Fatal(err)
	}
	if len(patt[0][0]) != 2 {
		t.Errorf("pruned fusion attends over %d adapters, want 2", len(patt[0][0]))
	}
	// Keeping all adapters reuses the trained fusion weights exactly.
	all, _, err := tu.PruneFusion(nil, 3, tinyBatch())
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(hiddenOf(t, all, tinyBatch()), hiddenOf(t, tu, tinyBatch())); d > 1e-6 {
		t.Errorf("pruning to all adapters changed the output by %g: fusion weights not reused", d)
	}
	if _, _, err := tu.PruneFusion(nil, 0, tinyBatch()); err == nil {
		t.Errorf("k = 0 accepted")
	}
}

func TestDropAtInferenceEqualsLogitsAt(t *testing.T) {
	tu, err := NewTuned(tinyModel(t), NewSetup("a", Houlsby()), ClassificationHead(2), 3)
	if err != nil {
		t.Fatal(err)
	}
	trainFew(t, tu, 2)
	b := tinyBatch()
	for n := 0; n <= tinyConfig().NumLayers; n++ {
		d, err := tu.DropAtInference(n)
		if err != nil {
			t.Fatal(err)
		}
		f, err := tu.LogitsAt(n)
		if err != nil {
			t.Fatal(err)
		}
		want, err := f(b)
		if err != nil {
			t.Fatal(err)
		}
		got, err := d.Logits(b)
		if err != nil {
			t.Fatal(err)
		}
		if diff := maxAbsDiff(flat(t, got), flat(t, want)); diff != 0 {
			t.Errorf("depth %d: DropAtInference's logits differ from LogitsAt's by %g", n, diff)
		}
	}
	if tu.Setup.Drop.Layers != 0 {
		t.Error("DropAtInference changed the original setup")
	}
	if _, err := tu.DropAtInference(tinyConfig().NumLayers + 1); err == nil {
		t.Error("a depth beyond the model's layers was accepted")
	}
}
