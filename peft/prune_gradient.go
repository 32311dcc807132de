package peft

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train/losses"

	"github.com/gopeft/gopeft/peft/encoder"
)

// GateImportance is Michel et al. (2019)'s importance of each attention
// head, I_h = Σ_batches |∂L/∂ξ_h| for a gate ξ_h = 1 on the head's output,
// and the same for each FFN unit's activation, on the given labelled
// batches (no dropout), each layer's scores then divided by their L2 norm
// as Michel et al. do. The gate gradient needs no gate in the graph: the
// head's output enters the model only through its columns of the attention
// output projection W_o, so ∂L/∂ξ_h = Σ_{i, j∈h} W_o[i,j]·∂L/∂W_o[i,j]
// (likewise the FFN output's columns for units). That holds exactly unless
// a method also reads those inputs (LoRA or IA3 on attn_out or ffn_out).
func GateImportance(t *Tuned, batches []Batch, labels []Labels) (heads, units [][]float64, err error) {
	if len(batches) == 0 || len(batches) != len(labels) {
		return nil, nil, fmt.Errorf("GateImportance needs labelled batches: %d batches, %d label sets", len(batches), len(labels))
	}
	defer func() {
		if r := recover(); r != nil {
			heads, units, err = nil, nil, panicError(r)
		}
	}()
	cfg := t.Model.Config
	b, err := Backend()
	if err != nil {
		return nil, nil, err
	}
	e, err := context.NewExec(b, t.Ctx, func(ctx *context.Context, ids, types, mask, y *graph.Node) []*graph.Node {
		g := ids.Graph()
		ctx.SetTraining(g, false)
		logits := t.logits(ctx, inputs(ids, types, mask), 0)
		var loss *graph.Node
		if t.Head.Regression {
			loss = losses.MeanSquaredError([]*graph.Node{graph.Reshape(y, -1, 1)}, []*graph.Node{logits})
		} else {
			loss = losses.SparseCategoricalCrossEntropyLogits([]*graph.Node{graph.Reshape(y, -1, 1)}, []*graph.Node{logits})
		}
		loss = graph.ReduceAllMean(loss)
		var ws []*graph.Node
		for l := range cfg.NumLayers {
			for _, s := range []encoder.Site{encoder.AttnOut, encoder.FFNOut} {
				scope, name := encoder.ScopeOf(s.WeightName(l))
				ws = append(ws, ctx.GetVariableByScopeAndName(scope, name).ValueGraph(g))
			}
		}
		grads := graph.Gradient(loss, ws...)
		out := make([]*graph.Node, len(ws))
		for i := range ws {
			out[i] = graph.ReduceSum(graph.Mul(ws[i], grads[i]), 0) // per input column of W [out, in]
		}
		return out
	})
	if err != nil {
		return nil, nil, err
	}
	defer e.Finalize()
	heads, units = make([][]float64, cfg.NumLayers), make([][]float64, cfg.NumLayers)
	for l := range cfg.NumLayers {
		heads[l], units[l] = make([]float64, cfg.NumHeads), make([]float64, cfg.IntermediateSize)
	}
	hd := cfg.HeadDim()
	for i, batch := range batches {
		ids, types, mask, err := batch.tensors()
		if err != nil {
			return nil, nil, err
		}
		var y *tensors.Tensor
		if t.Head.Regression {
			y = tensors.FromValue(labels[i].Values)
		} else {
			y = tensors.FromValue(labels[i].Classes)
		}
		out, err := e.Exec(ids, types, mask, y)
		if err != nil {
			return nil, nil, err
		}
		for l := range cfg.NumLayers {
			cols := tensors.MustCopyFlatData[float32](out[2*l])
			for h := range cfg.NumHeads {
				s := 0.0
				for _, v := range cols[h*hd : (h+1)*hd] {
					s += float64(v)
				}
				heads[l][h] += math.Abs(s)
			}
			for u, v := range tensors.MustCopyFlatData[float32](out[2*l+1]) {
				units[l][u] += math.Abs(float64(v))
			}
		}
	}
	for l := range cfg.NumLayers {
		normalise(heads[l])
		normalise(units[l])
	}
	return heads, units, nil
}

func normalise(v []float64) {
	n := 0.0
	for _, x := range v {
		n += x * x
	}
	if n = math.Sqrt(n); n > 0 {
		for i := range v {
			v[i] /= n
		}
	}
}
