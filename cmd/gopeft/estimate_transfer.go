package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/data"
	"github.com/gopeft/gopeft/peft/estimate"
	"github.com/gopeft/gopeft/peft/train"
)

// estimateCommands are `gopeft estimate SUB ...`; a bare `gopeft estimate`
// is the memory table.
var estimateCommands = map[string]func([]string) int{}

func init() {
	estimateCommands["logme"] = runEstimateLogME
	estimateCommands["transfer"] = runEstimateTransfer
	estimateCommands["calibrate"] = runEstimateCalibrate
}

// readLabelled reads JSONL lines {"features": [...], "label": int}.
func readLabelled(path string) (features [][]float64, labels []int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<28)
	for line := 1; sc.Scan(); line++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var row struct {
			Features []float64 `json:"features"`
			Label    *int      `json:"label"`
		}
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			return nil, nil, fmt.Errorf("%s:%d: %w (each line is {\"features\": [numbers], \"label\": int})", path, line, err)
		}
		if row.Label == nil || row.Features == nil {
			return nil, nil, fmt.Errorf("%s:%d: needs both \"features\" and \"label\"", path, line)
		}
		features, labels = append(features, row.Features), append(labels, *row.Label)
	}
	return features, labels, sc.Err()
}

func runEstimateLogME(args []string) int {
	fs := newFlags("estimate logme", "--in FILE.jsonl [--json]")
	in := fs.String("in", "", `JSONL file, one {"features": [float...], "label": int} a line`)
	asJSON := fs.Bool("json", false, `print {"logme": value}`)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *in == "" {
		fmt.Fprintln(os.Stderr, "gopeft estimate logme: --in FILE.jsonl is required")
		return 2
	}
	f, y, err := readLabelled(*in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft estimate logme:", err)
		return 1
	}
	v, err := estimate.LogME(f, y)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft estimate logme:", err)
		return 1
	}
	if *asJSON {
		return printJSON(map[string]float64{"logme": v})
	}
	fmt.Printf("LogME %.6f over %d examples, %d features\n", v, len(y), len(f[0]))
	return 0
}

func loadBuiltinOrFile(name string, seed int64) (*data.Task, error) {
	if _, err := os.Stat(name); err == nil {
		return data.LoadFile(name, data.Options{Seed: seed})
	}
	return data.Load(name, data.Options{Seed: seed})
}

func runEstimateTransfer(args []string) int {
	fs := newFlags("estimate transfer", "--model DIR --task NAME [--n 500] [--max-len 128] [--pooling mean|cls] [--json]")
	modelDir := fs.String("model", "", "model directory")
	taskName := fs.String("task", "", "built-in task or a CSV/JSONL file")
	n := fs.Int("n", 500, "training examples to sample")
	maxLen := fs.Int("max-len", train.DefaultMaxLen, "tokens per example")
	pooling := fs.String("pooling", "mean", "feature pooling: mean or cls")
	seed := fs.Int64("seed", 0, "seed of the split, the sample and the probe's folds")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *modelDir == "" || *taskName == "" {
		fmt.Fprintln(os.Stderr, "gopeft estimate transfer: --model and --task are required")
		return 2
	}
	m, err := peft.LoadModel(*modelDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft estimate transfer:", err)
		return 1
	}
	task, err := loadBuiltinOrFile(*taskName, *seed)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft estimate transfer:", err)
		return 1
	}
	scores, err := estimate.Transfer(m, task, estimate.TransferOptions{N: *n, Seed: uint64(*seed), MaxLen: *maxLen, Pooling: estimate.Pooling(*pooling)})
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft estimate transfer:", err)
		return 1
	}
	if *asJSON {
		return printJSON(map[string]any{"model": *modelDir, "task": task.Name, "layers": scores})
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "LAYER\tLOGME\tH-SCORE\tPROBE ACC\t")
	for _, s := range scores {
		fmt.Fprintf(tw, "%d\t%.4f\t%.4f\t%.3f\t\n", s.Layer, s.LogME, s.HScore, s.Probe)
	}
	tw.Flush()
	fmt.Printf("%s: %d sampled examples, %s pooling; LEEP (MLM head) %.4f; majority baseline %.3f\n", task.Name, scores[0].N, scores[0].Pooling, scores[0].LEEP, scores[0].Baseline)
	return 0
}

