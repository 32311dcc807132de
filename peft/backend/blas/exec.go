package blas

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// Executable is a compiled plan: the ops the outputs need, in topological
// order, with the steps each waits on and each storage's reader count, so
// independent steps can run at once, buffers go back to the pool as soon as
// they are dead and elementwise ops can write over a dead input.
type Executable struct {
	backend *Backend
	name    string
	params  []*node
	outputs []*node
	steps   []*node
	consts  []*node
	// root[id] is the node whose storage node id's value uses (itself, or
	// for Reshape/Identity the root of its input).
	root []int
	// readers[root] counts the steps that read the storage (each once), plus
	// one for storages that are outputs: a storage is dead when the count of
	// unfinished readers reaches zero, so it never does for an output.
	readers []int32
	// stepRoots[i] are the distinct storages step i reads.
	stepRoots [][]int
	// nDeps[i] is how many distinct steps step i waits on; succ[i] the steps
	// that wait on step i.
	nDeps []int32
	succ  [][]int32
	// plans[id] is a kernel's precomputed layout (broadcast strides, ...).
	plans []any
	// kernels[id] runs the op.
	kernels []kernel
	// stepIns[id] are the values a step reads: the node's inputs, or a fused
	// group's external inputs.
	stepIns [][]*node
}

var _ backends.Executable = (*Executable)(nil)

// kernel computes node n's value from its inputs' values.
type kernel func(ec *execCtx, n *node, ins []*Buffer) (*Buffer, error)

func (b *Builder) Compile(outputs []backends.Op, shardings []*backends.ShardingSpec) (backends.Executable, error) {
	if len(shardings) > 0 {
		return nil, fmt.Errorf("sharding %s", notImplementedSuffix)
	}
	outs, err := b.in(backends.OpTypeParameter, outputs...)
	if err != nil {
		return nil, err
	}
	b.compiled = true
	e := &Executable{backend: b.backend, name: b.name, params: b.params, outputs: outs}
	nn := len(b.nodes)
	needed := make([]bool, nn)
	for _, o := range outs {
		needed[o.id] = true
	}
	// Nodes are created after their inputs, so a reverse scan marks all
	// ancestors.
	for id := nn - 1; id >= 0; id-- {
		if needed[id] {
			for _, in := range b.nodes[id].inputs {
				needed[in.id] = true
			}
		}
	}
	e.root = make([]int, nn)
	e.readers = make([]int32, nn)
	e.plans = make([]any, nn)
	e.kernels = make([]kernel, nn)
	e.stepIns = make([][]*node, nn)
	fused, absorbed := findFusions(b.nodes, needed, outs)
	for id, n := range b.nodes {
		e.root[id] = id
		if !needed[id] || absorbed[id] {
			continue
		}
		if n.op == backends.OpTypeReshape || n.op == backends.OpTypeIdentity {
			e.root[id] = e.root[n.inputs[0].id]
		}
		e.stepIns[id] = n.inputs
		if fp := fused[id]; fp != nil {
			e.kernels[id], e.plans[id], e.stepIns[id] = kFused, fp, fp.ext
		} else {
			k, plan, err := compileNode(e, n)
			if err != nil {
				return nil, err
			}
			e.kernels[id], e.plans[id] = k, plan
		}
		switch n.op {
		case backends.OpTypeParameter:
		case backends.OpTypeConstant:
			e.consts = append(e.consts, n)
		default:
			e.steps = append(e.steps, n)
		}
	}
	// producer[id] is the step that writes node id's value: its own, or for
	// a fused group's extra output the group's.
	outRoot := map[int]bool{}
	producer := make([]int32, nn)
	for i := range producer {
		producer[i] = -1
	}
	for i, n := range e.steps {
		producer[n.id] = int32(i)
		if fp, ok := e.plans[n.id].(*fusedPlan); ok {
			for _, x := range fp.extras {
				producer[x.id] = int32(i)
			}
		}
	}
	e.stepRoots = make([][]int, len(e.steps))
	e.nDeps = make([]int32, len(e.steps))
	e.succ = make([][]int32, len(e.steps))
	for i, n := range e.steps {
		var deps []int32
		for _, in := range e.stepIns[n.id] {
			r := e.root[in.id]
			if !slices.Contains(e.stepRoots[i], r) {
				e.stepRoots[i] = append(e.stepRoots[i], r)
				e.readers[r]++
			}
			if p := producer[in.id]; p >= 0 && !slices.Contains(deps, p) {
				deps = append(deps, p)
				e.succ[p] = append(e.succ[p], int32(i))
			}
		}
		e.nDeps[i] = int32(len(deps))
	}
	for _, o := range outs {
		r := e.root[o.id]
		if !outRoot[r] {
			outRoot[r] = true
			e.readers[r]++
		}
	}
	return e, nil
}

