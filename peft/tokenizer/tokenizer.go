// Package tokenizer gives GoPEFT's encoders BERT-style WordPiece
// tokenization on top of github.com/sugarme/tokenizer: loading Hugging Face
// tokenizer.json or BERT vocab.txt files, training a WordPiece vocabulary on
// our own corpus, and saving it in the layout transformers' BertTokenizerFast
// reads (tokenizer.json, vocab.txt, tokenizer_config.json,
// special_tokens_map.json).
//
//	tok, err := tokenizer.Load("models/gopeft-small/tokenizer.json")
//	ids, types, mask := tok.Encode("Call me Ishmael.", 16) // [CLS] ... [SEP], padded to 16
package tokenizer

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	sg "github.com/sugarme/tokenizer"
	"github.com/sugarme/tokenizer/decoder"
	"github.com/sugarme/tokenizer/model"
	"github.com/sugarme/tokenizer/model/bpe"
	"github.com/sugarme/tokenizer/model/wordpiece"
	"github.com/sugarme/tokenizer/pretokenizer"
	"github.com/sugarme/tokenizer/pretrained"
)

// BERT's special tokens.
const (
	Pad  = "[PAD]"
	Unk  = "[UNK]"
	Cls  = "[CLS]"
	Sep  = "[SEP]"
	Mask = "[MASK]"
)

// Specials lists the special tokens in the order TrainWordPiece gives them
// ids 0..4. (Google's BERT vocab has [PAD]=0, [UNK]=100, [CLS]=101,
// [SEP]=102, [MASK]=103; loaded vocabularies keep their own ids.)
var Specials = []string{Pad, Unk, Cls, Sep, Mask}

// Tokenizer is a WordPiece tokenizer with BERT's normalisation and
// pre-tokenisation.
type Tokenizer struct {
	tk        *sg.Tokenizer // sugarme's pipeline: the reference in tests
	vocab     []string      // id -> token
	ids       map[string]int32
	norm      bertNormalizer
	lowercase bool
	bpe       bool // byte-level BPE through sugarme (RoBERTa), else WordPiece

	PadID, UnkID, ClsID, SepID, MaskID int32
}

// Load reads a tokenizer from a Hugging Face tokenizer.json (WordPiece
// model), a BERT vocab.txt (read as uncased: lowercase and strip accents),
// or a model directory holding either (tokenizer.json preferred).
func Load(path string) (*Tokenizer, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	if st.IsDir() {
		for _, name := range []string{"tokenizer.json", "vocab.txt"} {
			if fileExists(filepath.Join(path, name)) {
				return Load(filepath.Join(path, name))
			}
		}
		if isBPEDir(path) {
			return LoadBPE(filepath.Join(path, "vocab.json"), filepath.Join(path, "merges.txt"))
		}
		return nil, fmt.Errorf("tokenizer: %s has no tokenizer.json, vocab.txt, or vocab.json with merges.txt", path)
	}
	if filepath.Base(path) == "vocab.json" {
		merges := filepath.Join(filepath.Dir(path), "merges.txt")
		if !fileExists(merges) {
			return nil, fmt.Errorf("tokenizer: %s needs merges.txt beside it (byte-level BPE)", path)
		}
		return LoadBPE(path, merges)
	}
	if strings.HasSuffix(path, ".json") {
		return loadJSON(path)
	}
	return LoadVocab(path, true)
}

