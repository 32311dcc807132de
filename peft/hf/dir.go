package hf

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gopeft/gopeft/internal/atomicfile"

	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gopeft/gopeft/peft/safetensors"
)

// ModelDir is a loaded Hugging Face model directory.
type ModelDir struct {
	Path   string
	Config Config
	// Weights holds the encoder tensors under canonical names, in the dtype
	// stored in the checkpoint (convert with Tensor.Float32s or ToGoMLX).
	Weights map[string]safetensors.Tensor
	// Extra holds every other tensor (MLM/task heads, position_ids buffers)
	// under its name in the checkpoint.
	Extra map[string]safetensors.Tensor
	// TokenizerPath is tokenizer.json, else vocab.txt, else vocab.json (BPE,
	// with merges.txt beside it); empty when the directory has none.
	TokenizerPath string
	// Notes says what loading inferred or ignored, one line each.
	Notes []string
}

// LoadDir reads config.json, the safetensors weights (single file or a
// sharded model.safetensors.index.json) and locates the tokenizer. It checks
// that every tensor the config implies is present with the right shape; the
// error lists each missing or mismatched tensor.
func LoadDir(dir string) (*ModelDir, error) {
	cfg, err := ReadConfig(filepath.Join(dir, "config.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s has no config.json: a model directory holds config.json and model.safetensors, as save_pretrained writes them", dir)
	}
	if err != nil {
		return nil, err
	}
	raw, err := readWeights(dir)
	if err != nil {
		return nil, err
	}
	md := &ModelDir{Path: dir, Config: cfg, Weights: map[string]safetensors.Tensor{}, Extra: map[string]safetensors.Tensor{}}
	from := map[string]string{}
	for _, name := range sortedKeys(raw) {
		canon, ok := CanonicalName(cfg.ModelType, name)
		if !ok {
			md.Extra[name] = raw[name]
			continue
		}
		if prev, dup := from[canon]; dup {
			return nil, fmt.Errorf("%s: tensors %q and %q both map to %q; remove one of them", dir, prev, name, canon)
		}
		from[canon] = name
		md.Weights[canon] = raw[name]
	}
	// BertForMaskedLM and similar checkpoints carry no pooler.
	if md.Config.HasPooler && !hasAny(md.Weights, "pooler.dense.weight", "pooler.dense.bias") {
		md.Config.HasPooler = false
		md.Notes = append(md.Notes, "no pooler in the checkpoint: HasPooler=false")
	}
	if len(md.Extra) > 0 {
		md.Notes = append(md.Notes, fmt.Sprintf("%d tensors outside the encoder kept in Extra: %s", len(md.Extra), summarize(sortedKeys(md.Extra))))
	}
	if err := CheckWeights(md.Config, md.Weights); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	for _, t := range []string{"tokenizer.json", "vocab.txt", "vocab.json"} {
		if _, err := os.Stat(filepath.Join(dir, t)); err == nil {
			md.TokenizerPath = filepath.Join(dir, t)
			break
		}
	}
	if md.TokenizerPath == "" {
		md.Notes = append(md.Notes, "no tokenizer.json, vocab.txt or vocab.json in the directory")
	}
	return md, nil
}

func hasAny(m map[string]safetensors.Tensor, names ...string) bool {
	for _, n := range names {
		if _, ok := m[n]; ok {
			return true
		}
	}
	return false
}

func summarize(names []string) string {
	if len(names) > 6 {
		return strings.Join(names[:6], ", ") + fmt.Sprintf(", ... (%d more)", len(names)-6)
	}
	return strings.Join(names, ", ")
}

// CheckWeights compares canonical weights with ExpectedShapes(cfg). The error
// lists every missing tensor, every shape mismatch (expected vs found) and
// every canonical tensor the config does not call for (e.g. an extra layer).
func CheckWeights(cfg Config, weights map[string]safetensors.Tensor) error {
	want := ExpectedShapes(cfg)
	var problems []string
	for _, name := range sortedKeys(want) {
		t, ok := weights[name]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("missing %s (expected shape %v)", name, want[name]))
		case !slices.Equal(t.Shape, want[name]):
			problems = append(problems, fmt.Sprintf("%s has shape %v, expected %v", name, t.Shape, want[name]))
		case !isFloat(t.DType):
			problems = append(problems, fmt.Sprintf("%s has dtype %s, but encoder weights are floating point (F32, F16, BF16 or F64)", name, t.DType))
		default:
			if err := t.Validate(); err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", name, err))
			}
		}
	}
	for _, name := range sortedKeys(weights) {
		if _, ok := want[name]; !ok {
			problems = append(problems, fmt.Sprintf("unexpected %s (shape %v) for a %d-layer %s config", name, weights[name].Shape, cfg.NumLayers, cfg.ModelType))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("weights do not match config.json (%d problems; use the config.json saved with these weights, or save the model again):\n  %s", len(problems), strings.Join(problems, "\n  "))
	}
	return nil
}