func (e *Executable) Finalize() {}

func (e *Executable) Inputs() ([]string, []shapes.Shape) {
	names := make([]string, len(e.params))
	ss := make([]shapes.Shape, len(e.params))
	for i, p := range e.params {
		names[i] = p.attr.(paramAttr).name
		ss[i] = p.shape
	}
	return names, ss
}

func (e *Executable) Outputs() []shapes.Shape {
	ss := make([]shapes.Shape, len(e.outputs))
	for i, o := range e.outputs {
		ss[i] = o.shape
	}
	return ss
}

// execCtx is the state of one Execute call. Up to workers steps run at once
// (see run); smu guards vals, owned, left and the schedule.
type execCtx struct {
	e       *Executable
	workers int
	vals    []*Buffer
	owned   []bool  // by root: the storage is this call's to overwrite and free
	left    []int32 // by root: readers not yet finished (see readers)
	smu     sync.Mutex
	// rngState holds the new RNG state computed by a values node, by its id,
	// for the state node that follows it.
	rngState map[int][]uint64
	mu       sync.Mutex // guards rngState
}

func (e *Executable) Execute(inputs []backends.Buffer, donate []bool, dev backends.DeviceNum) ([]backends.Buffer, error) {
	if dev != 0 {
		return nil, fmt.Errorf("backend %q has one device, got device %d", Name, dev)
	}
	if len(inputs) != len(e.params) {
		return nil, fmt.Errorf("executable %q takes %d inputs, got %d", e.name, len(e.params), len(inputs))
	}
	nn := len(e.root)
	ec := &execCtx{e: e, workers: e.backend.workers, vals: make([]*Buffer, nn), owned: make([]bool, nn)}
	seen := map[*Buffer]int{}
	for i, in := range inputs {
		buf, err := e.backend.buffer(in)
		if err != nil {
			return nil, fmt.Errorf("input #%d: %w", i, err)
		}
		if !buf.shape.Equal(e.params[i].shape) {
			return nil, fmt.Errorf("executable %q: input #%d (%s) has shape %s, want %s", e.name, i,
				e.params[i].attr.(paramAttr).name, buf.shape, e.params[i].shape)
		}
		seen[buf]++
		ec.vals[e.params[i].id] = buf
	}
	for i, in := range inputs {
		buf := in.(*Buffer)
		if i < len(donate) && donate[i] && seen[buf] == 1 {
			// The caller gives the storage up: take it, so a later
			// BufferFinalize of the old handle cannot pool it twice.
			id := e.params[i].id
			ec.vals[id] = &Buffer{shape: buf.shape, flat: buf.flat}
			buf.flat = nil
			ec.owned[id] = true
		}
	}
	for _, c := range e.consts {
		ec.vals[c.id] = c.attr.(*Buffer)
	}
	ec.left = slices.Clone(e.readers)
	if err := ec.run(); err != nil {
		ec.release()
		return nil, err
	}
	outs := make([]backends.Buffer, len(e.outputs))
	given := map[int]bool{}
	for i, o := range e.outputs {
		v := ec.vals[o.id]
		r := e.root[o.id]
		if !ec.owned[r] || given[r] {
			flat := e.backend.pool.get(o.shape.DType, o.shape.Size())
			copyFlat(flat, v.flat)
			outs[i] = &Buffer{shape: o.shape, flat: flat}
			continue
		}
		given[r] = true
		outs[i] = &Buffer{shape: o.shape, flat: v.flat}
	}
	return outs, nil
}

