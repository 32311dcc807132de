package blas

import (
	"fmt"
	"os"
	"slices"
	"sync"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
)

// Fusion of elementwise chains: a group of float unary/binary/Where ops of
// one shape runs as one pass over the output in blocks of fuseBlock
// elements; values read only inside the group live in small per-goroutine
// scratch blocks (in cache) instead of full tensors, values also read
// outside are written out as extra outputs in the same pass. BroadcastInDim
// and Reshape feeding the group become strided views of their inputs, so
// broadcasts are never materialised. A ReduceSum/Max/Min over trailing axes
// can end a group: the root's blocks are reduced as they are computed.

const fuseBlock = 512

// fref is an operand of a fused op: an inner op's result (slot >= 0) or a
// view of an external input (view >= 0).
type fref struct{ slot, view int }

type fop struct {
	op   backends.OpType
	args []fref
}

// fview reads an external input with per-axis strides over the collapsed
// output axes (0 on broadcast axes).
type fview struct {
	ext     int
	strides []int
}

type fusedPlan struct {
	dtype dtypes.DType
	dims  []int // collapsed output dims; the last is the block axis
	ext   []*node
	views []fview
	ops   []fop // in order; the last is the group's root
	// extras are members read outside the group too: written out in full.
	extras  []*node
	extraOf []int // by op: index in extras, or -1
	// reduce, if not 0, reduces the root's values over the block axis into
	// the step's output (one value per row).
	reduce backends.OpType
	rows   int // product of dims but the last
	segs   int // blocks per row
}

func fusableCompute(n *node) bool {
	if !isFloat(n.shape.DType) {
		return false
	}
	switch n.op {
	case backends.OpTypeNeg, backends.OpTypeAbs, backends.OpTypeExp, backends.OpTypeExpm1, backends.OpTypeLog,
		backends.OpTypeLog1p, backends.OpTypeLogistic, backends.OpTypeTanh, backends.OpTypeSqrt, backends.OpTypeRsqrt,
		backends.OpTypeSign, backends.OpTypeSin, backends.OpTypeCos, backends.OpTypeErf, backends.OpTypeFloor,
		backends.OpTypeCeil, backends.OpTypeRound,
		backends.OpTypeAdd, backends.OpTypeSub, backends.OpTypeMul, backends.OpTypeDiv, backends.OpTypeMax,
		backends.OpTypeMin, backends.OpTypePow, backends.OpTypeRem:
		return true
	case backends.OpTypeWhere:
		return true
	}
	return false
}

// fusableView: ops that only re-index their input.
func fusableView(n *node) bool {
	return isFloat(n.shape.DType) && (n.op == backends.OpTypeBroadcastInDim || n.op == backends.OpTypeReshape)
}

// findFusions groups the needed nodes; it returns the plans by root id and
// the nodes absorbed into a group (which get no step of their own).
func findFusions(nodes []*node, needed []bool, outs []*node) (map[int]*fusedPlan, []bool) {
	uses := make([]int, len(nodes))
	consumers := make([][]int, len(nodes))
	for id, n := range nodes {
		if needed[id] {
			for _, in := range n.inputs {
				uses[in.id]++
				consumers[in.id] = append(consumers[in.id], id)
			}
		}
	}
	isOut := make([]bool, len(nodes))
	for _, o := range outs {
		isOut[o.id] = true
	}
	plans := map[int]*fusedPlan{}
	absorbed := make([]bool, len(nodes))
	for id := len(nodes) - 1; id >= 0; id-- {
		if !needed[id] || absorbed[id] {
			continue
		}
		// root is the group's last elementwise op; red, if any, the
		// reduction over its trailing axes that consumes it.
		root, red := nodes[id], (*node)(nil)
		if trailingReduce(root) {
			root, red = root.inputs[0], root
			if absorbed[root.id] {
				continue
			}
		}
		if !fusableCompute(root) {
			continue
		}
		// Grow to a fixpoint through inputs of the root's shape. A compute
		// node read outside the group is still fused, and written out as an
		// extra output, when every outside reader runs after the group's
		// step (the root's place); views join only when read just inside.
		members := map[int]bool{root.id: true}
		if red != nil {
			// root's other readers must run after the reduction's step.
			for _, u := range consumers[root.id] {
				if u != red.id && u < id {
					members = nil
				}
			}
			if members == nil {
				continue
			}
		}
		for changed := true; changed; {
			changed = false
			refs := map[int]int{}
			for m := range members {
				if fusableCompute(nodes[m]) {
					for _, in := range nodes[m].inputs {
						refs[in.id]++
					}
				}
			}
			for c, k := range refs {
				in := nodes[c]
				if members[c] || absorbed[c] || in.shape.DType != root.shape.DType ||
					!slices.Equal(in.shape.Dimensions, root.shape.Dimensions) {
					continue
				}
				switch {
				case fusableView(in):
					if k != uses[c] || isOut[c] {
						continue
					}
				case fusableCompute(in):
					later := true
					for _, u := range consumers[c] {
						if !members[u] && u < id {
							later = false
						}
					}
					if !later {
						continue
					}
				default:
					continue
				}
				members[c] = true
				changed = true
			}
		}
		compute := 0
		for m := range members {
			if fusableCompute(nodes[m]) {
				compute++
			}
		}
		if red == nil && compute < 2 && len(members) < 2 {
			continue
		}
		var extras []int
		for m := range members {
			if (m == id && red == nil) || !fusableCompute(nodes[m]) {
				continue
			}
			outside := isOut[m]
			for _, u := range consumers[m] {
				outside = outside || (!members[u] && (red == nil || u != red.id))
			}
			if outside {
				extras = append(extras, m)
			}
		}
		plan := newFusedPlan(nodes, members, extras, root, red)
		if plan == nil {
			continue
		}
		plans[id] = plan
		if debugFuse {
			var names []string
			for m := range members {
				names = append(names, nodes[m].op.String())
			}
			fmt.Println("FUSED", root.shape, names, nodes[id].op)
		}
		for m := range members {
			if m != id {
				absorbed[m] = true
			}
		}
		if red != nil {
			absorbed[root.id] = true
		}
	}
	return plans, absorbed
}

