package peft

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gopeft/gopeft/internal/atomicfile"

	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gopeft/gopeft/peft/encoder"
	"github.com/gopeft/gopeft/peft/safetensors"
)

// Adapter-only files, laid out like AdapterHub's save_adapter: a directory
// per adapter holding adapter_config.json and the weights. AdapterHub writes
// pytorch_adapter.bin; GoPEFT writes safetensors (adapter.safetensors) with
// tensor names relative to the adapter's scope, dot-separated
// ("layer_0_ffn.adapter_down.weight").
const (
	AdapterConfigFile  = "adapter_config.json"
	AdapterWeightsFile = "adapter.safetensors"
	HeadConfigFile     = "head_config.json"
	HeadWeightsFile    = "head.safetensors"
)

// AdapterFileConfig is adapter_config.json. Its keys follow AdapterHub's
// (config, name, model_name, model_class, model_type, hidden_size, version);
// "config" is MarshalMethod's output.
type AdapterFileConfig struct {
	Config     json.RawMessage `json:"config"`
	Name       string          `json:"name"`
	ModelName  string          `json:"model_name"`
	ModelClass string          `json:"model_class"`
	ModelType  string          `json:"model_type"`
	HiddenSize int             `json:"hidden_size"`
	NumLayers  int             `json:"num_hidden_layers"`
	Version    string          `json:"version"`
}

// HeadFileConfig is head_config.json.
type HeadFileConfig struct {
	Head       Head     `json:"config"`
	Labels     []string `json:"labels,omitempty"`
	ModelName  string   `json:"model_name"`
	HiddenSize int      `json:"hidden_size"`
	Version    string   `json:"version"`
}

// Name is the model's directory name, or its shape for a fresh model.
func (m *Model) Name() string {
	if m.Dir != "" {
		return filepath.Base(filepath.Clean(m.Dir))
	}
	return fmt.Sprintf("gopeft-%s-%dx%d", m.Config.ModelType, m.Config.NumLayers, m.Config.HiddenSize)
}

// scopeTensors returns every variable under scope (a path such as
// "/peft/houlsby"), keyed by its path relative to scope with dots
// (encoder.ScopeKey).
func scopeTensors(ctx *context.Context, scope string) (map[string]*tensors.Tensor, error) {
	out := map[string]*tensors.Tensor{}
	for v := range ctx.IterVariables() {
		key, ok := encoder.ScopeKey(scope, v.Scope(), v.Name())
		if !ok {
			continue
		}
		t, err := v.Value()
		if err != nil {
			return nil, fmt.Errorf("variable %s has no value: %w", v.ScopeAndName(), err)
		}
		out[key] = t
	}
	return out, nil
}

// keyVariable maps a relative dotted key back to its variable under scope.
func keyVariable(ctx *context.Context, scope, key string) *context.Variable {
	return ctx.GetVariableByScopeAndName(encoder.KeyScope(scope, key))
}

func marshalTensors(ts map[string]*tensors.Tensor, meta map[string]string) ([]byte, error) {
	f := &safetensors.File{Tensors: map[string]safetensors.Tensor{}, Metadata: meta}
	for k, t := range ts {
		s, err := safetensors.FromGoMLX(t)
		if err != nil {
			return nil, fmt.Errorf("tensor %s: %w", k, err)
		}
		f.Tensors[k] = s
	}
	return safetensors.Marshal(f)
}

// SaveScope writes every variable under scope (e.g. "/peft/fusion") to one
// safetensors file, keys relative to scope with dots. It is the generic
// piece SaveAdapter and SaveHead use, for state that belongs to no single
// adapter (Fusion layers).
func SaveScope(t *Tuned, scope, file string) error {
	ts, err := scopeTensors(t.Ctx, scope)
	if err != nil {
		return err
	}
	if len(ts) == 0 {
		return fmt.Errorf("no variables under %s: nothing to save", scope)
	}
	b, err := marshalTensors(ts, map[string]string{"format": "gopeft", "scope": scope})
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(file, b, 0o644)
}

// LoadScope returns a Tuned whose variables under scope are set from a file
// SaveScope wrote. Every tensor must match an existing variable's shape;
// with create, tensors with no variable yet become new variables.
func (t *Tuned) LoadScope(scope, file string, create bool) (*Tuned, error) {
	return t.derive(func(n *Tuned) error { return loadScope(n, scope, file, create) })
}

