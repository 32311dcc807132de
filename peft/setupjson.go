package peft

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// setupJSON is a Setup's JSON form, shared by run.json, config hashing and
// `gopeft finetune --config`.
type setupJSON struct {
	Adapters []adapterJSON   `json:"adapters"`
	Active   json.RawMessage `json:"active,omitempty"`
	Train    []string        `json:"train,omitempty"`
	Drop     AdapterDrop     `json:"drop"`
}

type adapterJSON struct {
	Name   string          `json:"name"`
	Method json.RawMessage `json:"method"` // MarshalMethod's output
}

// MarshalSetup writes a setup as JSON: adapters (each with MarshalMethod's
// output), the active composition, the trained adapters and AdapterDrop.
// Compositions are written as an adapter name, {"stack": [...]},
// {"parallel": [...]}, {"average": {"children": [...], "weights": [...]}},
// {"batch_split": {"children": [...], "sizes": [...]}} or
// {"fuse": {"children": [...], "config": {...}, "scope": "..."}}, children
// recursively in the same form.
func MarshalSetup(s *Setup) ([]byte, error) {
	sj := setupJSON{Train: s.Train, Drop: s.Drop}
	for _, a := range s.Adapters {
		mj, err := MarshalMethod(a.Method)
		if err != nil {
			return nil, fmt.Errorf("adapter %q: %w", a.Name, err)
		}
		sj.Adapters = append(sj.Adapters, adapterJSON{a.Name, mj})
	}
	if s.Active != nil {
		b, err := marshalBlock(s.Active)
		if err != nil {
			return nil, err
		}
		sj.Active = b
	}
	return json.Marshal(sj)
}

// The JSON bodies of the blocks that carry more than their children.
type (
	fuseJSON struct {
		Children []json.RawMessage `json:"children"`
		// Config is a pointer so that a hand-written setup without one gets
		// Fuse's default (dynamic fusion) rather than every option off.
		Config *FusionConfig `json:"config,omitempty"`
		Scope  string        `json:"scope,omitempty"`
	}
	averageJSON struct {
		Children []json.RawMessage `json:"children"`
		Weights  []float64         `json:"weights,omitempty"`
	}
	batchSplitJSON struct {
		Children []json.RawMessage `json:"children"`
		Sizes    []int             `json:"sizes"`
	}
)

// blockJSONKeys are the keys of the composition objects, for error messages.
const blockJSONKeys = `"stack", "parallel", "average", "batch_split" or "fuse"`

func marshalBlock(b Block) ([]byte, error) {
	kids := func() ([]json.RawMessage, error) {
		out := make([]json.RawMessage, 0, len(b.children()))
		for _, c := range b.children() {
			k, err := marshalBlock(c)
			if err != nil {
				return nil, err
			}
			out = append(out, k)
		}
		return out, nil
	}
	var key string
	var body any
	switch b := b.(type) {
	case nil:
		return nil, fmt.Errorf("nil block in the active composition: remove it or give a block")
	case Name:
		return json.Marshal(string(b))
	case Stack, ParallelBlock:
		k, err := kids()
		if err != nil {
			return nil, err
		}
		key, body = "stack", k
		if _, ok := b.(ParallelBlock); ok {
			key = "parallel"
		}
	case *FuseBlock:
		k, err := kids()
		if err != nil {
			return nil, err
		}
		cfg := b.Config
		key, body = "fuse", fuseJSON{Children: k, Config: &cfg, Scope: b.Scope}
	case *AverageBlock:
		k, err := kids()
		if err != nil {
			return nil, err
		}
		key, body = "average", averageJSON{Children: k, Weights: b.Weights}
	case *BatchSplitBlock:
		k, err := kids()
		if err != nil {
			return nil, err
		}
		key, body = "batch_split", batchSplitJSON{Children: k, Sizes: b.Sizes}
	default:
		return nil, fmt.Errorf("composition block %T cannot be written as JSON: use Name, Stack, Fuse, Parallel, Average or BatchSplit", b)
	}
	return json.Marshal(map[string]any{key: body})
}

// decodeStrict decodes JSON into v, rejecting unknown keys so a misspelt
// option is reported rather than silently defaulted.
func decodeStrict(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func unmarshalBlocks(what string, list []json.RawMessage) ([]Block, error) {
	out := make([]Block, 0, len(list))
	for i, k := range list {
		c, err := unmarshalBlock(k)
		if err != nil {
			return nil, fmt.Errorf("%s child %d: %w", what, i, err)
		}
		out = append(out, c)
	}
	return out, nil
}

func unmarshalBlock(raw json.RawMessage) (Block, error) {
	var name string
	if err := json.Unmarshal(raw, &name); err == nil {
		return Name(name), nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || len(obj) != 1 {
		return nil, fmt.Errorf("composition %s: want an adapter name or an object with one key, %s", raw, blockJSONKeys)
	}
	var key string
	var body json.RawMessage
	for k, v := range obj {
		key, body = k, v
	}
	switch key {
	case "stack", "parallel":
		var list []json.RawMessage
		if err := json.Unmarshal(body, &list); err != nil {
			return nil, fmt.Errorf("%s: want a list of blocks: %w", key, err)
		}
		kids, err := unmarshalBlocks(key, list)
		if err != nil {
			return nil, err
		}
		if key == "parallel" {
			return ParallelBlock(kids), nil
		}
		return Stack(kids), nil
	case "fuse":
		var fj fuseJSON
		if err := decodeStrict(body, &fj); err != nil {
			return nil, fmt.Errorf("fuse: %w (keys: children, config, scope)", err)
		}
		kids, err := unmarshalBlocks(key, fj.Children)
		if err != nil {
			return nil, err
		}
		f := &FuseBlock{Children: kids, Config: DynamicFusion(), Scope: fj.Scope}
		if fj.Config != nil {
			f.Config = *fj.Config
		}
		return f, nil
	case "average":
		var aj averageJSON
		if err := decodeStrict(body, &aj); err != nil {
			return nil, fmt.Errorf("average: %w (keys: children, weights)", err)
		}
		kids, err := unmarshalBlocks(key, aj.Children)
		if err != nil {
			return nil, err
		}
		return &AverageBlock{Children: kids, Weights: aj.Weights}, nil
	case "batch_split":
		var bj batchSplitJSON
		if err := decodeStrict(body, &bj); err != nil {
			return nil, fmt.Errorf("batch_split: %w (keys: children, sizes)", err)
		}
		kids, err := unmarshalBlocks(key, bj.Children)
		if err != nil {
			return nil, err
		}
		return &BatchSplitBlock{Children: kids, Sizes: bj.Sizes}, nil
	}
	return nil, fmt.Errorf("composition key %q is unknown: use %s", key, blockJSONKeys)
}

// UnmarshalSetup reads MarshalSetup's output.
func UnmarshalSetup(b []byte) (*Setup, error) {
	var sj setupJSON
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sj); err != nil {
		return nil, fmt.Errorf("setup JSON: %w (keys: adapters, active, train, drop)", err)
	}
	s := &Setup{Train: sj.Train, Drop: sj.Drop}
	for _, a := range sj.Adapters {
		m, err := UnmarshalMethod(a.Method)
		if err != nil {
			return nil, fmt.Errorf("adapter %q: %w", a.Name, err)
		}
		s.Add(a.Name, m)
	}
	if len(sj.Active) > 0 && string(sj.Active) != "null" {
		blk, err := unmarshalBlock(sj.Active)
		if err != nil {
			return nil, err
		}
		s.Active = blk
	}
	return s, nil
}
