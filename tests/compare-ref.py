#!/usr/bin/env python3
"""compare-ref.py - independent references for lr-eval's run comparisons.

Reads per-query values from `lr-eval -q -f json` (one file per run, in the
order of the comparison) and checks a comparison's `--format tsv` output:

  compare-ref.py rows TEST CORRECTION COMPLETE QRELS CMP.tsv RUN.json...
      means, deltas and query counts; p from scipy.stats.ttest_rel or
      scipy.stats.wilcoxon; p_adjusted by Holm or Bonferroni computed here.
  compare-ref.py randomization CMP.tsv TRIALS RUN.json RUN.json
      p against exact enumeration of all 2^n sign assignments.
  compare-ref.py ci CMP.tsv RUN.json RUN.json
      the bootstrap interval against the normal-theory interval.

Prints ok:/FAIL: lines; exits 1 on any failure.
"""
import itertools
import json
import math
import sys

import numpy as np
from scipy import stats

TIE = 1e-9
fails = 0


def check(name, good, detail=""):
    global fails
    if good:
        print("ok: " + name)
    else:
        fails += 1
        print("FAIL: %s %s" % (name, detail))


def close(a, b, tol=1e-6):
    return abs(a - b) <= tol or abs(a - b) <= 1e-5 * max(abs(a), abs(b))


def load_run(path):
    """One run's lr-eval -q JSON, or A+B+...: the runs of one system,
    averaged per query over the queries every run has."""
    if "+" in path:
        runs = [load_run(p) for p in path.split("+")]
        qids = set.intersection(*(set(r["per_query"]) for r in runs))
        pq = {q: {m: sum(r["per_query"][q][m] for r in runs) / len(runs)
                  for m in runs[0]["per_query"][q]} for q in qids}
        measures = next(iter(pq.values())).keys()
        return {"per_query": pq, "queries": len(pq),
                "all": {m: sum(v[m] for v in pq.values()) / len(pq) for m in measures}}
    with open(path) as f:
        return json.load(f)


def qrels_queries(path):
    qs = set()
    with open(path) as f:
        lines = [l.split() for l in f if l.strip()]
    if len(lines[0]) == 3:
        try:
            int(lines[0][2])
        except ValueError:
            lines = lines[1:]
    for l in lines:
        qs.add(l[0])
    return sorted(qs)


def read_tsv(path):
    with open(path) as f:
        rows = [l.rstrip("\n").split("\t") for l in f]
    head = rows[0]
    return head, [dict(zip(head, r)) for r in rows[1:]]


def pair(base, run, measure, complete_qids):
    a, b = base["per_query"], run["per_query"]
    if complete_qids is not None:
        qids = complete_qids
    else:
        qids = sorted(set(a) & set(b))
    x = np.array([a[q][measure] if q in a else 0.0 for q in qids])
    y = np.array([b[q][measure] if q in b else 0.0 for q in qids])
    return x, y


def snap(d):
    """Differences within TIE of each other become equal, within TIE of
    zero become zero (lr's rule for ties and zeros)."""
    d = d.copy()
    d[np.abs(d) <= TIE] = 0.0
    order = np.argsort(np.abs(d), kind="stable")
    start = None
    for i in order:
        a = abs(d[i])
        if a == 0:
            continue
        if start is None or a - start > TIE:
            start = a
        d[i] = math.copysign(start, d[i])
    return d


def wilcoxon_ref(x, y):
    d = snap(y - x)
    nz = np.abs(d[d != 0])
    ties = len(np.unique(nz)) < len(nz)
    # scipy 1.10's method='auto' is exact for n <= 50 without zeros; with
    # ties lr uses the normal approximation, which is scipy's method='approx'
    method = "approx" if ties else "auto"
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return stats.wilcoxon(d, zero_method="wilcox", correction=False, method=method).pvalue


def adjust(p, correction):
    m = len(p)
    if correction == "none":
        return list(p)
    if correction == "bonferroni":
        return [min(1.0, m * v) for v in p]
    # Holm: the i-th smallest p times (m - i + 1), made monotone
    order = sorted(range(m), key=lambda i: (p[i], i))
    out = [0.0] * m
    for rank, i in enumerate(order):
        out[i] = max(min(1.0, (m - r) * p[order[r]]) for r in range(rank + 1))
    return out