// loadScope is LoadScope in place, for a Tuned being built. Nothing is set
// unless every tensor fits.
func loadScope(t *Tuned, scope, file string, create bool) error {
	f, err := safetensors.Read(file)
	if err != nil {
		return err
	}
	type item struct {
		key string
		v   *context.Variable
		t   *tensors.Tensor
	}
	var items []item
	var problems []string
	keys := make([]string, 0, len(f.Tensors))
	for k := range f.Tensors {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		gt, err := f.Tensors[k].ToGoMLX()
		if err != nil {
			return fmt.Errorf("%s: tensor %s: %w", file, k, err)
		}
		v := keyVariable(t.Ctx, scope, k)
		switch {
		case v == nil && !create:
			problems = append(problems, fmt.Sprintf("%s: no such variable under %s", k, scope))
		case v != nil && !v.Shape().Equal(gt.Shape()):
			problems = append(problems, fmt.Sprintf("%s: file has %s, model has %s", k, gt.Shape(), v.Shape()))
		}
		items = append(items, item{k, v, gt})
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s does not fit this model (was it saved from a different model or config?): %s", file, strings.Join(problems, "; "))
	}
	for _, it := range items {
		if it.v == nil {
			sc, name := encoder.KeyScope(scope, it.key)
			t.Ctx.InAbsPath(sc).Checked(false).VariableWithValue(name, it.t)
			continue
		}
		if err := it.v.SetValue(it.t); err != nil {
			return fmt.Errorf("%s: %w", it.key, err)
		}
	}
	t.markTrainable()
	t.version = versions.Add(1)
	return nil
}

// SaveAdapter writes one adapter's config and weights to dir (created if
// needed): adapter_config.json and adapter.safetensors, each atomically.
func SaveAdapter(t *Tuned, name, dir string) error {
	a := t.Setup.Adapter(name)
	if a == nil {
		return fmt.Errorf("no adapter named %q to save (adapters: %v)", name, names(t.Setup))
	}
	cfgJSON, err := MarshalMethod(a.Method)
	if err != nil {
		return err
	}
	ts, err := scopeTensors(t.Ctx, AdapterScope(name))
	if err != nil {
		return err
	}
	base, err := trainedBaseTensors(t, a.Method) // BitFit, LN tuning, full fine-tuning (baseio.go)
	if err != nil {
		return err
	}
	if len(ts) == 0 && len(base) == 0 {
		return fmt.Errorf("adapter %q has no variables: was this Tuned built with NewTuned?", name)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := saveBaseWeights(base, a.Method, name, dir); err != nil {
		return err
	}
	fc := AdapterFileConfig{
		Config: cfgJSON, Name: name, ModelName: t.Model.Name(), ModelClass: "BertModel",
		ModelType: t.Model.Config.ModelType, HiddenSize: t.Model.Config.HiddenSize,
		NumLayers: t.Model.Config.NumLayers, Version: "gopeft-" + Version,
	}
	js, err := json.MarshalIndent(fc, "", "  ")
	if err != nil {
		return err
	}
	b, err := marshalTensors(ts, map[string]string{"format": "gopeft", "adapter": name, "method": a.Method.Kind()})
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, AdapterWeightsFile), b, 0o644); err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, AdapterConfigFile), append(js, '\n'), 0o644)
}

// ReadAdapterConfig reads dir/adapter_config.json and its method.
func ReadAdapterConfig(dir string) (AdapterFileConfig, Method, error) {
	var fc AdapterFileConfig
	raw, err := os.ReadFile(filepath.Join(dir, AdapterConfigFile))
	if err != nil {
		return fc, nil, fmt.Errorf("reading adapter: %w (an adapter directory holds %s and %s, as SaveAdapter writes them)", err, AdapterConfigFile, AdapterWeightsFile)
	}
	if err := json.Unmarshal(raw, &fc); err != nil {
		return fc, nil, fmt.Errorf("%s: %w", filepath.Join(dir, AdapterConfigFile), err)
	}
	if fc.Name == "" || len(fc.Config) == 0 {
		return fc, nil, fmt.Errorf("%s: missing \"name\" or \"config\"", filepath.Join(dir, AdapterConfigFile))
	}
	m, err := UnmarshalMethod(fc.Config)
	if err != nil {
		return fc, nil, fmt.Errorf("%s: %w", filepath.Join(dir, AdapterConfigFile), err)
	}
	return fc, m, nil
}

