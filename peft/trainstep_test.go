package peft

import (
	"bytes"
	"strings"
	"testing"
)

// snapshot copies every variable's bytes by scope path.
func snapshot(t *testing.T, tu *Tuned) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for v := range tu.Ctx.IterVariables() {
		val, err := v.Value()
		if err != nil {
			t.Fatal(err)
		}
		var b []byte
		val.MutableBytes(func(data []byte) { b = append(b, data...) })
		out[v.ScopeAndName()] = b
	}
	return out
}

// trainFew runs a few high-learning-rate steps.
func trainFew(t *testing.T, tu *Tuned, steps int) {
	t.Helper()
	s := tu.NewStepper(0)
	for i := 0; i < steps; i++ {
		if _, err := s.Step(tinyBatch(), Labels{Classes: []int32{0, 1}}, 1e-2, 0); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTrainingChangesOnlyActivePEFTParams(t *testing.T) {
	m := tinyModel(t)
	s := NewSetup("houlsby", Houlsby()).Add("idle", Pfeiffer())
	s.Active = Name("houlsby")
	tu, err := NewTuned(m, s, ClassificationHead(2), 1)
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, tu)
	trainFew(t, tu, 3)
	after := snapshot(t, tu)
	for name, b := range before {
		v := tu.Ctx.GetVariableByScopeAndName(splitScope(name))
		changed := !bytes.Equal(b, after[name])
		switch {
		case v.Trainable && !changed:
			t.Errorf("trainable %s did not change", name)
		case !v.Trainable && changed && isParam(name):
			t.Errorf("frozen %s changed", name)
		}
	}
}

func splitScope(scopeAndName string) (string, string) {
	i := strings.LastIndexByte(scopeAndName, '/')
	scope := scopeAndName[:i]
	if scope == "" {
		scope = "/"
	}
	return scope, scopeAndName[i+1:]
}

// isParam excludes optimizer and step state, which change while frozen.
func isParam(scopeAndName string) bool {
	return strings.HasPrefix(scopeAndName, "/embeddings") || strings.HasPrefix(scopeAndName, "/encoder") ||
		strings.HasPrefix(scopeAndName, "/pooler") || strings.HasPrefix(scopeAndName, "/cls") ||
		strings.HasPrefix(scopeAndName, "/peft") || strings.HasPrefix(scopeAndName, "/head")
}
