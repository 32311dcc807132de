#!/usr/bin/python3
"""Independent BERT-family forward pass in PyTorch, for checking GoPEFT's encoder.

It reads a Hugging Face model directory (config.json + model.safetensors) with
its own safetensors parser, so it needs only torch and numpy (Debian's
python3-torch), not transformers. Usage:

    reference_forward.py MODEL_DIR IDS_JSON

IDS_JSON is {"input_ids": [[...]], "attention_mask": [[...]]}; it prints
{"last_hidden_state": [...], "pooler_output": [...] or null} as JSON.
"""
import json
import math
import struct
import sys

import numpy as np
import torch

DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64, "I32": np.int32}


def read_safetensors(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        lo, hi = info["data_offsets"]
        raw = data[lo:hi]
        if info["dtype"] == "BF16":
            u16 = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            arr = u16.view(np.float32)
        else:
            arr = np.frombuffer(raw, dtype=np.dtype(DTYPES[info["dtype"]]).newbyteorder("<"))
        out[name] = torch.tensor(arr.astype(np.float32 if arr.dtype.kind == "f" else arr.dtype).reshape(info["shape"]))
    return out


def strip_prefix(weights, family):
    # BERT names without "bert."/"roberta." so the forward below can use one naming.
    out = {}
    for k, v in weights.items():
        for p in ("bert.", "roberta."):
            if k.startswith(p):
                k = k[len(p):]
        out[k] = v
    return out


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


def act(name, x):
    if name == "gelu":
        return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))
    if name in ("gelu_new", "gelu_pytorch_tanh"):
        return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    if name == "relu":
        return torch.relu(x)
    raise ValueError(name)


def forward(cfg, w, ids, mask):
    family = cfg["model_type"]
    hidden, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    eps = cfg.get("layer_norm_eps", 1e-12)
    hact = cfg.get("hidden_act", "gelu")
    lin = lambda x, p: x @ w[p + ".weight"].T + w[p + ".bias"]
    if family == "roberta":
        pad = cfg.get("pad_token_id", 1)
        m = (ids != pad).long()
        pos = torch.cumsum(m, 1) * m + pad
    else:
        pos = torch.arange(ids.shape[1]).unsqueeze(0).expand_as(ids)
    x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][pos]
    if "embeddings.token_type_embeddings.weight" in w:
        x = x + w["embeddings.token_type_embeddings.weight"][torch.zeros_like(ids)]
    x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    bias = (1.0 - mask.float())[:, None, None, :] * -1e9
    d = hidden // heads
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        split = lambda t: t.view(t.shape[0], t.shape[1], heads, d).transpose(1, 2)
        q, k, v = (split(lin(x, p + "attention.self." + n)) for n in ("query", "key", "value"))
        probs = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d) + bias, -1)
        ctx = (probs @ v).transpose(1, 2).reshape(x.shape)
        a = lin(ctx, p + "attention.output.dense")
        x = layer_norm(a + x, w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"], eps)
        h = act(hact, lin(x, p + "intermediate.dense"))
        h = lin(h, p + "output.dense")
        x = layer_norm(h + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps)
    pooled = None
    if "pooler.dense.weight" in w:
        pooled = torch.tanh(lin(x[:, 0], "pooler.dense"))
    return x, pooled


def main():
    model_dir, ids_json = sys.argv[1], sys.argv[2]
    cfg = json.load(open(model_dir + "/config.json"))
    if cfg["model_type"] == "distilbert":
        raise SystemExit("reference_forward.py covers BERT and RoBERTa naming; DistilBERT is checked against transformers on the GPU machine")
    w = strip_prefix(read_safetensors(model_dir + "/model.safetensors"), cfg["model_type"])
    inp = json.load(open(ids_json))
    ids = torch.tensor(inp["input_ids"])
    mask = torch.tensor(inp["attention_mask"])
    with torch.no_grad():
        hidden, pooled = forward(cfg, w, ids, mask)
    json.dump({"last_hidden_state": hidden.tolist(), "pooler_output": None if pooled is None else pooled.tolist()}, sys.stdout)


if __name__ == "__main__":
    main()
