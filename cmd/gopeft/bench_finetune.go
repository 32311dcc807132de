package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/backend"
	"github.com/gopeft/gopeft/peft/hf"
)

func init() {
	registerBench("finetune", "one training step of a BERT-base-shaped encoder (GPU), GoPEFT against PyTorch + HF peft", runBenchFinetune)
}

// ftMethods are bench finetune's methods, in report order.
var ftMethods = []string{"lora", "houlsby", "full", "head"}

// ftPrecisions: GoPEFT runner name -> mixed precision on.
var ftPrecisions = map[string]bool{"f32": false, "bf16": true}

// ftTorchConfigs are the PyTorch configurations the reference script knows.
var ftTorchConfigs = []string{"tf32-eager", "bf16-eager", "bf16-compile"}

// ftShape is the encoder and batch both sides train.
type ftShape struct {
	Layers, Hidden, Heads, FFN, Vocab, Batch, Seq int
}

// forwardFLOPs counts the forward pass's matrix-product FLOPs: per token
// and layer the four attention projections (8h^2), the FFN (4h*ffn) and the
// attention scores and values (4*seq*h). Embedding lookups, the head and
// the adapters' own products (under 1% for these methods) are left out.
func (s ftShape) forwardFLOPs() float64 {
	h, f, n := float64(s.Hidden), float64(s.FFN), float64(s.Seq)
	return float64(s.Batch*s.Seq) * float64(s.Layers) * (8*h*h + 4*h*f + 4*n*h)
}

// stepFLOPs is the model FLOPs of one training step: the forward, the
// gradient of the activations (as much again, for every method whose
// lowest trainable weight is in the first layer) and the gradient of the
// weights (as much again, only when the base weights train). The head
// alone needs no backward pass through the encoder.
func (s ftShape) stepFLOPs(method string) float64 {
	switch method {
	case "full":
		return 3 * s.forwardFLOPs()
	case "head":
		return s.forwardFLOPs()
	}
	return 2 * s.forwardFLOPs()
}

// ftResult is one (runner, method) measurement.
type ftResult struct {
	Runner string `json:"runner"` // gopeft-f32, gopeft-bf16, torch-tf32-eager, torch-bf16-eager, torch-bf16-compile; gopeft-f32x2: on 2 devices
	Method string `json:"method"`
	// Devices > 0: GoPEFT data parallel over a mesh of that many devices,
	// each with the shape's batch (the step's global batch is Devices x
	// Batch); 1 is a mesh of one. 0: the plain single-device step.
	Devices    int     `json:"devices,omitempty"`
	StepMS     float64 `json:"step_ms"`                // median, losses read every --loss-every steps
	SyncStepMS float64 `json:"sync_step_ms,omitempty"` // GoPEFT: median with the loss read after every step
	TokensPerS float64 `json:"tokens_per_s"`
	TFLOPs     float64 `json:"tflops"` // model FLOPs per second / 1e12
	MFU        float64 `json:"mfu"`    // TFLOPs / --peak-tflops
	// PeakMemMiB is the device memory the process held at its end beyond
	// what it held before its first allocation (nvidia-smi memory.used
	// difference; XLA without preallocation, PyTorch's caching allocator).
	PeakMemMiB float64 `json:"peak_mem_mib,omitempty"`
	// TorchAllocMiB/TorchReservedMiB: torch.cuda.max_memory_allocated/_reserved.
	TorchAllocMiB    float64 `json:"torch_alloc_mib,omitempty"`
	TorchReservedMiB float64 `json:"torch_reserved_mib,omitempty"`
	// Start-up (GoPEFT): backend, NewModel, NewTuned, first step (graph
	// building, XLA compilation and the step), in seconds.
	BackendS   float64 `json:"backend_s,omitempty"`
	NewModelS  float64 `json:"new_model_s,omitempty"`
	NewTunedS  float64 `json:"new_tuned_s,omitempty"`
	FirstStepS float64 `json:"first_step_s,omitempty"`
	// ExecCache: the XLA executable cache's loads and compiles in this
	// child ("hits/misses"; peft/backend/xlacache.go).
	ExecCache string  `json:"exec_cache,omitempty"`
	Loss      float64 `json:"loss"`
	Params    int     `json:"trainable_params"`
	Versions  string  `json:"versions,omitempty"`
	Error     string  `json:"error,omitempty"`
}

