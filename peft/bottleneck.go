package peft

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
	"github.com/gomlx/gomlx/pkg/ml/layers"

	"github.com/gopeft/gopeft/peft/encoder"
	"github.com/gopeft/gopeft/peft/hf"
)

// Bottleneck is a bottleneck adapter (Houlsby et al. 2019; Pfeiffer et al.
// 2021; the parallel form of He et al. 2022): a down-projection to
// hidden/ReductionFactor units, a non-linearity, an up-projection, scaling and
// a residual connection, placed after the attention block (MHAdapter), after
// the FFN (OutputAdapter) or both. Field names and defaults follow AdapterHub
// `adapters` BnConfig; use the presets Pfeiffer, Houlsby and ParallelAdapter.
type Bottleneck struct {
	MHAdapter     bool `json:"mh_adapter"`     // after multi-head attention
	OutputAdapter bool `json:"output_adapter"` // after the FFN
	// ReductionFactor is hidden/bottleneck; PerLayerReduction overrides it
	// for single layers (AdapterHub's dict form, keyed by layer index).
	ReductionFactor   float64         `json:"reduction_factor"`
	PerLayerReduction map[int]float64 `json:"per_layer_reduction,omitempty"`
	NonLinearity      string          `json:"non_linearity"` // relu, swish, gelu, tanh
	OriginalLNBefore  bool            `json:"original_ln_before"`
	OriginalLNAfter   bool            `json:"original_ln_after"`
	// ResidualBeforeLN: "true" takes the adapter's residual from the
	// sub-block output before the original LayerNorm, "false" after it,
	// "post_add" after adding the residual input but before the LayerNorm.
	ResidualBeforeLN        string `json:"residual_before_ln"`
	AdapterResidualBeforeLN bool   `json:"adapter_residual_before_ln"`
	LNBefore                bool   `json:"ln_before"` // adapter-internal LayerNorm on its input
	LNAfter                 bool   `json:"ln_after"`  // adapter-internal LayerNorm on its output
	IsParallel              bool   `json:"is_parallel"`
	// Scaling multiplies the up-projection: a number, "learned" (one
	// scalar) or "channel" (one per hidden unit); "" means 1.
	Scaling     string  `json:"scaling"`
	LeaveOut    []int   `json:"leave_out,omitempty"` // layers without adapters
	Dropout     float64 `json:"dropout"`
	InitWeights string  `json:"init_weights"` // bert, houlsby, mam
	// InitStd overrides the standard deviation of the bert and houlsby
	// initialisations (0: their 0.02 and 1e-2), for Houlsby et al.'s
	// init-scale ablation (their Figure 6: robust below about 1e-2).
	InitStd float64 `json:"init_std,omitempty"`
	// Masks turns on MAM masks (see MAMMasks); nil means off.
	Masks *MAMMasks `json:"masks,omitempty"`
}

func init() {
	registerMethod("bottleneck", func() Method { return &Bottleneck{} })
	registerPreset("pfeiffer", func() Method { return Pfeiffer() })
	registerPreset("houlsby", func() Method { return Houlsby() })
	registerPreset("parallel", func() Method { return ParallelAdapter() })
}

// Pfeiffer is the sequential adapter after the FFN only (Pfeiffer et al.
// 2021; AdapterHub SeqBnConfig): reduction 16, ReLU, BERT init.
func Pfeiffer() *Bottleneck {
	return &Bottleneck{
		OutputAdapter: true, ReductionFactor: 16, NonLinearity: "relu",
		OriginalLNBefore: true, OriginalLNAfter: true, ResidualBeforeLN: "true",
		InitWeights: "bert", Scaling: "1",
	}
}

// Houlsby is the double sequential adapter, after attention and after the
// FFN (Houlsby et al. 2019; AdapterHub DoubleSeqBnConfig): reduction 16,
// swish, BERT init.
func Houlsby() *Bottleneck {
	return &Bottleneck{
		MHAdapter: true, OutputAdapter: true, ReductionFactor: 16, NonLinearity: "swish",
		OriginalLNAfter: true, ResidualBeforeLN: "true",
		InitWeights: "bert", Scaling: "1",
	}
}

