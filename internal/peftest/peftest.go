// Package peftest holds what the tests of GoPEFT's packages share: a tiny
// model shape, a padded batch, float comparisons and the Hugging Face
// reference outputs. It does not import peft, so peft's own tests use it too.
package peftest

import (
	"math"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/gopeft/gopeft/peft/hf"
)

// TinyConfig is a 2-layer BERT small enough for fast CPU tests.
func TinyConfig() hf.Config {
	return hf.Config{
		ModelType: "bert", VocabSize: 50, HiddenSize: 16, NumLayers: 2, NumHeads: 2,
		IntermediateSize: 32, MaxPositions: 32, TypeVocabSize: 2, HiddenAct: "gelu",
		LayerNormEps: 1e-12, HasPooler: true, HasTokenTypes: true, InitializerRange: 0.02,
	}
}

// TinyIDs and TinyMask are a batch of two with padding in its second row.
func TinyIDs() [][]int32  { return [][]int32{{2, 7, 9, 11, 3, 0}, {2, 5, 3, 0, 0, 0}} }
func TinyMask() [][]int32 { return [][]int32{{1, 1, 1, 1, 1, 0}, {1, 1, 1, 0, 0, 0}} }

// Flat is a float32 tensor's values.
func Flat(t *testing.T, x *tensors.Tensor) []float32 {
	t.Helper()
	var out []float32
	x.ConstFlatData(func(flat any) { out = append(out, flat.([]float32)...) })
	return out
}

// MaxAbsDiff is the largest elementwise difference (+Inf for unequal lengths).
func MaxAbsDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

// HFReferenceDir holds checkpoints and outputs that Hugging Face
// transformers and peft wrote (scripts/hf/make_reference.py and
// peft_lora_reference.py, run on the GPU machine, which has them): the copy
// committed in peft/testdata/hfref, or GOPEFT_HF_REFERENCE for a fresh one.
func HFReferenceDir(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("GOPEFT_HF_REFERENCE"); dir != "" {
		return dir
	}
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "testdata", "hfref")
	if _, err := os.Stat(dir); err != nil {
		t.Skip("no Hugging Face reference outputs: run scripts/hf/make_reference.py OUTDIR and set GOPEFT_HF_REFERENCE=OUTDIR")
	}
	return filepath.Clean(dir)
}
