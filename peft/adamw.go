package peft

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
)

// adamW is AdamW (Kingma & Ba 2015; decoupled weight decay, Loshchilov &
// Hutter 2019) with two things GoMLX's Adam lacks: a learning-rate
// multiplier per variable, and clipping of the gradients by their global
// norm (PyTorch's clip_grad_norm_). With every multiplier 1 and no
// clipping it computes what optimizers.Adam().WeightDecay(wd) does, op for
// op.
//
// A multiplier scales the whole update of its variable, the decoupled
// decay included, so a variable at multiplier 0 stays bitwise equal: this
// is how gradual unfreezing holds a layer still without recompiling the
// graph. Its Adam moments keep accumulating its gradients meanwhile, so it
// starts with warm moments when its multiplier turns positive. Scaling
// gradients would not do: Adam divides the scale away.
//
// Each multiplier is a scalar variable under /AdamW/lr_multiplier, read by
// the graph, so changing one between steps costs a scalar transfer.
type adamW struct {
	weightDecay, beta1, beta2, epsilon float64
	// clipNorm > 0 clips the gradients of the variables that train (their
	// multiplier is > 0) to this global L2 norm.
	clipNorm float64
	// mult gives a variable's multiplier (nil: 1).
	mult func(v *context.Variable) float64
	// applied is the value each multiplier variable holds, so a step
	// transfers only the multipliers that changed and reads none back.
	applied map[*context.Variable]float64
}

const adamWScope = "AdamW"

func (o *adamW) multiplierVar(ctx *context.Context, v *context.Variable, dtype dtypes.DType) *context.Variable {
	mctx := ctx.InAbsPath(context.ScopeSeparator + adamWScope + "/lr_multiplier" + v.Scope())
	if mv := mctx.GetVariable(v.Name()); mv != nil {
		return mv
	}
	value := o.multiplier(v)
	mv := mctx.Checked(false).VariableWithValue(v.Name(), shapes.CastAsDType(value, dtype)).SetTrainable(false)
	if o.applied == nil {
		o.applied = map[*context.Variable]float64{}
	}
	o.applied[mv] = value
	return mv
}

func (o *adamW) multiplier(v *context.Variable) float64 {
	if o.mult == nil {
		return 1
	}
	return o.mult(v)
}

// UpdateGraph builds one step's update of every trainable variable the
// loss uses; it implements optimizers.Interface.
func (o *adamW) UpdateGraph(ctx *context.Context, g *graph.Graph, loss *graph.Node) {
	grads := ctx.BuildTrainableVariablesGradientsGraph(loss)
	var vars []*context.Variable
	for v := range ctx.IterVariables() {
		if v.Trainable && v.InUseByGraph(g) {
			vars = append(vars, v)
		}
	}
	if len(vars) != len(grads) {
		panic(fmt.Sprintf("AdamW: %d gradients for %d trainable variables", len(grads), len(vars)))
	}
	dtype := loss.DType()
	lr := optimizers.LearningRateVar(ctx, dtype, optimizers.AdamDefaultLearningRate).ValueGraph(g)
	_ = optimizers.IncrementGlobalStepGraph(ctx, g, dtype)
	step := optimizers.IncrementGlobalStepGraph(ctx.In(adamWScope), g, dtype)
	beta1 := graph.Const(g, shapes.CastAsDType(o.beta1, dtype))
	beta2 := graph.Const(g, shapes.CastAsDType(o.beta2, dtype))
	debias1 := graph.Reciprocal(graph.OneMinus(graph.Pow(beta1, step)))
	debias2 := graph.Reciprocal(graph.OneMinus(graph.Pow(beta2, step)))
	epsilon := graph.Const(g, shapes.CastAsDType(o.epsilon, dtype))

	mults := make([]*graph.Node, len(vars))
	for i, v := range vars {
		mults[i] = o.multiplierVar(ctx, v, dtype).ValueGraph(g)
		if grads[i].DType() != dtype {
			grads[i] = graph.ConvertDType(grads[i], dtype)
		}
	}
	if o.clipNorm > 0 {
		grads = clipGlobalNorm(grads, mults, o.clipNorm)
	}
	for i, v := range vars {
		o.apply(ctx, g, v, dtype, grads[i], graph.Mul(lr, mults[i]), beta1, debias1, beta2, debias2, epsilon)
	}
}