// readWeights loads model.safetensors, or the shards named by
// model.safetensors.index.json, under their checkpoint names.
func readWeights(dir string) (map[string]safetensors.Tensor, error) {
	single := filepath.Join(dir, "model.safetensors")
	if _, err := os.Stat(single); err == nil {
		f, err := safetensors.Read(single)
		if err != nil {
			return nil, err
		}
		return f.Tensors, nil
	}
	index := filepath.Join(dir, "model.safetensors.index.json")
	if data, err := os.ReadFile(index); err == nil {
		var idx struct {
			WeightMap map[string]string `json:"weight_map"`
		}
		if err := json.Unmarshal(data, &idx); err != nil {
			return nil, fmt.Errorf("%s: %v", index, err)
		}
		shards := map[string]bool{}
		for _, f := range idx.WeightMap {
			if f != filepath.Base(f) {
				return nil, fmt.Errorf("%s: shard %q must be a file name in the same directory", index, f)
			}
			shards[f] = true
		}
		out := map[string]safetensors.Tensor{}
		for _, s := range sortedKeys(shards) {
			f, err := safetensors.Read(filepath.Join(dir, s))
			if err != nil {
				return nil, err
			}
			for name, t := range f.Tensors {
				if idx.WeightMap[name] == s {
					out[name] = t
				}
			}
		}
		for name, s := range idx.WeightMap {
			if _, ok := out[name]; !ok {
				return nil, fmt.Errorf("%s lists %q in %s, but that shard does not hold it", index, name, s)
			}
		}
		return out, nil
	}
	for _, other := range []string{"pytorch_model.bin", "tf_model.h5", "flax_model.msgpack"} {
		if _, err := os.Stat(filepath.Join(dir, other)); err == nil {
			return nil, fmt.Errorf("%s: only %s found; GoPEFT reads safetensors. Convert it in Python: "+
				"AutoModel.from_pretrained(dir).save_pretrained(dir, safe_serialization=True)", dir, other)
		}
	}
	return nil, fmt.Errorf("%s: no model.safetensors or model.safetensors.index.json: point at a directory written by save_pretrained (or gopeft pretrain)", dir)
}

// WriteOptions adds optional content to WriteDir.
type WriteOptions struct {
	// TokenizerFile is copied into the directory under its base name
	// (tokenizer.json or vocab.txt).
	TokenizerFile string
	// Files are written as given (README.md, tokenizer_config.json, ...).
	Files map[string][]byte
	// DType, if set ("F32", "BF16", "F16"), converts floating-point weights.
	DType string
}

// WriteDir writes a directory that both LoadDir and transformers'
// from_pretrained load: config.json, model.safetensors (canonical weights
// under HFName, then extra under their own names, metadata format=pt) and the
// optional tokenizer and files. Each file is written atomically; the
// weights are checked against the config first, so nothing is written for
// inconsistent input. For BERT pass the MLM head in extra under
// BertForMaskedLM names (cls.predictions.*); the tied decoder weight may be
// left out, transformers re-ties it to the word embeddings.
func WriteDir(dir string, cfg Config, weights, extra map[string]safetensors.Tensor, opts *WriteOptions) error {
	if opts == nil {
		opts = &WriteOptions{}
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := CheckWeights(cfg, weights); err != nil {
		return err
	}
	cfgBytes, err := cfg.Marshal()
	if err != nil {
		return err
	}
	f := &safetensors.File{Metadata: map[string]string{"format": "pt"}, Tensors: map[string]safetensors.Tensor{}}
	add := func(name string, t safetensors.Tensor) error {
		if _, dup := f.Tensors[name]; dup {
			return fmt.Errorf("tensor %q given twice (in weights and extra)", name)
		}
		if opts.DType != "" && isFloat(t.DType) {
			c, err := t.Convert(opts.DType)
			if err != nil {
				return fmt.Errorf("tensor %q: %w", name, err)
			}
			t = c
		}
		f.Tensors[name] = t
		return nil
	}
	for name, t := range weights {
		if err := add(HFName(cfg.ModelType, name), t); err != nil {
			return err
		}
	}
	for name, t := range extra {
		if IsCanonical(name) {
			return fmt.Errorf("extra tensor %q is an encoder weight; pass it in weights", name)
		}
		if err := add(name, t); err != nil {
			return err
		}
	}
	var tok []byte
	if opts.TokenizerFile != "" {
		if tok, err = os.ReadFile(opts.TokenizerFile); err != nil {
			return fmt.Errorf("tokenizer: %w", err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := safetensors.Write(filepath.Join(dir, "model.safetensors"), f); err != nil {
		return err
	}
	var errs []error
	for _, name := range sortedKeys(opts.Files) {
		if name != filepath.Base(name) {
			errs = append(errs, fmt.Errorf("file name %q must not contain a directory", name))
			continue
		}
		errs = append(errs, atomicfile.WriteFile(filepath.Join(dir, name), opts.Files[name], 0o644))
	}
	if tok != nil {
		errs = append(errs, atomicfile.WriteFile(filepath.Join(dir, filepath.Base(opts.TokenizerFile)), tok, 0o644))
	}
	// config.json last: a directory with a config is a complete one.
	errs = append(errs, atomicfile.WriteFile(filepath.Join(dir, "config.json"), cfgBytes, 0o644))
	return errors.Join(errs...)
}

func isFloat(dtype string) bool {
	return dtype == "F32" || dtype == "F16" || dtype == "BF16" || dtype == "F64"
}

// GoMLXWeights converts the canonical weights to GoMLX tensors, first
// converting floating-point tensors to dtype ("F32", "BF16", ...; "" keeps
// the stored dtype).
func (md *ModelDir) GoMLXWeights(dtype string) (map[string]*tensors.Tensor, error) {
	out := make(map[string]*tensors.Tensor, len(md.Weights))
	for _, name := range sortedKeys(md.Weights) {
		t := md.Weights[name]
		if dtype != "" && isFloat(t.DType) {
			c, err := t.Convert(dtype)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			t = c
		}
		g, err := t.ToGoMLX()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out[name] = g
	}
	return out, nil
}
