package tokenizer

import (
	"fmt"
	"path/filepath"
	"strings"

	sg "github.com/sugarme/tokenizer"
	"github.com/sugarme/tokenizer/model/bpe"
	"github.com/sugarme/tokenizer/pretokenizer"
)

// RoBERTa-style byte-level BPE tokenizers run entirely through sugarme's
// pipeline; only the [CLS]/[SEP] wrapping, truncation and padding are ours.
// Their special tokens are <s> (ClsID), </s> (SepID), <pad>, <unk>, <mask>.

var bpeSpecials = [5][2]string{{Pad, "<pad>"}, {Unk, "<unk>"}, {Cls, "<s>"}, {Sep, "</s>"}, {Mask, "<mask>"}}

// LoadBPE reads a RoBERTa/GPT-2 style vocab.json and merges.txt (byte-level
// BPE, no prefix space, as roberta-base).
func LoadBPE(vocabJSON, mergesTxt string) (*Tokenizer, error) {
	m, err := bpe.NewBpeFromFiles(vocabJSON, mergesTxt)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: reading %s and %s: %w", vocabJSON, mergesTxt, err)
	}
	tk := sg.NewTokenizer(m)
	pre := pretokenizer.NewByteLevel()
	pre.SetAddPrefixSpace(false)
	tk.WithPreTokenizer(pre)
	tk.WithDecoder(pre) // ByteLevel maps Ġ back to a space
	return wrapBPE(tk, m.GetVocab(), vocabJSON)
}

func wrapBPE(tk *sg.Tokenizer, vocabMap map[string]int, path string) (*Tokenizer, error) {
	vocab := make([]string, len(vocabMap))
	for tok, id := range vocabMap {
		if id < 0 || id >= len(vocab) {
			return nil, fmt.Errorf("tokenizer: %s: token %q has id %d outside 0..%d (ids must be dense)", path, tok, id, len(vocab)-1)
		}
		vocab[id] = tok
	}
	t := &Tokenizer{tk: tk, vocab: vocab, bpe: true, ids: make(map[string]int32, len(vocab))}
	for i, tok := range vocab {
		t.ids[tok] = int32(i)
	}
	var added []sg.AddedToken
	for _, s := range []struct {
		names [2]string
		dst   *int32
	}{{bpeSpecials[0], &t.PadID}, {bpeSpecials[1], &t.UnkID}, {bpeSpecials[2], &t.ClsID}, {bpeSpecials[3], &t.SepID}, {bpeSpecials[4], &t.MaskID}} {
		id, ok := t.ids[s.names[1]]
		if !ok {
			id, ok = t.ids[s.names[0]]
		}
		if !ok {
			return nil, fmt.Errorf("tokenizer: %s lacks %s (or %s); RoBERTa-style tokenizers need <s> </s> <pad> <unk> <mask>", path, s.names[1], s.names[0])
		}
		*s.dst = id
		added = append(added, sg.NewAddedToken(vocab[id], true))
	}
	tk.AddSpecialTokens(added)
	return t, nil
}

func (t *Tokenizer) bpeIDs(text string) []int32 {
	enc, err := t.tk.EncodeSingle(text, false)
	if err != nil {
		return []int32{t.UnkID}
	}
	out := make([]int32, len(enc.Ids))
	for i, id := range enc.Ids {
		out[i] = int32(id)
	}
	return out
}

func (t *Tokenizer) bpeDecode(ids []int32) string {
	var keep []int
	for _, id := range ids {
		if id == t.PadID || id == t.ClsID || id == t.SepID || id == t.MaskID || id < 0 || int(id) >= len(t.vocab) {
			continue
		}
		keep = append(keep, int(id))
	}
	return strings.TrimSpace(t.tk.Decode(keep, true))
}

func isBPEDir(dir string) bool {
	return fileExists(filepath.Join(dir, "vocab.json")) && fileExists(filepath.Join(dir, "merges.txt"))
}
