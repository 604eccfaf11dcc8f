#!/usr/bin/env python3
"""bm25.py DATASET [K1 B] - a BM25 run (TREC format, top 100 per query) of a
BEIR collection, on standard output: the lexical baseline that says whether a
small dense retriever is at a floor on a collection with no shipped BM25 run.

Okapi BM25 with Lucene's idf, log(1 + (N - df + 0.5) / (df + 0.5)), and
Anserini's defaults k1 = 0.9, b = 0.4; a document is its title and text;
terms are lowercased runs of letters and digits, English stop words removed,
no stemming.  Ties are broken by document id, so the run is reproducible.
"""
import collections
import json
import math
import re
import sys

STOP = set("""a an and are as at be but by for if in into is it no not of on or
such that the their then there these they this to was will with what which who
whom how when where why do does did can could should would may might been being
have has had were its from than so any all some about""".split())


def terms(s):
    return [t for t in re.findall(r"[a-z0-9]+", s.lower()) if t not in STOP]


def main():
    if len(sys.argv) not in (2, 4):
        sys.exit("usage: bm25.py DATASET [K1 B]")
    d = sys.argv[1]
    k1, b = (float(sys.argv[2]), float(sys.argv[3])) if len(sys.argv) == 4 else (0.9, 0.4)
    ids, lens = [], []
    postings = collections.defaultdict(list)   # term -> [(doc, tf)]
    with open(d + "/corpus.jsonl") as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            tf = collections.Counter(terms(r.get("title", "") + " " + r.get("text", "")))
            for t, c in tf.items():
                postings[t].append((len(ids), c))
            ids.append(r["_id"])
            lens.append(sum(tf.values()))
    n = len(ids)
    avg = sum(lens) / n
    norm = [k1 * (1 - b + b * l / avg) for l in lens]
    with open(d + "/queries.jsonl") as f:
        for line in f:
            if not line.strip():
                continue
            q = json.loads(line)
            score = collections.defaultdict(float)
            for t in set(terms(q["text"])):
                p = postings.get(t)
                if not p:
                    continue
                idf = math.log(1 + (n - len(p) + 0.5) / (len(p) + 0.5))
                for doc, c in p:
                    score[doc] += idf * c * (k1 + 1) / (c + norm[doc])
            top = sorted(score.items(), key=lambda x: (-x[1], ids[x[0]]))[:100]
            for rank, (doc, s) in enumerate(top, 1):
                print("%s Q0 %s %d %.6f bm25" % (q["_id"], ids[doc], rank, s))


main()
