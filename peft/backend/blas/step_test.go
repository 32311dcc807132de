package blas_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/backend/blas"
	"github.com/gopeft/gopeft/peft/hf"
	"github.com/gopeft/gopeft/peft/train"
)

// GoPEFT's backend is chosen once per process (peft.Backend), so a training
// step runs in a child process of this test binary, once per backend:
// GOPEFT_BLAS_CHILD=<method>:<model>:<batch>:<seq>:<steps>.
const childEnv = "GOPEFT_BLAS_CHILD"

// stepReport is what a child prints, one JSON line prefixed by "STEP ".
type stepReport struct {
	Method  string    `json:"method"`
	Backend string    `json:"backend"`
	Losses  []float64 `json:"losses"` // per step, twice (a second Tuned from the same seed)
	MS      []float64 `json:"ms"`     // per step of the first run
	Error   string    `json:"error,omitempty"`
}

// methods are the setups the step tests and benchmarks train.
var methods = map[string]func() *peft.Setup{
	"head":     func() *peft.Setup { return nil },
	"houlsby":  func() *peft.Setup { return peft.NewSetup("a", peft.Houlsby()) },
	"pfeiffer": func() *peft.Setup { return peft.NewSetup("a", peft.Pfeiffer()) },
	"parallel": func() *peft.Setup { return peft.NewSetup("a", peft.ParallelAdapter()) },
	"lora":     func() *peft.Setup { return peft.NewSetup("a", peft.DefaultLoRA()) },
	"ia3":      func() *peft.Setup { return peft.NewSetup("a", peft.DefaultIA3()) },
	"bitfit":   func() *peft.Setup { return peft.NewSetup("a", peft.DefaultBitFit()) },
	"ln":       func() *peft.Setup { return peft.NewSetup("a", &peft.LNTuning{}) },
	"prefix": func() *peft.Setup {
		return peft.NewSetup("a", &peft.PrefixTuning{PrefixLength: 4, BottleneckSize: 16, NonLinearity: "tanh"})
	},
	"prompt": func() *peft.Setup { return peft.NewSetup("a", peft.RandomPrompt(3)) },
	"mam":    func() *peft.Setup { return peft.NewSetup("a", peft.SmallMAMAdapter()) },
	"masks": func() *peft.Setup {
		b := peft.Pfeiffer()
		b.Masks = peft.DefaultMasks()
		return peft.NewSetup("a", b)
	},
	"fusion": func() *peft.Setup {
		s := peft.NewSetup("a", peft.Pfeiffer()).Add("b", peft.Pfeiffer())
		s.Active = peft.Fuse("a", "b")
		return s
	},
}

func tinyConfig() hf.Config {
	return hf.Config{
		ModelType: "bert", VocabSize: 50, HiddenSize: 16, NumLayers: 2, NumHeads: 2,
		IntermediateSize: 32, MaxPositions: 32, TypeVocabSize: 2, HiddenAct: "gelu",
		LayerNormEps: 1e-12, HasPooler: true, HasTokenTypes: true, InitializerRange: 0.02,
	}
}

func shippedModel() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "models", "gopeft-small")
}

// TestStepChild is the child's body; it does nothing in a normal run.
func TestStepChild(t *testing.T) {
	spec := os.Getenv(childEnv)
	if spec == "" {
		t.Skip("runs only as a child of the step tests and benchmarks")
	}
	rep := runChild(spec)
	if p := blas.OpProfile(40); p != "" {
		fmt.Print(p)
	}
	line, _ := json.Marshal(rep)
	fmt.Printf("STEP %s\n", line)
}

