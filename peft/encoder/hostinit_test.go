package encoder

import (
	"math"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

func hostValues(t *testing.T, ctx *context.Context, scope, name string, n int, init HostInit) []float32 {
	t.Helper()
	v := HostVariable(ctx.In(scope), name, shapes.Make(dtypes.Float32, n), init)
	val, err := v.Value()
	if err != nil {
		t.Fatal(err)
	}
	return tensors.MustCopyFlatData[float32](val)
}

func TestHostVariableDependsOnSeedAndNameNotOrder(t *testing.T) {
	const n = 1<<18 + 77 // more than one parallel chunk
	newCtx := func(seed int64) *context.Context {
		ctx := context.New()
		ctx.SetParam(context.ParamInitialSeed, seed)
		return ctx
	}
	a := newCtx(1)
	a1 := hostValues(t, a, "x", "weight", n, HostNormal(1))
	a2 := hostValues(t, a, "y", "weight", n, HostNormal(1))
	b := newCtx(1)
	b2 := hostValues(t, b, "y", "weight", n, HostNormal(1)) // other order
	b1 := hostValues(t, b, "x", "weight", n, HostNormal(1))
	c1 := hostValues(t, newCtx(2), "x", "weight", n, HostNormal(1))
	same := func(p, q []float32) bool {
		for i := range p {
			if p[i] != q[i] {
				return false
			}
		}
		return true
	}
	if !same(a1, b1) || !same(a2, b2) {
		t.Error("values depend on the order variables were created in")
	}
	if same(a1, a2) || same(a1, c1) {
		t.Error("two names or two seeds gave the same values")
	}
	var sum, sq float64
	for _, x := range a1 {
		sum += float64(x)
		sq += float64(x) * float64(x)
	}
	mean, std := sum/n, math.Sqrt(sq/n-(sum/n)*(sum/n))
	if math.Abs(mean) > 0.01 || math.Abs(std-1) > 0.01 {
		t.Errorf("HostNormal(1): mean %.4f, std %.4f; want 0, 1", mean, std)
	}
}

func TestHostVariableKeepsExistingValues(t *testing.T) {
	ctx := context.New()
	ctx.In("x").VariableWithValue("weight", []float32{7, 8})
	if got := hostValues(t, ctx, "x", "weight", 2, HostNormal(1)); got[0] != 7 || got[1] != 8 {
		t.Errorf("existing variable was refilled: %v", got)
	}
}

func TestHostTruncatedNormalStaysInBounds(t *testing.T) {
	vals := hostValues(t, context.New(), "x", "w", 100000, HostTruncatedNormal(0.01, 2))
	var sq float64
	for _, x := range vals {
		if math.Abs(float64(x)) > 0.02 {
			t.Fatalf("value %g outside ±0.02", x)
		}
		sq += float64(x) * float64(x)
	}
	// A normal truncated at ±2σ has standard deviation 0.880σ.
	if std := math.Sqrt(sq / float64(len(vals))); math.Abs(std-0.0088) > 0.0002 {
		t.Errorf("std %.5f, want about 0.0088", std)
	}
	for _, x := range hostValues(t, context.New(), "x", "u", 1000, HostUniform(-0.5, 0.5)) {
		if x < -0.5 || x >= 0.5 {
			t.Fatalf("HostUniform(-0.5, 0.5) gave %g", x)
		}
	}
}
