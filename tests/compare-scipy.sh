#!/bin/sh
# compare-scipy.sh - lr-eval's run comparisons against independent
# references: scipy's ttest_rel and wilcoxon, Holm and Bonferroni computed
# directly, the randomization test against exact enumeration of every sign
# assignment, on per-query values of BM25 runs over Cranfield.
. "${LR_SRCDIR:-$(dirname "$0")/..}/tests/lib.sh"
need_shared
PY=
for p in python3 /usr/bin/python3; do
    if "$p" -c 'import numpy, scipy.stats' 2>/dev/null; then PY=$p; break; fi
done
if [ -z "$PY" ]; then
    # .ci/run installs them: in CI their absence is a failure
    if [ -n "${CI:-}" ]; then
        echo "FAIL: CI is set but python3 has no numpy and scipy (python3-numpy python3-scipy)" >&2
        exit 1
    fi
    echo "skip: python3 with numpy and scipy absent (Debian: python3-numpy python3-scipy)"
    exit 77
fi
# ref NAME ARGS...: run the reference checker, one pass or fail line
ref() {
    name=$1
    shift
    if $PY "$LR_SRCDIR/tests/compare-ref.py" "$@" >ref.log 2>&1; then
        pass "$name: $(grep -c '^ok' ref.log) checks"
    else
        fail "$name: $(grep -v '^ok' ref.log | head -3)"
    fi
}
RUNS="$LR_SHARED/datasets/runs"
Q="$RUNS/cranfield.qrels"
A="$RUNS/cranfield-bm25.trec"
cd "$TMP" || exit 1
# two more runs: BM25's scores moved by amounts that depend on the docno,
# so that rankings change for some queries and not for others
awk '{ s = $5; if (length($3) % 3 == 0) s += 0.5; print $1, $2, $3, $4, s, "b" }' "$A" >b.trec
awk '{ s = $5; if ($3 % 7 == 1) s += 1.2; else if ($3 % 5 == 0) s -= 0.8; print $1, $2, $3, $4, s, "c" }' "$A" >c.trec
cp "$A" a.trec
M="-m ndcg_cut.10 -m P.10 -m map"
for r in a b c; do
    lr-eval -Q "$Q" -r $r.trec $M -q -f json >$r.json || fail "per-query values of $r"
done

# the paired t test, every measure, each correction
for corr in none holm bonferroni; do
    if lr-eval -Q "$Q" -r a.trec -r b.trec -r c.trec $M --test t --correction $corr -f tsv >t.$corr.tsv; then
        ref "t test (scipy ttest_rel), $corr correction" rows t $corr 0 "$Q" t.$corr.tsv a.json b.json c.json
    else
        fail "lr-eval --test t --correction $corr"
    fi
done

# lr-eval --run A --run B --test t -m ndcg_cut.10 --format tsv equals
# scipy's paired t test on the per-query values of lr-eval -q, on both
# collections that have BM25 runs
lr-eval --qrels "$Q" --run a.trec --run b.trec --test t -m ndcg_cut.10 --format tsv >done.tsv ||
    fail "t test, Cranfield"
ref "Cranfield, --test t -m ndcg_cut.10 --format tsv" rows t holm 0 "$Q" done.tsv a.json b.json
SQ="$RUNS/scifact.qrels"
awk '{ s = $5; if (length($3) % 2 == 0) s += 0.3; print $1, $2, $3, $4, s, "b" }' "$RUNS/scifact-bm25.trec" >sb.trec
lr-eval -Q "$SQ" -r "$RUNS/scifact-bm25.trec" -m ndcg_cut.10 -q -f json >sa.json
lr-eval -Q "$SQ" -r sb.trec -m ndcg_cut.10 -q -f json >sb.json
lr-eval --qrels "$SQ" --run "$RUNS/scifact-bm25.trec" --run sb.trec --test t -m ndcg_cut.10 --format tsv \
    >sdone.tsv || fail "t test, SciFact"
ref "SciFact, --test t -m ndcg_cut.10 --format tsv" rows t holm 0 "$SQ" sdone.tsv sa.json sb.json

