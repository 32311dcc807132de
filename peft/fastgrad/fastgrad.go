// Package fastgrad replaces GoMLX's gradient of DotGeneral and Dot with one
// built from DotGeneral itself.
//
//	fastgrad.Install() // once per process; backend.New() does it for every GoPEFT entry point
//	// graph.Gradient now builds DotGeneral's backward pass as two DotGenerals
//
// Why: GoMLX v0.26.0's stock VJPs (dotGeneralVJP in pkg/core/graph/ops_helpers.go,
// dotVJP in rev_autodiff.go) broadcast the output gradient against the other
// operand and then ReduceSum, so the backward pass of an [m,k]x[k,n] matmul
// materialises an [m,k,n] tensor. A 256->1024->256 FFN step on 2048 tokens
// takes seconds and gigabytes that way; expressed as two DotGenerals (plus a
// transpose) it takes a fraction of a second and megabytes.
//
// Where: Install writes into graph.VJPRegistration, a process-global map that
// graph.Gradient reads while building a graph. It must therefore run before
// any graph is built and never concurrently with graph building;
// peft/backend's backend.New() calls it, so every GoPEFT entry point gets it.
// Install is idempotent (sync.Once) and keeps the stock VJPs, which UseStock
// and WithStock switch back to for tests and benchmarks.
//
// How the axes are read: the DotGeneral node keeps its contracting and batch
// axes in graph's unexported nodeInputsDotGeneral struct. fastgrad reads them
// with reflect alone: Value.Int, Len and Pointer may read unexported fields,
// nothing is written, so no unsafe is needed. (Dot needs none of this: its
// axes are fixed and its operands are Node.Inputs().) Install probes that layout on a tiny graph first; if a GoMLX
// upgrade changed it, Install registers nothing, reports why, and the stock
// gradient stays in place. Each gradient call re-validates what it read
// against the node's shapes and falls back to the stock VJP on any mismatch,
// so a layout change can cost speed but never give wrong gradients.
package fastgrad

