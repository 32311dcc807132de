package peft

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gopeft/gopeft/peft/encoder"
)

// Block is a composition of adapters, as in AdapterHub: a single adapter
// (Name) or one of Stack, Fuse, Parallel, Average and BatchSplit.
type Block interface {
	children() []Block
}

// Name activates one adapter.
type Name string

// Stack applies its children one after another at each residual point, the
// output of one feeding the next (MAD-X's language + task adapters).
type Stack []Block

func (Name) children() []Block    { return nil }
func (s Stack) children() []Block { return s }

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

// validateBlock checks that every name exists and nesting follows the rules
// (see nestingRules).
func validateBlock(s *Setup, b Block, depth int) error {
	switch b := b.(type) {
	case Name:
		if s.Adapter(string(b)) == nil {
			return fmt.Errorf("active composition names adapter %q, which was never added (added: %v)", b, names(s))
		}
		return nil
	case nil:
		return fmt.Errorf("nil block in the active composition")
	}
	if len(b.children()) == 0 {
		return fmt.Errorf("%s block is empty: give it at least one adapter", blockKind(b))
	}
	for _, c := range b.children() {
		if err := checkNesting(b, c, depth); err != nil {
			return err
		}
		if err := validateBlock(s, c, depth+1); err != nil {
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
	}
	return fmt.Sprintf("%T", b)
}

// residualBlock applies a composition block at a residual point, following
// AdapterHub's bottleneck layer: each adapter's preForward picks its input,
// the adapters run, and the last one's postForward adds the residual and the
// original LayerNorm. With no bottleneck adapter at this point the plain
// ln(out + in) stays.
func (h *hooks) residualBlock(ctx *context.Context, b Block, layer int, sub encoder.Sublayer, out, in *graph.Node, ln func(*graph.Node) *graph.Node) *graph.Node {
	st := bnState{hidden: out, input: in, inputHidden: out, ln: ln}
	st = h.compose(ctx, b, layer, sub, st)
	if st.last == nil {
		return ln(graph.Add(out, in))
	}
	return st.last.postForward(st.hidden, out, st.input, ln)
}

// bnState is what flows through a composition at one residual point.
type bnState struct {
	hidden      *graph.Node // current hidden states
	input       *graph.Node // the sub-block's residual input
	inputHidden *graph.Node // the sub-block output before any adapter
	residual    *graph.Node // the residual the next adapter adds
	ln          func(*graph.Node) *graph.Node
	last        residualHook // the last adapter applied, whose postForward finishes
}

func (h *hooks) compose(ctx *context.Context, b Block, layer int, sub encoder.Sublayer, st bnState) bnState {
	switch b := b.(type) {
	case Name:
		a := h.setup.Adapter(string(b))
		m, ok := a.Method.(residualHook)
		if !ok || !m.placedAt(h.cfg, layer, sub) {
			return st
		}
		hidden, _, residual := m.preForward(st.hidden, st.input, st.ln)
		st.hidden = m.forward(adapterCtx(ctx, a.Name), h.cfg, layer, sub, hidden, residual)
		st.residual = residual
		st.last = m
		return st
	case Stack:
		for _, c := range b {
			st = h.compose(ctx, c, layer, sub, st)
		}
		return st
	}
	panic(fmt.Sprintf("composition block %s is not supported at residual points", blockKind(b)))
}

// checkNesting enforces which blocks may contain which (see nestingRules).
func checkNesting(parent, child Block, depth int) error {
	if _, ok := parent.(Stack); ok {
		return nil
	}
	return fmt.Errorf("%s cannot contain %s", blockKind(parent), blockKind(child))
}
