package blas

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// TestRNGMatchesOneStream: the parallel chunks produce the bytes and the
// final state of one sequential math/rand/v2 PCG stream.
func TestRNGMatchesOneStream(t *testing.T) {
	for _, s := range []uint64{0, 1, 0x9e3779b97f4a7c15} {
		for _, k := range []uint64{0, 1, 2, 3, 1000, 123457} {
			want := rand.NewPCG(s, ^s)
			for i := uint64(0); i < k; i++ {
				want.Uint64()
			}
			j := pcgJump(u128{s, ^s}, k)
			got := rand.NewPCG(j.hi, j.lo)
			if want.Uint64() != got.Uint64() {
				t.Fatalf("seed %x: jump by %d differs from %d draws", s, k, k)
			}
		}
	}
	b, err := New("")
	if err != nil {
		t.Skip(err)
	}
	ec := &execCtx{e: &Executable{backend: b.(*Backend)}, workers: 2}
	for _, n := range []int{1, 3, 8, 100001, 1 << 18} {
		state := &Buffer{shape: shapes.Make(dtypes.Uint64, 3), flat: []uint64{42, 7, 5}}
		nd := &node{id: 1, shape: shapes.Make(dtypes.Uint8, n)}
		out, err := kRNGValues(ec, nd, []*Buffer{state})
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.NewPCG(42, 7)
		want := make([]byte, (n+7)/8*8)
		for i := 0; i < len(want); i += 8 {
			binary.LittleEndian.PutUint64(want[i:], rng.Uint64())
		}
		for i, v := range out.flat.([]uint8) {
			if v != want[i] {
				t.Fatalf("n=%d: byte %d is %d, want %d", n, i, v, want[i])
			}
		}
		enc, _ := rng.MarshalBinary()
		st := ec.rngState[1]
		if st[0] != binary.LittleEndian.Uint64(enc[4:12]) || st[1] != binary.LittleEndian.Uint64(enc[12:20]) || st[2] != 5 {
			t.Fatalf("n=%d: new state %v", n, st)
		}
	}
}
