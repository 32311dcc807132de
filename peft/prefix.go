package peft

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
	"github.com/gomlx/gomlx/pkg/ml/layers"

	"github.com/gopeft/gopeft/peft/encoder"
	"github.com/gopeft/gopeft/peft/hf"
)

// PrefixTuning prepends PrefixLength trained key and value vectors to every
// attention layer (Li & Liang 2021). Training goes through a
// reparameterisation, as in the paper and AdapterHub's PrefixTuningConfig: a
// prefix embedding [P, hidden] passes through an MLP
// (hidden -> BottleneckSize -> tanh -> layers·2·hidden) that produces every
// layer's keys and values. Flat skips the MLP and trains the keys and values
// directly; FlattenPrefix turns a trained reparameterised prefix into a flat one.
type PrefixTuning struct {
	PrefixLength   int     `json:"prefix_length"`
	BottleneckSize int     `json:"bottleneck_size"`
	NonLinearity   string  `json:"non_linearity"`
	Dropout        float64 `json:"dropout"`
	Flat           bool    `json:"flat"`
	LeaveOut       []int   `json:"leave_out,omitempty"`
}

func init() {
	registerMethod("prefix_tuning", func() Method { return &PrefixTuning{} })
	registerPreset("prefix", func() Method { return Prefix() })
}

// Prefix is AdapterHub's PrefixTuningConfig default: 30 prefix vectors
// through a 512-unit tanh MLP.
func Prefix() *PrefixTuning {
	return &PrefixTuning{PrefixLength: 30, BottleneckSize: 512, NonLinearity: "tanh"}
}

func (p *PrefixTuning) Kind() string { return "prefix_tuning" }

func (p *PrefixTuning) Validate(cfg hf.Config) error {
	if p.PrefixLength <= 0 {
		return fmt.Errorf("prefix_length is %d: it must be > 0", p.PrefixLength)
	}
	if !p.Flat && p.BottleneckSize <= 0 {
		return fmt.Errorf("bottleneck_size is %d: it must be > 0 (or set Flat: true)", p.BottleneckSize)
	}
	if _, err := nonLinearity(p.NonLinearity); err != nil {
		return err
	}
	for _, l := range p.LeaveOut {
		if l < 0 || l >= cfg.NumLayers {
			return fmt.Errorf("leave_out names layer %d, but the model has layers 0..%d", l, cfg.NumLayers-1)
		}
	}
	return nil
}

// NumParams: flat P·L·2·d; reparameterised P·d + (d·b + b) + (b·L·2·d + L·2·d).
func (p *PrefixTuning) NumParams(cfg hf.Config) int {
	d, l, pl := cfg.HiddenSize, cfg.NumLayers, p.PrefixLength
	if p.Flat {
		return pl * l * 2 * d
	}
	b := p.BottleneckSize
	return pl*d + d*b + b + b*l*2*d + l*2*d
}

func (p *PrefixTuning) placements(layer int) []Placement {
	if p.leftOut(layer) {
		return nil
	}
	return []Placement{{Site: "prefix", Method: "prefix"}}
}

// Activations: the prefix adds PrefixLength keys to every attention layer.
func (p *PrefixTuning) Activations(hf.Config, int64) (int64, int) { return 0, p.PrefixLength }

func (p *PrefixTuning) leftOut(layer int) bool {
	for _, l := range p.LeaveOut {
		if l == layer {
			return true
		}
	}
	return false
}

// states is [P, layers, 2, hidden]: every layer's prefix keys and values.
func (p *PrefixTuning) states(ctx *context.Context, cfg hf.Config, g *graph.Graph) *graph.Node {
	d, l, pl := cfg.HiddenSize, cfg.NumLayers, p.PrefixLength
	if p.Flat {
		v := ctx.WithInitializer(initializers.RandomNormalFn(ctx, encoder.InitStdDev)).
			VariableWithShape("prefix", shapes.Make(dtypes.Float32, pl, l, 2, d))
		return v.ValueGraph(g)
	}
	emb := ctx.In("wte").WithInitializer(initializers.RandomNormalFn(ctx, encoder.InitStdDev)).
		VariableWithShape("weight", shapes.Make(dtypes.Float32, pl, d)).ValueGraph(g)
	act, _ := nonLinearity(p.NonLinearity)
	h := act(encoder.LinearWith(ctx.In("control_trans_0"), emb, p.BottleneckSize, initializers.RandomNormalFn(ctx, encoder.InitStdDev)))
	out := encoder.LinearWith(ctx.In("control_trans_2"), h, l*2*d, initializers.RandomNormalFn(ctx, encoder.InitStdDev))
	out = layers.DropoutStatic(ctx, out, p.Dropout)
	return graph.Reshape(out, pl, l, 2, d)
}

