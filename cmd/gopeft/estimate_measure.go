package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/estimate"
	"github.com/gopeft/gopeft/peft/hf"
)

func init() {
	estimateCommands["backend"] = runEstimateBackend
	estimateCommands["measure"] = runEstimateMeasure
	estimateCommands["sweep"] = runEstimateSweep
}

// sweepModel loads --model, or builds a randomly initialised model of a
// named shape (--shape bert-base) for memory and speed, where the weights'
// values do not matter.
func sweepModel(modelDir, shape string) (*peft.Model, error) {
	switch {
	case modelDir != "":
		return peft.LoadModel(modelDir)
	case shape == "bert-base":
		cfg, err := hf.DefaultConfig(hf.BERT)
		if err != nil {
			return nil, err
		}
		return peft.NewModel(cfg, nil, 1)
	}
	return nil, fmt.Errorf("give --model DIR or --shape bert-base")
}

// sweepConfig is the config of --model or --shape without building weights.
func sweepConfig(modelDir, shape string) (hf.Config, error) {
	if modelDir != "" {
		return hf.ReadConfig(filepath.Join(modelDir, "config.json"))
	}
	if shape == "bert-base" {
		return hf.DefaultConfig(hf.BERT)
	}
	return hf.Config{}, fmt.Errorf("give --model DIR or --shape bert-base")
}

// measureResult is one point of a sweep: the estimate beside the measurement.
type measureResult struct {
	Method    string                    `json:"method"`
	Predicted estimate.MemoryPrediction `json:"predicted"`
	Measured  estimate.StepMeasurement  `json:"measured"`
}

func runEstimateMeasure(args []string) int {
	fs := newFlags("estimate measure", "(--model DIR | --shape bert-base) --method NAME --batch B --seq S [--steps 3] [--json]")
	modelDir := fs.String("model", "", "model directory")
	shape := fs.String("shape", "", "instead of --model: a random model of this shape (bert-base)")
	method := fs.String("method", "", "PEFT method preset (full, lora, houlsby, ...)")
	batch := fs.Int("batch", 8, "batch size")
	seq := fs.Int("seq", 64, "tokens per example")
	steps := fs.Int("steps", 3, "timed steps after the first (compiling) one")
	pointList := fs.String("points", "", "instead of --method/--batch/--seq: METHOD:BATCH:SEQ,... measured one after another on one model (prints one JSON line each)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *pointList != "" {
		return measurePoints(*modelDir, *shape, *pointList, *steps)
	}
	s, err := buildSetup(*method, "")
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft estimate measure:", err)
		return 2
	}
	m, err := sweepModel(*modelDir, *shape)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft estimate measure:", err)
		return 1
	}
	meas, err := estimate.MeasureSteps(m, s, *batch, *seq, *steps, 1)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft estimate measure:", err)
		return 1
	}
	res := measureResult{Method: *method, Predicted: estimate.PredictMemory(m.Config, s, *batch, *seq, estimate.ActiveBackend()), Measured: meas}
	if *asJSON {
		return printJSON(res)
	}
	fmt.Printf("%s batch %d x %d on %s: predicted %s; measured peak RSS %.1f MiB, device %.1f MiB, step %.3f s (compile %.1f s)\n",
		*method, *batch, *seq, meas.Backend, res.Predicted, float64(meas.PeakRSS)/(1<<20), float64(meas.DeviceBytes)/(1<<20), meas.MedianStep, meas.CompileSeconds)
	return 0
}

// measurePoints measures several points on one model (XLA's compiled
// statistics are per program, so they need no process of their own) and
// prints each as one JSON line as soon as it is measured; a point that
// fails is reported and skipped.
func measurePoints(modelDir, shape, list string, steps int) int {
	m, err := sweepModel(modelDir, shape)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft estimate measure:", err)
		return 1
	}
	enc := json.NewEncoder(os.Stdout)
	for _, p := range strings.Split(list, ",") {
		f := strings.Split(p, ":")
		if len(f) != 3 {
			fmt.Fprintf(os.Stderr, "gopeft estimate measure: point %q is not METHOD:BATCH:SEQ\n", p)
			return 2
		}
		b, err1 := strconv.Atoi(f[1])
		sq, err2 := strconv.Atoi(f[2])
		s, err3 := buildSetup(f[0], "")
		if err1 != nil || err2 != nil || err3 != nil {
			fmt.Fprintf(os.Stderr, "gopeft estimate measure: point %q: %v %v %v\n", p, err1, err2, err3)
			return 2
		}
		meas, err := estimate.MeasureSteps(m, s, b, sq, steps, 1)
		runtime.GC() // the point's Tuned is garbage now: let its buffers go before the next point
		if err != nil {
			fmt.Fprintf(os.Stderr, "gopeft estimate measure: point %s: %v\n", p, err)
			continue
		}
		if err := enc.Encode(measureResult{Method: f[0], Predicted: estimate.PredictMemory(m.Config, s, b, sq, estimate.ActiveBackend()), Measured: meas}); err != nil {
			return 1
		}
	}
	return 0
}