func runChild(spec string) (rep stepReport) {
	parts := strings.Split(spec, ":")
	rep.Method = parts[0]
	defer func() {
		if r := recover(); r != nil {
			rep.Error = fmt.Sprint(r)
		}
	}()
	fail := func(err error) stepReport { rep.Error = err.Error(); return rep }
	batch, _ := strconv.Atoi(parts[2])
	seq, _ := strconv.Atoi(parts[3])
	steps, _ := strconv.Atoi(parts[4])
	if rep.Method == "mlm" {
		return runMLM(rep, batch, seq, steps)
	}
	var m *peft.Model
	var err error
	if parts[1] == "tiny" {
		m, err = peft.NewModel(tinyConfig(), nil, 1)
	} else {
		m, err = peft.LoadModel(shippedModel())
	}
	if err != nil {
		return fail(err)
	}
	rep.Backend = peft.BackendChoice().Name
	mk, ok := methods[rep.Method]
	if !ok {
		return fail(fmt.Errorf("unknown method %q", rep.Method))
	}
	rng := rand.New(rand.NewPCG(3, 4))
	b := peft.Batch{}
	var y peft.Labels
	for i := 0; i < batch; i++ {
		ids, mask, types := make([]int32, seq), make([]int32, seq), make([]int32, seq)
		n := seq - rng.IntN(seq/2)
		for j := range ids {
			if j < n {
				ids[j], mask[j] = int32(5+rng.IntN(m.Config.VocabSize-5)), 1
				types[j] = int32(j * 2 / seq)
			}
		}
		b.IDs, b.Mask, b.TypeIDs = append(b.IDs, ids), append(b.Mask, mask), append(b.TypeIDs, types)
		y.Classes = append(y.Classes, int32(rng.IntN(2)))
	}
	for run := 0; run < 2; run++ {
		tu, err := peft.NewTuned(m, mk(), peft.ClassificationHead(2), 1)
		if err != nil {
			return fail(err)
		}
		st := tu.NewStepper(0.01)
		for i := 0; i < steps; i++ {
			start := time.Now()
			r, err := st.Step(b, y, 1e-3, 0)
			if err != nil {
				return fail(err)
			}
			if run == 0 {
				rep.MS = append(rep.MS, float64(time.Since(start).Microseconds())/1000)
			}
			rep.Losses = append(rep.Losses, r.Loss)
		}
	}
	return rep
}

// runMLM pretrains the shipped encoder (masked-LM, AdamW) for steps steps,
// twice from the same seed.
func runMLM(rep stepReport, batch, seq, steps int) stepReport {
	for run := 0; run < 2; run++ {
		m, err := peft.LoadModel(shippedModel())
		if err != nil {
			rep.Error = err.Error()
			return rep
		}
		rep.Backend = peft.BackendChoice().Name
		// Dropout's RNG state is seeded from this (else from the clock).
		m.Ctx.SetParam(context.ParamInitialSeed, int64(1))
		rng := rand.New(rand.NewPCG(5, 6))
		seqs := make([][]int32, 4*batch)
		for i := range seqs {
			seqs[i] = make([]int32, seq)
			for j := range seqs[i] {
				seqs[i][j] = int32(5 + rng.IntN(m.Config.VocabSize-5))
			}
		}
		last := time.Now()
		_, err = train.Pretrain(m, seqs, train.PretrainOptions{Steps: steps, BatchSize: batch, Seed: 1, ReportEvery: 1,
			Report: func(step int, loss float64) {
				if run == 0 {
					rep.MS = append(rep.MS, float64(time.Since(last).Microseconds())/1000)
				}
				rep.Losses = append(rep.Losses, loss)
				last = time.Now()
			}})
		if err != nil {
			rep.Error = err.Error()
			return rep
		}
	}
	return rep
}

// child runs spec in a child process on the given GOMLX_BACKEND.
func child(t testing.TB, backend, spec string) stepReport {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestStepChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+spec, "GOMLX_BACKEND="+backend)
	out, err := cmd.CombinedOutput()
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), "STEP "); ok {
			var rep stepReport
			if err := json.Unmarshal([]byte(line), &rep); err != nil {
				t.Fatal(err)
			}
			return rep
		}
	}
	t.Fatalf("child %s on %s: %v\n%s", spec, backend, err, out)
	return stepReport{}
}

