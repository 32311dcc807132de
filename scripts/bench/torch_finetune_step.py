#!/usr/bin/env python3
"""PyTorch reference for `gopeft bench finetune`: one training step on a GPU.

The same work as GoPEFT's Stepper: a randomly initialised BERT-shaped encoder
(transformers BertModel, SDPA attention, dropout 0.1 in training mode), the
two-layer classification head GoPEFT uses (dropout, dense, tanh, dropout,
dense on [CLS]), cross-entropy, AdamW (lr 1e-4, weight decay 0.01), and one of

  full     every weight trains
  lora     HF peft LoRA r=8, alpha 8, dropout 0 on query and value
  houlsby  bottleneck adapters after attention and after the FFN, reduction
           16, swish, x = LN(h + up(swish(down(h))) + x) (GoPEFT's Houlsby();
           HF peft has no bottleneck adapters, so they are written here)
  head     only the head trains

in each configuration asked for:

  tf32-eager    float32 weights, TF32 matrix products
  bf16-eager    float32 master weights, torch.autocast(bfloat16)
  bf16-compile  bf16-eager under torch.compile

Usage: torch_finetune_step.py --method lora --configs tf32-eager,bf16-eager --steps 20
Prints one JSON line per configuration: median step time, peak memory
(torch.cuda.max_memory_allocated/_reserved) and the last loss.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Head(nn.Module):
    def __init__(self, h, labels=2, p=0.1):
        super().__init__()
        self.dense, self.out, self.p = nn.Linear(h, h), nn.Linear(h, labels), p

    def forward(self, x):
        x = F.dropout(x[:, 0], self.p, self.training)
        x = F.dropout(torch.tanh(self.dense(x)), self.p, self.training)
        return self.out(x)


class Adapter(nn.Module):
    """Houlsby bottleneck on a sublayer's output, before residual + LayerNorm."""

    def __init__(self, h, m):
        super().__init__()
        self.down, self.up = nn.Linear(h, m), nn.Linear(m, h)
        nn.init.normal_(self.down.weight, std=0.01)
        nn.init.zeros_(self.down.bias)
        nn.init.normal_(self.up.weight, std=0.01)
        nn.init.zeros_(self.up.bias)

    def forward(self, x):
        return x + self.up(F.silu(self.down(x)))


class Model(nn.Module):
    def __init__(self, encoder, head):
        super().__init__()
        self.encoder, self.head = encoder, head

    def forward(self, ids, mask, labels):
        hidden = self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        return F.cross_entropy(self.head(hidden).float(), labels)


def build(args, method):
    from transformers import BertConfig, BertModel

    cfg = BertConfig(vocab_size=args.vocab, hidden_size=args.hidden, num_hidden_layers=args.layers,
                     num_attention_heads=args.heads, intermediate_size=args.ffn,
                     max_position_embeddings=max(512, args.seq), attn_implementation="sdpa")
    torch.manual_seed(0)
    enc = BertModel(cfg, add_pooling_layer=False)
    if method == "lora":
        from peft import LoraConfig, get_peft_model

        enc = get_peft_model(enc, LoraConfig(r=8, lora_alpha=8, lora_dropout=0.0, target_modules=["query", "value"]))
    elif method == "houlsby":
        m = args.hidden // 16
        for p in enc.parameters():
            p.requires_grad_(False)
        for layer in enc.encoder.layer:
            # The adapter goes after the sublayer's dropout, before residual + LN.
            layer.attention.output.dropout = nn.Sequential(layer.attention.output.dropout, Adapter(args.hidden, m))
            layer.output.dropout = nn.Sequential(layer.output.dropout, Adapter(args.hidden, m))
    elif method == "head":
        for p in enc.parameters():
            p.requires_grad_(False)
    elif method != "full":
        raise SystemExit(f"unknown method {method!r}: use full, lora, houlsby or head")
    return Model(enc, Head(args.hidden)).cuda().train()


def run(args, method, config):
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    model = build(args, method)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.01, eps=1e-8)
    ids = torch.tensor([[(i * 31 + j * 7) % args.vocab for j in range(args.seq)] for i in range(args.batch)]).cuda()
    mask = torch.ones_like(ids)
    labels = torch.tensor([i % 2 for i in range(args.batch)]).cuda()
    bf16 = config.startswith("bf16")
    fwd = torch.compile(model) if config == "bf16-compile" else model

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
            loss = fwd(ids, mask, labels)
        loss.backward()
        opt.step()
        return loss

    t0 = time.perf_counter()
    step()
    torch.cuda.synchronize()
    first = time.perf_counter() - t0
    for _ in range(3):
        step()
    torch.cuda.synchronize()
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        loss = step()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    import transformers
    import peft

    out = {
        "runner": "torch-" + config, "method": method, "step_ms": statistics.median(times),
        "first_step_s": first, "loss": float(loss.detach()), "trainable_params": sum(p.numel() for p in params),
        "torch_alloc_mib": torch.cuda.max_memory_allocated() / 2**20,
        "torch_reserved_mib": torch.cuda.max_memory_reserved() / 2**20,
        "peak_mem_mib": torch.cuda.max_memory_reserved() / 2**20,
        "versions": f"torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}, "
                    f"CUDA {torch.version.cuda}, {torch.cuda.get_device_name()}",
    }
    print(json.dumps(out), flush=True)
    del model, opt, fwd
    torch._dynamo.reset()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--method", default="lora")
    ap.add_argument("--configs", default="tf32-eager,bf16-eager,bf16-compile")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--hidden", type=int, default=768)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--ffn", type=int, default=3072)
    ap.add_argument("--vocab", type=int, default=30522)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seq", type=int, default=128)
    args = ap.parse_args()
    for config in args.configs.split(","):
        if config.strip():
            run(args, args.method, config.strip())


if __name__ == "__main__":
    main()
