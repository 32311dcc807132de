// Package runstore keeps finished training runs on disk, so that re-running
// a notebook cell loads its run in seconds instead of training again. It
// wraps train.Finetune: a run directory is reused only when it holds a run
// of exactly the same configuration (model weights, task, setup, head,
// options, seed and GoPEFT version, hashed).
//
//	run, err := runstore.Finetune("runs/houlsby", model, task, setup, train.Options{Steps: 240, Seed: 1})
//	if err != nil { ... }
//	fmt.Println(run.Loaded, run.Metrics["test_accuracy"]) // true on the second call
package runstore

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/gopeft/gopeft/internal/atomicfile"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/data"
	"github.com/gopeft/gopeft/peft/encoder"
	"github.com/gopeft/gopeft/peft/train"
)

// A run directory holds one finished run: run.json (the configuration
// with its hash, metrics, curve, versions, backend, times) beside the
// tuned model's own weights as peft.SaveTuned writes them (adapters/<name>/,
// the head, peft_extra.safetensors). It is built in a temporary sibling
// directory and renamed into place, so it is never half-written. Optimizer
// state is not kept: a run directory is a finished model. While a run
// trains, its checkpoints (train.Control) are in CheckpointDir inside the
// run directory; a run killed before it finished resumes from them (set
// Options.Control.CheckpointEvery < 0 for none).
const RunFile = "run.json"

// CheckpointDir is where an unfinished run keeps its checkpoints, inside
// the run directory.
const CheckpointDir = "checkpoints"

// Run is a finished run and where the store keeps it.
type Run struct {
	*train.Run
	Dir    string // the run directory
	Loaded bool   // loaded from Dir rather than trained
	Config Config
	// Backend is the name of the backend the run was trained on ("blas",
	// "go", "xla:cuda"; empty for runs saved before it was recorded).
	Backend string
}

// backendName is this process's backend, as a run records it.
func backendName() string { return peft.BackendChoice().Name }

// recordedBackend is the name in run.json's "backend" (Choice.Display: the
// name, then the plugin path in parentheses).
func recordedBackend(display string) string {
	name, _, _ := strings.Cut(display, " (")
	return name
}

// Finetune returns the finished run in dir when it was trained with the
// same configuration; otherwise it trains (train.Finetune) and saves the
// run in dir, replacing what was there. Whether it loads or trains anew is
// said through opt.Log. An empty dir trains without keeping the run (its
// Config still identifies it).
func Finetune(dir string, m *peft.Model, task *data.Task, s *peft.Setup, opt train.Options) (*Run, error) {
	if m == nil || task == nil {
		return nil, fmt.Errorf("Finetune needs a model and a task")
	}
	if dir == "" {
		r, err := train.Finetune(m, task, s, opt)
		if err != nil {
			return nil, err
		}
		rc, err := NewConfig(m, task, s, r.Options)
		if err != nil {
			return nil, err
		}
		return &Run{Run: r, Config: rc, Backend: backendName()}, nil
	}
	if s == nil {
		s = &peft.Setup{}
	}
	if err := s.Validate(m.Config); err != nil {
		return nil, err
	}
	opt = opt.Resolved(m, task)
	rc, err := NewConfig(m, task, s, opt)
	if err != nil {
		return nil, err
	}
	say := func(format string, args ...any) {
		if opt.Log != nil {
			opt.Log(fmt.Sprintf(format, args...))
		}
	}
	r, err := load(dir, m, task, s, opt, rc)
	switch {
	case err == nil && r.Backend != "" && r.Backend != backendName():
		if opt.Store.RetrainOnOtherBackend {
			say("gopeft: the run in %s was trained on backend %s (GoPEFT %s); training again on %s (Store.RetrainOnOtherBackend)", dir, r.Backend, r.Config.Version, backendName())
			break
		}
		say("gopeft: loaded the finished run in %s, trained on backend %s (GoPEFT %s), not this %s: its weights and metrics are %s's; set Options.Store.RetrainOnOtherBackend (or delete the directory) to train again here", dir, r.Backend, r.Config.Version, backendName(), r.Backend)
		return r, nil
	case err == nil:
		say("gopeft: loaded the finished run in %s (config %s); delete the directory to train again", dir, rc.Hash[:12])
		return r, nil
	case !os.IsNotExist(err):
		say("gopeft: training anew: %v", err)
	}
	// Fail now, not after training, where the run cannot be kept.
	if err := atomicfile.CheckWritable(dir); err != nil {
		return nil, fmt.Errorf("cannot keep a run in %s: %w (pick another run directory)", dir, err)
	}
	// Checkpoints live in the run directory until the finished run replaces
	// it; a killed run resumes from them. Pruning runs cannot resume yet.
	if opt.Control.CheckpointDir == "" && opt.Control.CheckpointEvery > 0 && opt.Prune == nil {
		opt.Control.CheckpointDir, opt.Control.Key = filepath.Join(dir, CheckpointDir), rc.Hash
	}
	_, statErr := os.Stat(dir)
	tr, err := train.Finetune(m, task, s, opt)
	if err != nil {
		if os.IsNotExist(statErr) {
			// Training stopped with an error (not a kill): what it started
			// to write there is of no use.
			os.RemoveAll(dir)
		}
		return nil, err
	}
	r = &Run{Run: tr, Dir: filepath.Clean(dir), Config: rc, Backend: backendName()}
	if err := atomicfile.ReplaceDir(dir, r.writeTo); err != nil {
		return nil, fmt.Errorf("training finished but saving the run failed: %w", err)
	}
	return r, nil
}

