package peft

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/gopeft/gopeft/peft/hf"
)

// Method is one PEFT method's configuration: plain data, JSON-serialisable,
// like AdapterHub's config classes. Each method lives in its own file with its
// config, initialisation and forward pass together.
type Method interface {
	// Kind names the method in files and summaries: "bottleneck", "lora", ...
	Kind() string
	// Validate checks the config against the model it will be added to.
	Validate(cfg hf.Config) error
	// NumParams is the closed-form number of parameters the method adds.
	NumParams(cfg hf.Config) int
}

// Adapter is a named instance of a Method.
type Adapter struct {
	Name   string
	Method Method
}

// Setup is everything PEFT adds to a model: named adapters, which of them are
// active and how they compose, which of them train, and AdapterDrop. It is
// data: NewTuned turns it into graph code.
type Setup struct {
	Adapters []Adapter
	// Active is the composition of active adapters; nil activates every
	// adapter, stacked in the order they were added.
	Active Block
	// Train names the adapters whose parameters train; nil trains every
	// active adapter (AdapterHub's train_adapter), or none when a Fuse block
	// is active (train_adapter_fusion: only fusion layers and the head).
	Train []string
	// Drop is AdapterDrop (Rücklé et al. 2021); the zero value drops nothing.
	Drop AdapterDrop
}

// NewSetup starts a setup with one adapter: the common case.
func NewSetup(name string, m Method) *Setup {
	return (&Setup{}).Add(name, m)
}

// Add appends a named adapter. Names must be unique; Validate reports
// duplicates, so Add can be chained in notebook cells.
func (s *Setup) Add(name string, m Method) *Setup {
	s.Adapters = append(s.Adapters, Adapter{Name: name, Method: m})
	return s
}

// Adapter returns the adapter with the given name, or nil.
func (s *Setup) Adapter(name string) *Adapter {
	for i := range s.Adapters {
		if s.Adapters[i].Name == name {
			return &s.Adapters[i]
		}
	}
	return nil
}

// ActiveBlock is the active composition, defaulting to a Stack of all adapters.
func (s *Setup) ActiveBlock() Block {
	if s.Active != nil {
		return s.Active
	}
	names := make(Stack, len(s.Adapters))
	for i, a := range s.Adapters {
		names[i] = Name(a.Name)
	}
	return names
}

// ActiveNames lists the adapters that take part in the forward pass.
func (s *Setup) ActiveNames() []string {
	return leafNames(s.ActiveBlock())
}

// Trains reports whether the named adapter's parameters train.
func (s *Setup) Trains(name string) bool {
	if s.Train != nil {
		return slices.Contains(s.Train, name)
	}
	return !s.hasActiveFuse() && slices.Contains(s.ActiveNames(), name)
}

// clone copies the setup with every method deep-copied (through its JSON
// form), so a change to the copy's methods never reaches the original's.
// Composition blocks are shared: no change edits a block in place.
func (s *Setup) clone() (*Setup, error) {
	c := *s
	c.Adapters = make([]Adapter, len(s.Adapters))
	for i, a := range s.Adapters {
		m, err := copyMethod(a.Method)
		if err != nil {
			return nil, fmt.Errorf("adapter %q: %w", a.Name, err)
		}
		c.Adapters[i] = Adapter{Name: a.Name, Method: m}
	}
	c.Train = slices.Clone(s.Train)
	return &c, nil
}

func copyMethod(m Method) (Method, error) {
	js, err := MarshalMethod(m)
	if err != nil {
		return nil, err
	}
	return UnmarshalMethod(js)
}

// Validate checks names, the composition and every method against the model.
func (s *Setup) Validate(cfg hf.Config) error {
	seen := map[string]bool{}
	for _, a := range s.Adapters {
		if a.Name == "" {
			return fmt.Errorf("adapter with method %s has an empty name: give every adapter a name", a.Method.Kind())
		}
		if seen[a.Name] {
			return fmt.Errorf("two adapters are named %q: adapter names must be unique", a.Name)
		}
		seen[a.Name] = true
		if a.Method == nil {
			return fmt.Errorf("adapter %q has no method", a.Name)
		}
		if err := a.Method.Validate(cfg); err != nil {
			return fmt.Errorf("adapter %q (%s): %w", a.Name, a.Method.Kind(), err)
		}
	}
	if len(s.Adapters) > 0 || s.Active != nil {
		if err := validateBlock(s, s.ActiveBlock(), 0); err != nil {
			return err
		}
	}
	for _, n := range s.Train {
		if !seen[n] {
			return fmt.Errorf("Train names adapter %q, which was never added (added: %v)", n, names(s))
		}
	}
	return s.Drop.validate(cfg)
}

func names(s *Setup) []string {
	out := make([]string, len(s.Adapters))
	for i, a := range s.Adapters {
		out[i] = a.Name
	}
	return out
}

// NumParams sums the closed-form parameter counts of every adapter.
func (s *Setup) NumParams(cfg hf.Config) int {
	n := 0
	for _, a := range s.Adapters {
		n += a.Method.NumParams(cfg)
	}
	return n
}

// methodRegistry maps Kind() to a constructor, for reading configs back.
var methodRegistry = map[string]func() Method{}

func registerMethod(kind string, newFn func() Method) {
	if _, dup := methodRegistry[kind]; dup {
		panic("peft: method registered twice: " + kind)
	}
	methodRegistry[kind] = newFn
}

// MarshalMethod writes a method as {"method": kind, "config": {...}}.
func MarshalMethod(m Method) ([]byte, error) {
	cfg, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return json.Marshal(struct {
		Method string          `json:"method"`
		Config json.RawMessage `json:"config"`
	}{m.Kind(), cfg})
}

// UnmarshalMethod reads what MarshalMethod wrote.
func UnmarshalMethod(data []byte) (Method, error) {
	var raw struct {
		Method string          `json:"method"`
		Config json.RawMessage `json:"config"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	newFn, ok := methodRegistry[raw.Method]
	if !ok {
		return nil, fmt.Errorf("unknown PEFT method %q: known methods are %v", raw.Method, MethodKinds())
	}
	m := newFn()
	if len(raw.Config) > 0 {
		if err := json.Unmarshal(raw.Config, m); err != nil {
			return nil, fmt.Errorf("method %s: %w", raw.Method, err)
		}
	}
	return m, nil
}

// MethodKinds lists the registered method names, sorted.
func MethodKinds() []string {
	return slices.Sorted(maps.Keys(methodRegistry))
}

// presets maps a preset's name to its constructor; each method's file
// registers its own (registerPreset), so the CLI, notebooks and docs share
// one table.
var presets = map[string]func() Method{}

func registerPreset(name string, newFn func() Method) {
	if _, dup := presets[name]; dup {
		panic("peft: preset registered twice: " + name)
	}
	presets[name] = newFn
}

// Preset returns a fresh method configuration by its preset name:
// "houlsby", "pfeiffer", "parallel", "lora", "ia3", "prefix", "prompt",
// "bitfit", "ln", "mam" (SmallMAMAdapter), "mam-paper", "mam-masks", and
// the fine-tuning baselines "full" (FullFinetune), "top2" (PartialFinetune
// of the top 2 layers) and "head" (HeadOnly).
func Preset(name string) (Method, error) {
	newFn, ok := presets[name]
	if !ok {
		return nil, fmt.Errorf("unknown preset %q: presets are %v", name, PresetNames())
	}
	return newFn(), nil
}

// PresetNames lists the preset names, sorted.
func PresetNames() []string { return slices.Sorted(maps.Keys(presets)) }
