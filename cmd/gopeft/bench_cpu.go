package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gomlx/gomlx/backends"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/backend/blas"
	"github.com/gopeft/gopeft/widgets/notebook"
)

func init() {
	registerBench("cpu", "fine-tuning step of the shipped encoder on GoPEFT's CPU backends (go, blas) and in PyTorch", runBenchCPU)
}

// cpuMethods are the methods bench cpu knows, in report order.
var cpuMethods = []string{"houlsby", "lora", "head"}

// cpuBackends: a name shown in the report -> the environment of its child.
// "blas-1t" pins OpenBLAS to one thread, to see whether its threads help or
// only compete with GoPEFT's own goroutines for the cores.
var cpuBackends = map[string][]string{
	"go":      {"GOMLX_BACKEND=go"},
	"blas":    {"GOMLX_BACKEND=blas"},
	"blas-1t": {"GOMLX_BACKEND=blas", "OPENBLAS_NUM_THREADS=1"},
}

// cpuResult is one (runner, method) measurement; a child prints one.
type cpuResult struct {
	Runner      string  `json:"runner"`  // go, blas, blas-1t, torch-1t, torch-2t
	Backend     string  `json:"backend"` // what the runner reported using
	Method      string  `json:"method"`
	StepMS      float64 `json:"step_ms"`
	CPUMS       float64 `json:"cpu_ms"`
	FirstStepMS float64 `json:"first_step_ms,omitempty"` // GoPEFT: compile + first step
	Loss        float64 `json:"loss"`
	Params      int     `json:"trainable_params,omitempty"`
}

// cpuReport is `gopeft bench cpu --json`.
type cpuReport struct {
	Date    string            `json:"date"`
	Model   string            `json:"model"`
	Batch   int               `json:"batch"`
	Seq     int               `json:"seq"`
	Steps   int               `json:"steps"`
	Go      string            `json:"go"`
	Procs   int               `json:"gomaxprocs"`
	BLAS    string            `json:"blas"` // what peft/backend/blas loads, or why not
	Results []cpuResult       `json:"results"`
	Skipped map[string]string `json:"skipped,omitempty"` // runner -> why
	// Ratios of step times per method: "blas/torch-1t", "blas/go".
	Ratios map[string]map[string]float64 `json:"ratios"`
}

