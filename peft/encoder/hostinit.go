package encoder

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
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

// HostInit fills a new float32 variable's values on the host, each value
// drawn independently from rng (large variables are filled in parallel
// chunks, each chunk with its own rng).
type HostInit func(flat []float32, rng *rand.Rand)

// HostZeros, HostOnes, HostNormal, HostUniform and HostTruncatedNormal are
// the initialisers GoPEFT's weights use.
func HostZeros(flat []float32, _ *rand.Rand) { clear(flat) }

func HostOnes(flat []float32, _ *rand.Rand) {
	for i := range flat {
		flat[i] = 1
	}
}

// HostNormal is N(0, std).
func HostNormal(std float64) HostInit {
	return func(flat []float32, rng *rand.Rand) {
		for i := range flat {
			flat[i] = float32(rng.NormFloat64() * std)
		}
	}
}

// HostUniform is U[lo, hi).
func HostUniform(lo, hi float64) HostInit {
	return func(flat []float32, rng *rand.Rand) {
		for i := range flat {
			flat[i] = float32(lo + (hi-lo)*rng.Float64())
		}
	}
}

// HostTruncatedNormal is N(0, std) restricted to ±bound·std, drawn by
// rejection (as torch.nn.init.trunc_normal_ defines it).
func HostTruncatedNormal(std, bound float64) HostInit {
	return func(flat []float32, rng *rand.Rand) {
		for i := range flat {
			n := rng.NormFloat64()
			for math.Abs(n) > bound {
				n = rng.NormFloat64()
			}
			flat[i] = float32(n * std)
		}
	}
}

// HostVariable returns ctx's variable name, creating it when missing with
// values from init. Variables that already exist (loaded weights, earlier
// graphs) are returned as they are, so a graph build costs no filling.
func HostVariable(ctx *context.Context, name string, shape shapes.Shape, init HostInit) *context.Variable {
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
	tensors.MutableFlatData(t, func(flat []float32) { fillParallel(flat, seed, stream, init) })
	return ctx.VariableWithValue(name, t)
}

// LinearHost is Linear with weights from a host initialiser.
func LinearHost(ctx *context.Context, x *Node, out int, init HostInit) *Node {
	in := x.Shape().Dim(-1)
	w := HostVariable(ctx, "weight", shapes.Make(x.DType(), out, in), init).ValueGraph(x.Graph())
	b := HostVariable(ctx, "bias", shapes.Make(x.DType(), out), HostZeros).ValueGraph(x.Graph())
	return linear(ctx, x, w, b)
}

// fillParallel fills flat in chunks, each from its own PCG stream, on all
// cores.
func fillParallel(flat []float32, seed, stream uint64, init HostInit) {
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
				init(flat[c*chunk:min(len(flat), (c+1)*chunk)], rng)
			}
		})
	}
	wg.Wait()
}
