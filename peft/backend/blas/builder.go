package blas

import (
	"fmt"
	"reflect"
	"slices"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/notimplemented"
	"github.com/gomlx/gomlx/backends/shapeinference"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

const notImplementedSuffix = `not implemented by backend "blas": use GOMLX_BACKEND=go`

func errNotImplemented(op backends.OpType) error {
	return fmt.Errorf("op %s %s", op, notImplementedSuffix)
}

// node is one op of the recorded graph; it is the backends.Op handed to GoMLX.
type node struct {
	id     int
	op     backends.OpType
	shape  shapes.Shape
	inputs []*node
	attr   any // op-specific parameters, see the *Attr types
	b      *Builder
}

// Builder records a graph; Compile turns it into an Executable.
type Builder struct {
	notimplemented.Builder // every op not defined here: errNotImplemented
	backend                *Backend
	name                   string
	nodes                  []*node
	params                 []*node
	compiled               bool
}

var _ backends.Builder = (*Builder)(nil)

// implementedOps is filled by the op methods' registrations below, for
// Capabilities.
var implementedOps = map[backends.OpType]bool{}

func (b *Backend) Builder(name string) backends.Builder {
	return &Builder{Builder: notimplemented.Builder{ErrFn: errNotImplemented}, backend: b, name: name}
}

func (b *Builder) Name() string { return b.name }

func (b *Builder) newNode(op backends.OpType, shape shapes.Shape, attr any, inputs ...*node) *node {
	n := &node{id: len(b.nodes), op: op, shape: shape, inputs: inputs, attr: attr, b: b}
	b.nodes = append(b.nodes, n)
	return n
}

// in converts GoMLX's ops to this builder's nodes, checking they belong here.
func (b *Builder) in(op backends.OpType, ops ...backends.Op) ([]*node, error) {
	if b.compiled {
		return nil, fmt.Errorf("backend %q: builder %q already compiled", Name, b.name)
	}
	ns := make([]*node, len(ops))
	for i, o := range ops {
		n, ok := o.(*node)
		if !ok || n == nil || n.b != b {
			return nil, fmt.Errorf("backend %q: %s: input #%d is not an op of builder %q (%T)", Name, op, i, b.name, o)
		}
		ns[i] = n
	}
	return ns, nil
}

func (b *Builder) OpShape(op backends.Op) (shapes.Shape, error) {
	n, ok := op.(*node)
	if !ok || n == nil {
		return shapes.Invalid(), fmt.Errorf("backend %q: not an op: %T", Name, op)
	}
	return n.shape, nil
}

func (b *Builder) Parameter(name string, shape shapes.Shape, sharding *backends.ShardingSpec) (backends.Op, error) {
	if sharding != nil {
		return nil, fmt.Errorf("sharding %s", notImplementedSuffix)
	}
	if !storable(shape.DType) {
		return nil, fmt.Errorf("parameter %q of dtype %s %s", name, shape.DType, notImplementedSuffix)
	}
	n := b.newNode(backends.OpTypeParameter, shape.Clone(), paramAttr{name: name, index: len(b.params)})
	b.params = append(b.params, n)
	return n, nil
}

type paramAttr struct {
	name  string
	index int
}

func (b *Builder) Constant(flat any, dims ...int) (backends.Op, error) {
	v := reflect.ValueOf(flat)
	if v.Kind() != reflect.Slice {
		return nil, fmt.Errorf("backend %q: Constant needs a flat slice, got %T", Name, flat)
	}
	dt := dtypes.FromGoType(v.Type().Elem())
	if !storable(dt) {
		return nil, fmt.Errorf("constant of dtype %s %s", dt, notImplementedSuffix)
	}
	shape := shapes.Make(dt, dims...)
	if shape.Size() != v.Len() {
		return nil, fmt.Errorf("backend %q: Constant of %d values for shape %s", Name, v.Len(), shape)
	}
	c := makeFlat(dt, v.Len())
	reflect.Copy(reflect.ValueOf(c), v)
	return b.newNode(backends.OpTypeConstant, shape, &Buffer{shape: shape, flat: c}), nil
}

// Elementwise ops.

func (b *Builder) unary(op backends.OpType, x backends.Op) (backends.Op, error) {
	ns, err := b.in(op, x)
	if err != nil {
		return nil, err
	}
	var shape shapes.Shape
	if op == backends.OpTypeIsNaN || op == backends.OpTypeIsFinite {
		if !isFloat(ns[0].shape.DType) {
			return nil, fmt.Errorf("op %s on %s %s", op, ns[0].shape.DType, notImplementedSuffix)
		}
		shape = ns[0].shape.Clone()
		shape.DType = dtypes.Bool
		return b.newNode(op, shape, nil, ns...), nil
	}
	shape, err = shapeinference.UnaryOp(op, ns[0].shape)
	if err != nil {
		return nil, err
	}
	if !unarySupported(op, shape.DType) {
		return nil, fmt.Errorf("op %s on %s %s", op, shape.DType, notImplementedSuffix)
	}
	return b.newNode(op, shape, nil, ns...), nil
}

func (b *Builder) binary(op backends.OpType, lhs, rhs backends.Op) (backends.Op, error) {
	ns, err := b.in(op, lhs, rhs)
	if err != nil {
		return nil, err
	}
	var shape shapes.Shape
	if shapeinference.ComparisonOperations.Has(op) {
		shape, err = shapeinference.ComparisonOp(op, ns[0].shape, ns[1].shape)
	} else {
		shape, err = shapeinference.BinaryOp(op, ns[0].shape, ns[1].shape)
	}
	if err != nil {
		return nil, err
	}
	if !binarySupported(op, ns[0].shape.DType) {
		return nil, fmt.Errorf("op %s on %s %s", op, ns[0].shape.DType, notImplementedSuffix)
	}
	return b.newNode(op, shape, nil, ns...), nil
}

func (b *Builder) Abs(x backends.Op) (backends.Op, error)   { return b.unary(backends.OpTypeAbs, x) }
func (b *Builder) Neg(x backends.Op) (backends.Op, error)   { return b.unary(backends.OpTypeNeg, x) }
func (b *Builder) Exp(x backends.Op) (backends.Op, error)   { return b.unary(backends.OpTypeExp, x) }
func (b *Builder) Expm1(x backends.Op) (backends.Op, error) { return b.unary(backends.OpTypeExpm1, x) }
func (b *Builder) Log(x backends.Op) (backends.Op, error)   { return b.unary(backends.OpTypeLog, x) }
func (b *Builder) Log1p(x backends.Op) (backends.Op, error) { return b.unary(backends.OpTypeLog1p, x) }
func (b *Builder) Logistic(x backends.Op) (backends.Op, error) {
	return b.unary(backends.OpTypeLogistic, x)
}
func (b *Builder) Tanh(x backends.Op) (backends.Op, error)  { return b.unary(backends.OpTypeTanh, x) }
func (b *Builder) Sqrt(x backends.Op) (backends.Op, error)  { return b.unary(backends.OpTypeSqrt, x) }
func (b *Builder) Rsqrt(x backends.Op) (backends.Op, error) { return b.unary(backends.OpTypeRsqrt, x) }
func (b *Builder) Sign(x backends.Op) (backends.Op, error)  { return b.unary(backends.OpTypeSign, x) }
func (b *Builder) Sin(x backends.Op) (backends.Op, error)   { return b.unary(backends.OpTypeSin, x) }
func (b *Builder) Cos(x backends.Op) (backends.Op, error)   { return b.unary(backends.OpTypeCos, x) }
func (b *Builder) Erf(x backends.Op) (backends.Op, error)   { return b.unary(backends.OpTypeErf, x) }
func (b *Builder) Floor(x backends.Op) (backends.Op, error) { return b.unary(backends.OpTypeFloor, x) }
func (b *Builder) Ceil(x backends.Op) (backends.Op, error)  { return b.unary(backends.OpTypeCeil, x) }
func (b *Builder) Round(x backends.Op) (backends.Op, error) { return b.unary(backends.OpTypeRound, x) }
func (b *Builder) IsFinite(x backends.Op) (backends.Op, error) {
	return b.unary(backends.OpTypeIsFinite, x)
}
func (b *Builder) IsNaN(x backends.Op) (backends.Op, error) { return b.unary(backends.OpTypeIsNaN, x) }
func (b *Builder) LogicalNot(x backends.Op) (backends.Op, error) {
	return b.unary(backends.OpTypeLogicalNot, x)
}
func (b *Builder) BitwiseNot(x backends.Op) (backends.Op, error) {
	return b.unary(backends.OpTypeBitwiseNot, x)
}

func (b *Builder) Add(l, r backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeAdd, l, r)
}
func (b *Builder) Sub(l, r backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeSub, l, r)
}
func (b *Builder) Mul(l, r backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeMul, l, r)
}
func (b *Builder) Div(l, r backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeDiv, l, r)
}
func (b *Builder) Max(l, r backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeMax, l, r)
}
func (b *Builder) Min(l, r backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeMin, l, r)
}
func (b *Builder) Pow(l, r backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypePow, l, r)
}
func (b *Builder) Rem(l, r backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeRem, l, r)
}
func (b *Builder) LogicalAnd(l, r backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeLogicalAnd, l, r)
}
func (b *Builder) LogicalOr(l, r backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeLogicalOr, l, r)
}
func (b *Builder) LogicalXor(l, r backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeLogicalXor, l, r)
}
func (b *Builder) BitwiseAnd(l, r backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeBitwiseAnd, l, r)
}
func (b *Builder) BitwiseOr(l, r backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeBitwiseOr, l, r)
}
func (b *Builder) BitwiseXor(l, r backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeBitwiseXor, l, r)
}
func (b *Builder) Equal(l, r backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeEqual, l, r)
}
func (b *Builder) NotEqual(l, r backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeNotEqual, l, r)
}
func (b *Builder) GreaterThan(l, r backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeGreaterThan, l, r)
}
func (b *Builder) GreaterOrEqual(l, r backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeGreaterOrEqual, l, r)
}
func (b *Builder) LessThan(l, r backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeLessThan, l, r)
}
func (b *Builder) LessOrEqual(l, r backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeLessOrEqual, l, r)
}