import (
	"fmt"
	"os"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

var (
	installOnce sync.Once
	installErr  error
	installed   atomic.Bool
	useStock    atomic.Bool
	warnOnce    sync.Once

	// fastBuilt and fallbacks count backward graphs built each way (for tests).
	fastBuilt, fallbacks atomic.Int64

	stockDotGeneral graph.VJP
	stockDot        graph.VJP
)

// Install registers the DotGeneral-based VJPs for graph.NodeTypeDotGeneral and
// graph.NodeTypeDot. Safe to call many times and from many goroutines, but
// call it before building graphs: graph.VJPRegistration is an unguarded map.
//
// It returns a non-nil error (and prints it once to stderr) when GoMLX's
// internal DotGeneral layout is not the one this package knows; the stock
// gradient then stays registered and results stay correct, only slower.
func Install() error {
	installOnce.Do(func() {
		stockDotGeneral = graph.VJPRegistration[graph.NodeTypeDotGeneral]
		stockDot = graph.VJPRegistration[graph.NodeTypeDot]
		if stockDotGeneral == nil || stockDot == nil {
			installErr = fmt.Errorf("fastgrad: GoMLX has no stock VJP for DotGeneral/Dot; keeping GoMLX's registry unchanged (check the gomlx version against go.mod's v0.26.0)")
		} else if err := probeLayout(); err != nil {
			installErr = fmt.Errorf("fastgrad: not installed, using GoMLX's stock (slow, memory-hungry) DotGeneral gradient: %w; update peft/fastgrad for this gomlx version", err)
		} else {
			graph.VJPRegistration[graph.NodeTypeDotGeneral] = dotGeneralVJP
			graph.VJPRegistration[graph.NodeTypeDot] = dotVJP
			installed.Store(true)
		}
		// Slice's gradient is fixed separately: it is about the pure-Go
		// backend lacking Pad, not about speed (see slice.go).
		if stockSlice = graph.VJPRegistration[graph.NodeTypeSlice]; stockSlice != nil {
			graph.VJPRegistration[graph.NodeTypeSlice] = sliceVJP
		}
		if installErr != nil {
			fmt.Fprintln(os.Stderr, "gopeft: warning:", installErr)
		}
	})
	return installErr
}

// Installed reports whether the fast VJPs are registered.
func Installed() bool { return installed.Load() }

// InstallError is the reason Install left the stock gradient in place, or nil.
func InstallError() error {
	if !installed.Load() {
		return installErr
	}
	return nil
}

// UseStock switches graphs built from now on to GoMLX's stock VJPs (true) or
// back to the fast ones (false). The choice is made when graph.Gradient
// builds the backward graph, so a compiled graph keeps the mode it was built
// in. It is process-global: do not flip it while another goroutine builds a
// graph whose mode matters.
func UseStock(stock bool) { useStock.Store(stock) }

// UsingStock reports whether gradients are currently built with the stock VJPs
// (true also when Install has not run or failed).
func UsingStock() bool { return useStock.Load() || !installed.Load() }

// WithStock runs fn, which should build (and may run) graphs, with the stock
// VJPs selected, then restores the previous mode.
func WithStock(fn func()) {
	prev := useStock.Swap(true)
	defer useStock.Store(prev)
	fn()
}

// dotAxes is what a DotGeneral node contracts and batches.
type dotAxes struct {
	lhsContracting, lhsBatch, rhsContracting, rhsBatch []int
}

func dotGeneralVJP(node *graph.Node, vjpOutputs []*graph.Node, outputShape shapes.Shape) []*graph.Node {
	if useStock.Load() || len(vjpOutputs) != 1 {
		return stockDotGeneral(node, vjpOutputs, outputShape)
	}
	axes, err := readDotGeneralAxes(node)
	if err == nil {
		err = validate(node, axes)
	}
	if err != nil {
		warnOnce.Do(func() {
			fmt.Fprintf(os.Stderr, "gopeft: warning: fastgrad fell back to GoMLX's stock DotGeneral gradient: %v\n", err)
		})
		fallbacks.Add(1)
		return stockDotGeneral(node, vjpOutputs, outputShape)
	}
	fastBuilt.Add(1)
	return gradients(node, vjpOutputs[0], axes)
}

// dotVJP handles graph.Dot (what layers.Dense and MatMul of rank <= 2 emit):
// it contracts lhs's last axis with rhs's first, with no batch axes.
func dotVJP(node *graph.Node, vjpOutputs []*graph.Node, outputShape shapes.Shape) []*graph.Node {
	if useStock.Load() || len(vjpOutputs) != 1 {
		return stockDot(node, vjpOutputs, outputShape)
	}
	in := node.Inputs()
	if len(in) != 2 || in[0].Rank() < 1 || in[0].Rank() > 2 || in[1].Rank() < 1 || in[1].Rank() > 2 {
		fallbacks.Add(1)
		return stockDot(node, vjpOutputs, outputShape)
	}
	axes := dotAxes{lhsContracting: []int{in[0].Rank() - 1}, rhsContracting: []int{0}}
	if err := validate(node, axes); err != nil {
		fallbacks.Add(1)
		return stockDot(node, vjpOutputs, outputShape)
	}
	fastBuilt.Add(1)
	return gradients(node, vjpOutputs[0], axes)
}

// gradients returns d/dlhs and d/drhs given v, the gradient w.r.t. node's output.
func gradients(node, v *graph.Node, axes dotAxes) []*graph.Node {
	lhs, rhs := node.Inputs()[0], node.Inputs()[1]
	lhsCross := crossAxes(lhs.Rank(), axes.lhsContracting, axes.lhsBatch)
	rhsCross := crossAxes(rhs.Rank(), axes.rhsContracting, axes.rhsBatch)
	nb := len(axes.lhsBatch)
	// v is laid out [batch..., lhsCross..., rhsCross...].
	lhsCrossInV := iota(nb, len(lhsCross))
	rhsCrossInV := iota(nb+len(lhsCross), len(rhsCross))
	return []*graph.Node{
		operandGrad(v, lhs, axes.lhsBatch, axes.lhsContracting, lhsCross,
			rhs, rhsCrossInV, axes.rhsBatch, axes.rhsContracting, rhsCross),
		operandGrad(v, rhs, axes.rhsBatch, axes.rhsContracting, rhsCross,
			lhs, lhsCrossInV, axes.lhsBatch, axes.lhsContracting, lhsCross),
	}
}

// operandGrad is the gradient w.r.t. "this" operand:
//
//	grad[batch, thisCross, thisContracting] = sum over otherCross of
//	    v[batch, thisCross, otherCross] * other[batch, otherCross, otherContracting]
//
// i.e. one DotGeneral of v with the other operand, contracting the other's
// cross axes, followed by a transpose back into this operand's axis order.
func operandGrad(v, this *graph.Node, thisBatch, thisContracting, thisCross []int,
	other *graph.Node, otherCrossInV, otherBatch, otherContracting, otherCross []int) *graph.Node {
	nb := len(thisBatch)
	g := graph.DotGeneral(v, otherCrossInV, iota(0, nb), other, otherCross, otherBatch)
	// g is [batch..., thisCross... (v's free axes, already in this's order),
	// other's remaining (= contracting) axes in ascending order].
	sortedOtherContracting := slices.Clone(otherContracting)
	slices.Sort(sortedOtherContracting)
	perm := make([]int, this.Rank())
	for i, a := range thisBatch {
		perm[a] = i
	}
	for j, a := range thisCross {
		perm[a] = nb + j
	}
	for i, a := range thisContracting {
		perm[a] = nb + len(thisCross) + slices.Index(sortedOtherContracting, otherContracting[i])
	}
	if !isIdentity(perm) {
		g = graph.TransposeAllAxes(g, perm...)
	}
	if g.DType() != this.DType() {
		g = graph.ConvertDType(g, this.DType())
	}
	return g
}

// validate checks that axes describe node exactly (ranges, no repeats, matching
// dimensions, the node's own output shape); anything else means the axes were
// misread and the stock VJP must be used.
func validate(node *graph.Node, a dotAxes) error {
	in := node.Inputs()
	if len(in) != 2 {
		return fmt.Errorf("DotGeneral node has %d inputs, want 2", len(in))
	}
	lhs, rhs := in[0].Shape(), in[1].Shape()
	if len(a.lhsContracting) != len(a.rhsContracting) || len(a.lhsBatch) != len(a.rhsBatch) {
		return fmt.Errorf("unpaired axes %+v", a)
	}
	if !distinctInRange(lhs.Rank(), a.lhsContracting, a.lhsBatch) || !distinctInRange(rhs.Rank(), a.rhsContracting, a.rhsBatch) {
		return fmt.Errorf("axes %+v out of range or repeated for shapes %s, %s", a, lhs, rhs)
	}
	for i := range a.lhsContracting {
		if lhs.Dimensions[a.lhsContracting[i]] != rhs.Dimensions[a.rhsContracting[i]] {
			return fmt.Errorf("contracting dimensions differ in %+v for %s, %s", a, lhs, rhs)
		}
	}
	want := []int{}
	for i := range a.lhsBatch {
		if lhs.Dimensions[a.lhsBatch[i]] != rhs.Dimensions[a.rhsBatch[i]] {
			return fmt.Errorf("batch dimensions differ in %+v for %s, %s", a, lhs, rhs)
		}
		want = append(want, lhs.Dimensions[a.lhsBatch[i]])
	}
	for _, ax := range crossAxes(lhs.Rank(), a.lhsContracting, a.lhsBatch) {
		want = append(want, lhs.Dimensions[ax])
	}
	for _, ax := range crossAxes(rhs.Rank(), a.rhsContracting, a.rhsBatch) {
		want = append(want, rhs.Dimensions[ax])
	}
	if got := node.Shape().Dimensions; !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
		return fmt.Errorf("axes %+v imply output dimensions %v, node has %v", a, want, got)
	}
	if !lhs.DType.IsFloat() || lhs.DType != rhs.DType {
		return fmt.Errorf("dtypes %s, %s not handled", lhs.DType, rhs.DType)
	}
	return nil
}

