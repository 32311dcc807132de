package estimate

import (
	"fmt"
	"math/rand/v2"
	"time"

	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/data"
	"github.com/gopeft/gopeft/peft/encoder"
)

// Pooling turns a layer's token states into one feature vector.
type Pooling string

const (
	PoolCLS  Pooling = "cls"  // the [CLS] token's state
	PoolMean Pooling = "mean" // the mean over real (unpadded) tokens
)

// FeatureOptions control Extract.
type FeatureOptions struct {
	MaxLen    int  // tokens per example, [CLS] and [SEP] included (default 128, capped by the model)
	BatchSize int  // examples per forward pass (default 32)
	MLM       bool // also the MLM head's token distributions (LEEP's source labels)
}

// Features are a frozen encoder's pooled states of a set of examples.
type Features struct {
	// CLS and Mean are [layer][example][hidden]: layer 0 is the embeddings'
	// output, layer l the output of encoder layer l-1 (so the last is the
	// encoder's output).
	CLS, Mean [][][]float64
	// MLM is [example][vocab]: the masked-language-model head's predicted
	// distribution over the vocabulary, averaged over the example's real
	// tokens; nil unless FeatureOptions.MLM.
	MLM     [][]float64
	Labels  []int
	Seconds float64 // wall time of the forward passes
}

// Layers is the number of feature layers (the model's layers + 1).
func (f *Features) Layers() int { return len(f.CLS) }

// At returns the features of one layer (negative counts from the top: -1 is
// the encoder's output) and pooling.
func (f *Features) At(layer int, pool Pooling) ([][]float64, error) {
	if layer < 0 {
		layer += f.Layers()
	}
	if layer < 0 || layer >= f.Layers() {
		return nil, fmt.Errorf("feature layer %d out of range: the model has layers 0 (embeddings) to %d", layer, f.Layers()-1)
	}
	switch pool {
	case PoolCLS:
		return f.CLS[layer], nil
	case PoolMean, "":
		return f.Mean[layer], nil
	}
	return nil, fmt.Errorf("pooling %q unknown: use %q or %q", pool, PoolCLS, PoolMean)
}

// layerTap is the plain encoder, recording the state after the embeddings
// and after each layer.
type layerTap struct {
	encoder.NoHooks
	states []*Node
}

func (h *layerTap) Embeddings(_ *context.Context, x, mask *Node) (*Node, *Node) {
	h.states = append(h.states, x)
	return x, mask
}

func (h *layerTap) Residual(ctx *context.Context, layer int, sub encoder.Sublayer, out, in *Node, ln func(*Node) *Node) *Node {
	y := h.NoHooks.Residual(ctx, layer, sub, out, in, ln)
	if sub == encoder.FFN {
		h.states = append(h.states, y)
	}
	return y
}