func (p *PrefixTuning) prefix(ctx *context.Context, cfg hf.Config, layer int, x *graph.Node, memo memoFn) (keys, values *graph.Node) {
	if p.leftOut(layer) {
		return nil, nil
	}
	// The MLP runs once per forward pass; every layer slices its part.
	states := memo("states", func() *graph.Node { return p.states(ctx, cfg, x.Graph()) })
	batch, pl, d := x.Shape().Dim(0), p.PrefixLength, cfg.HiddenSize
	pick := func(kv int) *graph.Node {
		s := graph.Reshape(graph.Slice(states, graph.AxisRange(), graph.AxisElem(layer), graph.AxisElem(kv), graph.AxisRange()), 1, pl, d)
		return graph.BroadcastToDims(s, batch, pl, d)
	}
	return pick(0), pick(1)
}

// prefixMLPScopes are the sub-scopes of the reparameterisation, which
// FlattenPrefix removes.
var prefixMLPScopes = []string{"wte", "control_trans_0", "control_trans_2"}

// FlattenPrefix returns a Tuned in which the named adapter's trained
// reparameterised prefix (a PrefixTuning adapter, or a MAM adapter's prefix)
// is flat: the MLP's output [P, layers, 2, hidden] is computed once and
// stored as the variable "prefix" in the prefix's scope, the embedding and
// MLP variables are gone, and the adapter's config has Flat = true.
// Inference outputs do not change (the MLP's dropout is off at inference)
// and the adapter shrinks to P·layers·2·hidden parameters.
func (t *Tuned) FlattenPrefix(adapter string) (*Tuned, error) {
	p, scope, err := reparameterisedPrefix(t, adapter)
	if err != nil {
		return nil, err
	}
	// Without its trained variables, states would initialise fresh random ones.
	for _, sub := range prefixMLPScopes {
		if t.Ctx.GetVariableByScopeAndName(scope+"/"+sub, "weight") == nil {
			return nil, fmt.Errorf("FlattenPrefix: adapter %q has no variables under %s/%s: was it created with NewTuned or loaded?", adapter, scope, sub)
		}
	}
	backend, err := Backend()
	if err != nil {
		return nil, err
	}
	cfg := t.Model.Config
	states, err := context.ExecOnce(backend, t.Ctx, func(ctx *context.Context, g *graph.Graph) *graph.Node {
		ctx.SetTraining(g, false) // no dropout: the flat prefix is what inference saw
		return p.states(ctx.InAbsPath(scope).Checked(false), cfg, g)
	})
	if err != nil {
		return nil, fmt.Errorf("FlattenPrefix: computing adapter %q's prefix states: %w", adapter, err)
	}
	return t.derive(func(n *Tuned) error {
		for _, sub := range prefixMLPScopes {
			if err := n.Ctx.InAbsPath(scope + "/" + sub).DeleteVariablesInScope(); err != nil {
				return fmt.Errorf("FlattenPrefix: deleting %s/%s: %w", scope, sub, err)
			}
		}
		n.Ctx.InAbsPath(scope).Checked(false).VariableWithValue("prefix", states)
		np, _, err := reparameterisedPrefix(n, adapter)
		if err == nil {
			np.Flat = true
		}
		return err
	})
}

// reparameterisedPrefix finds the not yet flat prefix behind an adapter and
// the scope of its variables.
func reparameterisedPrefix(t *Tuned, adapter string) (*PrefixTuning, string, error) {
	a := t.Setup.Adapter(adapter)
	if a == nil {
		return nil, "", fmt.Errorf("FlattenPrefix: no adapter %q (adapters: %v)", adapter, names(t.Setup))
	}
	var p *PrefixTuning
	scope := AdapterScope(adapter)
	for _, l := range leavesOf(a.Method) {
		if lp, ok := l.method.(*PrefixTuning); ok {
			p = lp
			if l.path() != "" {
				scope += "/" + l.path()
			}
			break
		}
	}
	if p == nil {
		return nil, "", fmt.Errorf("FlattenPrefix: adapter %q is %s; only prefix tuning and unions with a prefix part (MAM) have a prefix to flatten", adapter, a.Method.Kind())
	}
	if p.Flat {
		return nil, "", fmt.Errorf("FlattenPrefix: adapter %q's prefix is already flat", adapter)
	}
	return p, scope, nil
}
