package blas

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"reflect"
	"sync"
	"unsafe"

	"github.com/gomlx/gomlx/backends"
)

func kConvert(ec *execCtx, n *node, ins []*Buffer) (*Buffer, error) {
	var out *Buffer
	if n.shape.DType == n.inputs[0].shape.DType {
		out = ec.reuse(n, 0, ins)
		copyFlat(out.flat, ins[0].flat)
		return out, nil
	}
	out = ec.alloc(n.shape)
	var ok bool
	switch o := out.flat.(type) {
	case []float32:
		ok = convertTo(ec, o, ins[0].flat)
	case []float64:
		ok = convertTo(ec, o, ins[0].flat)
	case []int32:
		ok = convertTo(ec, o, ins[0].flat)
	case []int64:
		ok = convertTo(ec, o, ins[0].flat)
	case []uint32:
		ok = convertTo(ec, o, ins[0].flat)
	case []uint64:
		ok = convertTo(ec, o, ins[0].flat)
	case []int8:
		ok = convertTo(ec, o, ins[0].flat)
	case []int16:
		ok = convertTo(ec, o, ins[0].flat)
	case []uint8:
		ok = convertTo(ec, o, ins[0].flat)
	case []uint16:
		ok = convertTo(ec, o, ins[0].flat)
	case []bool:
		ok = convertToBool(o, ins[0].flat)
	}
	if !ok {
		return nil, fmt.Errorf("ConvertDType from %s to %s %s", n.inputs[0].shape.DType, n.shape.DType, notImplementedSuffix)
	}
	return out, nil
}

func convertTo[O number](ec *execCtx, o []O, src any) bool {
	switch s := src.(type) {
	case []float32:
		conv(ec, o, s)
	case []float64:
		conv(ec, o, s)
	case []int32:
		conv(ec, o, s)
	case []int64:
		conv(ec, o, s)
	case []uint32:
		conv(ec, o, s)
	case []uint64:
		conv(ec, o, s)
	case []int8:
		conv(ec, o, s)
	case []int16:
		conv(ec, o, s)
	case []uint8:
		conv(ec, o, s)
	case []uint16:
		conv(ec, o, s)
	case []bool:
		for i, v := range s {
			if v {
				o[i] = 1
			} else {
				o[i] = 0
			}
		}
	default:
		return false
	}
	return true
}

func conv[O, I number](ec *execCtx, o []O, s []I) {
	parallelFor(ec.workers, len(o), costSimple, func(lo, hi int) {
		for i, v := range s[lo:hi] {
			o[lo+i] = O(v)
		}
	})
}

func convertToBool(o []bool, src any) bool {
	v := reflect.ValueOf(src)
	switch s := src.(type) {
	case []float32:
		for i, x := range s {
			o[i] = x != 0
		}
	case []float64:
		for i, x := range s {
			o[i] = x != 0
		}
	default:
		if v.Kind() != reflect.Slice || !v.Type().Elem().ConvertibleTo(reflect.TypeOf(int64(0))) {
			return false
		}
		for i := range o {
			o[i] = !v.Index(i).IsZero()
		}
	}
	return true
}

// bytesOf views a flat slice's storage as bytes.
func bytesOf(flat any) []byte {
	v := reflect.ValueOf(flat)
	if v.Len() == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(v.UnsafePointer()), v.Len()*int(v.Type().Elem().Size()))
}

