package peft

import (
	"fmt"
	"math"
	"slices"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/layers"

	"github.com/gopeft/gopeft/peft/encoder"
	"github.com/gopeft/gopeft/peft/hf"
)

// LoRA is low-rank adaptation (Hu et al. 2021): each targeted projection
// y = x W^T + b gains a trained update, y + s·(dropout(x) A^T) B^T with
// A [r, in], B [out, r] (Hugging Face peft's shapes) and scaling
// s = alpha/r (alpha/√r with UseRSLoRA). B starts at zero, so an adapter
// starts as the identity. Field names and defaults follow HF peft's
// LoraConfig; DefaultLoRA gives them.
type LoRA struct {
	R     int     `json:"r"`
	Alpha float64 `json:"lora_alpha"`
	// TargetModules are projection sites (query, key, value, attn_out,
	// ffn_in, ffn_out) or Hugging Face module names (query, key, value,
	// attention.output.dense, intermediate.dense, output.dense; DistilBERT's
	// q_lin, k_lin, v_lin, out_lin, lin1, lin2) or "all-linear". Empty
	// means query and value, HF peft's default for BERT.
	TargetModules []string `json:"target_modules,omitempty"`
	Dropout       float64  `json:"lora_dropout"`
	// Bias must be "none" (HF's default); train biases with a BitFit
	// adapter beside the LoRA one instead.
	Bias string `json:"bias"`
	// InitWeights is HF's init_lora_weights: "true" (or "") draws A
	// Kaiming-uniform (a=√5, i.e. U(±1/√in)) and sets B = 0; "gaussian"
	// draws A from N(0, 1/r) and sets B = 0; "false" draws both
	// Kaiming-uniform, so the adapter does not start as the identity
	// (for tests, as in HF).
	InitWeights string `json:"init_lora_weights"`
	UseRSLoRA   bool   `json:"use_rslora,omitempty"`
	// LayersToTransform limits the adapter to these layers; nil means all.
	LayersToTransform []int `json:"layers_to_transform,omitempty"`
}

func init() {
	registerMethod("lora", func() Method { return &LoRA{} })
	registerPreset("lora", func() Method { return DefaultLoRA() })
}

// DefaultLoRA is HF peft's LoraConfig default: r 8, lora_alpha 8 (scaling
// 1), no dropout, query and value for BERT, bias "none", Kaiming-A/zero-B.
// (Hu et al. used alpha = r as well; many recipes raise alpha to 2r.)
func DefaultLoRA() *LoRA {
	return &LoRA{R: 8, Alpha: 8, TargetModules: []string{"query", "value"}, Bias: "none", InitWeights: "true"}
}

func (l *LoRA) Kind() string { return "lora" }

// Scaling is the factor the low-rank update is multiplied by.
func (l *LoRA) Scaling() float64 {
	if l.UseRSLoRA {
		return l.Alpha / math.Sqrt(float64(l.R))
	}
	return l.Alpha / float64(l.R)
}

func (l *LoRA) Validate(cfg hf.Config) error {
	if l.R <= 0 {
		return fmt.Errorf("r is %d: the LoRA rank must be > 0 (HF peft's default is 8)", l.R)
	}
	if l.Alpha <= 0 {
		return fmt.Errorf("lora_alpha is %v: it must be > 0 (HF peft's default is 8)", l.Alpha)
	}
	if _, err := l.Sites(); err != nil {
		return err
	}
	if l.Dropout < 0 || l.Dropout >= 1 {
		return fmt.Errorf("lora_dropout %v is outside [0, 1)", l.Dropout)
	}
	if l.Bias != "" && l.Bias != "none" {
		return fmt.Errorf("bias %q is not supported: use \"none\" and add a BitFit adapter to train biases", l.Bias)
	}
	switch l.InitWeights {
	case "", "true", "gaussian", "false":
	default:
		return fmt.Errorf("init_lora_weights %q: use \"true\", \"gaussian\" or \"false\"", l.InitWeights)
	}
	for _, n := range l.LayersToTransform {
		if n < 0 || n >= cfg.NumLayers {
			return fmt.Errorf("layers_to_transform names layer %d, but the model has layers 0..%d", n, cfg.NumLayers-1)
		}
	}
	return nil
}