func (b *Builder) Where(cond, onTrue, onFalse backends.Op) (backends.Op, error) {
	ns, err := b.in(backends.OpTypeWhere, cond, onTrue, onFalse)
	if err != nil {
		return nil, err
	}
	shape, err := shapeinference.WhereOp(ns[0].shape, ns[1].shape, ns[2].shape)
	if err != nil {
		return nil, err
	}
	return b.newNode(backends.OpTypeWhere, shape, nil, ns...), nil
}

func (b *Builder) Clamp(lo, x, hi backends.Op) (backends.Op, error) {
	// Clamp = Min(Max(x, lo), hi), with the same broadcasting as binary ops.
	m, err := b.Max(x, lo)
	if err != nil {
		return nil, err
	}
	return b.Min(m, hi)
}

func (b *Builder) ConvertDType(x backends.Op, dtype dtypes.DType) (backends.Op, error) {
	ns, err := b.in(backends.OpTypeConvertDType, x)
	if err != nil {
		return nil, err
	}
	if !storable(dtype) {
		return nil, fmt.Errorf("ConvertDType to %s %s", dtype, notImplementedSuffix)
	}
	shape := ns[0].shape.Clone()
	shape.DType = dtype
	return b.newNode(backends.OpTypeConvertDType, shape, nil, ns...), nil
}