func distinctInRange(rank int, lists ...[]int) bool {
	seen := make([]bool, rank)
	for _, l := range lists {
		for _, a := range l {
			if a < 0 || a >= rank || seen[a] {
				return false
			}
			seen[a] = true
		}
	}
	return true
}

// crossAxes are the axes of a rank-r operand that are neither contracted nor batch, ascending.
func crossAxes(rank int, contracting, batch []int) []int {
	out := []int{}
	for a := range rank {
		if !slices.Contains(contracting, a) && !slices.Contains(batch, a) {
			out = append(out, a)
		}
	}
	return out
}

func iota(start, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = start + i
	}
	return out
}

func isIdentity(perm []int) bool {
	for i, p := range perm {
		if i != p {
			return false
		}
	}
	return true
}

// inputsStruct returns the struct behind node's unexported "inputs"
// interface field (graph's nodeInputs<Op>), checking it is the named type.
func inputsStruct(node *graph.Node, typeName string) (reflect.Value, error) {
	f := reflect.ValueOf(node).Elem().FieldByName("inputs")
	if !f.IsValid() || f.Kind() != reflect.Interface || f.IsNil() {
		return reflect.Value{}, fmt.Errorf("graph.Node has no interface field %q", "inputs")
	}
	p := f.Elem()
	if p.Kind() != reflect.Pointer || p.IsNil() || p.Elem().Kind() != reflect.Struct {
		return reflect.Value{}, fmt.Errorf("graph.Node.inputs is %s, want a pointer to a struct", p.Type())
	}
	if s := p.Elem(); s.Type().Name() == typeName {
		return s, nil
	}
	return reflect.Value{}, fmt.Errorf("graph.Node.inputs is %s, want %s", p.Elem().Type(), typeName)
}

