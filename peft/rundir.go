package peft

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/gopeft/gopeft/internal/atomicfile"

	"github.com/gopeft/gopeft/peft/data"
	"github.com/gopeft/gopeft/peft/encoder"
)

// A run directory holds one finished run:
//
//	run.json                     config (with its hash), metrics, curve, versions, backend, times
//	adapters/<name>/             adapter_config.json + adapter.safetensors per adapter (SaveAdapter)
//	head_config.json, head.safetensors   the task head (SaveHead)
//	peft_extra.safetensors       /peft state owned by no single adapter (Fusion), when present
//
// It is written into a temporary sibling directory and renamed into place,
// so it is never half-written. Optimizer state is not kept: a run directory
// is a finished model, not a checkpoint to resume.
const (
	RunFile       = "run.json"
	runExtraFile  = "peft_extra.safetensors"
	runAdapterDir = "adapters"
)

// RunConfig identifies a run: Finetune reuses a run directory only when the
// hash of everything below equals the stored one.
type RunConfig struct {
	Hash    string          `json:"hash"`
	Model   ModelIdentity   `json:"model"`
	Task    TaskIdentity    `json:"task"`
	Setup   json.RawMessage `json:"setup"`
	Head    Head            `json:"head"`
	Options OptionsRecord   `json:"options"`
	Seed    int64           `json:"seed"`
	Version string          `json:"gopeft_version"`
}

// ModelIdentity names the base model; WeightsSHA256 covers every base weight
// used for fine-tuning, so a changed checkpoint is never mistaken for the old one.
type ModelIdentity struct {
	Name          string `json:"name"`
	Dir           string `json:"dir,omitempty"`
	Type          string `json:"model_type"`
	Hidden        int    `json:"hidden_size"`
	Layers        int    `json:"num_layers"`
	Params        int    `json:"params"`
	WeightsSHA256 string `json:"weights_sha256"`
}

// TaskIdentity names the task; SHA256 covers every example and label.
type TaskIdentity struct {
	Name       string   `json:"name"`
	Labels     []string `json:"labels,omitempty"`
	Regression bool     `json:"regression,omitempty"`
	Train      int      `json:"train"`
	Dev        int      `json:"dev"`
	Test       int      `json:"test"`
	SHA256     string   `json:"sha256"`
}

// OptionsRecord is the part of Options that changes the result.
type OptionsRecord struct {
	Steps          int     `json:"steps"`
	BatchSize      int     `json:"batch_size"`
	LearningRate   float64 `json:"learning_rate"`
	WarmupFraction float64 `json:"warmup_fraction"`
	WeightDecay    float64 `json:"weight_decay"`
	MaxLen         int     `json:"max_len"`
	EvalEvery      int     `json:"eval_every"`
}

func newRunConfig(m *Model, task *data.Task, s *Setup, opt Options) (RunConfig, error) {
	setupJSON, err := MarshalSetup(s)
	if err != nil {
		return RunConfig{}, err
	}
	wh, err := weightsHash(m)
	if err != nil {
		return RunConfig{}, err
	}
	abs := ""
	if m.Dir != "" {
		abs, _ = filepath.Abs(m.Dir)
	}
	rc := RunConfig{
		Model: ModelIdentity{
			Name: modelName(m), Dir: abs, Type: m.Config.ModelType, Hidden: m.Config.HiddenSize,
			Layers: m.Config.NumLayers, Params: m.NumParams(), WeightsSHA256: wh,
		},
		Task: TaskIdentity{
			Name: task.Name, Labels: task.Labels, Regression: task.Regression,
			Train: len(task.Train), Dev: len(task.Dev), Test: len(task.Test), SHA256: taskHash(task),
		},
		Setup: setupJSON,
		Head:  *opt.Head,
		Options: OptionsRecord{
			Steps: opt.Steps, BatchSize: opt.BatchSize, LearningRate: opt.LearningRate,
			WarmupFraction: opt.WarmupFraction, WeightDecay: opt.WeightDecay, MaxLen: opt.MaxLen, EvalEvery: opt.EvalEvery,
		},
		Seed:    opt.Seed,
		Version: Version,
	}
	rc.Hash = rc.computeHash()
	return rc, nil
}

