package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/hf"
)

func init() {
	registerBench("adapterdrop", "AdapterDrop: training step and multi-task (Parallel) inference time against the number of dropped layers", runBenchAdapterDrop)
}

// adapterDropReport is `gopeft bench adapterdrop --json`; index n of every
// slice is "adapters dropped from the lowest n layers".
type adapterDropReport struct {
	Backend          string    `json:"backend"`
	Layers           int       `json:"layers"`
	Hidden           int       `json:"hidden"`
	Seq              int       `json:"seq"`
	Batch            int       `json:"batch"`
	Tasks            int       `json:"tasks"`
	Adapter          string    `json:"adapter"`
	TrainStepMS      []float64 `json:"train_step_ms"`
	TrainSpeedup     []float64 `json:"train_speedup"`
	InferenceMS      []float64 `json:"inference_ms"`
	InferenceSpeedup []float64 `json:"inference_speedup"`
	// CPU time (user+sys, all threads) per step: less sensitive than wall
	// time to other processes sharing the cores.
	TrainCPUMS     []float64 `json:"train_cpu_ms"`
	InferenceCPUMS []float64 `json:"inference_cpu_ms"`
}

func runBenchAdapterDrop(args []string) int {
	fs := newFlags("bench adapterdrop", "[--json] [--layers 6] [--hidden 128] [--seq 32] [--batch 8] [--tasks 4] [--reps 3]")
	jsonOut := fs.Bool("json", false, "print one JSON object instead of a table")
	layers := fs.Int("layers", 6, "encoder layers (L); n runs over 0..L")
	hidden := fs.Int("hidden", 128, "hidden size (4 heads, FFN 4×hidden)")
	seq := fs.Int("seq", 32, "tokens per example")
	batch := fs.Int("batch", 8, "examples per batch")
	tasks := fs.Int("tasks", 4, "adapters in the Parallel block for multi-task inference")
	reps := fs.Int("reps", 3, "timed repetitions per point after one warm-up (which compiles); the median is reported")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: gopeft bench adapterdrop [flags]\n\n"+
			"On a random encoder, times one training step (AdamW) of a Houlsby adapter and one multi-task\n"+
			"inference pass of a Parallel block of --tasks Houlsby adapters, with the adapters of the lowest\n"+
			"n layers dropped, for n = 0..L, in one run (Rücklé et al. 2021, AdapterDrop). Speedups are\n"+
			"against n = 0. At n = L no layer has an adapter: training updates only the head and the\n"+
			"Parallel block never replicates the batch.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *layers < 1 || *hidden < 4 || *hidden%4 != 0 || *seq < 1 || *batch < 1 || *tasks < 1 || *reps < 1 {
		fmt.Fprintln(os.Stderr, "gopeft bench adapterdrop: --layers, --seq, --batch, --tasks and --reps must be >= 1 and --hidden a multiple of 4")
		return 2
	}
	rep, err := benchAdapterDrop(*layers, *hidden, *seq, *batch, *tasks, *reps)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft bench adapterdrop:", err)
		return 1
	}
	if *jsonOut {
		out, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Println(string(out))
		return 0
	}
	fmt.Printf("AdapterDrop on %s: %d layers, hidden %d, batch %d × seq %d, %s adapters; %d tasks in Parallel\n\n",
		rep.Backend, rep.Layers, rep.Hidden, rep.Batch, rep.Seq, rep.Adapter, rep.Tasks)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "dropped n\ttrain step ms\tvs n=0\tCPU ms\tvs n=0\tmulti-task inference ms\tvs n=0\tCPU ms\tvs n=0\t")
	for n := range rep.TrainStepMS {
		fmt.Fprintf(tw, "%d\t%.1f\t%.2fx\t%.1f\t%.2fx\t%.1f\t%.2fx\t%.1f\t%.2fx\t\n", n,
			rep.TrainStepMS[n], rep.TrainSpeedup[n], rep.TrainCPUMS[n], ratio(rep.TrainCPUMS[0], rep.TrainCPUMS[n]),
			rep.InferenceMS[n], rep.InferenceSpeedup[n], rep.InferenceCPUMS[n], ratio(rep.InferenceCPUMS[0], rep.InferenceCPUMS[n]))
	}
	tw.Flush()
	// The paper's reference point: 5 of 12 layers dropped.
	n := int(math.Round(5.0 / 12 * float64(rep.Layers)))
	fmt.Printf("\nRücklé et al. 2021 (BERT-base, 12 layers, GPU): with 5 layers dropped, multi-task inference over 8 tasks\n"+
		"is 1.39x faster (the authors' summary); the issue cites about 1.26x faster training at that depth.\n"+
		"Here, %d of %d layers dropped: training %.2fx, multi-task inference over %d tasks %.2fx (wall time).\n",
		n, rep.Layers, rep.TrainSpeedup[n], rep.Tasks, rep.InferenceSpeedup[n])
	return 0
}

