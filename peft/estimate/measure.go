package estimate

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/fastgrad"
)

// StepMeasurement is what a few real training steps of a setup cost on the
// active backend: time and memory, measured.
type StepMeasurement struct {
	Backend        string    `json:"backend"`
	Batch          int       `json:"batch"`
	SeqLen         int       `json:"seq_len"`
	CompileSeconds float64   `json:"compile_seconds"` // the first step, compilation included
	StepSeconds    []float64 `json:"step_seconds"`    // each later step
	MedianStep     float64   `json:"median_step_seconds"`
	MeanStep       float64   `json:"mean_step_seconds"` // what a run's total time is made of
	// MeanStepCPU is the process's CPU time (user + system) per timed step:
	// unlike wall time, it hardly changes when other processes compete for
	// the cores.
	MeanStepCPU float64 `json:"mean_step_cpu_seconds"`
	// BaselineRSS is the process's resident memory before the tuned model
	// was built (the model loaded); PeakRSS its high-water mark (VmHWM)
	// after the steps. Linux only; 0 elsewhere.
	BaselineRSS int64 `json:"baseline_rss"`
	PeakRSS     int64 `json:"peak_rss"`
	// DeviceBytes is XLA's compiled memory statistics of the step (code +
	// arguments + outputs − aliases + temporaries); 0 where the backend
	// does not report them (the CPU backends).
	DeviceBytes int64 `json:"device_bytes"`
}

// MeasureSteps builds setup s on m with a two-class head and runs steps+1
// training steps (the first compiles) on random tokens, batch × seqLen.
func MeasureSteps(m *peft.Model, s *peft.Setup, batch, seqLen, steps int, seed int64) (StepMeasurement, error) {
	if batch <= 0 || seqLen < 2 || steps < 1 {
		return StepMeasurement{}, fmt.Errorf("measuring needs batch >= 1, seq len >= 2 and steps >= 1 (got %d, %d, %d)", batch, seqLen, steps)
	}
	if limit := m.Config.MaxPositions - m.Config.PositionOffset; seqLen > limit {
		return StepMeasurement{}, fmt.Errorf("seq len %d exceeds the model's %d positions", seqLen, limit)
	}
	r := StepMeasurement{Backend: peft.BackendChoice().Display(), Batch: batch, SeqLen: seqLen}
	r.BaselineRSS, _ = procStatus("VmRSS")
	t, err := peft.NewTuned(m, s, peft.ClassificationHead(2), seed)
	if err != nil {
		return r, err
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 11))
	b := peft.Batch{IDs: make([][]int32, batch), Mask: make([][]int32, batch)}
	y := peft.Labels{Classes: make([]int32, batch)}
	for i := range b.IDs {
		b.IDs[i], b.Mask[i] = make([]int32, seqLen), make([]int32, seqLen)
		for j := range b.IDs[i] {
			b.IDs[i][j] = int32(5 + rng.IntN(m.Config.VocabSize-5))
			b.Mask[i][j] = 1
		}
		y.Classes[i] = int32(i % 2)
	}
	st := t.NewStepper(0.01)
	depth := s.Drop.TrainDepth(m.Config, nil)
	var cpuStart float64
	for i := 0; i <= steps; i++ {
		if i == 1 {
			cpuStart = CPUSeconds()
		}
		start := time.Now()
		if _, err := st.Step(b, y, 1e-4, depth); err != nil {
			return r, err
		}
		if i == 0 {
			r.CompileSeconds = time.Since(start).Seconds()
		} else {
			r.StepSeconds = append(r.StepSeconds, time.Since(start).Seconds())
		}
	}
	r.MeanStepCPU = (CPUSeconds() - cpuStart) / float64(steps)
	sorted := append([]float64(nil), r.StepSeconds...)
	sort.Float64s(sorted)
	r.MedianStep = sorted[len(sorted)/2]
	for _, t := range sorted {
		r.MeanStep += t / float64(len(sorted))
	}
	r.PeakRSS, _ = procStatus("VmHWM")
	if n, ok := fastgrad.CompiledDeviceBytes(st.Graph()); ok {
		r.DeviceBytes = n
	}
	return r, nil
}

// procStatus reads a "kB" field of /proc/self/status in bytes.
func procStatus(field string) (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/self/status", field)
}

// CPUSeconds is this process's user + system CPU time so far (0 where
// getrusage is unavailable).
func CPUSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
