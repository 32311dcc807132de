#!/usr/bin/python3
"""PyTorch reference for `gopeft bench cpu`: one fine-tuning step on the CPU.

Same model and work as GoPEFT's training step: the shipped encoder read from
its safetensors (frozen), dropout as in its config (training mode), a
two-layer classification head on [CLS], cross-entropy, AdamW (weight decay
0.01, lr 1e-4), and one of

  houlsby  bottleneck adapters after attention and after the FFN (reduction
           16, swish; x = LN(h + up(swish(down(h))) + x)), GoPEFT's Houlsby()
  lora     LoRA r=8, alpha 8 on query and value (y += x A^T B^T)
  head     the head only

Needs only torch and numpy (Debian's python3-torch). Usage:

  torch_cpu_step.py MODEL_DIR --method houlsby --batch 16 --seq 64 --steps 5 --threads 1

It prints one JSON object: median wall and CPU (process) time of a step in
ms after warm-up steps, and the last loss.
"""
import argparse
import json
import math
import statistics
import struct
import time

import numpy as np
import torch
import torch.nn.functional as F


def load_safetensors(path):
    """Tensors of a safetensors file (F32/F16/BF16 read as float32)."""
    with open(path, "rb") as f:
        size = struct.unpack("<Q", f.read(8))[0]
        meta = json.loads(f.read(size))
        blob = f.read()
    tensors = {}
    for name, t in meta.items():
        if name == "__metadata__":
            continue
        start, end = t["data_offsets"]
        raw = np.frombuffer(blob[start:end], dtype=np.uint8)
        if t["dtype"] == "F32":
            a = raw.view("<f4")
        elif t["dtype"] == "F16":
            a = raw.view("<f2").astype(np.float32)
        elif t["dtype"] == "BF16":
            a = (raw.view("<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            continue  # integer buffers (position ids) are not weights
        tensors[name.removeprefix("bert.")] = torch.from_numpy(a.reshape(t["shape"]).copy())
    return tensors


class Step:
    def __init__(self, cfg, w, method, seed=1):
        g = torch.Generator().manual_seed(seed)
        self.cfg, self.w, self.method = cfg, w, method
        for t in w.values():
            t.requires_grad_(False)
        h = cfg["hidden_size"]
        self.p_hidden = cfg.get("hidden_dropout_prob", 0.1)
        self.p_attn = cfg.get("attention_probs_dropout_prob", 0.1)
        normal = lambda *shape: (torch.randn(*shape, generator=g) * 0.02).requires_grad_()
        zeros = lambda *shape: torch.zeros(*shape, requires_grad=True)
        self.params = {
            "head.dense.w": normal(h, h), "head.dense.b": zeros(h),
            "head.out.w": normal(2, h), "head.out.b": zeros(2),
        }
        layers = range(cfg["num_hidden_layers"])
        if method == "houlsby":
            m = h // 16
            for i in layers:
                for sub in ("attention", "ffn"):
                    k = f"{i}.{sub}"
                    self.params.update({k + ".down.w": normal(m, h), k + ".down.b": zeros(m),
                                        k + ".up.w": normal(h, m), k + ".up.b": zeros(h)})
        elif method == "lora":
            r = 8
            for i in layers:
                for site in ("query", "value"):
                    bound = 1 / math.sqrt(h)
                    a = (torch.rand(r, h, generator=g) * 2 * bound - bound).requires_grad_()
                    self.params.update({f"{i}.{site}.A": a, f"{i}.{site}.B": zeros(h, r)})
        elif method != "head":
            raise SystemExit(f"unknown method {method!r}: use houlsby, lora or head")
        self.opt = torch.optim.AdamW(self.params.values(), lr=1e-4, weight_decay=0.01, eps=1e-8)

    def linear(self, x, name, layer=None, site=None):
        y = F.linear(x, self.w[name + ".weight"], self.w[name + ".bias"])
        if self.method == "lora" and site in ("query", "value"):
            p = self.params
            y = y + F.linear(F.linear(x, p[f"{layer}.{site}.A"]), p[f"{layer}.{site}.B"])
        return y

    def residual(self, out, x, layer, sub, ln):
        if self.method == "houlsby":
            p, k = self.params, f"{layer}.{sub}"
            out = out + F.linear(F.silu(F.linear(out, p[k + ".down.w"], p[k + ".down.b"])), p[k + ".up.w"], p[k + ".up.b"])
        eps = self.cfg.get("layer_norm_eps", 1e-12)
        return F.layer_norm(out + x, out.shape[-1:], self.w[ln + ".weight"], self.w[ln + ".bias"], eps)

    def loss(self, ids, types, mask, labels):
        cfg, w = self.cfg, self.w
        h, heads = cfg["hidden_size"], cfg["num_attention_heads"]
        d = h // heads
        b, s = ids.shape
        eps = cfg.get("layer_norm_eps", 1e-12)
        pos = torch.arange(s).expand(b, s)
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][pos] \
            + w["embeddings.token_type_embeddings.weight"][types]
        x = F.layer_norm(x, (h,), w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
        x = F.dropout(x, self.p_hidden, True)
        bias = ((1.0 - mask.float()) * -1e9)[:, None, None, :]
        for i in range(cfg["num_hidden_layers"]):
            p = f"encoder.layer.{i}."
            split = lambda t: t.view(b, s, heads, d).transpose(1, 2)
            q = split(self.linear(x, p + "attention.self.query", i, "query"))
            k = split(self.linear(x, p + "attention.self.key", i, "key"))
            v = split(self.linear(x, p + "attention.self.value", i, "value"))
            probs = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d) + bias, -1)
            probs = F.dropout(probs, self.p_attn, True)
            ctx = (probs @ v).transpose(1, 2).reshape(b, s, h)
            a = F.dropout(self.linear(ctx, p + "attention.output.dense"), self.p_hidden, True)
            x = self.residual(a, x, i, "attention", p + "attention.output.LayerNorm")
            f = F.gelu(self.linear(x, p + "intermediate.dense"))
            f = F.dropout(self.linear(f, p + "output.dense"), self.p_hidden, True)
            x = self.residual(f, x, i, "ffn", p + "output.LayerNorm")
        pm = self.params
        c = F.dropout(x[:, 0], 0.1, True)
        c = F.dropout(torch.tanh(F.linear(c, pm["head.dense.w"], pm["head.dense.b"])), 0.1, True)
        return F.cross_entropy(F.linear(c, pm["head.out.w"], pm["head.out.b"]), labels)

    def step(self, *batch):
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss(*batch)
        loss.backward()
        self.opt.step()
        return loss.item()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir")
    ap.add_argument("--method", default="houlsby")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = json.load(open(args.model_dir + "/config.json"))
    w = load_safetensors(args.model_dir + "/model.safetensors")
    step = Step(cfg, w, args.method)
    # The same synthetic batch as gopeft bench cpu: ids (i*31 + j*7) mod vocab.
    vocab = cfg["vocab_size"]
    ids = torch.tensor([[(i * 31 + j * 7) % vocab for j in range(args.seq)] for i in range(args.batch)])
    types, mask = torch.zeros_like(ids), torch.ones_like(ids)
    labels = torch.tensor([i % 2 for i in range(args.batch)])
    for _ in range(args.warmup):
        step.step(ids, types, mask, labels)
    walls, cpus = [], []
    for _ in range(args.steps):
        w0, c0 = time.perf_counter(), time.process_time()
        loss = step.step(ids, types, mask, labels)
        walls.append((time.perf_counter() - w0) * 1e3)
        cpus.append((time.process_time() - c0) * 1e3)
    print(json.dumps({
        "method": args.method, "threads": torch.get_num_threads(), "torch": torch.__version__,
        "step_ms": statistics.median(walls), "cpu_ms": statistics.median(cpus), "loss": loss,
        "trainable_params": sum(p.numel() for p in step.params.values()),
    }))


if __name__ == "__main__":
    main()
