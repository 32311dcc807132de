package main

import (
	"fmt"
	"os"
	"time"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/estimate"
	"github.com/gopeft/gopeft/peft/train"
)

func init() { estimateCommands["preflight"] = runEstimatePreflight }

// runEstimatePreflight predicts memory and time of a fine-tuning run and,
// with --check, trains it and reports the measured time beside.
func runEstimatePreflight(args []string) int {
	fs := newFlags("estimate preflight", "--model DIR --task NAME --method NAME [--batch 16] [--max-len 128] [--steps 500] [--memory-gb G] [--check] [--json]")
	modelDir := fs.String("model", "", "model directory")
	taskName := fs.String("task", "", "built-in task or CSV/JSONL file")
	method := fs.String("method", "", "PEFT method: "+knownMethods())
	configFile := fs.String("config", "", "method or setup JSON")
	batch := fs.Int("batch", train.DefaultBatchSize, "batch size")
	maxLen := fs.Int("max-len", train.DefaultMaxLen, "max tokens per example")
	steps := fs.Int("steps", train.DefaultSteps, "training steps of the planned run")
	seed := fs.Int64("seed", 0, "seed")
	memGB := fs.Float64("memory-gb", 0, "memory limit in GB (default: the machine's)")
	check := fs.Bool("check", false, "then train the run (no evaluation during training) and report its measured time per step")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *modelDir == "" || *taskName == "" {
		fmt.Fprintln(os.Stderr, "gopeft estimate preflight: --model and --task are required")
		return 2
	}
	s, err := buildSetup(*method, *configFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft estimate preflight:", err)
		return 2
	}
	m, err := peft.LoadModel(*modelDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft estimate preflight:", err)
		return 1
	}
	task, err := loadBuiltinOrFile(*taskName, *seed)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft estimate preflight:", err)
		return 1
	}
	opt := train.Options{BatchSize: *batch, MaxLen: *maxLen, Steps: *steps, Seed: *seed, EvalEvery: -1}
	p, err := estimate.Preflight(m, task, s, estimate.PreflightOptions{Train: opt, MemoryLimit: int64(*memGB * 1e9)})
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft estimate preflight:", err)
		return 1
	}
	out := map[string]any{"preflight": p, "summary": p.String()}
	if *check {
		// Time steps 2..N through the progress callback: no compilation,
		// no final evaluation, the same steps preflight timed.
		var cpu0, cpu1 float64
		var wall0, wall1 time.Time
		opt.Progress = func(pr train.Progress) {
			switch {
			case pr.Done:
			case pr.Step == 1:
				cpu0, wall0 = estimate.CPUSeconds(), time.Now()
			case pr.Step == pr.Steps:
				cpu1, wall1 = estimate.CPUSeconds(), time.Now()
			}
		}
		run, err := train.Finetune(m, task, s, opt)
		if err != nil {
			fmt.Fprintln(os.Stderr, "gopeft estimate preflight:", err)
			return 1
		}
		n := float64(run.Options.Steps - 1)
		measured, cpu := wall1.Sub(wall0).Seconds()/n, (cpu1-cpu0)/n
		out["measured_step_seconds"] = measured
		out["measured_train_seconds"] = run.TrainSeconds
		out["step_error"] = p.StepSeconds/measured - 1
		out["measured_step_cpu_seconds"] = cpu
		out["step_cpu_error"] = p.StepCPU/cpu - 1
		if !*asJSON {
			defer fmt.Printf("check: the run took %.1f s for %d steps; from step 2 on %.3f s a step, preflight said %.3f s (%+.0f%%); CPU time a step %.3f s, preflight %.3f s (%+.0f%%)\n",
				run.TrainSeconds, run.Options.Steps, measured, p.StepSeconds, 100*(p.StepSeconds/measured-1), cpu, p.StepCPU, 100*(p.StepCPU/cpu-1))
		}
	}
	if *asJSON {
		return printJSON(out)
	}
	fmt.Println(p)
	return 0
}
