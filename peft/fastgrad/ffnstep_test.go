package fastgrad

import (
	"math"
	"reflect"
	"testing"

	"github.com/gomlx/gomlx/backends/xla"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// TestFFNStepStockAndFastAgree trains both variants a few steps from the same
// seed: the losses must match, and fall.
func TestFFNStepStockAndFastAgree(t *testing.T) {
	backend := testBackend(t)
	const dim, tokens = 16, 32
	var losses [2][]float32
	for i, stock := range []bool{true, false} {
		s, err := NewFFNStep(backend, dim, tokens, stock)
		if err != nil {
			t.Fatal(err)
		}
		for range 5 {
			l, err := s.Run()
			if err != nil {
				t.Fatal(err)
			}
			losses[i] = append(losses[i], l)
		}
		s.Close()
	}
	for i := range losses[0] {
		if d := math.Abs(float64(losses[0][i] - losses[1][i])); d > 1e-5*math.Max(1, float64(losses[0][i])) {
			t.Errorf("step %d: stock loss %g, fast loss %g", i, losses[0][i], losses[1][i])
		}
	}
	if last := losses[1][len(losses[1])-1]; !(last < losses[1][0]) {
		t.Errorf("loss did not fall: %v", losses[1])
	}
	if _, ok := (&FFNStep{}).CompiledDeviceBytes(); ok {
		t.Error("CompiledDeviceBytes reported stats for a step with no graph")
	}
}

func benchmarkTrainStep(b *testing.B, stock bool) {
	backend := testBackend(b)
	s, err := NewFFNStep(backend, 64, 256, stock)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Run(); err != nil { // warm-up
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Run(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTrainStepStock and BenchmarkTrainStepFast time one SGD step of a
// 64->256->64 FFN block on 256 tokens with each gradient.
func BenchmarkTrainStepStock(b *testing.B) { benchmarkTrainStep(b, true) }
func BenchmarkTrainStepFast(b *testing.B)  { benchmarkTrainStep(b, false) }

// TestCompiledStatsPath checks, on types alone (no PJRT plugin needed), that
// the reflection path CompiledDeviceBytes follows still exists in this GoMLX
// and go-xla: Graph.executable -> *xla.Executable.exec ->
// *pjrt.LoadedExecutable.OnDeviceMemoryUsageStats.{GeneratedCode,...} int64.
func TestCompiledStatsPath(t *testing.T) {
	f, ok := reflect.TypeFor[graph.Graph]().FieldByName("executable")
	if !ok || f.Type.Kind() != reflect.Interface {
		t.Fatalf("graph.Graph has no interface field executable")
	}
	f, ok = reflect.TypeFor[xla.Executable]().FieldByName("exec")
	if !ok || f.Type.Kind() != reflect.Pointer {
		t.Fatalf("xla.Executable has no pointer field exec")
	}
	f, ok = f.Type.Elem().FieldByName("OnDeviceMemoryUsageStats")
	if !ok || f.Type.Kind() != reflect.Struct {
		t.Fatalf("pjrt.LoadedExecutable has no OnDeviceMemoryUsageStats struct")
	}
	for _, name := range []string{"GeneratedCode", "Inputs", "Outputs", "Aliases", "Temporary"} {
		if g, ok := f.Type.FieldByName(name); !ok || g.Type.Kind() != reflect.Int64 {
			t.Errorf("ExecutableMemoryUsageStats.%s missing or not int64", name)
		}
	}
}