// TestTrainingStepMatchesGo trains each method a few steps on a tiny
// encoder on "go" and on "blas": same losses (1e-5 relative), and a second
// seeded run on blas gives identical bits.
func TestTrainingStepMatchesGo(t *testing.T) {
	names := []string{"head", "houlsby", "pfeiffer", "parallel", "lora", "ia3", "bitfit", "ln", "prefix", "prompt", "mam", "masks", "fusion", "mlm"}
	if testing.Short() {
		names = []string{"houlsby", "lora"}
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			spec := name + ":tiny:4:12:3"
			if name == "mlm" {
				spec = "mlm:shipped:4:16:3"
			}
			want := child(t, "go", spec)
			got := child(t, "blas", spec)
			if want.Error != "" {
				t.Fatalf("go: %s", want.Error)
			}
			if got.Error != "" {
				t.Fatalf("blas: %s", got.Error)
			}
			later := 1e-5
			if name == "mlm" {
				// Every base weight trains: Adam turns float32 rounding
				// noise in near-zero gradients into full-size steps.
				later = 1e-4
			}
			checkLosses(t, want, got, later)
		})
	}
}

// checkLosses: the first step's loss within 1e-5 relative, later ones
// within later; the second seeded run bit-identical to the first.
func checkLosses(t *testing.T, want, got stepReport, later float64) {
	t.Helper()
	if len(want.Losses) != len(got.Losses) {
		t.Fatalf("%d losses, want %d", len(got.Losses), len(want.Losses))
	}
	for i := range want.Losses {
		tol := later
		if i == 0 || i == len(want.Losses)/2 {
			tol = 1e-5
		}
		if d := math.Abs(want.Losses[i] - got.Losses[i]); d > tol*math.Abs(want.Losses[i]) || math.IsNaN(got.Losses[i]) {
			t.Errorf("step %d: loss %.9g on blas, %.9g on go", i, got.Losses[i], want.Losses[i])
		}
	}
	n := len(got.Losses) / 2
	for i := 0; i < n; i++ {
		if math.Float64bits(got.Losses[i]) != math.Float64bits(got.Losses[n+i]) {
			t.Errorf("step %d: seeded rerun on blas gave loss %v, first run %v", i, got.Losses[n+i], got.Losses[i])
		}
	}
}

// BenchmarkTrainStep times a training step of the shipped encoder at batch
// 16 x 64 on "go" and "blas" (each in a child process; median and fastest
// of the steps after the first) and reports both and the medians' ratio.
// GOPEFT_BENCH_METHODS picks methods (default houlsby,lora,head).
func BenchmarkTrainStep(b *testing.B) {
	names := []string{"houlsby", "lora", "head"}
	if v := os.Getenv("GOPEFT_BENCH_METHODS"); v != "" {
		names = strings.Split(v, ",")
	}
	steps := 6
	if v, err := strconv.Atoi(os.Getenv("GOPEFT_BENCH_STEPS")); err == nil && v > 1 {
		steps = v
	}
	for _, name := range names {
		b.Run(name, func(b *testing.B) {
			spec := fmt.Sprintf("%s:shipped:16:64:%d", name, steps)
			var ms [2]float64
			for i, backend := range []string{"go", "blas"} {
				if backend == "go" && os.Getenv("GOPEFT_BENCH_SKIP_GO") != "" {
					continue
				}
				rep := child(b, backend, spec)
				if rep.Error != "" {
					b.Fatalf("%s: %s", backend, rep.Error)
				}
				ms[i] = median(rep.MS[1:])
				b.ReportMetric(ms[i], backend+"-ms/step")
				// The fastest step: what the cores give when nothing else
				// runs (the median moves with the machine's load).
				b.ReportMetric(slices.Min(rep.MS[1:]), backend+"-min-ms/step")
			}
			if ms[0] > 0 {
				b.ReportMetric(ms[0]/ms[1], "speedup")
			}
		})
	}
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}