// ftReport is `gopeft bench finetune --json`.
type ftReport struct {
	Date      string             `json:"date"`
	Device    string             `json:"device"`
	Backend   string             `json:"backend"`
	Shape     ftShape            `json:"shape"`
	Steps     int                `json:"steps"`
	LossEvery int                `json:"loss_every"`
	PeakTFLOP float64            `json:"peak_tflops"`
	XLAFlags  string             `json:"xla_flags"`
	Go        string             `json:"go"`
	Results   []ftResult         `json:"results"`
	Skipped   map[string]string  `json:"skipped,omitempty"`
	Ratios    map[string]ftRatio `json:"ratios"` // per method: GoPEFT's best against each torch config
	// DataParallel (--devices N > 1, or --mesh), per method and precision
	// ("lora/f32"): a mesh of N devices against the plain step on one, at
	// the same per-device batch.
	DataParallel map[string]ftScaling `json:"data_parallel,omitempty"`
}

// ftScaling is data parallel's gain: tokens/s on Devices devices over
// tokens/s on one (Speedup), and Speedup / Devices (Efficiency).
type ftScaling struct {
	Devices    int     `json:"devices"`
	OneTokensS float64 `json:"tokens_per_s_1"`
	NTokensS   float64 `json:"tokens_per_s_n"`
	Speedup    float64 `json:"speedup"`
	Efficiency float64 `json:"efficiency"`
}

// ftRatio: speed of GoPEFT's best runner over each torch runner (tokens/s
// ratio, > 1 is GoPEFT faster), and memory ratio (< 1 is GoPEFT smaller).
type ftRatio struct {
	Best    string             `json:"gopeft_best"`
	Speedup map[string]float64 `json:"speedup"`
	Memory  map[string]float64 `json:"memory,omitempty"`
}

