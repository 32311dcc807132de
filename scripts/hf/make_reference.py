#!/usr/bin/env python3
"""Write small random-weight BERT, RoBERTa and DistilBERT checkpoints with
Hugging Face transformers, plus reference forward outputs, for GoPEFT's
parity tests.

Usage (on the GPU machine, which has torch + transformers + safetensors):
    python3 scripts/hf/make_reference.py OUTDIR

Creates OUTDIR/{bert,roberta,distilbert}/ each holding what save_pretrained
writes (config.json, model.safetensors), a vocab.txt so GoPEFT's LoadDir finds a
tokenizer, and reference.safetensors with:
    input_ids, attention_mask [B, T] int64 (rows padded with the pad token)
    token_type_ids [B, T] int64 (bert, roberta only)
    last_hidden_state [B, T, H] float32
    pooler_output [B, H] float32 (bert, roberta only)
    hidden_states.K [B, T, H] float32, K = 0 (embeddings) .. num_layers
Metadata records the versions, seed and attention implementation.
The forward runs on CPU in float32 so the numbers do not depend on TF32/GPU.
"""
import argparse
import json
import os
import sys

import torch
import transformers
from safetensors.torch import save_file, load_file

VOCAB, HIDDEN, LAYERS, HEADS, INTER, MAX_POS = 120, 32, 2, 4, 64, 64
BATCH, SEQ = 3, 10
LENGTHS = [10, 7, 4]  # real tokens per row; the rest is padding


def configs():
    """Small configs for the three families, as transformers classes."""
    common = dict(vocab_size=VOCAB, hidden_act="gelu")
    bert = transformers.BertConfig(
        hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
        intermediate_size=INTER, max_position_embeddings=MAX_POS, type_vocab_size=2,
        pad_token_id=0, **common)
    # RoBERTa numbers positions from pad_token_id+1, so it needs 2 extra rows.
    roberta = transformers.RobertaConfig(
        hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
        intermediate_size=INTER, max_position_embeddings=MAX_POS + 2, type_vocab_size=1,
        pad_token_id=1, bos_token_id=0, eos_token_id=2, layer_norm_eps=1e-5, **common)
    distil = transformers.DistilBertConfig(
        vocab_size=VOCAB, dim=HIDDEN, n_layers=LAYERS, n_heads=HEADS, hidden_dim=INTER,
        max_position_embeddings=MAX_POS, activation="gelu", pad_token_id=0)
    return {
        "bert": (bert, transformers.BertModel),
        "roberta": (roberta, transformers.RobertaModel),
        "distilbert": (distil, transformers.DistilBertModel),
    }


def perturb(model, gen):
    """Add noise to every parameter so LayerNorm gains/biases and all biases
    are non-trivial (default init leaves them at 1 and 0, which would hide
    swapped or missing tensors in a parity test)."""
    with torch.no_grad():
        for _, p in model.named_parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.1)


def batch(pad_id, gen, with_types):
    ids = torch.randint(3, VOCAB, (BATCH, SEQ), generator=gen)
    mask = torch.zeros(BATCH, SEQ, dtype=torch.int64)
    for r, n in enumerate(LENGTHS):
        mask[r, :n] = 1
        ids[r, n:] = pad_id  # RoBERTa derives position ids from the pad token
    out = {"input_ids": ids, "attention_mask": mask}
    if with_types:
        types = torch.zeros(BATCH, SEQ, dtype=torch.int64)
        types[0, 5:] = 1  # a sentence pair in row 0
        out["token_type_ids"] = types
    return out


def build(name, config, cls, outdir, seed):
    # Eager attention: the plain softmax(QK^T)V that GoPEFT implements.
    try:
        config._attn_implementation = "eager"
    except Exception:
        pass
    torch.manual_seed(seed)
    model = cls(config)
    gen = torch.Generator().manual_seed(seed + 1)
    perturb(model, gen)
    model.eval()

    d = os.path.join(outdir, name)
    os.makedirs(d, exist_ok=True)
    model.save_pretrained(d, safe_serialization=True)
    with open(os.path.join(d, "vocab.txt"), "w") as f:
        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        f.write("\n".join(specials + ["tok%d" % i for i in range(VOCAB - len(specials))]) + "\n")

    inputs = batch(config.pad_token_id, gen, with_types=(name == "bert"))
    with torch.no_grad():
        out = model(**inputs, output_hidden_states=True)
    ref = dict(inputs)
    ref["last_hidden_state"] = out.last_hidden_state
    if getattr(out, "pooler_output", None) is not None:
        ref["pooler_output"] = out.pooler_output
    for k, h in enumerate(out.hidden_states):
        ref["hidden_states.%d" % k] = h
    # Clone: the last hidden_states entry is the same tensor as
    # last_hidden_state, and save_file refuses tensors that share memory.
    ref = {k: v.detach().cpu().clone().contiguous() for k, v in ref.items()}
    meta = {
        "model_type": name, "seed": str(seed),
        "torch": torch.__version__, "transformers": transformers.__version__,
        "attn_implementation": str(getattr(config, "_attn_implementation", "")),
        "lengths": json.dumps(LENGTHS),
    }
    save_file(ref, os.path.join(d, "reference.safetensors"), metadata=meta)

    # Reload what we saved and check it reproduces the outputs, so a bad save
    # cannot masquerade as a GoPEFT bug.
    again, info = cls.from_pretrained(d, output_loading_info=True)
    again.eval()
    with torch.no_grad():
        out2 = again(**inputs)
    diff = (out2.last_hidden_state - out.last_hidden_state).abs().max().item()
    bad = {k: v for k, v in info.items() if v}
    print("%-10s params=%d  saved tensors=%d  reload max|diff|=%.2e  loading info=%s"
          % (name, sum(p.numel() for p in model.parameters()),
             len(load_file(os.path.join(d, "model.safetensors"))), diff, bad or "clean"))
    return diff < 1e-6


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir")
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()
    torch.set_num_threads(1)  # deterministic reductions
    print("torch %s, transformers %s" % (torch.__version__, transformers.__version__))
    ok = True
    for i, (name, (config, cls)) in enumerate(configs().items()):
        ok &= build(name, config, cls, args.outdir, args.seed + 100 * i)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