func runBenchCPU(args []string) int {
	fs := newFlags("bench cpu", "[--json] [--method houlsby,lora,head] [--batch 16] [--seq 64] [--steps 5]")
	jsonOut := fs.Bool("json", false, "print one JSON object instead of a table")
	methods := fs.String("method", strings.Join(cpuMethods, ","), "comma-separated methods: houlsby, lora, head")
	batch := fs.Int("batch", 16, "examples per batch")
	seq := fs.Int("seq", 64, "tokens per example")
	steps := fs.Int("steps", 5, "timed steps per runner and method, after warm-up; the median is reported")
	runners := fs.String("backends", "go,blas,blas-1t", "comma-separated GoPEFT CPU backends: go, blas, blas-1t (OpenBLAS on one thread)")
	torchThreads := fs.String("torch-threads", "1,2", "PyTorch thread counts to run (empty: no PyTorch)")
	python := fs.String("python", "/usr/bin/python3", "python with torch for the reference")
	child := fs.String("child", "", "internal: measure one method in this process and print JSON")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: gopeft bench cpu [flags]\n\n"+
			"Times one fine-tuning step (forward, loss, gradients, AdamW) of the shipped encoder\n"+
			"(models/gopeft-small, or GOPEFT_MODEL) with each method on GoPEFT's CPU backends, each\n"+
			"(backend, method) in its own child process, and the same step in PyTorch (%s) when\n"+
			"that python has torch, side by side. Backends that are not usable are skipped with the reason.\n\n",
			"scripts/bench/torch_cpu_step.py")
		fs.VisitAll(func(f *flag.Flag) {
			if f.Name != "child" {
				fmt.Fprintf(fs.Output(), "  --%s\t%s (default %q)\n", f.Name, f.Usage, f.DefValue)
			}
		})
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *batch < 1 || *seq < 1 || *steps < 1 {
		fmt.Fprintln(os.Stderr, "gopeft bench cpu: --batch, --seq and --steps must be >= 1")
		return 2
	}
	ms, err := parseList(*methods, cpuMethods)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft bench cpu: --method:", err)
		return 2
	}
	if *child != "" {
		if len(ms) != 1 {
			fmt.Fprintln(os.Stderr, "gopeft bench cpu: --child measures exactly one --method")
			return 2
		}
		return benchCPUChild(*child, ms[0], *batch, *seq, *steps)
	}
	bs, err := parseList(*runners, slices.Sorted(maps.Keys(cpuBackends)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft bench cpu: --backends:", err)
		return 2
	}
	var threads []int
	for _, s := range strings.Split(*torchThreads, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "gopeft bench cpu: --torch-threads: %q is not a thread count\n", s)
			return 2
		}
		threads = append(threads, n)
	}
	modelDir, err := notebook.ShippedModelDir()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft bench cpu:", err)
		return 1
	}
	_, blasInfo := blas.LibraryStatus()
	rep := cpuReport{Date: time.Now().UTC().Format(time.RFC3339), Model: modelDir, Batch: *batch, Seq: *seq, Steps: *steps,
		Go: runtime.Version(), Procs: runtime.GOMAXPROCS(0), BLAS: blasInfo, Skipped: map[string]string{}}
	progress := func(format string, a ...any) {
		if !*jsonOut {
			fmt.Fprintf(os.Stderr, "bench cpu: "+format+"\n", a...)
		}
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "gopeft bench cpu: cannot find my own executable to run each variant in a child process: %v\n", err)
		return 1
	}
	for _, b := range bs {
		if why := cpuBackendUnusable(b); why != "" {
			rep.Skipped[b] = why
			progress("skipping %s: %s", b, why)
			continue
		}
		for _, m := range ms {
			progress("%s %s: 1 warm-up (compiles) + %d steps...", b, m, *steps)
			r, err := runCPUChild(self, b, m, *batch, *seq, *steps)
			if err != nil {
				fmt.Fprintf(os.Stderr, "gopeft bench cpu: %s %s: %v\n", b, m, err)
				return 1
			}
			rep.Results = append(rep.Results, r)
		}
	}
	script, why := torchScript(*python, modelDir)
	for _, n := range threads {
		runner := fmt.Sprintf("torch-%dt", n)
		if why != "" {
			rep.Skipped[runner] = why
			continue
		}
		for _, m := range ms {
			progress("%s %s...", runner, m)
			r, err := runTorch(*python, script, modelDir, runner, m, n, *batch, *seq, *steps)
			if err != nil {
				fmt.Fprintf(os.Stderr, "gopeft bench cpu: %s %s: %v\n", runner, m, err)
				return 1
			}
			rep.Results = append(rep.Results, r)
		}
	}
	if why != "" && len(threads) > 0 {
		progress("skipping PyTorch: %s", why)
	}
	rep.Ratios = cpuRatios(rep.Results, ms)
	if len(rep.Skipped) == 0 {
		rep.Skipped = nil
	}
	if *jsonOut {
		return printJSON(rep)
	}
	printCPUReport(rep, ms)
	return 0
}

// parseList splits a comma-separated list and checks every item is known.
func parseList(s string, known []string) ([]string, error) {
	var out []string
	for _, x := range strings.Split(s, ",") {
		x = strings.ToLower(strings.TrimSpace(x))
		if x == "" {
			continue
		}
		if !slices.Contains(known, x) {
			return nil, fmt.Errorf("unknown %q: use %s", x, strings.Join(known, ", "))
		}
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("empty list")
	}
	return out, nil
}

// cpuBackendUnusable says why a GoPEFT backend cannot run here, or "".
func cpuBackendUnusable(name string) string {
	if !strings.HasPrefix(name, "blas") {
		return ""
	}
	if !slices.Contains(backends.List(), "blas") {
		return `GoMLX backend "blas" is not registered in this build (peft/backend/blas's backend is not part of it yet)`
	}
	if ok, info := blas.LibraryStatus(); !ok {
		return info
	}
	return ""
}

