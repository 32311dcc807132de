package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/runstore"
	"github.com/gopeft/gopeft/peft/train"
	"github.com/gopeft/gopeft/widgets/notebook"
)

func init() {
	register("finetune", "fine-tune a PEFT method on a task; save the run", runFinetune)
}

func knownMethods() string {
	return strings.Join(peft.PresetNames(), ", ") + " (with --config: any of " + strings.Join(peft.MethodKinds(), ", ") + ")"
}

// buildSetup turns --method and --config into a setup. --config holds a
// method (MarshalMethod: {"method": ..., "config": {...}}) or a whole setup
// (MarshalSetup: {"adapters": [...], ...}).
func buildSetup(method, configFile string) (*peft.Setup, error) {
	if configFile != "" {
		raw, err := os.ReadFile(configFile)
		if err != nil {
			return nil, err
		}
		var probe map[string]json.RawMessage
		if err := json.Unmarshal(raw, &probe); err != nil {
			return nil, fmt.Errorf("%s: %w", configFile, err)
		}
		if _, ok := probe["adapters"]; ok {
			s, err := peft.UnmarshalSetup(raw)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", configFile, err)
			}
			return s, nil
		}
		m, err := peft.UnmarshalMethod(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", configFile, err)
		}
		name := method
		if name == "" {
			name = m.Kind()
		}
		return peft.NewSetup(name, m), nil
	}
	if method == "" {
		return nil, fmt.Errorf("give --method NAME (%s) or --config FILE.json", knownMethods())
	}
	// "houlsby+top2": several presets in one setup, each named by its preset.
	s := &peft.Setup{}
	for _, name := range strings.Split(method, "+") {
		m, err := peft.Preset(name)
		if err != nil {
			return nil, fmt.Errorf("unknown method %q: known methods are %s (join several with +, e.g. houlsby+top2)", name, knownMethods())
		}
		s.Add(name, m)
	}
	return s, nil
}