// ParallelAdapter runs beside the FFN and adds its scaled output to the
// FFN's (He et al. 2022; AdapterHub ParBnConfig): reduction 2, ReLU,
// scaling 4, Kaiming-uniform down and zero up ("mam" init), so it starts as
// the identity.
func ParallelAdapter() *Bottleneck {
	return &Bottleneck{
		OutputAdapter: true, ReductionFactor: 2, NonLinearity: "relu",
		OriginalLNAfter: true, ResidualBeforeLN: "true", IsParallel: true,
		InitWeights: "mam", Scaling: "4",
	}
}

func (b *Bottleneck) Kind() string { return "bottleneck" }

func (b *Bottleneck) Validate(cfg hf.Config) error {
	if !b.MHAdapter && !b.OutputAdapter {
		return fmt.Errorf("neither mh_adapter nor output_adapter is set: the adapter would sit nowhere; set OutputAdapter: true")
	}
	for layer := 0; layer < cfg.NumLayers; layer++ {
		if b.reduction(layer) <= 0 {
			return fmt.Errorf("reduction factor for layer %d is %v: it must be > 0 (hidden %d / factor = bottleneck size)", layer, b.reduction(layer), cfg.HiddenSize)
		}
		// A factor below 1 widens instead of compressing: more parameters
		// than the layer it adapts, which is never the intent.
		if b.reduction(layer) < 1 {
			return fmt.Errorf("reduction factor for layer %d is %v: the bottleneck (%d units) would be larger than the hidden size %d; use a factor >= 1 (16 gives %d units)",
				layer, b.reduction(layer), b.BottleneckSize(cfg, layer), cfg.HiddenSize, max(1, cfg.HiddenSize/16))
		}
	}
	for layer := range b.PerLayerReduction {
		if layer < 0 || layer >= cfg.NumLayers {
			return fmt.Errorf("per_layer_reduction names layer %d, but the model has layers 0..%d", layer, cfg.NumLayers-1)
		}
	}
	for _, l := range b.LeaveOut {
		if l < 0 || l >= cfg.NumLayers {
			return fmt.Errorf("leave_out names layer %d, but the model has layers 0..%d", l, cfg.NumLayers-1)
		}
	}
	if _, err := nonLinearity(b.NonLinearity); err != nil {
		return err
	}
	if _, err := b.scalingKind(); err != nil {
		return err
	}
	switch b.ResidualBeforeLN {
	case "true", "false", "post_add", "":
	default:
		return fmt.Errorf("residual_before_ln is %q: use \"true\", \"false\" or \"post_add\"", b.ResidualBeforeLN)
	}
	switch b.InitWeights {
	case "bert", "houlsby", "mam", "":
	default:
		return fmt.Errorf("init_weights is %q: use bert, houlsby or mam", b.InitWeights)
	}
	if b.InitStd < 0 || (b.InitStd > 0 && b.InitWeights == "mam") {
		return fmt.Errorf("init_std is %v: give a positive standard deviation for init_weights bert or houlsby (mam's init has none; 0 keeps the default)", b.InitStd)
	}
	if b.Dropout < 0 || b.Dropout >= 1 {
		return fmt.Errorf("dropout %v is outside [0, 1)", b.Dropout)
	}
	if b.Masks != nil {
		return b.Masks.validate()
	}
	return nil
}

func (b *Bottleneck) reduction(layer int) float64 {
	if r, ok := b.PerLayerReduction[layer]; ok {
		return r
	}
	return b.ReductionFactor
}

// BottleneckSize is the number of bottleneck units in a layer (at least 1,
// as in AdapterHub).
func (b *Bottleneck) BottleneckSize(cfg hf.Config, layer int) int {
	return max(1, int(float64(cfg.HiddenSize)/b.reduction(layer)))
}

func (b *Bottleneck) sublayers() []encoder.Sublayer {
	var subs []encoder.Sublayer
	if b.MHAdapter {
		subs = append(subs, encoder.Attention)
	}
	if b.OutputAdapter {
		subs = append(subs, encoder.FFN)
	}
	return subs
}

func (b *Bottleneck) placedAt(cfg hf.Config, layer int, sub encoder.Sublayer) bool {
	for _, l := range b.LeaveOut {
		if l == layer {
			return false
		}
	}
	return (sub == encoder.Attention && b.MHAdapter) || (sub == encoder.FFN && b.OutputAdapter)
}

