package estimate

import (
	"math"
	"testing"

	"github.com/gopeft/gopeft/peft"
)

func shippedModel(t *testing.T) *peft.Model {
	t.Helper()
	m, err := peft.LoadModel("../../models/gopeft-small")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestExtractMatchesHidden(t *testing.T) {
	m := shippedModel(t)
	texts := []string{"the whale swam", "congress shall pass the budget this year", "spam offer now"}
	f, err := Extract(m, texts, []int{0, 1, 0}, FeatureOptions{MaxLen: 16, BatchSize: 2, MLM: true})
	if err != nil {
		t.Fatal(err)
	}
	if f.Layers() != m.Config.NumLayers+1 || len(f.Mean[0]) != 3 || len(f.CLS[2][1]) != m.Config.HiddenSize {
		t.Fatalf("shapes: %d layers, %d rows", f.Layers(), len(f.Mean[0]))
	}
	// The top layer's CLS state is Model.Hidden's first token.
	b := m.Tokenizer.EncodeBatch(texts[:1], 16)
	h, _, err := m.Hidden(peft.BatchFrom(b))
	if err != nil {
		t.Fatal(err)
	}
	want := h.Value().([][][]float32)[0][0]
	top, _ := f.At(-1, PoolCLS)
	for j, w := range want {
		if math.Abs(float64(w)-top[0][j]) > 1e-4 {
			t.Fatalf("CLS feature %d: %g, Model.Hidden %g", j, top[0][j], w)
		}
	}
	for i, p := range f.MLM {
		s := 0.0
		for _, v := range p {
			s += v
		}
		if math.Abs(s-1) > 1e-3 || len(p) != m.Config.VocabSize {
			t.Errorf("MLM distribution %d sums to %g over %d words", i, s, len(p))
		}
	}
}