// Extract runs the frozen model m (inference mode, no dropout) over texts
// and returns each layer's CLS and mean-pooled states. One graph is
// compiled (fixed batch and sequence length); the last batch is padded.
func Extract(m *peft.Model, texts []string, labels []int, opt FeatureOptions) (*Features, error) {
	if m == nil || m.Tokenizer == nil {
		return nil, fmt.Errorf("feature extraction needs a model with a tokenizer (peft.LoadModel)")
	}
	if len(texts) == 0 {
		return nil, fmt.Errorf("no texts to extract features from")
	}
	if labels != nil && len(labels) != len(texts) {
		return nil, fmt.Errorf("%d texts but %d labels", len(texts), len(labels))
	}
	cfg := m.Config
	if opt.MaxLen <= 0 {
		opt.MaxLen = 128
	}
	opt.MaxLen = max(2, min(opt.MaxLen, cfg.MaxPositions-cfg.PositionOffset))
	if opt.BatchSize <= 0 {
		opt.BatchSize = 32
	}
	if opt.MLM {
		if m.Ctx.GetVariableByScopeAndName("/cls/predictions", "bias") == nil {
			return nil, fmt.Errorf("model %s has no MLM head (cls.predictions.* weights): LEEP needs one; use a BertForMaskedLM checkpoint such as models/gopeft-small", m.Dir)
		}
	}
	backend, err := peft.Backend()
	if err != nil {
		return nil, err
	}
	layers := cfg.NumLayers + 1
	exec, err := context.NewExec(backend, m.Ctx, func(ctx *context.Context, ids, types, mask *Node) []*Node {
		ctx.SetTraining(ids.Graph(), false)
		tap := &layerTap{}
		out := encoder.Forward(ctx, cfg, encoder.Inputs{IDs: ids, TypeIDs: types, Mask: mask}, tap)
		m := InsertAxes(out.Mask, -1) // [batch, seq, 1]
		count := ReduceSum(m, 1)      // [batch, 1]
		var res []*Node
		for _, s := range tap.states {
			res = append(res, Squeeze(Slice(s, AxisRange(), AxisElem(0)), 1))
			res = append(res, Div(ReduceSum(Mul(s, m), 1), count))
		}
		if opt.MLM {
			p := Softmax(encoder.MLMLogits(ctx, cfg, out.Hidden), -1)
			res = append(res, Div(ReduceSum(Mul(p, m), 1), count))
		}
		return res
	})
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	f := &Features{CLS: make([][][]float64, layers), Mean: make([][][]float64, layers), Labels: labels}
	start := time.Now()
	for at := 0; at < len(texts); at += opt.BatchSize {
		chunk := texts[at:min(len(texts), at+opt.BatchSize)]
		b := m.Tokenizer.EncodeBatch(chunk, opt.MaxLen)
		for len(b.IDs) < opt.BatchSize { // pad to the compiled batch; padding rows see one token
			ids, types, mask := m.Tokenizer.Encode("", opt.MaxLen)
			b.IDs, b.TypeIDs, b.Mask = append(b.IDs, ids), append(b.TypeIDs, types), append(b.Mask, mask)
		}
		outs, err := execFeatures(exec, b.IDs, b.TypeIDs, b.Mask)
		if err != nil {
			return nil, err
		}
		rows := func(t *tensors.Tensor) [][]float64 {
			flat := tensors.MustCopyFlatData[float32](t)
			w := len(flat) / opt.BatchSize
			r := make([][]float64, len(chunk))
			for i := range r {
				r[i] = make([]float64, w)
				for j := range r[i] {
					r[i][j] = float64(flat[i*w+j])
				}
			}
			return r
		}
		for l := 0; l < layers; l++ {
			f.CLS[l] = append(f.CLS[l], rows(outs[2*l])...)
			f.Mean[l] = append(f.Mean[l], rows(outs[2*l+1])...)
		}
		if opt.MLM {
			f.MLM = append(f.MLM, rows(outs[2*layers])...)
		}
	}
	f.Seconds = time.Since(start).Seconds()
	return f, nil
}

func execFeatures(e *context.Exec, ids, types, mask [][]int32) (out []*tensors.Tensor, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("feature extraction: %v", r)
		}
	}()
	return e.Exec(tensors.FromValue(ids), tensors.FromValue(types), tensors.FromValue(mask))
}

// Sample draws n training examples of task (all when n <= 0 or n exceeds
// the split), seeded, stratified: each class keeps its share, and every
// class with training examples gets at least one.
func Sample(task *data.Task, n int, seed uint64) (texts []string, labels []int) {
	pool := task.Train
	if n <= 0 || n >= len(pool) {
		for _, e := range pool {
			texts, labels = append(texts, e.Text), append(labels, e.Label)
		}
		return texts, labels
	}
	byClass := map[int][]data.Example{}
	var order []int
	for _, e := range pool {
		if _, ok := byClass[e.Label]; !ok {
			order = append(order, e.Label)
		}
		byClass[e.Label] = append(byClass[e.Label], e)
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	for _, c := range order {
		es := byClass[c]
		rng.Shuffle(len(es), func(i, j int) { es[i], es[j] = es[j], es[i] })
		k := max(1, (len(es)*n+len(pool)/2)/len(pool))
		for _, e := range es[:min(k, len(es))] {
			texts, labels = append(texts, e.Text), append(labels, e.Label)
		}
	}
	return texts, labels
}