func loadJSON(path string) (tok *Tokenizer, err error) {
	// sugarme's reader type-asserts the JSON without checking and panics
	// on a malformed file (found by FuzzLoadJSON): make that an error.
	defer func() {
		if p := recover(); p != nil {
			tok, err = nil, fmt.Errorf("tokenizer: %s is not a tokenizer.json GoPEFT can read (%v): save the tokenizer again (tokenizer.save_pretrained) or use its vocab.txt", path, p)
		}
	}()
	tk, err := pretrained.FromFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: reading %s: %w", path, err)
	}
	wp, ok := tk.GetModel().(*wordpiece.WordPiece)
	if !ok {
		if v, ok2 := tk.GetModel().(wordpiece.WordPiece); ok2 {
			wp, ok = &v, true
		}
	}
	if !ok {
		switch m := tk.GetModel().(type) {
		case *bpe.BPE:
			return wrapBPE(tk, m.GetVocab(), path)
		case bpe.BPE:
			return wrapBPE(tk, m.GetVocab(), path)
		}
		return nil, fmt.Errorf("tokenizer: %s has a %T model; GoPEFT supports WordPiece (BERT) and BPE (RoBERTa) tokenizers", path, tk.GetModel())
	}
	vocab := make([]string, wp.GetVocabSize())
	for tok, id := range wp.GetVocab() {
		if id < 0 || id >= len(vocab) {
			return nil, fmt.Errorf("tokenizer: %s: token %q has id %d outside 0..%d (ids must be dense)", path, tok, id, len(vocab)-1)
		}
		vocab[id] = tok
	}
	bn, ok := jsonBertNormalizer(path)
	if !ok {
		return nil, fmt.Errorf("tokenizer: %s has no BertNormalizer; GoPEFT supports BERT-style WordPiece tokenizers", path)
	}
	tk.WithNormalizer(bn)
	return wrap(tk, vocab, bn)
}

// LoadVocab reads a BERT vocab.txt (one token per line, id = line number).
// lowercase selects uncased BERT (lowercase + strip accents) or cased.
func LoadVocab(path string, lowercase bool) (*Tokenizer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	defer f.Close()
	var vocab []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		vocab = append(vocab, strings.TrimRight(sc.Text(), "\r"))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("tokenizer: reading %s: %w", path, err)
	}
	return FromVocab(vocab, lowercase)
}

// FromVocab builds a BERT WordPiece tokenizer from tokens in id order.
func FromVocab(vocab []string, lowercase bool) (*Tokenizer, error) {
	m := make(map[string]int, len(vocab))
	for i, t := range vocab {
		if _, dup := m[t]; dup {
			return nil, fmt.Errorf("tokenizer: token %q appears twice in the vocabulary (ids %d and %d)", t, m[t], i)
		}
		m[t] = i
	}
	for _, s := range Specials {
		if _, ok := m[s]; !ok {
			return nil, fmt.Errorf("tokenizer: the vocabulary lacks %s; BERT tokenizers need %s", s, strings.Join(Specials, " "))
		}
	}
	mv := model.Vocab(m)
	wp := wordpiece.NewWordPieceBuilder().Vocab(&mv).UnkToken(Unk).ContinuingSubwordPrefix("##").MaxInputCharsPerWord(100).Build()
	tk := sg.NewTokenizer(wp)
	tk.WithNormalizer(newBertNormalizer(lowercase))
	bn := newBertNormalizer(lowercase)
	tk.WithPreTokenizer(pretokenizer.NewBertPreTokenizer())
	tk.WithDecoder(decoder.DefaultWordpieceDecoder())
	var added []sg.AddedToken
	for _, s := range Specials {
		added = append(added, sg.NewAddedToken(s, true))
	}
	tk.AddSpecialTokens(added)
	return wrap(tk, append([]string(nil), vocab...), bn)
}

func wrap(tk *sg.Tokenizer, vocab []string, bn bertNormalizer) (*Tokenizer, error) {
	t := &Tokenizer{tk: tk, vocab: vocab, norm: bn, lowercase: bn.lower, ids: make(map[string]int32, len(vocab))}
	for i, tok := range vocab {
		t.ids[tok] = int32(i)
	}
	for _, s := range []struct {
		tok string
		dst *int32
	}{{Pad, &t.PadID}, {Unk, &t.UnkID}, {Cls, &t.ClsID}, {Sep, &t.SepID}, {Mask, &t.MaskID}} {
		id, ok := t.ids[s.tok]
		if !ok {
			return nil, fmt.Errorf("tokenizer: the vocabulary lacks %s; BERT tokenizers need %s", s.tok, strings.Join(Specials, " "))
		}
		*s.dst = id
	}
	return t, nil
}

// VocabSize is the number of tokens, specials included.
func (t *Tokenizer) VocabSize() int { return len(t.vocab) }

// Vocab returns the tokens in id order.
func (t *Tokenizer) Vocab() []string { return append([]string(nil), t.vocab...) }

