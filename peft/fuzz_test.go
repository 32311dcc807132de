package peft

import (
	"bytes"
	"encoding/json"
	"testing"
)

// fuzzSetups are seed setups covering every method and composition block.
func fuzzSetups() []*Setup {
	var out []*Setup
	for _, name := range PresetNames() {
		m, _ := Preset(name)
		out = append(out, NewSetup("a", m))
	}
	h, p := NewSetup("a", Houlsby()).Add("b", Pfeiffer()), NewSetup("a", Pfeiffer()).Add("b", Pfeiffer())
	h.Active = Stack{Name("a"), Name("b")}
	p.Active = Fuse("a", "b")
	p.Train = []string{"a"}
	return append(out, h, p)
}

// FuzzUnmarshalSetup feeds setup JSON (run.json's "setup", `gopeft finetune
// --config`) to UnmarshalSetup: it must never panic, validating what it
// accepts must not panic, and an accepted setup must marshal to JSON that
// reads back to the same setup.
func FuzzUnmarshalSetup(f *testing.F) {
	for _, s := range fuzzSetups() {
		if b, err := MarshalSetup(s); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"adapters":[{"name":"x","method":{"method":"lora","config":{"r":-1}}}],"active":{"parallel":["x","x"]}}`))
	f.Add([]byte(`{"adapters":[],"active":{"average":{"children":["a"],"weights":[1,2]}}}`))
	f.Add([]byte(`{"active":{"batch_split":{"children":["a","b"],"sizes":[0]}}}`))
	cfg := tinyConfig()
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := UnmarshalSetup(data)
		if err != nil {
			return
		}
		_ = s.Validate(cfg)
		out, err := MarshalSetup(s)
		if err != nil {
			t.Fatalf("accepted setup does not marshal: %v", err)
		}
		again, err := UnmarshalSetup(out)
		if err != nil {
			t.Fatalf("marshalled setup rejected: %v\n%s", err, out)
		}
		out2, err := MarshalSetup(again)
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("setup changed on a round trip (%v):\n%s\n%s", err, out, out2)
		}
	})
}

// FuzzAdapterConfig feeds adapter_config.json bytes (as SaveAdapter writes
// them) to the reader LoadAdapter uses: it must never panic, and a method
// it accepts must validate (or refuse) without panicking and count its
// parameters once valid.
func FuzzAdapterConfig(f *testing.F) {
	for _, s := range fuzzSetups()[:len(PresetNames())] {
		mj, err := MarshalMethod(s.Adapters[0].Method)
		if err != nil {
			continue
		}
		b, _ := json.Marshal(AdapterFileConfig{Config: mj, Name: "a", ModelName: "gopeft-small", ModelType: "bert", HiddenSize: 128, NumLayers: 4})
		f.Add(b)
	}
	f.Add([]byte(`{"name":"a","config":{"method":"bottleneck","config":{"reduction_factor":0}}}`))
	f.Add([]byte(`{"name":"a","config":{"method":"nope"}}`))
	cfg := tinyConfig()
	f.Fuzz(func(t *testing.T, data []byte) {
		fc, m, err := parseAdapterConfig(data, "adapter_config.json")
		if err != nil {
			return
		}
		if fc.Name == "" || m == nil {
			t.Fatalf("accepted a config without a name or method: %+v", fc)
		}
		if m.Validate(cfg) == nil {
			if n := m.NumParams(cfg); n < 0 {
				t.Fatalf("valid %s counts %d parameters", m.Kind(), n)
			}
		}
	})
}
