#!/bin/sh
# compare.sh - lr-eval comparing runs: a paired t test worked out by hand,
# the randomization test on a case with a known exact p, the dense
# search's run beside run files, the table's marks, and bad input.
. "${LR_SRCDIR:-$(dirname "$0")/..}/tests/lib.sh"
MKEMB="$LR_BIN/../tests/mkemb"
cd "$TMP" || exit 1

# q1..q3 judge d1; the baseline finds it at ranks 1, 2, 3 (recip_rank 1,
# 1/2, 1/3), the other run always first: d = 0, 1/2, 2/3
printf 'q1 0 d1 1\nq2 0 d1 1\nq3 0 d1 1\nq4 0 d1 1\n' >qrels
cat >a.trec <<'EOF2'
q1 Q0 d1 1 3 a
q1 Q0 d2 2 2 a
q2 Q0 d2 1 3 a
q2 Q0 d1 2 2 a
q3 Q0 d2 1 3 a
q3 Q0 d3 2 2 a
q3 Q0 d1 3 1 a
EOF2
cat >b.trec <<'EOF2'
q1 Q0 d1 1 3 b
q2 Q0 d1 1 3 b
q3 Q0 d1 1 3 b
EOF2
printf 'q4 Q0 d1 1 3 c\n' >c.trec
printf 'q3 Q0 d1 1 3 e\nq4 Q0 d1 1 3 e\n' >e.trec

# t = mean(d) / (sd(d) / sqrt(3)) on 2 degrees of freedom, whose two-sided
# tail is 1 - t / sqrt(t^2 + 2)
expect=$(awk 'BEGIN { d[1] = 0; d[2] = 1/2; d[3] = 2/3
    for (i = 1; i <= 3; i++) m += d[i] / 3
    for (i = 1; i <= 3; i++) ss += (d[i] - m)^2
    t = m / sqrt(ss / 2 / 3); p = 1 - t / sqrt(t * t + 2)
    printf "b.trec\trecip_rank\t3\t1.000000\t%.6f\t%.6g\t%.6g\n", m, p, p }')
lr-eval -Q qrels -r a.trec -r b.trec -m recip_rank --test t -f tsv >t.tsv
printf 'run\tmeasure\tqueries\tmean\tdelta\tp\tp_adjusted\na.trec\trecip_rank\t3\t0.611111\t-\t-\t-\n%s\n' \
    "$expect" >t.expected
if cmp -s t.tsv t.expected; then pass "t test by hand, tsv layout"
else fail "t test by hand: $(diff t.expected t.tsv)"; fi

# randomization: 4 of the 8 sign assignments reach |mean| >= 7/18, p = 1/2
p=$(lr-eval -Q qrels -r a.trec -r b.trec -m recip_rank --trials 4000 --seed 9 -f tsv | awk 'NR == 3 { print $6 }')
if awk -v p="$p" 'BEGIN { exit !(p > 0.5 - 0.04 && p < 0.5 + 0.04) }'; then pass "randomization p $p (exact 1/2)"
else fail "randomization p $p, exact 1/2"; fi
p2=$(lr-eval -Q qrels -r a.trec -r b.trec -m recip_rank --trials 4000 --seed 9 -f tsv | awk 'NR == 3 { print $6 }')
[ "$p" = "$p2" ] && pass "same seed, same p" || fail "same seed: $p then $p2"

# the table marks rows under --alpha, and says what it did
lr-eval -Q qrels -r a.trec -r b.trec -m recip_rank --test t --alpha 0.2 >table
if grep -q '^b\.trec .* \*$' table && grep -q 'paired t test' table && ! grep -q '^a\.trec.*\*' table
then pass "table marks significant rows"; else fail "table: $(cat table)"; fi
lr-eval -Q qrels -r a.trec -r b.trec -m recip_rank --test t >table
if grep -q '\*$' table; then fail "table marks a row above alpha"; else pass "no mark above alpha"; fi