func runBenchFinetune(args []string) int {
	fs := newFlags("bench finetune", "[--json] [--method lora,houlsby,full,head] [--precision f32,bf16] [--torch tf32-eager,bf16-eager,bf16-compile] [--devices N]")
	jsonOut := fs.Bool("json", false, "print one JSON object instead of a table")
	methods := fs.String("method", strings.Join(ftMethods, ","), "comma-separated methods: lora, houlsby, full, head")
	precisions := fs.String("precision", "f32,bf16", "GoPEFT precisions: f32, bf16 (bfloat16 products, float32 master weights)")
	torchCfgs := fs.String("torch", strings.Join(ftTorchConfigs, ","), "PyTorch configurations (empty: no PyTorch)")
	compileMethods := fs.String("torch-compile-methods", "lora,houlsby", "methods that bf16-compile runs for (torch.compile takes about a minute each)")
	python := fs.String("python", "python3", "python with torch, transformers and peft for the reference")
	steps := fs.Int("steps", 20, "timed steps per runner and method, after warm-up; the median is reported")
	lossEvery := fs.Int("loss-every", 10, "GoPEFT reads the loss back every so many steps (1: every step)")
	peak := fs.Float64("peak-tflops", 989, "device's dense bf16 peak in TFLOP/s for MFU (H200 SXM: 989)")
	// 0 (the default) is one device; a child given no --devices runs the
	// plain step, as before data parallel existed.
	devices := fs.Int("devices", 0, "N > 1: also time GoPEFT data parallel over N GPUs, each with --batch examples (global batch N x batch), against one")
	mesh := fs.Bool("mesh", false, "with --devices 1: also time a mesh of one (the data parallel code on one device) against the plain step")
	var sh ftShape
	fs.IntVar(&sh.Layers, "layers", 12, "encoder layers")
	fs.IntVar(&sh.Hidden, "hidden", 768, "hidden size")
	fs.IntVar(&sh.Heads, "heads", 12, "attention heads")
	fs.IntVar(&sh.FFN, "ffn", 3072, "FFN (intermediate) size")
	fs.IntVar(&sh.Vocab, "vocab", 30522, "vocabulary")
	fs.IntVar(&sh.Batch, "batch", 64, "examples per batch")
	fs.IntVar(&sh.Seq, "seq", 128, "tokens per example")
	child := fs.String("child", "", "internal: measure one precision and method in this process and print JSON")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: gopeft bench finetune [flags]\n\n"+
			"Times one fine-tuning step (forward, cross-entropy, gradients, AdamW) of a randomly\n"+
			"initialised encoder of BERT-base's shape through GoPEFT's own Stepper on this process's\n"+
			"backend (a GPU: see gopeft doctor), each (precision, method) in its own child process,\n"+
			"and the same step in PyTorch + transformers + HF peft (scripts/bench/torch_finetune_step.py)\n"+
			"side by side. Reports ms/step, tokens/s, model-FLOPs utilisation, device memory and\n"+
			"GoPEFT's start-up (NewModel, NewTuned, first step).\n\n")
		fs.VisitAll(func(f *flag.Flag) {
			if f.Name != "child" {
				fmt.Fprintf(fs.Output(), "  --%s\t%s (default %q)\n", f.Name, f.Usage, f.DefValue)
			}
		})
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "gopeft bench finetune: "+format+"\n", a...)
		return 2
	}
	if *steps < 1 || *lossEvery < 1 || *devices < 0 || sh.Batch < 1 || sh.Seq < 1 || sh.Layers < 1 || sh.Heads < 1 || sh.Hidden%sh.Heads != 0 {
		return fail("--steps, --loss-every, --devices, --batch, --seq, --layers, --heads must be >= 1 and --hidden a multiple of --heads")
	}
	ms, err := parseList(*methods, ftMethods)
	if err != nil {
		return fail("--method: %v", err)
	}
	if *child != "" {
		mixed, ok := ftPrecisions[*child]
		if !ok || len(ms) != 1 {
			return fail("--child takes f32 or bf16 and exactly one --method")
		}
		return benchFinetuneChild(*child, mixed, ms[0], sh, *devices, *steps, *lossEvery, *peak)
	}
	*devices = max(1, *devices)
	var ps []string
	if strings.TrimSpace(*precisions) != "" {
		if ps, err = parseList(*precisions, slices.Sorted(maps.Keys(ftPrecisions))); err != nil {
			return fail("--precision: %v", err)
		}
	}
	var tcs []string
	if strings.TrimSpace(*torchCfgs) != "" {
		if tcs, err = parseList(*torchCfgs, ftTorchConfigs); err != nil {
			return fail("--torch: %v", err)
		}
	}
	var compileFor []string
	if strings.TrimSpace(*compileMethods) != "" {
		if compileFor, err = parseList(*compileMethods, ftMethods); err != nil {
			return fail("--torch-compile-methods: %v", err)
		}
	}
	rep := ftReport{Date: time.Now().UTC().Format(time.RFC3339), Device: gpuName(), Backend: peft.BackendChoice().Display(),
		Shape: sh, Steps: *steps, LossEvery: *lossEvery, PeakTFLOP: *peak, XLAFlags: os.Getenv("XLA_FLAGS"),
		Go: runtime.Version(), Skipped: map[string]string{}}
	progress := func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "bench finetune ("+time.Now().Format("15:04:05")+"): "+format+"\n", a...)
	}
	self, err := os.Executable()
	if err != nil {
		return fail("cannot find my own executable: %v", err)
	}
	script, why := "", "not asked for (--torch \"\")"
	if len(tcs) > 0 {
		if script, why = torchFinetuneScript(*python); why != "" {
			rep.Skipped["torch"] = why
			progress("skipping PyTorch: %s", why)
		}
	}
	// Method by method, both sides, so that a run cut short still has
	// complete comparisons for the methods it reached.
	for _, m := range ms {
		for _, p := range ps {
			progress("gopeft-%s %s...", p, m)
			r := runFinetuneChild(self, p, m, sh, 0, *steps, *lossEvery, *peak)
			progress("  %s", r.brief())
			rep.Results = append(rep.Results, r)
			if *devices > 1 || *mesh {
				progress("gopeft-%s %s on %d devices...", p, m, *devices)
				r := runFinetuneChild(self, p, m, sh, *devices, *steps, *lossEvery, *peak)
				progress("  %s", r.brief())
				rep.Results = append(rep.Results, r)
			}
		}
		if why != "" {
			continue
		}
		cfgs := slices.DeleteFunc(slices.Clone(tcs), func(c string) bool {
			return c == "bf16-compile" && !slices.Contains(compileFor, m)
		})
		progress("torch %s %v...", m, cfgs)
		for _, r := range runTorchFinetune(*python, script, m, cfgs, sh, *steps, *peak) {
			progress("  %s", r.brief())
			rep.Results = append(rep.Results, r)
		}
	}
	rep.Ratios = ftRatios(rep.Results, ms)
	rep.DataParallel = ftDataParallel(rep.Results)
	if len(rep.Skipped) == 0 {
		rep.Skipped = nil
	}
	if *jsonOut {
		return printJSON(rep)
	}
	printFinetuneReport(rep, ms)
	return 0
}