// LoadAdapter returns a Tuned with the adapter directory dir read in. A
// new name is added to the setup (and becomes active only if the setup
// activates every adapter); an existing name is overwritten, its method
// replaced by the file's. Shapes are checked first; errors name the
// mismatched tensors.
func (t *Tuned) LoadAdapter(dir string) (*Tuned, string, error) {
	fc, method, err := ReadAdapterConfig(dir)
	if err != nil {
		return nil, "", err
	}
	cfg := t.Model.Config
	if fc.HiddenSize != 0 && fc.HiddenSize != cfg.HiddenSize {
		return nil, "", fmt.Errorf("adapter %q in %s was trained on a model with hidden size %d, this model has %d: load it into the model it was made for (%s)",
			fc.Name, dir, fc.HiddenSize, cfg.HiddenSize, fc.ModelName)
	}
	if err := method.Validate(cfg); err != nil {
		return nil, "", fmt.Errorf("adapter %q in %s: %w", fc.Name, dir, err)
	}
	name := fc.Name
	if t.Setup.Adapter(name) != nil {
		// Overwrite: the file must fit the existing variables exactly.
		if err := compareAdapterFile(t, name, dir); err != nil {
			return nil, "", err
		}
	}
	n, err := t.derive(func(n *Tuned) error {
		if a := n.Setup.Adapter(name); a != nil {
			a.Method = method
		} else {
			n.Setup.Add(name, method)
			if err := n.createAdapterVariables(name); err != nil {
				return err
			}
		}
		return loadAdapterWeights(n, name, dir)
	})
	if err != nil {
		return nil, "", err
	}
	return n, name, nil
}

// createAdapterVariables builds a forward pass with only the named adapter
// active, so its variables exist (new ones initialised, seed 0) whatever the
// setup's active composition is.
func (t *Tuned) createAdapterVariables(name string) error {
	only := &Setup{Adapters: t.Setup.Adapters, Active: Name(name)}
	err := initVariables(t.Ctx, 0, func(ctx *context.Context, in encoder.Inputs) {
		h := newHooks(only, t.Model.Config, 0)
		encoder.Forward(ctx, t.Model.Config, in, h)
	})
	if err != nil {
		return fmt.Errorf("creating adapter %q: %w", name, err)
	}
	return nil
}

