package encoder

import (
	"hash/fnv"
	"math/rand/v2"
	"runtime"
	"sync"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// The encoder's own weights are initialised on the host, in Go, rather than
// by GoMLX's graph initialisers: those compile and run a graph of random
// number generators, which took 27 s for BERT-base on an H200 through XLA
// and 33 s on the pure-Go backend; filling 110 M floats here takes well under
// a second. Values depend only on the seed (context.ParamInitialSeed) and
// the variable's scope and name, never on creation order.

// hostFill kinds.
const (
	fillZeros = iota
	fillOnes
	fillNormal
)

// hostVariable returns ctx's variable name, creating it when missing with
// values filled on the host: zeros, ones, or N(0, std).
func hostVariable(ctx *context.Context, name string, shape shapes.Shape, fill int, std float64) *context.Variable {
	if v := ctx.GetVariableByScopeAndName(ctx.Scope(), name); v != nil {
		return v
	}
	t := tensors.FromShape(shape)
	if shape.DType != dtypes.Float32 {
		// Only float32 weights are made here; others start at zero.
		return ctx.VariableWithValue(name, t)
	}
	seed := uint64(context.GetParamOr(ctx, context.ParamInitialSeed, int64(0)))
	h := fnv.New64a()
	_, _ = h.Write([]byte(ctx.Scope() + "/" + name))
	stream := h.Sum64()
	tensors.MutableFlatData(t, func(flat []float32) {
		switch fill {
		case fillOnes:
			for i := range flat {
				flat[i] = 1
			}
		case fillNormal:
			fillNormalParallel(flat, seed, stream, float32(std))
		}
	})
	return ctx.VariableWithValue(name, t)
}

// fillNormalParallel fills flat with N(0, std) in chunks, each from its own
// PCG stream, on all cores.
func fillNormalParallel(flat []float32, seed, stream uint64, std float32) {
	const chunk = 1 << 18
	n := (len(flat) + chunk - 1) / chunk
	work := make(chan int, n)
	for c := range n {
		work <- c
	}
	close(work)
	var wg sync.WaitGroup
	for range min(n, runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			for c := range work {
				rng := rand.New(rand.NewPCG(seed, stream^uint64(c)*0x9e3779b97f4a7c15))
				part := flat[c*chunk : min(len(flat), (c+1)*chunk)]
				for i := range part {
					part[i] = float32(rng.NormFloat64()) * std
				}
			}
		})
	}
	wg.Wait()
}
