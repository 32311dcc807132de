// Package compare trains several fine-tuning methods on one task under the
// same options and returns one row per method: trainable parameters, dev
// and test metric, training and step time, and the measured peak memory, as
// plain data (JSON tags) for tables and widgets. It answers "which method
// should I use?" and "is PEFT faster than full fine-tuning here?".
//
// Each entry trains through the run store (peft/runstore) in its own
// directory under Options.Dir, so a finished grid loads in seconds when run
// again, and a killed grid resumes its unfinished entry from a checkpoint.
//
//	res, err := compare.Options{Dir: "runs/compare-spam", Quick: true}.Compare(model, task, compare.Methods("houlsby", "lora", "ia3")...)
//	for _, row := range res.Rows { fmt.Println(row.Method, row.TrainablePercent, row.Test) }
package compare

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gopeft/gopeft/internal/atomicfile"
	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/data"
	"github.com/gopeft/gopeft/peft/runstore"
	"github.com/gopeft/gopeft/peft/train"
)

// Entry is one row of a comparison: a preset by name, or a setup of your own.
type Entry struct {
	// Name labels the row and names its run directory; with Setup nil it is
	// a preset name (peft.PresetNames()).
	Name  string
	Setup *peft.Setup
	// Options, if set, replace the grid's training options for this entry
	// (a lower learning rate for full fine-tuning, say); Quick still applies.
	Options *train.Options
}

// Methods are entries for preset names.
func Methods(names ...string) []Entry {
	out := make([]Entry, len(names))
	for i, n := range names {
		out[i] = Entry{Name: n}
	}
	return out
}

// QuickMethods is the grid the acceptance runs in quick mode: full
// fine-tuning, head only and the top two layers (the fine-tuning recipe's
// presets) against the adapter methods.
var QuickMethods = []string{"full", "head", "top2", "houlsby", "pfeiffer", "lora", "ia3", "bitfit", "prefix", "mam"}

// Quick mode: few steps on short inputs, the training split cut to its
// first QuickTrainExamples (fewer texts to tokenize; the steps see fewer
// anyway), evaluated once at the end on the first QuickEvalExamples of dev
// and test (the splits are shuffled, so these are samples): a grid of ten
// methods on the shipped encoder and spam in minutes on CPU. Its metrics
// rank methods roughly; the full mode's are the ones to quote.
const (
	QuickSteps         = 60
	QuickBatchSize     = 16
	QuickMaxLen        = 64
	QuickTrainExamples = 2000
	QuickEvalExamples  = 200
	// In 60 steps adapters and heads need a higher rate than base weights:
	// measured on spam, at 1e-3 for all the adapters stay at the majority
	// class and at 5e-3 for all full fine-tuning collapses to it. Quick
	// mode trains base weights at QuickBaseLR and the rest at QuickLR
	// (train.Recipe's group rates) unless Train sets rates of its own.
	QuickLR     = 5e-3
	QuickBaseLR = 1e-3
)

// Options control Compare.
type Options struct {
	// Train are every entry's options (seed, steps, learning rate...);
	// Progress and Log there are replaced by the ones below.
	Train train.Options
	// Quick applies the quick mode's steps, batch size, input length and
	// evaluation (QuickSteps...) over Train's.
	Quick bool
	// Dir is the grid directory: each entry's run is kept in Dir/<name> and
	// the grid's measurements in Dir/compare.json. Empty: nothing is kept
	// and every entry trains.
	Dir string
	// Progress hears of each entry's training steps; Log of the run store's
	// messages (loaded, resumed, training anew).
	Progress func(entry string, p train.Progress)
	Log      func(string)
}

// Result is a finished comparison.
type Result struct {
	Task      string `json:"task"`
	Model     string `json:"model"`
	Backend   string `json:"backend"`
	Quick     bool   `json:"quick"`
	Steps     int    `json:"steps"` // as resolved (entries with their own Options may differ)
	BatchSize int    `json:"batch_size"`
	MaxLen    int    `json:"max_len"`
	Seed      int64  `json:"seed"`
	// Metric is what Row.Dev and Row.Test hold: "accuracy", or "mse" for
	// regression.
	Metric   string  `json:"metric"`
	Baseline float64 `json:"baseline"` // majority-class test accuracy (regression: mean-prediction MSE)
	// MemoryMeasure says how peak memory was measured (MemoryMethod).
	MemoryMeasure string  `json:"memory_measure"`
	WallSeconds   float64 `json:"wall_seconds"` // the whole Compare call
	Rows          []Row   `json:"rows"`
}

