package fastgrad

import (
	"fmt"
	"reflect"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// The stock gradient of Slice pads the output gradient with graph.Pad, which
// GoMLX v0.26.0's pure-Go backend does not implement, so any model that
// slices a trainable tensor (a [CLS] token, one layer's prefix) cannot train
// on the CPU. For unit-stride slices, the same gradient is the output
// gradient with zero blocks concatenated before and after along each sliced
// axis, which every backend supports. Strided slices keep the stock VJP.

var stockSlice graph.VJP

// sliceBounds is what a Slice node keeps in graph's unexported nodeInputsSlice.
type sliceBounds struct{ starts, limits, strides []int }

func sliceVJP(node *graph.Node, vjpOutputs []*graph.Node, outputShape shapes.Shape) []*graph.Node {
	b, err := readSliceBounds(node)
	if err != nil || len(vjpOutputs) != 1 {
		return stockSlice(node, vjpOutputs, outputShape)
	}
	for _, s := range b.strides {
		if s > 1 {
			return stockSlice(node, vjpOutputs, outputShape)
		}
	}
	x := node.Inputs()[0]
	grad := vjpOutputs[0]
	g := grad.Graph()
	for axis := range x.Rank() {
		before, after := b.starts[axis], x.Shape().Dim(axis)-b.limits[axis]
		if before == 0 && after == 0 {
			continue
		}
		parts := make([]*graph.Node, 0, 3)
		zerosOf := func(n int) *graph.Node {
			dims := grad.Shape().Clone().Dimensions
			dims[axis] = n
			return graph.Zeros(g, shapes.Make(grad.DType(), dims...))
		}
		if before > 0 {
			parts = append(parts, zerosOf(before))
		}
		parts = append(parts, grad)
		if after > 0 {
			parts = append(parts, zerosOf(after))
		}
		grad = graph.Concatenate(parts, axis)
	}
	return []*graph.Node{grad}
}

// readSliceBounds reads starts, limits and strides with reflect, checking
// names and types, as readDotGeneralAxes does for DotGeneral.
func readSliceBounds(node *graph.Node) (sliceBounds, error) {
	var b sliceBounds
	if node == nil || node.Type() != graph.NodeTypeSlice || len(node.Inputs()) != 1 {
		return b, fmt.Errorf("not a Slice node")
	}
	s, err := inputsStruct(node, "nodeInputsSlice")
	if err != nil {
		return b, err
	}
	rank := node.Inputs()[0].Rank()
	for _, fld := range []struct {
		name string
		dst  *[]int
	}{{"starts", &b.starts}, {"limits", &b.limits}, {"strides", &b.strides}} {
		v := s.FieldByName(fld.name)
		if !v.IsValid() || v.Kind() != reflect.Slice || v.Type().Elem().Kind() != reflect.Int || v.Len() != rank {
			return b, fmt.Errorf("nodeInputsSlice.%s is missing, not []int, or not of the operand's rank", fld.name)
		}
		out := make([]int, rank)
		for i := range out {
			out[i] = int(v.Index(i).Int())
		}
		*fld.dst = out
	}
	for axis := range rank {
		if b.starts[axis] < 0 || b.limits[axis] > node.Inputs()[0].Shape().Dim(axis) || b.starts[axis] > b.limits[axis] {
			return b, fmt.Errorf("slice bounds out of range on axis %d", axis)
		}
	}
	return b, nil
}
