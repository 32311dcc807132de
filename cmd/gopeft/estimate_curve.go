package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/estimate"
	"github.com/gopeft/gopeft/peft/runstore"
)

func init() { estimateCommands["curve"] = runEstimateCurve }

// runEstimateCurve fits a − b·n^(−c) to points from a file, a finished
// run's dev curve (over steps), or a linear probe on growing samples.
func runEstimateCurve(args []string) int {
	fs := newFlags("estimate curve", "(--in POINTS.jsonl | --run DIR | --model DIR --task NAME --sizes 50,100,200,400) --target N [--gain 0.01] [--json]")
	in := fs.String("in", "", `JSONL points {"n": ..., "value": ..., "weight": ...} (weight optional)`)
	runDir := fs.String("run", "", "a run directory (run store): fit its dev-accuracy curve over steps")
	modelDir := fs.String("model", "", "with --task and --sizes: the linear probe's accuracy over data size")
	taskName := fs.String("task", "", "built-in task or CSV/JSONL file (with --model)")
	sizes := fs.String("sizes", "50,100,200,400,800", "sample sizes for the probe curve")
	maxLen := fs.Int("max-len", 128, "tokens per example (probe curve)")
	seed := fs.Int64("seed", 0, "seed (probe curve)")
	target := fs.Float64("target", 0, "n (examples or steps) to predict at; default 4x the largest observed")
	gain := fs.Float64("gain", 0.01, "a doubling of n 'stops paying' when it gains less than this")
	maxValue := fs.Float64("max-value", 1, "the metric's ceiling, bounding the asymptote (1 for accuracy; 0: unbounded)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var pts []estimate.CurvePoint
	var err error
	switch {
	case *in != "":
		pts, err = readCurvePoints(*in)
	case *runDir != "":
		_, _, points, rerr := runstore.ReadRunFile(*runDir)
		err = rerr
		var steps []int
		var acc []float64
		for _, p := range points {
			steps, acc = append(steps, p.Step), append(acc, p.DevAcc)
		}
		pts = estimate.StepCurve(steps, acc)
	case *modelDir != "" && *taskName != "":
		var m *peft.Model
		if m, err = peft.LoadModel(*modelDir); err == nil {
			task, terr := loadBuiltinOrFile(*taskName, *seed)
			if err = terr; err == nil {
				var ns []int
				for _, f := range strings.Split(*sizes, ",") {
					n, cerr := strconv.Atoi(strings.TrimSpace(f))
					if cerr != nil || n < 10 {
						fmt.Fprintf(os.Stderr, "gopeft estimate curve: size %q: give integers >= 10, e.g. --sizes 50,100,200,400\n", f)
						return 2
					}
					ns = append(ns, n)
				}
				pts, err = estimate.ProbeCurve(m, task, ns, estimate.TransferOptions{Seed: uint64(*seed), MaxLen: *maxLen})
			}
		}
	default:
		fmt.Fprintln(os.Stderr, "gopeft estimate curve: give --in FILE, --run DIR, or --model DIR --task NAME")
		fs.Usage()
		return 2
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft estimate curve:", err)
		return 1
	}
	ceiling := *maxValue
	if ceiling <= 0 {
		ceiling = math.Inf(1)
	}
	fit, err := estimate.FitCurveBounded(pts, ceiling)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft estimate curve:", err)
		return 1
	}
	if *target <= 0 {
		for _, p := range pts {
			*target = max(*target, 4*p.N)
		}
	}
	band := fit.Band(pts, *target, 24, *gain)
	if *asJSON {
		return printJSON(map[string]any{"a": fit.A, "b": fit.B, "c": fit.C, "residual_sd": fit.ResidualSD, "points": fit.Points, "band": band})
	}
	fmt.Printf("fit %.4f - %.4f * n^(-%.3f) on %d points (residual sd %.4f)\n", fit.A, fit.B, fit.C, fit.Points, fit.ResidualSD)
	fmt.Println(band)
	return 0
}

func readCurvePoints(path string) ([]estimate.CurvePoint, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var pts []estimate.CurvePoint
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var p estimate.CurvePoint
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			return nil, fmt.Errorf("%s:%d: %w (each line is {\"n\": ..., \"value\": ...})", path, line, err)
		}
		pts = append(pts, p)
	}
	return pts, sc.Err()
}
