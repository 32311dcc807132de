package backend

import (
	"os"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
)

// TestGPUBackend runs only with GOPEFT_TEST_GPU=1, on a machine with an
// NVIDIA GPU and a jax CUDA plugin (see gpucheck.sh): automatic selection must
// find the plugin with no settings, and a matmul must run on it.
func TestGPUBackend(t *testing.T) {
	if os.Getenv("GOPEFT_TEST_GPU") != "1" {
		t.Skip("set GOPEFT_TEST_GPU=1 on a GPU machine")
	}
	b, c, err := New(RequireGPU())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Finalize()
	t.Logf("backend %s: %s (GoMLX: %s)", c.Display(), c.Reason, b.Description())
	if !c.IsGPU() || c.Plugin == "" {
		t.Fatalf("choice %+v is not a GPU plugin", c)
	}
	out := graph.MustExecOnce(b, func(x *graph.Node) *graph.Node {
		return graph.ReduceAllSum(graph.Einsum("ij,jk->ik", x, x))
	}, [][]float32{{1, 2}, {3, 4}})
	// [[1,2],[3,4]]^2 = [[7,10],[15,22]], sum 54.
	if got := out.Value().(float32); got != 54 {
		t.Fatalf("sum of x@x = %v, want 54", got)
	}
}
