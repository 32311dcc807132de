package train

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/encoder"
	"github.com/gopeft/gopeft/peft/hf"
	"github.com/gopeft/gopeft/peft/tokenizer"
)

// MinPackLen is the shortest sequence PackSequences fills: [CLS], a piece
// of at least minPiece tokens, [SEP].
const (
	minPiece   = 8
	MinPackLen = minPiece + 2
)

// PackSequences tokenizes passages and packs them greedily into sequences of
// at most seqLen tokens, [CLS] p1 [SEP] p2 [SEP] ..., as BERT's pretraining
// data does; a passage longer than a sequence is split. A seqLen below
// MinPackLen leaves no room for a piece and packs nothing.
func PackSequences(tok *tokenizer.Tokenizer, passages []string, seqLen int) [][]int32 {
	var seqs [][]int32
	if seqLen < MinPackLen {
		return nil
	}
	cur := []int32{tok.ClsID}
	flush := func() {
		if len(cur) > 1 {
			seqs = append(seqs, cur)
		}
		cur = []int32{tok.ClsID}
	}
	for _, p := range passages {
		ids, _, _ := tok.Encode(p, 0)
		body := ids[1 : len(ids)-1] // without [CLS] and [SEP]
		for len(body) > 0 {
			room := seqLen - len(cur) - 1
			if room < minPiece { // too little room for a useful piece
				flush()
				continue
			}
			n := min(room, len(body))
			cur = append(cur, body[:n]...)
			cur = append(cur, tok.SepID)
			body = body[n:]
		}
	}
	flush()
	return seqs
}

// PretrainOptions configure masked-language-model pretraining.
type PretrainOptions struct {
	Steps        int
	BatchSize    int     // sequences per step (default 64)
	LearningRate float64 // peak, after linear warmup (default 1e-3)
	WarmupSteps  int     // default Steps/20
	WeightDecay  float64 // AdamW (default 0.01)
	MaskProb     float64 // BERT: 0.15, of which 80% [MASK], 10% random, 10% kept
	Seed         int64
	// Report is called every ReportEvery steps with the mean loss since the last call.
	Report      func(step int, loss float64)
	ReportEvery int
}

// PretrainResult says what pretraining did.
type PretrainResult struct {
	Steps       int
	FinalLoss   float64 // mean MLM loss over the last ReportEvery steps
	WallSeconds float64
	Sequences   int
	Tokens      int
}

// Pretrain trains m's encoder and MLM head on seqs with BERT's masked
// language model objective (Devlin et al. 2019), without next-sentence
// prediction (as RoBERTa showed it is not needed).
func Pretrain(m *peft.Model, seqs [][]int32, opt PretrainOptions) (PretrainResult, error) {
	if m.Tokenizer == nil {
		return PretrainResult{}, fmt.Errorf("pretraining needs the model's tokenizer")
	}
	if len(seqs) == 0 {
		return PretrainResult{}, fmt.Errorf("no pretraining sequences")
	}
	if opt.BatchSize <= 0 {
		opt.BatchSize = 64
	}
	if opt.LearningRate <= 0 {
		opt.LearningRate = 1e-3
	}
	if opt.WarmupSteps <= 0 {
		opt.WarmupSteps = max(1, opt.Steps/20)
	}
	if opt.MaskProb <= 0 {
		opt.MaskProb = 0.15
	}
	if opt.ReportEvery <= 0 {
		opt.ReportEvery = 100
	}
	backend, err := peft.Backend()
	if err != nil {
		return PretrainResult{}, err
	}
	cfg := m.Config
	seqLen := 0
	tokens := 0
	for _, s := range seqs {
		seqLen = max(seqLen, len(s))
		tokens += len(s)
	}
	for v := range m.Ctx.IterVariables() {
		v.SetTrainable(encoder.IsBase(v))
	}
	opti := optimizers.Adam().WeightDecay(opt.WeightDecay).Epsilon(1e-8).Done()
	exec, err := context.NewExec(backend, m.Ctx, func(ctx *context.Context, ids, mask, labels, weights *graph.Node) *graph.Node {
		g := ids.Graph()
		ctx.SetTraining(g, true)
		out := encoder.Forward(ctx, cfg, encoder.Inputs{IDs: ids, Mask: mask}, nil)
		logits := encoder.MLMLogits(ctx, cfg, out.Hidden)
		loss := maskedCrossEntropy(logits, labels, weights)
		opti.UpdateGraph(ctx, g, loss)
		return loss
	})
	if err != nil {
		return PretrainResult{}, err
	}
	lrVar := optimizers.LearningRateVar(m.Ctx, dtypes.Float32, opt.LearningRate)
	draw := newSampler(len(seqs), opt.Seed)
	start := time.Now()
	res := PretrainResult{Steps: opt.Steps, Sequences: len(seqs), Tokens: tokens}
	sum, count := 0.0, 0
	rate := func(step int) float64 { return LinearSchedule(step, opt.Steps, opt.WarmupSteps, opt.LearningRate) }
	err = loop(opt.Steps, rate, func(i int, lr float64) (float64, error) {
		batch := make([][]int32, opt.BatchSize)
		for j, k := range draw.take(opt.BatchSize) {
			batch[j] = seqs[k]
		}
		ids, mask, labels, weights := maskBatch(batch, seqLen, m.Tokenizer, cfg.VocabSize, opt.MaskProb, draw.rng)
		lrVar.MustSetValue(tensors.FromValue(float32(lr)))
		out, err := exec.Exec(ids, mask, labels, weights)
		if err != nil {
			return 0, err
		}
		loss := peft.Scalar(out[0])
		sum += loss
		count++
		if step := i + 1; step%opt.ReportEvery == 0 || step == opt.Steps {
			res.FinalLoss = sum / float64(count)
			if opt.Report != nil {
				opt.Report(step, res.FinalLoss)
			}
			sum, count = 0, 0
		}
		return loss, nil
	})
	if err != nil {
		return res, err
	}
	res.WallSeconds = time.Since(start).Seconds()
	for v := range m.Ctx.IterVariables() {
		v.SetTrainable(false)
	}
	return res, nil
}

