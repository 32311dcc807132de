package tokenizer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gopeft/gopeft/internal/atomicfile"
)

// Save writes the tokenizer into directory dir (created if needed) as
// Hugging Face's BertTokenizerFast expects it: tokenizer.json, vocab.txt,
// tokenizer_config.json and special_tokens_map.json. Each file is written
// atomically.
func (t *Tokenizer) Save(dir string) error {
	if t.bpe {
		return fmt.Errorf("tokenizer: saving BPE (RoBERTa) tokenizers is not supported; copy the original tokenizer files instead")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("tokenizer: %w", err)
	}
	tj, err := t.TokenizerJSON()
	if err != nil {
		return err
	}
	var vocab bytes.Buffer
	for _, tok := range t.vocab {
		vocab.WriteString(tok)
		vocab.WriteByte('\n')
	}
	cfg, _ := json.MarshalIndent(map[string]any{
		"tokenizer_class":        "BertTokenizerFast",
		"do_lower_case":          t.lowercase,
		"strip_accents":          nil,
		"tokenize_chinese_chars": true,
		"model_max_length":       512,
		"unk_token":              Unk,
		"sep_token":              Sep,
		"pad_token":              Pad,
		"cls_token":              Cls,
		"mask_token":             Mask,
	}, "", "  ")
	stm, _ := json.MarshalIndent(map[string]string{
		"unk_token": Unk, "sep_token": Sep, "pad_token": Pad, "cls_token": Cls, "mask_token": Mask,
	}, "", "  ")
	for _, f := range []struct {
		name string
		data []byte
	}{
		{"vocab.txt", vocab.Bytes()},
		{"tokenizer_config.json", append(cfg, '\n')},
		{"special_tokens_map.json", append(stm, '\n')},
		{"tokenizer.json", tj},
	} {
		if err := writeAtomic(filepath.Join(dir, f.name), f.data); err != nil {
			return err
		}
	}
	return nil
}

// TokenizerJSON returns the Hugging Face tokenizers serialisation of a BERT
// WordPiece tokenizer (the structure bert-base-uncased's tokenizer.json has).
func (t *Tokenizer) TokenizerJSON() ([]byte, error) {
	if t.bpe {
		return nil, fmt.Errorf("tokenizer: writing tokenizer.json for BPE (RoBERTa) tokenizers is not supported")
	}
	type addedToken struct {
		ID         int32  `json:"id"`
		Content    string `json:"content"`
		SingleWord bool   `json:"single_word"`
		Lstrip     bool   `json:"lstrip"`
		Rstrip     bool   `json:"rstrip"`
		Normalized bool   `json:"normalized"`
		Special    bool   `json:"special"`
	}
	var added []addedToken
	for _, s := range Specials {
		id, _ := t.TokenID(s)
		added = append(added, addedToken{ID: id, Content: s, Special: true})
	}
	// Added tokens are listed by id, as HF writes them.
	for i := 1; i < len(added); i++ {
		for j := i; j > 0 && added[j].ID < added[j-1].ID; j-- {
			added[j], added[j-1] = added[j-1], added[j]
		}
	}
	special := func(tok string, typeID int) map[string]any {
		return map[string]any{"SpecialToken": map[string]any{"id": tok, "type_id": typeID}}
	}
	seq := func(id string, typeID int) map[string]any {
		return map[string]any{"Sequence": map[string]any{"id": id, "type_id": typeID}}
	}
	specialEntry := func(tok string, id int32) map[string]any {
		return map[string]any{"id": tok, "ids": []int32{id}, "tokens": []string{tok}}
	}
	doc := []struct {
		key string
		val any
	}{
		{"version", "1.0"},
		{"truncation", nil},
		{"padding", nil},
		{"added_tokens", added},
		{"normalizer", map[string]any{
			"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
			"strip_accents": nil, "lowercase": t.lowercase,
		}},
		{"pre_tokenizer", map[string]any{"type": "BertPreTokenizer"}},
		{"post_processor", map[string]any{
			"type":   "TemplateProcessing",
			"single": []any{special(Cls, 0), seq("A", 0), special(Sep, 0)},
			"pair":   []any{special(Cls, 0), seq("A", 0), special(Sep, 0), seq("B", 1), special(Sep, 1)},
			"special_tokens": map[string]any{
				Cls: specialEntry(Cls, t.ClsID),
				Sep: specialEntry(Sep, t.SepID),
			},
		}},
		{"decoder", map[string]any{"type": "WordPiece", "prefix": "##", "cleanup": true}},
	}
	var buf bytes.Buffer
	buf.WriteString("{\n")
	for _, kv := range doc {
		v, err := json.Marshal(kv.val)
		if err != nil {
			return nil, fmt.Errorf("tokenizer: encoding %s: %w", kv.key, err)
		}
		fmt.Fprintf(&buf, "  %q: %s,\n", kv.key, v)
	}
	// The vocab object in id order, one token a line, like HF writes it.
	buf.WriteString(`  "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100, "vocab": {`)
	for i, tok := range t.vocab {
		k, _ := json.Marshal(tok)
		if i > 0 {
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, "\n    %s: %d", k, i)
	}
	buf.WriteString("\n  }}\n}\n")
	if !json.Valid(buf.Bytes()) {
		return nil, fmt.Errorf("tokenizer: internal error: generated tokenizer.json is not valid JSON")
	}
	return buf.Bytes(), nil
}

func writeAtomic(name string, data []byte) error {
	if err := atomicfile.WriteFile(name, data, 0o644); err != nil {
		return fmt.Errorf("tokenizer: %w", err)
	}
	return nil
}
