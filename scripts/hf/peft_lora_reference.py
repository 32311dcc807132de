#!/usr/bin/env python3
"""Hugging Face peft LoRA adapters both ways, for GoPEFT's parity tests.

Usage (on the GPU machine: torch + transformers + peft + safetensors):
    python3 scripts/hf/peft_lora_reference.py OUTDIR
        Uses OUTDIR/bert from make_reference.py (builds it if missing), wraps
        it with LoraConfig(r=4, lora_alpha=8, target_modules=["query",
        "value"]), sets every lora_B to random non-zero values (B = 0 would
        make the test trivial), saves the adapter with save_pretrained to
        OUTDIR/lora_adapter and writes OUTDIR/lora_adapter/reference.safetensors:
        input_ids, attention_mask, token_type_ids [B, T] int64 (the batch of
        OUTDIR/bert/reference.safetensors) and last_hidden_state [B, T, H]
        with the adapter applied. It reloads the saved adapter with
        PeftModel.from_pretrained and checks it reproduces the outputs.

    python3 scripts/hf/peft_lora_reference.py OUTDIR --check DIR [--tol 1e-4]
        Loads an adapter GoPEFT wrote (hfpeft.SaveLoRA) from DIR onto OUTDIR/bert
        with PeftModel.from_pretrained and compares last_hidden_state on real
        tokens with DIR/reference.safetensors (GoPEFT's outputs). Exit 1 if
        the difference exceeds --tol or peft reports missing LoRA weights.

CPU, float32, eager attention, as make_reference.py.
"""
import argparse
import json
import os
import sys

import torch
import transformers
from safetensors.torch import load_file, save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_reference  # noqa: E402  (same directory)


def base_model(outdir, seed):
    d = os.path.join(outdir, "bert")
    if not os.path.exists(os.path.join(d, "reference.safetensors")):
        config, cls = make_reference.configs()["bert"]
        if not make_reference.build("bert", config, cls, outdir, seed):
            sys.exit("building %s failed its reload check" % d)
    model = transformers.BertModel.from_pretrained(d, attn_implementation="eager")
    model.eval()
    return model, d


def inputs_of(ref):
    return {k: ref[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in ref}


def masked_diff(a, b, mask):
    m = mask.bool()
    return (a[m] - b[m]).abs().max().item()


def make(args):
    import peft
    model, bert_dir = base_model(args.outdir, args.seed)
    ref = load_file(os.path.join(bert_dir, "reference.safetensors"))
    cfg = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["query", "value"], lora_dropout=0.0, bias="none")
    pm = peft.get_peft_model(model, cfg)
    gen = torch.Generator().manual_seed(args.seed + 7)
    with torch.no_grad():
        for name, p in pm.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
    pm.eval()
    out_dir = os.path.join(args.outdir, "lora_adapter")
    pm.save_pretrained(out_dir, safe_serialization=True)
    inputs = inputs_of(ref)
    with torch.no_grad():
        hidden = pm(**inputs).last_hidden_state
        with pm.disable_adapter():
            plain = pm(**inputs).last_hidden_state
    save = dict(inputs)
    save["last_hidden_state"] = hidden
    save = {k: v.detach().cpu().clone().contiguous() for k, v in save.items()}
    meta = {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__,
            "lora": json.dumps({"r": 4, "lora_alpha": 8, "target_modules": ["query", "value"]})}
    save_file(save, os.path.join(out_dir, "reference.safetensors"), metadata=meta)

    # Reload into a fresh base model: a bad save must not look like a GoPEFT bug.
    fresh, _ = base_model(args.outdir, args.seed)
    again = peft.PeftModel.from_pretrained(fresh, out_dir)
    again.eval()
    with torch.no_grad():
        h2 = again(**inputs).last_hidden_state
    keys = sorted(load_file(os.path.join(out_dir, "adapter_model.safetensors")).keys())
    d = masked_diff(h2, hidden, inputs["attention_mask"])
    effect = masked_diff(hidden, plain, inputs["attention_mask"])
    print("peft %s: %d tensors (%s ...), adapter effect max|diff|=%.3g, reload max|diff|=%.2e"
          % (peft.__version__, len(keys), keys[0], effect, d))
    return 0 if d < 1e-6 and effect > 1e-3 else 1


def check(args):
    import peft
    model, _ = base_model(args.outdir, args.seed)
    pm = peft.PeftModel.from_pretrained(model, args.check)
    pm.eval()
    stored = load_file(os.path.join(args.check, "adapter_model.safetensors"))
    n_lora = sum(1 for n, _ in pm.named_parameters() if "lora_" in n)
    ref = load_file(os.path.join(args.check, "reference.safetensors"))
    inputs = inputs_of(ref)
    with torch.no_grad():
        hidden = pm(**inputs).last_hidden_state
    d = masked_diff(hidden, ref["last_hidden_state"], inputs["attention_mask"])
    print("loaded %d stored tensors into %d LoRA parameters; max|HF peft - GoPEFT| on real tokens = %.3g (tol %g)"
          % (len(stored), n_lora, d, args.tol))
    ok = d <= args.tol and n_lora == len(stored)
    if n_lora != len(stored):
        print("peft created %d LoRA parameters for %d stored tensors: target_modules matched other modules"
              % (n_lora, len(stored)))
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir")
    ap.add_argument("--check", metavar="DIR", help="compare an adapter GoPEFT wrote with its reference outputs")
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--seed", type=int, default=1234)  # make_reference.py's seed for bert
    args = ap.parse_args()
    torch.set_num_threads(1)
    print("torch %s, transformers %s" % (torch.__version__, transformers.__version__))
    sys.exit(check(args) if args.check else make(args))


if __name__ == "__main__":
    main()
