package tokenizer

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadJSON feeds tokenizer.json bytes to Load: it must never panic,
// and a tokenizer it accepts must encode and decode any text with ids
// inside its vocabulary.
func FuzzLoadJSON(f *testing.F) {
	if b, err := os.ReadFile("testdata/hf/tokenizer.json"); err == nil {
		f.Add(b, "Hello, World! héllo")
	}
	if tk, err := FromVocab(append(append([]string{}, Specials...), "a", "##b", "call", "me"), true); err == nil {
		if b, err := tk.TokenizerJSON(); err == nil {
			f.Add(b, "call me ab")
		}
	}
	f.Add([]byte(`{"model":{"type":"BPE","vocab":{},"merges":[]}}`), "x")
	f.Add([]byte(`{"model":{"type":"WordPiece","vocab":{"a":5}},"normalizer":{"type":"BertNormalizer"}}`), "a")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte, text string) {
		// One file per worker process is enough: Load reads it whole.
		path := filepath.Join(dir, "tokenizer.json")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		tk, err := Load(path)
		if err != nil {
			return
		}
		ids, _, mask := tk.Encode(text, 16)
		if len(ids) != 16 || len(mask) != 16 {
			t.Fatalf("Encode gave %d ids, %d mask entries for max length 16", len(ids), len(mask))
		}
		for _, id := range ids {
			if id < 0 || int(id) >= tk.VocabSize() {
				t.Fatalf("id %d outside the vocabulary of %d", id, tk.VocabSize())
			}
		}
		_ = tk.Decode(ids)
	})
}