def rows(test, correction, complete, qrels, tsv, runs):
    head, rs = read_tsv(tsv)
    check("tsv header", head[:7] == ["run", "measure", "queries", "mean", "delta", "p", "p_adjusted"],
          str(head))
    data = [load_run(r) for r in runs]
    cq = qrels_queries(qrels) if complete == "1" else None
    measures = [r["measure"] for r in rs if r["delta"] == "-"]
    check("one baseline row per measure", len(measures) * len(runs) == len(rs))
    ps, got = [], []
    for k, run in enumerate(data):
        for j, m in enumerate(measures):
            r = rs[k * len(measures) + j]
            check("row %d %s measure" % (k, m), r["measure"] == m)
            if k == 0:
                check("baseline mean %s" % m, close(float(r["mean"]), data[0]["all"][m]),
                      "%s vs %s" % (r["mean"], data[0]["all"][m]))
                check("baseline queries %s" % m, int(r["queries"]) == data[0]["queries"])
                check("baseline dashes %s" % m, r["p"] == "-" and r["p_adjusted"] == "-")
                continue
            x, y = pair(data[0], run, m, cq)
            check("queries %d %s" % (k, m), int(r["queries"]) == len(x), r["queries"])
            check("mean %d %s" % (k, m), close(float(r["mean"]), y.mean()), "%s vs %r" % (r["mean"], y.mean()))
            check("delta %d %s" % (k, m), close(float(r["delta"]), (y - x).mean()),
                  "%s vs %r" % (r["delta"], (y - x).mean()))
            if test == "t":
                p = stats.ttest_rel(y, x).pvalue
            else:
                p = wilcoxon_ref(x, y)
            check("%s p %d %s" % (test, k, m), close(float(r["p"]), p), "lr %s scipy %r" % (r["p"], p))
            ps.append(p)
            got.append(float(r["p_adjusted"]))
    adj = adjust(ps, correction)
    for i, (a, g) in enumerate(zip(adj, got)):
        check("%s p_adjusted %d" % (correction, i), close(g, a), "lr %r reference %r" % (g, a))


def randomization(tsv, trials, runs):
    _, rs = read_tsv(tsv)
    base, run = load_run(runs[0]), load_run(runs[1])
    trials = int(trials)
    for r in rs:
        if r["delta"] == "-":
            continue
        x, y = pair(base, run, r["measure"], None)
        d = y - x
        n = len(d)
        signs = np.array(list(itertools.product([1.0, -1.0], repeat=n)))
        means = np.abs(signs @ d) / n
        exact = np.mean(means >= abs(d.mean()) - TIE)
        se = math.sqrt(exact * (1 - exact) / trials)
        tol = 5 * se + 1.0 / (trials + 1)
        p = float(r["p"])
        check("randomization p over %d queries %s (exact %.6f, 2^%d assignments)" % (n, r["measure"], exact, n),
              abs(p - exact) <= tol, "lr %r exact %r tolerance %r" % (p, exact, tol))


def ci(tsv, runs):
    _, rs = read_tsv(tsv)
    base, run = load_run(runs[0]), load_run(runs[1])
    for r in rs:
        if r["delta"] == "-":
            continue
        x, y = pair(base, run, r["measure"], None)
        d = y - x
        n = len(d)
        half = 1.96 * d.std(ddof=0) / math.sqrt(n)
        lo, hi = float(r["ci_low"]), float(r["ci_high"])
        check("ci %s contains delta" % r["measure"], lo <= float(r["delta"]) <= hi)
        check("ci %s near the normal interval" % r["measure"],
              abs(lo - (d.mean() - half)) <= 0.15 * half and abs(hi - (d.mean() + half)) <= 0.15 * half,
              "lr [%r, %r] normal [%r, %r]" % (lo, hi, d.mean() - half, d.mean() + half))


def main():
    cmd = sys.argv[1]
    if cmd == "rows":
        rows(*sys.argv[2:7], sys.argv[7:])
    elif cmd == "randomization":
        randomization(sys.argv[2], sys.argv[3], sys.argv[4:])
    elif cmd == "ci":
        ci(sys.argv[2], sys.argv[3:])
    else:
        sys.exit("unknown command " + cmd)
    sys.exit(1 if fails else 0)


main()
