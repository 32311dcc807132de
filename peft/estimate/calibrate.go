package estimate

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gopeft/gopeft/internal/stats"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/data"
	"github.com/gopeft/gopeft/peft/runstore"
	"github.com/gopeft/gopeft/peft/train"
)

// TransferOptions control Transfer.
type TransferOptions struct {
	N       int     // examples sampled from the training split (default 500; LogME needs more than the hidden size)
	Seed    uint64  // the sample and the probe's folds
	MaxLen  int     // tokens per example (default 128)
	Pooling Pooling // default mean
	Folds   int     // the probe's k (default 5)
}

// Scores are the transferability scores of one task's frozen features at
// one layer.
type Scores struct {
	Task     string  `json:"task"`
	N        int     `json:"n"`
	Layer    int     `json:"layer"`
	Pooling  Pooling `json:"pooling"`
	LogME    float64 `json:"logme"`
	HScore   float64 `json:"hscore"`
	LEEP     float64 `json:"leep"`  // from the MLM head (the same at every layer); NaN without one
	Probe    float64 `json:"probe"` // k-fold linear-probe accuracy
	Baseline float64 `json:"baseline"`
}

// Transfer samples opt.N training examples of task, extracts m's frozen
// features and scores every layer (0 = embeddings ... NumLayers = output).
func Transfer(m *peft.Model, task *data.Task, opt TransferOptions) ([]Scores, error) {
	if task.Regression {
		return nil, fmt.Errorf("task %s is a regression task: transferability scores here are for classification", task.Name)
	}
	if opt.N == 0 {
		opt.N = 500
	}
	if opt.Pooling == "" {
		opt.Pooling = PoolMean
	}
	texts, labels := Sample(task, opt.N, opt.Seed)
	hasMLM := m.Ctx.GetVariableByScopeAndName("/cls/predictions", "bias") != nil
	f, err := Extract(m, texts, labels, FeatureOptions{MaxLen: opt.MaxLen, MLM: hasMLM})
	if err != nil {
		return nil, err
	}
	leep := math.NaN()
	if hasMLM {
		if leep, err = LEEP(f.MLM, labels); err != nil {
			return nil, err
		}
	}
	var out []Scores
	for l := 0; l < f.Layers(); l++ {
		x, err := f.At(l, opt.Pooling)
		if err != nil {
			return nil, err
		}
		s := Scores{Task: task.Name, N: len(labels), Layer: l, Pooling: opt.Pooling, LEEP: leep, Baseline: data.MajorityBaseline(task)}
		if s.LogME, err = LogME(x, labels); err != nil {
			return nil, fmt.Errorf("layer %d: %w", l, err)
		}
		if s.HScore, err = HScore(x, labels); err != nil {
			return nil, fmt.Errorf("layer %d: %w", l, err)
		}
		if s.Probe, err = ProbeAccuracy(x, labels, ProbeOptions{Folds: opt.Folds, Seed: opt.Seed}); err != nil {
			return nil, fmt.Errorf("layer %d: %w", l, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// Config is one ground-truth configuration: fine-tune Method (a preset
// name) on Task with adapters dropped below DropBelow (AdapterDrop, 0 = all
// layers adapted), and score Task's frozen features at Layer (-1 = output).
type Config struct {
	Task      string `json:"task"`
	Method    string `json:"method"`
	DropBelow int    `json:"drop_below,omitempty"`
	Layer     int    `json:"layer"`
}

// Label names the configuration's method part, e.g. "houlsby" or "houlsby/drop2".
func (c Config) Label() string {
	if c.DropBelow > 0 {
		return fmt.Sprintf("%s/drop%d", c.Method, c.DropBelow)
	}
	return c.Method
}

// Observation is a finished run with its task's scores: one point to fit
// and to check a predictor on.
type Observation struct {
	Config
	Scores       Scores   `json:"scores"`
	Layers       []Scores `json:"layers,omitempty"` // the task's scores at every layer (Scores is Layers[Layer])
	Actual       float64  `json:"actual"`           // test accuracy after fine-tuning
	RunDir       string   `json:"run_dir"`
	TrainSeconds float64  `json:"train_seconds"`
}

// GroundTruth fine-tunes every configuration through the run store under
// runsDir (finished runs are loaded, not retrained) and scores each task
// once. loadTask returns a task by name.
func GroundTruth(runsDir string, m *peft.Model, loadTask func(string) (*data.Task, error), configs []Config, topt TransferOptions, opt train.Options) ([]Observation, error) {
	tasks := map[string]*data.Task{}
	scores := map[string][]Scores{}
	var out []Observation
	for _, c := range configs {
		task, ok := tasks[c.Task]
		if !ok {
			var err error
			if task, err = loadTask(c.Task); err != nil {
				return nil, err
			}
			tasks[c.Task] = task
			if scores[c.Task], err = Transfer(m, task, topt); err != nil {
				return nil, fmt.Errorf("task %s: %w", c.Task, err)
			}
		}
		method, err := peft.Preset(c.Method)
		if err != nil {
			return nil, err
		}
		s := peft.NewSetup(c.Method, method)
		if c.DropBelow > 0 {
			s.Drop = peft.StaticDrop(c.DropBelow)
		}
		dir := filepath.Join(runsDir, strings.ReplaceAll(c.Task+"_"+c.Label(), "/", "_"))
		r, err := runstore.Finetune(dir, m, task, s, opt)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", c.Task, c.Label(), err)
		}
		ts := scores[c.Task]
		layer := c.Layer
		if layer < 0 {
			layer += len(ts)
		}
		if layer < 0 || layer >= len(ts) {
			return nil, fmt.Errorf("config %s %s: feature layer %d out of range 0..%d", c.Task, c.Label(), c.Layer, len(ts)-1)
		}
		out = append(out, Observation{Config: c, Scores: ts[layer], Layers: ts, Actual: r.Metrics["test_accuracy"], RunDir: r.Dir, TrainSeconds: r.TrainSeconds})
	}
	return out, nil
}

// Predictor maps scores to fine-tuned accuracy: ordinary least squares on
// the named inputs (see Inputs) plus an intercept, fitted on finished runs.
type Predictor struct {
	Inputs []string  `json:"inputs"`
	Coef   []float64 `json:"coef"` // intercept first, then one per input
	Runs   int       `json:"runs"` // observations fitted on
	// ResidualSD is the residuals' standard deviation (n − p degrees of
	// freedom); the interval uses it with the point's leverage.
	ResidualSD float64     `json:"residual_sd"`
	xtxInv     [][]float64 // (XᵀX)⁻¹, for the leverage of a new point
}

// Inputs a Predictor can use: "logme", "hscore", "leep", "probe",
// "baseline", and "method:NAME" (1 for configurations of that method label).
func inputValue(name string, o Observation) (float64, error) {
	switch name {
	case "logme":
		return o.Scores.LogME, nil
	case "hscore":
		return o.Scores.HScore, nil
	case "leep":
		return o.Scores.LEEP, nil
	case "probe":
		return o.Scores.Probe, nil
	case "baseline":
		return o.Scores.Baseline, nil
	}
	if m, ok := strings.CutPrefix(name, "method:"); ok {
		if o.Config.Label() == m {
			return 1, nil
		}
		return 0, nil
	}
	return 0, fmt.Errorf("predictor input %q unknown: use logme, hscore, leep, probe, baseline or method:NAME", name)
}

func designRow(inputs []string, o Observation) ([]float64, error) {
	row := []float64{1}
	for _, in := range inputs {
		v, err := inputValue(in, o)
		if err != nil {
			return nil, err
		}
		if math.IsNaN(v) {
			return nil, fmt.Errorf("input %s is NaN for %s %s (no MLM head for LEEP?)", in, o.Task, o.Config.Label())
		}
		row = append(row, v)
	}
	return row, nil
}

// MethodInputs returns "method:L" for every method label in obs but the
// first (sorted), the baseline category.
func MethodInputs(obs []Observation) []string {
	seen := map[string]bool{}
	for _, o := range obs {
		seen[o.Config.Label()] = true
	}
	var labels []string
	for l := range seen {
		labels = append(labels, l)
	}
	sort.Strings(labels)
	var out []string
	for _, l := range labels[min(1, len(labels)):] {
		out = append(out, "method:"+l)
	}
	return out
}

// Fit fits a Predictor on obs.
func Fit(obs []Observation, inputs []string) (*Predictor, error) {
	p := len(inputs) + 1
	if len(obs) < p+2 {
		return nil, fmt.Errorf("%d runs cannot fit %d coefficients with an interval: fit on at least %d runs, or use fewer inputs", len(obs), p, p+2)
	}
	x := make([][]float64, len(obs))
	for i, o := range obs {
		row, err := designRow(inputs, o)
		if err != nil {
			return nil, err
		}
		x[i] = row
	}
	a := gram(x)
	for j := 1; j < p; j++ {
		a[j][j] += 1e-9 * (1 + a[j][j]) // keeps a constant input from making XᵀX singular
	}
	eye := make([][]float64, p)
	for j := range eye {
		eye[j] = make([]float64, p)
		eye[j][j] = 1
	}
	inv, err := solveSPD(a, eye)
	if err != nil {
		return nil, fmt.Errorf("predictor inputs %v are collinear on these runs: %w", inputs, err)
	}
	coef := make([]float64, p)
	for i, o := range obs {
		for j := 0; j < p; j++ {
			for k := 0; k < p; k++ {
				coef[j] += inv[j][k] * x[i][k] * o.Actual
			}
		}
	}
	ss := 0.0
	for i, o := range obs {
		r := dot(coef, x[i]) - o.Actual
		ss += r * r
	}
	return &Predictor{Inputs: inputs, Coef: coef, Runs: len(obs), ResidualSD: math.Sqrt(ss / float64(len(obs)-p)), xtxInv: inv}, nil
}

// Prediction is a predicted fine-tuned accuracy with its 90% prediction
// interval and the number of runs the predictor was fitted on.
type Prediction struct {
	Value float64 `json:"value"`
	Low   float64 `json:"low"`
	High  float64 `json:"high"`
	Runs  int     `json:"runs"`
}

func (p Prediction) String() string {
	return fmt.Sprintf("%.3f (90%% interval %.3f-%.3f; fitted on %d runs)", p.Value, p.Low, p.High, p.Runs)
}

// Predict predicts the fine-tuned accuracy of a configuration from its
// scores: the OLS prediction ± t(0.95, n−p)·s·√(1 + xᵀ(XᵀX)⁻¹x).
func (p *Predictor) Predict(o Observation) (Prediction, error) {
	x, err := designRow(p.Inputs, o)
	if err != nil {
		return Prediction{}, err
	}
	v := dot(p.Coef, x)
	lev := 0.0
	for j := range x {
		for k := range x {
			lev += x[j] * p.xtxInv[j][k] * x[k]
		}
	}
	half := studentT95(p.Runs-len(x)) * p.ResidualSD * math.Sqrt(1+lev)
	return Prediction{Value: v, Low: v - half, High: v + half, Runs: p.Runs}, nil
}

// studentT95 is the 0.95 quantile of Student's t with df degrees of
// freedom, by the Cornish-Fisher expansion around the normal quantile
// (within 0.3% of the exact value for df >= 3).
func studentT95(df int) float64 {
	z := 1.6448536269514722
	if df <= 0 {
		return math.Inf(1)
	}
	v := float64(df)
	z3, z5, z7 := z*z*z, math.Pow(z, 5), math.Pow(z, 7)
	return z + (z3+z)/(4*v) + (5*z5+16*z3+3*z)/(96*v*v) + (3*z7+19*z5+17*z3-15*z)/(384*v*v*v)
}

// PredictedPoint is one configuration's leave-one-out prediction beside its
// actual accuracy.
type PredictedPoint struct {
	Config     Config     `json:"config"`
	Actual     float64    `json:"actual"`
	Prediction Prediction `json:"prediction"`
}

// PredictedVsActual is what a widget draws: points against the line y = x,
// with Kendall's tau over all points and within each task (where the
// pooled tau can hide failures).
type PredictedVsActual struct {
	Inputs []string         `json:"inputs"`
	Points []PredictedPoint `json:"points"`
	Tau    float64          `json:"kendall_tau"`
	// PerTask is tau within each task; NaN where a task has fewer than 2
	// points or its configurations have identical inputs (then the
	// predictor cannot rank them, and leave-one-out's small refits would
	// only order them against their actuals).
	PerTask map[string]float64 `json:"per_task_tau"`
	MAE     float64            `json:"mae"`
	Covered float64            `json:"interval_coverage"` // share of actuals inside their 90% interval
	// Diagonal is the extent [low, high] of the line y = x to draw: the
	// range of every prediction, interval and actual.
	Diagonal [2]float64 `json:"diagonal"`
}

// LeaveOneOut predicts each observation from a predictor fitted on all the
// others, and scores the predictions against the actual accuracies.
func LeaveOneOut(obs []Observation, inputs []string) (*PredictedVsActual, error) {
	res := &PredictedVsActual{Inputs: inputs, PerTask: map[string]float64{}}
	var pred, act []float64
	byTask := map[string][2][]float64{}
	covered := 0
	for i := range obs {
		rest := append(append([]Observation(nil), obs[:i]...), obs[i+1:]...)
		p, err := Fit(rest, inputs)
		if err != nil {
			return nil, err
		}
		pr, err := p.Predict(obs[i])
		if err != nil {
			return nil, err
		}
		res.Points = append(res.Points, PredictedPoint{Config: obs[i].Config, Actual: obs[i].Actual, Prediction: pr})
		pred, act = append(pred, pr.Value), append(act, obs[i].Actual)
		t := byTask[obs[i].Task]
		byTask[obs[i].Task] = [2][]float64{append(t[0], pr.Value), append(t[1], obs[i].Actual)}
		res.MAE += math.Abs(pr.Value-obs[i].Actual) / float64(len(obs))
		if obs[i].Actual >= pr.Low && obs[i].Actual <= pr.High {
			covered++
		}
	}
	res.Tau = KendallTau(pred, act)
	rows := map[string]map[string]bool{}
	for _, o := range obs {
		x, _ := designRow(inputs, o)
		if rows[o.Task] == nil {
			rows[o.Task] = map[string]bool{}
		}
		rows[o.Task][fmt.Sprint(x)] = true
	}
	for task, pa := range byTask {
		res.PerTask[task] = math.NaN()
		if len(rows[task]) > 1 {
			res.PerTask[task] = KendallTau(pa[0], pa[1])
		}
	}
	res.Covered = float64(covered) / float64(len(obs))
	res.Diagonal = [2]float64{math.Inf(1), math.Inf(-1)}
	for _, p := range res.Points {
		res.Diagonal[0] = min(res.Diagonal[0], p.Actual, p.Prediction.Low)
		res.Diagonal[1] = max(res.Diagonal[1], p.Actual, p.Prediction.High)
	}
	return res, nil
}

// KendallTau is Kendall's tau-b of two paired samples (ties counted as in
// scipy.stats.kendalltau); NaN when either sample is constant.
func KendallTau(x, y []float64) float64 { return stats.KendallTau(x, y) }

// MarshalJSON writes NaN scores (LEEP without an MLM head) as null.
func (s Scores) MarshalJSON() ([]byte, error) {
	type plain Scores
	aux := struct {
		plain
		LEEP *float64 `json:"leep"`
	}{plain: plain(s)}
	if !math.IsNaN(s.LEEP) {
		aux.LEEP = &s.LEEP
	}
	return json.Marshal(aux)
}

// UnmarshalJSON reads null LEEP back as NaN.
func (s *Scores) UnmarshalJSON(b []byte) error {
	type plain Scores
	aux := struct {
		*plain
		LEEP *float64 `json:"leep"`
	}{plain: (*plain)(s)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	s.LEEP = math.NaN()
	if aux.LEEP != nil {
		s.LEEP = *aux.LEEP
	}
	return nil
}

// ProbeCurve is the linear probe's k-fold accuracy on frozen features of
// growing samples of task's training split (sizes, seeded): a learning
// curve over data size that costs forward passes only. Each point is
// weighted by n/(v(1−v)), the inverse binomial variance of its accuracy.
func ProbeCurve(m *peft.Model, task *data.Task, sizes []int, opt TransferOptions) ([]CurvePoint, error) {
	if opt.Pooling == "" {
		opt.Pooling = PoolMean
	}
	largest := 0
	for _, n := range sizes {
		largest = max(largest, n)
	}
	texts, labels := Sample(task, largest, opt.Seed)
	f, err := Extract(m, texts, labels, FeatureOptions{MaxLen: opt.MaxLen})
	if err != nil {
		return nil, err
	}
	x, err := f.At(-1, opt.Pooling)
	if err != nil {
		return nil, err
	}
	// Nested samples: a seeded shuffle of the largest one, cut at each size.
	perm := make([]int, len(labels))
	for i := range perm {
		perm[i] = i
	}
	rng := rand.New(rand.NewPCG(opt.Seed, 0xc0ffee))
	rng.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
	var out []CurvePoint
	for _, n := range sizes {
		n = min(n, len(perm))
		var xs [][]float64
		var ys []int
		for _, i := range perm[:n] {
			xs, ys = append(xs, x[i]), append(ys, labels[i])
		}
		acc, err := ProbeAccuracy(xs, ys, ProbeOptions{Folds: opt.Folds, Seed: opt.Seed})
		if err != nil {
			return nil, fmt.Errorf("probe at n=%d: %w", n, err)
		}
		v := math.Min(math.Max(acc, 0.5/float64(n)), 1-0.5/float64(n))
		out = append(out, CurvePoint{N: float64(n), Value: acc, Weight: float64(n) / (v * (1 - v))})
	}
	return out, nil
}

// AtLayer returns the observations with their scores taken at another
// feature layer (negative counts from the top).
func AtLayer(obs []Observation, layer int) ([]Observation, error) {
	out := make([]Observation, len(obs))
	for i, o := range obs {
		l := layer
		if l < 0 {
			l += len(o.Layers)
		}
		if l < 0 || l >= len(o.Layers) {
			return nil, fmt.Errorf("feature layer %d out of range 0..%d", layer, len(o.Layers)-1)
		}
		o.Scores, o.Config.Layer = o.Layers[l], l
		out[i] = o
	}
	return out, nil
}

// MarshalJSON writes NaN taus (a task that cannot be ranked) as null.
func (r PredictedVsActual) MarshalJSON() ([]byte, error) {
	type plain PredictedVsActual
	aux := struct {
		plain
		Tau     *float64            `json:"kendall_tau"`
		PerTask map[string]*float64 `json:"per_task_tau"`
	}{plain: plain(r), PerTask: map[string]*float64{}}
	null := func(v float64) *float64 {
		if math.IsNaN(v) {
			return nil
		}
		return &v
	}
	aux.Tau = null(r.Tau)
	for k, v := range r.PerTask {
		aux.PerTask[k] = null(v)
	}
	return json.Marshal(aux)
}