# the Wilcoxon signed-rank test (normal approximation: 225 queries, zeros)
lr-eval -Q "$Q" -r a.trec -r b.trec -r c.trec $M --test wilcoxon -f tsv >w.tsv || fail "wilcoxon"
ref "wilcoxon, normal approximation" rows wilcoxon holm 0 "$Q" w.tsv a.json b.json c.json

# small query sets: 14 queries whose ndcg_cut_10 differences (b - a) are
# non-zero and distinct (scipy's exact distribution), and for the
# enumeration 12 whose differences (c - a) are non-zero, 6 of each sign
$PY - a.json b.json c.json >pick <<'PYEOF'
import json, sys
a, b, c = (json.load(open(f))["per_query"] for f in sys.argv[1:4])
seen, q14 = [], []
for q in sorted(set(a) & set(b)):
    d = b[q]["ndcg_cut_10"] - a[q]["ndcg_cut_10"]
    if abs(d) > 1e-6 and all(abs(abs(d) - s) > 1e-6 for s in seen):
        seen.append(abs(d)); q14.append(q)
pos = [q for q in sorted(set(a) & set(c)) if c[q]["ndcg_cut_10"] - a[q]["ndcg_cut_10"] > 1e-6]
neg = [q for q in sorted(set(a) & set(c)) if c[q]["ndcg_cut_10"] - a[q]["ndcg_cut_10"] < -1e-6]
print(" ".join(q14[:14]))
print(" ".join(pos[:6] + neg[:6]))
PYEOF
set -- $(sed -n 1p pick)
[ $# -eq 14 ] || fail "picking 14 queries: $(sed -n 1p pick)"
printf '%s\n' "$@" >q14
set -- $(sed -n 2p pick)
[ $# -eq 12 ] || fail "picking 12 queries: $(sed -n 2p pick)"
printf '%s\n' "$@" >q12
awk 'NR == FNR { k[$1] = 1; next } k[$1]' q14 "$Q" >q14.qrels
awk 'NR == FNR { k[$1] = 1; next } k[$1]' q12 "$Q" >q12.qrels
for r in a b; do lr-eval -Q q14.qrels -r $r.trec -m ndcg_cut.10 -q -f json >$r.14.json; done
for r in a c; do lr-eval -Q q12.qrels -r $r.trec -m ndcg_cut.10 -q -f json >$r.12.json; done
lr-eval -Q q14.qrels -r a.trec -r b.trec -m ndcg_cut.10 --test wilcoxon -f tsv >w14.tsv || fail "wilcoxon, 14 queries"
ref "wilcoxon, exact distribution on 14 queries" rows wilcoxon holm 0 q14.qrels w14.tsv a.14.json b.14.json
lr-eval -Q q14.qrels -r a.trec -r b.trec -m ndcg_cut.10 --test t -f tsv >t14.tsv || fail "t, 14 queries"
ref "t test on 14 queries" rows t holm 0 q14.qrels t14.tsv a.14.json b.14.json

# the randomization test against all 2^12 sign assignments
for seed in 1 2; do
    lr-eval -Q q12.qrels -r a.trec -r c.trec -m ndcg_cut.10 --test randomization \
        --trials 20000 --seed $seed -f tsv >rand.$seed.tsv || fail "randomization, seed $seed"
    ref "randomization against 2^12 sign assignments, seed $seed" randomization rand.$seed.tsv 20000 a.12.json c.12.json
done
lr-eval -Q q12.qrels -r a.trec -r c.trec -m ndcg_cut.10 --trials 20000 --seed 1 -f tsv >rand.again.tsv
if cmp -s rand.1.tsv rand.again.tsv; then pass "the same --seed gives the same p"
else fail "the same --seed gives a different p"; fi

# -c: every qrels query, a query missing from a run scores 0
awk '$1 % 4 != 0' b.trec >b-part.trec
lr-eval -Q "$Q" -r b-part.trec $M -q -f json >b-part.json
lr-eval -Q "$Q" -r a.trec -r b-part.trec $M --test t -c -f tsv >tc.tsv || fail "t test with -c"
ref "t test with -c over every qrels query" rows t holm 1 "$Q" tc.tsv a.json b-part.json
lr-eval -Q "$Q" -r a.trec -r b-part.trec $M --test t -f tsv >tp.tsv || fail "t test, partial run"
ref "t test over the queries both runs have" rows t holm 0 "$Q" tp.tsv a.json b-part.json

# runs of one system (seeds, draws) given as A,B,...: compared by their
# per-query mean, over the queries every run of the list has
lr-eval -Q "$Q" -r a.trec -r b.trec,c.trec -r c.trec,b-part.trec $M --test t -f tsv >sys.tsv ||
    fail "lr-eval --run B,C"
ref "t test of systems of several runs (per-query means)" rows t holm 0 "$Q" sys.tsv \
    a.json b.json+c.json c.json+b-part.json
lr-eval -Q "$Q" -r a.trec,b-part.trec -r b.trec,c.trec $M --test t -c -f tsv >sysc.tsv ||
    fail "lr-eval -c --run A,B"
$PY - sysc.tsv a.json b-part.json b.json c.json "$Q" <<'PYEOF' >ref.log 2>&1 && pass "-c with systems: missing queries score 0 in each run" || fail "-c with systems: $(tail -2 ref.log)"
import json, sys
import numpy as np
from scipy import stats
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])][1:]
a, bp, b, c = (json.load(open(f))["per_query"] for f in sys.argv[2:6])
qids = sorted({l.split()[0] for l in open(sys.argv[6]) if l.strip()})
v = lambda r, q, m: r[q][m] if q in r else 0.0
for row in rows:
    if row[4] == "-":
        continue
    m = row[1]
    x = np.array([(v(a, q, m) + v(bp, q, m)) / 2 for q in qids])
    y = np.array([(v(b, q, m) + v(c, q, m)) / 2 for q in qids])
    assert int(row[2]) == len(qids), row
    assert abs(float(row[4]) - (y - x).mean()) < 1e-6, row
    p = stats.ttest_rel(y, x).pvalue
    assert abs(float(row[5]) - p) <= 1e-6 * max(p, 1e-12) + 1e-12, (row, p)
