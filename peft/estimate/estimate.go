// Package estimate predicts what fine-tuning gives and costs before it runs,
// and shows how good its predictions are.
//
// Accuracy: Extract takes a frozen encoder's features of sampled examples
// (every layer, CLS or mean-pooled, and the MLM head's distributions);
// LogME, HScore, LEEP and ProbeAccuracy score them (checked against the
// NumPy reference in scripts/estimate/reference.py); Transfer does all of
// it for a task. GroundTruth fine-tunes configurations through the run
// store, Fit maps scores to fine-tuned accuracy by least squares (a
// Prediction has a 90% interval and the number of runs behind it), and
// LeaveOneOut returns PredictedVsActual with Kendall's tau, overall and
// within each task.
//
// Data: FitCurve/FitCurveBounded fit a − b·n^(−c) by weighted least squares
// (ProbeCurve and StepCurve give points); CurveBand is the curve with its
// band, the prediction at a target n and where more data stops paying.
//
// Resources: Memory counts tensors (weights, gradients, AdamW, activations
// a layer keeps for backward by method, workspace); PredictMemory turns the
// count into a peak with a backend's measured constants (BackendMemory);
// MaxBatch, MemoryCurve; MeasureSteps times real steps and reads peak RSS
// or XLA's compiled device memory; Preflight puts it together:
//
//	p, _ := estimate.Preflight(model, task, setup, estimate.PreflightOptions{Train: opt})
//	fmt.Println(p) // fits in 0.07 of 25.3 GB (largest batch that fits: ...); about 16 s per epoch (...) on blas
//
//	e := estimate.Memory(model.Config, peft.NewSetup("h", peft.Houlsby()), 16, 128, 4)
//	fmt.Println(e) // total ... MiB = weights ... + gradients ... + optimizer ... + activations ... + workspace ...
package estimate

import (
	"fmt"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/encoder"
	"github.com/gopeft/gopeft/peft/hf"
)

// MemoryUse is a first, honest estimate of training memory in bytes
// (issue 6's estimator v1). It counts tensors, not allocator overhead or
// the backend's own buffers, so measured peaks run higher.
type MemoryUse struct {
	Weights     int64 `json:"weights"`     // base + adapters + a two-class head
	Trainable   int64 `json:"trainable"`   // the trained parameters (included in Weights)
	Gradients   int64 `json:"gradients"`   // one per trainable parameter
	Optimizer   int64 `json:"optimizer"`   // AdamW: 2 moments per trainable parameter
	Activations int64 `json:"activations"` // stored for the backward pass
	Workspace   int64 `json:"workspace"`   // the largest transient tensors of one layer
	Total       int64 `json:"total"`
	// BackwardLayers is how many encoder layers keep activations: those at
	// or above the lowest trained layer.
	BackwardLayers int `json:"backward_layers"`
	// LayerActivations is what each encoder layer keeps for backward, layer
	// 0 first: nothing below the lowest trained layer (AdapterDrop's dropped
	// layers, frozen layers no gradient passes through); frozen layers above
	// it keep what the backward pass through them needs.
	LayerActivations []int64 `json:"layer_activations"`
}

// Activation constants, counted from encoder.Forward (floats per token per
// layer kept because a VJP reads them; frozen weights need no input copies):
//
//	hidden (c1 = 7): q and k (read by the scores einsum's VJP), v (read by
//	  probs·v), and 2 per LayerNorm × 2 LayerNorms (centred input, normalised
//	  output); +2 when hidden dropout is on (its masks).
//	intermediate (c2 = 2): GELU's input and its erf term.
//	heads·seq (c3 = 2): the softmax's exp and its normalised output; +1 with
//	  attention dropout (its mask). Prefix tuning widens this to seq+prefix.
//
// Methods report what they add per layer through peft.ActivationSizer; each
// bottleneck module adds its input (hidden, read by the trained down
// projection's weight gradient) and 2 floats per unit (activation and its
// input); other methods are counted as one extra hidden vector per layer.
const (
	actHidden       = 7
	actIntermediate = 2
	actScores       = 2
)