func (r ftResult) brief() string {
	if r.Error != "" {
		return r.Runner + " " + r.Method + ": " + r.Error
	}
	s := fmt.Sprintf("%s %s: %.2f ms/step, %.0f tokens/s, MFU %.1f%%, %.0f MiB", r.Runner, r.Method, r.StepMS, r.TokensPerS, 100*r.MFU, r.PeakMemMiB)
	if r.FirstStepS > 0 {
		s += fmt.Sprintf("; NewModel %.2f s, NewTuned %.2f s, first step %.1f s", r.NewModelS, r.NewTunedS, r.FirstStepS)
	}
	return s
}

// gpuMemUsedMiB is nvidia-smi's memory.used of GPU 0, or -1 without one.
func gpuMemUsedMiB() float64 {
	out, err := exec.Command("nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits", "-i", "0").Output()
	if err != nil {
		return -1
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		return -1
	}
	return v
}

func gpuName() string {
	out, err := exec.Command("nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader", "-i", "0").Output()
	if err != nil {
		return "no nvidia-smi: " + runtime.GOOS + "/" + runtime.GOARCH
	}
	return strings.TrimSpace(string(out))
}

// ftRunner names GoPEFT's runner: gopeft-f32 for the plain step (devices
// 0), gopeft-f32x2 on a mesh of 2 devices (x1: a mesh of one).
func ftRunner(precision string, devices int) string {
	if devices > 0 {
		return fmt.Sprintf("gopeft-%sx%d", precision, devices)
	}
	return "gopeft-" + precision
}

func runFinetuneChild(self, precision, method string, sh ftShape, devices, steps, lossEvery int, peak float64) ftResult {
	r := ftResult{Runner: ftRunner(precision, devices), Method: method, Devices: devices}
	cmd := exec.Command(self, "bench", "finetune", "--child", precision, "--method", method, "--devices", strconv.Itoa(devices), "--steps", strconv.Itoa(steps),
		"--loss-every", strconv.Itoa(lossEvery), "--peak-tflops", strconv.FormatFloat(peak, 'g', -1, 64),
		"--layers", strconv.Itoa(sh.Layers), "--hidden", strconv.Itoa(sh.Hidden), "--heads", strconv.Itoa(sh.Heads),
		"--ffn", strconv.Itoa(sh.FFN), "--vocab", strconv.Itoa(sh.Vocab), "--batch", strconv.Itoa(sh.Batch), "--seq", strconv.Itoa(sh.Seq))
	// Memory is measured as the child's growth: XLA must not reserve 75% of
	// the device up front.
	cmd.Env = append(os.Environ(), backend.EnvXLAPreallocate+"=false")
	if err := runJSON(cmd, "child process", &r); err != nil {
		r.Error = err.Error()
	}
	return r
}

