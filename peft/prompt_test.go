package peft

import (
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/gopeft/gopeft/peft/tokenizer"
)

func TestPromptChangesOutputAndGrowsSequence(t *testing.T) {
	m := tinyModel(t)
	base := modelHidden(t, m)
	const p = 3
	tu := newTunedOne(t, m, "prompt", RandomPrompt(p))
	x, err := tu.Hidden(tinyBatch())
	if err != nil {
		t.Fatal(err)
	}
	b, s, h := len(tinyBatch().IDs), len(tinyBatch().IDs[0]), tinyConfig().HiddenSize
	if got, want := x.Shape().Dimensions, []int{b, p + s, h}; !reflect.DeepEqual(got, want) {
		t.Fatalf("hidden shape %v, want %v (virtual tokens first)", got, want)
	}
	// The real tokens (positions p..) now attend to the prompt.
	got := flat(t, x)
	var real []float32
	for i := 0; i < b; i++ {
		real = append(real, got[(i*(p+s)+p)*h:(i+1)*(p+s)*h]...)
	}
	if d := maxAbsDiff(base, real); d == 0 {
		t.Errorf("a random soft prompt left the real tokens' states unchanged")
	}
	if n, want := tu.Counts().PerAdapter["prompt"], p*h; n != want || RandomPrompt(p).NumParams(tinyConfig()) != want {
		t.Errorf("prompt parameters: live %d, closed form %d, want %d", n, RandomPrompt(p).NumParams(tinyConfig()), want)
	}
	v, err := tu.variableValue("/peft/prompt", "prompt_embeddings")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range flat(t, v) {
		if f < -0.5 || f > 0.5 {
			t.Fatalf("random init %g outside [-0.5, 0.5]", f)
		}
	}
}

func TestPromptTrainsOnlyThePrompt(t *testing.T) {
	tu := newTunedOne(t, tinyModel(t), "prompt", RandomPrompt(2))
	checkTrainedExactly(t, tu, func(n string) bool { return strings.HasPrefix(n, "/peft/prompt/") })
}

func TestPromptFromText(t *testing.T) {
	vocab := append([]string{}, tokenizer.Specials...)
	vocab = append(vocab, "hello", "world")
	tok, err := tokenizer.FromVocab(vocab, true)
	if err != nil {
		t.Fatal(err)
	}
	hello, _ := tok.TokenID("hello")
	world, _ := tok.TokenID("world")
	for _, tc := range []struct {
		n    int
		want []int32
	}{
		{6, []int32{tok.ClsID, hello, world, tok.SepID, tok.ClsID, hello}}, // repeated, as HF
		{3, []int32{tok.ClsID, hello, world}},                              // truncated
	} {
		p, err := PromptFromText(tok, "Hello world", tc.n)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(p.InitTokenIDs, tc.want) {
			t.Errorf("n=%d: init ids %v, want %v", tc.n, p.InitTokenIDs, tc.want)
		}
	}

	// The initial prompt is the embedding layer's output for those ids at
	// positions 0..P-1, token type 0.
	m := tinyModel(t)
	ids := []int32{4, 9, 2}
	tu := newTunedOne(t, m, "prompt", &PromptTuning{NumVirtualTokens: 3, Init: "text", InitTokenIDs: ids})
	got, err := tu.variableValue("/peft/prompt", "prompt_embeddings")
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(flat(t, got), embeddingOutput(t, m, ids)); d > 1e-5 {
		t.Errorf("text-initialised prompt differs from the embedding output by %g", d)
	}
	methodJSONRoundTrip(t, &PromptTuning{NumVirtualTokens: 3, Init: "text", InitText: "x", InitTokenIDs: ids})
	methodJSONRoundTrip(t, RandomPrompt(4))
}

// embeddingOutput recomputes LayerNorm(word + position + type 0) from the
// model's weights, in float64.
func embeddingOutput(t *testing.T, m *Model, ids []int32) []float32 {
	t.Helper()
	get := func(scope, name string) []float32 {
		return tensors.MustCopyFlatData[float32](m.Ctx.GetVariableByScopeAndName(scope, name).MustValue())
	}
	words, pos := get("/embeddings/word_embeddings", "weight"), get("/embeddings/position_embeddings", "weight")
	types := get("/embeddings/token_type_embeddings", "weight")
	gain, bias := get("/embeddings/LayerNorm", "weight"), get("/embeddings/LayerNorm", "bias")
	d := m.Config.HiddenSize
	var out []float32
	for j, id := range ids {
		x := make([]float64, d)
		var mu, v float64
		for k := range x {
			x[k] = float64(words[int(id)*d+k]) + float64(pos[j*d+k]) + float64(types[k])
			mu += x[k] / float64(d)
		}
		for k := range x {
			v += (x[k] - mu) * (x[k] - mu) / float64(d)
		}
		for k := range x {
			out = append(out, float32((x[k]-mu)/math.Sqrt(v+m.Config.LayerNormEps)*float64(gain[k])+float64(bias[k])))
		}
	}
	return out
}

func TestPromptValidate(t *testing.T) {
	cfg := tinyConfig()
	for _, bad := range []*PromptTuning{
		{NumVirtualTokens: 0},
		{NumVirtualTokens: 2, Init: "text"},
		{NumVirtualTokens: 2, Init: "text", InitTokenIDs: []int32{999}},
		{NumVirtualTokens: 2, Init: "vocab"},
	} {
		if err := bad.Validate(cfg); err == nil {
			t.Errorf("%+v validated", bad)
		}
	}
}
