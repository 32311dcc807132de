package train

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gopeft/gopeft/peft/encoder"
	"github.com/gopeft/gopeft/peft/internal/trainingtest"
)

func TestPackSequences(t *testing.T) {
	tok := trainingtest.SentimentModel(t).Tokenizer
	passages := []string{"the movie was good", "a plot", strings.Repeat("film ", 30)}
	seqs := PackSequences(tok, passages, 16)
	total := 0
	for i, s := range seqs {
		if len(s) > 16 || s[0] != tok.ClsID || s[len(s)-1] != tok.SepID {
			t.Errorf("sequence %d = %v: want at most 16 tokens, [CLS] first, [SEP] last", i, s)
		}
		for _, id := range s {
			if id != tok.ClsID && id != tok.SepID {
				total++
			}
		}
	}
	if total != 4+2+30 {
		t.Errorf("%d passage tokens packed, want all %d", total, 36)
	}
	if len(seqs) < 3 {
		t.Errorf("%d sequences: the 30-word passage should be split", len(seqs))
	}
}

// Pretraining lowers the MLM loss, trains the encoder and the MLM head, is
// repeatable with a seed, and leaves nothing marked trainable.
func TestPretrain(t *testing.T) {
	var passages []string
	for range 40 {
		passages = append(passages, "the movie was good and the plot was good", "this film is bad and the story is bad")
	}
	run := func() ([]float64, PretrainResult, map[string][]byte, map[string][]byte) {
		m := trainingtest.SentimentModel(t)
		before := weights(t, m.Ctx)
		seqs := PackSequences(m.Tokenizer, passages, 32)
		var losses []float64
		res, err := Pretrain(m, seqs, PretrainOptions{Steps: 40, BatchSize: 8, LearningRate: 3e-3, Seed: 2, ReportEvery: 10,
			Report: func(step int, loss float64) { losses = append(losses, loss) }})
		if err != nil {
			t.Fatal(err)
		}
		for v := range m.Ctx.IterVariables() {
			if v.Trainable {
				t.Errorf("%s still trainable after pretraining", v.ScopeAndName())
			}
		}
		return losses, res, before, weights(t, m.Ctx)
	}
	losses, res, before, after := run()
	if len(losses) != 4 || res.Steps != 40 || res.Sequences == 0 || res.FinalLoss != losses[3] {
		t.Fatalf("reports %v, result %+v: want 4 reports, the last one the final loss", losses, res)
	}
	if losses[3] >= losses[0]*0.9 {
		t.Errorf("MLM loss %v did not fall", losses)
	}
	for _, name := range []string{"encoder.layer.0.attention.self.query.weight", "embeddings.word_embeddings.weight", "cls.predictions.bias"} {
		if bytes.Equal(before[name], after[name]) {
			t.Errorf("%s did not train", name)
		}
	}
	again, _, _, _ := run()
	if !slices.Equal(losses, again) {
		t.Errorf("same seed, different losses: %v and %v", losses, again)
	}
}

// weights copies every base weight's bytes by canonical name.
func weights(t *testing.T, ctx *context.Context) map[string][]byte {
	t.Helper()
	ws, err := encoder.Weights(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for name, w := range ws {
		w.ConstBytes(func(b []byte) { out[name] = bytes.Clone(b) })
	}
	return out
}