// Sites lists the projection sites the adapter targets, in encoder order.
func (l *LoRA) Sites() ([]encoder.Site, error) {
	return parseSites(l.TargetModules, []encoder.Site{encoder.Query, encoder.Value})
}

// InLayer reports whether the adapter adapts this layer (LayersToTransform).
func (l *LoRA) InLayer(layer int) bool {
	return l.LayersToTransform == nil || slices.Contains(l.LayersToTransform, layer)
}

// placements: one per targeted projection.
func (l *LoRA) placements(layer int) []Placement {
	sites, err := l.Sites()
	if err != nil || !l.InLayer(layer) {
		return nil
	}
	out := make([]Placement, len(sites))
	for i, s := range sites {
		out[i] = Placement{Site: string(s), Method: "lora"}
	}
	return out
}

// NumParams: r·(in + out) per adapted matrix.
func (l *LoRA) NumParams(cfg hf.Config) int {
	sites, _ := l.Sites()
	n := 0
	for layer := 0; layer < cfg.NumLayers; layer++ {
		if !l.InLayer(layer) {
			continue
		}
		for _, s := range sites {
			in, out := s.Dims(cfg)
			n += l.R * (in + out)
		}
	}
	return n
}

// LoRAScope is where a layer's site keeps lora_A and lora_B, inside the
// adapter's scope.
func LoRAScope(layer int, s encoder.Site) string { return fmt.Sprintf("layer_%d_%s", layer, s) }

func (l *LoRA) targets(layer int, site encoder.Site) bool {
	if !l.InLayer(layer) {
		return false
	}
	sites, _ := l.Sites()
	return slices.Contains(sites, site)
}

func (l *LoRA) linear(ctx *context.Context, cfg hf.Config, layer int, site encoder.Site, x, y *graph.Node) *graph.Node {
	if !l.targets(layer, site) {
		return y
	}
	ctx = ctx.In(LoRAScope(layer, site))
	g := x.Graph()
	in, out := x.Shape().Dim(-1), y.Shape().Dim(-1)
	aInit, bInit := l.initializers(in)
	a := encoder.HostVariable(ctx.In("lora_A"), "weight", shapes.Make(x.DType(), l.R, in), aInit).ValueGraph(g)
	b := encoder.HostVariable(ctx.In("lora_B"), "weight", shapes.Make(x.DType(), out, l.R), bInit).ValueGraph(g)
	h := layers.DropoutStatic(ctx, x, l.Dropout)
	h = graph.DotGeneral(h, []int{h.Rank() - 1}, nil, a, []int{1}, nil) // [..., r]
	h = graph.DotGeneral(h, []int{h.Rank() - 1}, nil, b, []int{1}, nil) // [..., out]
	return graph.Add(y, graph.MulScalar(h, l.Scaling()))
}

// initializers are HF peft's reset_lora_parameters for init_lora_weights,
// run on the host (see encoder.HostVariable).
func (l *LoRA) initializers(fanIn int) (a, b encoder.HostInit) {
	kaiming := func(fan int) encoder.HostInit {
		bound := 1 / math.Sqrt(float64(fan)) // kaiming_uniform(a=√5) = U(±1/√fan_in)
		return encoder.HostUniform(-bound, bound)
	}
	switch l.InitWeights {
	case "gaussian":
		return encoder.HostNormal(1 / float64(l.R)), encoder.HostZeros
	case "false":
		return kaiming(fanIn), kaiming(l.R)
	}
	return kaiming(fanIn), encoder.HostZeros
}

// LoRAOf returns the named adapter's LoRA config in t.
func LoRAOf(t *Tuned, name string) (*LoRA, error) {
	a := t.Setup.Adapter(name)
	if a == nil {
		return nil, fmt.Errorf("no adapter named %q (adapters: %v)", name, names(t.Setup))
	}
	l, ok := a.Method.(*LoRA)
	if !ok {
		return nil, fmt.Errorf("adapter %q is %s, not lora", name, a.Method.Kind())
	}
	return l, nil
}

// IsMerged reports whether MergeLoRA has folded the named adapter into t's
// base weights.
func (t *Tuned) IsMerged(name string) bool { return slices.Contains(t.merged, name) }