// run executes the steps, up to ec.workers at once: a step starts when the
// steps that write its inputs have finished, lowest index first, and a
// storage goes back to the pool when its last reader finishes. Each kernel's
// arithmetic and chunking do not depend on what runs beside it, so results
// are the same as in sequential order.
func (ec *execCtx) run() error {
	e := ec.e
	ns := len(e.steps)
	pending := slices.Clone(e.nDeps)
	var ready []int // sorted, descending: the lowest index pops from the end
	push := func(i int) {
		k, _ := slices.BinarySearchFunc(ready, i, func(a, b int) int { return b - a })
		ready = slices.Insert(ready, k, i)
	}
	for i := ns - 1; i >= 0; i-- {
		if pending[i] == 0 {
			ready = append(ready, i)
		}
	}
	done, idle := 0, 0
	var err error
	cond := sync.NewCond(&ec.smu)
	worker := func() {
		ec.smu.Lock()
		defer ec.smu.Unlock()
		for {
			for len(ready) == 0 && done < ns && err == nil {
				idle++
				cond.Wait()
				idle--
			}
			if done == ns || err != nil {
				return
			}
			i := ready[len(ready)-1]
			ready = ready[:len(ready)-1]
			if len(ready) > 0 && idle > 0 {
				cond.Signal()
			}
			n := e.steps[i]
			ins := make([]*Buffer, len(e.stepIns[n.id]))
			for j, in := range e.stepIns[n.id] {
				ins[j] = ec.vals[in.id]
			}
			ec.smu.Unlock()
			var t0 time.Time
			if opProfile != nil {
				t0 = time.Now()
			}
			out, kerr := e.kernels[n.id](ec, n, ins)
			if opProfile != nil {
				opProfile.add(n, time.Since(t0))
			}
			ec.smu.Lock()
			if kerr != nil {
				if err == nil {
					err = fmt.Errorf("backend %q: %s (%s): %w", Name, n.op, n.shape, kerr)
				}
				cond.Broadcast()
				return
			}
			ec.vals[n.id] = out
			if r := e.root[n.id]; r == n.id {
				ec.owned[r] = true
			}
			// Free the storages whose last reader this was.
			for _, r := range e.stepRoots[i] {
				ec.left[r]--
				if ec.left[r] == 0 && ec.owned[r] && ec.vals[r] != nil {
					if ec.vals[r].flat != nil {
						e.backend.pool.put(ec.vals[r].shape.DType, ec.vals[r].flat)
					}
					ec.vals[r] = nil
					ec.owned[r] = false
				}
			}
			for _, s := range e.succ[i] {
				if pending[s]--; pending[s] == 0 {
					push(int(s))
				}
			}
			done++
			if done == ns || (len(ready) > 1 && idle > 0) {
				cond.Broadcast()
			}
		}
	}
	var wg sync.WaitGroup
	for w := 1; w < min(ec.workers, ns); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			worker()
		}()
	}
	worker()
	wg.Wait()
	return err
}

// release returns the storages still held after a failed Execute.
func (ec *execCtx) release() {
	for r, own := range ec.owned {
		if own && ec.vals[r] != nil && ec.vals[r].flat != nil {
			ec.e.backend.pool.put(ec.vals[r].shape.DType, ec.vals[r].flat)
		}
	}
}

// alloc returns a new buffer for n's value; its contents are unspecified.
func (ec *execCtx) alloc(shape shapes.Shape) *Buffer {
	return &Buffer{shape: shape, flat: ec.e.backend.pool.get(shape.DType, shape.Size())}
}

