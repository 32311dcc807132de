package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/gopeft/gopeft/peft/backend"
	"github.com/gopeft/gopeft/peft/fastgrad"
)

func init() {
	registerBench("grad", "train step of an FFN block with GoMLX's stock vs GoPEFT's fast DotGeneral gradient", runBenchGrad)
}

// gradVariant is what one child process measures.
type gradVariant struct {
	Backend    string  `json:"backend"`
	StepMS     float64 `json:"step_ms"`
	CPUMS      float64 `json:"cpu_ms"`     // median user+sys CPU time of a step, all threads
	PeakBytes  *int64  `json:"peak_bytes"` // nil: not measurable on this backend
	PeakSource string  `json:"peak_source"`
	Loss       float32 `json:"loss"`
}

// gradReport is `gopeft bench grad --json`.
type gradReport struct {
	Backend        string   `json:"backend"`
	Dim            int      `json:"dim"`
	Tokens         int      `json:"tokens"`
	Steps          int      `json:"steps"`
	StockStepMS    float64  `json:"stock_step_ms"`
	FastStepMS     float64  `json:"fast_step_ms"`
	StockPeakBytes *int64   `json:"stock_peak_bytes"`
	FastPeakBytes  *int64   `json:"fast_peak_bytes"`
	Speedup        float64  `json:"speedup"`
	MemoryRatio    *float64 `json:"memory_ratio"`
	PeakSource     string   `json:"peak_source"`
	// CPU time per step is less sensitive than wall time to other processes
	// competing for the cores; it says nothing about device time on XLA.
	StockCPUMS float64 `json:"stock_cpu_ms"`
	FastCPUMS  float64 `json:"fast_cpu_ms"`
	CPUSpeedup float64 `json:"cpu_speedup"`
}

const gradPeakNote = "peak memory: on the pure-Go backend, VmHWM (peak RSS) of a separate child process per variant; " +
	"on XLA, the compiled program's device memory (PJRT compiled memory stats: code + arguments + outputs + temporaries)"

func runBenchGrad(args []string) int {
	fs := newFlags("bench grad", "[--json] [--dim 256] [--tokens 2048] [--steps 3]")
	jsonOut := fs.Bool("json", false, "print one JSON object instead of a table")
	dim := fs.Int("dim", 256, "model width; the FFN is dim -> 4*dim -> dim")
	tokens := fs.Int("tokens", 2048, "tokens per step (rows of x)")
	steps := fs.Int("steps", 3, "timed steps per variant, after one warm-up step; the median is reported")
	child := fs.String("child-variant", "", "internal: measure one variant (stock|fast) in this process and print JSON")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: gopeft bench grad [--json] [--dim 256] [--tokens 2048] [--steps 3]\n\n"+
			"Times one training step (forward, loss, gradients of all weights, SGD update) of a transformer\n"+
			"FFN block with GoMLX's stock DotGeneral gradient and with GoPEFT's fast one, each in its own\n"+
			"child process, and reports the median step time, peak memory and their ratios.\n"+
			"The backend is chosen as everywhere in GoPEFT (GOMLX_BACKEND, GOPEFT_PJRT_PLUGIN, ...).\n\n")
		fs.VisitAll(func(f *flag.Flag) {
			if f.Name != "child-variant" {
				fmt.Fprintf(fs.Output(), "  --%s\t%s (default %s)\n", f.Name, f.Usage, f.DefValue)
			}
		})
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *dim < 1 || *tokens < 1 || *steps < 1 {
		fmt.Fprintln(os.Stderr, "gopeft bench grad: --dim, --tokens and --steps must be >= 1")
		return 2
	}
	if *child != "" {
		return benchGradChild(*child, *dim, *tokens, *steps)
	}

	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "gopeft bench grad: cannot find my own executable to run each variant in a child process: %v\n", err)
		return 1
	}
	var results [2]gradVariant
	for i, variant := range []string{"stock", "fast"} {
		if !*jsonOut {
			fmt.Fprintf(os.Stderr, "bench grad: measuring %s gradient (1 warm-up + %d steps)...\n", variant, *steps)
		}
		r, err := runGradChild(self, variant, *dim, *tokens, *steps)
		if err != nil {
			fmt.Fprintf(os.Stderr, "gopeft bench grad: %s variant: %v\n", variant, err)
			return 1
		}
		results[i] = r
	}
	stock, fast := results[0], results[1]
	rep := gradReport{
		Backend: fast.Backend, Dim: *dim, Tokens: *tokens, Steps: *steps,
		StockStepMS: round3(stock.StepMS), FastStepMS: round3(fast.StepMS),
		StockPeakBytes: stock.PeakBytes, FastPeakBytes: fast.PeakBytes,
		Speedup:    round3(stock.StepMS / fast.StepMS),
		PeakSource: fast.PeakSource,
		StockCPUMS: round3(stock.CPUMS), FastCPUMS: round3(fast.CPUMS),
	}
	if fast.CPUMS > 0 {
		rep.CPUSpeedup = round3(stock.CPUMS / fast.CPUMS)
	}
	if stock.PeakBytes != nil && fast.PeakBytes != nil && *fast.PeakBytes > 0 {
		r := round3(float64(*stock.PeakBytes) / float64(*fast.PeakBytes))
		rep.MemoryRatio = &r
	}
	if *jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintln(os.Stderr, "gopeft bench grad:", err)
			return 1
		}
		return 0
	}
	fmt.Printf("FFN %d -> %d -> %d on %d tokens, backend %s, median of %d steps\n\n", *dim, 4**dim, *dim, *tokens, rep.Backend, *steps)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "gradient\tstep ms\tCPU ms\tpeak MiB\tfinal loss\t")
	for i, name := range []string{"stock", "fast"} {
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%s\t%.5g\t\n", name, results[i].StepMS, results[i].CPUMS, mib(results[i].PeakBytes), results[i].Loss)
	}
	_ = tw.Flush()
	ratio := "n/a"
	if rep.MemoryRatio != nil {
		ratio = fmt.Sprintf("%.1fx", *rep.MemoryRatio)
	}
	fmt.Printf("\nspeedup %.1fx (CPU time %.1fx), memory ratio %s\n%s.\n", rep.Speedup, rep.CPUSpeedup, ratio, gradPeakNote)
	if stock.PeakBytes == nil || fast.PeakBytes == nil {
		fmt.Println("This backend does not report peak memory, so memory is n/a (null in --json).")
	}
	return 0
}