// NumParams: per module 2·m·d + m + d (down and up with biases), plus the
// scaling, adapter LayerNorms and mask heads where configured.
func (b *Bottleneck) NumParams(cfg hf.Config) int {
	d := cfg.HiddenSize
	n := 0
	for layer := 0; layer < cfg.NumLayers; layer++ {
		for _, sub := range b.sublayers() {
			if !b.placedAt(cfg, layer, sub) {
				continue
			}
			m := b.BottleneckSize(cfg, layer)
			n += 2*m*d + m + d
			switch kind, _ := b.scalingKind(); kind {
			case "learned":
				n++
			case "channel":
				n += d
			}
			if b.LNBefore {
				n += 2 * d
			}
			if b.LNAfter {
				n += 2 * d
			}
			if b.Masks != nil {
				n += b.Masks.numParams(d, m)
			}
		}
	}
	return n
}

// scalingKind returns "number", "learned" or "channel".
func (b *Bottleneck) scalingKind() (string, error) {
	switch b.Scaling {
	case "learned", "channel":
		return b.Scaling, nil
	case "":
		return "number", nil
	}
	if _, err := strconv.ParseFloat(b.Scaling, 64); err != nil {
		return "", fmt.Errorf("scaling is %q: use a number (e.g. \"4\"), \"learned\" or \"channel\"", b.Scaling)
	}
	return "number", nil
}

func (b *Bottleneck) preForward(out, in *graph.Node, ln func(*graph.Node) *graph.Node) (hidden, query, residual *graph.Node) {
	if b.IsParallel {
		// A parallel adapter reads the sub-block's input, not its output.
		return in, in, in
	}
	hidden = out
	if b.ResidualBeforeLN == "true" || b.ResidualBeforeLN == "" {
		residual = hidden
	}
	if b.OriginalLNBefore {
		hidden = graph.Add(hidden, in)
		if b.ResidualBeforeLN == "post_add" {
			residual = hidden
		}
		hidden = ln(hidden)
	}
	if b.ResidualBeforeLN == "false" {
		residual = hidden
	}
	return hidden, hidden, residual
}

func (b *Bottleneck) forward(ctx *context.Context, cfg hf.Config, layer int, sub encoder.Sublayer, x, residual *graph.Node) *graph.Node {
	ctx = ctx.In(fmt.Sprintf("layer_%d_%s", layer, sub))
	up := b.module(ctx, cfg, layer, x)
	if b.IsParallel {
		if b.LNAfter {
			up = encoder.LayerNorm(ctx.In("adapter_norm_after"), up, cfg.LayerNormEps)
		}
		return up
	}
	if b.AdapterResidualBeforeLN {
		up = graph.Add(up, residual)
	}
	if b.LNAfter {
		up = encoder.LayerNorm(ctx.In("adapter_norm_after"), up, cfg.LayerNormEps)
	}
	if !b.AdapterResidualBeforeLN {
		up = graph.Add(up, residual)
	}
	return up
}

func (b *Bottleneck) maskedBottleneck() *Bottleneck {
	if b.Masks == nil {
		return nil
	}
	return b
}

// Activations: each module keeps its input (hidden, read by the trained
// down projection's weight gradient) and 2 floats per unit (the activation
// and its input), averaged over layers since reductions may differ.
func (b *Bottleneck) Activations(cfg hf.Config, tokens int64) (int64, int) {
	var n int64
	for _, sub := range b.sublayers() {
		var total int64
		for layer := range cfg.NumLayers {
			if b.placedAt(cfg, layer, sub) {
				total += tokens * (int64(cfg.HiddenSize) + 2*int64(b.BottleneckSize(cfg, layer)))
			}
		}
		n += total / int64(max(1, cfg.NumLayers))
	}
	return n, 0
}

// placements: after attention and/or after the FFN, or beside the FFN.
func (b *Bottleneck) placements(layer int) []Placement {
	if slices.Contains(b.LeaveOut, layer) {
		return nil
	}
	method := "houlsby"
	switch {
	case b.IsParallel:
		method = "parallel"
	case !b.MHAdapter:
		method = "pfeiffer"
	}
	label := ""
	if b.Masks != nil {
		label = "M" // masked units
	}
	var out []Placement
	if b.MHAdapter {
		out = append(out, Placement{Site: "attention", Method: method, Label: label})
	}
	if b.OutputAdapter {
		site := "ffn"
		if b.IsParallel {
			site = "parallel"
		}
		out = append(out, Placement{Site: site, Method: method, Label: label})
	}
	return out
}

