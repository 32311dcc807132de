package peft

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
	"github.com/gomlx/gomlx/pkg/ml/layers"
	"github.com/gomlx/gomlx/pkg/ml/train"

	"github.com/gopeft/gopeft/peft/encoder"
	"github.com/gopeft/gopeft/peft/hf"
)

// FusionConfig is AdapterFusion's configuration (Pfeiffer et al. 2021),
// with AdapterHub's AdapterFusionConfig field names. Use DynamicFusion (the
// default) or StaticFusion.
type FusionConfig struct {
	Key   bool `json:"key"`   // project the adapter outputs into keys
	Query bool `json:"query"` // project the query (the sub-block output)
	Value bool `json:"value"` // project the adapter outputs into values (no bias)
	// QueryBeforeLN takes the query before the original LayerNorm.
	QueryBeforeLN bool `json:"query_before_ln"`
	// Regularization adds 0.01·||I - V||² per fusion layer to the training
	// loss, keeping V near the identity.
	Regularization bool `json:"regularization"`
	// ResidualBefore adds the residual to the adapter outputs before the
	// attention instead of to its result.
	ResidualBefore bool `json:"residual_before"`
	// Temperature divides the scores by T, which starts at 50 and falls by
	// 50/1000 per training step of this fusion down to 1.
	Temperature        bool `json:"temperature"`
	ValueBeforeSoftmax bool `json:"value_before_softmax"`
	// ValueInitialized starts V as the identity with 1e-6 off the diagonal
	// (AdapterHub's constant, not random, offset); else N(0, 0.02).
	ValueInitialized bool `json:"value_initialized"`
	// DropoutProb is the dropout on the attention scores; nil uses the
	// model's attention_probs_dropout_prob.
	DropoutProb *float64 `json:"dropout_prob"`
}

// DynamicFusion is AdapterHub's "dynamic" AdapterFusionConfig (its default):
// query, key and value, V initialised to the identity, regularisation on,
// no temperature.
func DynamicFusion() FusionConfig {
	return FusionConfig{Key: true, Query: true, Value: true, Regularization: true, ValueBeforeSoftmax: true, ValueInitialized: true}
}

// StaticFusion is AdapterHub's "static" AdapterFusionConfig: query and key
// but no value matrix, no regularisation.
func StaticFusion() FusionConfig {
	return FusionConfig{Key: true, Query: true, ValueBeforeSoftmax: true}
}

// FuseBlock is AdapterFusion over its children: at every residual point
// where they have modules, each child's bottleneck output is an attention
// value, weighted per token by softmax(Q·K/T) and added to the residual
// (AdapterHub's compose_fuse). The last child's preForward picks the query
// and residual and its postForward finishes. Children are sequential
// bottleneck adapters (Pfeiffer, Houlsby) or Stacks of them; a Stack child
// runs from the raw sub-block output as if alone and contributes its last
// adapter's bottleneck output. Parallel adapters are rejected: their
// postForward adds the residual a second time.
//
// Variables live under /peft/fusion_<a>,<b>/layer_<l>_<sublayer>/{query,key,value}
// (the children's last adapter names, AdapterHub's Fuse name), plus a step
// counter /peft/fusion_<a>,<b>/steps when Temperature is on. When a Fuse is
// active and Setup.Train is nil, only the fusion layers and the head train
// (AdapterHub's train_adapter_fusion); list adapters in Setup.Train to train
// them as well.
type FuseBlock struct {
	Children []Block      `json:"children"`
	Config   FusionConfig `json:"config"`
	// Scope overrides the variables' scope name; PruneFusion sets it so a
	// pruned fusion keeps its trained weights (Q, K and V do not depend on
	// the number of adapters).
	Scope string `json:"scope,omitempty"`
}

func (f *FuseBlock) children() []Block { return f.Children }

// Fuse is dynamic AdapterFusion over the named adapters.
func Fuse(names ...string) *FuseBlock {
	return &FuseBlock{Children: namesToBlocks(names), Config: DynamicFusion()}
}

// StaticFuse is static AdapterFusion (no value matrix) over the named adapters.
func StaticFuse(names ...string) *FuseBlock {
	return &FuseBlock{Children: namesToBlocks(names), Config: StaticFusion()}
}

// FusionPrefix starts the scope names of fusion layers under /peft.
const FusionPrefix = "fusion_"

// Name is AdapterHub's Fuse name: the children's last adapters, comma-separated.
func (f *FuseBlock) Name() string {
	parts := make([]string, len(f.Children))
	for i, c := range f.Children {
		parts[i] = lastName(c)
	}
	return strings.Join(parts, ",")
}

