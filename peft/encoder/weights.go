package encoder

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

func shapeF32(dims ...int) shapes.Shape { return shapes.Make(dtypes.Float32, dims...) }

// baseScopes are the top-level scopes that hold pretrained weights, as
// opposed to PEFT parameters (/peft), task heads (/head) and optimizer state.
var baseScopes = []string{"embeddings", "encoder", "pooler", "cls"}

// KeyScope splits a dotted key under root into a variable's scope and
// name: KeyScope("/peft/a", "layer_0_query.lora_A.weight") is
// ("/peft/a/layer_0_query/lora_A", "weight"). Dotted keys are how tensors
// are named in safetensors files; scopes are how GoMLX names variables.
func KeyScope(root, key string) (scope, name string) {
	base := strings.TrimSuffix(root, "/")
	i := strings.LastIndexByte(key, '.')
	if i < 0 {
		if base == "" {
			base = "/"
		}
		return base, key
	}
	return base + "/" + strings.ReplaceAll(key[:i], ".", "/"), key[i+1:]
}

// ScopeKey is KeyScope's inverse: the dotted key of variable (scope, name)
// relative to root; ok is false when the variable is not under root.
func ScopeKey(root, scope, name string) (key string, ok bool) {
	prefix := strings.TrimSuffix(root, "/") + "/"
	full := strings.TrimSuffix(scope, "/") + "/"
	if !strings.HasPrefix(full, prefix) {
		return "", false
	}
	rel := strings.TrimSuffix(strings.TrimPrefix(full, prefix), "/")
	if rel == "" {
		return name, true
	}
	return strings.ReplaceAll(rel, "/", ".") + "." + name, true
}

// ScopeOf splits a canonical tensor name into the variable's scope and name:
// "encoder.layer.0.attention.self.query.weight" ->
// ("/encoder/layer/0/attention/self/query", "weight").
func ScopeOf(canonical string) (scope, name string) { return KeyScope("/", canonical) }

// CanonicalName is the inverse of ScopeOf for a context variable.
func CanonicalName(v *context.Variable) string {
	key, _ := ScopeKey("/", v.Scope(), v.Name())
	return key
}

// IsBase reports whether a variable is a pretrained (base model) weight.
func IsBase(v *context.Variable) bool {
	top := strings.TrimPrefix(v.Scope(), "/")
	if i := strings.IndexByte(top, '/'); i >= 0 {
		top = top[:i]
	}
	for _, s := range baseScopes {
		if top == s {
			return true
		}
	}
	return false
}

// SetWeights creates (or overwrites) the variables of the given canonical
// tensors in ctx. Shapes are checked against existing variables.
func SetWeights(ctx *context.Context, weights map[string]*tensors.Tensor) error {
	for _, n := range slices.Sorted(maps.Keys(weights)) {
		t := weights[n]
		scope, name := ScopeOf(n)
		if v := ctx.GetVariableByScopeAndName(scope, name); v != nil {
			if !v.Shape().Equal(t.Shape()) {
				return fmt.Errorf("weight %s: checkpoint has shape %s but the model has %s", n, t.Shape(), v.Shape())
			}
			if err := v.SetValue(t); err != nil {
				return fmt.Errorf("weight %s: %w", n, err)
			}
			continue
		}
		ctx.InAbsPath(scope).Checked(false).VariableWithValue(name, t)
	}
	return nil
}

// Weights returns the base model's variables (encoder, pooler, MLM head) by
// canonical name. Values are the live tensors: callers must not modify them.
func Weights(ctx *context.Context) (map[string]*tensors.Tensor, error) {
	out := map[string]*tensors.Tensor{}
	for v := range ctx.IterVariables() {
		if !IsBase(v) {
			continue
		}
		t, err := v.Value()
		if err != nil {
			return nil, fmt.Errorf("weight %s has no value (initialise the model first): %w", CanonicalName(v), err)
		}
		out[CanonicalName(v)] = t
	}
	return out, nil
}
