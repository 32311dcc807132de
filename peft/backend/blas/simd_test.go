package blas

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/backends"
)

// TestSIMDMatchesGoLoops: the AVX loops give the Go loops' bits, for every
// length around the 8-lane blocks and every stride pattern.
func TestSIMDMatchesGoLoops(t *testing.T) {
	if !binarySIMD(opAdd, make([]float32, 16), make([]float32, 16), make([]float32, 16), 1, 1) {
		t.Skip("no AVX2")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, op := range []backends.OpType{opAdd, opSub, opMul, opDiv} {
		for n := 16; n < 60; n++ {
			for _, st := range [][2]int{{1, 1}, {1, 0}, {0, 1}} {
				a, b := make([]float32, n), make([]float32, n)
				for i := range a {
					a[i], b[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
				}
				want, got := make([]float32, n), make([]float32, n)
				binaryLoops(op, want, a, b, st[0], st[1])
				if !binarySIMD(op, got, a, b, st[0], st[1]) {
					t.Fatalf("%s: not run", op)
				}
				for i := range want {
					if math.Float32bits(want[i]) != math.Float32bits(got[i]) {
						t.Fatalf("%s n=%d strides %v: element %d is %v, Go loop %v", op, n, st, i, got[i], want[i])
					}
				}
			}
		}
	}
}
