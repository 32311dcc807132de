package peft

import (
	"bytes"
	"encoding/binary"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gopeft/gopeft/peft/encoder"
)

// newTunedOne builds a Tuned with one adapter and a two-class head.
func newTunedOne(t *testing.T, m *Model, name string, method Method) *Tuned {
	t.Helper()
	tu, err := NewTuned(m, NewSetup(name, method), ClassificationHead(2), 3)
	if err != nil {
		t.Fatal(err)
	}
	return tu
}

// modelHidden is the plain model's last hidden state on tinyBatch.
func modelHidden(t *testing.T, m *Model) []float32 {
	t.Helper()
	x, _, err := m.Hidden(tinyBatch())
	if err != nil {
		t.Fatal(err)
	}
	return flat(t, x)
}

// checkTrainedExactly trains a few high-LR steps and checks that every
// parameter for which trains(scopeAndName) holds changed and every other
// base or PEFT parameter is bitwise unchanged.
func checkTrainedExactly(t *testing.T, tu *Tuned, trains func(scopeAndName string) bool) {
	t.Helper()
	before := snapshot(t, tu)
	trainFew(t, tu, 3)
	after := snapshot(t, tu)
	nTrained := 0
	for name, b := range before {
		if !isParam(name) || strings.HasPrefix(name, "/head") {
			continue
		}
		changed := !bytes.Equal(b, after[name])
		want := trains(name)
		if want {
			nTrained++
		}
		switch {
		case want && !changed:
			t.Errorf("%s should train but did not change", name)
		case !want && changed:
			t.Errorf("%s should stay frozen but changed", name)
		}
	}
	if nTrained == 0 {
		t.Errorf("no parameter was expected to train: the test checks nothing")
	}
}

func methodJSONRoundTrip(t *testing.T, m Method) {
	t.Helper()
	data, err := MarshalMethod(m)
	if err != nil {
		t.Fatal(err)
	}
	back, err := UnmarshalMethod(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m, back) {
		t.Errorf("JSON round trip of %s changed it:\n%s\n%#v\n%#v", m.Kind(), data, m, back)
	}
}

func TestLoRAIdentityAtInit(t *testing.T) {
	m := tinyModel(t)
	base := modelHidden(t, m)
	l := DefaultLoRA()
	l.TargetModules = []string{"all-linear"}
	tu := newTunedOne(t, m, "lora", l)
	if d := maxAbsDiff(base, tunedHidden(t, tu)); d != 0 {
		t.Errorf("B = 0 LoRA changed the output by %g", d)
	}
	l2 := DefaultLoRA()
	l2.InitWeights = "false"
	if d := maxAbsDiff(base, tunedHidden(t, newTunedOne(t, m, "lora", l2))); d == 0 {
		t.Errorf("init_lora_weights false left the output unchanged")
	}
}

func tunedHidden(t *testing.T, tu *Tuned) []float32 {
	t.Helper()
	x, err := tu.Hidden(tinyBatch())
	if err != nil {
		t.Fatal(err)
	}
	return flat(t, x)
}

func TestLoRAParamCounts(t *testing.T) {
	cfg := tinyConfig()
	d, ff, r := cfg.HiddenSize, cfg.IntermediateSize, 4
	for _, tc := range []struct {
		targets []string
		layers  []int
		want    int
	}{
		{nil, nil, cfg.NumLayers * 2 * r * (d + d)},
		{[]string{"query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense"}, nil,
			cfg.NumLayers * r * (4*(d+d) + (d + ff) + (ff + d))},
		{[]string{"ffn_in"}, []int{1}, r * (d + ff)},
	} {
		l := DefaultLoRA()
		l.R, l.TargetModules, l.LayersToTransform = r, tc.targets, tc.layers
		if got := l.NumParams(cfg); got != tc.want {
			t.Errorf("%v layers %v: closed form %d, want %d", tc.targets, tc.layers, got, tc.want)
		}
		tu := newTunedOne(t, tinyModel(t), "lora", l)
		if got := tu.Counts().PerAdapter["lora"]; got != tc.want {
			t.Errorf("%v layers %v: live variables hold %d, want %d", tc.targets, tc.layers, got, tc.want)
		}
	}
}

func TestLoRATrainsOnlyItsMatrices(t *testing.T) {
	l := DefaultLoRA()
	l.R = 2
	l.LayersToTransform = []int{1}
	tu := newTunedOne(t, tinyModel(t), "lora", l)
	checkTrainedExactly(t, tu, func(n string) bool { return strings.HasPrefix(n, "/peft/lora/") })
}

