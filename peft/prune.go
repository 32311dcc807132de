package peft

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gopeft/gopeft/peft/encoder"
	"github.com/gopeft/gopeft/peft/hf"
)

// Weight pruning: a 0/1 mask per pruned variable, kept as a non-trainable
// variable of the Tuned so that it is saved with the run. The mask of
// variable /encoder/layer/0/attention/self/query/weight is the variable of
// the same name under PruneRoot (/prune/encoder/layer/0/...); its
// safetensors key is the weight's canonical name. Training multiplies every
// trainable masked variable by its mask after each optimizer step (inside
// the step's graph), so pruned weights stay zero; frozen ones are zeroed
// when a mask changes and never change afterwards.
const (
	PruneRoot  = "/prune"
	PruneFile  = "prune_masks.safetensors"
	pruneScope = "prune"
)

// PruneGranularity says over which weights one magnitude threshold is drawn.
type PruneGranularity string

const (
	// PruneGlobal ranks every target weight together: one threshold, so
	// matrices with small weights lose more (torch global_unstructured).
	PruneGlobal PruneGranularity = "global"
	// PruneLayer prunes each weight matrix to the same sparsity (Zhu &
	// Gupta's per-layer pruning; torch l1_unstructured per module).
	PruneLayer PruneGranularity = "layer"
)

// PruneTargets are the weights magnitude pruning acts on by default: the
// six linear weight matrices of every encoder layer (query, key, value,
// attention output, FFN in and out), about 90% of a BERT encoder's layer
// parameters. Embeddings, biases and LayerNorms are left dense, as in Zhu &
// Gupta and Sanh et al.'s movement pruning of BERT.
func PruneTargets(cfg hf.Config) []string {
	var names []string
	for l := range cfg.NumLayers {
		for _, s := range encoder.Sites {
			names = append(names, s.WeightName(l))
		}
	}
	return names
}

// SparsityReport counts the pruned weights.
type SparsityReport struct {
	Targets int // weights under masks
	Zeros   int // of those, masked to zero
	// ZeroWeights counts the weights under masks that are exactly zero:
	// Zeros, plus any that were zero before pruning.
	ZeroWeights int
	Sparsity    float64 // Zeros / Targets
	// Params is the Tuned's parameter count (as Counts().Total), Remaining
	// those not pruned: what a sparse format would store.
	Params, Remaining int
	// PerMatrix is each masked variable's sparsity, by canonical name.
	PerMatrix map[string]float64
}

func (r SparsityReport) String() string {
	return fmt.Sprintf("sparsity %.2f%% of %s masked weights; %s of %s parameters remain",
		100*r.Sparsity, GroupDigits(r.Targets), GroupDigits(r.Remaining), GroupDigits(r.Params))
}

// Pruner prunes a Tuned in place while it trains, as Stepper trains it in
// place: train.Finetune drives both. After training, use the copying
// methods (Tuned.PruneMagnitude, Tuned.PruneStructured).
type Pruner struct {
	t       *Tuned
	targets []*context.Variable
	masks   []*context.Variable
}

// NewPruner puts masks on the named variables (canonical names, default
// PruneTargets), all ones where t has none yet. Call it before the first
// training step, so that the step's graph applies them.
func NewPruner(t *Tuned, names []string) (*Pruner, error) {
	if len(names) == 0 {
		names = PruneTargets(t.Model.Config)
	}
	p := &Pruner{t: t}
	for _, n := range names {
		scope, name := encoder.ScopeOf(n)
		v := t.Ctx.GetVariableByScopeAndName(scope, name)
		if v == nil {
			return nil, fmt.Errorf("prune target %q is not a variable of this model: give canonical names such as %q", n, encoder.Query.WeightName(0))
		}
		if !v.Shape().DType.IsFloat() {
			return nil, fmt.Errorf("prune target %q is %s, not a float weight", n, v.Shape().DType)
		}
		m, err := maskOf(t.Ctx, v, true)
		if err != nil {
			return nil, err
		}
		p.targets, p.masks = append(p.targets, v), append(p.masks, m)
	}
	return p, nil
}