// Shape ops.

func (b *Builder) Identity(x backends.Op) (backends.Op, error) {
	ns, err := b.in(backends.OpTypeIdentity, x)
	if err != nil {
		return nil, err
	}
	return b.newNode(backends.OpTypeIdentity, ns[0].shape, nil, ns...), nil
}

func (b *Builder) Reshape(x backends.Op, dims ...int) (backends.Op, error) {
	ns, err := b.in(backends.OpTypeReshape, x)
	if err != nil {
		return nil, err
	}
	shape, err := shapeinference.ReshapeOp(ns[0].shape, dims)
	if err != nil {
		return nil, err
	}
	return b.newNode(backends.OpTypeReshape, shape, nil, ns...), nil
}

func (b *Builder) Transpose(x backends.Op, perm ...int) (backends.Op, error) {
	ns, err := b.in(backends.OpTypeTranspose, x)
	if err != nil {
		return nil, err
	}
	shape, err := shapeinference.TransposeOp(ns[0].shape, perm)
	if err != nil {
		return nil, err
	}
	return b.newNode(backends.OpTypeTranspose, shape, slices.Clone(perm), ns...), nil
}

func (b *Builder) BroadcastInDim(x backends.Op, outShape shapes.Shape, axes []int) (backends.Op, error) {
	ns, err := b.in(backends.OpTypeBroadcastInDim, x)
	if err != nil {
		return nil, err
	}
	if err := shapeinference.BroadcastInDimOp(ns[0].shape, outShape, axes); err != nil {
		return nil, err
	}
	return b.newNode(backends.OpTypeBroadcastInDim, outShape.Clone(), slices.Clone(axes), ns...), nil
}

