package tokenizer

import (
	"reflect"
	"testing"

	"github.com/gopeft/gopeft/peft/data"
)

var tricky = []string{
	"Hello, World! It's 3:45pm -- e-mail me@example.com (ASAP).",
	"Naïve café résumé ÅNGSTRÖM Œuvre straße",
	"tabs\tand\nnew\r\nlines",
	"control\u0000chars\u200bzero\u00adwidth\ufffdreplacement\u0007bell",
	"中文字符 and 日本語 mixed with English",
	"“Smart quotes” — em dash … ellipsis ‘single’",
	"[PAD][UNK] [NOT] [",
	"emoji 😀 and math ∑ ≤ ∞ and ½",
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa long",
	"",
}

// The direct implementation must agree with sugarme's pipeline (with our
// accent-stripping fix) on tricky strings and, when fetched, on real text.
func TestFastMatchesSugarme(t *testing.T) {
	texts := append([]string(nil), tricky...)
	if ok, _ := data.CacheStatus(); ok {
		passages, err := data.PretrainText("")
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(passages); i += 97 {
			texts = append(texts, passages[i])
		}
		spam, err := data.Load("spam", data.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(spam.Train); i += 47 {
			texts = append(texts, spam.Train[i].Text)
		}
	} else {
		t.Log("real datasets absent: checking the tricky strings only (run `gopeft data fetch` for more)")
	}
	tk, err := TrainWordPiece(texts, 2000)
	if err != nil {
		t.Fatal(err)
	}
	cased, err := TrainWordPiece(texts, 2000, TrainOptions{Cased: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []*Tokenizer{tk, cased} {
		bad := 0
		for _, s := range texts {
			ref, err := k.sugarmeIDs(s)
			if err != nil {
				t.Fatal(err)
			}
			got := k.encodeIDs(s)
			if len(ref) == 0 && len(got) == 0 {
				continue
			}
			if !reflect.DeepEqual(got, ref) {
				bad++
				if bad <= 3 {
					t.Errorf("lowercase=%v %.60q:\n fast    %v\n sugarme %v", k.lowercase, s, k.Tokenize(s), idsToTokens(k, ref))
				}
			}
		}
		t.Logf("lowercase=%v: %d texts, %d differ", k.lowercase, len(texts), bad)
	}
}

func idsToTokens(t *Tokenizer, ids []int32) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = t.vocab[id]
	}
	return out
}

// Where sugarme v0.3.0 departs from Hugging Face, ours must give HF's answer:
// Unicode spaces (NBSP, EM SPACE) separate words (BertNormalizer's clean_text
// maps every White_Space character to ' '), and every special token is
// matched in raw text (sugarme misses [CLS], [MASK] and [SEP] mid-text).
func TestSugarmeDepartures(t *testing.T) {
	vocab := append(append([]string(nil), Specials...), "lines", "nbsp", "em", "-", "space", "inside", "text", "[", "]", "not")
	tk, err := FromVocab(vocab, true)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]string{
		"lines\u00a0nbsp\u2003em-space":                    {"lines", "nbsp", "em", "-", "space"},
		"[CLS] inside [MASK] text [SEP][PAD][UNK] [NOT] [": {"[CLS]", "inside", "[MASK]", "text", "[SEP]", "[PAD]", "[UNK]", "[", "not", "]", "["},
	}
	for in, want := range cases {
		if got := tk.Tokenize(in); !reflect.DeepEqual(got, want) {
			t.Errorf("Tokenize(%q) = %q, want %q", in, got, want)
		}
	}
}