PYEOF
expect_usage "a list of runs needs a baseline" 'compared with a baseline' lr-eval -Q "$Q" -r a.trec,b.trec -m map
expect_usage "an empty name in a list of runs" 'empty file name' \
    lr-eval -Q "$Q" -r a.trec -r b.trec,,c.trec -m map --test t
expect_error "a missing run in a list" 'nothere.trec' - -- \
    lr-eval -Q "$Q" -r a.trec -r b.trec,nothere.trec -m map --test t
cp b.trec 'b,c.trec'
if lr-eval -Q "$Q" -r a.trec -r 'b,c.trec' -m map --test t -f tsv >comma.tsv && [ "$(wc -l <comma.tsv)" -eq 3 ]; then
    pass "a run file whose name has a comma is that file"
else fail "a run file whose name has a comma"; fi

# the bootstrap interval of the delta
lr-eval -Q "$Q" -r a.trec -r c.trec $M --test t --ci -f tsv >ci.tsv || fail "--ci"
ref "--ci against the normal-theory interval" ci ci.tsv a.json c.json

# the table and JSON formats carry the tsv's values
lr-eval -Q "$Q" -r a.trec -r b.trec -r c.trec $M --test t -f json >t.json
if $PY - t.json t.holm.tsv <<'PYEOF' >ref.log 2>&1; then pass "json carries the tsv's values"; else fail "json and tsv differ: $(tail -2 ref.log)"; fi
import json, sys
rows = json.load(open(sys.argv[1]))["rows"]
tsv = [l.rstrip("\n").split("\t") for l in open(sys.argv[2])][1:]
assert len(rows) == len(tsv)
for j, t in zip(rows, tsv):
    assert j["run"] == t[0] and j["measure"] == t[1] and j["queries"] == int(t[2])
    assert abs(j["mean"] - float(t[3])) < 1e-6
    if t[4] != "-":
        assert abs(j["delta"] - float(t[4])) < 1e-6
        assert abs(j["p"] - float(t[5])) <= 1e-5 * j["p"] + 1e-12
        assert abs(j["p_adjusted"] - float(t[6])) <= 1e-5 * j["p_adjusted"] + 1e-12
        assert j["significant"] == (j["p_adjusted"] < 0.05)
PYEOF
finish