// clipGlobalNorm scales the gradients by min(1, maxNorm/(norm+1e-6)),
// norm being the L2 norm of all of them together (PyTorch's
// clip_grad_norm_). Variables at multiplier 0 do not train and do not count.
func clipGlobalNorm(grads, mults []*graph.Node, maxNorm float64) []*graph.Node {
	g := grads[0].Graph()
	dtype := grads[0].DType()
	var sum *graph.Node
	for i, gr := range grads {
		sq := graph.ReduceAllSum(graph.Square(gr))
		sq = graph.Where(graph.GreaterThan(mults[i], graph.ScalarZero(g, dtype)), sq, graph.ScalarZero(g, dtype))
		if sum == nil {
			sum = sq
		} else {
			sum = graph.Add(sum, sq)
		}
	}
	norm := graph.Sqrt(sum)
	scale := graph.Min(graph.ScalarOne(g, dtype),
		graph.Div(graph.Scalar(g, dtype, maxNorm), graph.AddScalar(norm, 1e-6)))
	out := make([]*graph.Node, len(grads))
	for i, gr := range grads {
		out[i] = graph.Mul(gr, scale)
	}
	return out
}

// apply is Adam's moment and weight update of one variable at rate lr
// (the scheduled rate times the variable's multiplier); the decoupled
// decay is scaled by the same rate.
func (o *adamW) apply(ctx *context.Context, g *graph.Graph, v *context.Variable, dtype dtypes.DType, grad, lr, beta1, debias1, beta2, debias2, epsilon *graph.Node) {
	scope := context.ScopeSeparator + adamWScope + v.Scope()
	shape := v.Shape().Clone()
	shape.DType = dtype
	mctx := ctx.InAbsPath(scope).Checked(false).WithInitializer(initializers.Zero)
	m1Var := mctx.VariableWithShape(v.Name()+"_1st_moment", shape).SetTrainable(false)
	m2Var := mctx.VariableWithShape(v.Name()+"_2nd_moment", shape).SetTrainable(false)

	m1 := graph.Add(graph.Mul(beta1, m1Var.ValueGraph(g)), graph.Mul(graph.OneMinus(beta1), grad))
	m1Var.SetValueGraph(m1)
	m2 := graph.Add(graph.Mul(beta2, m2Var.ValueGraph(g)), graph.Mul(graph.OneMinus(beta2), graph.Square(grad)))
	m2Var.SetValueGraph(m2)
	denominator := graph.Add(graph.Sqrt(graph.Mul(m2, debias2)), epsilon)

	value := v.ValueGraph(g)
	if value.DType() != dtype {
		value = graph.ConvertDType(value, dtype)
	}
	update := graph.Div(graph.Mul(lr, graph.Mul(m1, debias1)), denominator)
	if o.weightDecay > 0 {
		update = graph.Add(update, graph.Mul(lr, graph.MulScalar(value, o.weightDecay)))
	}
	updated := graph.Sub(value, update)
	if v.Shape().DType != dtype {
		updated = graph.ConvertDType(updated, v.Shape().DType)
	}
	v.SetValueGraph(updated)
}

// Clear deletes the optimizer's state (moments, step, multipliers); it
// implements optimizers.Interface.
func (o *adamW) Clear(ctx *context.Context) error {
	return ctx.InAbsPath(context.ScopeSeparator + adamWScope).DeleteVariablesInScope()
}

// syncMultipliers checks every multiplier and sets each multiplier
// variable to its current value, transferring only those that changed.
func (o *adamW) syncMultipliers(ctx *context.Context) error {
	for v := range ctx.IterVariables() {
		if !v.Trainable {
			continue
		}
		want := o.multiplier(v)
		if math.IsNaN(want) || math.IsInf(want, 0) || want < 0 {
			return fmt.Errorf("learning-rate multiplier %v for %s: it must be a finite number >= 0", want, v.ScopeAndName())
		}
		mv := ctx.GetVariableByScopeAndName(context.ScopeSeparator+adamWScope+"/lr_multiplier"+v.Scope(), v.Name())
		if mv == nil {
			continue // no graph has used v yet: building one creates it at its value
		}
		if have, ok := o.applied[mv]; ok && have == want {
			continue // a variable from another stepper (a cloned context) is set anew
		}
		if o.applied == nil {
			o.applied = map[*context.Variable]float64{}
		}
		if err := mv.SetValue(tensors.FromAnyValue(shapes.CastAsDType(want, mv.Shape().DType))); err != nil {
			return err
		}
		o.applied[mv] = want
	}
	return nil
}