func mib(b *int64) string {
	if b == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.1f", float64(*b)/(1<<20))
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

// runGradChild re-executes this binary to measure one variant, so each
// variant's peak RSS is its own.
func runGradChild(self, variant string, dim, tokens, steps int) (gradVariant, error) {
	var r gradVariant
	cmd := exec.Command(self, "bench", "grad", "--child-variant", variant,
		"--dim", strconv.Itoa(dim), "--tokens", strconv.Itoa(tokens), "--steps", strconv.Itoa(steps))
	err := runJSON(cmd, "child process", &r)
	return r, err
}

// benchGradChild measures one variant in this process and prints a gradVariant.
func benchGradChild(variant string, dim, tokens, steps int) int {
	if variant != "stock" && variant != "fast" {
		fmt.Fprintf(os.Stderr, "gopeft bench grad: --child-variant must be stock or fast, got %q\n", variant)
		return 2
	}
	b, choice, err := backend.New()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft bench grad:", err)
		return 1
	}
	if variant == "fast" && !fastgrad.Installed() {
		fmt.Fprintf(os.Stderr, "gopeft bench grad: the fast gradient is not installed: %v\n", fastgrad.InstallError())
		return 1
	}
	step, err := fastgrad.NewFFNStep(b, dim, tokens, variant == "stock")
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft bench grad:", err)
		return 1
	}
	defer step.Close()
	var loss float32
	times := make([]float64, 0, steps)
	cpus := make([]float64, 0, steps)
	for i := 0; i <= steps; i++ {
		start, cpuStart := time.Now(), cpuTimeMS()
		if loss, err = step.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "gopeft bench grad:", err)
			return 1
		}
		if i > 0 { // step 0 is the warm-up
			times = append(times, float64(time.Since(start).Microseconds())/1000)
			cpus = append(cpus, cpuTimeMS()-cpuStart)
		}
	}
	r := gradVariant{Backend: choice.Name, StepMS: median(times), CPUMS: median(cpus), Loss: loss}
	if choice.IsCPU() {
		if hwm, err := readVmHWM(); err == nil {
			r.PeakBytes, r.PeakSource = &hwm, "VmHWM of the child process"
		} else {
			fmt.Fprintln(os.Stderr, "gopeft bench grad: peak memory unavailable:", err)
		}
	} else if n, ok := step.CompiledDeviceBytes(); ok {
		r.PeakBytes, r.PeakSource = &n, "PJRT compiled memory stats (device)"
	} else {
		r.PeakSource = "not reported by this backend"
	}
	if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
		fmt.Fprintln(os.Stderr, "gopeft bench grad:", err)
		return 1
	}
	return 0
}

// cpuTimeMS is the user+sys CPU time of this process so far, or 0 where
// getrusage is unavailable.
func cpuTimeMS() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e6
}

func median(xs []float64) float64 {
	sorted := slices.Clone(xs)
	slices.Sort(sorted)
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// readVmHWM returns this process's peak resident set size from /proc.
func readVmHWM() (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("reading peak RSS needs Linux /proc: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			fields := strings.Fields(rest)
			if len(fields) == 2 && fields[1] == "kB" {
				kb, err := strconv.ParseInt(fields[0], 10, 64)
				if err != nil {
					return 0, fmt.Errorf("parsing VmHWM %q: %w", rest, err)
				}
				return kb * 1024, nil
			}
		}
	}
	return 0, errors.New("no VmHWM line in /proc/self/status")
}