// kRNGValues fills the values with the bits of a PCG generator seeded from
// state[0:2], eight little-endian bytes per draw: the same stream as GoMLX's
// pure-Go backend, so seeded dropout matches it. Long streams are cut into
// chunks generated in parallel, each from the generator's state jumped ahead
// to the chunk's first draw: the bytes are those of one sequential stream.
func kRNGValues(ec *execCtx, n *node, ins []*Buffer) (*Buffer, error) {
	state := ins[0].flat.([]uint64)
	out := ec.alloc(n.shape)
	b := bytesOf(out.flat)
	draws := (len(b) + 7) / 8
	var last *rand.PCG
	var mu sync.Mutex
	parallelFor(ec.workers, draws, 4, func(lo, hi int) {
		s := pcgJump(u128{state[0], state[1]}, uint64(lo))
		rng := rand.NewPCG(s.hi, s.lo)
		for d := lo; d < hi; d++ {
			if i := 8 * d; i+8 <= len(b) {
				binary.LittleEndian.PutUint64(b[i:], rng.Uint64())
			} else {
				var tail [8]byte
				binary.LittleEndian.PutUint64(tail[:], rng.Uint64())
				copy(b[i:], tail[:])
			}
		}
		if hi == draws {
			mu.Lock()
			last = rng
			mu.Unlock()
		}
	})
	if last == nil { // no draws
		last = rand.NewPCG(state[0], state[1])
	}
	enc, err := last.MarshalBinary()
	if err != nil || len(enc) != 20 || string(enc[:4]) != "pcg:" {
		return nil, fmt.Errorf("RNGBitGenerator: unexpected PCG state encoding (%d bytes, %v)", len(enc), err)
	}
	// The new state is the encoded generator read as two little-endian
	// words, as the pure-Go backend stores it.
	ec.mu.Lock()
	if ec.rngState == nil {
		ec.rngState = map[int][]uint64{}
	}
	ec.rngState[n.id] = []uint64{binary.LittleEndian.Uint64(enc[4:12]), binary.LittleEndian.Uint64(enc[12:20]), state[2]}
	ec.mu.Unlock()
	return out, nil
}

// u128 is a 128-bit integer, as math/rand/v2's PCG state (hi, lo).
type u128 struct{ hi, lo uint64 }

func (a u128) mul(b u128) u128 {
	hi, lo := bits.Mul64(a.lo, b.lo)
	return u128{hi + a.hi*b.lo + a.lo*b.hi, lo}
}

func (a u128) add(b u128) u128 {
	lo, c := bits.Add64(a.lo, b.lo, 0)
	hi, _ := bits.Add64(a.hi, b.hi, c)
	return u128{hi, lo}
}

// PCG's LCG step, state = state·mul + inc mod 2^128 (math/rand/v2's
// constants).
var (
	pcgMul = u128{2549297995355413924, 4865540595714422341}
	pcgInc = u128{6364136223846793005, 1442695040888963407}
)

// pcgJump returns the state k steps after s, composing the affine step by
// squaring (O(log k)).
func pcgJump(s u128, k uint64) u128 {
	accMul, accAdd := u128{0, 1}, u128{}
	curMul, curAdd := pcgMul, pcgInc
	for ; k > 0; k >>= 1 {
		if k&1 == 1 {
			accMul, accAdd = accMul.mul(curMul), accAdd.mul(curMul).add(curAdd)
		}
		curAdd = curMul.add(u128{0, 1}).mul(curAdd)
		curMul = curMul.mul(curMul)
	}
	return accMul.mul(s).add(accAdd)
}

func kRNGState(ec *execCtx, n *node, ins []*Buffer) (*Buffer, error) {
	s, ok := ec.rngState[n.inputs[1].id]
	if !ok {
		return nil, fmt.Errorf("RNGBitGenerator: state computed before values")
	}
	out := ec.alloc(n.shape)
	copy(out.flat.([]uint64), s)
	return out, nil
}

func kDotGeneral(ec *execCtx, n *node, ins []*Buffer) (*Buffer, error) {
	a := n.attr.(dotAttr)
	out := ec.alloc(n.shape)
	err := dotGeneral(n.shape.DType, ins[0].flat, ins[1].flat, out.flat,
		n.inputs[0].shape.Dimensions, n.inputs[1].shape.Dimensions,
		a.lhsContracting, a.lhsBatch, a.rhsContracting, a.rhsBatch)
	return out, err
}