// maskOf is v's mask variable; with create, an all-ones one is made if v has none.
func maskOf(ctx *context.Context, v *context.Variable, create bool) (*context.Variable, error) {
	scope := PruneRoot + v.Scope()
	if m := ctx.GetVariableByScopeAndName(scope, v.Name()); m != nil || !create {
		return m, nil
	}
	ones := tensors.FromShape(v.Shape())
	tensors.MutableFlatData(ones, func(d []float32) {
		for i := range d {
			d[i] = 1
		}
	})
	m := ctx.InAbsPath(scope).Checked(false).VariableWithValue(v.Name(), ones)
	m.SetTrainable(false)
	return m, nil
}

// Prune sets the masks so that exactly round(sparsity·n) of the target
// weights are zero, the smallest in magnitude: over all targets together
// (PruneGlobal) or within each matrix (PruneLayer). Weights already pruned
// stay pruned (they rank first), so sparsity only grows along a schedule.
// The weights are zeroed at once.
func (p *Pruner) Prune(sparsity float64, g PruneGranularity) (SparsityReport, error) {
	if sparsity < 0 || sparsity >= 1 || math.IsNaN(sparsity) {
		return SparsityReport{}, fmt.Errorf("sparsity %v is outside [0, 1)", sparsity)
	}
	vals := make([][]float32, len(p.targets))
	masks := make([][]float32, len(p.targets))
	for i, v := range p.targets {
		var err error
		if vals[i], err = flatValue(v); err != nil {
			return SparsityReport{}, err
		}
		if masks[i], err = flatValue(p.masks[i]); err != nil {
			return SparsityReport{}, err
		}
	}
	switch g {
	case PruneGlobal, "":
		magnitudeMasks(vals, masks, sparsity)
	case PruneLayer:
		for i := range vals {
			magnitudeMasks(vals[i:i+1], masks[i:i+1], sparsity)
		}
	default:
		return SparsityReport{}, fmt.Errorf("prune granularity %q: use %q or %q", g, PruneGlobal, PruneLayer)
	}
	for i := range p.targets {
		if err := setMasked(p.targets[i], p.masks[i], vals[i], masks[i]); err != nil {
			return SparsityReport{}, err
		}
	}
	return Sparsity(p.t), nil
}

// magnitudeMasks zeroes, over all the given matrices together, the masks of
// the round(sparsity·n) entries ranked lowest by (already masked, |w|,
// position), and sets the rest to one.
func magnitudeMasks(vals, masks [][]float32, sparsity float64) {
	type entry struct {
		mag    float32
		matrix int
		index  int
	}
	var all []entry
	for m, v := range vals {
		for i, w := range v {
			mag := float32(math.Abs(float64(w)))
			if masks[m][i] == 0 {
				mag = -1 // pruned before: stays pruned
			}
			all = append(all, entry{mag, m, i})
		}
	}
	k := int(math.Round(sparsity * float64(len(all))))
	slices.SortFunc(all, func(a, b entry) int {
		return cmp.Or(cmp.Compare(a.mag, b.mag), cmp.Compare(a.matrix, b.matrix), cmp.Compare(a.index, b.index))
	})
	for j, e := range all {
		if j < k {
			masks[e.matrix][e.index] = 0
		} else {
			masks[e.matrix][e.index] = 1
		}
	}
}

func flatValue(v *context.Variable) ([]float32, error) {
	t, err := v.Value()
	if err != nil {
		return nil, fmt.Errorf("variable %s has no value: %w", v.ScopeAndName(), err)
	}
	return tensors.MustCopyFlatData[float32](t), nil
}

// setMasked stores mask and w·mask.
func setMasked(v, m *context.Variable, w, mask []float32) error {
	for i := range w {
		w[i] *= mask[i]
	}
	dims := v.Shape().Dimensions
	if err := m.SetValue(tensors.FromFlatDataAndDimensions(slices.Clone(mask), dims...)); err != nil {
		return err
	}
	return v.SetValue(tensors.FromFlatDataAndDimensions(w, dims...))
}

