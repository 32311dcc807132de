package peft

import (
	"fmt"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gopeft/gopeft/peft/encoder"
)

// Block is a composition of adapters, as in AdapterHub: a single adapter
// (Name) or one of Stack, Fuse (*FuseBlock), Parallel (ParallelBlock),
// Average (*AverageBlock) and BatchSplit (*BatchSplitBlock). Blocks compose
// bottleneck-style adapters at the residual points of every layer.
//
// Nesting rules (AdapterHub's ALLOWED_NESTINGS, without Split):
//
//	Stack      may contain Name, Fuse, Parallel, BatchSplit, Average
//	Fuse       may contain Name, Stack
//	Parallel   may contain Name, Stack, BatchSplit, Average
//	BatchSplit may contain Name, Stack, BatchSplit, Average
//	Average    may contain Name, Stack, BatchSplit
//
// Depth: the active block is level 0; blocks at level 2 or deeper must be a
// Stack or a Name, and a Stack below level 0 may hold only Names. Every
// Parallel block of one composition has the same number of children (they
// address the same replicated batch). Children of Fuse, Parallel, Average
// and BatchSplit must be adapters that act only at residual points
// (Bottleneck: Pfeiffer, Houlsby, ParallelAdapter), because only residual
// points are routed per child; put LoRA, prefix tuning, MAM and the like in a
// Stack around the block. Fuse also rejects parallel adapters (see FuseBlock).
type Block interface {
	children() []Block
}

// Name activates one adapter.
type Name string

// Stack applies its children one after another at each residual point, the
// output of one feeding the next (MAD-X's language + task adapters).
type Stack []Block

// ParallelBlock runs each child on its own copy of the batch, for
// multi-task inference (AdapterDrop). The batch is replicated lazily, at the
// first residual point where one of the children has an adapter, so the
// frozen layers below it (and AdapterDrop's dropped layers) run once for all
// tasks. Outputs then have n·B rows, channel-major: rows i·B .. (i+1)·B-1
// belong to child i (Tuned.Hidden, Tuned.Logits). The head is shared. When
// no layer has an adapter (every layer dropped) nothing is replicated and
// outputs have B rows. Parallel is for inference: the training step expects
// one label per output row.
type ParallelBlock []Block

// AverageBlock is the weighted average of its children's outputs, each
// child run on the same input. Weights are normalised to sum to 1
// (AdapterHub's Average with normalize_weights); nil weights are uniform.
// AdapterHub takes torch.mean over the weighted states, which divides by the
// number of children once more; we compute the true weighted average, so an
// Average of one adapter equals that adapter.
type AverageBlock struct {
	Children []Block   `json:"children"`
	Weights  []float64 `json:"weights,omitempty"`
}

// BatchSplitBlock sends consecutive parts of the batch, of the given sizes,
// through one child each (AdapterHub's BatchSplit). Sizes must sum to the
// batch size at the residual point (n·B after a Parallel).
type BatchSplitBlock struct {
	Children []Block `json:"children"`
	Sizes    []int   `json:"batch_sizes"`
}

func (Name) children() []Block               { return nil }
func (s Stack) children() []Block            { return s }
func (p ParallelBlock) children() []Block    { return p }
func (a *AverageBlock) children() []Block    { return a.Children }
func (b *BatchSplitBlock) children() []Block { return b.Children }

// namesToBlocks turns adapter names into Name blocks.
func namesToBlocks(names []string) []Block {
	out := make([]Block, len(names))
	for i, n := range names {
		out[i] = Name(n)
	}
	return out
}

// Parallel runs the named adapters side by side on one batch (see
// ParallelBlock).
func Parallel(names ...string) ParallelBlock { return ParallelBlock(namesToBlocks(names)) }

// Average averages the named adapters' outputs with uniform weights; set
// Weights for others.
func Average(names ...string) *AverageBlock { return &AverageBlock{Children: namesToBlocks(names)} }

// WeightedAverage averages the named adapters' outputs with the given
// weights (normalised to sum to 1).
func WeightedAverage(weights []float64, names ...string) *AverageBlock {
	return &AverageBlock{Children: namesToBlocks(names), Weights: weights}
}