func intList(flag, s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%s %q: give positive integers, e.g. 8,16,32", flag, f)
		}
		out = append(out, n)
	}
	return out, nil
}

// runEstimateSweep measures every (method, batch, seq) point in its own
// child process (`gopeft estimate measure --json`), so each peak is its own,
// and prints predicted against measured peak memory.
func runEstimateSweep(args []string) int {
	fs := newFlags("estimate sweep", "(--model DIR | --shape bert-base) [--methods full,lora,houlsby] [--batches 4,8,16,32] [--seqs 32,64,128] [--parallel 1] [--json]")
	modelDir := fs.String("model", "", "model directory")
	shape := fs.String("shape", "", "instead of --model: a random model of this shape (bert-base)")
	methods := fs.String("methods", "full,lora,houlsby", "method presets")
	batches := fs.String("batches", "4,8,16,32", "batch sizes")
	seqs := fs.String("seqs", "32,64,128", "sequence lengths")
	steps := fs.Int("steps", 3, "timed steps per point")
	parallel := fs.Int("parallel", 1, "child processes at once (GPU: several compile in parallel; CPU: keep 1)")
	perChild := fs.Int("points-per-child", 1, "points a child measures on one model (GPU: more, to build BERT-base once; CPU: 1, so each peak RSS is its own)")
	from := fs.String("from", "", "re-analyse the points of an earlier sweep (its --json output or --out-jsonl file) instead of measuring")
	reprice := fs.Bool("reprice", false, "with --from: predict each point with today's constants for its backend, not those it was measured under")
	outJSONL := fs.String("out-jsonl", "", "append each point to this file as it is measured (kept if the sweep is killed)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *from != "" {
		raw, err := os.ReadFile(*from)
		if err != nil {
			fmt.Fprintln(os.Stderr, "gopeft estimate sweep:", err)
			return 1
		}
		var saved struct {
			Points []*measureResult `json:"points"`
		}
		if err := json.Unmarshal(raw, &saved); err != nil {
			saved.Points = nil // not one object: JSON lines
			for i, line := range strings.Split(string(raw), "\n") {
				if strings.TrimSpace(line) == "" {
					continue
				}
				var r measureResult
				if err := json.Unmarshal([]byte(line), &r); err != nil {
					fmt.Fprintf(os.Stderr, "gopeft estimate sweep: %s:%d: %v (give a file written by gopeft estimate sweep --json or --out-jsonl)\n", *from, i+1, err)
					return 1
				}
				saved.Points = append(saved.Points, &r)
			}
		}
		sortResults(saved.Points)
		if *reprice {
			for _, r := range saved.Points {
				if bm, ok := estimate.BackendNamed(r.Predicted.Backend.Name); ok {
					r.Predicted.Peak, r.Predicted.Backend = bm.Peak(r.Predicted.MemoryUse), bm
					r.Predicted.Basis = fmt.Sprintf("%s constants: %s", bm.Name, bm.Source)
				}
			}
		}
		fit, note := fitSweep(saved.Points)
		if *asJSON {
			return printJSON(map[string]any{"points": saved.Points, "fit": fit, "fit_note": note})
		}
		printSweep(saved.Points)
		fmt.Println(note)
		return 0
	}
	bs, err := intList("--batches", *batches)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft estimate sweep:", err)
		return 2
	}
	ss, err := intList("--seqs", *seqs)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft estimate sweep:", err)
		return 2
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft estimate sweep:", err)
		return 1
	}
	type point struct {
		method     string
		batch, seq int
	}
	var points []point
	for _, me := range strings.Split(*methods, ",") {
		for _, s := range ss {
			for _, b := range bs {
				points = append(points, point{me, b, s})
			}
		}
	}
	// Deal the points, largest predicted first, round-robin to the
	// children: each child then holds at most one of the largest, which
	// bounds what children sharing a GPU need at once.
	if cfg, err := sweepConfig(*modelDir, *shape); err == nil {
		peak := func(p point) int64 {
			s, err := buildSetup(p.method, "")
			if err != nil {
				return 0
			}
			return estimate.PredictMemory(cfg, s, p.batch, p.seq, estimate.XLAMemory).Peak
		}
		sort.SliceStable(points, func(i, j int) bool { return peak(points[i]) > peak(points[j]) })
	}
	k := max(1, *perChild)
	nChildren := (len(points) + k - 1) / k
	groups := make([][]point, nChildren)
	for i, p := range points {
		groups[i%nChildren] = append(groups[i%nChildren], p)
	}
	var mu sync.Mutex
	var ok []*measureResult
	failed := 0
	var sink *os.File
	if *outJSONL != "" {
		if sink, err = os.OpenFile(*outJSONL, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "gopeft estimate sweep:", err)
			return 1
		}
		defer sink.Close()
	}
	sem := make(chan struct{}, max(1, *parallel))
	var wg sync.WaitGroup
	for _, g := range groups {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			var list []string
			for _, p := range g {
				list = append(list, fmt.Sprintf("%s:%d:%d", p.method, p.batch, p.seq))
			}
			a := []string{"estimate", "measure", "--points", strings.Join(list, ","), "--steps", strconv.Itoa(*steps)}
			if *modelDir != "" {
				a = append(a, "--model", *modelDir)
			} else {
				a = append(a, "--shape", *shape)
			}
			cmd := exec.Command(self, a...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			stdout, err := cmd.StdoutPipe()
			if err == nil {
				err = cmd.Start()
			}
			var rs []*measureResult
			if err == nil {
				sc := bufio.NewScanner(stdout)
				sc.Buffer(make([]byte, 1<<20), 1<<24)
				for sc.Scan() {
					var r measureResult
					if jerr := json.Unmarshal(sc.Bytes(), &r); jerr != nil {
						continue
					}
					rs = append(rs, &r)
					mu.Lock()
					if sink != nil {
						sink.Write(append(append([]byte(nil), sc.Bytes()...), '\n'))
					}
					mu.Unlock()
					fmt.Fprintf(os.Stderr, "measured %s batch %d seq %d\n", r.Method, r.Measured.Batch, r.Measured.SeqLen)
				}
				err = cmd.Wait()
			}
			mu.Lock()
			defer mu.Unlock()
			ok = append(ok, rs...)
			failed += len(g) - len(rs)
			if err != nil || len(rs) < len(g) {
				fmt.Fprintf(os.Stderr, "gopeft estimate sweep: child for %s: %v: %s\n", strings.Join(list, ","), err, lastLine(stderr.String()))
			}
		}()
	}
	wg.Wait()
	// The table in sweep order: method, seq, batch.
	sort.SliceStable(points, func(i, j int) bool {
		mi, mj := strings.Index(*methods, points[i].method), strings.Index(*methods, points[j].method)
		if mi != mj {
			return mi < mj
		}
		if points[i].seq != points[j].seq {
			return points[i].seq < points[j].seq
		}
		return points[i].batch < points[j].batch
	})
	order := map[string]int{}
	for i, p := range points {
		order[fmt.Sprintf("%s:%d:%d", p.method, p.batch, p.seq)] = i
	}
	sort.Slice(ok, func(i, j int) bool {
		ki := fmt.Sprintf("%s:%d:%d", ok[i].Method, ok[i].Measured.Batch, ok[i].Measured.SeqLen)
		kj := fmt.Sprintf("%s:%d:%d", ok[j].Method, ok[j].Measured.Batch, ok[j].Measured.SeqLen)
		return order[ki] < order[kj]
	})
	fit, fitNote := fitSweep(ok)
	if *asJSON {
		if code := printJSON(map[string]any{"points": ok, "fit": fit, "fit_note": fitNote}); code != 0 {
			return code
		}
	} else {
		printSweep(ok)
		fmt.Println(fitNote)
	}
	if failed > 0 {
		return 1
	}
	return 0
}

