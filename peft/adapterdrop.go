package peft

import (
	"fmt"
	"math/rand/v2"

	"github.com/gopeft/gopeft/peft/hf"
)

// AdapterDrop removes adapters from the lowest layers (Rücklé et al. 2021),
// which speeds up training and especially multi-task inference: layers below
// the first active adapter run once for all tasks.
//
//   - Static: drop the adapters of layers 0..Layers-1, during training
//     (Training) and/or at inference (Inference).
//   - Robust: every training batch draws n uniformly from 0..MaxLayers
//     (default: all layers but the last) and drops layers 0..n-1, so one
//     trained adapter works at any drop depth at inference. This is a
//     training option, not a callback.
//
// Fusion pruning (keeping the k adapters with the highest mean fusion
// attention) is PruneFusion.
type AdapterDrop struct {
	Layers    int  `json:"layers"`
	Training  bool `json:"training"`
	Inference bool `json:"inference"`
	Robust    bool `json:"robust"`
	MaxLayers int  `json:"max_layers,omitempty"`
}

// StaticDrop drops the lowest n layers' adapters in training and inference.
func StaticDrop(n int) AdapterDrop { return AdapterDrop{Layers: n, Training: true, Inference: true} }

// RobustDrop samples the drop depth per training batch.
func RobustDrop() AdapterDrop { return AdapterDrop{Robust: true} }

func (d AdapterDrop) validate(cfg hf.Config) error {
	if d.Layers < 0 || d.Layers > cfg.NumLayers {
		return fmt.Errorf("AdapterDrop layers is %d: it must be within 0..%d (the model's layers)", d.Layers, cfg.NumLayers)
	}
	if d.MaxLayers < 0 || d.MaxLayers > cfg.NumLayers {
		return fmt.Errorf("AdapterDrop max_layers is %d: it must be within 0..%d", d.MaxLayers, cfg.NumLayers)
	}
	if d.Layers > 0 && !d.Training && !d.Inference {
		return fmt.Errorf("AdapterDrop drops %d layers but neither Training nor Inference is set: use StaticDrop(n)", d.Layers)
	}
	return nil
}

// maxRobust is the largest depth robust training draws.
func (d AdapterDrop) maxRobust(cfg hf.Config) int {
	if d.MaxLayers > 0 {
		return d.MaxLayers
	}
	return cfg.NumLayers - 1
}

// TrainDepth is the number of lowest layers without adapters for one
// training batch.
func (d AdapterDrop) TrainDepth(cfg hf.Config, rng *rand.Rand) int {
	if d.Robust {
		return rng.IntN(d.maxRobust(cfg) + 1)
	}
	if d.Training {
		return d.Layers
	}
	return 0
}

// InferenceDepth is the number of lowest layers without adapters at inference.
func (d AdapterDrop) InferenceDepth() int {
	if d.Inference {
		return d.Layers
	}
	return 0
}

// DroppedAt reports whether layer has no adapters at inference.
func (d AdapterDrop) DroppedAt(layer int) bool { return layer < d.InferenceDepth() }