// fuses: AdapterFusion attends to sequential adapters; a parallel one's
// postForward would add the residual a second time.
func (b *Bottleneck) fuses() bool { return !b.IsParallel }

func (b *Bottleneck) fusionValue(ctx *context.Context, cfg hf.Config, layer int, sub encoder.Sublayer, hidden *graph.Node) *graph.Node {
	return b.module(ctx.In(fmt.Sprintf("layer_%d_%s", layer, sub)), cfg, layer, hidden)
}

// module is down -> non-linearity -> (MAM masks) -> up -> scaling -> dropout.
func (b *Bottleneck) module(ctx *context.Context, cfg hf.Config, layer int, x *graph.Node) *graph.Node {
	g := x.Graph()
	d, m := cfg.HiddenSize, b.BottleneckSize(cfg, layer)
	if b.LNBefore {
		x = encoder.LayerNorm(ctx.In("adapter_norm_before"), x, cfg.LayerNormEps)
	}
	downInit, upInit := b.initializers(d)
	down := encoder.LinearHost(ctx.In("adapter_down"), x, m, downInit)
	act, _ := nonLinearity(b.NonLinearity)
	h := act(down)
	if b.Masks != nil {
		h = b.Masks.apply(ctx.In("mask"), layer, x, h)
	}
	up := encoder.LinearHost(ctx.In("adapter_up"), h, d, upInit)
	switch kind, _ := b.scalingKind(); kind {
	case "learned":
		s := ctx.WithInitializer(initializers.One).VariableWithShape("scaling", shapes.Make(dtypes.Float32, 1)).ValueGraph(g)
		up = graph.Mul(up, graph.ExpandLeftToRank(s, up.Rank()))
	case "channel":
		s := ctx.WithInitializer(initializers.One).VariableWithShape("scaling", shapes.Make(dtypes.Float32, d)).ValueGraph(g)
		up = graph.Mul(up, graph.ExpandLeftToRank(s, up.Rank()))
	default:
		if b.Scaling != "" && b.Scaling != "1" {
			f, _ := strconv.ParseFloat(b.Scaling, 64)
			up = graph.MulScalar(up, f)
		}
	}
	return layers.DropoutStatic(ctx, up, b.Dropout)
}

func (b *Bottleneck) postForward(hidden, inputHidden, in *graph.Node, ln func(*graph.Node) *graph.Node) *graph.Node {
	if b.IsParallel {
		hidden = graph.Add(hidden, inputHidden)
	}
	if b.OriginalLNAfter {
		return ln(graph.Add(hidden, in))
	}
	return hidden
}

// initializers returns the down- and up-projection initialisers of
// init_weights: bert N(0, 0.02) both; houlsby truncated N(0, 1e-2) in
// ±2e-2 both (InitStd replaces 0.02 and 1e-2); mam Kaiming-uniform down
// (a=√5, PyTorch's Linear default) and zero up, which makes the adapter start
// as the identity. They run on the host: as GoMLX graph initialisers, XLA
// took 30 s to compile Houlsby's 48 chained random draws for BERT-base.
func (b *Bottleneck) initializers(fanIn int) (down, up encoder.HostInit) {
	std := func(def float64) float64 {
		if b.InitStd > 0 {
			return b.InitStd
		}
		return def
	}
	switch b.InitWeights {
	case "houlsby":
		t := encoder.HostTruncatedNormal(std(1e-2), 2)
		return t, t
	case "mam":
		bound := 1 / math.Sqrt(float64(fanIn)) // kaiming_uniform(a=√5) = U(±1/√fan_in)
		return encoder.HostUniform(-bound, bound), encoder.HostZeros
	}
	n := encoder.HostNormal(std(encoder.InitStdDev))
	return n, n
}

// nonLinearity is AdapterHub's non_linearity by name; "" is its default, relu.
func nonLinearity(name string) (func(*graph.Node) *graph.Node, error) {
	if name == "" {
		name = "relu"
	}
	fn, err := encoder.ActivationFn(name)
	if err != nil {
		return nil, fmt.Errorf("non_linearity: %w", err)
	}
	return fn, nil
}
