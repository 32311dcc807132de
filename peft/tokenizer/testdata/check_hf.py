#!/usr/bin/env python3
"""Check GoPEFT's saved tokenizer against Hugging Face.

Usage: python3 check_hf.py [DIR]   (DIR defaults to testdata/hf beside this file)

DIR is a directory written by (*tokenizer.Tokenizer).Save plus samples.json
(texts and the ids GoPEFT's Encode gives them). It loads DIR with
`tokenizers.Tokenizer.from_file`, `transformers.BertTokenizerFast` and
`AutoTokenizer` (both from tokenizer.json) and the slow `BertTokenizer` (from
vocab.txt), and compares ids. Exit status 0 when all agree.
"""
import json
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
d = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "hf")
samples = json.load(open(os.path.join(d, "samples.json")))

encoders = {}
try:
    from tokenizers import Tokenizer
    tk = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
    encoders["tokenizers"] = lambda s: tk.encode(s).ids
except ImportError as e:
    print("skip tokenizers:", e)
try:
    from transformers import AutoTokenizer, BertTokenizer, BertTokenizerFast
    fast = BertTokenizerFast.from_pretrained(d)
    auto = AutoTokenizer.from_pretrained(d)
    slow = BertTokenizer(os.path.join(d, "vocab.txt"), do_lower_case=True)
    encoders["BertTokenizerFast"] = lambda s: fast(s)["input_ids"]
    encoders["AutoTokenizer(%s)" % type(auto).__name__] = lambda s: auto(s)["input_ids"]
    encoders["BertTokenizer(slow)"] = lambda s: slow(s)["input_ids"]
except ImportError as e:
    print("skip transformers:", e)

if not encoders:
    sys.exit("neither tokenizers nor transformers is installed")

bad = 0
for name, enc in encoders.items():
    for s in samples:
        got = enc(s["text"])
        if got != s["ids"]:
            bad += 1
            print("MISMATCH %s %r\n  hf     %s\n  gopeft %s" % (name, s["text"], got, s["ids"]))
    print("%s: %d samples checked" % (name, len(samples)))
print("all agree" if bad == 0 else "%d mismatches" % bad)
sys.exit(1 if bad else 0)