// BatchSplit sends sizes[i] consecutive examples through the i-th adapter.
func BatchSplit(sizes []int, names ...string) *BatchSplitBlock {
	return &BatchSplitBlock{Children: namesToBlocks(names), Sizes: sizes}
}

// normalisedWeights are the Average weights summing to 1.
func (a *AverageBlock) normalisedWeights() []float64 {
	n := len(a.Children)
	w := make([]float64, n)
	if len(a.Weights) == 0 {
		for i := range w {
			w[i] = 1 / float64(n)
		}
		return w
	}
	sum := 0.0
	for _, x := range a.Weights {
		sum += x
	}
	for i := range w {
		w[i] = a.Weights[i] / sum
	}
	return w
}

// leafNames lists the adapter names in a block, depth first, without duplicates.
func leafNames(b Block) []string {
	var out []string
	seen := map[string]bool{}
	var walk func(Block)
	walk = func(b Block) {
		if n, ok := b.(Name); ok {
			if !seen[string(n)] {
				seen[string(n)] = true
				out = append(out, string(n))
			}
			return
		}
		for _, c := range b.children() {
			walk(c)
		}
	}
	if b != nil {
		walk(b)
	}
	return out
}

// lastName is the last adapter of a block (AdapterHub's last()).
func lastName(b Block) string {
	for {
		if n, ok := b.(Name); ok {
			return string(n)
		}
		c := b.children()
		if len(c) == 0 {
			return ""
		}
		b = c[len(c)-1]
	}
}

// walkBlocks calls fn on b and every block inside it.
func walkBlocks(b Block, fn func(Block)) {
	if b == nil {
		return
	}
	fn(b)
	for _, c := range b.children() {
		walkBlocks(c, fn)
	}
}

// validateBlock checks that every name exists and nesting follows the rules
// in Block's documentation.
func validateBlock(s *Setup, b Block, depth int) error {
	if err := validateTree(s, b, depth); err != nil {
		return err
	}
	// Parallel blocks address one replicated batch: their widths must agree.
	width := 0
	var err error
	walkBlocks(b, func(x Block) {
		if p, ok := x.(ParallelBlock); ok && err == nil {
			if width != 0 && width != len(p) {
				err = fmt.Errorf("the composition has Parallel blocks of %d and %d children: every Parallel in one composition must have the same number of children (they share the replicated batch)", width, len(p))
			}
			width = len(p)
		}
	})
	return err
}

func validateTree(s *Setup, b Block, depth int) error {
	switch b := b.(type) {
	case Name:
		if s.Adapter(string(b)) == nil {
			return fmt.Errorf("active composition names adapter %q, which was never added (added: %v)", b, names(s))
		}
		return nil
	case nil:
		return fmt.Errorf("nil block in the active composition")
	case *FuseBlock:
		if err := b.validate(s); err != nil {
			return err
		}
	case *AverageBlock:
		if len(b.Weights) > 0 {
			if len(b.Weights) != len(b.Children) {
				return fmt.Errorf("Average has %d weights for %d children: give one weight per child (or none for uniform)", len(b.Weights), len(b.Children))
			}
			sum := 0.0
			for _, w := range b.Weights {
				if w < 0 {
					return fmt.Errorf("Average weight %v is negative: weights must be >= 0", w)
				}
				sum += w
			}
			if sum == 0 {
				return fmt.Errorf("Average weights sum to 0: give at least one positive weight")
			}
		}
	case *BatchSplitBlock:
		if len(b.Sizes) != len(b.Children) {
			return fmt.Errorf("BatchSplit has %d batch sizes for %d children: give one size per child", len(b.Sizes), len(b.Children))
		}
		for _, n := range b.Sizes {
			if n <= 0 {
				return fmt.Errorf("BatchSplit size %d is not positive: every child needs at least one example", n)
			}
		}
	case Stack, ParallelBlock:
	default:
		return fmt.Errorf("unknown composition block %T: use Name, Stack, Fuse, Parallel, Average or BatchSplit", b)
	}
	if len(b.children()) == 0 {
		return fmt.Errorf("%s block is empty: give it at least one adapter", blockKind(b))
	}
	for _, c := range b.children() {
		if err := checkNesting(b, c, depth); err != nil {
			return err
		}
		if err := checkResidualOnly(s, b, c); err != nil {
			return err
		}
		if err := validateTree(s, c, depth+1); err != nil {
			return err
		}
	}
	return nil
}

