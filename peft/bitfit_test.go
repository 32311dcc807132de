package peft

import (
	"bytes"
	"strings"
	"testing"
)

func TestBitFitTrainsExactlyTheBiases(t *testing.T) {
	for _, tc := range []struct {
		method *BitFit
		trains func(string) bool
	}{
		{DefaultBitFit(), func(n string) bool {
			return strings.HasSuffix(n, "/bias") && (strings.HasPrefix(n, "/encoder/") || strings.HasPrefix(n, "/embeddings/"))
		}},
		{&BitFit{Biases: "query_intermediate"}, func(n string) bool {
			return strings.HasSuffix(n, "/attention/self/query/bias") || strings.HasSuffix(n, "/intermediate/dense/bias")
		}},
	} {
		m := tinyModel(t)
		modelBefore := modelSnapshot(t, m)
		tu := newTunedOne(t, m, "bitfit", tc.method)
		if d := maxAbsDiff(modelHidden(t, m), tunedHidden(t, tu)); d != 0 {
			t.Errorf("%s: untrained BitFit changed the output by %g", tc.method.Biases, d)
		}
		checkTrainedExactly(t, tu, tc.trains)
		assertModelUnchanged(t, m, modelBefore)
		if n := tu.Counts().PerAdapter["bitfit"]; n != 0 || tc.method.NumParams(tinyConfig()) != 0 {
			t.Errorf("BitFit adds parameters: live %d, closed form %d", n, tc.method.NumParams(tinyConfig()))
		}
	}
}

func TestLNTuningTrainsExactlyTheLayerNorms(t *testing.T) {
	m := tinyModel(t)
	modelBefore := modelSnapshot(t, m)
	tu := newTunedOne(t, m, "ln", &LNTuning{})
	checkTrainedExactly(t, tu, func(n string) bool {
		return strings.Contains(n, "/LayerNorm/") && (strings.HasPrefix(n, "/encoder/") || strings.HasPrefix(n, "/embeddings/"))
	})
	assertModelUnchanged(t, m, modelBefore)
	if n := tu.Counts().PerAdapter["ln"]; n != 0 {
		t.Errorf("LayerNorm tuning adds %d parameters", n)
	}
}

func TestBitFitValidateAndJSON(t *testing.T) {
	if err := (&BitFit{Biases: "some"}).Validate(tinyConfig()); err == nil {
		t.Errorf("biases \"some\" validated")
	}
	methodJSONRoundTrip(t, DefaultBitFit())
	methodJSONRoundTrip(t, &BitFit{Biases: "query_intermediate"})
	methodJSONRoundTrip(t, &LNTuning{})
}

func modelSnapshot(t *testing.T, m *Model) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for v := range m.Ctx.IterVariables() {
		out[v.ScopeAndName()] = varBytes(t, v)
	}
	return out
}

// assertModelUnchanged checks that training a Tuned left its Model alone.
func assertModelUnchanged(t *testing.T, m *Model, before map[string][]byte) {
	t.Helper()
	for v := range m.Ctx.IterVariables() {
		if !bytes.Equal(before[v.ScopeAndName()], varBytes(t, v)) {
			t.Errorf("training the Tuned changed the Model's %s", v.ScopeAndName())
		}
	}
}
