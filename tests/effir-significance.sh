#!/bin/sh
# effir-significance.sh - effir.mk's significance target on a toy sweep:
# the models' runs are made up here (no model is trained or encoded), and
# significance.tsv must compare each with its control (full, or heal-full
# for the recovered models) with Holm's correction per collection and
# control, as the lr-eval comparisons it runs say.
. "${LR_SRCDIR:-$(dirname "$0")/..}/tests/lib.sh"
command -v make >/dev/null || { echo "skip: make absent"; exit 77; }
cd "$TMP" || exit 1
OUT=sweep
MODELS="full heal-full mlp1 heal-mlp1 attn1 heal-attn1 layer1 heal-layer1 rand1 heal-rand1"
mkdir -p data/toy/qrels data/tiny/qrels $OUT/models $OUT/eval $OUT/runs
: >model.tar
# the targets the sweep would have built, oldest first, so make rebuilds none
touch $OUT/scores.mp $OUT/importance.txt
for m in full mlp1 attn1 layer1 rand1; do touch $OUT/models/$m.tar; done
for m in full mlp1 attn1 layer1 rand1; do touch $OUT/models/heal-$m.tar; done
for c in toy tiny; do
    n=$([ $c = toy ] && echo 40 || echo 12)
    awk -v n=$n 'BEGIN { print "query-id\tcorpus-id\tscore"
        for (q = 1; q <= n; q++) for (d = 1; d <= 3; d++) printf "q%d\td%d\t1\n", q, q * 10 + d }' \
        >data/$c/qrels/test.tsv
    seed=1
    for m in $MODELS; do
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
if make -s -f "$LR_SRCDIR/pipelines/effir.mk" OUT=$OUT MODEL=model.tar DATA=data DROPS=1 KEEPS= \
    COLLECTIONS="toy tiny" SIG_TRIALS=2000 significance >make.log 2>&1; then
    pass "make significance"
else
    fail "make significance: $(tail -3 make.log)"
fi
if [ "$(head -n 1 $OUT/significance.tsv)" = "$(printf 'model\tcollection\tmeasure\tmean\tdelta\tp\tp_holm')" ]
then pass "significance.tsv header"; else fail "header: $(head -n 1 $OUT/significance.tsv)"; fi
# one row per model, collection and measure
rows=$(($(wc -l <$OUT/significance.tsv) - 1))
[ "$rows" -eq 40 ] && pass "40 rows" || fail "$rows rows, expected 10 models x 2 collections x 2 measures"
# each row against its control, as lr-eval compares the two runs alone
# (Holm over the group: the same p_holm needs the group; here p is checked)
check_row() {  # model control collection measure
    exp=$(lr-eval --qrels data/$3/qrels/test.tsv --run $OUT/runs/$2.$3.trec --run $OUT/runs/$1.$3.trec \
        --test randomization --trials 2000 --seed 7 -m ndcg_cut.10 -m recall.100 --format tsv |
        awk -F'\t' -v ms=$4 '$2 == ms && $5 != "-" { print $4, $5, $6 }')
    got=$(awk -F'\t' -v m=$1 -v c=$3 -v ms=$4 '$1 == m && $2 == c && $3 == ms { print $4, $5, $6 }' \
        $OUT/significance.tsv)
    if [ -n "$exp" ] && [ "$exp" = "$got" ]; then pass "$1 against $2 on $3, $4"
    else fail "$1 against $2 on $3, $4: '$got', expected '$exp'"; fi
}
check_row mlp1 full toy ndcg_cut_10
check_row heal-full full toy recall_100
check_row heal-mlp1 heal-full toy ndcg_cut_10
check_row heal-rand1 heal-full tiny recall_100
check_row attn1 full tiny ndcg_cut_10
# the controls' rows
if awk -F'\t' '$1 == "full" && ($5 != "-" || $6 != "-" || $7 != "-") { bad = 1 } $1 == "full" { n++ }
    END { exit bad || n != 4 }' $OUT/significance.tsv; then pass "full is the control's row"
else fail "full's rows: $(grep '^full' $OUT/significance.tsv)"; fi
# Holm over each group: 5 models x 2 measures against full, 4 x 2 against heal-full
for g in "full mlp1 attn1 layer1 rand1 heal-full" "heal-full heal-mlp1 heal-attn1 heal-layer1 heal-rand1"; do
    set -- $g
    base=$1
    shift
    runs=
    for m in "$@"; do runs="$runs --run $OUT/runs/$m.toy.trec"; done
    exp=$(lr-eval --qrels data/toy/qrels/test.tsv --run $OUT/runs/$base.toy.trec $runs --test randomization \
        --trials 2000 --seed 7 -m ndcg_cut.10 -m recall.100 --format tsv |
        awk -F'\t' 'NR > 1 && $5 != "-" { n = $1; sub(/.*\//, "", n); sub(/\.toy\.trec$/, "", n); print n, $2, $7 }' | sort)
    got=$(for m in "$@"; do
        awk -F'\t' -v m=$m '$1 == m && $2 == "toy" { print $1, $3, $7 }' $OUT/significance.tsv; done | sort)
    if [ -n "$exp" ] && [ "$exp" = "$got" ]; then pass "Holm over the models against $base"
    else fail "Holm against $base: '$got', expected '$exp'"; fi
done
finish