# -c: every qrels query (q4 scores 0 in both runs), the baseline's mean over 4
lr-eval -Q qrels -r a.trec -r b.trec -m recip_rank --test t -c -f tsv >c.tsv
if awk -F'\t' 'NR == 2 && $3 == 4 && $4 == "0.458333" { a = 1 } NR == 3 && $3 == 4 && $4 == "0.750000" { b = 1 }
    END { exit !(a && b) }' c.tsv; then pass "-c compares every qrels query"
else fail "-c: $(cat c.tsv)"; fi

# --ci adds the interval; identical runs: delta 0, p 1, interval [0, 0]
lr-eval -Q qrels -r b.trec -r b.trec -m recip_rank --test wilcoxon --ci -f tsv >ci.tsv
if [ "$(sed -n 1p ci.tsv)" = "$(printf 'run\tmeasure\tqueries\tmean\tdelta\tp\tp_adjusted\tci_low\tci_high')" ] &&
   [ "$(sed -n 3p ci.tsv | cut -f5-)" = "$(printf '0.000000\t1\t1\t0.000000\t0.000000')" ]
then pass "--ci, identical runs"; else fail "--ci: $(cat ci.tsv)"; fi

# the dense search's run comes after the run files, named by --docs
printf 'd1 1 0\nd2 0 1\nd3 0.5 0.5\n' | "$MKEMB" 2 passage m1 >docs.mp
printf 'q1 1 0\nq2 1 0\nq3 1 0\n' | "$MKEMB" 2 query m1 >queries.mp
lr-eval --quiet -Q qrels -r a.trec -r b.trec --queries queries.mp --docs docs.mp -m recip_rank \
    --test t -f tsv >dense.tsv
if [ "$(cut -f1,3,4 dense.tsv | tail -n 1)" = "$(printf 'docs.mp\t3\t1.000000')" ] &&
   [ "$(wc -l <dense.tsv)" -eq 4 ]; then pass "dense run compared after the run files"
else fail "dense and runs: $(cat dense.tsv)"; fi

# JSON carries the same rows
lr-eval -Q qrels -r a.trec -r b.trec -m recip_rank --test t -f json >t.json
if grep -q '"test": "t"' t.json && grep -q '"p_adjusted": 0.19' t.json && grep -q '"significant": false' t.json
then pass "json"; else fail "json: $(cat t.json)"; fi

# bad input: one line, non-zero exit, no output
expect_error "disjoint query sets" "c.trec and a.trec have no judged query in common" out -- \
    lr-eval -Q qrels -r a.trec -r b.trec -r c.trec -o out
expect_error "disjoint query sets with -c" "c.trec and a.trec have no judged query in common" out -- \
    lr-eval -Q qrels -r a.trec -r c.trec -c -o out
expect_error "one query in common" "e.trec and a.trec have only one judged query in common" out -- \
    lr-eval -Q qrels -r a.trec -r e.trec --test t -o out
printf 'q1 Q0 d1 1 x b\n' >bad.trec
expect_error "bad line in a later run" "bad.trec: line 1" out -- \
    lr-eval -Q qrels -r a.trec -r bad.trec -o out
expect_error "missing run" "nothere.trec" out -- lr-eval -Q qrels -r a.trec -r nothere.trec -o out
expect_usage "single run with --test" "--test compares runs: give two or more" lr-eval -Q qrels -r a.trec --test t
expect_usage "single run with --ci" "--ci compares runs" lr-eval -Q qrels -r a.trec --ci
expect_usage "unknown test" "--test: 'ttest' is not t, randomization or wilcoxon" \
    lr-eval -Q qrels -r a.trec -r b.trec --test ttest
expect_usage "unknown correction" "--correction: 'fdr' is not holm, bonferroni or none" \
    lr-eval -Q qrels -r a.trec -r b.trec --correction fdr
expect_usage "--trials 0" "--trials" lr-eval -Q qrels -r a.trec -r b.trec --trials 0
expect_usage "--alpha 1.5" "--alpha" lr-eval -Q qrels -r a.trec -r b.trec --alpha 1.5
expect_usage "-q with two runs" "-q evaluates one run" lr-eval -Q qrels -r a.trec -r b.trec -q
expect_usage "trec_eval format with two runs" "trec_eval evaluates one run" \
    lr-eval -Q qrels -r a.trec -r b.trec -f trec_eval
finish
