package train

import (
	"fmt"
	"math"

	"github.com/gopeft/gopeft/peft"
)

// Pruning is gradual magnitude pruning during fine-tuning with Zhu & Gupta
// (2017)'s cubic schedule: at steps t = t0, t0+Δt, ..., t0+nΔt (counted in
// optimizer steps done) the masks are recomputed so that a fraction
//
//	s_t = s_f + (s_i - s_f)·(1 - (t - t0)/(n·Δt))³
//
// of the target weights, the smallest in magnitude, is zero; it prunes fast
// at first, when many weights are redundant, and slowly near s_f. Pruned
// weights stay zero (the step graph multiplies them by their masks after
// every optimizer update). The masks are part of the run: saved with it and
// restored with it. Frozen targets (a PEFT run's base weights) are pruned
// too; the trainable parameters then learn around the holes.
type Pruning struct {
	Sparsity float64 `json:"sparsity"`          // s_f, in [0, 1)
	Initial  float64 `json:"initial,omitempty"` // s_i, in [0, s_f] (default 0)
	Start    int     `json:"start,omitempty"`   // t0 (default 0)
	// Every is Δt, steps between mask updates (default Steps/20, at least 1).
	Every int `json:"every,omitempty"`
	// Updates is n (default: as many as end the schedule by 3/4 of the
	// steps, so the last quarter trains at the final sparsity).
	Updates int `json:"updates,omitempty"`
	// Granularity: peft.PruneGlobal (default) or peft.PruneLayer.
	Granularity peft.PruneGranularity `json:"granularity,omitempty"`
	// Targets are canonical weight names (default peft.PruneTargets: every
	// encoder linear weight matrix).
	Targets []string `json:"targets,omitempty"`
}

// Resolved fills in the defaults for a run of steps steps.
func (p Pruning) Resolved(steps int) Pruning {
	if p.Every <= 0 {
		p.Every = max(1, steps/20)
	}
	if p.Updates <= 0 {
		p.Updates = max(1, (steps*3/4-p.Start)/p.Every)
	}
	if p.Granularity == "" {
		p.Granularity = peft.PruneGlobal
	}
	return p
}

// Validate names a bad field and the fix, for a run of steps steps.
func (p Pruning) Validate(steps int) error {
	switch {
	case !(p.Sparsity >= 0 && p.Sparsity < 1):
		return fmt.Errorf("prune sparsity %v is outside [0, 1): give the final fraction of weights to zero, e.g. 0.7", p.Sparsity)
	case !(p.Initial >= 0 && p.Initial <= p.Sparsity):
		return fmt.Errorf("prune initial sparsity %v is outside [0, sparsity %v]", p.Initial, p.Sparsity)
	case p.Start < 0:
		return fmt.Errorf("prune start %d is negative", p.Start)
	case p.Granularity != "" && p.Granularity != peft.PruneGlobal && p.Granularity != peft.PruneLayer:
		return fmt.Errorf("prune granularity %q: use %q or %q", p.Granularity, peft.PruneGlobal, peft.PruneLayer)
	}
	r := p.Resolved(steps)
	if end := r.Start + r.Updates*r.Every; end > steps {
		return fmt.Errorf("the pruning schedule ends at step %d (start %d + %d updates × every %d) after the run's %d steps: lower updates or every, or train longer", end, r.Start, r.Updates, r.Every, steps)
	}
	return nil
}

// At is the scheduled sparsity after t steps (resolved p): s_i before t0,
// s_f from t0+nΔt on, the cubic in between. Masks change only at update steps.
func (p Pruning) At(t int) float64 {
	span := float64(p.Updates * p.Every)
	switch {
	case t < p.Start:
		return p.Initial
	case float64(t-p.Start) >= span:
		return p.Sparsity
	}
	return p.Sparsity + (p.Initial-p.Sparsity)*math.Pow(1-float64(t-p.Start)/span, 3)
}

// Due reports whether the masks are updated after t steps (resolved p).
func (p Pruning) Due(t int) bool {
	return t >= p.Start && (t-p.Start)%p.Every == 0 && (t-p.Start)/p.Every <= p.Updates
}

// PruneEvent is one mask update of a run.
type PruneEvent struct {
	Step     int     `json:"step"` // optimizer steps done
	Sparsity float64 `json:"sparsity"`
	Zeros    int     `json:"zeros"`        // masked weights
	Weights  int     `json:"zero_weights"` // target weights that are exactly zero after the update
}

// pruning drives a run's schedule; nil when the run does not prune.
type pruning struct {
	cfg    Pruning
	pruner *peft.Pruner
	events []PruneEvent
}