// Lowercase reports whether the tokenizer is uncased.
func (t *Tokenizer) Lowercase() bool { return t.lowercase }

// TokenID returns a token's id.
func (t *Tokenizer) TokenID(tok string) (int32, bool) {
	id, ok := t.ids[tok]
	return id, ok
}

// Tokenize returns the WordPiece tokens of text, without [CLS]/[SEP].
func (t *Tokenizer) Tokenize(text string) []string {
	ids := t.encodeIDs(text)
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = t.vocab[id]
	}
	return out
}

// sugarmeIDs tokenizes with sugarme's pipeline (for tests).
func (t *Tokenizer) sugarmeIDs(text string) ([]int32, error) {
	enc, err := t.tk.EncodeSingle(text, false)
	if err != nil {
		return nil, err
	}
	out := make([]int32, len(enc.Ids))
	for i, id := range enc.Ids {
		out[i] = int32(id)
	}
	return out, nil
}

// Encode returns [CLS] tokens [SEP] as ids, with token type ids (all 0)
// and the attention mask (1 for real tokens). With maxLen > 0 the tokens are
// truncated to maxLen-2 and the result padded with [PAD] to exactly maxLen;
// with maxLen <= 0 nothing is truncated or padded. Text that cannot be
// tokenized becomes [UNK].
func (t *Tokenizer) Encode(text string, maxLen int) (ids, typeIDs, mask []int32) {
	body := t.encodeIDs(text)
	n := len(body) + 2
	if maxLen > 0 {
		if maxLen < 2 {
			maxLen = 2
		}
		if n > maxLen {
			body = body[:maxLen-2]
			n = maxLen
		}
	} else {
		maxLen = n
	}
	ids = make([]int32, maxLen)
	typeIDs = make([]int32, maxLen)
	mask = make([]int32, maxLen)
	ids[0] = t.ClsID
	copy(ids[1:], body)
	ids[n-1] = t.SepID
	for i := 0; i < maxLen; i++ {
		if i < n {
			mask[i] = 1
		} else {
			ids[i] = t.PadID
		}
	}
	return ids, typeIDs, mask
}

// Batch is a batch of encodings, each row maxLen long.
type Batch struct {
	IDs, TypeIDs, Mask [][]int32
}

// EncodeBatch encodes texts with Encode. With maxLen <= 0 rows are padded to
// the longest row.
func (t *Tokenizer) EncodeBatch(texts []string, maxLen int) Batch {
	var b Batch
	if maxLen <= 0 {
		for _, s := range texts {
			ids, _, _ := t.Encode(s, 0)
			maxLen = max(maxLen, len(ids))
		}
	}
	for _, s := range texts {
		ids, types, mask := t.Encode(s, maxLen)
		b.IDs = append(b.IDs, ids)
		b.TypeIDs = append(b.TypeIDs, types)
		b.Mask = append(b.Mask, mask)
	}
	return b
}

// Decode turns ids back into text: special tokens dropped, "##" pieces
// joined to their word, spaces before punctuation removed (as HF's WordPiece
// decoder with cleanup does).
func (t *Tokenizer) Decode(ids []int32) string {
	if t.bpe {
		return t.bpeDecode(ids)
	}
	var sb strings.Builder
	for _, id := range ids {
		if id < 0 || int(id) >= len(t.vocab) {
			continue
		}
		tok := t.vocab[id]
		if id == t.PadID || id == t.ClsID || id == t.SepID || id == t.MaskID {
			continue
		}
		if rest, ok := strings.CutPrefix(tok, "##"); ok && sb.Len() > 0 {
			sb.WriteString(rest)
			continue
		}
		if sb.Len() > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(tok)
	}
	return cleanup(sb.String())
}

var cleanupReplacer = strings.NewReplacer(" .", ".", " ?", "?", " !", "!", " ,", ",", " ' ", "'", " n't", "n't", " 'm", "'m", " 's", "'s", " 've", "'ve", " 're", "'re")

func cleanup(s string) string { return cleanupReplacer.Replace(s) }

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// IsBPE reports whether this is a byte-level BPE (RoBERTa) tokenizer rather
// than WordPiece.
func (t *Tokenizer) IsBPE() bool { return t.bpe }
