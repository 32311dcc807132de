package peft

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/gopeft/gopeft/peft/encoder"
)

func countZeros(t *testing.T, tu *Tuned, names []string) (zeros, n int) {
	t.Helper()
	for _, name := range names {
		w, err := canonicalValue(tu, name)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range w {
			if v == 0 {
				zeros++
			}
		}
		n += len(w)
	}
	return zeros, n
}

// Each mask update leaves exactly round(s·n) target weights at zero, over
// all targets (global) or within each matrix (layer), and sparsity only grows.
func TestPrunerReachesSparsityExactly(t *testing.T) {
	for _, g := range []PruneGranularity{PruneGlobal, PruneLayer} {
		tu, err := NewTuned(tinyModel(t), nil, ClassificationHead(2), 1)
		if err != nil {
			t.Fatal(err)
		}
		targets := PruneTargets(tu.Model.Config)
		p, err := NewPruner(tu, nil)
		if err != nil {
			t.Fatal(err)
		}
		prev := map[string][]float32{}
		for _, s := range []float64{0, 0.3, 0.5, 0.77, 0.9} {
			rep, err := p.Prune(s, g)
			if err != nil {
				t.Fatal(err)
			}
			zeros, n := countZeros(t, tu, targets)
			if g == PruneGlobal {
				if want := int(math.Round(s * float64(n))); zeros != want || rep.Zeros != want {
					t.Errorf("%s %.2f: %d zero weights (report %d), want %d of %d", g, s, zeros, rep.Zeros, want, n)
				}
			}
			for _, name := range targets {
				z, k := countZeros(t, tu, []string{name})
				if want := int(math.Round(s * float64(k))); g == PruneLayer && z != want {
					t.Errorf("%s %.2f: %s has %d zeros, want %d of %d", g, s, name, z, want, k)
				}
				w, _ := canonicalValue(tu, name)
				for i, v := range prev[name] {
					if v == 0 && w[i] != 0 {
						t.Fatalf("%s %.2f: %s[%d] was pruned and came back", g, s, name, i)
					}
				}
				prev[name] = w
			}
		}
	}
}