// Row is one entry's result. Times and memory of a loaded entry are those
// measured when it trained (from the grid file; zero if there is none).
type Row struct {
	Method           string   `json:"method"`
	Adapters         []string `json:"adapters"`
	TrainableParams  int      `json:"trainable_params"`
	TotalParams      int      `json:"total_params"`
	TrainablePercent float64  `json:"trainable_percent"`
	Dev              float64  `json:"dev"`  // Result.Metric on the dev split
	Test             float64  `json:"test"` // and on test
	// Metrics are all the run's final metrics (dev_/test_ accuracy and
	// macro_f1, or mse and pearson).
	Metrics      map[string]float64 `json:"metrics"`
	Steps        int                `json:"steps"` // steps on the curve (fewer when early stopping stopped it)
	TrainSeconds float64            `json:"train_seconds"`
	// StepSeconds is TrainSeconds / Steps: a step with its share of the
	// in-training evaluations.
	StepSeconds float64 `json:"step_seconds"`
	// PeakRSSBytes is the process's peak resident memory while the entry
	// trained and evaluated; PeakRSSDeltaBytes is that above the resident
	// memory at its start (what the entry added). See Result.MemoryMeasure.
	PeakRSSBytes      int64  `json:"peak_rss_bytes"`
	PeakRSSDeltaBytes int64  `json:"peak_rss_delta_bytes"`
	Loaded            bool   `json:"loaded"` // loaded from its run directory rather than trained
	RunDir            string `json:"run_dir,omitempty"`
	ConfigHash        string `json:"config_hash"`
	// Error, if set, is why this entry has no result; the others still ran.
	Error string `json:"error,omitempty"`
}

// MarshalJSON writes metrics that are NaN (missing split, failed entry) as null.
func (r Row) MarshalJSON() ([]byte, error) {
	type plain Row
	metrics := map[string]*float64{}
	for k, v := range r.Metrics {
		metrics[k] = train.NullIfNaN(v)
	}
	return json.Marshal(struct {
		plain
		Dev     *float64            `json:"dev"`
		Test    *float64            `json:"test"`
		Metrics map[string]*float64 `json:"metrics"`
	}{plain(r), train.NullIfNaN(r.Dev), train.NullIfNaN(r.Test), metrics})
}

