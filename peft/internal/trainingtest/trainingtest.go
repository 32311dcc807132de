// Package trainingtest holds a tiny model and task that a few dozen
// training steps learn, for the tests of the packages that train.
package trainingtest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/gopeft/gopeft/internal/peftest"
	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/data"
	"github.com/gopeft/gopeft/peft/tokenizer"
)

var fillerWords = []string{"the", "a", "movie", "film", "was", "is", "plot", "actor", "very", "quite", "and", "story", "it", "really", "so", "this"}

// SentimentModel is NewSentimentModel for a test.
func SentimentModel(t *testing.T) *peft.Model {
	t.Helper()
	m, err := NewSentimentModel()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// NewSentimentModel is a tiny encoder with a word-level tokenizer.
func NewSentimentModel() (*peft.Model, error) {
	vocab := append(append([]string{}, tokenizer.Specials...), "good", "bad")
	vocab = append(vocab, fillerWords...)
	tok, err := tokenizer.FromVocab(vocab, true)
	if err != nil {
		return nil, err
	}
	cfg := peftest.TinyConfig()
	cfg.VocabSize = len(vocab)
	cfg.HiddenSize, cfg.NumHeads, cfg.IntermediateSize = 32, 4, 64
	m, err := peft.NewModel(cfg, tok, 1)
	if err != nil {
		return nil, err
	}
	// A random BERT init (std 0.02) barely mixes tokens: attention is uniform
	// and the value/output projections shrink what it mixes by ~0.02²·hidden.
	// Scaling them to unit gain makes [CLS] carry a bag of words, as a
	// pretrained encoder's would, so the task is learnable by a head and adapters.
	gain := float32(1 / (0.02 * math.Sqrt(float64(cfg.HiddenSize))))
	for l := range cfg.NumLayers {
		for _, scope := range []string{"attention/self/value", "attention/output/dense"} {
			v := m.Ctx.GetVariableByScopeAndName(fmt.Sprintf("/encoder/layer/%d/%s", l, scope), "weight")
			w := tensors.MustCopyFlatData[float32](v.MustValue())
			for i := range w {
				w[i] *= gain
			}
			v.MustSetValue(tensors.FromFlatDataAndDimensions(w, v.Shape().Dimensions...))
		}
	}
	return m, nil
}

// SentimentTask: label 1 iff the text contains "good" (else "bad"), the
// cue at a random position among filler words; 60/40 class balance so the
// majority baseline is 0.6.
func SentimentTask(n int, seed uint64) *data.Task {
	rng := rand.New(rand.NewPCG(seed, 7))
	gen := func(k int) []data.Example {
		out := make([]data.Example, k)
		for i := range out {
			label := 0
			if rng.Float64() < 0.4 {
				label = 1
			}
			words := make([]string, 3+rng.IntN(6))
			for j := range words {
				words[j] = fillerWords[rng.IntN(len(fillerWords))]
			}
			cue := map[int]string{0: "bad", 1: "good"}[label]
			words[rng.IntN(len(words))] = cue
			out[i] = data.Example{Text: strings.Join(words, " "), Label: label}
		}
		return out
	}
	return &data.Task{Name: "synthetic-sentiment", Labels: []string{"negative", "positive"}, Train: gen(n), Dev: gen(60), Test: gen(100)}
}

// Pfeiffer4 has 8 bottleneck units on the tiny model (reduction 16 would leave 2).
func Pfeiffer4() *peft.Bottleneck {
	b := peft.Pfeiffer()
	b.ReductionFactor = 4
	return b
}

// Regression turns a sentiment task into predicting ±1.
func Regression(task *data.Task) *data.Task {
	task.Regression, task.Labels = true, nil
	for _, split := range [][]data.Example{task.Train, task.Dev, task.Test} {
		for i := range split {
			split[i].Value = float64(2*split[i].Label - 1)
		}
	}
	return task
}