func kScatter(ec *execCtx, n *node, ins []*Buffer) (*Buffer, error) {
	a := n.attr.(scatterAttr)
	opShape, ind, upd := n.inputs[0].shape, n.inputs[1].shape, n.inputs[2].shape
	out := ec.reuse(n, 0, ins)
	if opShape.Size() > 0 && reflect.ValueOf(out.flat).UnsafePointer() != reflect.ValueOf(ins[0].flat).UnsafePointer() {
		copyFlat(out.flat, ins[0].flat) // not in place: start from the operand
	}
	opSt, updSt := rowMajor(opShape.Dimensions), rowMajor(upd.Dimensions)
	vecSt := 0
	if a.indexVectorAxis < ind.Rank() {
		vecSt = rowMajor(ind.Dimensions)[a.indexVectorAxis]
	}
	isWin := make([]bool, upd.Rank())
	for _, ax := range a.updateWindowAxes {
		isWin[ax] = true
	}
	var batchUpdSt []int
	for ax := range upd.Dimensions {
		if !isWin[ax] {
			batchUpdSt = append(batchUpdSt, updSt[ax])
		}
	}
	inserted := make([]bool, opShape.Rank())
	for _, ax := range a.insertedWindowAxes {
		inserted[ax] = true
	}
	// Window axis k of updates lands on the k-th non-inserted operand axis.
	var wdims, wds, wss, wOpAxes []int
	k := 0
	for ax := range opShape.Dimensions {
		if inserted[ax] {
			continue
		}
		ua := a.updateWindowAxes[k]
		wdims, wds, wss, wOpAxes = append(wdims, upd.Dimensions[ua]), append(wds, opSt[ax]), append(wss, updSt[ua]), append(wOpAxes, ax)
		k++
	}
	if len(wdims) == 0 {
		wdims, wds, wss = []int{1}, []int{1}, []int{1}
	}
	start := make([]int, opShape.Rank())
	var err error
	batchWalk(ind, a.indexVectorAxis, func(off int, idx []int) {
		clear(start)
		for j, opAx := range a.scatterAxesToOperandAxes {
			start[opAx] = indexAt(ins[1].flat, off+j*vecSt)
		}
		do := 0
		for ax, s := range start {
			if s < 0 || s >= opShape.Dimensions[ax] {
				return // out of bounds: XLA skips the update
			}
			do += s * opSt[ax]
		}
		for j, opAx := range wOpAxes {
			if start[opAx]+wdims[j] > opShape.Dimensions[opAx] {
				return
			}
		}
		so := 0
		for j, i := range idx {
			so += i * batchUpdSt[j]
		}
		if err == nil {
			err = scatterBlock(n.op, wdims, out.flat, do, wds, ins[2].flat, so, wss)
		}
	})
	return out, err
}

func scatterBlock(op backends.OpType, dims []int, dst any, do int, ds []int, src any, so int, ss []int) error {
	switch d := dst.(type) {
	case []float32:
		scatterStrided(op, dims, d, do, ds, src.([]float32), so, ss)
	case []float64:
		scatterStrided(op, dims, d, do, ds, src.([]float64), so, ss)
	case []int32:
		scatterStrided(op, dims, d, do, ds, src.([]int32), so, ss)
	case []int64:
		scatterStrided(op, dims, d, do, ds, src.([]int64), so, ss)
	default:
		return fmt.Errorf("%s of %T %s", op, dst, notImplementedSuffix)
	}
	return nil
}

func scatterStrided[T number](op backends.OpType, dims []int, dst []T, do int, ds []int, src []T, so int, ss []int) {
	if len(dims) == 1 {
		for i := 0; i < dims[0]; i++ {
			p, v := do+i*ds[0], src[so+i*ss[0]]
			switch op {
			case backends.OpTypeScatterSum:
				dst[p] += v
			case backends.OpTypeScatterMax:
				dst[p] = max(dst[p], v)
			case backends.OpTypeScatterMin:
				dst[p] = min(dst[p], v)
			}
		}
		return
	}
	for i := 0; i < dims[0]; i++ {
		scatterStrided(op, dims[1:], dst, do+i*ds[0], ds[1:], src, so+i*ss[0], ss[1:])
	}
}
