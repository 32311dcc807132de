package tokenizer

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// A direct implementation of Hugging Face's BertNormalizer, BertPreTokenizer
// and WordPiece model. sugarme's pipeline keeps alignment data for every
// byte and took 32 s to split our 25k pretraining passages; this takes a
// fraction of a second. TestFastMatchesSugarme checks that both agree.

// splitSpecials cuts text around the special tokens, which HF matches in the
// raw text before normalisation (they are added tokens with normalized=false).
func splitSpecials(text string, emit func(piece string, special bool)) {
	for len(text) > 0 {
		best, at := "", -1
		if strings.IndexByte(text, '[') >= 0 {
			for _, s := range Specials {
				if i := strings.Index(text, s); i >= 0 && (at < 0 || i < at) {
					best, at = s, i
				}
			}
		}
		if at < 0 {
			emit(text, false)
			return
		}
		if at > 0 {
			emit(text[:at], false)
		}
		emit(best, true)
		text = text[at+len(best):]
	}
}

// normalize applies BertNormalizer: drop NUL, U+FFFD and control/format
// characters, turn whitespace into ' ', pad CJK ideographs with spaces,
// strip accents (NFD, drop Mn), lowercase.
func (b bertNormalizer) normalizeString(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	var sb strings.Builder
	sb.Grow(len(s))
	if ascii {
		for i := 0; i < len(s); i++ {
			c := s[i]
			switch {
			case c == '\t' || c == '\n' || c == '\r' || c == ' ':
				if b.clean {
					c = ' '
				}
			case c < 0x20 || c == 0x7f:
				if b.clean {
					continue
				}
			case b.lower && 'A' <= c && c <= 'Z':
				c += 'a' - 'A'
			}
			sb.WriteByte(c)
		}
		return sb.String()
	}
	for _, r := range s {
		if b.clean {
			if r == 0 || r == 0xfffd || isControl(r) {
				continue
			}
			if isWhitespace(r) {
				r = ' '
			}
		}
		if b.chinese && isChinese(r) {
			sb.WriteByte(' ')
			sb.WriteRune(r)
			sb.WriteByte(' ')
			continue
		}
		sb.WriteRune(r)
	}
	out := sb.String()
	if b.strip {
		out = norm.NFD.String(out)
		out = strings.Map(func(r rune) rune {
			if unicode.Is(unicode.Mn, r) {
				return -1
			}
			return r
		}, out)
	}
	if b.lower {
		out = strings.Map(unicode.ToLower, out)
	}
	return out
}

func isWhitespace(r rune) bool { return r == '\t' || r == '\n' || r == '\r' || unicode.IsSpace(r) }

// isControl is Rust's char::is_other (categories Cc, Cf, Cs, Co, Cn) minus
// \t \n \r, as HF uses it.
func isControl(r rune) bool {
	if r == '\t' || r == '\n' || r == '\r' {
		return false
	}
	if unicode.Is(unicode.C, r) {
		return true
	}
	// Unassigned code points (Cn) belong to no category.
	return !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z)
}

func isChinese(r rune) bool {
	return (r >= 0x4E00 && r <= 0x9FFF) || (r >= 0x3400 && r <= 0x4DBF) ||
		(r >= 0x20000 && r <= 0x2A6DF) || (r >= 0x2A700 && r <= 0x2B73F) ||
		(r >= 0x2B740 && r <= 0x2B81F) || (r >= 0x2B820 && r <= 0x2CEAF) ||
		(r >= 0xF900 && r <= 0xFAFF) || (r >= 0x2F800 && r <= 0x2FA1F)
}

func isBertPunct(r rune) bool {
	if r < utf8.RuneSelf {
		return r >= 33 && r <= 47 || r >= 58 && r <= 64 || r >= 91 && r <= 96 || r >= 123 && r <= 126
	}
	return unicode.IsPunct(r)
}

// preTokenize is BertPreTokenizer: split on whitespace, and make every
// punctuation character a word of its own.
func preTokenize(s string, emit func(word string)) {
	start := -1
	for i, r := range s {
		switch {
		case isWhitespace(r):
			if start >= 0 {
				emit(s[start:i])
				start = -1
			}
		case isBertPunct(r):
			if start >= 0 {
				emit(s[start:i])
				start = -1
			}
			emit(s[i : i+utf8.RuneLen(r)])
		default:
			if start < 0 {
				start = i
			}
		}
	}
	if start >= 0 {
		emit(s[start:])
	}
}

// wordPiece appends word's greedy longest-match-first pieces to out; a word
// with an unmatchable part, or over 100 characters, is one [UNK].
func (t *Tokenizer) wordPiece(word string, out []int32) []int32 {
	if utf8.RuneCountInString(word) > 100 {
		return append(out, t.UnkID)
	}
	n0 := len(out)
	var buf []byte
	for start := 0; start < len(word); {
		end := len(word)
		found := false
		for end > start {
			var id int32
			var ok bool
			if start == 0 {
				id, ok = t.ids[word[:end]]
			} else {
				buf = append(append(buf[:0], "##"...), word[start:end]...)
				id, ok = t.ids[string(buf)]
			}
			if ok {
				out = append(out, id)
				found = true
				break
			}
			_, size := utf8.DecodeLastRuneInString(word[start:end])
			end -= size
		}
		if !found {
			return append(out[:n0], t.UnkID)
		}
		start = end
	}
	return out
}

// encodeIDs tokenizes text to ids without [CLS]/[SEP].
func (t *Tokenizer) encodeIDs(text string) []int32 {
	if t.bpe {
		return t.bpeIDs(text)
	}
	var out []int32
	splitSpecials(text, func(piece string, special bool) {
		if special {
			id, _ := t.ids[piece]
			out = append(out, id)
			return
		}
		preTokenize(t.norm.normalizeString(piece), func(w string) {
			out = t.wordPiece(w, out)
		})
	})
	return out
}