func runFinetune(args []string) int {
	fs := newFlags("finetune", "--model DIR --task NAME --method NAME[+NAME...] [--config FILE.json] [--steps N] [--seed S] [--save DIR] [--patience N] [--json] [recipe flags: --freeze-layers K --layer-decay F --unfreeze-every N --clip-norm F --schedule cosine --aug-mask R ...]")
	modelDir := fs.String("model", "", "model directory (config.json, model.safetensors, tokenizer)")
	taskName := fs.String("task", "", "built-in task (see `gopeft data list`) or a CSV/JSONL file")
	method := fs.String("method", "", "PEFT method: "+knownMethods()+"; join several with +, e.g. houlsby+top2")
	configFile := fs.String("config", "", "method JSON (MarshalMethod) or setup JSON (MarshalSetup)")
	steps := fs.Int("steps", train.DefaultSteps, "training steps")
	batch := fs.Int("batch", train.DefaultBatchSize, "batch size")
	lr := fs.Float64("lr", train.DefaultLearningRate, "peak learning rate")
	maxLen := fs.Int("max-len", train.DefaultMaxLen, "max tokens per example")
	seed := fs.Int64("seed", 0, "seed for the split, initialisation and batches")
	save := fs.String("save", "", "run directory: reused if it holds this exact run, else written there")
	patience := fs.Int("patience", 0, "early stopping: stop after this many evaluations without a better dev metric, keep the best step (0: off)")
	minDelta := fs.Float64("min-delta", 0, "early stopping: the smallest dev gain that counts as better")
	checkpointEvery := fs.Int("checkpoint-every", 0, "with --save: checkpoint every N steps, and resume a killed run from there (0: each evaluation, -1: never)")
	asJSON := fs.Bool("json", false, "print one JSON object")
	devices := fs.Int("devices", 1, "data parallel over this many GPUs (XLA backend): each batch is split across them; --batch must be a multiple")
	kd := distillFlags(fs)
	pr := pruneFlags(fs)
	recipe := recipeFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *modelDir == "" || *taskName == "" {
		fmt.Fprintln(os.Stderr, "gopeft finetune: --model and --task are required")
		fs.Usage()
		return 2
	}
	// Zero would silently mean "the default" to train.Options; say so instead.
	if err := positiveFlags(map[string]float64{"--steps": float64(*steps), "--batch": float64(*batch),
		"--lr": *lr, "--max-len": float64(*maxLen), "--devices": float64(*devices)}); err != nil {
		fmt.Fprintln(os.Stderr, "gopeft finetune:", err)
		return 2
	}
	s, err := buildSetup(*method, *configFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft finetune:", err)
		return 2
	}
	m, err := peft.LoadModel(*modelDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft finetune:", err)
		return 1
	}
	rec, err := recipe(m.Config.NumLayers)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft finetune:", err)
		return 2
	}
	task, err := loadTask(*taskName, *seed)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft finetune:", err)
		return 1
	}
	opt := train.Options{Steps: *steps, BatchSize: *batch, LearningRate: *lr, MaxLen: *maxLen, Seed: *seed, Recipe: rec,
		Control: train.Control{Patience: *patience, MinDelta: *minDelta, CheckpointEvery: *checkpointEvery}}
	opt.Devices = *devices
	if opt.Prune, err = pr.options(*steps); err != nil {
		fmt.Fprintln(os.Stderr, "gopeft finetune:", err)
		return 2
	}
	if m, opt.Distill, err = kd.student(m); err != nil {
		fmt.Fprintln(os.Stderr, "gopeft finetune:", err)
		return 2
	}
	if !*asJSON {
		opt.Progress = notebook.Progress()
		opt.Log = func(msg string) { fmt.Fprintln(os.Stderr, msg) }
	}
	run, err := runstore.Finetune(*save, m, task, s, opt)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft finetune:", err)
		return 1
	}
	c := run.Tuned.Counts()
	if *asJSON {
		metrics := map[string]any{}
		for k, v := range run.Metrics {
			metrics[k] = jsonNumber(v)
		}
		out := map[string]any{
			"trainable_params": c.Trainable, "total_params": c.Total, "metrics": metrics,
			"run_dir": run.Dir, "baseline": jsonNumber(run.Baseline), "train_seconds": run.TrainSeconds,
			"loaded": run.Loaded, "config_hash": run.Config.Hash, "task": task.Name,
			"adapters": s.ActiveNames(), "seed": *seed, "steps": run.Options.Steps,
			"backend": peft.BackendChoice().Display(), "version": peft.Version,
			"recipe":  run.Options.Recipe,
			"control": run.Control, // steps trained, resumed from, early stopping
		}
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			fmt.Fprintln(os.Stderr, "gopeft finetune:", err)
			return 1
		}
		return 0
	}
	fmt.Print(run.Tuned.SummaryTable())
	keys := make([]string, 0, len(run.Metrics))
	for k := range run.Metrics {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Printf("%-16s %.4f\n", k, run.Metrics[k])
	}
	fmt.Printf("%-16s %.4f\n", "baseline", run.Baseline)
	how := fmt.Sprintf("trained in %.1fs", run.TrainSeconds)
	if run.Loaded {
		how = "loaded from " + run.Dir
	}
	fmt.Printf("%s on %s, seed %d", how, peft.BackendChoice().Display(), *seed)
	if run.Dir != "" && !run.Loaded {
		fmt.Printf(", saved to %s", run.Dir)
	}
	fmt.Println()
	return 0
}

// jsonNumber writes NaN and infinities as null.
func jsonNumber(v float64) any {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return v
}

// positiveFlags rejects numeric flags that are zero or negative, naming each
// and the fix.
func positiveFlags(flags map[string]float64) error {
	var bad []string
	for _, name := range slices.Sorted(maps.Keys(flags)) {
		if v := flags[name]; !(v > 0) {
			bad = append(bad, fmt.Sprintf("%s %v", name, v))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s: must be greater than 0 (leave a flag out for its default)", strings.Join(bad, ", "))
	}
	return nil
}