// applyMasksGraph multiplies every trainable masked variable by its mask in
// graph g: what a training step does after the optimizer's update, so a
// pruned weight stays exactly zero.
func applyMasksGraph(ctx *context.Context, g *graph.Graph) {
	for m := range ctx.IterVariables() {
		scope, ok := strings.CutPrefix(m.Scope(), PruneRoot)
		if !ok || (scope != "" && scope[0] != '/') {
			continue
		}
		v := ctx.GetVariableByScopeAndName(scope, m.Name())
		if v == nil || !v.Trainable {
			continue
		}
		v.SetValueGraph(graph.Mul(v.ValueGraph(g), m.ValueGraph(g)))
	}
}

// maskedPairs lists (variable, mask) for every mask in t.
func maskedPairs(t *Tuned) (vars, masks []*context.Variable) {
	for m := range t.Ctx.IterVariables() {
		scope, ok := strings.CutPrefix(m.Scope(), PruneRoot)
		if !ok || (scope != "" && scope[0] != '/') {
			continue
		}
		if v := t.Ctx.GetVariableByScopeAndName(scope, m.Name()); v != nil {
			vars, masks = append(vars, v), append(masks, m)
		}
	}
	return vars, masks
}

// applyMasksNow zeroes every masked weight of t (after loading masks).
func applyMasksNow(t *Tuned) error {
	vars, masks := maskedPairs(t)
	for i, v := range vars {
		w, err := flatValue(v)
		if err != nil {
			return err
		}
		m, err := flatValue(masks[i])
		if err != nil {
			return err
		}
		if err := setMasked(v, masks[i], w, m); err != nil {
			return err
		}
	}
	return nil
}

// Sparsity reports t's masked weights (a zero report when t has no masks).
func Sparsity(t *Tuned) SparsityReport {
	r := SparsityReport{PerMatrix: map[string]float64{}, Params: t.Counts().Total}
	vars, masks := maskedPairs(t)
	for i, v := range vars {
		m, err := flatValue(masks[i])
		if err != nil {
			continue
		}
		w, err := flatValue(v)
		if err != nil {
			continue
		}
		zeros := 0
		for j, x := range m {
			if x == 0 {
				zeros++
			}
			if w[j] == 0 {
				r.ZeroWeights++
			}
		}
		r.Targets += len(m)
		r.Zeros += zeros
		r.PerMatrix[encoder.CanonicalName(v)] = float64(zeros) / float64(max(1, len(m)))
	}
	r.Sparsity = float64(r.Zeros) / float64(max(1, r.Targets))
	r.Remaining = r.Params - r.Zeros
	return r
}

// PruneMagnitude is one-shot magnitude pruning after training: a Tuned
// whose targets (canonical names, default PruneTargets) are pruned to
// sparsity; t is not changed.
func (t *Tuned) PruneMagnitude(sparsity float64, g PruneGranularity, targets []string) (*Tuned, SparsityReport, error) {
	var rep SparsityReport
	n, err := t.derive(func(n *Tuned) error {
		p, err := NewPruner(n, targets)
		if err != nil {
			return err
		}
		rep, err = p.Prune(sparsity, g)
		return err
	})
	return n, rep, err
}

// StructuredPrune removes whole attention heads and FFN units, the least
// important first. Importance is, by default, the L2 norm of the weights
// that belong to a head or unit (HeadImportance, FFNImportance: data-free);
// HeadScores/FFNScores replace it, e.g. with Michel et al. (2019)'s
// gradient importance (GateImportance; train.Run.PruneStructured computes
// it with Importance "gradient"). A head's weights are its rows of query,
// key and value (and their biases) and its columns of the attention
// output; an FFN unit's are its row (and bias) of the FFN input and its
// column of the FFN output. Zeroing them removes the head's or unit's
// contribution exactly.
type StructuredPrune struct {
	// Heads is how many heads to remove, the least important over the whole
	// model (Michel et al. rank heads globally).
	Heads int `json:"heads"`
	// FFNFraction of each layer's FFN units to remove (rounded), by
	// importance within the layer.
	FFNFraction float64 `json:"ffn_fraction"`
	// HeadScores [layer][head] and FFNScores [layer][unit], when set, rank
	// instead of the weight norms.
	HeadScores, FFNScores [][]float64 `json:"-"`
}