// ScopeName is the fusion's top scope under /peft.
func (f *FuseBlock) ScopeName() string {
	if f.Scope != "" {
		return f.Scope
	}
	return FusionPrefix + f.Name()
}

func (f *FuseBlock) validate(s *Setup) error {
	if f.Config.DropoutProb != nil && (*f.Config.DropoutProb < 0 || *f.Config.DropoutProb >= 1) {
		return fmt.Errorf("fusion dropout_prob %v is outside [0, 1)", *f.Config.DropoutProb)
	}
	if s.Adapter(f.ScopeName()) != nil {
		return fmt.Errorf("adapter %q has the name of fusion layer %q's scope: rename the adapter (names starting %q are for fusion layers)", f.ScopeName(), f.Name(), FusionPrefix)
	}
	for _, n := range leafNames(f) {
		a := s.Adapter(n)
		if a == nil {
			continue
		}
		if f, ok := a.Method.(fusable); !ok || !f.fuses() {
			return fmt.Errorf("Fuse cannot hold adapter %q (%s): AdapterFusion fuses sequential bottleneck adapters (Pfeiffer, Houlsby); a parallel adapter would add the residual twice", n, a.Method.Kind())
		}
	}
	return nil
}

// fusable is implemented by adapters whose module output AdapterFusion can
// attend to (sequential bottleneck adapters).
type fusable interface {
	residualHook
	fuses() bool
	// fusionValue is the module's output before its residual: the value
	// AdapterFusion attends to. ctx is the adapter's own scope.
	fusionValue(ctx *context.Context, cfg hf.Config, layer int, sub encoder.Sublayer, hidden *graph.Node) *graph.Node
}

// adapterUp is a fused adapter's module output, from its own weights.
func (h *hooks) adapterUp(ctx *context.Context, name string, layer int, sub encoder.Sublayer, hidden *graph.Node) *graph.Node {
	return h.setup.Adapter(name).Method.(fusable).fusionValue(adapterCtx(ctx, name), h.cfg, layer, sub, hidden)
}

// residualOf is a fused adapter's residual module (validate checked it has one).
func (h *hooks) residualOf(name string) residualHook {
	m, _, _ := residualLeaf(h.setup.Adapter(name).Method)
	return m
}

// fuse applies a FuseBlock at one residual point.
func (h *hooks) fuse(ctx *context.Context, f *FuseBlock, layer int, sub encoder.Sublayer, st bnState) bnState {
	// The last child placed here picks the query and residual (AdapterHub
	// uses the last fused adapter's config).
	var last residualHook
	for _, n := range leafNames(f) {
		if m := h.residualOf(n); m.placedAt(h.cfg, layer, sub) {
			last = m
		}
	}
	if last == nil {
		return st
	}
	raw := st
	hidden, query, residual := last.preForward(st.hidden, st.input, st.ln)
	if f.Config.QueryBeforeLN {
		query = st.hidden
	}
	var ups []*graph.Node
	for _, c := range f.Children {
		switch c := c.(type) {
		case Name:
			if h.residualOf(string(c)).placedAt(h.cfg, layer, sub) {
				ups = append(ups, h.adapterUp(ctx, string(c), layer, sub, hidden))
			}
		case Stack:
			// Every adapter but the last placed one runs as in a Stack; the
			// last contributes its bottleneck output.
			var placedNames []string
			for _, n := range leafNames(c) {
				if h.residualOf(n).placedAt(h.cfg, layer, sub) {
					placedNames = append(placedNames, n)
				}
			}
			if len(placedNames) == 0 {
				continue
			}
			cs := raw
			for _, n := range placedNames[:len(placedNames)-1] {
				cs = h.compose(ctx, Name(n), layer, sub, cs)
			}
			lastN := placedNames[len(placedNames)-1]
			x, _, _ := h.residualOf(lastN).preForward(cs.hidden, cs.input, cs.ln)
			ups = append(ups, h.adapterUp(ctx, lastN, layer, sub, x))
		}
	}
	fctx := adapterCtx(ctx, f.ScopeName())
	out, att := h.fusionLayer(fctx, f.Config, layer, sub, query, ups, residual)
	h.memoNodes[fusionAttentionKey(f.ScopeName(), layer, sub)] = att
	st.hidden, st.residual = out, residual
	st.finish = finisher(last, st.ln)
	return st
}

func fusionAttentionKey(scope string, layer int, sub encoder.Sublayer) string {
	return fmt.Sprintf("fusion_attention/%s/%d/%s", scope, layer, sub)
}