func (r *Run) startPruning() (*pruning, error) {
	p := r.Options.Prune
	if p == nil {
		return nil, nil
	}
	if err := p.Validate(r.Options.Steps); err != nil {
		return nil, err
	}
	pr, err := peft.NewPruner(r.Tuned, p.Targets)
	if err != nil {
		return nil, err
	}
	return &pruning{cfg: p.Resolved(r.Options.Steps), pruner: pr}, nil
}

// after updates the masks if they are due after steps steps.
func (p *pruning) after(steps int) error {
	if p == nil || !p.cfg.Due(steps) {
		return nil
	}
	s := p.cfg.At(steps)
	rep, err := p.pruner.Prune(s, p.cfg.Granularity)
	if err != nil {
		return err
	}
	p.events = append(p.events, PruneEvent{Step: steps, Sparsity: s, Zeros: rep.Zeros, Weights: rep.ZeroWeights})
	return nil
}

// record puts the final sparsity into the run's metrics (saved in run.json).
func (p *pruning) record(r *Run) {
	if p == nil {
		return
	}
	rep := peft.Sparsity(r.Tuned)
	r.Metrics["sparsity"] = rep.Sparsity
	r.Metrics["params_remaining"] = float64(rep.Remaining)
	r.PruneEvents = p.events
}

// PruneReport is a one-shot pruning of a finished run: what was removed
// and the accuracy on test (dev when there is no test split) before and after.
type PruneReport struct {
	Sparsity                      peft.SparsityReport
	Structured                    *peft.StructuredReport // PruneStructured only
	Split                         string                 // "test" or "dev"
	AccuracyBefore, AccuracyAfter float64
}

// PruneMagnitude prunes a finished run's targets (default peft.PruneTargets)
// to sparsity in one shot, without retraining (Options.Prune prunes while
// training, which loses less), and reports accuracy before and after.
func (r *Run) PruneMagnitude(sparsity float64, g peft.PruneGranularity, targets []string) (*Run, PruneReport, error) {
	t, rep, err := r.Tuned.PruneMagnitude(sparsity, g, targets)
	if err != nil {
		return nil, PruneReport{}, err
	}
	return r.prunedReport(t, PruneReport{Sparsity: rep})
}

// PruneStructured removes whole heads and FFN units of a finished run (see
// peft.StructuredPrune) and reports accuracy before and after.
func (r *Run) PruneStructured(sp peft.StructuredPrune) (*Run, PruneReport, error) {
	t, rep, err := r.Tuned.PruneStructured(sp)
	if err != nil {
		return nil, PruneReport{}, err
	}
	return r.prunedReport(t, PruneReport{Sparsity: rep.Sparsity, Structured: &rep})
}

func (r *Run) prunedReport(t *peft.Tuned, rep PruneReport) (*Run, PruneReport, error) {
	pruned := r.With(t)
	rep.AccuracyBefore, rep.AccuracyAfter = math.NaN(), math.NaN()
	split, name := r.Task.Test, "test"
	if len(split) == 0 {
		split, name = r.Task.Dev, "dev"
	}
	if len(split) == 0 || t.Head.Regression {
		return pruned, rep, nil
	}
	rep.Split = name
	before, err := r.Evaluate(split)
	if err != nil {
		return nil, rep, err
	}
	after, err := pruned.Evaluate(split)
	if err != nil {
		return nil, rep, err
	}
	rep.AccuracyBefore, rep.AccuracyAfter = before["accuracy"], after["accuracy"]
	return pruned, rep, nil
}

// GateImportance is peft.GateImportance (Michel et al.'s head and FFN-unit
// importance) on the first n training examples (all when n <= 0 or more
// than there are), in batches of the run's batch size. Pass the scores as
// peft.StructuredPrune's HeadScores and FFNScores.
func (r *Run) GateImportance(n int) (heads, units [][]float64, err error) {
	es := r.Task.Train
	if n > 0 && n < len(es) {
		es = es[:n]
	}
	if len(es) == 0 {
		return nil, nil, fmt.Errorf("task %q has no training examples to score heads on", r.Task.Name)
	}
	enc := r.encode(es)
	var bs []peft.Batch
	var ys []peft.Labels
	for i := 0; i < len(enc); i += r.Options.BatchSize {
		chunk := enc[i:min(len(enc), i+r.Options.BatchSize)]
		bs, ys = append(bs, r.batchOf(chunk, len(chunk))), append(ys, r.labels(chunk))
	}
	return peft.GateImportance(r.Tuned, bs, ys)
}