type sliceAttr struct{ starts, limits, strides []int }

func (b *Builder) Slice(x backends.Op, starts, limits, strides []int) (backends.Op, error) {
	ns, err := b.in(backends.OpTypeSlice, x)
	if err != nil {
		return nil, err
	}
	if len(strides) == 0 {
		strides = make([]int, len(starts))
		for i := range strides {
			strides[i] = 1
		}
	}
	shape, err := shapeinference.SliceOp(ns[0].shape, starts, limits, strides)
	if err != nil {
		return nil, err
	}
	return b.newNode(backends.OpTypeSlice, shape, sliceAttr{slices.Clone(starts), slices.Clone(limits), slices.Clone(strides)}, ns...), nil
}

func (b *Builder) Concatenate(axis int, operands ...backends.Op) (backends.Op, error) {
	ns, err := b.in(backends.OpTypeConcatenate, operands...)
	if err != nil {
		return nil, err
	}
	ss := make([]shapes.Shape, len(ns))
	for i, n := range ns {
		ss[i] = n.shape
	}
	shape, err := shapeinference.ConcatenateOp(ss, axis)
	if err != nil {
		return nil, err
	}
	return b.newNode(backends.OpTypeConcatenate, shape, axis, ns...), nil
}

func (b *Builder) Iota(shape shapes.Shape, axis int) (backends.Op, error) {
	if _, err := b.in(backends.OpTypeIota); err != nil {
		return nil, err
	}
	if shape.Rank() == 0 || axis < 0 || axis >= shape.Rank() {
		return nil, fmt.Errorf("Iota: axis %d out of range for shape %s", axis, shape)
	}
	if !storable(shape.DType) || shape.DType == dtypes.Bool {
		return nil, fmt.Errorf("Iota of %s %s", shape.DType, notImplementedSuffix)
	}
	return b.newNode(backends.OpTypeIota, shape.Clone(), axis), nil
}

// Reductions.

func (b *Builder) reduce(op backends.OpType, x backends.Op, axes []int) (backends.Op, error) {
	ns, err := b.in(op, x)
	if err != nil {
		return nil, err
	}
	if len(axes) == 0 {
		axes = make([]int, ns[0].shape.Rank())
		for i := range axes {
			axes[i] = i
		}
	}
	shape, err := shapeinference.ReduceOp(ns[0].shape, axes)
	if err != nil {
		return nil, err
	}
	if !reduceSupported(op, shape.DType) {
		return nil, fmt.Errorf("op %s on %s %s", op, shape.DType, notImplementedSuffix)
	}
	return b.newNode(op, shape, slices.Clone(axes), ns...), nil
}

func (b *Builder) ReduceSum(x backends.Op, axes ...int) (backends.Op, error) {
	return b.reduce(backends.OpTypeReduceSum, x, axes)
}
func (b *Builder) ReduceMax(x backends.Op, axes ...int) (backends.Op, error) {
	return b.reduce(backends.OpTypeReduceMax, x, axes)
}
func (b *Builder) ReduceMin(x backends.Op, axes ...int) (backends.Op, error) {
	return b.reduce(backends.OpTypeReduceMin, x, axes)
}
func (b *Builder) ReduceProduct(x backends.Op, axes ...int) (backends.Op, error) {
	return b.reduce(backends.OpTypeReduceProduct, x, axes)
}
func (b *Builder) ReduceLogicalAnd(x backends.Op, axes ...int) (backends.Op, error) {
	return b.reduce(backends.OpTypeReduceLogicalAnd, x, axes)
}
func (b *Builder) ReduceLogicalOr(x backends.Op, axes ...int) (backends.Op, error) {
	return b.reduce(backends.OpTypeReduceLogicalOr, x, axes)
}

