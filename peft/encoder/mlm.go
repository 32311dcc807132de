package encoder

import (
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gopeft/gopeft/peft/hf"
)

// MLMLogits is BERT's masked-language-model head on hidden [batch, seq,
// hidden]: transform (dense, activation, LayerNorm), then a decoder tied to
// the word embeddings plus a per-token bias. Its variables live under
// /cls/predictions, as in BertForMaskedLM.
func MLMLogits(ctx *context.Context, cfg hf.Config, hidden *Node) *Node {
	ctx = ctx.Checked(false)
	g := hidden.Graph()
	head := ctx.In("cls").In("predictions")
	t := head.In("transform")
	h := Linear(t.In("dense"), hidden, cfg.HiddenSize)
	h = Activation(cfg.HiddenAct, h)
	h = LayerNorm(t.In("LayerNorm"), h, cfg.LayerNormEps)
	words := weight(g, ctx.In("embeddings").In("word_embeddings"), "weight", InitStdDev, cfg.VocabSize, cfg.HiddenSize)
	logits := mixed(ctx, func(h, w *Node) *Node { return DotGeneral(h, []int{h.Rank() - 1}, nil, w, []int{1}, nil) }, h, words)
	bias := HostVariable(head, "bias", shapeF32(cfg.VocabSize), HostZeros).ValueGraph(g)
	return Add(logits, ExpandLeftToRank(bias, logits.Rank()))
}