func TestLoRAMergeUnmerge(t *testing.T) {
	m := tinyModel(t)
	modelQuery := varBytes(t, m.Ctx.GetVariableByScopeAndName("/encoder/layer/0/attention/self/query", "weight"))
	l := DefaultLoRA()
	l.InitWeights = "false" // non-zero B, so merging matters
	l.Alpha = 16
	l.TargetModules = []string{"all-linear"}
	tu := newTunedOne(t, m, "lora", l)
	qv := tu.Ctx.GetVariableByScopeAndName("/encoder/layer/0/attention/self/query", "weight")
	before := varBytes(t, qv)
	unmerged := tunedHidden(t, tu)
	unmergedLogits, err := tu.Logits(tinyBatch())
	if err != nil {
		t.Fatal(err)
	}
	mt, err := tu.MergeLoRA("lora")
	if err != nil {
		t.Fatal(err)
	}
	if !mt.IsMerged("lora") || tu.IsMerged("lora") {
		t.Fatalf("merge flag: merged %v, original %v (want true, false)", mt.IsMerged("lora"), tu.IsMerged("lora"))
	}
	if mt.Version() == tu.Version() {
		t.Errorf("merging kept the version %d", tu.Version())
	}
	if _, err := mt.MergeLoRA("lora"); err == nil {
		t.Errorf("merging twice succeeded")
	}
	merged := tunedHidden(t, mt)
	if d := maxAbsDiff(unmerged, merged); d > 1e-4 {
		t.Errorf("merged output differs from unmerged by %g", d)
	}
	mqv := mt.Ctx.GetVariableByScopeAndName("/encoder/layer/0/attention/self/query", "weight")
	if bytes.Equal(before, varBytes(t, mqv)) {
		t.Errorf("merging left the base query weight unchanged")
	}
	if !bytes.Equal(before, varBytes(t, qv)) {
		t.Errorf("merging changed the original Tuned's query weight")
	}
	mergedLogits, err := mt.Logits(tinyBatch())
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(flat(t, unmergedLogits), flat(t, mergedLogits)); d > 1e-4 {
		t.Errorf("merged logits differ by %g", d)
	}
	// The original's compiled graph still applies the adapter once.
	again, err := tu.Logits(tinyBatch())
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(flat(t, unmergedLogits), flat(t, again)); d != 0 {
		t.Errorf("the original Tuned's logits moved by %g after MergeLoRA", d)
	}
	for v := range mt.Ctx.IterVariables() {
		if strings.HasPrefix(v.Scope(), "/peft/lora/") && v.Trainable {
			t.Errorf("%s trains while merged", v.ScopeAndName())
		}
	}
	if !bytes.Equal(modelQuery, varBytes(t, m.Ctx.GetVariableByScopeAndName("/encoder/layer/0/attention/self/query", "weight"))) {
		t.Errorf("merging changed the Model's own weights")
	}
	ut, err := mt.UnmergeLoRA("lora")
	if err != nil {
		t.Fatal(err)
	}
	uqv := ut.Ctx.GetVariableByScopeAndName("/encoder/layer/0/attention/self/query", "weight")
	if d := maxAbsDiff(bytesF32(before), bytesF32(varBytes(t, uqv))); d > 1e-6 {
		t.Errorf("unmerge left the query weight %g away from the original", d)
	}
	if d := maxAbsDiff(unmerged, tunedHidden(t, ut)); d > 1e-4 {
		t.Errorf("unmerged output differs by %g", d)
	}
	if d := maxAbsDiff(merged, tunedHidden(t, mt)); d != 0 {
		t.Errorf("unmerging moved the merged Tuned's output by %g", d)
	}
	for v := range ut.Ctx.IterVariables() {
		if strings.HasPrefix(v.Scope(), "/peft/lora/") && !v.Trainable {
			t.Errorf("%s frozen after unmerge", v.ScopeAndName())
		}
	}
	if _, err := tu.MergeLoRA("nope"); err == nil {
		t.Errorf("merging an unknown adapter succeeded")
	}
}

func TestLoRAValidateAndJSON(t *testing.T) {
	cfg := tinyConfig()
	for _, bad := range []*LoRA{
		{R: 0, Alpha: 8},
		{R: 8, Alpha: 8, TargetModules: []string{"qkv"}},
		{R: 8, Alpha: 8, Bias: "all"},
		{R: 8, Alpha: 8, LayersToTransform: []int{5}},
		{R: 8, Alpha: 8, Dropout: 1},
	} {
		if err := bad.Validate(cfg); err == nil {
			t.Errorf("%+v validated", bad)
		}
	}
	l := DefaultLoRA()
	l.LayersToTransform = []int{0}
	l.Dropout = 0.1
	l.UseRSLoRA = true
	methodJSONRoundTrip(t, l)
	methodJSONRoundTrip(t, DefaultLoRA())
	sites, err := (&LoRA{R: 1, Alpha: 1, TargetModules: []string{"output.dense", "lin1", "value", "query"}}).Sites()
	if err != nil {
		t.Fatal(err)
	}
	if want := []encoder.Site{encoder.Query, encoder.Value, encoder.FFNIn, encoder.FFNOut}; !reflect.DeepEqual(sites, want) {
		t.Errorf("sites %v, want %v", sites, want)
	}
}

func varBytes(t *testing.T, v *context.Variable) []byte {
	t.Helper()
	var b []byte
	if err := v.MustValue().ConstBytes(func(data []byte) { b = append(b, data...) }); err != nil {
		t.Fatal(err)
	}
	return b
}

// bytesF32 reads little-endian float32s.
func bytesF32(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}
