package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/compare"
	"github.com/gopeft/gopeft/peft/data"
	"github.com/gopeft/gopeft/peft/train"
	"github.com/gopeft/gopeft/widgets/notebook"
)

func init() {
	register("compare", "train several methods on one task; table of parameters, metrics, time, memory", runCompare)
}

func runCompare(args []string) int {
	fs := newFlags("compare", "--task NAME [--methods a,b,c] [--model DIR] [--quick] [--steps N] [--seed S] [--runs DIR] [--json]")
	modelDir := fs.String("model", "", "model directory (default: the shipped models/"+notebook.ShippedModel+")")
	taskName := fs.String("task", "", "built-in task (see `gopeft data list`) or a CSV/JSONL file")
	methods := fs.String("methods", strings.Join(compare.QuickMethods, ","), "comma-separated presets: "+strings.Join(peft.PresetNames(), ", "))
	quick := fs.Bool("quick", false, fmt.Sprintf("quick mode: %d steps of %d, %d tokens, first %d train and %d dev/test examples, one evaluation",
		compare.QuickSteps, compare.QuickBatchSize, compare.QuickMaxLen, compare.QuickTrainExamples, compare.QuickEvalExamples))
	steps := fs.Int("steps", train.DefaultSteps, "training steps (full mode)")
	batch := fs.Int("batch", train.DefaultBatchSize, "batch size (full mode)")
	lr := fs.Float64("lr", train.DefaultLearningRate, fmt.Sprintf("peak learning rate, every method (quick mode default: %g, base weights %g)", compare.QuickLR, compare.QuickBaseLR))
	maxLen := fs.Int("max-len", train.DefaultMaxLen, "max tokens per example (full mode)")
	evalExamples := fs.Int("eval-examples", 200, "dev examples per evaluation during training (0: all)")
	seed := fs.Int64("seed", 0, "seed for the split, initialisation and batches")
	runs := fs.String("runs", "", "grid directory: each method's run in DIR/<method>, reused when finished (default: none, train every time)")
	asJSON := fs.Bool("json", false, "print the result as one JSON object")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *taskName == "" {
		fmt.Fprintln(os.Stderr, "gopeft compare: --task is required")
		fs.Usage()
		return 2
	}
	if err := positiveFlags(map[string]float64{"--steps": float64(*steps), "--batch": float64(*batch),
		"--lr": *lr, "--max-len": float64(*maxLen)}); err != nil {
		fmt.Fprintln(os.Stderr, "gopeft compare:", err)
		return 2
	}
	var names []string
	for _, n := range strings.Split(*methods, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	if *modelDir == "" {
		dir, err := notebook.ShippedModelDir()
		if err != nil {
			fmt.Fprintln(os.Stderr, "gopeft compare:", err)
			return 1
		}
		*modelDir = dir
	}
	m, err := peft.LoadModel(*modelDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft compare:", err)
		return 1
	}
	task, err := loadTask(*taskName, *seed)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft compare:", err)
		return 1
	}
	opt := compare.Options{
		Train: train.Options{Steps: *steps, BatchSize: *batch, LearningRate: *lr, MaxLen: *maxLen, EvalExamples: *evalExamples, Seed: *seed},
		Quick: *quick, Dir: *runs,
		Log: func(msg string) { fmt.Fprintln(os.Stderr, msg) },
	}
	if *quick && !flagSet(fs, "lr") {
		opt.Train.LearningRate = 0 // quick mode's group rates
	}
	if !*asJSON {
		opt.Progress = func(entry string, p train.Progress) {
			if p.Done {
				fmt.Fprintf(os.Stderr, "%s: done in %d steps: %v\n", entry, p.Step, p.Metrics)
			}
		}
	}
	res, err := opt.Compare(m, task, compare.Methods(names...)...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft compare:", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			fmt.Fprintln(os.Stderr, "gopeft compare:", err)
			return 1
		}
	} else {
		fmt.Print(res.Markdown())
	}
	for _, row := range res.Rows {
		if row.Error != "" {
			return 1
		}
	}
	return 0
}

// loadTask reads a built-in task by name, or a CSV/JSONL file.
func loadTask(name string, seed int64) (*data.Task, error) {
	if _, err := os.Stat(name); err == nil {
		return data.LoadFile(name, data.Options{Seed: seed})
	}
	return data.Load(name, data.Options{Seed: seed})
}

// flagSet reports whether the command line gave the flag.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