// reuse returns input k's buffer, to be overwritten with n's value, when its
// storage is dead after this op, this call owns it, it has n's dtype and
// size, and no other input reads it through a different layout; else a new
// buffer. Only for ops that read element i before writing element i.
func (ec *execCtx) reuse(n *node, k int, ins []*Buffer) *Buffer {
	e := ec.e
	in := n.inputs[k]
	r := e.root[in.id]
	ec.smu.Lock()
	defer ec.smu.Unlock()
	if ec.dying(r) && in.shape.DType == n.shape.DType && in.shape.Size() == n.shape.Size() {
		ok := true
		for j, other := range n.inputs {
			if j != k && e.root[other.id] == r && other.shape.Size() != n.shape.Size() {
				ok = false
			}
		}
		if ok {
			buf := &Buffer{shape: n.shape, flat: ins[k].flat}
			// The storage moves to n: make the free loop skip it.
			ec.vals[r] = &Buffer{shape: ins[k].shape}
			ec.owned[r] = false
			return buf
		}
	}
	return &Buffer{shape: n.shape, flat: e.backend.pool.get(n.shape.DType, n.shape.Size())}
}

// dying reports whether storage r is this call's and the running step,
// which reads it, is its last unfinished reader. Caller holds smu.
func (ec *execCtx) dying(r int) bool { return ec.left[r] == 1 && ec.owned[r] }

// reuseAny tries every input of n in turn.
func (ec *execCtx) reuseAny(n *node, ins []*Buffer) *Buffer {
	for k := range n.inputs {
		in := n.inputs[k]
		if in.shape.DType == n.shape.DType && in.shape.Size() == n.shape.Size() {
			r := ec.e.root[in.id]
			ec.smu.Lock()
			d := ec.dying(r)
			ec.smu.Unlock()
			if d {
				return ec.reuse(n, k, ins)
			}
		}
	}
	return ec.alloc(n.shape)
}

// opProfile, when GOPEFT_BLAS_OPPROFILE is set, sums the time of each op
// type and output shape over the process; OpProfile reports it.
var opProfile = func() *opTimes {
	if os.Getenv("GOPEFT_BLAS_OPPROFILE") == "" {
		return nil
	}
	return &opTimes{m: map[string]*opTime{}}
}()

type opTimes struct {
	mu sync.Mutex
	m  map[string]*opTime
}

type opTime struct {
	d time.Duration
	n int
}

func (p *opTimes) add(n *node, d time.Duration) {
	k := n.op.String() + " " + n.shape.String()
	if n.op == backends.OpTypeDotGeneral {
		k += fmt.Sprintf(" %s x %s %v", n.inputs[0].shape, n.inputs[1].shape, n.attr)
	}
	p.mu.Lock()
	t := p.m[k]
	if t == nil {
		t = &opTime{}
		p.m[k] = t
	}
	t.d += d
	t.n++
	p.mu.Unlock()
}

// OpProfile lists the top ops by total time (GOPEFT_BLAS_OPPROFILE=1 only).
func OpProfile(top int) string {
	if opProfile == nil {
		return ""
	}
	opProfile.mu.Lock()
	defer opProfile.mu.Unlock()
	keys := make([]string, 0, len(opProfile.m))
	var total time.Duration
	for k, t := range opProfile.m {
		keys = append(keys, k)
		total += t.d
	}
	sort.Slice(keys, func(i, j int) bool { return opProfile.m[keys[i]].d > opProfile.m[keys[j]].d })
	var b strings.Builder
	fmt.Fprintf(&b, "total %v\n", total)
	for i, k := range keys {
		if i == top {
			break
		}
		t := opProfile.m[k]
		fmt.Fprintf(&b, "%8.1fms %5d  %s\n", float64(t.d.Microseconds())/1000, t.n, k)
	}
	return b.String()
}