// Config identifies a run: Finetune reuses a run directory only when the
// hash of everything below equals the stored one.
type Config struct {
	Hash    string          `json:"hash"`
	Model   ModelIdentity   `json:"model"`
	Task    TaskIdentity    `json:"task"`
	Setup   json.RawMessage `json:"setup"`
	Head    peft.Head       `json:"head"`
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

// OptionsRecord is the part of Options that changes the result. Devices is
// not in it: data parallel steps compute the same updates up to float
// rounding, so the run directory does not depend on the device count.
type OptionsRecord struct {
	Steps          int     `json:"steps"`
	BatchSize      int     `json:"batch_size"`
	LearningRate   float64 `json:"learning_rate"`
	WarmupFraction float64 `json:"warmup_fraction"`
	WeightDecay    float64 `json:"weight_decay"`
	MaxLen         int     `json:"max_len"`
	EvalEvery      int     `json:"eval_every"`
	// Adapters identifies each adapter read in before training by the
	// SHA-256 of its files, so retrained source adapters retrain the run.
	Adapters []string `json:"adapters,omitempty"`
	// Distill and Prune identify Options.Distill (the teacher by the hash of
	// its weights, T, alpha) and Options.Prune; empty when unused (distill.go).
	Distill string `json:"distill,omitempty"`
	Prune   string `json:"prune,omitempty"`
	// HeadFrom identifies Recipe.HeadFrom's head by the SHA-256 of its
	// files; the path itself stays out of the hash, so a moved run store
	// keeps its runs and a retrained head retrains the run.
	HeadFrom string `json:"head_from_sha256,omitempty"`
	// MixedPrecision changes results by rounding; omitted when off, so
	// float32 runs keep their hashes.
	MixedPrecision bool `json:"mixed_precision,omitempty"`
	// Control is early stopping's part of Options.Control (absent when off,
	// so runs without it keep their hashes).
	Control train.ControlRecord `json:"control,omitzero"`
	// Recipe is left out of the JSON (and the hash) when it is the zero
	// value, so runs from before it existed keep their hashes.
	Recipe train.Recipe `json:"recipe,omitzero"`
}

// NewConfig identifies a run of setup s on m and task with resolved options
// opt (train.Options.Resolved), with its hash.
func NewConfig(m *peft.Model, task *data.Task, s *peft.Setup, opt train.Options) (Config, error) {
	setupJSON, err := peft.MarshalSetup(s)
	if err != nil {
		return Config{}, err
	}
	wh, err := weightsHash(m)
	if err != nil {
		return Config{}, err
	}
	abs := ""
	if m.Dir != "" {
		abs, _ = filepath.Abs(m.Dir)
	}
	rc := Config{
		Model: ModelIdentity{
			Name: m.Name(), Dir: abs, Type: m.Config.ModelType, Hidden: m.Config.HiddenSize,
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
			MixedPrecision: opt.Speed.MixedPrecision,
			Control:        opt.Control.Record(),
			Recipe:         opt.Recipe,
		},
		Seed:    opt.Seed,
		Version: peft.Version,
	}
	for _, dir := range opt.Adapters {
		id, err := adapterHash(dir)
		if err != nil {
			return Config{}, err
		}
		rc.Options.Adapters = append(rc.Options.Adapters, id)
	}
	if rc.Options.Distill, rc.Options.Prune, err = extrasRecord(opt); err != nil {
		return Config{}, err
	}
	if dir := opt.Recipe.HeadFrom; dir != "" {
		if rc.Options.HeadFrom, err = filesHash(dir, peft.HeadConfigFile, peft.HeadWeightsFile); err != nil {
			return Config{}, fmt.Errorf("Recipe.HeadFrom: %w", err)
		}
	}
	rc.Hash = rc.computeHash()
	return rc, nil
}

// computeHash hashes the config's JSON without the hash itself. Paths are
// left out (the model's directory, the head's): hashes of their contents
// identify them, and a notebook moved to another machine keeps its runs.
func (rc Config) computeHash() string {
	rc.Hash, rc.Model.Dir, rc.Options.Recipe.HeadFrom = "", "", ""
	b, _ := json.Marshal(rc)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// adapterHash is an adapter directory's identity: its name in the config
// and the SHA-256 of its config and weights files.
func adapterHash(dir string) (string, error) {
	fc, _, err := peft.ReadAdapterConfig(dir)
	if err != nil {
		return "", fmt.Errorf("Options.Adapters: %w", err)
	}
	sum, err := filesHash(dir, peft.AdapterConfigFile, peft.AdapterWeightsFile)
	if err != nil {
		return "", fmt.Errorf("Options.Adapters: %w", err)
	}
	return fc.Name + " " + sum, nil
}

// filesHash is the SHA-256 of the named files in dir, each with its name
// and length.
func filesHash(dir string, files ...string) (string, error) {
	h := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", f, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func weightsHash(m *peft.Model) (string, error) {
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
	Config          Config              `json:"config"`
	Metrics         map[string]*float64 `json:"metrics"`
	Baseline        *float64            `json:"baseline"`
	Curve           []train.Point       `json:"curve"`
	TrainSeconds    float64             `json:"train_seconds"`
	Control         train.ControlReport `json:"control,omitzero"`
	TrainableParams int                 `json:"trainable_params"`
	TotalParams     int                 `json:"total_params"`
	Adapters        []string            `json:"adapters"`
	Versions        map[string]string   `json:"versions"`
	Backend         string              `json:"backend"`
	// Devices is how many devices trained the run data parallel (absent for
	// one). Only recorded, like Backend: it is not in Config, whose hash
	// must not change with it (train.Options.Devices).
	Devices  int    `json:"devices,omitempty"`
	Finished string `json:"finished"`
}

// Versions reports GoPEFT's, Go's and GoMLX's versions.
func Versions() map[string]string {
	v := map[string]string{"gopeft": peft.Version, "go": runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/gomlx/gomlx" {
				v["gomlx"] = d.Version
			}
		}
	}
	return v
}

