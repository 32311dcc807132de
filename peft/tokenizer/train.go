package tokenizer

import (
	"fmt"
	"sort"
	"strings"
)

// TrainOptions tune TrainWordPiece.
type TrainOptions struct {
	// MinPairFrequency: pairs seen fewer times are never merged (default 2),
	// so the score's preference for rare pairs cannot spend the vocabulary
	// on words seen once.
	MinPairFrequency int
	// Cased keeps case and accents (default: uncased, like bert-base-uncased).
	Cased bool
	// Likelihood picks the pair with the highest WordPiece likelihood score
	// count(ab) / (count(a) * count(b)) instead of the most frequent pair.
	// The default (frequency) is what Hugging Face's WordPieceTrainer does;
	// the score prefers rare pairs, and on Moby Dick + SOTU with 8,000 tokens
	// it left "the" as "th ##e".
	Likelihood bool
}

// TrainWordPiece learns a WordPiece vocabulary of at most vocabSize tokens
// from texts. The texts are normalised and split exactly as Encode does
// (BERT normaliser and pre-tokenizer), so every training word is
// encodable. Ids: [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4, then the
// alphabet (word-initial characters, then "##" characters, each sorted),
// then merged pieces in the order they were learned.
//
// Merging repeatedly joins the most frequent adjacent pair of pieces over
// the corpus words (or, with Likelihood, the pair with the best WordPiece
// score), ties broken by count and then by the strings, so training is
// deterministic.
func TrainWordPiece(texts []string, vocabSize int, opts ...TrainOptions) (*Tokenizer, error) {
	var o TrainOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.MinPairFrequency <= 0 {
		o.MinPairFrequency = 2
	}
	lower := !o.Cased
	counts := wordCounts(texts, lower)
	if len(counts) == 0 {
		return nil, fmt.Errorf("tokenizer: no words in the %d training texts", len(texts))
	}
	vocab := trainVocab(counts, vocabSize, o.MinPairFrequency, o.Likelihood)
	if len(vocab) > vocabSize {
		return nil, fmt.Errorf("tokenizer: the corpus has %d distinct characters, more than vocabSize %d allows; raise vocabSize", len(vocab)-len(Specials), vocabSize)
	}
	return FromVocab(vocab, lower)
}

// wordCounts splits texts into words exactly as Encode does.
func wordCounts(texts []string, lower bool) map[string]int {
	bn := newBertNormalizer(lower)
	counts := map[string]int{}
	for _, text := range texts {
		splitSpecials(text, func(piece string, special bool) {
			if special {
				return
			}
			preTokenize(bn.normalizeString(piece), func(w string) { counts[w]++ })
		})
	}
	return counts
}

type pair [2]int32

type word struct {
	syms  []int32
	count int
}