// loadAdapterWeights checks that the file holds exactly the adapter's
// variables, with equal shapes, then sets them.
func loadAdapterWeights(t *Tuned, name, dir string) error {
	file := filepath.Join(dir, AdapterWeightsFile)
	f, err := safetensors.ReadHeader(file)
	if err != nil {
		return fmt.Errorf("adapter %q: %w", name, err)
	}
	have, err := scopeTensors(t.Ctx, AdapterScope(name))
	if err != nil {
		return err
	}
	var missing []string
	for k := range have {
		if _, ok := f.Tensors[k]; !ok {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("adapter %q: %s lacks tensors %v that its config implies: the file is incomplete or from another GoPEFT version", name, file, missing)
	}
	if err := loadScope(t, AdapterScope(name), file, false); err != nil {
		return err
	}
	return loadBaseWeights(t, dir)
}

// compareAdapterFile reports every tensor whose name or shape differs
// between an adapter file and the adapter's variables in t.
func compareAdapterFile(t *Tuned, name, dir string) error {
	file := filepath.Join(dir, AdapterWeightsFile)
	h, err := safetensors.ReadHeader(file)
	if err != nil {
		return fmt.Errorf("adapter %q: %w", name, err)
	}
	have, err := scopeTensors(t.Ctx, AdapterScope(name))
	if err != nil {
		return err
	}
	var problems []string
	for k, info := range h.Tensors {
		v, ok := have[k]
		switch {
		case !ok:
			problems = append(problems, k+": not in this Tuned's adapter")
		case !slices.Equal(v.Shape().Dimensions, info.Shape):
			problems = append(problems, fmt.Sprintf("%s: file %v, Tuned %v", k, info.Shape, v.Shape().Dimensions))
		}
	}
	for k := range have {
		if _, ok := h.Tensors[k]; !ok {
			problems = append(problems, k+": missing from the file")
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return fmt.Errorf("adapter %q in %s does not fit the Tuned's adapter of that name (different config?): %s; remove it from the setup first or load into a fresh Tuned",
			name, dir, strings.Join(problems, "; "))
	}
	return nil
}

// SaveHead writes the task head (head_config.json, head.safetensors) to dir.
// labels (optional) are the class names, kept for reading predictions.
func SaveHead(t *Tuned, dir string, labels []string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := SaveScope(t, "/head", filepath.Join(dir, HeadWeightsFile)); err != nil {
		return fmt.Errorf("saving head: %w", err)
	}
	js, err := json.MarshalIndent(HeadFileConfig{
		Head: t.Head, Labels: labels, ModelName: t.Model.Name(),
		HiddenSize: t.Model.Config.HiddenSize, Version: "gopeft-" + Version,
	}, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, HeadConfigFile), append(js, '\n'), 0o644)
}

// ReadHeadConfig reads dir/head_config.json.
func ReadHeadConfig(dir string) (HeadFileConfig, error) {
	var hc HeadFileConfig
	raw, err := os.ReadFile(filepath.Join(dir, HeadConfigFile))
	if err != nil {
		return hc, fmt.Errorf("reading head: %w (SaveHead writes %s and %s)", err, HeadConfigFile, HeadWeightsFile)
	}
	if err := json.Unmarshal(raw, &hc); err != nil {
		return hc, fmt.Errorf("%s: %w", filepath.Join(dir, HeadConfigFile), err)
	}
	return hc, nil
}

// LoadHead returns a Tuned with the head weights of dir. The head's config
// must equal t.Head (build the Tuned with ReadHeadConfig's Head to load any
// head).
func (t *Tuned) LoadHead(dir string) (*Tuned, error) {
	return t.derive(func(n *Tuned) error { return loadHead(n, dir) })
}

// loadHead is LoadHead in place, for a Tuned being built.
func loadHead(t *Tuned, dir string) error {
	hc, err := ReadHeadConfig(dir)
	if err != nil {
		return err
	}
	if hc.Head != t.Head {
		return fmt.Errorf("head in %s is %+v but this Tuned's head is %+v: build the Tuned with the saved head (ReadHeadConfig(dir).Head)", dir, hc.Head, t.Head)
	}
	err = loadScope(t, "/head", filepath.Join(dir, HeadWeightsFile), false)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("head in %s: %w", dir, err)
	}
	return err
}

// A Tuned's own weights in one directory, everything beyond the base model
// (what the run store keeps of a run):
//
//	adapters/<name>/        adapter_config.json + adapter.safetensors (SaveAdapter)
//	head_config.json, head.safetensors   the task head (SaveHead)
//	peft_extra.safetensors  /peft state that no single adapter owns (Fusion layers)
const (
	AdaptersDir = "adapters"
	ExtraFile   = "peft_extra.safetensors"
)

// SaveTuned writes t's adapters, head and shared PEFT state into dir.
// labels (optional) are the head's class names.
func SaveTuned(t *Tuned, dir string, labels []string) error {
	for _, a := range t.Setup.Adapters {
		if err := SaveAdapter(t, a.Name, filepath.Join(dir, AdaptersDir, a.Name)); err != nil {
			return err
		}
	}
	if err := SaveHead(t, dir, labels); err != nil {
		return err
	}
	extra, err := scopeTensors(t.Ctx, peftRoot)
	if err != nil {
		return err
	}
	for k := range extra {
		if t.Setup.Adapter(strings.SplitN(k, ".", 2)[0]) != nil {
			delete(extra, k)
		}
	}
	if len(extra) == 0 {
		return nil
	}
	b, err := marshalTensors(extra, map[string]string{"format": "gopeft", "scope": peftRoot})
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, ExtraFile), b, 0o644)
}

// LoadTuned is SaveTuned's inverse: a new Tuned on m with setup s and head
// (NewTuned with seed), its weights read from dir.
func LoadTuned(m *Model, s *Setup, head Head, seed int64, dir string) (*Tuned, error) {
	t, err := NewTuned(m, s, head, seed)
	if err != nil {
		return nil, err
	}
	for _, a := range s.Adapters {
		if err := loadAdapterWeights(t, a.Name, filepath.Join(dir, AdaptersDir, a.Name)); err != nil {
			return nil, err
		}
	}
	if err := loadHead(t, dir); err != nil {
		return nil, err
	}
	if extra := filepath.Join(dir, ExtraFile); fileExists(extra) {
		if err := loadScope(t, peftRoot, extra, true); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