// Memory estimates the memory of one training step of setup s on a
// model of config cfg, for batch × seqLen tokens, with dtypeBytes per value
// (4 for float32, 2 for bfloat16).
func Memory(cfg hf.Config, s *peft.Setup, batch, seqLen int, dtypeBytes int) MemoryUse {
	if s == nil {
		s = &peft.Setup{}
	}
	B, S, H, I, A := int64(batch), int64(seqLen), int64(cfg.HiddenSize), int64(cfg.IntermediateSize), int64(cfg.NumHeads)
	bytes := int64(dtypeBytes)
	head := peft.ClassificationHead(2).NumParams(cfg.HiddenSize)
	base := 0
	for _, shape := range hf.ExpectedShapes(cfg) {
		n := 1
		for _, d := range shape {
			n *= d
		}
		base += n
	}
	trainable := int64(head)
	lowest := cfg.NumLayers // lowest layer that needs gradients
	prefix := int64(0)
	perLayerExtra := int64(0) // floats per layer beyond the plain encoder
	names := map[string]bool{}
	for _, n := range s.ActiveNames() {
		names[n] = true
	}
	for _, a := range s.Adapters {
		if !s.Trains(a.Name) {
			continue
		}
		trainable += int64(a.Method.NumParams(cfg))
		for _, l := range peft.Leaves(a.Method) {
			if bt, ok := l.(peft.BaseTrainer); ok {
				for name, shape := range hf.ExpectedShapes(cfg) {
					if bt.TrainsBase(cfg, name) {
						n := int64(1)
						for _, d := range shape {
							n *= int64(d)
						}
						trainable += n
						if l, ok := peft.BaseLayer(name); ok {
							lowest = min(lowest, max(l, 0)) // the gradient reaches the lowest trained weight
						}
					}
				}
			}
		}
		if !names[a.Name] {
			continue
		}
		for _, l := range peft.Leaves(a.Method) {
			if bt, ok := l.(peft.BaseTrainer); ok {
				perLayerExtra += B * S * baseInputFloats(cfg, bt)
				continue // its base weights are counted above; the lowest trained one sets lowest
			}
			if !peft.HasHooks(l) {
				continue // nothing in the layers (head only)
			}
			if !s.Drop.Robust { // static drops ignore the rng; robust ones are planned at depth 0 below
				lowest = min(lowest, s.Drop.TrainDepth(cfg, nil))
			}
			if as, ok := l.(peft.ActivationSizer); ok {
				floats, p := as.Activations(cfg, B*S)
				perLayerExtra += floats
				prefix += int64(p)
				continue
			}
			if peft.ChangesEmbeddings(l) {
				lowest = 0
			}
			perLayerExtra += B * S * H
		}
	}
	if s.Drop.Robust && len(names) > 0 {
		lowest = 0 // depth 0 is drawn too: plan for the deepest backward pass
	}
	layers := int64(max(0, cfg.NumLayers-lowest))
	hiddenC, scoresC := int64(actHidden), int64(actScores)
	if cfg.HiddenDropout > 0 {
		hiddenC += 2
	}
	if cfg.AttentionDropout > 0 {
		scoresC++
	}
	keys := S + prefix
	perLayer := B*S*(hiddenC*H+actIntermediate*I) + scoresC*B*A*S*keys + perLayerExtra
	e := MemoryUse{
		Weights:        (int64(base) + int64(s.NumParams(cfg)) + int64(head)) * bytes,
		Trainable:      trainable * bytes,
		Gradients:      trainable * bytes,
		Optimizer:      2 * trainable * bytes,
		Activations:    layers * perLayer * bytes,
		Workspace:      (2*B*A*S*keys + B*S*I) * bytes,
		BackwardLayers: int(layers),
	}
	e.LayerActivations = make([]int64, cfg.NumLayers)
	for l := cfg.NumLayers - int(layers); l < cfg.NumLayers; l++ {
		e.LayerActivations[l] = perLayer * bytes
	}
	e.Total = e.Weights + e.Gradients + e.Optimizer + e.Activations + e.Workspace
	return e
}

// String formats an estimate in MiB.
func (e MemoryUse) String() string {
	mib := func(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
	return fmt.Sprintf("total %s = weights %s + gradients %s + optimizer %s + activations %s (%d layers) + workspace %s",
		mib(e.Total), mib(e.Weights), mib(e.Gradients), mib(e.Optimizer), mib(e.Activations), e.BackwardLayers, mib(e.Workspace))
}

// baseInputFloats is what trained base projections keep per token per
// layer for their weight gradients (dW = dyᵀx needs x): the layer input
// (shared by query, key and value), the attention context (attention
// output), the first LayerNorm's output (FFN in) and the GELU output (FFN
// out). Frozen projections keep none of it: dx = dy·W needs only W. Biases
// and LayerNorm parameters need nothing beyond what the frozen pass keeps.
func baseInputFloats(cfg hf.Config, bt peft.BaseTrainer) int64 {
	H, I := int64(cfg.HiddenSize), int64(cfg.IntermediateSize)
	trains := func(site encoder.Site) bool {
		for l := range cfg.NumLayers {
			if bt.TrainsBase(cfg, site.WeightName(l)) {
				return true
			}
		}
		return false
	}
	var n int64
	if trains(encoder.Query) || trains(encoder.Key) || trains(encoder.Value) {
		n += H
	}
	if trains(encoder.AttnOut) {
		n += H
	}
	if trains(encoder.FFNIn) {
		n += H
	}
	if trains(encoder.FFNOut) {
		n += I
	}
	return n
}