type argAttr struct {
	axis  int
	isMin bool
}

func (b *Builder) ArgMinMax(x backends.Op, axis int, outDType dtypes.DType, isMin bool) (backends.Op, error) {
	ns, err := b.in(backends.OpTypeArgMinMax, x)
	if err != nil {
		return nil, err
	}
	shape, err := shapeinference.ArgMinMaxOp(ns[0].shape, axis, outDType)
	if err != nil {
		return nil, err
	}
	if !isFloatOrInt(ns[0].shape.DType) || !storable(outDType) {
		return nil, fmt.Errorf("ArgMinMax of %s to %s %s", ns[0].shape.DType, outDType, notImplementedSuffix)
	}
	return b.newNode(backends.OpTypeArgMinMax, shape, argAttr{axis, isMin}, ns...), nil
}

// Gather / Scatter.

type gatherAttr struct {
	indexVectorAxis                                     int
	offsetOutputAxes, collapsedSliceAxes, startIndexMap []int
	sliceSizes                                          []int
}

func (b *Builder) Gather(operand, startIndices backends.Op, indexVectorAxis int,
	offsetOutputAxes, collapsedSliceAxes, startIndexMap, sliceSizes []int, sorted bool) (backends.Op, error) {
	ns, err := b.in(backends.OpTypeGather, operand, startIndices)
	if err != nil {
		return nil, err
	}
	shape, err := shapeinference.Gather(ns[0].shape, ns[1].shape, indexVectorAxis, offsetOutputAxes, collapsedSliceAxes,
		startIndexMap, sliceSizes, sorted)
	if err != nil {
		return nil, err
	}
	if !isIndex(ns[1].shape.DType) {
		return nil, fmt.Errorf("Gather with %s indices %s", ns[1].shape.DType, notImplementedSuffix)
	}
	return b.newNode(backends.OpTypeGather, shape, gatherAttr{indexVectorAxis, slices.Clone(offsetOutputAxes),
		slices.Clone(collapsedSliceAxes), slices.Clone(startIndexMap), slices.Clone(sliceSizes)}, ns...), nil
}

type scatterAttr struct {
	indexVectorAxis                                                int
	updateWindowAxes, insertedWindowAxes, scatterAxesToOperandAxes []int
}

func (b *Builder) scatter(op backends.OpType, operand, indices, updates backends.Op, indexVectorAxis int,
	updateWindowAxes, insertedWindowAxes, scatterAxesToOperandAxes []int) (backends.Op, error) {
	ns, err := b.in(op, operand, indices, updates)
	if err != nil {
		return nil, err
	}
	shape, err := shapeinference.ScatterOp(ns[0].shape, ns[1].shape, ns[2].shape, indexVectorAxis,
		updateWindowAxes, insertedWindowAxes, scatterAxesToOperandAxes)
	if err != nil {
		return nil, err
	}
	if !isIndex(ns[1].shape.DType) || !isFloatOrInt(shape.DType) {
		return nil, fmt.Errorf("%s of %s with %s indices %s", op, shape.DType, ns[1].shape.DType, notImplementedSuffix)
	}
	return b.newNode(op, shape, scatterAttr{indexVectorAxis, slices.Clone(updateWindowAxes),
		slices.Clone(insertedWindowAxes), slices.Clone(scatterAxesToOperandAxes)}, ns...), nil
}

func (b *Builder) ScatterSum(operand, indices, updates backends.Op, indexVectorAxis int,
	updateWindowAxes, insertedWindowAxes, scatterAxesToOperandAxes []int, _, _ bool) (backends.Op, error) {
	return b.scatter(backends.OpTypeScatterSum, operand, indices, updates, indexVectorAxis, updateWindowAxes, insertedWindowAxes, scatterAxesToOperandAxes)
}
func (b *Builder) ScatterMax(operand, indices, updates backends.Op, indexVectorAxis int,
	updateWindowAxes, insertedWindowAxes, scatterAxesToOperandAxes []int, _, _ bool) (backends.Op, error) {
	return b.scatter(backends.OpTypeScatterMax, operand, indices, updates, indexVectorAxis, updateWindowAxes, insertedWindowAxes, scatterAxesToOperandAxes)
}
func (b *Builder) ScatterMin(operand, indices, updates backends.Op, indexVectorAxis int,
	updateWindowAxes, insertedWindowAxes, scatterAxesToOperandAxes []int, _, _ bool) (backends.Op, error) {
	return b.scatter(backends.OpTypeScatterMin, operand, indices, updates, indexVectorAxis, updateWindowAxes, insertedWindowAxes, scatterAxesToOperandAxes)
}

