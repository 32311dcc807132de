package tokenizer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadTokenizerFiles: broken tokenizer files are refused (never a panic)
// with an error naming the file, the problem and the fix.
func TestBadTokenizerFiles(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name, file, content string
		want                []string
	}{
		{"empty object", "tokenizer.json", `{}`, []string{"is not a tokenizer.json GoPEFT can read", "save the tokenizer again"}},
		{"not json", "tokenizer.json", `{"model": `, []string{"tokenizer.json"}},
		{"unigram model", "tokenizer.json", `{"model":{"type":"Unigram","vocab":[["a",0.0]]}}`, []string{"tokenizer.json"}},
		{"wordpiece without normalizer", "tokenizer.json", `{"model":{"type":"WordPiece","unk_token":"[UNK]","vocab":{"[UNK]":0,"a":1}}}`, []string{"no BertNormalizer", "BERT-style WordPiece"}},
		{"no tokenizer in dir", "README.md", "x", []string{"has no tokenizer.json, vocab.txt"}},
	} {
		d := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_"))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, c.file), []byte(c.content), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(d)
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		for _, w := range append([]string{d}, c.want...) {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", c.name, err, w)
			}
		}
	}
}
