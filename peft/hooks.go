package peft

import (
	"slices"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gopeft/gopeft/peft/encoder"
	"github.com/gopeft/gopeft/peft/hf"
)

// The hook interfaces a method implements on its config type to take part in
// the forward pass; each receives ctx already scoped to the adapter's own
// variables (/peft/<name>). A method implements only the hooks it needs.
type (
	embeddingsHook interface {
		embeddings(ctx *context.Context, cfg hf.Config, x, mask *graph.Node) (*graph.Node, *graph.Node)
	}
	linearHook interface {
		linear(ctx *context.Context, cfg hf.Config, layer int, site encoder.Site, x, y *graph.Node) *graph.Node
	}
	prefixHook interface {
		// prefix returns [batch, P, hidden] keys and values for a layer; memo
		// caches graph pieces shared by all layers of one forward pass.
		prefix(ctx *context.Context, cfg hf.Config, layer int, x *graph.Node, memo memoFn) (keys, values *graph.Node)
	}
	intermediateHook interface {
		intermediate(ctx *context.Context, cfg hf.Config, layer int, h *graph.Node) *graph.Node
	}
	// residualHook marks bottleneck-style adapters, which compose through
	// Blocks (Stack, Fuse, Parallel, ...) at the residual points.
	residualHook interface {
		// placedAt reports whether the adapter has a module at this point.
		placedAt(cfg hf.Config, layer int, sub encoder.Sublayer) bool
		// preForward picks the adapter's input, the Fusion query and its
		// residual from the sub-block output and residual input.
		preForward(out, in *graph.Node, ln func(*graph.Node) *graph.Node) (hidden, query, residual *graph.Node)
		// forward is the adapter module itself.
		forward(ctx *context.Context, cfg hf.Config, layer int, sub encoder.Sublayer, hidden, residual *graph.Node) *graph.Node
		// postForward finishes: residual and the original LayerNorm.
		postForward(hidden, inputHidden, in *graph.Node, ln func(*graph.Node) *graph.Node) *graph.Node
	}
)

// ChangesEmbeddings reports whether m acts at the embeddings (prompt
// tuning), so gradients flow down to them.
func ChangesEmbeddings(m Method) bool {
	_, ok := m.(embeddingsHook)
	return ok
}

// HasHooks reports whether a method (a leaf, not a union) takes part in
// the forward pass through any hook; methods that only unfreeze base
// weights (BitFit, FullFinetune, PartialFinetune) or nothing (HeadOnly)
// do not.
func HasHooks(m Method) bool {
	switch m.(type) {
	case embeddingsHook, linearHook, prefixHook, intermediateHook, residualHook:
		return true
	}
	return false
}

// memoFn returns the node cached under key, building it on first use.
type memoFn func(key string, build func() *graph.Node) *graph.Node

// hooks implements encoder.Hooks for a Setup.
type hooks struct {
	setup *Setup
	cfg   hf.Config
	// dropBelow skips every adapter in layers below it (AdapterDrop); it is
	// fixed per compiled graph, so dropped layers cost nothing.
	dropBelow int
	// merged adapters are folded into the base weights: they add nothing.
	merged    []string
	memoNodes map[string]*graph.Node
}

func (h *hooks) memo(key string, build func() *graph.Node) *graph.Node {
	if n, ok := h.memoNodes[key]; ok {
		return n
	}
	n := build()
	h.memoNodes[key] = n
	return n
}

var _ encoder.Hooks = (*hooks)(nil)

func newHooks(s *Setup, cfg hf.Config, dropBelow int) *hooks {
	return &hooks{setup: s, cfg: cfg, dropBelow: dropBelow, memoNodes: map[string]*graph.Node{}}
}

// peftScope is the top scope of every PEFT parameter.
const peftScope = "peft"

// AdapterScope is the scope of the named adapter's variables ("/peft/<name>").
func AdapterScope(name string) string { return "/" + peftScope + "/" + name }

// peftRoot is the scope that holds all PEFT parameters.
const peftRoot = "/" + peftScope

// adapterOf names the adapter (or fusion layer) a variable scope belongs to.
func adapterOf(scope string) (name string, ok bool) {
	rest, ok := strings.CutPrefix(scope, peftRoot+"/")
	if !ok {
		return "", false
	}
	name, _, _ = strings.Cut(rest, "/")
	return name, true
}

// adapterCtx is root scoped to an adapter's variables (AdapterScope).
func adapterCtx(root *context.Context, name string) *context.Context {
	return root.Checked(false).In(peftScope).In(name)
}

// active returns the active adapters in order, with their methods.
func (h *hooks) active() []Adapter {
	var out []Adapter
	for _, n := range h.setup.ActiveNames() {
		if slices.Contains(h.merged, n) {
			continue
		}
		out = append(out, *h.setup.Adapter(n))
	}
	return out
}

func (h *hooks) dropped(layer int) bool { return layer < h.dropBelow }

// each calls fn for every part (leaf) of every active adapter, in order,
// with ctx scoped to that part's variables; key names the part for memo.
func (h *hooks) each(ctx *context.Context, fn func(ctx *context.Context, m Method, key string)) {
	for _, a := range h.active() {
		for _, l := range leavesOf(a.Method) {
			fn(l.in(adapterCtx(ctx, a.Name)), l.method, a.Name+"/"+l.path())
		}
	}
}

func (h *hooks) Embeddings(ctx *context.Context, x, mask *graph.Node) (*graph.Node, *graph.Node) {
	h.each(ctx, func(ctx *context.Context, m Method, _ string) {
		if e, ok := m.(embeddingsHook); ok {
			x, mask = e.embeddings(ctx, h.cfg, x, mask)
		}
	})
	return x, mask
}

func (h *hooks) Linear(ctx *context.Context, layer int, site encoder.Site, x, y *graph.Node) *graph.Node {
	if h.dropped(layer) {
		return y
	}
	h.each(ctx, func(ctx *context.Context, m Method, _ string) {
		if l, ok := m.(linearHook); ok {
			y = l.linear(ctx, h.cfg, layer, site, x, y)
		}
	})
	return y
}

func (h *hooks) Prefix(ctx *context.Context, layer int, x *graph.Node) (*graph.Node, *graph.Node) {
	if h.dropped(layer) {
		return nil, nil
	}
	var keys, values []*graph.Node
	h.each(ctx, func(ctx *context.Context, m Method, part string) {
		p, ok := m.(prefixHook)
		if !ok {
			return
		}
		memo := func(key string, build func() *graph.Node) *graph.Node { return h.memo(part+"/"+key, build) }
		if k, v := p.prefix(ctx, h.cfg, layer, x, memo); k != nil {
			keys, values = append(keys, k), append(values, v)
		}
	})
	switch len(keys) {
	case 0:
		return nil, nil
	case 1:
		return keys[0], values[0]
	}
	return graph.Concatenate(keys, 1), graph.Concatenate(values, 1)
}

func (h *hooks) Intermediate(ctx *context.Context, layer int, x *graph.Node) *graph.Node {
	if h.dropped(layer) {
		return x
	}
	h.each(ctx, func(ctx *context.Context, m Method, _ string) {
		if i, ok := m.(intermediateHook); ok {
			x = i.intermediate(ctx, h.cfg, layer, x)
		}
	})
	return x
}

func (h *hooks) Residual(ctx *context.Context, layer int, sub encoder.Sublayer, out, in *graph.Node, ln func(*graph.Node) *graph.Node) *graph.Node {
	if h.dropped(layer) {
		return ln(graph.Add(out, in))
	}
	return h.residualBlock(ctx, h.setup.ActiveBlock(), layer, sub, out, in, ln)
}