func runCPUChild(self, runner, method string, batch, seq, steps int) (cpuResult, error) {
	var r cpuResult
	cmd := exec.Command(self, "bench", "cpu", "--child", runner, "--method", method,
		"--batch", strconv.Itoa(batch), "--seq", strconv.Itoa(seq), "--steps", strconv.Itoa(steps))
	// The child's backend comes from the environment, as for any user; a
	// setting inherited from ours must not override it.
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "GOMLX_BACKEND=") || strings.HasPrefix(kv, "GOPEFT_BACKEND=") ||
			(runner == "blas-1t" && strings.HasPrefix(kv, "OPENBLAS_NUM_THREADS="))
	})
	cmd.Env = append(env, cpuBackends[runner]...)
	err := runJSON(cmd, "child process", &r)
	return r, err
}

// cpuSetup is the PEFT setup of a bench method: GoPEFT's presets, as the
// PyTorch script builds them.
func cpuSetup(method string) (*peft.Setup, error) {
	if method == "head" {
		return &peft.Setup{}, nil
	}
	m, err := peft.Preset(method)
	if err != nil {
		return nil, err
	}
	return peft.NewSetup("task", m), nil
}

// cpuBatch is the synthetic batch both sides train on.
func cpuBatch(batch, seq, vocab int) (peft.Batch, peft.Labels) {
	b := peft.Batch{IDs: make([][]int32, batch)}
	y := peft.Labels{Classes: make([]int32, batch)}
	for i := range b.IDs {
		b.IDs[i] = make([]int32, seq)
		for j := range b.IDs[i] {
			b.IDs[i][j] = int32((i*31 + j*7) % vocab)
		}
		y.Classes[i] = int32(i % 2)
	}
	return b, y
}

func benchCPUChild(runner, method string, batch, seq, steps int) int {
	fail := func(err error) int {
		fmt.Fprintf(os.Stderr, "gopeft bench cpu (%s %s): %v\n", runner, method, err)
		return 1
	}
	m, err := notebook.LoadShipped()
	if err != nil {
		return fail(err)
	}
	if seq > m.Config.MaxPositions {
		return fail(fmt.Errorf("--seq %d exceeds the model's %d positions", seq, m.Config.MaxPositions))
	}
	s, err := cpuSetup(method)
	if err != nil {
		return fail(err)
	}
	t, err := peft.NewTuned(m, s, peft.ClassificationHead(2), 1)
	if err != nil {
		return fail(err)
	}
	stepper := t.NewStepper(0.01)
	b, y := cpuBatch(batch, seq, m.Config.VocabSize)
	var last peft.StepResult
	step := func() error { last, err = stepper.Step(b, y, 1e-4, 0); return err }
	start := time.Now()
	if err := step(); err != nil {
		return fail(err)
	}
	first := float64(time.Since(start).Microseconds()) / 1000
	// One more untimed step: the first Exec after compilation still warms
	// buffer pools and caches.
	wall, cpu, err := medianMS(steps, step)
	if err != nil {
		return fail(err)
	}
	r := cpuResult{Runner: runner, Backend: peft.BackendChoice().Name, Method: method,
		StepMS: round3(wall), CPUMS: round3(cpu), FirstStepMS: round3(first), Loss: last.Loss,
		Params: t.Setup.NumParams(m.Config) + t.Head.NumParams(m.Config.HiddenSize)}
	if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
		return fail(err)
	}
	return 0
}

// torchScript finds the reference script beside the model's checkout and
// checks that python has torch; why is "" when both are there.
func torchScript(python, modelDir string) (script, why string) {
	script, err := benchScript(filepath.Dir(filepath.Dir(modelDir)), "torch_cpu_step.py")
	if err != nil {
		return "", err.Error()
	}
	if _, err := quick(python, "-c", "import torch"); err != nil {
		return "", fmt.Sprintf("%s cannot import torch (apt-get install python3-torch)", python)
	}
	return script, ""
}

func runTorch(python, script, modelDir, runner, method string, threads, batch, seq, steps int) (cpuResult, error) {
	r := cpuResult{Runner: runner, Method: method}
	cmd := exec.Command(python, script, modelDir, "--method", method, "--threads", strconv.Itoa(threads),
		"--batch", strconv.Itoa(batch), "--seq", strconv.Itoa(seq), "--steps", strconv.Itoa(steps))
	// Debian's torch does its products in OpenBLAS, whose own thread pool
	// torch.set_num_threads does not govern: without these, "1 thread" ran
	// its matrix products on every core.
	n := strconv.Itoa(threads)
	cmd.Env = append(os.Environ(), "OPENBLAS_NUM_THREADS="+n, "OMP_NUM_THREADS="+n, "MKL_NUM_THREADS="+n)
	var t struct {
		Torch  string  `json:"torch"`
		StepMS float64 `json:"step_ms"`
		CPUMS  float64 `json:"cpu_ms"`
		Loss   float64 `json:"loss"`
		Params int     `json:"trainable_params"`
	}
	if err := runJSON(cmd, script, &t); err != nil {
		return r, err
	}
	r.Backend = "torch " + t.Torch
	r.StepMS, r.CPUMS, r.Loss, r.Params = round3(t.StepMS), round3(t.CPUMS), t.Loss, t.Params
	return r, nil
}