// ftSetup is a method's setup, from the library's presets.
func ftSetup(method string) (*peft.Setup, error) {
	if method == "head" {
		return &peft.Setup{}, nil
	}
	m, err := peft.Preset(method)
	if err != nil {
		return nil, err
	}
	return peft.NewSetup("task", m), nil
}

func benchFinetuneChild(precision string, mixed bool, method string, sh ftShape, devices, steps, lossEvery int, peak float64) int {
	r := ftResult{Runner: ftRunner(precision, devices), Method: method, Devices: devices}
	fail := func(err error) int {
		fmt.Fprintf(os.Stderr, "gopeft bench finetune (%s %s): %v\n", r.Runner, method, err)
		return 1
	}
	since := func(t time.Time) float64 { return round3(time.Since(t).Seconds()) }
	t0 := time.Now()
	if _, err := peft.Backend(); err != nil {
		return fail(err)
	}
	r.BackendS = since(t0)
	mem0 := gpuMemUsedMiB()
	cfg, err := hf.DefaultConfig("bert")
	if err != nil {
		return fail(err)
	}
	cfg.NumLayers, cfg.HiddenSize, cfg.NumHeads, cfg.IntermediateSize, cfg.VocabSize = sh.Layers, sh.Hidden, sh.Heads, sh.FFN, sh.Vocab
	cfg.MaxPositions = max(cfg.MaxPositions, sh.Seq)
	if err := cfg.Validate(); err != nil {
		return fail(err)
	}
	t0 = time.Now()
	m, err := peft.NewModel(cfg, nil, 1)
	if err != nil {
		return fail(err)
	}
	r.NewModelS = since(t0)
	s, err := ftSetup(method)
	if err != nil {
		return fail(err)
	}
	t0 = time.Now()
	t, err := peft.NewTuned(m, s, peft.ClassificationHead(2), 1)
	if err != nil {
		return fail(err)
	}
	if err := t.SetMixedPrecision(mixed); err != nil {
		return fail(err)
	}
	r.NewTunedS = since(t0)
	// Devices 0 is the plain graph; a mesh of N splits N x batch examples.
	st := t.NewStepperWith(peft.StepperOptions{WeightDecay: 0.01, Devices: r.Devices})
	b, y := cpuBatch(sh.Batch*max(1, r.Devices), sh.Seq, sh.Vocab)
	t0 = time.Now()
	res, err := st.Step(b, y, 1e-4, 0)
	if err != nil {
		return fail(err)
	}
	r.FirstStepS = since(t0)
	// Per-step sync (the loss read after every step) ...
	sync, _, err := medianMS(steps, func() error { res, err = st.Step(b, y, 1e-4, 0); return err })
	if err != nil {
		return fail(err)
	}
	// ... and the loss read every lossEvery steps: the mean over each
	// window, median over windows.
	windows := max(1, steps/lossEvery)
	var per []float64
	for range windows {
		t0 = time.Now()
		var p peft.PendingStep
		for range lossEvery {
			if p, err = st.StepLazy(b, y, 1e-4, 0); err != nil {
				return fail(err)
			}
		}
		res = p.Result()
		per = append(per, float64(time.Since(t0).Microseconds())/1000/float64(lossEvery))
	}
	slices.Sort(per)
	r.SyncStepMS = round3(sync)
	r.StepMS = round3(min(sync, per[len(per)/2]))
	if mem0 >= 0 {
		r.PeakMemMiB = gpuMemUsedMiB() - mem0
	}
	r.Loss = res.Loss
	r.Params = t.Counts().Trainable
	r.fill(sh, peak)
	r.Versions = peft.BackendChoice().Display()
	if c := backend.ExecutableCacheStats(); c.Dir != "" {
		r.ExecCache = fmt.Sprintf("%d/%d", c.Hits, c.Misses)
	}
	if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
		return fail(err)
	}
	return 0
}

