package estimate

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/data"
	"github.com/gopeft/gopeft/peft/hf"
	"github.com/gopeft/gopeft/peft/train"
)

// PreflightOptions control Preflight.
type PreflightOptions struct {
	// Train is the run to plan: batch size, MaxLen, steps, seed (defaults
	// resolved as train.Finetune resolves them).
	Train train.Options
	// MemoryLimit in bytes; 0 means the machine's: the GPU's memory on a
	// GPU backend (nvidia-smi), else the cgroup limit or physical memory.
	MemoryLimit int64
	// TimedSteps per measured sequence length (default 10, after one
	// compiling step); their mean is the step time.
	TimedSteps int
}

// PreflightReport is a plan's predicted cost before it runs.
type PreflightReport struct {
	Backend       string           `json:"backend"`
	Memory        MemoryPrediction `json:"memory"`
	Limit         int64            `json:"limit"`
	LimitSource   string           `json:"limit_source"`
	Fits          bool             `json:"fits"`
	MaxBatch      int              `json:"max_batch"` // the largest batch predicted to fit at MaxLen
	StepSeconds   float64          `json:"step_seconds"`
	StepCPU       float64          `json:"step_cpu_seconds"` // CPU time a step (all threads)
	StepsPerEpoch int              `json:"steps_per_epoch"`
	EpochSeconds  float64          `json:"epoch_seconds"`
	RunSeconds    float64          `json:"run_seconds"` // Train.Steps steps
	// SeqShares are the padded batch lengths train.Finetune will see
	// (simulated from the task's token counts) and their shares of steps.
	SeqShares map[int]float64   `json:"seq_shares"`
	Timed     []StepMeasurement `json:"timed"`
}

func (p PreflightReport) String() string {
	verb := "fits in"
	if !p.Fits {
		verb = "does NOT fit:"
	}
	return fmt.Sprintf("%s %.2f of %.1f GB (largest batch that fits: %d); about %s s per epoch (%d steps of %.3g s) on %s",
		verb, float64(p.Memory.Peak)/1e9, float64(p.Limit)/1e9, p.MaxBatch, seconds(p.EpochSeconds), p.StepsPerEpoch, p.StepSeconds, p.Backend)
}

// seconds prints a duration with two significant digits below 10 s and
// whole seconds above.
func seconds(s float64) string {
	if s >= 10 {
		return fmt.Sprintf("%.0f", s)
	}
	return fmt.Sprintf("%.2g", s)
}

// Preflight predicts whether training setup s on task fits in memory and
// how long an epoch takes, from the memory model and a few real timed
// steps on the active backend (random tokens, the padded lengths the task
// will produce).
func Preflight(m *peft.Model, task *data.Task, s *peft.Setup, opt PreflightOptions) (*PreflightReport, error) {
	if m == nil || task == nil || m.Tokenizer == nil {
		return nil, fmt.Errorf("preflight needs a model with a tokenizer and a task")
	}
	if s == nil {
		s = &peft.Setup{}
	}
	if err := s.Validate(m.Config); err != nil {
		return nil, err
	}
	to := opt.Train.Resolved(m, task)
	if opt.TimedSteps <= 0 {
		opt.TimedSteps = 10
	}
	bm := ActiveBackend()
	p := &PreflightReport{Backend: peft.BackendChoice().Display(), Memory: PredictMemory(m.Config, s, to.BatchSize, to.MaxLen, bm)}
	p.Limit, p.LimitSource = opt.MemoryLimit, "given"
	if p.Limit <= 0 {
		p.Limit, p.LimitSource = MachineMemory(peft.BackendChoice().IsGPU())
	}
	p.Fits = p.Limit <= 0 || p.Memory.Peak <= p.Limit
	p.MaxBatch = MaxBatch(m.Config, s, to.MaxLen, bm, p.Limit)
	p.SeqShares = seqShares(m, task, to)
	p.StepsPerEpoch = (len(task.Train) + to.BatchSize - 1) / to.BatchSize
	// Time the most common lengths (at most 3); the rest take the time of
	// the nearest timed length, scaled by their token count.
	lengths := make([]int, 0, len(p.SeqShares))
	for l := range p.SeqShares {
		lengths = append(lengths, l)
	}
	sort.Slice(lengths, func(i, j int) bool { return p.SeqShares[lengths[i]] > p.SeqShares[lengths[j]] })
	timed, timedCPU := map[int]float64{}, map[int]float64{}
	for _, l := range lengths[:min(3, len(lengths))] {
		meas, err := MeasureSteps(m, s, to.BatchSize, l, opt.TimedSteps, to.Seed)
		if err != nil {
			return nil, fmt.Errorf("timing a step at %d tokens: %w", l, err)
		}
		timed[l], timedCPU[l] = meas.MeanStep, meas.MeanStepCPU
		p.Timed = append(p.Timed, meas)
	}
	for l, share := range p.SeqShares {
		t, c := timed[l], timedCPU[l]
		if _, ok := timed[l]; !ok {
			nearest := lengths[0]
			for tl := range timed {
				if abs(tl-l) < abs(nearest-l) {
					nearest = tl
				}
			}
			scale := float64(l) / float64(nearest)
			t, c = timed[nearest]*scale, timedCPU[nearest]*scale
		}
		p.StepSeconds += share * t
		p.StepCPU += share * c
	}
	p.EpochSeconds = p.StepSeconds * float64(p.StepsPerEpoch)
	p.RunSeconds = p.StepSeconds * float64(to.Steps)
	return p, nil
}