// runEstimateCalibrate trains (or loads) the ground-truth runs, then reports
// the leave-one-out predicted vs actual accuracy.
func runEstimateCalibrate(args []string) int {
	fs := newFlags("estimate calibrate", "--model DIR --runs DIR [--tasks a,b] [--methods houlsby,lora,ia3,bitfit] [--drops 2] [--layers -1] [--inputs probe,logme] [--json]")
	modelDir := fs.String("model", "", "model directory")
	runsDir := fs.String("runs", "", "run store directory for the ground-truth runs (reused across calls)")
	tasks := fs.String("tasks", "spam,sotu-party,sotu-era,source,polarity,names", "built-in classification tasks")
	methods := fs.String("methods", "houlsby,lora,ia3,bitfit", "method presets, each fine-tuned on every task")
	drops := fs.String("drops", "", "AdapterDrop depths: also fine-tune the first method with adapters only at or above each layer")
	layer := fs.Int("layer", -1, "feature layer of the scores (-1: the encoder's output; 0: embeddings)")
	inputs := fs.String("inputs", "probe,logme", "predictor inputs (logme, hscore, leep, probe, baseline), plus one offset per method")
	n := fs.Int("n", 500, "examples sampled per task for the scores")
	pooling := fs.String("pooling", "mean", "feature pooling: mean or cls")
	steps := fs.Int("steps", 240, "fine-tuning steps per run")
	maxLen := fs.Int("max-len", 32, "tokens per example, fine-tuning and features")
	seed := fs.Int64("seed", 1, "seed")
	noOffsets := fs.Bool("no-method-offsets", false, "leave out the per-method offsets: scores only")
	ablation := fs.Bool("ablation", false, "also report leave-one-out tau for every feature layer and input set")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *modelDir == "" || *runsDir == "" {
		fmt.Fprintln(os.Stderr, "gopeft estimate calibrate: --model and --runs are required")
		return 2
	}
	m, err := peft.LoadModel(*modelDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft estimate calibrate:", err)
		return 1
	}
	var configs []estimate.Config
	ms := strings.Split(*methods, ",")
	for _, t := range strings.Split(*tasks, ",") {
		for _, me := range ms {
			configs = append(configs, estimate.Config{Task: t, Method: me, Layer: *layer})
		}
		for _, d := range strings.Split(*drops, ",") {
			if d = strings.TrimSpace(d); d == "" {
				continue
			}
			k, err := strconv.Atoi(d)
			if err != nil || k <= 0 {
				fmt.Fprintf(os.Stderr, "gopeft estimate calibrate: --drops %q: give positive layer counts, e.g. 2\n", d)
				return 2
			}
			configs = append(configs, estimate.Config{Task: t, Method: ms[0], DropBelow: k, Layer: *layer})
		}
	}
	opt := train.Options{Steps: *steps, MaxLen: *maxLen, Seed: *seed, EvalEvery: -1,
		Log: func(s string) { fmt.Fprintln(os.Stderr, s) }}
	load := func(name string) (*data.Task, error) { return data.Load(name, data.Options{Seed: *seed}) }
	obs, err := estimate.GroundTruth(*runsDir, m, load, configs, estimate.TransferOptions{N: *n, Seed: uint64(*seed), MaxLen: *maxLen, Pooling: estimate.Pooling(*pooling)}, opt)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft estimate calibrate:", err)
		return 1
	}
	withOffsets := func(in []string) []string {
		if *noOffsets {
			return in
		}
		return append(in, estimate.MethodInputs(obs)...)
	}
	in := withOffsets(strings.Split(*inputs, ","))
	loo, err := estimate.LeaveOneOut(obs, in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft estimate calibrate:", err)
		return 1
	}
	full, err := estimate.Fit(obs, in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft estimate calibrate:", err)
		return 1
	}
	type ablationRow struct {
		Layer   int                `json:"layer"`
		Inputs  []string           `json:"inputs"`
		Tau     float64            `json:"kendall_tau"`
		MAE     float64            `json:"mae"`
		PerTask map[string]float64 `json:"per_task_tau"`
	}
	var rows []ablationRow
	if *ablation {
		for l := 0; l < len(obs[0].Layers); l++ {
			at, err := estimate.AtLayer(obs, l)
			if err != nil {
				fmt.Fprintln(os.Stderr, "gopeft estimate calibrate:", err)
				return 1
			}
			for _, set := range [][]string{{"probe"}, {"logme"}, {"hscore"}, {"leep"}, {"probe", "logme"}, {"probe", "logme", "baseline"}} {
				r, err := estimate.LeaveOneOut(at, withOffsets(set))
				if err != nil {
					fmt.Fprintf(os.Stderr, "gopeft estimate calibrate: layer %d inputs %v: %v\n", l, set, err)
					continue
				}
				rows = append(rows, ablationRow{Layer: l, Inputs: set, Tau: r.Tau, MAE: r.MAE, PerTask: r.PerTask})
			}
		}
	}
	if *asJSON {
		return printJSON(map[string]any{"observations": obs, "leave_one_out": loo, "predictor": full, "ablation": rows})
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TASK\tMETHOD\tLOGME\tPROBE\tLEEP\tPREDICTED (LOO)\tACTUAL\t")
	for i, p := range loo.Points {
		o := obs[i]
		fmt.Fprintf(tw, "%s\t%s\t%.4f\t%.3f\t%.4f\t%s\t%.3f\t\n", o.Task, o.Config.Label(), o.Scores.LogME, o.Scores.Probe, o.Scores.LEEP, p.Prediction, p.Actual)
	}
	tw.Flush()
	fmt.Printf("Kendall tau (leave-one-out, %d configurations): %.3f; MAE %.3f; 90%% intervals cover %.0f%%\n", len(obs), loo.Tau, loo.MAE, 100*loo.Covered)
	for _, t := range sortedKeys(loo.PerTask) {
		fmt.Printf("  within %s: tau %.3f\n", t, loo.PerTask[t])
	}
	if len(rows) > 0 {
		fmt.Println("\nablation (leave-one-out Kendall tau; method offsets included unless --no-method-offsets):")
		for _, r := range rows {
			fmt.Printf("  layer %d  %-24s tau %.3f  MAE %.3f\n", r.Layer, strings.Join(r.Inputs, "+"), r.Tau, r.MAE)
		}
	}
	return 0
}

func sortedKeys(m map[string]float64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