func benchAdapterDrop(layers, hidden, seq, batch, tasks, reps int) (*adapterDropReport, error) {
	cfg := hf.Config{
		ModelType: "bert", VocabSize: 1000, HiddenSize: hidden, NumLayers: layers, NumHeads: 4,
		IntermediateSize: 4 * hidden, MaxPositions: seq, TypeVocabSize: 2, HiddenAct: "gelu",
		LayerNormEps: 1e-12, HasPooler: true, HasTokenTypes: true, InitializerRange: 0.02,
	}
	m, err := peft.NewModel(cfg, nil, 1)
	if err != nil {
		return nil, err
	}
	b := peft.Batch{IDs: make([][]int32, batch)}
	y := peft.Labels{Classes: make([]int32, batch)}
	for i := range b.IDs {
		b.IDs[i] = make([]int32, seq)
		for j := range b.IDs[i] {
			b.IDs[i][j] = int32((i*31 + j*7) % cfg.VocabSize)
		}
		y.Classes[i] = int32(i % 2)
	}
	rep := &adapterDropReport{Backend: peft.BackendChoice().Name, Layers: layers, Hidden: hidden, Seq: seq, Batch: batch, Tasks: tasks, Adapter: "houlsby"}

	train, err := peft.NewTuned(m, peft.NewSetup("task", peft.Houlsby()), peft.ClassificationHead(2), 1)
	if err != nil {
		return nil, err
	}
	stepper := train.NewStepper(0.01)
	s := &peft.Setup{}
	names := make([]string, tasks)
	for i := range names {
		names[i] = fmt.Sprintf("task%d", i)
		s.Add(names[i], peft.Houlsby())
	}
	s.Active = peft.Parallel(names...)
	multi, err := peft.NewTuned(m, s, peft.ClassificationHead(2), 1)
	if err != nil {
		return nil, err
	}
	for n := 0; n <= layers; n++ {
		ms, cpu, err := medianMS(reps, func() error { _, err := stepper.Step(b, y, 1e-4, n); return err })
		if err != nil {
			return nil, fmt.Errorf("train step at n=%d: %w", n, err)
		}
		rep.TrainStepMS, rep.TrainCPUMS = append(rep.TrainStepMS, ms), append(rep.TrainCPUMS, cpu)
		f, err := multi.LogitsAt(n)
		if err != nil {
			return nil, err
		}
		ms, cpu, err = medianMS(reps, func() error { _, err := f(b); return err })
		if err != nil {
			return nil, fmt.Errorf("inference at n=%d: %w", n, err)
		}
		rep.InferenceMS, rep.InferenceCPUMS = append(rep.InferenceMS, ms), append(rep.InferenceCPUMS, cpu)
	}
	for n := range rep.TrainStepMS {
		rep.TrainSpeedup = append(rep.TrainSpeedup, rep.TrainStepMS[0]/rep.TrainStepMS[n])
		rep.InferenceSpeedup = append(rep.InferenceSpeedup, rep.InferenceMS[0]/rep.InferenceMS[n])
	}
	return rep, nil
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

// medianMS runs fn once to warm up (compilation), then reps times, and
// returns the median wall time and median process CPU time in milliseconds.
func medianMS(reps int, fn func() error) (wall, cpu float64, err error) {
	if err := fn(); err != nil {
		return 0, 0, err
	}
	walls, cpus := make([]float64, reps), make([]float64, reps)
	for i := range walls {
		c0, start := cpuMS(), time.Now()
		if err := fn(); err != nil {
			return 0, 0, err
		}
		walls[i] = float64(time.Since(start).Microseconds()) / 1000
		cpus[i] = cpuMS() - c0
	}
	slices.Sort(walls)
	slices.Sort(cpus)
	return walls[reps/2], cpus[reps/2], nil
}

// cpuMS is this process's user+sys CPU time so far.
func cpuMS() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e6
}
