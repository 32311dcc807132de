#!/usr/bin/env python3
"""Check that a model directory written by GoPEFT loads in Hugging Face
transformers unchanged, and optionally that transformers' forward matches
GoPEFT's.

Usage (on the GPU machine):
    python3 scripts/hf/load_check.py MODELDIR [--reference REF.safetensors] [--tol 1e-4]

Loads MODELDIR with the class named in config.json's "architectures"
(falling back to AutoModel) and prints missing/unexpected/mismatched keys.
Encoder weights reported missing are a failure; the randomly initialised MLM
head of a checkpoint without one, and the pooler that *ForMaskedLM classes
do not have, are only reported.

REF.safetensors, if given, holds input_ids and attention_mask (and
token_type_ids where the model has them) [B, T] int64 and GoPEFT's
last_hidden_state [B, T, H] (and pooler_output [B, H]); the same layout
make_reference.py writes. Exit status 1 if loading or any comparison fails.
"""
import argparse
import json
import os
import sys

import torch
import transformers
from safetensors.torch import load_file

# Keys whose absence is expected rather than a loading failure.
BENIGN_MISSING = ("cls.predictions", "lm_head", "vocab_", "pooler", "position_ids")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("modeldir")
    ap.add_argument("--reference")
    ap.add_argument("--tol", type=float, default=1e-4)
    args = ap.parse_args()

    with open(os.path.join(args.modeldir, "config.json")) as f:
        cfg = json.load(f)
    arch = (cfg.get("architectures") or ["AutoModel"])[0]
    cls = getattr(transformers, arch, transformers.AutoModel)
    model, info = cls.from_pretrained(args.modeldir, output_loading_info=True,
                                      attn_implementation="eager")
    model.eval()
    print("loaded %s with %s (transformers %s), %d parameters"
          % (args.modeldir, cls.__name__, transformers.__version__,
             sum(p.numel() for p in model.parameters())))
    ok = True
    for kind in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs"):
        keys = info.get(kind) or []
        if not keys:
            continue
        print("  %s (%d): %s" % (kind, len(keys), ", ".join(map(str, keys[:20]))))
        serious = [k for k in keys if not (isinstance(k, str) and any(b in k for b in BENIGN_MISSING))]
        if kind != "unexpected_keys" and serious:
            ok = False

    if args.reference:
        ref = load_file(args.reference)
        base = model.base_model
        inputs = {k: ref[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in ref}
        if cfg.get("model_type") == "distilbert":
            inputs.pop("token_type_ids", None)
        with torch.no_grad():
            out = base(**inputs)
        for key in ("last_hidden_state", "pooler_output"):
            if key not in ref or getattr(out, key, None) is None:
                continue
            got, want = out[key].float(), ref[key].float()
            if got.shape != want.shape:
                print("  %s: shape %s in transformers vs %s in reference" % (key, tuple(got.shape), tuple(want.shape)))
                ok = False
                continue
            # Compare only real (unpadded) tokens for per-token outputs.
            if got.dim() == 3:
                m = inputs["attention_mask"].bool()
                got, want = got[m], want[m]
            d = (got - want).abs().max().item()
            print("  %s: max|diff| = %.3e (tol %.0e) %s" % (key, d, args.tol, "ok" if d <= args.tol else "FAIL"))
            ok &= d <= args.tol
    print("OK" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
