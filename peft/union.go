package peft

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gopeft/gopeft/peft/hf"
)

// Part is one method of a union, with its variables in its own sub-scope
// of the adapter's scope (/peft/<adapter>/<Scope>).
type Part struct {
	Scope  string
	Method Method
}

// union is implemented by methods made of other methods (ConfigUnion, MAM):
// the hooks, composition, estimator, placements, masks and prefix flattening
// treat each part as if it were an adapter of its own, in its sub-scope.
type union interface {
	parts() []Part
}

// leaf is a method that is not a union, at its sub-scope inside an adapter.
type leaf struct {
	scope  []string
	method Method
}

// leavesOf flattens nested unions, in order.
func leavesOf(m Method) []leaf {
	u, ok := m.(union)
	if !ok {
		return []leaf{{method: m}}
	}
	var out []leaf
	for _, p := range u.parts() {
		for _, l := range leavesOf(p.Method) {
			l.scope = append([]string{p.Scope}, l.scope...)
			out = append(out, l)
		}
	}
	return out
}

// Leaves lists the methods m is made of: m itself, or a union's parts
// (recursively). Capabilities (BaseTrainer, ActivationSizer, ...) are
// asked of each.
func Leaves(m Method) []Method {
	var out []Method
	for _, l := range leavesOf(m) {
		out = append(out, l.method)
	}
	return out
}

// in scopes an adapter's context down to the leaf's variables.
func (l leaf) in(ctx *context.Context) *context.Context {
	for _, s := range l.scope {
		ctx = ctx.In(s)
	}
	return ctx
}

// path is the leaf's sub-scope, "" for a method that is not part of a union.
func (l leaf) path() string { return strings.Join(l.scope, "/") }

// residualLeaf is the part of m that acts at residual points; a union has
// at most one (validateUnion).
func residualLeaf(m Method) (residualHook, leaf, bool) {
	for _, l := range leavesOf(m) {
		if r, ok := l.method.(residualHook); ok {
			return r, l, true
		}
	}
	return nil, leaf{}, false
}

// validateUnion checks every part, the scopes, and that at most one part
// acts at residual points (composition blocks route one module per adapter).
func validateUnion(u union, cfg hf.Config) error {
	seen := map[string]bool{}
	residual := 0
	for _, p := range u.parts() {
		if p.Method == nil {
			return fmt.Errorf("union part %q has no method", p.Scope)
		}
		if p.Scope == "" || strings.ContainsAny(p.Scope, "/.") || seen[p.Scope] {
			return fmt.Errorf("union part scope %q: give each part a distinct name without '/' or '.'", p.Scope)
		}
		seen[p.Scope] = true
		if err := p.Method.Validate(cfg); err != nil {
			return fmt.Errorf("%s: %w", p.Scope, err)
		}
	}
	for _, l := range leavesOf(u.(Method)) {
		if _, ok := l.method.(residualHook); ok {
			residual++
		}
	}
	if residual > 1 {
		return fmt.Errorf("the union has %d parts at residual points: at most one bottleneck-style part composes", residual)
	}
	return nil
}

func unionParams(u union, cfg hf.Config) int {
	n := 0
	for _, p := range u.parts() {
		n += p.Method.NumParams(cfg)
	}
	return n
}

// ConfigUnion combines methods into one adapter, each part in its own
// sub-scope, as AdapterHub's ConfigUnion does: e.g. prefix tuning with a
// parallel adapter (that union is MAM), or LoRA with IA3.
type ConfigUnion struct {
	Parts []Part `json:"parts"`
}

func init() { registerMethod("union", func() Method { return &ConfigUnion{} }) }

// Union combines the given parts into one method.
func Union(parts ...Part) *ConfigUnion { return &ConfigUnion{Parts: parts} }

func (u *ConfigUnion) Kind() string                 { return "union" }
func (u *ConfigUnion) parts() []Part                { return u.Parts }
func (u *ConfigUnion) Validate(cfg hf.Config) error { return validateUnion(u, cfg) }
func (u *ConfigUnion) NumParams(cfg hf.Config) int  { return unionParams(u, cfg) }

// partJSON is a Part on disk: the method in MarshalMethod's form.
type partJSON struct {
	Scope  string          `json:"scope"`
	Method json.RawMessage `json:"method"`
}

// MarshalJSON writes the part's method with its kind, so it reads back.
func (p Part) MarshalJSON() ([]byte, error) {
	m, err := MarshalMethod(p.Method)
	if err != nil {
		return nil, err
	}
	return json.Marshal(partJSON{p.Scope, m})
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (p *Part) UnmarshalJSON(b []byte) error {
	var pj partJSON
	if err := json.Unmarshal(b, &pj); err != nil {
		return err
	}
	m, err := UnmarshalMethod(pj.Method)
	if err != nil {
		return fmt.Errorf("union part %q: %w", pj.Scope, err)
	}
	*p = Part{Scope: pj.Scope, Method: m}
	return nil
}