// computeHash hashes the config's JSON without the hash itself. The model's
// directory is left out: the weights hash identifies the model, and a
// notebook moved to another machine keeps its runs.
func (rc RunConfig) computeHash() string {
	rc.Hash, rc.Model.Dir = "", ""
	b, _ := json.Marshal(rc)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func weightsHash(m *Model) (string, error) {
	ws, err := encoder.Weights(m.Ctx)
	if err != nil {
		return "", err
	}
	keys := make([]string, 0, len(ws))
	for k := range ws {
		if !strings.HasPrefix(k, "cls.") { // the MLM head does not enter fine-tuning
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%s %v\n", k, ws[k].Shape())
		if err := ws[k].ConstBytes(func(b []byte) { h.Write(b) }); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func taskHash(t *data.Task) string {
	h := sha256.New()
	fmt.Fprintf(h, "%q %v %v\n", t.Name, t.Labels, t.Regression)
	var buf [8]byte
	for _, split := range [][]data.Example{t.Train, t.Dev, t.Test} {
		fmt.Fprintf(h, "split %d\n", len(split))
		for _, e := range split {
			h.Write([]byte(e.Text))
			binary.LittleEndian.PutUint64(buf[:], uint64(e.Label))
			h.Write(buf[:])
			fmt.Fprintf(h, "%v\x00", e.Value)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// runFile is run.json.
type runFile struct {
	Config          RunConfig           `json:"config"`
	Metrics         map[string]*float64 `json:"metrics"`
	Baseline        *float64            `json:"baseline"`
	Curve           []Point             `json:"curve"`
	TrainSeconds    float64             `json:"train_seconds"`
	TrainableParams int                 `json:"trainable_params"`
	TotalParams     int                 `json:"total_params"`
	Adapters        []string            `json:"adapters"`
	Versions        map[string]string   `json:"versions"`
	Backend         string              `json:"backend"`
	Finished        string              `json:"finished"`
}

// Versions reports GoPEFT's, Go's and GoMLX's versions.
func Versions() map[string]string {
	v := map[string]string{"gopeft": Version, "go": runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/gomlx/gomlx" {
				v["gomlx"] = d.Version
			}
		}
	}
	return v
}

// save writes the run directory atomically, replacing an older run there.
func (r *Run) save(dir string) error {
	if err := atomicfile.ReplaceDir(dir, r.writeTo); err != nil {
		return err
	}
	r.Dir = filepath.Clean(dir)
	return nil
}

func (r *Run) writeTo(dir string) error {
	t := r.Tuned
	var adapters []string
	for _, a := range t.Setup.Adapters {
		adapters = append(adapters, a.Name)
		if err := SaveAdapter(t, a.Name, filepath.Join(dir, runAdapterDir, a.Name)); err != nil {
			return err
		}
	}
	if err := SaveHead(t, dir, r.Task.Labels); err != nil {
		return err
	}
	// /peft state outside every adapter's scope (Fusion layers).
	if extra, err := scopeTensors(t.Ctx, peftRoot); err != nil {
		return err
	} else {
		for k := range extra {
			if slices.Contains(adapters, strings.SplitN(k, ".", 2)[0]) {
				delete(extra, k)
			}
		}
		if len(extra) > 0 {
			b, err := marshalTensors(extra, map[string]string{"format": "gopeft", "scope": peftRoot})
			if err != nil {
				return err
			}
			if err := atomicfile.WriteFile(filepath.Join(dir, runExtraFile), b, 0o644); err != nil {
				return err
			}
		}
	}
	c := t.Counts()
	metrics := map[string]*float64{}
	for k, v := range r.Metrics {
		metrics[k] = finiteOrNil(v)
	}
	rf := runFile{
		Config: r.Config, Metrics: metrics, Baseline: finiteOrNil(r.Baseline), Curve: r.Curve,
		TrainSeconds: r.TrainSeconds, TrainableParams: c.Trainable, TotalParams: c.Total, Adapters: adapters,
		Versions: Versions(), Backend: BackendChoice().Display(), Finished: time.Now().UTC().Format(time.RFC3339),
	}
	js, err := json.MarshalIndent(rf, "", "  ")
	if err != nil {
		return err
	}
	// run.json last: its presence marks a finished run.
	return atomicfile.WriteFile(filepath.Join(dir, RunFile), append(js, '\n'), 0o644)
}

// ReadRunFile reads a run directory's run.json: its config, metrics and curve.
func ReadRunFile(dir string) (RunConfig, map[string]float64, []Point, error) {
	rf, err := readRunFile(dir)
	if err != nil {
		return RunConfig{}, nil, nil, err
	}
	return rf.Config, nanMap(rf.Metrics), rf.Curve, nil
}

func readRunFile(dir string) (*runFile, error) {
	raw, err := os.ReadFile(filepath.Join(dir, RunFile))
	if err != nil {
		return nil, err
	}
	var rf runFile
	if err := json.Unmarshal(raw, &rf); err != nil {
		return nil, fmt.Errorf("%s: %w (delete the directory to train again)", filepath.Join(dir, RunFile), err)
	}
	return &rf, nil
}

func nanMap(m map[string]*float64) map[string]float64 {
	out := make(map[string]float64, len(m))
	for k, v := range m {
		out[k] = nanIfNil(v)
	}
	return out
}

// loadRun reconstructs the finished run in opt.RunDir if its config hash
// equals rc's; an os.IsNotExist error means there is no finished run there.
func loadRun(m *Model, task *data.Task, s *Setup, opt Options, rc RunConfig) (*Run, error) {
	dir := opt.RunDir
	rf, err := readRunFile(dir)
	if err != nil {
		return nil, err
	}
	if rf.Config.Hash != rc.Hash {
		return nil, fmt.Errorf("%s holds a run with another configuration (%s); it will be replaced", dir, describeDiff(rf.Config, rc))
	}
	t, err := NewTuned(m, s, *opt.Head, opt.Seed)
	if err != nil {
		return nil, err
	}
	for _, a := range s.Adapters {
		if err := loadAdapterWeights(t, a.Name, filepath.Join(dir, runAdapterDir, a.Name)); err != nil {
			return nil, fmt.Errorf("run %s: %w", dir, err)
		}
	}
	if err := loadHead(t, dir); err != nil {
		return nil, fmt.Errorf("run %s: %w", dir, err)
	}
	if extra := filepath.Join(dir, runExtraFile); fileExists(extra) {
		if err := loadScope(t, peftRoot, extra, true); err != nil {
			return nil, fmt.Errorf("run %s: %w", dir, err)
		}
	}
	return &Run{
		Tuned: t, Task: task, Curve: rf.Curve, Metrics: nanMap(rf.Metrics), TrainSeconds: rf.TrainSeconds,
		Dir: dir, Baseline: nanIfNil(rf.Baseline), Config: rf.Config, Loaded: true, opt: opt,
	}, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// describeDiff names the parts of two configs that differ.
func describeDiff(a, b RunConfig) string {
	var d []string
	if a.Model.WeightsSHA256 != b.Model.WeightsSHA256 || a.Model.Name != b.Model.Name {
		d = append(d, "model")
	}
	if a.Task.SHA256 != b.Task.SHA256 || a.Task.Name != b.Task.Name {
		d = append(d, "task")
	}
	if string(a.Setup) != string(b.Setup) {
		d = append(d, "setup")
	}
	if a.Head != b.Head {
		d = append(d, "head")
	}
	if a.Options != b.Options {
		d = append(d, "options")
	}
	if a.Seed != b.Seed {
		d = append(d, fmt.Sprintf("seed %d -> %d", a.Seed, b.Seed))
	}
	if a.Version != b.Version {
		d = append(d, "GoPEFT version "+a.Version+" -> "+b.Version)
	}
	if len(d) == 0 {
		return "hash differs"
	}
	return "differs in " + strings.Join(d, ", ")
}

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
