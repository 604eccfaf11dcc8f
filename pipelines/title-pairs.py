#!/usr/bin/env python3
"""title-pairs.py - weakly supervised retrieval pairs from BEIR corpora.

Each document whose title has at least MIN_WORDS words becomes one lr-train
contrastive row: the title is the query, the body (without the title) the
positive.  Other rows of the batch serve as negatives.

    title-pairs.py corpus.jsonl... > pairs.jsonl
"""
import json
import sys

MIN_WORDS = 4


def main(paths):
    if not paths:
        sys.exit("usage: title-pairs.py corpus.jsonl...")
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    doc = json.loads(line)
                except json.JSONDecodeError as e:
                    sys.exit(f"title-pairs.py: {path}:{n}: {e}")
                title = (doc.get("title") or "").strip()
                text = (doc.get("text") or "").strip()
                if len(title.split()) < MIN_WORDS or not text:
                    continue
                row = {"query": title, "pos": [{"text": text}]}
                sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