// fusionLayer is AdapterHub's BertFusion: query [B, S, D], ups n × [B, S, D],
// residual [B, S, D]; returns the fused hidden states and the attention
// probabilities [B, S, n].
func (h *hooks) fusionLayer(fctx *context.Context, cfg FusionConfig, layer int, sub encoder.Sublayer, query *graph.Node, ups []*graph.Node, residual *graph.Node) (*graph.Node, *graph.Node) {
	g := query.Graph()
	d := h.cfg.HiddenSize
	ctx := fctx.In(fmt.Sprintf("layer_%d_%s", layer, sub))
	bert := initializers.RandomNormalFn(ctx, encoder.InitStdDev)
	values := graph.Stack(ups, 2) // [B, S, n, D]
	if cfg.ResidualBefore {
		// AdapterHub adds in place to the tensor that is both key and value.
		values = graph.Add(values, graph.InsertAxes(residual, 2))
	}
	q := query
	if cfg.Query {
		q = encoder.LinearWith(ctx.In("query"), query, d, bert)
	}
	k := values
	if cfg.Key {
		k = encoder.LinearWith(ctx.In("key"), values, d, bert)
	}
	var vw *graph.Node
	var vVar *context.Variable
	if cfg.Value {
		vctx := ctx.In("value")
		if cfg.ValueInitialized {
			vVar = vctx.VariableWithValue("weight", identity(d, 1e-6))
		} else {
			vVar = vctx.WithInitializer(bert).VariableWithShape("weight", shapes.Make(dtypes.Float32, d, d))
		}
		vw = vVar.ValueGraph(g) // [out, in], PyTorch's layout, no bias
	}
	v := values
	if cfg.Value && cfg.ValueBeforeSoftmax {
		v = graph.DotGeneral(values, []int{3}, nil, vw, []int{1}, nil)
	}
	scores := graph.Einsum("bsd,bsnd->bsn", q, k)
	p := h.cfg.AttentionDropout
	if cfg.DropoutProb != nil {
		p = *cfg.DropoutProb
	}
	scores = layers.DropoutStatic(ctx, scores, p)
	if cfg.Temperature {
		scores = graph.Div(scores, h.fusionTemperature(fctx, g))
	}
	probs := graph.Softmax(scores, -1)
	out := graph.Einsum("bsn,bsnd->bsd", probs, v)
	if cfg.Value && !cfg.ValueBeforeSoftmax {
		out = graph.DotGeneral(out, []int{2}, nil, vw, []int{1}, nil)
	}
	if !cfg.ResidualBefore {
		out = graph.Add(out, residual)
	}
	if cfg.Value && cfg.Regularization && ctx.IsTraining(g) {
		if vVar.Trainable { // AdapterHub regularises only a V that trains
			eye := graph.Const(g, identity(d, 0))
			train.AddLoss(ctx, graph.MulScalar(graph.ReduceAllSum(graph.Square(graph.Sub(eye, vw))), FusionRegularizationWeight))
		}
	}
	return out, probs
}

// FusionRegularizationWeight is AdapterHub's factor on ||I - V||².
const FusionRegularizationWeight = 0.01

// identity is a d×d identity with off on every off-diagonal entry.
func identity(d int, off float32) [][]float32 {
	m := make([][]float32, d)
	for i := range m {
		m[i] = make([]float32, d)
		for j := range m[i] {
			m[i][j] = off
		}
		m[i][i] = 1
	}
	return m
}

// Fusion temperature schedule (AdapterHub's BertFusion): T starts at 50 and
// falls by 50/1000 per training step, never below 1.
const (
	FusionStartTemperature = 50.0
	fusionTemperatureSteps = 1000.0
)

// FusionTemperatureAt is T after the given number of training steps.
func FusionTemperatureAt(step int64) float64 {
	return max(FusionStartTemperature-float64(step)*FusionStartTemperature/fusionTemperatureSteps, 1)
}

// fusionTemperature reads this fusion's training-step counter and, in a
// training graph, increments it once: T anneals per step, not per forward
// call or per layer.
func (h *hooks) fusionTemperature(fctx *context.Context, g *graph.Graph) *graph.Node {
	key := "fusion_temperature/" + fctx.Scope()
	return h.memo(key, func() *graph.Node {
		v := fctx.VariableWithValue("steps", int64(0)).SetTrainable(false)
		steps := v.ValueGraph(g)
		if fctx.IsTraining(g) {
			v.SetValueGraph(graph.AddScalar(steps, 1))
		}
		t := graph.ConvertDType(steps, dtypes.Float32)
		t = graph.AddScalar(graph.MulScalar(t, -FusionStartTemperature/fusionTemperatureSteps), FusionStartTemperature)
		return graph.MaxScalar(t, 1.0)
	})
}

