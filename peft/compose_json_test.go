package peft

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// roundTripSetup marshals, unmarshals and marshals again, checking that the
// JSON and the active block survive unchanged; it returns the read setup.
func roundTripSetup(t *testing.T, s *Setup) *Setup {
	t.Helper()
	js, err := MarshalSetup(s)
	if err != nil {
		t.Fatal(err)
	}
	back, err := UnmarshalSetup(js)
	if err != nil {
		t.Fatalf("reading back %s: %v", js, err)
	}
	js2, err := MarshalSetup(back)
	if err != nil {
		t.Fatal(err)
	}
	if string(js) != string(js2) {
		t.Errorf("round trip changed the JSON:\n%s\n%s", js, js2)
	}
	if !reflect.DeepEqual(s.Active, back.Active) {
		t.Errorf("round trip changed the active block: %#v -> %#v", s.Active, back.Active)
	}
	if err := back.Validate(tinyConfig()); err != nil {
		t.Errorf("setup read back from %s is invalid: %v", js, err)
	}
	return back
}

func TestBlockJSONRoundTrip(t *testing.T) {
	drop := 0.2
	custom := StaticFusion()
	custom.Temperature, custom.DropoutProb = true, &drop
	cases := map[string]struct {
		active Block
		want   string // a fragment of the written JSON
	}{
		"name":          {Name("a"), `"active":"a"`},
		"stack":         {Stack{Name("a"), Name("b")}, `{"stack":["a","b"]}`},
		"fuse":          {Fuse("a", "b"), `{"fuse":{"children":["a","b"],"config":{"key":true`},
		"fuse custom":   {&FuseBlock{Children: []Block{Name("a"), Name("b")}, Config: custom, Scope: "fusion_pruned"}, `"scope":"fusion_pruned"`},
		"parallel":      {Parallel("a", "b"), `{"parallel":["a","b"]}`},
		"average":       {Average("a", "b"), `{"average":{"children":["a","b"]}}`},
		"weighted":      {WeightedAverage([]float64{0.25, 0.75}, "a", "b"), `"weights":[0.25,0.75]`},
		"batch split":   {BatchSplit([]int{1, 1}, "a", "b"), `{"batch_split":{"children":["a","b"],"sizes":[1,1]}}`},
		"stack of fuse": {Stack{Name("c"), Fuse("a", "b")}, `{"stack":["c",{"fuse":{"children":["a","b"]`},
		"fuse of stack": {&FuseBlock{Children: []Block{Stack{Name("c"), Name("a")}, Name("b")}, Config: DynamicFusion()}, `{"fuse":{"children":[{"stack":["c","a"]},"b"]`},
		"parallel nest": {ParallelBlock{Stack{Name("a"), Name("c")}, BatchSplit([]int{1, 1}, "b", "c"), Average("a", "b")}, `{"parallel":[{"stack":["a","c"]},{"batch_split"`},
		"stack nest":    {Stack{Name("c"), &AverageBlock{Children: []Block{Name("a"), Stack{Name("b"), Name("c")}}, Weights: []float64{1, 2}}}, `{"average":{"children":["a",{"stack":["b","c"]}],"weights":[1,2]}}`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			s := NewSetup("a", Pfeiffer()).Add("b", Pfeiffer()).Add("c", Houlsby())
			s.Active = c.active
			if err := s.Validate(tinyConfig()); err != nil {
				t.Fatalf("test setup is invalid: %v", err)
			}
			js, err := MarshalSetup(s)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(js), c.want) {
				t.Errorf("JSON %s lacks %s", js, c.want)
			}
			if strings.Contains(string(js), "*peft.") {
				t.Errorf("JSON %s has Go type names", js)
			}
			roundTripSetup(t, s)
		})
	}
}

func TestBlockJSONErrors(t *testing.T) {
	for raw, want := range map[string]string{
		`{"fuse":{"children":["a"],"confg":{}}}`:        "confg",
		`{"batch_split":{"children":["a"],"size":[1]}}`: "size",
		`{"split":["a"]}`:                  `"split" is unknown`,
		`{"stack":["a"],"parallel":["b"]}`: "one key",
		`{"stack":[{"nope":["a"]}]}`:       `stack child 0: composition key "nope"`,
		`{"average":{"children":"a"}}`:     "average",
		`3`:                                "adapter name",
	} {
		_, err := unmarshalBlock(json.RawMessage(raw))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("unmarshalBlock(%s) error = %v, want one mentioning %s", raw, err, want)
		}
	}
	// A hand-written Fuse without a config is dynamic fusion, like Fuse().
	b, err := unmarshalBlock(json.RawMessage(`{"fuse":{"children":["a","b"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(b, Fuse("a", "b")) {
		t.Errorf("fuse without config = %#v, want Fuse(a, b)", b)
	}
}

func TestSetupJSONRoundTrip(t *testing.T) {
	s := NewSetup("a", Houlsby()).Add("b", withMasks(ParallelAdapter()))
	s.Active = Stack{Name("a"), Name("b")}
	s.Train = []string{"b"}
	s.Drop = RobustDrop()
	js, err := MarshalSetup(s)
	if err != nil {
		t.Fatal(err)
	}
	back, err := UnmarshalSetup(js)
	if err != nil {
		t.Fatal(err)
	}
	js2, err := MarshalSetup(back)
	if err != nil {
		t.Fatal(err)
	}
	if string(js) != string(js2) {
		t.Errorf("round trip changed the setup:\n%s\n%s", js, js2)
	}
	if _, err := UnmarshalSetup([]byte(`{"adapters":[{"name":"x","method":{"method":"nope"}}]}`)); err == nil || !strings.Contains(err.Error(), "known methods") {
		t.Errorf("unknown method error = %v", err)
	}
}