func blockKind(b Block) string {
	switch b.(type) {
	case Name:
		return "Name"
	case Stack:
		return "Stack"
	case *FuseBlock:
		return "Fuse"
	case ParallelBlock:
		return "Parallel"
	case *AverageBlock:
		return "Average"
	case *BatchSplitBlock:
		return "BatchSplit"
	}
	return fmt.Sprintf("%T", b)
}

// allowedNestings is AdapterHub's ALLOWED_NESTINGS (Split is not supported).
var allowedNestings = map[string][]string{
	"Stack":      {"Name", "Fuse", "Parallel", "BatchSplit", "Average"},
	"Fuse":       {"Name", "Stack"},
	"Parallel":   {"Name", "Stack", "BatchSplit", "Average"},
	"BatchSplit": {"Name", "Stack", "BatchSplit", "Average"},
	"Average":    {"Name", "Stack", "BatchSplit"},
}

// checkNesting enforces which blocks may contain which, and the depth limits
// (see Block).
func checkNesting(parent, child Block, depth int) error {
	pk, ck := blockKind(parent), blockKind(child)
	if pk == "Stack" && depth >= 1 && ck != "Name" {
		return fmt.Errorf("composition too deep: a Stack inside another block may hold only adapter names, not %s", ck)
	}
	if depth+1 >= 2 && ck != "Stack" && ck != "Name" {
		return fmt.Errorf("composition too deep: %s at level %d; below level 1 only Stack and adapter names are allowed", ck, depth+1)
	}
	for _, ok := range allowedNestings[pk] {
		if ok == ck {
			return nil
		}
	}
	return fmt.Errorf("%s cannot contain %s: %s may contain only %s (AdapterHub's nesting rules)",
		pk, ck, pk, strings.Join(allowedNestings[pk], ", "))
}

// checkResidualOnly rejects, inside blocks that route per child, adapters
// that also act outside the residual points: their other hooks would apply
// to every child's examples alike.
func checkResidualOnly(s *Setup, parent, child Block) error {
	pk := blockKind(parent)
	if pk == "Stack" {
		return nil
	}
	for _, n := range leafNames(child) {
		a := s.Adapter(n)
		if a == nil {
			continue // reported by validateTree
		}
		if _, _, ok := residualLeaf(a.Method); !ok {
			return fmt.Errorf("%s cannot hold adapter %q (%s): only bottleneck-style adapters compose per child; put it in a Stack around the %s instead", pk, n, a.Method.Kind(), pk)
		}
		for _, l := range leavesOf(a.Method) {
			switch l.method.(type) {
			case embeddingsHook, linearHook, prefixHook, intermediateHook:
				return fmt.Errorf("%s cannot hold adapter %q (%s): it also changes attention or linear layers, which cannot be routed per child; put it in a Stack around the %s instead", pk, n, a.Method.Kind(), pk)
			}
		}
	}
	return nil
}

// residualBlock applies a composition block at a residual point, following
// AdapterHub's bottleneck layer: adapters pick their input (preForward), run,
// and the last one's postForward adds the residual and the original
// LayerNorm. With no bottleneck adapter at this point the plain ln(out + in)
// stays.
func (h *hooks) residualBlock(ctx *context.Context, b Block, layer int, sub encoder.Sublayer, out, in *graph.Node, ln func(*graph.Node) *graph.Node) *graph.Node {
	// The first residual input of a forward pass has the original batch:
	// Parallel replicates only inside residual points.
	h.memo("compose/original_batch", func() *graph.Node { return out })
	st := bnState{hidden: out, input: in, inputHidden: out, ln: ln}
	st = h.compose(ctx, b, layer, sub, st)
	if st.finish == nil {
		return ln(graph.Add(st.hidden, st.input))
	}
	return st.finish(st.hidden, st.inputHidden, st.input)
}

// originalBatch is the batch size before any Parallel replication.
func (h *hooks) originalBatch() int {
	return h.memoNodes["compose/original_batch"].Shape().Dim(0)
}

