package train

import (
	"encoding/json"
	"math"
	"slices"
)

// Point is one training step on the learning curve.
type Point struct {
	Step     int     `json:"step"` // 1-based: steps done
	Loss     float64 `json:"loss"` // task + extra terms (Fusion regularisation, MAM mask loss)
	TaskLoss float64 `json:"task_loss"`
	LR       float64 `json:"lr"`
	DevAcc   float64 `json:"dev_accuracy"` // NaN when not evaluated at this step (null in JSON)
	DevMSE   float64 `json:"dev_mse"`      // regression; NaN when not evaluated
}

// pointJSON is Point on disk: NaN (not evaluated) is null.
type pointJSON struct {
	Step     int      `json:"step"`
	Loss     *float64 `json:"loss"`
	TaskLoss *float64 `json:"task_loss"`
	LR       float64  `json:"lr"`
	DevAcc   *float64 `json:"dev_accuracy,omitempty"`
	DevMSE   *float64 `json:"dev_mse,omitempty"`
}

// MarshalJSON writes NaN as null.
func (p Point) MarshalJSON() ([]byte, error) {
	return json.Marshal(pointJSON{p.Step, NullIfNaN(p.Loss), NullIfNaN(p.TaskLoss), p.LR, NullIfNaN(p.DevAcc), NullIfNaN(p.DevMSE)})
}

// UnmarshalJSON reads null (or a missing value) as NaN.
func (p *Point) UnmarshalJSON(b []byte) error {
	var aux pointJSON
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*p = Point{Step: aux.Step, Loss: NaNIfNull(aux.Loss), TaskLoss: NaNIfNull(aux.TaskLoss), LR: aux.LR, DevAcc: NaNIfNull(aux.DevAcc), DevMSE: NaNIfNull(aux.DevMSE)}
	return nil
}

// NullIfNaN is v for JSON: nil (null) when v is NaN or infinite.
func NullIfNaN(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// NaNIfNull reads NullIfNaN's value back.
func NaNIfNull(v *float64) float64 {
	if v == nil {
		return math.NaN()
	}
	return *v
}

// Accuracy is the fraction of equal entries.
func Accuracy(pred, gold []int) float64 {
	hit := 0
	for i := range gold {
		if pred[i] == gold[i] {
			hit++
		}
	}
	return float64(hit) / float64(max(1, len(gold)))
}

// MacroF1 averages per-class F1 over the classes that occur in gold or
// pred (scikit-learn's f1_score(average="macro") without labels=).
func MacroF1(pred, gold []int) float64 {
	classes := map[int]bool{}
	for i := range gold {
		classes[gold[i]], classes[pred[i]] = true, true
	}
	keys := make([]int, 0, len(classes))
	for c := range classes {
		keys = append(keys, c)
	}
	slices.Sort(keys)
	sum := 0.0
	for _, c := range keys {
		tp, fp, fn := 0, 0, 0
		for i := range gold {
			switch {
			case pred[i] == c && gold[i] == c:
				tp++
			case pred[i] == c:
				fp++
			case gold[i] == c:
				fn++
			}
		}
		if tp > 0 {
			sum += 2 * float64(tp) / float64(2*tp+fp+fn)
		}
	}
	return sum / float64(max(1, len(keys)))
}

// MSE is the mean squared error.
func MSE(pred, gold []float64) float64 {
	s := 0.0
	for i := range gold {
		s += (pred[i] - gold[i]) * (pred[i] - gold[i])
	}
	return s / float64(max(1, len(gold)))
}

// Pearson is the correlation coefficient; NaN when either side is constant.
func Pearson(x, y []float64) float64 {
	n := float64(len(x))
	var mx, my float64
	for i := range x {
		mx += x[i]
		my += y[i]
	}
	mx, my = mx/n, my/n
	var sxy, sxx, syy float64
	for i := range x {
		sxy += (x[i] - mx) * (y[i] - my)
		sxx += (x[i] - mx) * (x[i] - mx)
		syy += (y[i] - my) * (y[i] - my)
	}
	if sxx == 0 || syy == 0 {
		return math.NaN()
	}
	return sxy / math.Sqrt(sxx*syy)
}
