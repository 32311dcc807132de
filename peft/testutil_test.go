package peft

import (
	"math"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/gopeft/gopeft/peft/hf"
)

// tinyConfig is a 2-layer BERT small enough for fast CPU tests.
func tinyConfig() hf.Config {
	return hf.Config{
		ModelType: "bert", VocabSize: 50, HiddenSize: 16, NumLayers: 2, NumHeads: 2,
		IntermediateSize: 32, MaxPositions: 32, TypeVocabSize: 2, HiddenAct: "gelu",
		LayerNormEps: 1e-12, HasPooler: true, HasTokenTypes: true, InitializerRange: 0.02,
	}
}

func tinyModel(t *testing.T) *Model {
	t.Helper()
	m, err := NewModel(tinyConfig(), nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// tinyBatch has padding in its second row.
func tinyBatch() Batch {
	return Batch{
		IDs:  [][]int32{{2, 7, 9, 11, 3, 0}, {2, 5, 3, 0, 0, 0}},
		Mask: [][]int32{{1, 1, 1, 1, 1, 0}, {1, 1, 1, 0, 0, 0}},
	}
}

func flat(t *testing.T, x *tensors.Tensor) []float32 {
	t.Helper()
	var out []float32
	x.ConstFlatData(func(flat any) { out = append(out, flat.([]float32)...) })
	return out
}

func maxAbsDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}