// Pruned weights that train (the head's, LoRA's) stay zero through
// later optimizer steps; frozen pruned weights too; unpruned ones still train.
func TestPrunedWeightsStayZeroWhileTraining(t *testing.T) {
	tu, err := NewTuned(tinyModel(t), NewSetup("lora", DefaultLoRA()), ClassificationHead(2), 1)
	if err != nil {
		t.Fatal(err)
	}
	st := tu.NewStepper(0)
	targets := []string{"head.dense.weight", "peft.lora.layer_0_query.lora_A.weight", encoder.FFNIn.WeightName(1)}
	p, err := NewPruner(tu, targets)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Prune(0.5, PruneLayer); err != nil {
		t.Fatal(err)
	}
	before := map[string][]float32{}
	for _, n := range targets {
		before[n], _ = canonicalValue(tu, n)
	}
	for range 5 {
		if _, err := st.Step(tinyBatch(), Labels{Classes: []int32{0, 1}}, 1e-2, 0); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range targets {
		after, _ := canonicalValue(tu, n)
		changed := 0
		for i, v := range before[n] {
			if v == 0 && after[i] != 0 {
				t.Fatalf("%s[%d] was pruned but is %g after training", n, i, after[i])
			}
			if v != after[i] {
				changed++
			}
		}
		if trains := n != encoder.FFNIn.WeightName(1); trains && changed == 0 {
			t.Errorf("%s did not train", n)
		}
	}
	// The masks and the zeros survive SaveTuned/LoadTuned.
	dir := t.TempDir()
	if err := SaveTuned(tu, dir, nil); err != nil {
		t.Fatal(err)
	}
	if !fileExists(filepath.Join(dir, PruneFile)) {
		t.Fatalf("no %s saved", PruneFile)
	}
	back, err := LoadTuned(tu.Model, tu.Setup, tu.Head, 1, dir)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := Sparsity(tu), Sparsity(back); a.Zeros != b.Zeros || a.Zeros == 0 {
		t.Errorf("loaded run has %d pruned weights, saved %d", b.Zeros, a.Zeros)
	}
	for _, n := range targets {
		a, _ := canonicalValue(tu, n)
		b, _ := canonicalValue(back, n)
		if d := maxAbsDiff(a, b); d != 0 {
			t.Errorf("%s differs by %g after loading", n, d)
		}
	}
	if c := back.Counts(); c.Total != tu.Counts().Total || c.Trainable != tu.Counts().Trainable {
		t.Errorf("masks changed the parameter counts: %+v vs %+v", c, tu.Counts())
	}
}

// PruneStructured zeroes whole heads (their q/k/v rows and biases, their
// attention-output columns) and whole FFN units, the least important by
// weight norm; the original Tuned is unchanged.
func TestPruneStructuredRemovesWholeHeadsAndUnits(t *testing.T) {
	tu, err := NewTuned(tinyModel(t), nil, ClassificationHead(2), 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg := tu.Model.Config
	imp, err := HeadImportance(tu)
	if err != nil {
		t.Fatal(err)
	}
	pruned, rep, err := tu.PruneStructured(StructuredPrune{Heads: 1, FFNFraction: 0.25})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Heads) != 1 {
		t.Fatalf("removed heads %v", rep.Heads)
	}
	l, h := rep.Heads[0][0], rep.Heads[0][1]
	for ll := range imp {
		for hh := range imp[ll] {
			if imp[ll][hh] < imp[l][h] {
				t.Errorf("removed head %d.%d (norm %g) but %d.%d is smaller (%g)", l, h, imp[l][h], ll, hh, imp[ll][hh])
			}
		}
	}
	hd, d := cfg.HeadDim(), cfg.HiddenSize
	for _, s := range []encoder.Site{encoder.Query, encoder.Key, encoder.Value} {
		w, _ := canonicalValue(pruned, s.WeightName(l))
		for r := range d {
			for c := range d {
				if inHead := r/hd == h; inHead != (w[r*d+c] == 0) {
					t.Fatalf("%s row %d col %d = %g (head %d removed)", s, r, c, w[r*d+c], h)
				}
			}
		}
		b, _ := canonicalValue(pruned, s.WeightName(l)[:len(s.WeightName(l))-len("weight")]+"bias")
		for r := h * hd; r < (h+1)*hd; r++ {
			if b[r] != 0 {
				t.Errorf("%s bias %d = %g in a removed head", s, r, b[r])
			}
		}
	}
	o, _ := canonicalValue(pruned, encoder.AttnOut.WeightName(l))
	for r := range d {
		for c := h * hd; c < (h+1)*hd; c++ {
			if o[r*d+c] != 0 {
				t.Fatalf("attention output column %d is %g in a removed head", c, o[r*d+c])
			}
		}
	}
	units := int(math.Round(0.25 * float64(cfg.IntermediateSize)))
	for layer := range cfg.NumLayers {
		in, _ := canonicalValue(pruned, encoder.FFNIn.WeightName(layer))
		out, _ := canonicalValue(pruned, encoder.FFNOut.WeightName(layer))
		removed := 0
		for u := range cfg.IntermediateSize {
			rowZero, colZero := true, true
			for c := range d {
				rowZero = rowZero && in[u*d+c] == 0
				colZero = colZero && out[c*cfg.IntermediateSize+u] == 0
			}
			if rowZero != colZero {
				t.Errorf("layer %d unit %d: input row zero %v, output column zero %v", layer, u, rowZero, colZero)
			}
			if rowZero {
				removed++
			}
		}
		if removed != units || rep.FFNUnits[layer] != units {
			t.Errorf("layer %d: %d FFN units removed (report %d), want %d", layer, removed, rep.FFNUnits[layer], units)
		}
	}
	if z, _ := countZeros(t, tu, PruneTargets(cfg)); z != 0 {
		t.Errorf("the original Tuned has %d zeros after PruneStructured", z)
	}
	want := hd*(3*d+3) + d*hd + cfg.NumLayers*units*(2*d+1)
	if rep.ParamsRemoved != want {
		t.Errorf("ParamsRemoved %d, want %d", rep.ParamsRemoved, want)
	}
	if _, err := pruned.Logits(tinyBatch()); err != nil {
		t.Fatal(err)
	}
}

// GateImportance equals |∂L/∂ξ_h| for a gate on each head's output, checked
// against central finite differences of the loss with the head's attention
// output columns scaled by 1±ε (which is what a gate of 1±ε does).
func TestGateImportanceIsTheHeadGateGradient(t *testing.T) {
	tu, err := NewTuned(tinyModel(t), nil, Head{Outputs: 2, Layers: 1}, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Unit-scale weights, so the loss depends measurably on every head.
	for v := range tu.Ctx.IterVariables() {
		if v.Shape().Rank() == 2 && v.Shape().DType.IsFloat() && v.Name() == "weight" && !strings.Contains(v.Scope(), "embeddings") {
			w, _ := flatValue(v)
			for i := range w {
				w[i] *= 20
			}
			v.MustSetValue(tensors.FromFlatDataAndDimensions(w, v.Shape().Dimensions...))
		}
	}
	b, y := tinyBatch(), Labels{Classes: []int32{0, 1}}
	heads, _, err := GateImportance(tu, []Batch{b}, []Labels{y})
	if err != nil {
		t.Fatal(err)
	}
	loss := func(tt *Tuned) float64 {
		out, err := tt.Logits(b)
		if err != nil {
			t.Fatal(err)
		}
		z := flat(t, out)
		l := 0.0
		for i, c := range y.Classes {
			row := z[2*i : 2*i+2]
			m := math.Max(float64(row[0]), float64(row[1]))
			l += m + math.Log(math.Exp(float64(row[0])-m)+math.Exp(float64(row[1])-m)) - float64(row[c])
		}
		return l / 2
	}
	cfg := tu.Model.Config
	hd, d := cfg.HeadDim(), cfg.HiddenSize
	const eps = 1e-2
	for l := range cfg.NumLayers {
		fd := make([]float64, cfg.NumHeads)
		for h := range cfg.NumHeads {
			scaled := func(f float32) *Tuned {
				n, err := tu.derive(func(n *Tuned) error {
					scope, name := encoder.ScopeOf(encoder.AttnOut.WeightName(l))
					v := n.Ctx.GetVariableByScopeAndName(scope, name)
					w, _ := flatValue(v)
					for r := range d {
						for c := h * hd; c < (h+1)*hd; c++ {
							w[r*d+c] *= f
						}
					}
					return v.SetValue(tensors.FromFlatDataAndDimensions(w, d, d))
				})
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
			fd[h] = math.Abs(loss(scaled(1+eps))-loss(scaled(1-eps))) / (2 * eps)
		}
		normalise(fd)
		for h := range fd {
			if math.Abs(fd[h]-heads[l][h]) > 1e-3 {
				t.Errorf("layer %d head %d: importance %.4f, finite differences %.4f (both normalised per layer)", l, h, heads[l][h], fd[h])
			}
		}
	}
	// Gradient scores drive PruneStructured when given.
	if _, rep, err := tu.PruneStructured(StructuredPrune{Heads: 1, HeadScores: heads, FFNScores: [][]float64{make([]float64, 32), make([]float64, 32)}}); err != nil || len(rep.Heads) != 1 {
		t.Fatalf("PruneStructured with scores: %+v, %v", rep, err)
	}
}