// DotGeneral.

type dotAttr struct {
	lhsContracting, lhsBatch, rhsContracting, rhsBatch []int
}

func (b *Builder) DotGeneral(lhs backends.Op, lhsContracting, lhsBatch []int, rhs backends.Op, rhsContracting, rhsBatch []int) (backends.Op, error) {
	ns, err := b.in(backends.OpTypeDotGeneral, lhs, rhs)
	if err != nil {
		return nil, err
	}
	l, r := ns[0].shape, ns[1].shape
	if l.DType != r.DType {
		return nil, fmt.Errorf("DotGeneral: dtypes differ: %s and %s", l, r)
	}
	if l.DType != dtypes.Float32 && l.DType != dtypes.Float64 {
		return nil, fmt.Errorf("DotGeneral on %s %s", l.DType, notImplementedSuffix)
	}
	if len(lhsContracting) != len(rhsContracting) || len(lhsBatch) != len(rhsBatch) {
		return nil, fmt.Errorf("DotGeneral: %d/%d contracting and %d/%d batch axes", len(lhsContracting), len(rhsContracting), len(lhsBatch), len(rhsBatch))
	}
	used := func(shape shapes.Shape, lists ...[]int) ([]bool, error) {
		u := make([]bool, shape.Rank())
		for _, list := range lists {
			for _, a := range list {
				if a < 0 || a >= shape.Rank() || u[a] {
					return nil, fmt.Errorf("DotGeneral: bad or repeated axis %d for %s", a, shape)
				}
				u[a] = true
			}
		}
		return u, nil
	}
	lu, err := used(l, lhsContracting, lhsBatch)
	if err != nil {
		return nil, err
	}
	ru, err := used(r, rhsContracting, rhsBatch)
	if err != nil {
		return nil, err
	}
	var dims []int
	for i := range lhsBatch {
		if l.Dimensions[lhsBatch[i]] != r.Dimensions[rhsBatch[i]] {
			return nil, fmt.Errorf("DotGeneral: batch axes differ: %s and %s", l, r)
		}
		dims = append(dims, l.Dimensions[lhsBatch[i]])
	}
	for i := range lhsContracting {
		if l.Dimensions[lhsContracting[i]] != r.Dimensions[rhsContracting[i]] {
			return nil, fmt.Errorf("DotGeneral: contracting axes differ: %s and %s", l, r)
		}
	}
	for a, u := range lu {
		if !u {
			dims = append(dims, l.Dimensions[a])
		}
	}
	for a, u := range ru {
		if !u {
			dims = append(dims, r.Dimensions[a])
		}
	}
	return b.newNode(backends.OpTypeDotGeneral, shapes.Make(l.DType, dims...), dotAttr{slices.Clone(lhsContracting),
		slices.Clone(lhsBatch), slices.Clone(rhsContracting), slices.Clone(rhsBatch)}, ns...), nil
}

// Dot is the XLA Dot: vector·vector, matrix·vector or matrix·matrix.
func (b *Builder) Dot(lhs, rhs backends.Op) (backends.Op, error) {
	ns, err := b.in(backends.OpTypeDot, lhs, rhs)
	if err != nil {
		return nil, err
	}
	l, r := ns[0].shape, ns[1].shape
	switch {
	case l.Rank() == 1 && r.Rank() == 1, l.Rank() == 2 && r.Rank() == 1, l.Rank() == 2 && r.Rank() == 2:
		return b.DotGeneral(lhs, []int{l.Rank() - 1}, nil, rhs, []int{0}, nil)
	}
	return nil, fmt.Errorf("Dot of ranks %d and %d: only 1 or 2 are supported", l.Rank(), r.Rank())
}

