package estimate

import (
	"strings"
	"testing"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/internal/trainingtest"
	"github.com/gopeft/gopeft/peft/train"
)

func TestPreflight(t *testing.T) {
	m := trainingtest.SentimentModel(t)
	task := trainingtest.SentimentTask(100, 1)
	s := peft.NewSetup("h", trainingtest.Pfeiffer4())
	p, err := Preflight(m, task, s, PreflightOptions{Train: train.Options{BatchSize: 8, MaxLen: 32, Steps: 50}, MemoryLimit: 1 << 30, TimedSteps: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Fits || p.MaxBatch < 8 || p.Limit != 1<<30 {
		t.Errorf("fits %v, max batch %d, limit %d", p.Fits, p.MaxBatch, p.Limit)
	}
	if p.StepsPerEpoch != (len(task.Train)+7)/8 || p.StepSeconds <= 0 || p.EpochSeconds != p.StepSeconds*float64(p.StepsPerEpoch) {
		t.Errorf("%d steps an epoch of %g s, epoch %g s", p.StepsPerEpoch, p.StepSeconds, p.EpochSeconds)
	}
	share := 0.0
	for l, f := range p.SeqShares {
		if l%16 != 0 && l != 32 {
			t.Errorf("padded length %d is not a multiple of 16", l)
		}
		share += f
	}
	if share < 0.999 || share > 1.001 || len(p.Timed) == 0 {
		t.Errorf("length shares sum to %g; %d lengths timed", share, len(p.Timed))
	}
	if !strings.HasPrefix(p.String(), "fits in ") || !strings.Contains(p.String(), " s per epoch (") || !strings.Contains(p.String(), ") on ") {
		t.Errorf("summary %q", p.String())
	}
	// A limit below one example's peak does not fit and has no batch.
	small, err := Preflight(m, task, s, PreflightOptions{Train: train.Options{BatchSize: 8, MaxLen: 32}, MemoryLimit: 1 << 20, TimedSteps: 1})
	if err != nil {
		t.Fatal(err)
	}
	if small.Fits || small.MaxBatch != 0 || !strings.Contains(small.String(), "does NOT fit") {
		t.Errorf("1 MiB: %s", small)
	}
}
