package peft

import (
	"strings"
	"testing"
)

// MAM is the union of its two parts: a ConfigUnion of the same parts in the
// same scopes computes the same outputs, and reads back from JSON.
func TestUnionIsMAM(t *testing.T) {
	m := tinyModel(t)
	mam := &MAM{Prefix: tinyPrefix(), FFN: ParallelAdapter()}
	mam.FFN.InitWeights = "bert" // a non-zero FFN adapter
	u := Union(Part{"prefix", mam.Prefix}, Part{"adapter", mam.FFN})
	a, b := newTunedOne(t, m, "x", mam), newTunedOne(t, m, "x", u)
	if d := maxAbsDiff(tunedHidden(t, a), tunedHidden(t, b)); d != 0 {
		t.Errorf("union and MAM differ by %g", d)
	}
	if got, want := u.NumParams(m.Config), mam.NumParams(m.Config); got != want || a.Counts().PerAdapter["x"] != want {
		t.Errorf("union has %d parameters (live %d), MAM %d", got, a.Counts().PerAdapter["x"], want)
	}
	js, err := MarshalMethod(u)
	if err != nil {
		t.Fatal(err)
	}
	back, err := UnmarshalMethod(js)
	if err != nil {
		t.Fatal(err)
	}
	js2, _ := MarshalMethod(back)
	if string(js) != string(js2) {
		t.Errorf("union JSON does not round-trip:\n%s\n%s", js, js2)
	}
}

func TestUnionValidate(t *testing.T) {
	cfg := tinyConfig()
	for _, c := range []struct {
		u    *ConfigUnion
		want string
	}{
		{Union(Part{"a", Pfeiffer()}, Part{"b", ParallelAdapter()}), "2 parts at residual points"},
		{Union(Part{"a", Pfeiffer()}, Part{"a", DefaultLoRA()}), "distinct name"},
		{Union(Part{"a/b", Pfeiffer()}), "distinct name"},
		{Union(Part{"a", &LoRA{}}), "a: r is 0"},
	} {
		if err := c.u.Validate(cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one containing %q", c.u.Parts, err, c.want)
		}
	}
	if err := Union(Part{"lora", DefaultLoRA()}, Part{"ia3", DefaultIA3()}).Validate(cfg); err != nil {
		t.Error(err)
	}
}