// trailingReduce: a float ReduceSum/Max/Min over the last axes only.
func trailingReduce(n *node) bool {
	switch n.op {
	case backends.OpTypeReduceSum, backends.OpTypeReduceMax, backends.OpTypeReduceMin:
	default:
		return false
	}
	axes := slices.Clone(n.attr.([]int))
	slices.Sort(axes)
	rank := n.inputs[0].shape.Rank()
	for i, a := range axes {
		if a != rank-len(axes)+i {
			return false
		}
	}
	return len(axes) > 0 && isFloat(n.shape.DType)
}

// newFusedPlan returns nil when red's axes do not collapse into the last
// (block) axis.
func newFusedPlan(nodes []*node, members map[int]bool, extras []int, root, red *node) *fusedPlan {
	dims := root.shape.Dimensions
	rank := len(dims)
	p := &fusedPlan{dtype: root.shape.DType}
	boundary := rank + 1 // first reduced axis: collapsing never crosses it
	if red != nil {
		p.reduce = red.op
		boundary = rank - len(red.attr.([]int))
	}
	extIdx := map[int]int{}
	var rawViews [][]int // strides over the full output rank
	viewOf := func(x *node, strides []int) int {
		e, ok := extIdx[x.id]
		if !ok {
			e = len(p.ext)
			extIdx[x.id] = e
			p.ext = append(p.ext, x)
		}
		for v, fv := range p.views {
			if fv.ext == e && slices.Equal(rawViews[v], strides) {
				return v
			}
		}
		p.views = append(p.views, fview{ext: e})
		rawViews = append(rawViews, strides)
		return len(p.views) - 1
	}
	// implicit: a binary operand broadcast by dims of 1 (or a scalar).
	implicit := func(x *node) []int {
		st := make([]int, rank)
		if x.shape.IsScalar() {
			return st
		}
		xs := rowMajor(x.shape.Dimensions)
		for a := range st {
			if x.shape.Dimensions[a] != 1 {
				st[a] = xs[a]
			}
		}
		return st
	}
	slot := map[int]int{}
	ids := make([]int, 0, len(members))
	for m := range members {
		ids = append(ids, m)
	}
	slices.Sort(ids) // creation order is topological
	for _, id := range ids {
		n := nodes[id]
		if !fusableCompute(n) {
			continue
		}
		op := fop{op: n.op}
		for _, in := range n.inputs {
			switch {
			case members[in.id] && fusableCompute(in):
				op.args = append(op.args, fref{slot: slot[in.id], view: -1})
			case members[in.id] && in.op == backends.OpTypeBroadcastInDim:
				x := in.inputs[0]
				st := make([]int, rank)
				xs := rowMajor(x.shape.Dimensions)
				for k, a := range in.attr.([]int) {
					if x.shape.Dimensions[k] != 1 {
						st[a] = xs[k]
					}
				}
				op.args = append(op.args, fref{slot: -1, view: viewOf(x, st)})
			case members[in.id] && in.op == backends.OpTypeReshape:
				op.args = append(op.args, fref{slot: -1, view: viewOf(in.inputs[0], rowMajor(dims))})
			default:
				op.args = append(op.args, fref{slot: -1, view: viewOf(in, implicit(in))})
			}
		}
		slot[id] = len(p.ops)
		p.ops = append(p.ops, op)
	}
	p.extraOf = make([]int, len(p.ops))
	for j := range p.extraOf {
		p.extraOf[j] = -1
	}
	slices.Sort(extras)
	for k, x := range extras {
		p.extras = append(p.extras, nodes[x])
		p.extraOf[slot[x]] = k
	}
	// Collapse the output axes jointly over all views.
	var cd []int
	cs := make([][]int, len(p.views))
	reducedStart := -1 // index in cd of the first reduced dim
	for a := 0; a < rank; a++ {
		d := dims[a]
		if d == 1 {
			continue
		}
		if a >= boundary && reducedStart < 0 {
			reducedStart = len(cd)
		}
		if k := len(cd) - 1; k >= 0 && (a < boundary || k >= reducedStart) {
			ok := true
			for v := range p.views {
				if cs[v][k] != rawViews[v][a]*d {
					ok = false
					break
				}
			}
			if ok {
				cd[k] *= d
				for v := range p.views {
					cs[v][k] = rawViews[v][a]
				}
				continue
			}
		}
		cd = append(cd, d)
		for v := range p.views {
			cs[v] = append(cs[v], rawViews[v][a])
		}
	}
	if red != nil && (reducedStart < 0 || reducedStart != len(cd)-1 || cd[len(cd)-1] < 2) {
		return nil // the reduced axes are not one contiguous block axis
	}
	if len(cd) == 0 {
		cd = []int{1}
		for v := range p.views {
			cs[v] = []int{0}
		}
	}
	p.dims = cd
	for v := range p.views {
		p.views[v].strides = cs[v]
	}
	p.rows = 1
	for _, d := range cd[:len(cd)-1] {
		p.rows *= d
	}
	p.segs = (cd[len(cd)-1] + fuseBlock - 1) / fuseBlock
	return p
}