// writeTo fills a run directory: the tuned model's weights, then run.json,
// whose presence marks a finished run.
func (r *Run) writeTo(dir string) error {
	t := r.Tuned
	if err := peft.SaveTuned(t, dir, r.Task.Labels); err != nil {
		return err
	}
	var adapters []string
	for _, a := range t.Setup.Adapters {
		adapters = append(adapters, a.Name)
	}
	c := t.Counts()
	metrics := map[string]*float64{}
	for k, v := range r.Metrics {
		metrics[k] = train.NullIfNaN(v)
	}
	rf := runFile{
		Config: r.Config, Metrics: metrics, Baseline: train.NullIfNaN(r.Baseline), Curve: r.Curve,
		TrainSeconds: r.TrainSeconds, Control: r.Control, TrainableParams: c.Trainable, TotalParams: c.Total, Adapters: adapters,
		Versions: Versions(), Backend: peft.BackendChoice().Display(), Devices: r.Options.DataParallelDevices(), Finished: time.Now().UTC().Format(time.RFC3339),
	}
	js, err := json.MarshalIndent(rf, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, RunFile), append(js, '\n'), 0o644)
}

// ReadRunFile reads a run directory's run.json: its config, metrics and curve.
func ReadRunFile(dir string) (Config, map[string]float64, []train.Point, error) {
	rf, err := readRunFile(dir)
	if err != nil {
		return Config{}, nil, nil, err
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
		out[k] = train.NaNIfNull(v)
	}
	return out
}

// load reconstructs the finished run in dir if its config hash equals
// rc's; an os.IsNotExist error means there is no finished run there.
func load(dir string, m *peft.Model, task *data.Task, s *peft.Setup, opt train.Options, rc Config) (*Run, error) {
	rf, err := readRunFile(dir)
	if err != nil {
		return nil, err
	}
	if rf.Config.Hash != rc.Hash {
		return nil, fmt.Errorf("%s holds a run with another configuration (%s); it will be replaced", dir, describeDiff(rf.Config, rc))
	}
	t, err := peft.LoadTuned(m, s, *opt.Head, opt.Seed, dir)
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", dir, err)
	}
	if k := opt.Recipe.FreezeLayers; k > 0 { // what trained, for the counts
		if t, err = t.FreezeBelow(k); err != nil {
			return nil, fmt.Errorf("run %s: %w", dir, err)
		}
	}
	tr := &train.Run{
		Tuned: t, Task: task, Curve: rf.Curve, Metrics: nanMap(rf.Metrics), TrainSeconds: rf.TrainSeconds,
		Baseline: train.NaNIfNull(rf.Baseline), Options: opt, Control: rf.Control,
	}
	tr.Control.StepsTrained = 0 // loaded, not trained
	return &Run{Run: tr, Dir: filepath.Clean(dir), Loaded: true, Config: rf.Config, Backend: recordedBackend(rf.Backend)}, nil
}

// describeDiff names the parts of two configs that differ.
func describeDiff(a, b Config) string {
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
	if !reflect.DeepEqual(a.Options, b.Options) {
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