// MergeLoRA returns a Tuned in which the named LoRA adapter is folded into
// the base weights, W += s·B A, so inference runs at the base model's cost;
// the adapter's hook adds nothing there and its parameters do not train.
// t and the Model are not touched. UnmergeLoRA undoes it (up to float32
// rounding).
func (t *Tuned) MergeLoRA(name string) (*Tuned, error) {
	l, err := LoRAOf(t, name)
	if err != nil {
		return nil, err
	}
	if t.IsMerged(name) {
		return nil, fmt.Errorf("LoRA adapter %q is already merged", name)
	}
	return t.derive(func(n *Tuned) error {
		n.merged = append(n.merged, name)
		return l.foldInto(n, name, 1)
	})
}

// UnmergeLoRA returns a Tuned in which a merged adapter's update is
// subtracted from the base weights again, W -= s·B A, and trains again.
func (t *Tuned) UnmergeLoRA(name string) (*Tuned, error) {
	l, err := LoRAOf(t, name)
	if err != nil {
		return nil, err
	}
	if !t.IsMerged(name) {
		return nil, fmt.Errorf("LoRA adapter %q is not merged: call MergeLoRA first", name)
	}
	return t.derive(func(n *Tuned) error {
		n.merged = slices.DeleteFunc(n.merged, func(m string) bool { return m == name })
		return l.foldInto(n, name, -1)
	})
}

// foldInto adds sign·s·B A to every adapted base weight of t.
func (l *LoRA) foldInto(t *Tuned, name string, sign float64) error {
	sites, err := l.Sites()
	if err != nil {
		return err
	}
	for layer := 0; layer < t.Model.Config.NumLayers; layer++ {
		if !l.InLayer(layer) {
			continue
		}
		for _, s := range sites {
			scope := AdapterScope(name) + "/" + LoRAScope(layer, s)
			a, err := t.variableValue(scope+"/lora_A", "weight")
			if err != nil {
				return fmt.Errorf("merging %q: %w", name, err)
			}
			b, err := t.variableValue(scope+"/lora_B", "weight")
			if err != nil {
				return fmt.Errorf("merging %q: %w", name, err)
			}
			wScope, wName := encoder.ScopeOf(s.WeightName(layer))
			wv := t.Ctx.GetVariableByScopeAndName(wScope, wName)
			if wv == nil {
				return fmt.Errorf("merging %q: base weight %s/weight is missing", name, wScope)
			}
			w, err := wv.Value()
			if err != nil {
				return err
			}
			merged, err := addLowRank(w, a, b, sign*l.Scaling())
			if err != nil {
				return fmt.Errorf("merging %q into %s: %w", name, wScope, err)
			}
			if err := wv.SetValue(merged); err != nil {
				return err
			}
		}
	}
	return nil
}

// addLowRank returns W + f·B A for W [out, in], A [r, in], B [out, r],
// accumulating in float64.
func addLowRank(w, a, b *tensors.Tensor, f float64) (*tensors.Tensor, error) {
	if w.DType() != dtypes.Float32 || a.DType() != dtypes.Float32 || b.DType() != dtypes.Float32 {
		return nil, fmt.Errorf("merging needs float32 weights, have %s, %s, %s", w.DType(), a.DType(), b.DType())
	}
	out, in := w.Shape().Dim(0), w.Shape().Dim(1)
	r := a.Shape().Dim(0)
	if a.Shape().Dim(1) != in || b.Shape().Dim(0) != out || b.Shape().Dim(1) != r {
		return nil, fmt.Errorf("shapes W %s, A %s, B %s do not fit W += B A", w.Shape(), a.Shape(), b.Shape())
	}
	wd, err := tensors.CopyFlatData[float32](w)
	if err != nil {
		return nil, err
	}
	ad, err := tensors.CopyFlatData[float32](a)
	if err != nil {
		return nil, err
	}
	bd, err := tensors.CopyFlatData[float32](b)
	if err != nil {
		return nil, err
	}
	for i := 0; i < out; i++ {
		for j := 0; j < in; j++ {
			acc := 0.0
			for k := 0; k < r; k++ {
				acc += float64(bd[i*r+k]) * float64(ad[k*in+j])
			}
			wd[i*in+j] = float32(float64(wd[i*in+j]) + f*acc)
		}
	}
	return tensors.FromFlatDataAndDimensions(wd, out, in), nil
}