func kFused(ec *execCtx, n *node, ins []*Buffer) (*Buffer, error) {
	p := ec.e.plans[n.id].(*fusedPlan)
	var out *Buffer
	if p.reduce != 0 {
		out = ec.alloc(n.shape)
	} else {
		out = ec.fusedOutput(n, p, ins)
	}
	extras := make([]any, len(p.extras))
	for k, x := range p.extras {
		buf := ec.alloc(x.shape)
		ec.smu.Lock()
		ec.vals[x.id], ec.owned[x.id] = buf, true
		ec.smu.Unlock()
		extras[k] = buf.flat
	}
	switch o := out.flat.(type) {
	case []float32:
		runFused(ec, p, o, extras, ins)
	case []float64:
		runFused(ec, p, o, extras, ins)
	}
	return out, nil
}

// fusedOutput writes over an external input read contiguously (identity
// view) when its storage dies here and no other view reads it: each block
// reads its inputs before the root writes the same elements.
func (ec *execCtx) fusedOutput(n *node, p *fusedPlan, ins []*Buffer) *Buffer {
	e := ec.e
	ident := rowMajor(p.dims)
	ec.smu.Lock()
	defer ec.smu.Unlock()
	for v, fv := range p.views {
		x := p.ext[fv.ext]
		r := e.root[x.id]
		if x.shape.DType != n.shape.DType || x.shape.Size() != n.shape.Size() || !slices.Equal(fv.strides, ident) ||
			!ec.dying(r) {
			continue
		}
		shared := false
		for w, fw := range p.views {
			if w != v && e.root[p.ext[fw.ext].id] == r && !slices.Equal(fw.strides, ident) {
				shared = true
			}
		}
		if shared {
			continue
		}
		buf := &Buffer{shape: n.shape, flat: ins[fv.ext].flat}
		ec.vals[r] = &Buffer{shape: ins[fv.ext].shape}
		ec.owned[r] = false
		return buf
	}
	return ec.alloc(n.shape)
}

var fuseScratchPools sync.Map // dtype -> *sync.Pool of *[]T

func fuseScratchGet[T float](n int) *[]T {
	var z T
	pl, _ := fuseScratchPools.LoadOrStore(dtypes.FromAny(z), &sync.Pool{})
	if s, ok := pl.(*sync.Pool).Get().(*[]T); ok && len(*s) >= n {
		return s
	}
	s := make([]T, n)
	return &s
}

func fuseScratchPut[T float](s *[]T) {
	var z T
	pl, _ := fuseScratchPools.Load(dtypes.FromAny(z))
	pl.(*sync.Pool).Put(s)
}

