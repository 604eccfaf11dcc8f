#!/bin/sh
# effir-significance.sh - effir.mk's significance target on a toy sweep:
# the models' runs are made up here (no model is trained or encoded), and
# significance.tsv must compare each model with its control, a model of
# several runs (seeds of heal-M, draws of randK) by its per-query mean,
# with Holm's correction per group, as the lr-eval comparisons it runs say.
. "${LR_SRCDIR:-$(dirname "$0")/..}/tests/lib.sh"
command -v make >/dev/null || { echo "skip: make absent"; exit 77; }
cd "$TMP" || exit 1
OUT=sweep
BASE="full mlp1 attn1 layer1 rand1-d1 rand1-d2"
HEALED="heal-full-s1 heal-full-s2 heal-mlp1-s1 heal-mlp1-s2 heal-attn1-s1 heal-attn1-s2 heal-layer1-s1 heal-layer1-s2"
MAKEVARS="OUT=$OUT MODEL=model.tar DATA=data DROPS=1 DRAWS='1 2' SEEDS='1 2' KEEPS= PAIRS=attn1:mlp1"
mkdir -p data/toy/qrels data/tiny/qrels $OUT/models $OUT/eval $OUT/runs
: >model.tar
# the targets the sweep would have built, oldest first, so make rebuilds none
touch $OUT/scores.mp $OUT/importance.txt
for m in $BASE $HEALED; do touch $OUT/models/$m.tar; done
for c in toy tiny; do
    n=$([ $c = toy ] && echo 40 || echo 12)
    awk -v n=$n 'BEGIN { print "query-id\tcorpus-id\tscore"
        for (q = 1; q <= n; q++) for (d = 1; d <= 3; d++) printf "q%d\td%d\t1\n", q, q * 10 + d }' \
        >data/$c/qrels/test.tsv
    seed=1
    for m in $BASE $HEALED; do
        seed=$((seed + 1))
        # the model finds each query's relevant documents at random ranks
        awk -v n=$n -v s=$seed -v m=$m 'BEGIN { srand(s)
            for (q = 1; q <= n; q++) for (r = 1; r <= 20; r++) {
                d = rand() < 0.3 ? q * 10 + 1 + int(rand() * 3) : 1000 + int(rand() * 500)
                if (!seen[q, d]++) printf "q%d Q0 d%d %d %.4f %s\n", q, d, r, 20 - r + rand() / 10, m } }' \
            >$OUT/runs/$m.$c.trec
        touch $OUT/eval/$m.$c.tsv
    done
done
if eval make -s -f "$LR_SRCDIR/pipelines/effir.mk" $MAKEVARS COLLECTIONS=\"toy tiny\" SIG_TRIALS=2000 \
    significance >make.log 2>&1; then
    pass "make significance"
else
    fail "make significance: $(tail -3 make.log)"
fi
if [ "$(head -n 1 $OUT/significance.tsv)" = "$(printf 'model\tcontrol\tcollection\tmeasure\tmean\tdelta\tp\tp_holm')" ]
then pass "significance.tsv header"; else fail "header: $(head -n 1 $OUT/significance.tsv)"; fi
# per collection and measure: full's group 6 systems (control, mlp1, attn1,
# layer1, rand1, heal-full), heal-full's 4, the pair attn1:mlp1 and its
# recovered pair 2 each, chance (rand1 against mlp1) 2: 16
rows=$(($(wc -l <$OUT/significance.tsv) - 1))
[ "$rows" -eq 64 ] && pass "64 rows" || fail "$rows rows, expected 16 x 2 collections x 2 measures"
runs() {  # the runs of a system, as lr-eval --run takes them
    case $1 in
    heal-*) echo "$OUT/runs/$1-s1.$2.trec,$OUT/runs/$1-s2.$2.trec" ;;
    rand*) echo "$OUT/runs/$1-d1.$2.trec,$OUT/runs/$1-d2.$2.trec" ;;
    *) echo "$OUT/runs/$1.$2.trec" ;;
    esac
}
# each row against its control, as lr-eval compares the two systems alone
# (Holm over the group: the same p_holm needs the group; here p is checked)
check_row() {  # model control collection measure
    exp=$(lr-eval --qrels data/$3/qrels/test.tsv --run "$(runs $2 $3)" --run "$(runs $1 $3)" \
        --test randomization --trials 2000 --seed 7 -m ndcg_cut.10 -m recall.100 --format tsv |
        awk -F'\t' -v ms=$4 '$2 == ms && $5 != "-" { print $4, $5, $6 }')
    got=$(awk -F'\t' -v m=$1 -v k=$2 -v c=$3 -v ms=$4 '$1 == m && $2 == k && $3 == c && $4 == ms { print $5, $6, $7 }' \
        $OUT/significance.tsv)
    if [ -n "$exp" ] && [ "$exp" = "$got" ]; then pass "$1 against $2 on $3, $4"
    else fail "$1 against $2 on $3, $4: '$got', expected '$exp'"; fi
}
check_row mlp1 full toy ndcg_cut_10
check_row heal-full full toy recall_100
check_row heal-mlp1 heal-full toy ndcg_cut_10
check_row heal-layer1 heal-full tiny recall_100
check_row attn1 full tiny ndcg_cut_10
check_row rand1 full toy ndcg_cut_10
check_row mlp1 attn1 toy ndcg_cut_10
check_row heal-mlp1 heal-attn1 tiny recall_100
check_row mlp1 rand1 tiny ndcg_cut_10
# the seeds are averaged: the system is not its first seed alone
one=$(lr-eval --qrels data/toy/qrels/test.tsv --run "$(runs heal-full toy)" --run $OUT/runs/heal-mlp1-s1.toy.trec \
    --test randomization --trials 2000 --seed 7 -m ndcg_cut.10 --format tsv | awk -F'\t' '$5 != "-" { print $4 }')
got=$(awk -F'\t' '$1 == "heal-mlp1" && $3 == "toy" && $4 == "ndcg_cut_10" { print $5 }' $OUT/significance.tsv)
[ -n "$one" ] && [ "$one" != "$got" ] && pass "heal-mlp1 is the mean of its seeds, not seed 1" ||
    fail "heal-mlp1's mean $got equals seed 1's $one"
# the controls' rows
if awk -F'\t' '$1 == "full" && $2 == "-" && ($6 != "-" || $7 != "-" || $8 != "-") { bad = 1 }
    $1 == "full" && $2 == "-" { n++ } END { exit bad || n != 4 }' $OUT/significance.tsv; then
    pass "full's control rows"
else fail "full's rows: $(grep '^full' $OUT/significance.tsv)"; fi
# Holm over each group
for g in "full mlp1 attn1 layer1 rand1 heal-full" "heal-full heal-mlp1 heal-attn1 heal-layer1" "rand1 mlp1"; do
    set -- $g
    base=$1
    shift
    args=
    for m in "$@"; do args="$args --run $(runs $m toy)"; done
    exp=$(lr-eval --qrels data/toy/qrels/test.tsv --run "$(runs $base toy)" $args --test randomization \
        --trials 2000 --seed 7 -m ndcg_cut.10 -m recall.100 --format tsv | awk -F'\t' 'NR > 1 && $5 != "-" { print $2, $7 }')
    got=$(for m in "$@"; do
        awk -F'\t' -v m=$m -v b=$base '$1 == m && $2 == b && $3 == "toy" { print $4, $8 }' $OUT/significance.tsv; done)
    if [ -n "$exp" ] && [ "$exp" = "$got" ]; then pass "Holm over the models against $base"
    else fail "Holm against $base: '$got', expected '$exp'"; fi
done
finish