func trainVocab(counts map[string]int, vocabSize, minPair int, likelihood bool) []string {
	vocab := append([]string(nil), Specials...)
	ids := map[string]int32{}
	for i, s := range vocab {
		ids[s] = int32(i)
	}
	// Alphabet: word-initial characters, then continuation characters.
	initial, cont := map[string]bool{}, map[string]bool{}
	keys := make([]string, 0, len(counts))
	for w := range counts {
		keys = append(keys, w)
		for i, r := range []rune(w) {
			if i == 0 {
				initial[string(r)] = true
			} else {
				cont["##"+string(r)] = true
			}
		}
	}
	sort.Strings(keys)
	for _, set := range []map[string]bool{initial, cont} {
		var chars []string
		for c := range set {
			if _, ok := ids[c]; !ok {
				chars = append(chars, c)
			}
		}
		sort.Strings(chars)
		for _, c := range chars {
			ids[c] = int32(len(vocab))
			vocab = append(vocab, c)
		}
	}
	if len(vocab) >= vocabSize {
		return vocab
	}

	words := make([]word, len(keys))
	symFreq := make([]int, len(vocab), vocabSize)
	pc := newPairCounts()
	pairWords := map[pair][]int{}
	for wi, w := range keys {
		c := counts[w]
		var syms []int32
		for i, r := range []rune(w) {
			s := string(r)
			if i > 0 {
				s = "##" + s
			}
			syms = append(syms, ids[s])
			symFreq[ids[s]] += c
		}
		words[wi] = word{syms, c}
		for i := 0; i+1 < len(syms); i++ {
			p := pair{syms[i], syms[i+1]}
			pc.add(p, c)
			pairWords[p] = append(pairWords[p], wi)
		}
	}

	for len(vocab) < vocabSize {
		best, bestScore, bestCount := pair{-1, -1}, -1.0, 0
		for _, ps := range pc.list {
			p, c := ps.p, ps.count
			if c < minPair {
				continue
			}
			score := float64(c)
			if likelihood {
				score /= float64(symFreq[p[0]]) * float64(symFreq[p[1]])
			}
			if score > bestScore || score == bestScore && (c > bestCount || c == bestCount && lessPair(vocab, p, best)) {
				best, bestScore, bestCount = p, score, c
			}
		}
		if bestScore < 0 {
			break // nothing left worth merging
		}
		tok := vocab[best[0]] + strings.TrimPrefix(vocab[best[1]], "##")
		id, exists := ids[tok]
		if !exists {
			id = int32(len(vocab))
			ids[tok] = id
			vocab = append(vocab, tok)
			symFreq = append(symFreq, 0)
		}
		seen := map[int]bool{}
		for _, wi := range pairWords[best] {
			if seen[wi] {
				continue
			}
			seen[wi] = true
			w := &words[wi]
			merged := make([]int32, 0, len(w.syms))
			changed := false
			for i := 0; i < len(w.syms); i++ {
				if i+1 < len(w.syms) && w.syms[i] == best[0] && w.syms[i+1] == best[1] {
					merged = append(merged, id)
					symFreq[best[0]] -= w.count
					symFreq[best[1]] -= w.count
					symFreq[id] += w.count
					i++
					changed = true
					continue
				}
				merged = append(merged, w.syms[i])
			}
			if !changed {
				continue // stale index entry
			}
			for i := 0; i+1 < len(w.syms); i++ {
				pc.add(pair{w.syms[i], w.syms[i+1]}, -w.count)
			}
			w.syms = merged
			for i := 0; i+1 < len(merged); i++ {
				p := pair{merged[i], merged[i+1]}
				pc.add(p, w.count)
				if p[0] == id || p[1] == id {
					pairWords[p] = append(pairWords[p], wi)
				}
			}
		}
		pc.add(best, -pc.get(best))
		delete(pairWords, best)
	}
	return vocab
}

func lessPair(vocab []string, a, b pair) bool {
	if b[0] < 0 {
		return true
	}
	if vocab[a[0]] != vocab[b[0]] {
		return vocab[a[0]] < vocab[b[0]]
	}
	return vocab[a[1]] < vocab[b[1]]
}

// pairCounts keeps pair counts in a slice: the per-merge scan for the best
// pair is over a dense slice rather than a map.
type pairCounts struct {
	index map[pair]int
	list  []pairStat
}

type pairStat struct {
	p     pair
	count int
}

func newPairCounts() *pairCounts { return &pairCounts{index: map[pair]int{}} }

func (pc *pairCounts) get(p pair) int {
	if i, ok := pc.index[p]; ok {
		return pc.list[i].count
	}
	return 0
}

// add changes p's count by d, dropping pairs whose count reaches zero.
func (pc *pairCounts) add(p pair, d int) {
	i, ok := pc.index[p]
	if !ok {
		if d <= 0 {
			return
		}
		pc.index[p] = len(pc.list)
		pc.list = append(pc.list, pairStat{p, d})
		return
	}
	pc.list[i].count += d
	if pc.list[i].count <= 0 {
		last := len(pc.list) - 1
		pc.list[i] = pc.list[last]
		pc.index[pc.list[i].p] = i
		pc.list = pc.list[:last]
		delete(pc.index, p)
	}
}