// cpuRatios: per method, blas/torch-1t and blas/go step-time ratios (and
// blas-1t's) where both sides ran.
func cpuRatios(results []cpuResult, methods []string) map[string]map[string]float64 {
	step := map[[2]string]float64{}
	for _, r := range results {
		step[[2]string{r.Runner, r.Method}] = r.StepMS
	}
	out := map[string]map[string]float64{}
	for _, m := range methods {
		for _, num := range []string{"blas", "blas-1t"} {
			for _, den := range []string{"torch-1t", "go"} {
				a, okA := step[[2]string{num, m}]
				b, okB := step[[2]string{den, m}]
				if okA && okB && b > 0 {
					if out[m] == nil {
						out[m] = map[string]float64{}
					}
					out[m][num+"/"+den] = round3(a / b)
				}
			}
		}
	}
	return out
}

func printCPUReport(rep cpuReport, methods []string) {
	defer func() {
		for _, r := range slices.Sorted(maps.Keys(rep.Skipped)) {
			fmt.Printf("skipped %s: %s\n", r, rep.Skipped[r])
		}
	}()
	if len(rep.Results) == 0 {
		fmt.Println("Nothing ran.")
		return
	}
	fmt.Printf("Fine-tuning step of %s, batch %d x seq %d, median of %d steps (ms; CPU ms in brackets; \"a vs b\": how many times faster a is)\n",
		filepath.Base(rep.Model), rep.Batch, rep.Seq, rep.Steps)
	fmt.Printf("%s, GOMAXPROCS %d; %s\n\n", rep.Go, rep.Procs, rep.BLAS)
	var runners []string
	for _, r := range rep.Results {
		if !slices.Contains(runners, r.Runner) {
			runners = append(runners, r.Runner)
		}
	}
	step := map[[2]string]cpuResult{}
	for _, r := range rep.Results {
		step[[2]string{r.Runner, r.Method}] = r
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "method\t")
	for _, r := range runners {
		fmt.Fprintf(tw, "%s\t", r)
	}
	var ratioNames []string
	for _, m := range methods {
		for k := range rep.Ratios[m] {
			if !slices.Contains(ratioNames, k) {
				ratioNames = append(ratioNames, k)
			}
		}
	}
	slices.Sort(ratioNames)
	// The table shows speed-ups (the JSON keeps time ratios): "blas vs go
	// 9.7x" reads the way the targets are stated.
	for _, k := range ratioNames {
		fmt.Fprintf(tw, "%s\t", strings.Replace(k, "/", " vs ", 1))
	}
	fmt.Fprintln(tw)
	for _, m := range methods {
		fmt.Fprintf(tw, "%s\t", m)
		for _, r := range runners {
			if res, ok := step[[2]string{r, m}]; ok {
				fmt.Fprintf(tw, "%.1f (%.0f)\t", res.StepMS, res.CPUMS)
			} else {
				fmt.Fprint(tw, "-\t")
			}
		}
		for _, k := range ratioNames {
			if v, ok := rep.Ratios[m][k]; ok && v > 0 {
				fmt.Fprintf(tw, "%.2fx\t", 1/v)
			} else {
				fmt.Fprint(tw, "-\t")
			}
		}
		fmt.Fprintln(tw)
	}
	_ = tw.Flush()
	var firsts []string
	for _, r := range rep.Results {
		if r.FirstStepMS > 0 {
			firsts = append(firsts, fmt.Sprintf("%s %s %.1f s", r.Runner, r.Method, r.FirstStepMS/1000))
		}
	}
	if len(firsts) > 0 {
		fmt.Printf("\nGoPEFT first step (graph build + compile + step): %s\n", strings.Join(firsts, ", "))
	}
}