func abs[T int | float64](x T) T {
	if x < 0 {
		return -x
	}
	return x
}

// seqShares simulates train.Finetune's batches: rows of BatchSize random
// training examples padded to their longest, rounded up to 16, capped at
// MaxLen.
func seqShares(m *peft.Model, task *data.Task, to train.Options) map[int]float64 {
	lens := make([]int, len(task.Train))
	for i, e := range task.Train {
		_, _, mask := m.Tokenizer.Encode(e.Text, to.MaxLen)
		for _, v := range mask {
			lens[i] += int(v)
		}
	}
	rng := rand.New(rand.NewPCG(uint64(to.Seed), 3))
	const draws = 2000
	shares := map[int]float64{}
	for range draws {
		n := 0
		for range to.BatchSize {
			n = max(n, lens[rng.IntN(len(lens))])
		}
		n = min(to.MaxLen, (n+15)/16*16)
		shares[n] += 1.0 / draws
	}
	return shares
}

// MaxBatch is the largest batch whose predicted peak fits in limit at
// seqLen tokens (0 if not even one example fits; limit <= 0: no answer, 0).
func MaxBatch(cfg hf.Config, s *peft.Setup, seqLen int, bm BackendMemory, limit int64) int {
	if limit <= 0 || PredictMemory(cfg, s, 1, seqLen, bm).Peak > limit {
		return 0
	}
	lo, hi := 1, 2
	for hi < 1<<20 && PredictMemory(cfg, s, hi, seqLen, bm).Peak <= limit {
		lo, hi = hi, hi*2
	}
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if PredictMemory(cfg, s, mid, seqLen, bm).Peak <= limit {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// MachineMemory is the memory a run may use: on a GPU the first device's
// total (nvidia-smi), else the cgroup v2 limit when set, else physical
// memory. 0 with the reason when unknown.
func MachineMemory(gpu bool) (int64, string) {
	if gpu {
		out, err := exec.Command("nvidia-smi", "--query-gpu=memory.total", "--format=csv,noheader,nounits").Output()
		if err == nil {
			if mib, err := strconv.ParseInt(strings.TrimSpace(strings.Split(string(out), "\n")[0]), 10, 64); err == nil {
				return mib << 20, "nvidia-smi memory.total of GPU 0"
			}
		}
		return 0, "unknown (nvidia-smi unavailable): pass a memory limit"
	}
	if raw, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64); err == nil && n > 0 {
			return n, "cgroup memory.max"
		}
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
				kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
				if err == nil {
					return kb << 10, "MemTotal of /proc/meminfo"
				}
			}
		}
	}
	return 0, "unknown: pass a memory limit"
}

// MemorySeries is what a widget draws: predicted peak memory against batch
// size, the limit as a line, and the largest batch under it.
type MemorySeries struct {
	SeqLen    int     `json:"seq_len"`
	Batch     []int   `json:"batch"`
	Predicted []int64 `json:"predicted"`
	Measured  []int64 `json:"measured,omitempty"` // where measured, 0 elsewhere
	Limit     int64   `json:"limit"`
	MaxBatch  int     `json:"max_batch"`
	Backend   string  `json:"backend"`
}

// MemoryCurve predicts peak memory at each batch size.
func MemoryCurve(cfg hf.Config, s *peft.Setup, seqLen int, batches []int, bm BackendMemory, limit int64) MemorySeries {
	ms := MemorySeries{SeqLen: seqLen, Batch: batches, Limit: limit, Backend: bm.Name, MaxBatch: MaxBatch(cfg, s, seqLen, bm, limit)}
	for _, b := range batches {
		ms.Predicted = append(ms.Predicted, PredictMemory(cfg, s, b, seqLen, bm).Peak)
	}
	return ms
}