// maskBatch pads sequences and applies BERT's masking: each non-special
// token is chosen with probability p; a chosen token becomes [MASK] 80% of
// the time, a random token 10%, and stays 10%. labels hold the original ids
// and weights mark the chosen positions.
func maskBatch(batch [][]int32, seqLen int, tok *tokenizer.Tokenizer, vocab int, p float64, rng *rand.Rand) (ids, mask, labels, weights *tensors.Tensor) {
	b := len(batch)
	idsV := make([][]int32, b)
	maskV := make([][]int32, b)
	labV := make([][]int32, b)
	wV := make([][]float32, b)
	for i, seq := range batch {
		idsV[i] = make([]int32, seqLen)
		maskV[i] = make([]int32, seqLen)
		labV[i] = make([]int32, seqLen)
		wV[i] = make([]float32, seqLen)
		for j := 0; j < seqLen; j++ {
			if j >= len(seq) {
				idsV[i][j] = tok.PadID
				continue
			}
			id := seq[j]
			idsV[i][j], maskV[i][j], labV[i][j] = id, 1, id
			if id == tok.ClsID || id == tok.SepID || id == tok.PadID || rng.Float64() >= p {
				continue
			}
			wV[i][j] = 1
			switch r := rng.Float64(); {
			case r < 0.8:
				idsV[i][j] = tok.MaskID
			case r < 0.9:
				idsV[i][j] = int32(rng.IntN(vocab))
			}
		}
	}
	return tensors.FromValue(idsV), tensors.FromValue(maskV), tensors.FromValue(labV), tensors.FromValue(wV)
}

// maskedCrossEntropy is the mean cross-entropy over positions with weight 1.
func maskedCrossEntropy(logits, labels, weights *graph.Node) *graph.Node {
	vocab := logits.Shape().Dim(-1)
	top := graph.StopGradient(graph.ReduceAndKeep(logits, graph.ReduceMax, -1))
	lse := graph.Add(graph.Log(graph.ReduceSum(graph.Exp(graph.Sub(logits, top)), -1)), graph.Squeeze(top, -1))
	picked := graph.ReduceSum(graph.Mul(logits, graph.OneHot(labels, vocab, logits.DType())), -1)
	perToken := graph.Mul(graph.Sub(lse, picked), weights)
	return graph.Div(graph.ReduceAllSum(perToken), graph.Max(graph.ReduceAllSum(weights), graph.ScalarOne(weights.Graph(), dtypes.Float32)))
}

// SmallConfig is the shape of GoPEFT's shipped encoder: a 4-layer BERT with
// hidden 128 (about 1.3 M parameters with an 4k vocabulary), small enough to
// fine-tune on a laptop CPU in minutes.
func SmallConfig(vocabSize int) hf.Config {
	cfg, _ := hf.DefaultConfig(hf.BERT)
	cfg.VocabSize = vocabSize
	cfg.HiddenSize = 128
	cfg.NumLayers = 4
	cfg.NumHeads = 4
	cfg.IntermediateSize = 512
	cfg.MaxPositions = 128
	cfg.TypeVocabSize = 2
	cfg.HasPooler = false
	cfg.Architectures = []string{"BertForMaskedLM"}
	return cfg
}