// isFusionScope reports whether a top scope under /peft is a fusion layer's.
func isFusionScope(top string) bool { return strings.HasPrefix(top, FusionPrefix) }

// activeFuses lists the Fuse blocks of the active composition.
func (s *Setup) activeFuses() []*FuseBlock {
	var out []*FuseBlock
	walkBlocks(s.ActiveBlock(), func(b Block) {
		if f, ok := b.(*FuseBlock); ok {
			out = append(out, f)
		}
	})
	return out
}

// trainsFusion reports whether the fusion layer under /peft/<scope> trains:
// fusion layers of the active composition always do, like the head.
func (s *Setup) trainsFusion(scope string) bool {
	return slices.ContainsFunc(s.activeFuses(), func(f *FuseBlock) bool { return f.ScopeName() == scope })
}

// hasActiveFuse reports whether the active composition fuses adapters; then,
// by default, the fused adapters are frozen (AdapterHub's train_adapter_fusion).
func (s *Setup) hasActiveFuse() bool { return len(s.activeFuses()) > 0 }

// FusionAttention returns, for the one Fuse block of the active composition,
// each layer's attention over the fused adapters averaged over each example's
// real tokens: layer -> [example][adapter] (adapters in the Fuse's order).
// Layers without fusion (AdapterDrop, leave_out) are absent. Where a layer
// fuses after attention and after the FFN (Houlsby), the FFN's is reported.
func (t *Tuned) FusionAttention(b Batch) (map[int][][]float64, error) {
	fuses := t.Setup.activeFuses()
	switch len(fuses) {
	case 0:
		return nil, fmt.Errorf("the active composition has no Fuse block: activate one, e.g. Setup.Active = peft.Fuse(\"a\", \"b\")")
	case 1:
		return t.FusionAttentionOf(b, fuses[0])
	}
	return nil, fmt.Errorf("the active composition has %d Fuse blocks: use FusionAttentionOf(batch, fuse) to pick one", len(fuses))
}

// FusionAttentionOf is FusionAttention for one Fuse block of the active
// composition.
func (t *Tuned) FusionAttentionOf(b Batch, f *FuseBlock) (map[int][][]float64, error) {
	if !slices.Contains(t.Setup.activeFuses(), f) {
		return nil, fmt.Errorf("Fuse block %q is not part of the active composition", f.Name())
	}
	scope := f.ScopeName()
	var layersOut []int
	outs, err := runInference(t.Ctx, b, func(ctx *context.Context, in encoder.Inputs) []*graph.Node {
		o, h := t.forward(ctx, in, t.Setup.Drop.InferenceDepth())
		var nodes []*graph.Node
		for layer := 0; layer < t.Model.Config.NumLayers; layer++ {
			att := h.memoNodes[fusionAttentionKey(scope, layer, encoder.FFN)]
			if att == nil {
				att = h.memoNodes[fusionAttentionKey(scope, layer, encoder.Attention)]
			}
			if att == nil {
				continue
			}
			// Masked mean over tokens; a Stack may fuse before a Parallel
			// replicates the batch, so take the mask's first rows.
			mask := graph.Slice(o.Mask, graph.AxisRange(0, att.Shape().Dim(0)))
			m := graph.InsertAxes(mask, -1)
			mean := graph.Div(graph.ReduceSum(graph.Mul(att, m), 1), graph.ReduceSum(m, 1))
			nodes = append(nodes, mean)
			layersOut = append(layersOut, layer)
		}
		if len(nodes) == 0 {
			nodes = append(nodes, graph.Const(o.Hidden.Graph(), float32(0)))
		}
		return nodes
	})
	if err != nil {
		return nil, err
	}
	res := map[int][][]float64{}
	for i, layer := range layersOut {
		res[layer] = toMatrix(outs[i])
	}
	return res, nil
}

// toMatrix converts a float32 [rows, cols] tensor.
func toMatrix(x *tensors.Tensor) [][]float64 {
	rows, cols := x.Shape().Dim(0), x.Shape().Dim(1)
	out := make([][]float64, rows)
	x.ConstFlatData(func(flat any) {
		f := flat.([]float32)
		for r := range out {
			out[r] = make([]float64, cols)
			for c := range out[r] {
				out[r][c] = float64(f[r*cols+c])
			}
		}
	})
	return out
}