// UnmarshalJSON reads null metrics back as NaN.
func (r *Row) UnmarshalJSON(b []byte) error {
	type plain Row
	var aux struct {
		plain
		Dev     *float64            `json:"dev"`
		Test    *float64            `json:"test"`
		Metrics map[string]*float64 `json:"metrics"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*r = Row(aux.plain)
	r.Dev, r.Test, r.Metrics = train.NaNIfNull(aux.Dev), train.NaNIfNull(aux.Test), map[string]float64{}
	for k, v := range aux.Metrics {
		r.Metrics[k] = train.NaNIfNull(v)
	}
	return nil
}

// MarshalJSON writes a NaN baseline as null.
func (r Result) MarshalJSON() ([]byte, error) {
	type plain Result
	return json.Marshal(struct {
		plain
		Baseline *float64 `json:"baseline"`
	}{plain(r), train.NullIfNaN(r.Baseline)})
}

// UnmarshalJSON reads a null baseline as NaN.
func (r *Result) UnmarshalJSON(b []byte) error {
	type plain Result
	var aux struct {
		plain
		Baseline *float64 `json:"baseline"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*r = Result(aux.plain)
	r.Baseline = train.NaNIfNull(aux.Baseline)
	return nil
}

// GridFile is the grid's record in Options.Dir: the last Result, whose
// measured times and memory a re-run reports for entries it loads.
const GridFile = "compare.json"

// Compare is Options{}.Compare: entries train one after the other with the
// default options, nothing kept on disk.
func Compare(m *peft.Model, task *data.Task, entries ...Entry) (*Result, error) {
	return Options{}.Compare(m, task, entries...)
}

// Compare trains each entry on task from m with the same options and
// returns one row per entry, in order. Bad entries (an unknown preset, a
// duplicate name, a setup the model cannot take) fail before anything
// trains; an entry whose training fails gets Row.Error and the rest run.
func (o Options) Compare(m *peft.Model, task *data.Task, entries ...Entry) (*Result, error) {
	if m == nil || task == nil {
		return nil, fmt.Errorf("Compare needs a model and a task")
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("Compare needs at least one entry: compare.Methods(%s)", quoted(peft.PresetNames()))
	}
	setups, err := resolve(m, entries)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if o.Quick {
		task = quickTask(task)
	}
	base := o.trainOptions(o.Train).Resolved(m, task)
	res := &Result{
		Task: task.Name, Model: m.Name(), Backend: peft.BackendChoice().Display(), Quick: o.Quick,
		Steps: base.Steps, BatchSize: base.BatchSize, MaxLen: base.MaxLen, Seed: base.Seed,
		Metric: "accuracy", Baseline: train.Baseline(task), MemoryMeasure: MemoryMethod(),
	}
	if task.Regression {
		res.Metric = "mse"
	}
	previous := o.readGrid()
	for i, e := range entries {
		row := o.run(m, task, e, setups[i], previous[e.Name], res.Metric)
		res.Rows = append(res.Rows, row)
		if err := o.writeGrid(res); err != nil {
			return nil, err
		}
	}
	res.WallSeconds = time.Since(start).Seconds()
	return res, o.writeGrid(res)
}

func quoted(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

// resolve turns entries into setups, checking them all first.
func resolve(m *peft.Model, entries []Entry) ([]*peft.Setup, error) {
	setups := make([]*peft.Setup, len(entries))
	seen := map[string]bool{}
	for i, e := range entries {
		switch {
		case e.Name == "":
			return nil, fmt.Errorf("entry %d has no name: give a preset name (%s) or a name for its Setup", i+1, strings.Join(peft.PresetNames(), ", "))
		case seen[e.Name]:
			return nil, fmt.Errorf("entry %q appears twice: each entry needs its own name (it names the run directory)", e.Name)
		case e.Name != filepath.Base(e.Name) || strings.HasPrefix(e.Name, "."):
			return nil, fmt.Errorf("entry name %q names a run directory: use a plain name without / or a leading dot", e.Name)
		}
		seen[e.Name] = true
		s := e.Setup
		if s == nil {
			method, err := peft.Preset(e.Name)
			if err != nil {
				return nil, fmt.Errorf("entry %q: %w (or give the entry a Setup)", e.Name, err)
			}
			s = peft.NewSetup(e.Name, method)
		}
		if err := s.Validate(m.Config); err != nil {
			return nil, fmt.Errorf("entry %q: %w", e.Name, err)
		}
		setups[i] = s
	}
	return setups, nil
}

// trainOptions applies quick mode over opt.
func (o Options) trainOptions(opt train.Options) train.Options {
	if o.Quick {
		opt.Steps, opt.BatchSize, opt.MaxLen, opt.EvalEvery = QuickSteps, QuickBatchSize, QuickMaxLen, -1
		opt.Control.Patience = 0 // nothing to watch without evaluations
		if r := &opt.Recipe; opt.LearningRate == 0 && r.BaseLR == 0 && r.AdapterLR == 0 && r.HeadLR == 0 {
			opt.LearningRate, r.BaseLR = QuickLR, QuickBaseLR
		}
	}
	return opt
}

// quickTask cuts the splits to quick mode's sizes.
func quickTask(t *data.Task) *data.Task {
	c := *t
	c.Train = c.Train[:min(len(c.Train), QuickTrainExamples)]
	c.Dev = c.Dev[:min(len(c.Dev), QuickEvalExamples)]
	c.Test = c.Test[:min(len(c.Test), QuickEvalExamples)]
	return &c
}

// run trains (or loads) one entry and measures it.
func (o Options) run(m *peft.Model, task *data.Task, e Entry, s *peft.Setup, prev *Row, metric string) Row {
	row := Row{Method: e.Name, Adapters: s.ActiveNames(), Dev: math.NaN(), Test: math.NaN()}
	opt := o.Train
	if e.Options != nil {
		opt = *e.Options
	}
	opt = o.trainOptions(opt)
	opt.Log = o.Log
	opt.Progress = nil
	if o.Progress != nil {
		opt.Progress = func(p train.Progress) { o.Progress(e.Name, p) }
	}
	dir := ""
	if o.Dir != "" {
		dir = filepath.Join(o.Dir, e.Name)
	}
	probe := startMemoryProbe()
	r, err := runstore.Finetune(dir, m, task, s, opt)
	peak, delta := probe.stop()
	if err != nil {
		row.Error = err.Error()
		return row
	}
	c := r.Tuned.Counts()
	row.TrainableParams, row.TotalParams = c.Trainable, c.Total
	if c.Total > 0 {
		row.TrainablePercent = 100 * float64(c.Trainable) / float64(c.Total)
	}
	row.Metrics = r.Metrics
	row.Dev, row.Test = metricOr(r.Metrics, "dev_"+metric), metricOr(r.Metrics, "test_"+metric)
	row.Steps, row.TrainSeconds = len(r.Curve), r.TrainSeconds
	if row.Steps > 0 {
		row.StepSeconds = r.TrainSeconds / float64(row.Steps)
	}
	row.Loaded, row.RunDir, row.ConfigHash = r.Loaded, r.Dir, r.Config.Hash
	row.PeakRSSBytes, row.PeakRSSDeltaBytes = peak, delta
	if r.Loaded {
		// Loading measures nothing: keep what was measured when it trained.
		row.PeakRSSBytes, row.PeakRSSDeltaBytes = 0, 0
		if prev != nil && prev.ConfigHash == row.ConfigHash {
			row.PeakRSSBytes, row.PeakRSSDeltaBytes = prev.PeakRSSBytes, prev.PeakRSSDeltaBytes
		}
	}
	return row
}

func metricOr(ms map[string]float64, k string) float64 {
	if v, ok := ms[k]; ok {
		return v
	}
	return math.NaN()
}

// readGrid reads the previous rows by entry name (none without a Dir or file).
func (o Options) readGrid() map[string]*Row {
	out := map[string]*Row{}
	if o.Dir == "" {
		return out
	}
	raw, err := os.ReadFile(filepath.Join(o.Dir, GridFile))
	if err != nil {
		return out
	}
	var prev Result
	if err := json.Unmarshal(raw, &prev); err != nil {
		if o.Log != nil {
			o.Log(fmt.Sprintf("gopeft: ignoring %s: %v", filepath.Join(o.Dir, GridFile), err))
		}
		return out
	}
	for i := range prev.Rows {
		out[prev.Rows[i].Method] = &prev.Rows[i]
	}
	return out
}

// writeGrid records the rows so far, so an interrupted grid keeps them.
func (o Options) writeGrid(res *Result) error {
	if o.Dir == "" {
		return nil
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return err
	}
	js, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(o.Dir, GridFile), append(js, '\n'), 0o644)
}

// Row returns the row of the named entry, or nil.
func (r *Result) Row(method string) *Row {
	i := slices.IndexFunc(r.Rows, func(row Row) bool { return row.Method == method })
	if i < 0 {
		return nil
	}
	return &r.Rows[i]
}

// Markdown is the result as a Markdown table.
func (r *Result) Markdown() string {
	var b strings.Builder
	mode := "full"
	if r.Quick {
		mode = "quick"
	}
	fmt.Fprintf(&b, "%s on %s, %s mode: %d steps, batch %d, %d tokens, seed %d, %s; baseline %s %.4f\n\n",
		r.Model, r.Task, mode, r.Steps, r.BatchSize, r.MaxLen, r.Seed, r.Backend, r.Metric, r.Baseline)
	fmt.Fprintf(&b, "| method | trainable | %% | dev %s | test %s | train s | step ms | peak RSS MiB | +RSS MiB |\n", r.Metric, r.Metric)
	b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	mib := func(v int64) string {
		if v == 0 {
			return "-"
		}
		return fmt.Sprintf("%.0f", float64(v)/(1<<20))
	}
	for _, row := range r.Rows {
		if row.Error != "" {
			fmt.Fprintf(&b, "| %s | error: %s | | | | | | | |\n", row.Method, strings.ReplaceAll(row.Error, "|", "/"))
			continue
		}
		note := ""
		if row.Loaded {
			note = " (loaded)"
		}
		fmt.Fprintf(&b, "| %s%s | %d | %.2f | %.4f | %.4f | %.1f | %.0f | %s | %s |\n", row.Method, note, row.TrainableParams,
			row.TrainablePercent, row.Dev, row.Test, row.TrainSeconds, 1000*row.StepSeconds, mib(row.PeakRSSBytes), mib(row.PeakRSSDeltaBytes))
	}
	fmt.Fprintf(&b, "\nmemory: %s; wall %.1fs\n", r.MemoryMeasure, r.WallSeconds)
	return b.String()
}