// readDotGeneralAxes reads the axes from node's unexported
// *graph.nodeInputsDotGeneral, checking every field's name and type, and that
// its lhs/rhs pointers are node's inputs.
func readDotGeneralAxes(node *graph.Node) (dotAxes, error) {
	var a dotAxes
	if node == nil || node.Type() != graph.NodeTypeDotGeneral {
		return a, fmt.Errorf("not a DotGeneral node")
	}
	s, err := inputsStruct(node, "nodeInputsDotGeneral")
	if err != nil {
		return a, err
	}
	if s.NumField() != 6 {
		return a, fmt.Errorf("DotGeneral inputs are %s with %d fields, want nodeInputsDotGeneral with 6", s.Type(), s.NumField())
	}
	in := node.Inputs()
	if len(in) != 2 {
		return a, fmt.Errorf("DotGeneral node has %d inputs, want 2", len(in))
	}
	for name, want := range map[string]*graph.Node{"lhs": in[0], "rhs": in[1]} {
		v := s.FieldByName(name)
		if !v.IsValid() || v.Kind() != reflect.Pointer || v.Type().Elem() != reflect.TypeFor[graph.Node]() ||
			v.Pointer() != reflect.ValueOf(want).Pointer() {
			return a, fmt.Errorf("nodeInputsDotGeneral.%s is missing or is not the node's input", name)
		}
	}
	for _, fld := range []struct {
		name string
		dst  *[]int
	}{
		{"lhsContractingAxes", &a.lhsContracting}, {"lhsBatchAxes", &a.lhsBatch},
		{"rhsContractingAxes", &a.rhsContracting}, {"rhsBatchAxes", &a.rhsBatch},
	} {
		v := s.FieldByName(fld.name)
		if !v.IsValid() || v.Kind() != reflect.Slice || v.Type().Elem().Kind() != reflect.Int {
			return a, fmt.Errorf("nodeInputsDotGeneral.%s is missing or not []int", fld.name)
		}
		out := make([]int, v.Len())
		for i := range out {
			out[i] = int(v.Index(i).Int())
		}
		*fld.dst = out
	}
	return a, nil
}

// probeLayout builds one DotGeneral with distinctive axes on a throwaway
// SimpleGo graph and checks that readDotGeneralAxes gets them back exactly.
func probeLayout() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("probing the DotGeneral node layout panicked: %v", r)
		}
	}()
	backend, err := simplego.New("")
	if err != nil {
		return fmt.Errorf("creating the SimpleGo probe backend: %w", err)
	}
	defer backend.Finalize()
	g := graph.NewGraph(backend, "fastgrad_probe")
	defer g.Finalize()
	// lhs [2,3,4,5]: batch axis 2, contracting (3,1); rhs [5,4,3,6]: batch axis 1, contracting (0,2).
	lhs := graph.Parameter(g, "lhs", shapes.Make(dtypes.Float32, 2, 3, 4, 5))
	rhs := graph.Parameter(g, "rhs", shapes.Make(dtypes.Float32, 5, 4, 3, 6))
	want := dotAxes{lhsContracting: []int{3, 1}, lhsBatch: []int{2}, rhsContracting: []int{0, 2}, rhsBatch: []int{1}}
	node := graph.DotGeneral(lhs, want.lhsContracting, want.lhsBatch, rhs, want.rhsContracting, want.rhsBatch)
	got, err := readDotGeneralAxes(node)
	if err != nil {
		return err
	}
	if !slices.Equal(got.lhsContracting, want.lhsContracting) || !slices.Equal(got.lhsBatch, want.lhsBatch) ||
		!slices.Equal(got.rhsContracting, want.rhsContracting) || !slices.Equal(got.rhsBatch, want.rhsBatch) {
		return fmt.Errorf("read axes %+v from a DotGeneral built with %+v", got, want)
	}
	return validate(node, got)
}