// StructuredReport says what PruneStructured removed.
type StructuredReport struct {
	Heads         [][2]int // (layer, head) removed, least important first
	FFNUnits      []int    // units removed per layer
	ParamsRemoved int      // weights and biases zeroed
	Sparsity      SparsityReport
}

// HeadImportance is the L2 norm of each head's weights, [layer][head].
func HeadImportance(t *Tuned) ([][]float64, error) {
	cfg := t.Model.Config
	hd := cfg.HeadDim()
	out := make([][]float64, cfg.NumLayers)
	for l := range cfg.NumLayers {
		out[l] = make([]float64, cfg.NumHeads)
		for _, g := range headGroups(cfg, l) {
			w, err := canonicalValue(t, g.name)
			if err != nil {
				return nil, err
			}
			for h := range cfg.NumHeads {
				out[l][h] += sumSquares(w, g.cols, g.rowsAxis, h*hd, (h+1)*hd)
			}
		}
		for h := range out[l] {
			out[l][h] = math.Sqrt(out[l][h])
		}
	}
	return out, nil
}

// FFNImportance is the L2 norm of each FFN unit's weights, [layer][unit].
func FFNImportance(t *Tuned) ([][]float64, error) {
	cfg := t.Model.Config
	out := make([][]float64, cfg.NumLayers)
	for l := range cfg.NumLayers {
		out[l] = make([]float64, cfg.IntermediateSize)
		for _, g := range ffnGroups(cfg, l) {
			w, err := canonicalValue(t, g.name)
			if err != nil {
				return nil, err
			}
			for u := range cfg.IntermediateSize {
				out[l][u] += sumSquares(w, g.cols, g.rowsAxis, u, u+1)
			}
		}
		for u := range out[l] {
			out[l][u] = math.Sqrt(out[l][u])
		}
	}
	return out, nil
}

// slab is a tensor whose rows (rowsAxis) or columns (!rowsAxis) in a range
// belong to one head or unit; cols is the tensor's column count (1 for a bias).
type slab struct {
	name     string
	cols     int
	rowsAxis bool
}

func headGroups(cfg hf.Config, l int) []slab {
	d := cfg.HiddenSize
	var gs []slab
	for _, s := range []encoder.Site{encoder.Query, encoder.Key, encoder.Value} {
		w := s.WeightName(l)
		gs = append(gs, slab{w, d, true}, slab{strings.TrimSuffix(w, "weight") + "bias", 1, true})
	}
	return append(gs, slab{encoder.AttnOut.WeightName(l), d, false})
}

func ffnGroups(cfg hf.Config, l int) []slab {
	in := encoder.FFNIn.WeightName(l)
	return []slab{
		{in, cfg.HiddenSize, true}, {strings.TrimSuffix(in, "weight") + "bias", 1, true},
		{encoder.FFNOut.WeightName(l), cfg.IntermediateSize, false},
	}
}

// each calls f on every flat index of rows (or columns) [lo, hi) of a
// row-major matrix with cols columns and n entries.
func each(n, cols int, rowsAxis bool, lo, hi int, f func(i int)) {
	if rowsAxis {
		for r := lo; r < hi; r++ {
			for c := range cols {
				f(r*cols + c)
			}
		}
		return
	}
	for r := range n / cols {
		for c := lo; c < hi; c++ {
			f(r*cols + c)
		}
	}
}

func sumSquares(w []float32, cols int, rowsAxis bool, lo, hi int) float64 {
	s := 0.0
	each(len(w), cols, rowsAxis, lo, hi, func(i int) { s += float64(w[i]) * float64(w[i]) })
	return s
}

