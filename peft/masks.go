package peft

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/gopeft/gopeft/peft/encoder"
)

// MaskRow is one masked bottleneck module's keep-probabilities.
type MaskRow struct {
	Layer    int
	Sublayer encoder.Sublayer // attention or ffn
	Keep     []float64        // sigmoid of the learned mask logits, one per unit
}

// maskedBottleneck finds the bottleneck with MAM masks behind an adapter
// (a Bottleneck itself, or a MAM adapter's FFN part) and its variables' scope.
func maskedBottleneck(t *Tuned, adapter string) (*Bottleneck, string, error) {
	a := t.Setup.Adapter(adapter)
	if a == nil {
		return nil, "", fmt.Errorf("no adapter named %q (adapters: %v)", adapter, names(t.Setup))
	}
	var b *Bottleneck
	scope := AdapterScope(adapter)
	switch m := a.Method.(type) {
	case *Bottleneck:
		b = m
	case *MAM:
		b, scope = m.FFN, scope+"/adapter"
	}
	if b == nil || b.Masks == nil {
		return nil, "", fmt.Errorf("adapter %q (%s) has no MAM masks: set Masks: DefaultMasks() on its bottleneck (MAM: .FFN.Masks)", adapter, a.Method.Kind())
	}
	return b, scope, nil
}

// MaskRows returns the keep-probabilities of every masked module of an
// adapter, in layer order (attention before ffn within a layer).
func MaskRows(t *Tuned, adapter string) ([]MaskRow, error) {
	b, scope, err := maskedBottleneck(t, adapter)
	if err != nil {
		return nil, err
	}
	cfg := t.Model.Config
	var rows []MaskRow
	for layer := range cfg.NumLayers {
		for _, sub := range b.sublayers() {
			if !b.placedAt(cfg, layer, sub) {
				continue
			}
			v := t.Ctx.GetVariableByScopeAndName(fmt.Sprintf("%s/layer_%d_%s/mask", scope, layer, sub), "logits")
			if v == nil {
				return nil, fmt.Errorf("adapter %q has no mask variables for layer %d %s: is it active in this Tuned?", adapter, layer, sub)
			}
			val, err := v.Value()
			if err != nil {
				return nil, err
			}
			logits := tensors.MustCopyFlatData[float32](val)
			keep := make([]float64, len(logits))
			for i, l := range logits {
				keep[i] = 1 / (1 + math.Exp(-float64(l)))
			}
			rows = append(rows, MaskRow{Layer: layer, Sublayer: sub, Keep: keep})
		}
	}
	return rows, nil
}

// KeepProbabilities returns the learned keep-probabilities, one row per
// masked module (one per layer for FFN-only adapters) and one column per
// bottleneck unit: the values for a heatmap (widgets.Heatmap). Rows differ
// in length when per-layer reduction factors differ.
func KeepProbabilities(t *Tuned, adapter string) ([][]float64, error) {
	rows, err := MaskRows(t, adapter)
	if err != nil {
		return nil, err
	}
	out := make([][]float64, len(rows))
	for i, r := range rows {
		out[i] = r.Keep
	}
	return out, nil
}

// PruneReport says what PruneMasks removed. A pruned unit removes one row
// of the down-projection (hidden weights), its bias, one column of the
// up-projection (hidden weights) and its mask logit: 2·hidden+2 parameters.
type PruneReport struct {
	Keep         int // units kept per module (0: all)
	UnitsBefore  int
	UnitsAfter   int
	ParamsBefore int // the adapter's parameters (a MAM adapter's prefix included)
	ParamsAfter  int
	ParamsSaved  int
	// Accuracy before and after, filled by Run.PruneMasks (NaN otherwise).
	AccuracyBefore, AccuracyAfter float64
}

// PruneMasks returns a Tuned whose masked modules of adapter keep only the
// keep units with the highest learned keep-probability (keep 0 restores
// all): it sets Masks.Keep, which inference graphs read, on the new Tuned's
// copy of the adapter's config.
func (t *Tuned) PruneMasks(adapter string, keep int) (*Tuned, PruneReport, error) {
	rep := PruneReport{Keep: keep, AccuracyBefore: math.NaN(), AccuracyAfter: math.NaN()}
	if keep < 0 {
		return nil, rep, fmt.Errorf("keep is %d: give the number of units to keep per module (0 keeps all)", keep)
	}
	rows, err := MaskRows(t, adapter)
	if err != nil {
		return nil, rep, err
	}
	d := t.Model.Config.HiddenSize
	for _, r := range rows {
		units := len(r.Keep)
		kept := units
		if keep > 0 {
			kept = min(keep, units)
		}
		rep.UnitsBefore += units
		rep.UnitsAfter += kept
		rep.ParamsSaved += (units - kept) * (2*d + 2)
	}
	n, ok := t.Counts().PerAdapter[adapter]
	if !ok {
		n = t.Setup.Adapter(adapter).Method.NumParams(t.Model.Config)
	}
	rep.ParamsBefore = n
	rep.ParamsAfter = n - rep.ParamsSaved
	pruned, err := t.derive(func(n *Tuned) error {
		b, _, err := maskedBottleneck(n, adapter)
		if err == nil {
			b.Masks.Keep = keep
		}
		return err
	})
	return pruned, rep, err
}

// PruneMasks prunes like Tuned.PruneMasks and returns the run of the
// pruned Tuned; the report also gives test accuracy (dev when there is no
// test split) before and after.
func (r *Run) PruneMasks(adapter string, keep int) (*Run, PruneReport, error) {
	split, metric := r.Task.Test, "test_accuracy"
	if len(split) == 0 {
		split, metric = r.Task.Dev, "dev_accuracy"
	}
	var before map[string]float64
	var err error
	if len(split) > 0 && !r.Tuned.Head.Regression {
		// An unpruned run's accuracy is already in its metrics.
		b, _, berr := maskedBottleneck(r.Tuned, adapter)
		if acc, ok := r.Metrics[metric]; ok && berr == nil && b.Masks.Keep == 0 {
			before = map[string]float64{"accuracy": acc}
		} else if before, err = r.Evaluate(split); err != nil {
			return nil, PruneReport{}, err
		}
	}
	t, rep, err := r.Tuned.PruneMasks(adapter, keep)
	if err != nil {
		return nil, rep, err
	}
	pruned := r.With(t)
	if before == nil {
		return pruned, rep, nil
	}
	after, err := pruned.Evaluate(split)
	if err != nil {
		return nil, rep, err
	}
	rep.AccuracyBefore, rep.AccuracyAfter = before["accuracy"], after["accuracy"]
	return pruned, rep, nil
}
