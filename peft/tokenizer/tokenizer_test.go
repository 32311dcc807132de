package tokenizer

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// A hand-written BERT-style vocabulary (specials first, as in our own
// vocabularies) with known segmentations.
var handVocab = []string{
	"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", // 0-4
	"un", "##aff", "##able", "the", "quick", // 5-9
	"brown", "fox", ",", ".", "!", // 10-14
	"jump", "##s", "##ed", "over", "cafe", // 15-19
	"a", "##b", "##c", "'", "s", // 20-24
}

func handTokenizer(t *testing.T) *Tokenizer {
	t.Helper()
	path := filepath.Join(t.TempDir(), "vocab.txt")
	if err := os.WriteFile(path, []byte(strings.Join(handVocab, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tk, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func TestHandVocab(t *testing.T) {
	tk := handTokenizer(t)
	if tk.VocabSize() != len(handVocab) {
		t.Fatalf("VocabSize = %d, want %d", tk.VocabSize(), len(handVocab))
	}
	if got := []int32{tk.PadID, tk.UnkID, tk.ClsID, tk.SepID, tk.MaskID}; !reflect.DeepEqual(got, []int32{0, 1, 2, 3, 4}) {
		t.Fatalf("special ids = %v", got)
	}
	cases := []struct {
		text string
		toks []string
	}{
		{"unaffable", []string{"un", "##aff", "##able"}},
		{"The QUICK brown fox jumps, jumped!", []string{"the", "quick", "brown", "fox", "jump", "##s", ",", "jump", "##ed", "!"}},
		{"Café", []string{"cafe"}},                        // lowercase + strip accents
		{"fox's", []string{"fox", "'", "s"}},              // punctuation split
		{"abc abx", []string{"a", "##b", "##c", "[UNK]"}}, // a word with an unknown piece is one [UNK]
		{"  the\tfox\n", []string{"the", "fox"}},
	}
	for _, c := range cases {
		got := tk.Tokenize(c.text)
		if !reflect.DeepEqual(got, c.toks) {
			t.Errorf("Tokenize(%q) = %q, want %q", c.text, got, c.toks)
		}
	}
	ids, types, mask := tk.Encode("unaffable fox", 8)
	if want := []int32{2, 5, 6, 7, 11, 3, 0, 0}; !reflect.DeepEqual(ids, want) {
		t.Errorf("Encode ids = %v, want %v", ids, want)
	}
	if want := []int32{1, 1, 1, 1, 1, 1, 0, 0}; !reflect.DeepEqual(mask, want) {
		t.Errorf("mask = %v, want %v", mask, want)
	}
	if !reflect.DeepEqual(types, make([]int32, 8)) {
		t.Errorf("type ids = %v, want zeros", types)
	}
}

func TestTruncationPadding(t *testing.T) {
	tk := handTokenizer(t)
	ids, _, mask := tk.Encode("the quick brown fox jumps over the fox", 6)
	if want := []int32{2, 8, 9, 10, 11, 3}; !reflect.DeepEqual(ids, want) {
		t.Errorf("truncated = %v, want %v", ids, want)
	}
	if want := []int32{1, 1, 1, 1, 1, 1}; !reflect.DeepEqual(mask, want) {
		t.Errorf("mask = %v", mask)
	}
	ids, _, mask = tk.Encode("", 4)
	if want := []int32{2, 3, 0, 0}; !reflect.DeepEqual(ids, want) || !reflect.DeepEqual(mask, []int32{1, 1, 0, 0}) {
		t.Errorf("empty = %v %v", ids, mask)
	}
	ids, _, _ = tk.Encode("the fox", 0)
	if want := []int32{2, 8, 11, 3}; !reflect.DeepEqual(ids, want) {
		t.Errorf("unpadded = %v, want %v", ids, want)
	}
	b := tk.EncodeBatch([]string{"the", "the quick fox"}, 0)
	if len(b.IDs) != 2 || len(b.IDs[0]) != 5 || len(b.IDs[1]) != 5 || b.Mask[0][3] != 0 || b.Mask[1][4] != 1 {
		t.Errorf("EncodeBatch = %+v", b)
	}
}

func TestDecode(t *testing.T) {
	tk := handTokenizer(t)
	ids, _, _ := tk.Encode("The unaffable fox jumped over the brown fox.", 32)
	if got, want := tk.Decode(ids), "the unaffable fox jumped over the brown fox."; got != want {
		t.Errorf("Decode = %q, want %q", got, want)
	}
}

func TestMissingSpecial(t *testing.T) {
	if _, err := FromVocab([]string{"[PAD]", "[UNK]", "a"}, true); err == nil || !strings.Contains(err.Error(), "[CLS]") {
		t.Errorf("want an error naming [CLS], got %v", err)
	}
}

var corpus = []string{
	"The quick brown fox jumps over the lazy dog.",
	"The lazy dog sleeps; the quick fox runs away quickly.",
	"Foxes and dogs are animals. Quick animals run, lazy animals sleep.",
	"Running, jumping and sleeping: the daily life of a fox!",
	"Call me Ishmael. Some years ago, never mind how long precisely...",
	"Whales and whaling: the whale swims, the whaler hunts the whales.",
}

func TestTrainWordPiece(t *testing.T) {
	for _, size := range []int{60, 120, 10000} {
		tk, err := TrainWordPiece(corpus, size)
		if err != nil {
			t.Fatal(err)
		}
		if tk.VocabSize() > size {
			t.Errorf("size %d: got %d tokens", size, tk.VocabSize())
		}
		v := tk.Vocab()
		if !reflect.DeepEqual(v[:5], Specials) {
			t.Errorf("first tokens = %v, want %v", v[:5], Specials)
		}
		seen := map[string]bool{}
		for _, tok := range v {
			if seen[tok] {
				t.Errorf("duplicate token %q", tok)
			}
			seen[tok] = true
		}
		// Every training word is encodable: no [UNK].
		for _, s := range corpus {
			ids, _, _ := tk.Encode(s, 0)
			for _, id := range ids {
				if id == tk.UnkID {
					t.Errorf("size %d: [UNK] in %q: %v", size, s, ids)
				}
			}
			if got := tk.Decode(ids); !strings.EqualFold(strings.ReplaceAll(got, " ", ""), strings.ReplaceAll(strings.ToLower(s), " ", "")) {
				t.Errorf("size %d: round trip %q -> %q", size, s, got)
			}
		}
	}
	// Bigger vocabularies segment frequent words into fewer pieces.
	small, _ := TrainWordPiece(corpus, 60)
	big, _ := TrainWordPiece(corpus, 300)
	ns := small.Tokenize("the whales")
	nb := big.Tokenize("the whales")
	if len(nb) >= len(ns) {
		t.Errorf("300-token vocab gives %q, 60-token vocab %q; want fewer pieces", nb, ns)
	}
	// Deterministic.
	again, _ := TrainWordPiece(corpus, 120)
	first, _ := TrainWordPiece(corpus, 120)
	if !reflect.DeepEqual(again.Vocab(), first.Vocab()) {
		t.Error("training is not deterministic")
	}
	if _, err := TrainWordPiece(corpus, 10); err == nil {
		t.Error("want an error when the alphabet does not fit")
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	tk, err := TrainWordPiece(corpus, 150)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := tk.Save(dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	fromJSON, err := Load(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	fromVocab, err := Load(filepath.Join(dir, "vocab.txt"))
	if err != nil {
		t.Fatal(err)
	}
	fromDir, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	texts := append([]string{"Unseen words: zebra, Ångström, naïve café [MASK] fox."}, corpus...)
	for _, other := range []*Tokenizer{fromJSON, fromVocab, fromDir} {
		if !reflect.DeepEqual(other.Vocab(), tk.Vocab()) {
			t.Fatal("vocabulary changed in the round trip")
		}
		for _, s := range texts {
			a, _, _ := tk.Encode(s, 64)
			b, _, _ := other.Encode(s, 64)
			if !reflect.DeepEqual(a, b) {
				t.Errorf("%q: %v != %v", s, a, b)
			}
		}
	}
}

func TestSpecialTokensInText(t *testing.T) {
	tk := handTokenizer(t)
	got := tk.Tokenize("the [MASK] fox")
	if want := []string{"the", "[MASK]", "fox"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Tokenize = %q, want %q", got, want)
	}
}
