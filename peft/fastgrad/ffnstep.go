package fastgrad

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// FFNStep is one compiled SGD training step of a transformer FFN block,
// x[tokens,dim] -> Dense(dim->4dim) -> GELU -> Dense(4dim->dim), loss = mean
// square of the output, gradients w.r.t. all four weights. It exists to
// benchmark the stock against the fast DotGeneral gradient (`gopeft bench
// grad`, BenchmarkTrainStep*). Weights use PyTorch's [out,in] layout, as the
// encoder does. Not safe for concurrent use.
type FFNStep struct {
	Dim, Tokens int
	Stock       bool // built with GoMLX's stock DotGeneral/Dot VJPs

	g      *graph.Graph
	x      *tensors.Tensor
	params []*tensors.Tensor // w1[4d,d], b1[4d], w2[d,4d], b2[d]
}

// NewFFNStep builds and compiles the step on backend, with the stock or the
// fast gradient. It calls Install. Weights are seeded, so both variants train
// the same model.
func NewFFNStep(backend backends.Backend, dim, tokens int, stock bool) (s *FFNStep, err error) {
	if dim < 1 || tokens < 1 {
		return nil, fmt.Errorf("fastgrad: FFN step needs dim and tokens >= 1, got dim=%d tokens=%d", dim, tokens)
	}
	if err := Install(); err != nil && !stock {
		return nil, err
	}
	s = &FFNStep{Dim: dim, Tokens: tokens, Stock: stock}
	rng := rand.New(rand.NewPCG(uint64(dim), uint64(tokens)))
	hidden := 4 * dim
	s.x = randomTensor(rng, 1, tokens, dim)
	s.params = []*tensors.Tensor{
		randomTensor(rng, 1/math.Sqrt(float64(dim)), hidden, dim),
		tensors.FromFlatDataAndDimensions(make([]float32, hidden), hidden),
		randomTensor(rng, 1/math.Sqrt(float64(hidden)), dim, hidden),
		tensors.FromFlatDataAndDimensions(make([]float32, dim), dim),
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("fastgrad: building the FFN step (dim %d, tokens %d, stock=%v): %v", dim, tokens, stock, r)
			s.Close()
			s = nil
		}
	}()
	build := func() {
		s.g = graph.NewGraph(backend, fmt.Sprintf("ffn_step_stock_%v", stock))
		x := graph.Parameter(s.g, "x", s.x.Shape())
		ps := make([]*graph.Node, len(s.params))
		for i, p := range s.params {
			ps[i] = graph.Parameter(s.g, fmt.Sprintf("p%d", i), p.Shape())
		}
		loss := ffnLoss(x, ps[0], ps[1], ps[2], ps[3])
		grads := graph.Gradient(loss, ps...)
		outs := []*graph.Node{loss}
		lr := graph.Scalar(s.g, dtypes.Float32, 0.01)
		for i, p := range ps {
			outs = append(outs, graph.Sub(p, graph.Mul(lr, grads[i])))
		}
		s.g.Compile(outs...)
	}
	if stock {
		WithStock(build)
	} else {
		prev := useStock.Swap(false)
		defer useStock.Store(prev)
		build()
	}
	return s, nil
}

func ffnLoss(x, w1, b1, w2, b2 *graph.Node) *graph.Node {
	h := graph.Add(graph.DotGeneral(x, []int{1}, nil, w1, []int{1}, nil), graph.InsertAxes(b1, 0))
	// Exact GELU: 0.5 h (1 + erf(h / sqrt 2)).
	a := graph.Mul(graph.MulScalar(h, 0.5), graph.OnePlus(graph.Erf(graph.MulScalar(h, 1/math.Sqrt2))))
	y := graph.Add(graph.DotGeneral(a, []int{1}, nil, w2, []int{1}, nil), graph.InsertAxes(b2, 0))
	return graph.ReduceAllMean(graph.Square(y))
}

func randomTensor(rng *rand.Rand, scale float64, dims ...int) *tensors.Tensor {
	n := 1
	for _, d := range dims {
		n *= d
	}
	data := make([]float32, n)
	for i := range data {
		data[i] = float32(rng.NormFloat64() * scale)
	}
	return tensors.FromFlatDataAndDimensions(data, dims...)
}

// Run executes one step, updates the weights and returns the loss before the
// update. Reading the loss waits for the device, so timing Run times the step.
func (s *FFNStep) Run() (loss float32, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("fastgrad: running the FFN step: %v", r)
		}
	}()
	outs := s.g.Run(append([]any{s.x}, tensorsAsAny(s.params)...)...)
	for _, p := range s.params {
		_ = p.FinalizeAll()
	}
	s.params = outs[1:]
	loss = tensors.ToScalar[float32](outs[0])
	_ = outs[0].FinalizeAll()
	return loss, nil
}

func tensorsAsAny(ts []*tensors.Tensor) []any {
	out := make([]any, len(ts))
	for i, t := range ts {
		out[i] = t
	}
	return out
}

// Close frees the compiled graph and the tensors.
func (s *FFNStep) Close() {
	if s == nil {
		return
	}
	if s.g != nil {
		s.g.Finalize()
	}
	for _, t := range append([]*tensors.Tensor{s.x}, s.params...) {
		if t != nil {
			_ = t.FinalizeAll()
		}
	}
}

// CompiledDeviceBytes is the device memory XLA's compiler says the step needs;
// see the function CompiledDeviceBytes.
func (s *FFNStep) CompiledDeviceBytes() (bytes int64, ok bool) { return CompiledDeviceBytes(s.g) }

// CompiledDeviceBytes is the device memory XLA's compiler says graph g needs
// (code + arguments + outputs - aliases + temporaries), from PJRT's compiled
// memory stats. ok is false on backends that do not report it (SimpleGo).
// GoMLX does not export these stats, so this reads them by reflection along
// Graph.executable -> xla Executable.exec -> pjrt LoadedExecutable; any change
// in that path yields ok=false, never a wrong number.
func CompiledDeviceBytes(g *graph.Graph) (bytes int64, ok bool) {
	if g == nil {
		return 0, false
	}
	defer func() {
		if recover() != nil {
			bytes, ok = 0, false
		}
	}()
	v := reflect.ValueOf(g).Elem().FieldByName("executable")
	for _, name := range []string{"exec", "OnDeviceMemoryUsageStats"} {
		for v.IsValid() && (v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer) {
			if v.IsNil() {
				return 0, false
			}
			v = v.Elem()
		}
		if !v.IsValid() || v.Kind() != reflect.Struct {
			return 0, false
		}
		v = v.FieldByName(name)
	}
	if !v.IsValid() || v.Kind() != reflect.Struct {
		return 0, false
	}
	var total int64
	for name, sign := range map[string]int64{"GeneratedCode": 1, "Inputs": 1, "Outputs": 1, "Aliases": -1, "Temporary": 1} {
		f := v.FieldByName(name)
		if !f.IsValid() || f.Kind() != reflect.Int64 {
			return 0, false
		}
		total += sign * f.Int()
	}
	return total, total > 0
}