func runFused[T float](ec *execCtx, p *fusedPlan, out []T, extraFlats []any, ins []*Buffer) {
	extras := make([][]T, len(extraFlats))
	for k, f := range extraFlats {
		extras[k] = f.([]T)
	}
	last := len(p.dims) - 1
	L := p.dims[last]
	nOps, nViews := len(p.ops), len(p.views)
	data := make([][]T, len(p.ext))
	var conds [][]bool
	for i, b := range ins {
		switch f := b.flat.(type) {
		case []T:
			data[i] = f
		case []bool:
			if conds == nil {
				conds = make([][]bool, len(p.ext))
			}
			conds[i] = f
		}
	}
	units, cost := p.rows*p.segs, min(L, fuseBlock)*nOps
	if p.reduce != 0 {
		units, cost = p.rows, L*nOps
	}
	parallelFor(ec.workers, units, cost, func(lo, hi int) {
		sp := fuseScratchGet[T]((nOps + nViews) * fuseBlock)
		defer fuseScratchPut(sp)
		scratch := *sp
		var o, n int // the block's output offset and length
		// slotBuf is where op j's block lives: the output, an extra
		// output's block, or scratch.
		slotBuf := func(j int) []T {
			switch k := p.extraOf[j]; {
			case j == nOps-1 && p.reduce == 0:
				return out[o : o+n]
			case k >= 0:
				return extras[k][o : o+n]
			}
			return scratch[j*fuseBlock : j*fuseBlock+n]
		}
		gatherBuf := func(v int) []T { return scratch[(nOps+v)*fuseBlock : (nOps+v+1)*fuseBlock] }
		offs := make([]int, nViews)
		var condBuf []bool
		block := func(row, seg int) {
			s0 := seg * fuseBlock
			n = min(fuseBlock, L-s0)
			o = row*L + s0
			rem := row
			for v := range offs {
				offs[v] = s0 * p.views[v].strides[last]
			}
			for a := last - 1; a >= 0; a-- {
				i := rem % p.dims[a]
				rem /= p.dims[a]
				for v := range offs {
					offs[v] += i * p.views[v].strides[a]
				}
			}
			// arg returns an operand's block and its stride (0 or 1).
			arg := func(r fref) ([]T, int) {
				if r.slot >= 0 {
					return slotBuf(r.slot), 1
				}
				v := p.views[r.view]
				src, off, st := data[v.ext], offs[r.view], v.strides[last]
				switch st {
				case 1:
					return src[off : off+n], 1
				case 0:
					return src[off : off+1], 0
				}
				g := gatherBuf(r.view)[:n]
				for i := range g {
					g[i] = src[off+i*st]
				}
				return g, 1
			}
			for j, op := range p.ops {
				dst := slotBuf(j)
				switch len(op.args) {
				case 1:
					a, sa := arg(op.args[0])
					if sa == 0 {
						fill(dst, a[0])
						a = dst
					}
					if d32, ok := any(dst).([]float32); !ok || !unaryFast(op.op, d32, any(a).([]float32)) {
						unaryFloat(op.op, dst, a)
					}
				case 2:
					a, sa := arg(op.args[0])
					b, sb := arg(op.args[1])
					binaryFloat(op.op, dst, a, b, sa, sb)
				case 3: // Where: the condition is an external bool view
					cv := p.views[op.args[0].view]
					c, off, sc := conds[cv.ext], offs[op.args[0].view], cv.strides[last]
					if sc > 1 {
						if condBuf == nil {
							condBuf = make([]bool, fuseBlock)
						}
						for i := 0; i < n; i++ {
							condBuf[i] = c[off+i*sc]
						}
						c, off, sc = condBuf, 0, 1
					}
					t, st := arg(op.args[1])
					f, sf := arg(op.args[2])
					for i := range dst {
						if c[off+i*sc] {
							dst[i] = t[i*st]
						} else {
							dst[i] = f[i*sf]
						}
					}
				}
			}
		}
		if p.reduce == 0 {
			for blk := lo; blk < hi; blk++ {
				block(blk/p.segs, blk%p.segs)
			}
			return
		}
		// A row's blocks in order, each reduced in index order: the same
		// summation order as the unfused reduction.
		init := initial[T](p.reduce)
		for row := lo; row < hi; row++ {
			acc := init
			for seg := 0; seg < p.segs; seg++ {
				block(row, seg)
				acc = reduceRun(p.reduce, acc, slotBuf(nOps-1))
			}
			out[row] = acc
		}
	})
}

var debugFuse = os.Getenv("GOPEFT_BLAS_FUSEDUMP") != ""