// bnState is what flows through a composition at one residual point.
type bnState struct {
	hidden      *graph.Node // current hidden states
	input       *graph.Node // the sub-block's residual input
	inputHidden *graph.Node // the sub-block output before any adapter
	residual    *graph.Node // the residual the next adapter adds
	ln          func(*graph.Node) *graph.Node
	// finish is the last adapter's postForward (per part after Parallel or
	// BatchSplit); nil when no adapter ran.
	finish func(hidden, inputHidden, in *graph.Node) *graph.Node
}

// placed reports whether any adapter of b has a module at this point.
func (h *hooks) placed(b Block, layer int, sub encoder.Sublayer) bool {
	for _, n := range leafNames(b) {
		if m, _, ok := residualLeaf(h.setup.Adapter(n).Method); ok && m.placedAt(h.cfg, layer, sub) {
			return true
		}
	}
	return false
}

func (h *hooks) compose(ctx *context.Context, b Block, layer int, sub encoder.Sublayer, st bnState) bnState {
	switch b := b.(type) {
	case Name:
		a := h.setup.Adapter(string(b))
		m, l, ok := residualLeaf(a.Method)
		if !ok || !m.placedAt(h.cfg, layer, sub) {
			return st
		}
		hidden, _, residual := m.preForward(st.hidden, st.input, st.ln)
		st.hidden = m.forward(l.in(adapterCtx(ctx, a.Name)), h.cfg, layer, sub, hidden, residual)
		st.residual = residual
		st.finish = finisher(m, st.ln)
		return st
	case Stack:
		for _, c := range b {
			st = h.compose(ctx, c, layer, sub, st)
		}
		return st
	case *FuseBlock:
		return h.fuse(ctx, b, layer, sub, st)
	case ParallelBlock:
		if !h.placed(b, layer, sub) {
			return st
		}
		n, orig := len(b), h.originalBatch()
		switch bsz := st.hidden.Shape().Dim(0); bsz {
		case orig:
			st = repeatState(st, n)
		case n * orig:
		default:
			panic(fmt.Sprintf("Parallel with %d children got a batch of %d at layer %d, which is neither the original %d nor %d×%d", n, bsz, layer, orig, n, orig))
		}
		sizes := make([]int, n)
		for i := range sizes {
			sizes[i] = orig
		}
		return h.split(ctx, b, sizes, layer, sub, st)
	case *BatchSplitBlock:
		if !h.placed(b, layer, sub) {
			return st
		}
		total := 0
		for _, n := range b.Sizes {
			total += n
		}
		if bsz := st.hidden.Shape().Dim(0); bsz != total {
			panic(fmt.Sprintf("BatchSplit sizes %v sum to %d but the batch has %d examples at layer %d: make the sizes sum to the batch size", b.Sizes, total, bsz, layer))
		}
		return h.split(ctx, b.Children, b.Sizes, layer, sub, st)
	case *AverageBlock:
		return h.average(ctx, b, layer, sub, st)
	}
	panic(fmt.Sprintf("composition block %s is not supported at residual points", blockKind(b)))
}

// split runs child i on the i-th consecutive part of the batch (sizes[i]
// examples) and concatenates the parts again. Each child picks its own input
// (AdapterHub applies the first adapter's pre_forward to the whole block).
func (h *hooks) split(ctx *context.Context, children []Block, sizes []int, layer int, sub encoder.Sublayer, st bnState) bnState {
	parts := make([]bnState, len(children))
	start := 0
	for i, c := range children {
		parts[i] = h.compose(ctx, c, layer, sub, sliceState(st, start, start+sizes[i]))
		start += sizes[i]
	}
	cat := func(pick func(bnState) *graph.Node) *graph.Node {
		nodes := make([]*graph.Node, len(parts))
		for i, p := range parts {
			if nodes[i] = pick(p); nodes[i] == nil {
				return nil
			}
		}
		return graph.Concatenate(nodes, 0)
	}
	out := bnState{
		hidden:      cat(func(p bnState) *graph.Node { return p.hidden }),
		input:       cat(func(p bnState) *graph.Node { return p.input }),
		inputHidden: cat(func(p bnState) *graph.Node { return p.inputHidden }),
		residual:    cat(func(p bnState) *graph.Node { return p.residual }),
		ln:          st.ln,
	}
	ln := st.ln
	out.finish = func(hidden, inputHidden, in *graph.Node) *graph.Node {
		done := make([]*graph.Node, len(parts))
		start := 0
		for i, p := range parts {
			sl := func(x *graph.Node) *graph.Node { return graph.Slice(x, graph.AxisRange(start, start+sizes[i])) }
			if p.finish == nil {
				done[i] = ln(graph.Add(sl(hidden), sl(in)))
			} else {
				done[i] = p.finish(sl(hidden), sl(inputHidden), sl(in))
			}
			start += sizes[i]
		}
		return graph.Concatenate(done, 0)
	}
	return out
}

