package peft

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gopeft/gopeft/peft/encoder"
	"github.com/gopeft/gopeft/peft/tokenizer"
)

// Batch is token ids, token types and attention mask, each [batch][seq].
type Batch struct {
	IDs, TypeIDs, Mask [][]int32
}

// BatchFrom converts a tokenizer batch.
func BatchFrom(b tokenizer.Batch) Batch {
	return Batch{IDs: b.IDs, TypeIDs: b.TypeIDs, Mask: b.Mask}
}

func (b Batch) tensors() (ids, types, mask *tensors.Tensor, err error) {
	if len(b.IDs) == 0 {
		return nil, nil, nil, fmt.Errorf("empty batch")
	}
	if b.TypeIDs == nil {
		b.TypeIDs = zerosLike(b.IDs)
	}
	if b.Mask == nil {
		b.Mask = onesLike(b.IDs)
	}
	return tensors.FromValue(b.IDs), tensors.FromValue(b.TypeIDs), tensors.FromValue(b.Mask), nil
}

func zerosLike(x [][]int32) [][]int32 {
	out := make([][]int32, len(x))
	for i := range x {
		out[i] = make([]int32, len(x[i]))
	}
	return out
}

func onesLike(x [][]int32) [][]int32 {
	out := zerosLike(x)
	for i := range out {
		for j := range out[i] {
			out[i][j] = 1
		}
	}
	return out
}

// inputs turns graph parameters into encoder inputs.
func inputs(ids, types, mask *graph.Node) encoder.Inputs {
	return encoder.Inputs{IDs: ids, TypeIDs: types, Mask: mask}
}

// runInference executes fn (inference mode) on a batch and returns its
// outputs. Graph building reports misuse (a batch that does not fit a
// BatchSplit, mismatched shapes) by panicking; those become errors here, so
// a notebook cell or CLI gets a message instead of a crash.
func runInference(ctx *context.Context, b Batch, fn func(ctx *context.Context, in encoder.Inputs) []*graph.Node) (out []*tensors.Tensor, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, panicError(r)
		}
	}()
	return execInference(ctx, b, fn)
}

// panicError turns a recovered panic value into an error, keeping its message.
func panicError(r any) error {
	if e, ok := r.(error); ok {
		return fmt.Errorf("inference: %w", e)
	}
	return fmt.Errorf("inference: %v", r)
}

func execInference(ctx *context.Context, b Batch, fn func(ctx *context.Context, in encoder.Inputs) []*graph.Node) ([]*tensors.Tensor, error) {
	backend, err := Backend()
	if err != nil {
		return nil, err
	}
	ids, types, mask, err := b.tensors()
	if err != nil {
		return nil, err
	}
	exec, err := context.NewExec(backend, ctx, func(ctx *context.Context, ids, types, mask *graph.Node) []*graph.Node {
		ctx.SetTraining(ids.Graph(), false)
		return fn(ctx, inputs(ids, types, mask))
	})
	if err != nil {
		return nil, err
	}
	return exec.Exec(ids, types, mask)
}

// Hidden returns the base model's last hidden state [batch, seq, hidden]
// and pooled output [batch, hidden].
func (m *Model) Hidden(b Batch) (hidden, pooled *tensors.Tensor, err error) {
	out, err := runInference(m.Ctx, b, func(ctx *context.Context, in encoder.Inputs) []*graph.Node {
		o := encoder.Forward(ctx, m.Config, in, nil)
		return []*graph.Node{o.Hidden, encoder.Pool(ctx, m.Config, o.Hidden)}
	})
	if err != nil {
		return nil, nil, err
	}
	return out[0], out[1], nil
}

// Hidden returns the adapted encoder's last hidden state, with the setup's
// inference-time AdapterDrop.
func (t *Tuned) Hidden(b Batch) (*tensors.Tensor, error) {
	out, err := runInference(t.Ctx, b, func(ctx *context.Context, in encoder.Inputs) []*graph.Node {
		o, _ := t.forward(ctx, in, t.Setup.Drop.InferenceDepth())
		return []*graph.Node{o.Hidden}
	})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// inferCache is a Tuned's compiled inference graph (GoMLX compiles one
// executable per input shape), the version it was built for and the setup
// it was built from: a setup edited in place (which the post-training
// methods never do) rebuilds it too.
type inferCache struct {
	version uint64
	setup   string
	exec    *context.Exec
}

// Logits returns the head's outputs [batch, outputs], with the setup's
// inference-time AdapterDrop. The graph is compiled once per Version and
// input shape.
func (t *Tuned) Logits(b Batch) (out *tensors.Tensor, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, panicError(r)
		}
	}()
	ids, types, mask, err := b.tensors()
	if err != nil {
		return nil, err
	}
	js, err := MarshalSetup(t.Setup)
	if err != nil {
		return nil, err
	}
	if t.infer == nil || t.infer.version != t.version || t.infer.setup != string(js) {
		backend, err := Backend()
		if err != nil {
			return nil, err
		}
		depth := t.Setup.Drop.InferenceDepth()
		e, err := context.NewExec(backend, t.Ctx, func(ctx *context.Context, ids, types, mask *graph.Node) *graph.Node {
			ctx.SetTraining(ids.Graph(), false)
			return t.logits(ctx, inputs(ids, types, mask), depth)
		})
		if err != nil {
			return nil, err
		}
		e.SetMaxCache(64)
		t.infer = &inferCache{version: t.version, setup: string(js), exec: e}
	}
	res, err := t.infer.exec.Exec(ids, types, mask)
	if err != nil {
		return nil, err
	}
	return res[0], nil
}