func canonicalValue(t *Tuned, name string) ([]float32, error) {
	scope, n := encoder.ScopeOf(name)
	v := t.Ctx.GetVariableByScopeAndName(scope, n)
	if v == nil {
		return nil, fmt.Errorf("model has no weight %s", name)
	}
	return flatValue(v)
}

// PruneStructured returns a Tuned without the least important heads and
// FFN units (see StructuredPrune), through masks like magnitude pruning, so
// they stay removed if it trains on and are saved with a run; t is not changed.
func (t *Tuned) PruneStructured(sp StructuredPrune) (*Tuned, StructuredReport, error) {
	cfg := t.Model.Config
	var rep StructuredReport
	if total := cfg.NumLayers * cfg.NumHeads; sp.Heads < 0 || sp.Heads > total {
		return nil, rep, fmt.Errorf("heads %d is outside 0..%d (the model's heads)", sp.Heads, total)
	}
	if sp.FFNFraction < 0 || sp.FFNFraction > 1 {
		return nil, rep, fmt.Errorf("ffn_fraction %v is outside [0, 1]", sp.FFNFraction)
	}
	heads, units := sp.HeadScores, sp.FFNScores
	var err error
	if heads == nil {
		if heads, err = HeadImportance(t); err != nil {
			return nil, rep, err
		}
	}
	if units == nil {
		if units, err = FFNImportance(t); err != nil {
			return nil, rep, err
		}
	}
	if len(heads) != cfg.NumLayers || len(units) != cfg.NumLayers || len(heads[0]) != cfg.NumHeads || len(units[0]) != cfg.IntermediateSize {
		return nil, rep, fmt.Errorf("importance scores are not [layers][heads] and [layers][FFN units] of this model (%d×%d, %d×%d)", cfg.NumLayers, cfg.NumHeads, cfg.NumLayers, cfg.IntermediateSize)
	}
	var ranked [][2]int
	for l := range heads {
		for h := range heads[l] {
			ranked = append(ranked, [2]int{l, h})
		}
	}
	slices.SortStableFunc(ranked, func(a, b [2]int) int { return cmp.Compare(heads[a[0]][a[1]], heads[b[0]][b[1]]) })
	rep.Heads = ranked[:sp.Heads]
	n, err := t.derive(func(n *Tuned) error {
		zero := func(g slab, lo, hi int) error {
			scope, name := encoder.ScopeOf(g.name)
			v := n.Ctx.GetVariableByScopeAndName(scope, name)
			m, err := maskOf(n.Ctx, v, true)
			if err != nil {
				return err
			}
			w, err := flatValue(v)
			if err != nil {
				return err
			}
			mask, err := flatValue(m)
			if err != nil {
				return err
			}
			each(len(w), g.cols, g.rowsAxis, lo, hi, func(i int) {
				if mask[i] != 0 {
					rep.ParamsRemoved++
				}
				mask[i] = 0
			})
			return setMasked(v, m, w, mask)
		}
		hd := cfg.HeadDim()
		for _, lh := range rep.Heads {
			for _, g := range headGroups(cfg, lh[0]) {
				if err := zero(g, lh[1]*hd, (lh[1]+1)*hd); err != nil {
					return err
				}
			}
		}
		rep.FFNUnits = make([]int, cfg.NumLayers)
		for l := range cfg.NumLayers {
			k := int(math.Round(sp.FFNFraction * float64(cfg.IntermediateSize)))
			order := make([]int, cfg.IntermediateSize)
			for i := range order {
				order[i] = i
			}
			slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(units[l][a], units[l][b]) })
			for _, u := range order[:k] {
				for _, g := range ffnGroups(cfg, l) {
					if err := zero(g, u, u+1); err != nil {
						return err
					}
				}
			}
			rep.FFNUnits[l] = k
		}
		return nil
	})
	if err != nil {
		return nil, rep, err
	}
	rep.Sparsity = Sparsity(n)
	return n, rep, nil
}
