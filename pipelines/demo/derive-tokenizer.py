#!/usr/bin/env python3
"""Derive the demo's small tokenizer from a SentencePiece-style BPE
tokenizer.json (Mistral-7B-v0.1's, Apache-2.0): keep the first N ids and
the merges whose parts and result stay inside them, in their original
order.  Byte fallback keeps every text encodable.

usage: derive-tokenizer.py SRC/tokenizer.json N > tokenizer.json
"""
import json
import sys

src, n = sys.argv[1], int(sys.argv[2])
t = json.load(open(src, encoding="utf-8"))
vocab = {tok: i for tok, i in t["model"]["vocab"].items() if i < n}
merges = []
for m in t["model"]["merges"]:
    a, b = m.split(" ") if isinstance(m, str) else m
    if a in vocab and b in vocab and a + b in vocab:
        merges.append(m)
t["model"]["vocab"] = vocab
t["model"]["merges"] = merges
t["added_tokens"] = [a for a in t["added_tokens"] if a["id"] < n]
json.dump(t, sys.stdout, ensure_ascii=False, separators=(",", ":"))
