package peft

import (
	"testing"

	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/gopeft/gopeft/internal/peftest"
	"github.com/gopeft/gopeft/peft/hf"
)

func tinyConfig() hf.Config { return peftest.TinyConfig() }

func tinyModel(t *testing.T) *Model {
	t.Helper()
	m, err := NewModel(tinyConfig(), nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// tinyBatch has padding in its second row.
func tinyBatch() Batch { return Batch{IDs: peftest.TinyIDs(), Mask: peftest.TinyMask()} }

func flat(t *testing.T, x *tensors.Tensor) []float32 { t.Helper(); return peftest.Flat(t, x) }

var maxAbsDiff = peftest.MaxAbsDiff

func withMasks(b *Bottleneck) *Bottleneck {
	b.Masks = DefaultMasks()
	return b
}