// fill derives tokens/s, TFLOP/s and MFU from StepMS; on several devices
// the step's batch is theirs together, and MFU is against their peak.
func (r *ftResult) fill(sh ftShape, peak float64) {
	if r.StepMS <= 0 {
		return
	}
	n := max(1, r.Devices)
	sh.Batch *= n
	r.TokensPerS = float64(int(float64(sh.Batch*sh.Seq) / (r.StepMS / 1000)))
	r.TFLOPs = round3(sh.stepFLOPs(r.Method) / (r.StepMS / 1000) / 1e12)
	if peak > 0 {
		r.MFU = round3(r.TFLOPs / (peak * float64(n)))
	}
}

// ftDataParallel pairs each data parallel result with its one-device run.
func ftDataParallel(results []ftResult) map[string]ftScaling {
	out := map[string]ftScaling{}
	for _, n := range results {
		if n.Devices < 1 || n.Error != "" || n.TokensPerS <= 0 {
			continue
		}
		one := strings.TrimSuffix(n.Runner, fmt.Sprintf("x%d", n.Devices))
		for _, r := range results {
			if r.Runner == one && r.Method == n.Method && r.Error == "" && r.TokensPerS > 0 {
				sp := n.TokensPerS / r.TokensPerS
				out[n.Method+"/"+strings.TrimPrefix(one, "gopeft-")] = ftScaling{Devices: n.Devices, OneTokensS: r.TokensPerS,
					NTokensS: n.TokensPerS, Speedup: round3(sp), Efficiency: round3(sp / float64(n.Devices))}
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func torchFinetuneScript(python string) (script, why string) {
	script, err := benchScript(".", "torch_finetune_step.py")
	if err != nil {
		return "", err.Error()
	}
	if out, err := quick(python, "-c", "import torch, transformers, peft; assert torch.cuda.is_available(), 'no CUDA device'"); err != nil {
		return "", fmt.Sprintf("%s cannot run the reference (needs torch with CUDA, transformers, peft): %s", python, lastLine(out))
	}
	return script, ""
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// runTorchFinetune runs the reference for one method and its configs in
// one process (the script resets the peak-memory counters between them).
func runTorchFinetune(python, script, method string, cfgs []string, sh ftShape, steps int, peak float64) []ftResult {
	cmd := exec.Command(python, script, "--method", method, "--configs", strings.Join(cfgs, ","), "--steps", strconv.Itoa(steps),
		"--layers", strconv.Itoa(sh.Layers), "--hidden", strconv.Itoa(sh.Hidden), "--heads", strconv.Itoa(sh.Heads),
		"--ffn", strconv.Itoa(sh.FFN), "--vocab", strconv.Itoa(sh.Vocab), "--batch", strconv.Itoa(sh.Batch), "--seq", strconv.Itoa(sh.Seq))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	err := cmd.Run()
	var rs []ftResult
	for _, line := range strings.Split(out.String(), "\n") {
		if line = strings.TrimSpace(line); !strings.HasPrefix(line, "{") {
			continue
		}
		var r ftResult
		if e := json.Unmarshal([]byte(line), &r); e != nil {
			rs = append(rs, ftResult{Runner: "torch", Method: method, Error: fmt.Sprintf("bad line %q: %v", line, e)})
			continue
		}
		r.fill(sh, peak)
		rs = append(rs, r)
	}
	if err != nil {
		rs = append(rs, ftResult{Runner: "torch", Method: method, Error: fmt.Sprintf("%s failed: %v", script, err)})
	}
	return rs
}

func ftRatios(results []ftResult, methods []string) map[string]ftRatio {
	out := map[string]ftRatio{}
	for _, m := range methods {
		var best *ftResult
		for i, r := range results {
			if r.Method == m && strings.HasPrefix(r.Runner, "gopeft-") && r.Devices == 0 && r.Error == "" && r.StepMS > 0 &&
				(best == nil || r.StepMS < best.StepMS) {
				best = &results[i]
			}
		}
		if best == nil {
			continue
		}
		ra := ftRatio{Best: best.Runner, Speedup: map[string]float64{}, Memory: map[string]float64{}}
		for _, r := range results {
			if r.Method != m || !strings.HasPrefix(r.Runner, "torch-") || r.Error != "" || r.StepMS <= 0 {
				continue
			}
			ra.Speedup[r.Runner] = round3(r.StepMS / best.StepMS)
			if r.PeakMemMiB > 0 && best.PeakMemMiB > 0 {
				ra.Memory[r.Runner] = round3(best.PeakMemMiB / r.PeakMemMiB)
			}
		}
		if len(ra.Memory) == 0 {
			ra.Memory = nil
		}
		out[m] = ra
	}
	return out
}

func printFinetuneReport(rep ftReport, methods []string) {
	sh := rep.Shape
	fmt.Printf("Training step, %d x %d encoder (%d heads, FFN %d), batch %d x %d, AdamW; median of %d steps\n",
		sh.Layers, sh.Hidden, sh.Heads, sh.FFN, sh.Batch, sh.Seq, rep.Steps)
	fmt.Printf("%s; %s; %s\n\n", rep.Device, rep.Backend, rep.Go)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "method\trunner\tms/step\ttokens/s\tTFLOP/s\tMFU\tmemory MiB\tstart-up\t")
	for _, m := range methods {
		for _, r := range rep.Results {
			if r.Method != m {
				continue
			}
			if r.Error != "" {
				fmt.Fprintf(tw, "%s\t%s\terror: %s\t\t\t\t\t\t\n", m, r.Runner, r.Error)
				continue
			}
			start := "-"
			if r.FirstStepS > 0 {
				start = fmt.Sprintf("model %.1f s, tuned %.1f s, 1st step %.1f s", r.NewModelS, r.NewTunedS, r.FirstStepS)
			}
			fmt.Fprintf(tw, "%s\t%s\t%.2f\t%.0f\t%.0f\t%.1f%%\t%.0f\t%s\t\n", m, r.Runner, r.StepMS, r.TokensPerS, r.TFLOPs, 100*r.MFU, r.PeakMemMiB, start)
		}
	}
	_ = tw.Flush()
	fmt.Println()
	for _, m := range methods {
		ra, ok := rep.Ratios[m]
		if !ok {
			continue
		}
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(ra.Speedup)) {
			p := fmt.Sprintf("%.2fx %s", ra.Speedup[k], k)
			if v, ok := ra.Memory[k]; ok {
				p += fmt.Sprintf(" (memory %.2fx)", v)
			}
			parts = append(parts, p)
		}
		fmt.Printf("%s: %s is %s\n", m, ra.Best, strings.Join(parts, ", "))
	}
	for _, k := range slices.Sorted(maps.Keys(rep.DataParallel)) {
		d := rep.DataParallel[k]
		fmt.Printf("%s on %d devices: %.0f tokens/s, %.2fx one device's %.0f (scaling efficiency %.0f%%)\n",
			k, d.Devices, d.NTokensS, d.Speedup, d.OneTokensS, 100*d.Efficiency)
	}
	for _, k := range slices.Sorted(maps.Keys(rep.Skipped)) {
		fmt.Printf("skipped %s: %s\n", k, rep.Skipped[k])
	}
}
