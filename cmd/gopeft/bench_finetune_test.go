package main

import (
	"testing"

	"github.com/gopeft/gopeft/internal/peftest"
	"github.com/gopeft/gopeft/peft"
)

// The bench's full fine-tuning trains every weight of the embeddings and
// the encoder layers (not the unused pooler), plus the head; LoRA only its matrices and the head.
func TestFinetuneSetupsTrainWhatTheyName(t *testing.T) {
	m, err := peft.NewModel(peftest.TinyConfig(), nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, method := range ftMethods {
		s, err := ftSetup(method)
		if err != nil {
			t.Fatal(err)
		}
		tu, err := peft.NewTuned(m, s, peft.ClassificationHead(2), 1)
		if err != nil {
			t.Fatal(err)
		}
		c := tu.Counts()
		switch method {
		case "full":
			// The pooler is not in the graph: the head reads [CLS].
			pooler := 0
			if h := m.Config.HiddenSize; m.Config.HasPooler {
				pooler = h*h + h
			}
			if c.Trainable != c.Base-pooler+c.Head {
				t.Errorf("full: %d trainable, want base %d - pooler %d + head %d", c.Trainable, c.Base, pooler, c.Head)
			}
		case "head":
			if c.Trainable != c.Head {
				t.Errorf("head: %d trainable, want the head's %d", c.Trainable, c.Head)
			}
		default:
			if c.Trainable <= c.Head || c.Trainable >= c.Base {
				t.Errorf("%s: %d trainable (head %d, base %d)", method, c.Trainable, c.Head, c.Base)
			}
		}
	}
}

// BERT-base at 64 x 128: the forward pass is 174.6 MFLOP per token (the
// figure behind the "13% of the bf16 rate" for a 28 ms LoRA step).
func TestFinetuneStepFLOPs(t *testing.T) {
	sh := ftShape{Layers: 12, Hidden: 768, Heads: 12, FFN: 3072, Vocab: 30522, Batch: 64, Seq: 128}
	if got := sh.forwardFLOPs() / float64(sh.Batch*sh.Seq); got != 12*(8*768*768+4*768*3072+4*128*768) {
		t.Errorf("forward FLOPs per token %g", got)
	}
	if sh.stepFLOPs("full") != 3*sh.forwardFLOPs() || sh.stepFLOPs("lora") != 2*sh.forwardFLOPs() || sh.stepFLOPs("head") != sh.forwardFLOPs() {
		t.Error("step FLOPs: want 3x forward for full, 2x for adapters, 1x for the head")
	}
}

// A data parallel run's tokens/s count every device's batch, its MFU is
// against all their peaks, and it is paired with its one-device run.
func TestFinetuneDataParallelScaling(t *testing.T) {
	sh := ftShape{Layers: 12, Hidden: 768, Heads: 12, FFN: 3072, Vocab: 30522, Batch: 64, Seq: 128}
	one := ftResult{Runner: "gopeft-f32", Method: "lora", StepMS: 100}
	two := ftResult{Runner: ftRunner("f32", 2), Method: "lora", Devices: 2, StepMS: 105}
	one.fill(sh, 989)
	two.fill(sh, 989)
	if one.TokensPerS != 64*128*10 || two.TokensPerS != 156038 {
		t.Errorf("tokens/s %v (one) and %v (two devices)", one.TokensPerS, two.TokensPerS)
	}
	if two.MFU > one.MFU {
		t.Errorf("MFU on two devices %v above one's %v for a slower step", two.MFU, one.MFU)
	}
	dp := ftDataParallel([]ftResult{one, two, {Runner: "torch-tf32-eager", Method: "lora", StepMS: 90, TokensPerS: 1}})
	got, ok := dp["lora/f32"]
	if len(dp) != 1 || !ok || got.Devices != 2 || got.Speedup != round3(two.TokensPerS/one.TokensPerS) || got.Efficiency != round3(two.TokensPerS/one.TokensPerS/2) {
		t.Errorf("data parallel scaling %+v", dp)
	}
	if r := ftRatios([]ftResult{one, two}, []string{"lora"}); r["lora"].Best != "gopeft-f32" {
		t.Errorf("the torch comparison picked %q: a data parallel run is not one device's best", r["lora"].Best)
	}
}
