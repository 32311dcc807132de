package blas

import (
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph"
)

// TestConcurrentStepsMatchGo: a graph of many independent branches that
// share inputs (so steps run side by side, storages have several readers and
// elementwise ops may write over an input whose other readers just finished)
// gives the go backend's values, and the same bits on every run.
func TestConcurrentStepsMatchGo(t *testing.T) {
	goB, blasB := backendsForTest(t)
	fn := func(xs []*Node) *Node {
		x, w := xs[0], xs[1]
		var sum *Node
		for i := range 8 {
			h := MatMul(Add(x, Scalar(x.Graph(), x.DType(), float64(i))), w)
			h = Tanh(Mul(h, x))
			r := Reshape(h, 64*32)
			h = Reshape(Add(r, Sqrt(Abs(r))), 64, 32)
			if sum == nil {
				sum = h
			} else {
				sum = Add(sum, Mul(h, x))
			}
		}
		return Add(sum, Reshape(ReduceMax(x, -1), 64, 1))
	}
	rng := rand.New(rand.NewPCG(3, 4))
	ins := []any{randomTensor(rng, f32(64, 32)), randomTensor(rng, f32(32, 32))}
	want := runOn(t, goB, fn, ins)
	first := runOn(t, blasB, fn, ins)
	compareTensors(t, want, first, 1e-4) // fast tanh, summed with cancellation
	for range 20 {
		compareTensors(t, first, runOn(t, blasB, fn, ins), 0)
	}
}