// average runs every child placed at this point on the same input and
// averages their hidden states with the normalised weights (renormalised over
// the children placed here); the last child's postForward finishes.
func (h *hooks) average(ctx *context.Context, b *AverageBlock, layer int, sub encoder.Sublayer, st bnState) bnState {
	w := b.normalisedWeights()
	var sum *graph.Node
	total := 0.0
	var last bnState
	for i, c := range b.Children {
		if !h.placed(c, layer, sub) {
			continue
		}
		cs := h.compose(ctx, c, layer, sub, st)
		term := graph.MulScalar(cs.hidden, w[i])
		if sum == nil {
			sum = term
			st.residual = cs.residual
		} else {
			sum = graph.Add(sum, term)
		}
		total += w[i]
		last = cs
	}
	if sum == nil {
		return st
	}
	if total != 1 {
		sum = graph.MulScalar(sum, 1/total)
	}
	st.hidden = sum
	st.finish = last.finish
	return st
}

// finisher binds an adapter's postForward to the sub-block's LayerNorm.
func finisher(m residualHook, ln func(*graph.Node) *graph.Node) func(hidden, inputHidden, in *graph.Node) *graph.Node {
	return func(hidden, inputHidden, in *graph.Node) *graph.Node {
		return m.postForward(hidden, inputHidden, in, ln)
	}
}

func sliceState(st bnState, from, to int) bnState {
	sl := func(x *graph.Node) *graph.Node {
		if x == nil {
			return nil
		}
		return graph.Slice(x, graph.AxisRange(from, to))
	}
	return bnState{hidden: sl(st.hidden), input: sl(st.input), inputHidden: sl(st.inputHidden), residual: sl(st.residual), ln: st.ln}
}

// repeatState replicates the batch n times, channel-major.
func repeatState(st bnState, n int) bnState {
	rep := func(x *graph.Node) *graph.Node {
		if x == nil {
			return nil
		}
		xs := make([]*graph.Node, n)
		for i := range xs {
			xs[i] = x
		}
		return graph.Concatenate(xs, 0)
	}
	return bnState{hidden: rep(st.hidden), input: rep(st.input), inputHidden: rep(st.inputHidden), residual: rep(st.residual), ln: st.ln}
}

// initForward builds, in one graph, the variables of every adapter (active
// or not, each on its own) and of every Fuse block of the active
// composition, and the head, so that NewTuned creates all of them: a
// composition alone would skip inactive adapters, and BatchSplit would need
// the real batch size.
func (t *Tuned) initForward(ctx *context.Context, in encoder.Inputs) {
	cfg := t.Model.Config
	var blocks []Block
	for _, a := range t.Setup.Adapters {
		blocks = append(blocks, Name(a.Name))
	}
	walkBlocks(t.Setup.ActiveBlock(), func(b Block) {
		if f, ok := b.(*FuseBlock); ok {
			blocks = append(blocks, f)
		}
	})
	var hidden *graph.Node
	for _, b := range blocks {
		s := *t.Setup
		s.Active = b
		out := encoder.Forward(ctx, cfg, in, newHooks(&s, cfg, 0))
		if hidden == nil {
			hidden = out.Hidden
		}
	}
	if hidden == nil {
		hidden = encoder.Forward(ctx, cfg, in, nil).Hidden
	}
	t.Head.forward(ctx, hidden)
}