// RNG.

// RNGBitGenerator gives two nodes: the values (computed from the state) and
// the new state (which reads what the values' kernel left for it).
func (b *Builder) RNGBitGenerator(state backends.Op, shape shapes.Shape) (backends.Op, backends.Op, error) {
	ns, err := b.in(backends.OpTypeRNGBitGenerator, state)
	if err != nil {
		return nil, nil, err
	}
	if !ns[0].shape.Equal(backends.RNGStateShape) {
		return nil, nil, fmt.Errorf("RNGBitGenerator: state must be %s, got %s", backends.RNGStateShape, ns[0].shape)
	}
	if !storable(shape.DType) || shape.DType == dtypes.Bool {
		return nil, nil, fmt.Errorf("RNGBitGenerator of %s %s", shape.DType, notImplementedSuffix)
	}
	values := b.newNode(backends.OpTypeRNGBitGenerator, shape.Clone(), nil, ns...)
	newState := b.newNode(opRNGState, ns[0].shape, nil, ns[0], values)
	return newState, values, nil
}

// opRNGState is an internal op type (outside GoMLX's enumeration) for the
// state output of RNGBitGenerator.
const opRNGState = backends.OpType(100000)

func init() {
	for _, op := range []backends.OpType{
		backends.OpTypeParameter, backends.OpTypeConstant, backends.OpTypeIdentity,
		backends.OpTypeAbs, backends.OpTypeNeg, backends.OpTypeExp, backends.OpTypeExpm1, backends.OpTypeLog,
		backends.OpTypeLog1p, backends.OpTypeLogistic, backends.OpTypeTanh, backends.OpTypeSqrt, backends.OpTypeRsqrt,
		backends.OpTypeSign, backends.OpTypeSin, backends.OpTypeCos, backends.OpTypeErf, backends.OpTypeFloor,
		backends.OpTypeCeil, backends.OpTypeRound, backends.OpTypeIsFinite, backends.OpTypeIsNaN,
		backends.OpTypeLogicalNot, backends.OpTypeBitwiseNot,
		backends.OpTypeAdd, backends.OpTypeSub, backends.OpTypeMul, backends.OpTypeDiv, backends.OpTypeMax,
		backends.OpTypeMin, backends.OpTypePow, backends.OpTypeRem, backends.OpTypeLogicalAnd, backends.OpTypeLogicalOr,
		backends.OpTypeLogicalXor, backends.OpTypeBitwiseAnd, backends.OpTypeBitwiseOr, backends.OpTypeBitwiseXor,
		backends.OpTypeEqual, backends.OpTypeNotEqual, backends.OpTypeGreaterThan, backends.OpTypeGreaterOrEqual,
		backends.OpTypeLessThan, backends.OpTypeLessOrEqual, backends.OpTypeWhere, backends.OpTypeClamp,
		backends.OpTypeConvertDType, backends.OpTypeReshape, backends.OpTypeTranspose, backends.OpTypeBroadcastInDim,
		backends.OpTypeSlice, backends.OpTypeConcatenate, backends.OpTypeIota,
		backends.OpTypeReduceSum, backends.OpTypeReduceMax, backends.OpTypeReduceMin, backends.OpTypeReduceProduct,
		backends.OpTypeReduceLogicalAnd, backends.OpTypeReduceLogicalOr, backends.OpTypeArgMinMax, backends.OpTypeReduceWindow,
		backends.OpTypeGather, backends.OpTypeScatterSum, backends.OpTypeScatterMax, backends.OpTypeScatterMin,
		backends.OpTypeDotGeneral, backends.OpTypeDot, backends.OpTypeRNGBitGenerator,
	} {
		implementedOps[op] = true
	}
}

func isFloat(dt dtypes.DType) bool { return dt == dtypes.Float32 || dt == dtypes.Float64 }
func isIndex(dt dtypes.DType) bool {
	switch dt {
	case dtypes.Int32, dtypes.Int64, dtypes.Uint32, dtypes.Uint64, dtypes.Int8, dtypes.Int16, dtypes.Uint8, dtypes.Uint16:
		return true
	}
	return false
}
func isFloatOrInt(dt dtypes.DType) bool { return isFloat(dt) || isIndex(dt) }
