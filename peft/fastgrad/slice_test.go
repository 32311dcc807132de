package fastgrad

import (
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// The gradient of sum(Slice(x) * w) is w in the sliced window and 0 outside;
// the pure-Go backend computes it only through sliceVJP (it has no Pad).
func TestSliceGradientIsZeroPaddedOutputGradient(t *testing.T) {
	backend := testBackend(t)
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct {
		name          string
		dims          []int
		starts, sizes []int
	}{
		{"rows_and_cols", []int{4, 6}, []int{1, 2}, []int{2, 3}},
		{"first_token", []int{2, 5, 3}, []int{0, 0, 0}, []int{2, 1, 3}},
		{"one_layer_of_prefix", []int{3, 4, 2, 5}, []int{0, 2, 1, 0}, []int{3, 1, 1, 5}},
		{"whole", []int{3, 2}, []int{0, 0}, []int{3, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := tensors.FromFlatDataAndDimensions(randomFlat(rng, tc.dims), tc.dims...)
			w := tensors.FromFlatDataAndDimensions(randomFlat(rng, tc.sizes), tc.sizes...)
			out := graph.MustExecOnce(backend, func(x, w *graph.Node) *graph.Node {
				specs := make([]graph.SliceAxisSpec, len(tc.dims))
				for i := range specs {
					specs[i] = graph.AxisRange(tc.starts[i], tc.starts[i]+tc.sizes[i])
				}
				loss := graph.ReduceAllSum(graph.Mul(graph.Slice(x, specs...), w))
				return graph.Gradient(loss, x)[0]
			}, x, w)
			got := tensors.MustCopyFlatData[float32](out)
			want := make([]float32, len(got))
			wFlat := tensors.MustCopyFlatData[float32](w)
			// Scatter w into the window, row-major.
			shape := shapes.Make(x.DType(), tc.dims...)
			strides := shape.Strides()
			wIdx := 0
			var walk func(axis, offset int)
			walk = func(axis, offset int) {
				if axis == len(tc.dims) {
					want[offset] = wFlat[wIdx]
					wIdx++
					return
				}
				for i := 0; i < tc.sizes[axis]; i++ {
					walk(axis+1, offset+(tc.starts[axis]+i)*strides[axis])
				}
			}
			walk(0, 0)
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("gradient[%d] = %v, want %v (got %v)", i, got[i], want[i], got)
				}
			}
		})
	}
}