// printSweep prints predicted against measured peak memory and step time.
func printSweep(rs []*measureResult) {
	if len(rs) == 0 {
		return
	}
	gpu := rs[0].Measured.DeviceBytes > 0
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	what := "PEAK RSS"
	if gpu {
		what = "DEVICE"
	}
	fmt.Fprintf(tw, "METHOD\tBATCH\tSEQ\tPREDICTED MiB\t%s MiB\tERROR\tSTEP s\t\n", what)
	worst := 0.0
	for _, r := range rs {
		measured := r.Measured.PeakRSS
		if gpu {
			measured = r.Measured.DeviceBytes
		}
		e := float64(r.Predicted.Peak)/float64(measured) - 1
		worst = max(worst, absf(e))
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f\t%.1f\t%+.1f%%\t%.3f\t\n", r.Method, r.Measured.Batch, r.Measured.SeqLen,
			float64(r.Predicted.Peak)/(1<<20), float64(measured)/(1<<20), 100*e, r.Measured.MedianStep)
	}
	tw.Flush()
	fmt.Printf("%d points on %s; worst error %.1f%% (%s)\n", len(rs), rs[0].Measured.Backend, 100*worst, rs[0].Predicted.Basis)
}

func absf(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// measuredPeak is the point's measured peak: device bytes where the backend
// reports them, else the process's peak RSS.
func measuredPeak(r *measureResult) int64 {
	if r.Measured.DeviceBytes > 0 {
		return r.Measured.DeviceBytes
	}
	return r.Measured.PeakRSS
}

// fitSweep fits the backend's memory constants on the smallest and largest
// batch of every (method, seq) and checks them on the batches between.
func fitSweep(rs []*measureResult) (*estimate.BackendMemory, string) {
	if len(rs) == 0 {
		return nil, "no points"
	}
	lo, hi := rs[0].Measured.Batch, rs[0].Measured.Batch
	for _, r := range rs {
		lo, hi = min(lo, r.Measured.Batch), max(hi, r.Measured.Batch)
	}
	copies := 2.0 // CPU: the Model's weights and the Tuned's clone
	if rs[0].Measured.DeviceBytes > 0 {
		copies = 1 // XLA's statistics: the step's arguments
	}
	var fitOn []estimate.MemoryPoint
	for _, r := range rs {
		if r.Measured.Batch == lo || r.Measured.Batch == hi {
			fitOn = append(fitOn, estimate.MemoryPoint{Use: r.Predicted.MemoryUse, Peak: measuredPeak(r)})
		}
	}
	bm, err := estimate.FitBackendMemory(rs[0].Predicted.Backend.Name, copies, fitOn)
	if err != nil {
		return nil, "no fit: " + err.Error()
	}
	worstFit, worstHeld := 0.0, 0.0
	for _, r := range rs {
		p := bm.Peak(r.Predicted.MemoryUse)
		e := absf(float64(p)/float64(measuredPeak(r)) - 1)
		if r.Measured.Batch == lo || r.Measured.Batch == hi {
			worstFit = max(worstFit, e)
		} else {
			worstHeld = max(worstHeld, e)
		}
	}
	return &bm, fmt.Sprintf("constants fitted on batches %d and %d (%d points): overhead %d bytes (%.1f MiB), weight copies %g, state factor %.3f, activation factor %.3f; worst error %.1f%% on those points, %.1f%% on the held-out batches between",
		lo, hi, len(fitOn), bm.Overhead, float64(bm.Overhead)/(1<<20), bm.WeightCopies, bm.StateFactor, bm.ActivationFactor, 100*worstFit, 100*worstHeld)
}

// runEstimateBackend creates the backend (so a refused client option fails
// here, in seconds) and prints it with its memory constants and the
// machine's memory.
func runEstimateBackend(args []string) int {
	fs := newFlags("estimate backend", "[--json]")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if _, err := peft.Backend(); err != nil {
		fmt.Fprintln(os.Stderr, "gopeft estimate backend:", err)
		return 1
	}
	c := peft.BackendChoice()
	limit, source := estimate.MachineMemory(c.IsGPU())
	out := map[string]any{"backend": c.Display(), "memory_constants": estimate.ActiveBackend(), "memory": limit, "memory_source": source}
	if *asJSON {
		return printJSON(out)
	}
	fmt.Printf("%s; %.1f GB (%s); memory constants: %s\n", c.Display(), float64(limit)/1e9, source, estimate.ActiveBackend().Source)
	return 0
}

// sortResults orders points by method (in order of first appearance), then
// sequence length, then batch.
func sortResults(rs []*measureResult) {
	first := map[string]int{}
	for i, r := range rs {
		if _, ok := first[r.Method]; !ok {
			first[r.Method] = i
		}
	}
	sort.SliceStable(rs, func(i, j int) bool {
		a, b := rs[i], rs[j]
		if a.Method != b.Method {
			return first[a.Method] < first[b.Method]
		}
		if a.Measured.SeqLen != b.Measured.SeqLen {
			return a.Measured.SeqLen < b.Measured.SeqLen
		}
		return a.Measured.Batch < b.Measured.Batch
	})
}
