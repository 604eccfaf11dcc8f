#!/bin/sh
# pipeline.sh - the whole pipeline at toy size, self-contained: a model
# initialised from a config with the demo tokenizer, pretrained (lm),
# fine-tuned (contrastive), scored, cut in depth and width, recovered,
# encoded and evaluated.  Checks that the tools compose and that each
# stage's output is what the next one expects, not the quality.
. "$(dirname "$0")/lib.sh"
cd "$TMP"
toy_config config.json 3
# twelve topics: a document and a query for each; the text to pretrain on
# says each twice, and titled.jsonl gives title-pairs.py its titles
toy_collection 12
toy_topics 12 | awk -F: '{ printf "{\"text\":\"%s %s. %s\"}\n", $1, $2, $2 > "text.jsonl"
    printf "{\"_id\":\"t%d\",\"title\":\"all about the %s\",\"text\":\"%s\"}\n", NR - 1, $1, $2 > "titled.jsonl" }'

run() { "$@" 2>>log || { fail "$*: $(tail -1 log)"; finish; }; }
toy_model base.tar --steps 4 --batch 4 --lr 1e-2
# weak pairs (titles against bodies, as backbone.mk makes them), then pairs
if command -v python3 >/dev/null; then
    python3 "$LR_SRCDIR/pipelines/title-pairs.py" titled.jsonl > weak.jsonl 2>>log || fail "title-pairs.py"
    n=$(grep -c '"query": "all about the' weak.jsonl)
    [ "$n" -eq 12 ] && pass "title-pairs.py: 12 pairs" || fail "title-pairs.py: $n pairs"
    run lr-train -q --threads 1 -m base.tar --train weak.jsonl --steps 2 --batch 4 --lr 1e-3 \
        --max-tokens 32 --seed 1 -o weak.tar
else
    skip_part "python3 absent: title-pairs.py not run"
    cp base.tar weak.tar
fi
run lr-train -q --threads 1 -m weak.tar --train pairs.jsonl --steps 4 --batch 4 --lr 1e-3 \
    --max-tokens 32 --seed 1 -o full.tar
run lr-score -q --threads 1 -m full.tar --calib corpus.jsonl -o scores.mp
run lr-cut-depth -m full.tar --scores scores.mp --drop-mlp 1 -o depth.tar
run lr-score -q --threads 1 -m depth.tar --calib corpus.jsonl -o depth.mp
# the width cut and the recovery as one pipe, as users write it
lr-cut-width -q -m depth.tar --scores depth.mp --keep 0.5 --multiple-of 8 2>>log |
    lr-train -q --threads 1 --train pairs.jsonl --steps 2 --batch 4 --lr 1e-3 --seed 2 -o small.tar 2>>log ||
    fail "cut-width | train: $(tail -1 log)"
for m in full small; do
    run lr-encode -q --threads 1 -m $m.tar --corpus corpus.jsonl -o $m.docs.mp
    run lr-encode -q --threads 1 -m $m.tar --queries queries.jsonl -o $m.queries.mp
    run lr-eval --quiet --qrels qrels.tsv --queries $m.queries.mp --docs $m.docs.mp \
        -m ndcg_cut.10 -m recall.100 --format tsv -o $m.tsv
    # every measure present, a number in [0, 1]
    n=$(awk '$2 == "all" && $3 >= 0 && $3 <= 1' $m.tsv | wc -l)
    [ "$n" -eq 2 ] && pass "$m model evaluates" || fail "$m metrics: $(cat $m.tsv)"
done
# the compressed model has its layout: one MLP dropped, the others halved
layout=$(tar -xOf small.tar lr.json | tr -d ' \n' | grep -o '"layers":\[[^]]*\]')
dropped=$(echo "$layout" | grep -o '"mlp":0' | wc -l)
halved=$(echo "$layout" | grep -o '"mlp":32' | wc -l)
[ "$dropped" -eq 1 ] && [ "$halved" -eq 2 ] && pass "compressed layout" || fail "layout $layout"
# history records the stages in order
hist=$(tar -xOf small.tar lr.json | grep -o '"tool": *"lr-[a-z-]*"' | sed 's/.*"\(lr-[a-z-]*\)"/\1/' | tr '\n' ' ')
case "$hist" in
    *lr-cut-depth*lr-cut-width*lr-train*) pass "history: $hist" ;;
    *) fail "history: $hist" ;;
esac

# the EffiR sweep end to end at toy size: every model, recovery with two
# seeds, two random draws, an equal-parameter pair, subset ranks, the
# comparisons and the README made from them
mkdir -p data/toy/qrels
cp corpus.jsonl queries.jsonl data/toy/ && cp qrels.tsv data/toy/qrels/test.tsv
if make -s -f "$LR_SRCDIR/pipelines/effir.mk" MODEL=full.tar OUT=sweep DATA=data COLLECTIONS=toy \
    CALIB=corpus.jsonl CALIB_TOKENS=2048 MAXTOK=32 DROPS=1 DRAWS="1 2" SEEDS="1 2" KEEPS=0.5 WIDTH_DROP=1 \
    PAIRS=attn1:mlp1 SUBSET_KS=1 SIG_TRIALS=200 TRAIN="--train pairs.jsonl --negatives 0" \
    sweep/results.tsv sweep/significance.tsv sweep/subsets.tsv README >sweep.log 2>&1; then
    pass "effir.mk: the toy sweep"
    [ -n "${LR_TEST_KEEP:-}" ] && cp -r sweep "$LR_TEST_KEEP"
    # 7 variants and 5 recovered models x 2 seeds, one collection
    n=$(($(wc -l <sweep/results.tsv) - 1))
    [ "$n" -eq 17 ] && pass "effir.mk: 17 result rows" || fail "effir.mk: $n result rows"
    # 3 layers: every 1-subset of each kind, the importance choice among them
    n=$(awk -F'\t' 'NR > 1 { n++; c += $4 } END { print n, c }' sweep/subsets.tsv)
    [ "$n" = "6 2" ] && pass "effir.mk: 6 subsets, 2 chosen" || fail "effir.mk subsets: $n"
    # the README carries the results' numbers: full's nDCG@10 and heal-mlp1's
    # mean over its seeds, as results.tsv has them
    full=$(awk -F'\t' '$1 == "full" { printf "%.3f", $4 }' sweep/results.tsv)
    heal=$(awk -F'\t' '$1 ~ /^heal-mlp1-s/ { s += $4; n++ } END { printf "%.3f", s / n }' sweep/results.tsv)
    if grep -q "^| full | 1 | .* | $full |" sweep/README.md && grep -q "^| heal-mlp1 | 2 | .* | $heal" sweep/README.md
    then pass "effir.mk: README made from the results"
    else fail "effir.mk: README lacks full $full or heal-mlp1 $heal"; fi
    grep -q 'Equal parameters, no recovery: mlp1' sweep/README.md && pass "effir.mk: README states the pair" ||
        fail "effir.mk: README has no equal-parameter finding"
    awk -F'\t' 'NR > 1 && $4 == "bm25.py" && $2 > 0 { ok = 1 } END { exit !ok }' sweep/bm25.tsv &&
        pass "effir.mk: BM25 by bm25.py where no run is shipped" || fail "effir.mk bm25.tsv: $(cat sweep/bm25.tsv)"
else
    fail "effir.mk toy sweep: $(grep -v '^lr-' sweep.log | tail -3)"
fi
# bm25.py against the shipped BM25 run of SciFact (another implementation)
if have_shared && command -v python3 >/dev/null; then
    python3 "$LR_SRCDIR/pipelines/bm25.py" "$LR_SHARED/datasets/scifact" > bm25.trec 2>>log
    for r in bm25.trec "$LR_SHARED/datasets/runs/scifact-bm25.trec"; do
        lr-eval --qrels "$LR_SHARED/datasets/scifact/qrels/test.tsv" --run "$r" -m ndcg_cut.10 --format tsv |
            awk '$2 == "all" { print $3 }'
    done > bm25.ndcg
    awk 'NR == 1 { a = $1 } NR == 2 { b = $1 } END { d = a - b; exit !(NR == 2 && d < 0.01 && d > -0.01) }' bm25.ndcg &&
        pass "bm25.py: SciFact nDCG@10 $(paste -sd' ' bm25.ndcg) (ours, shipped)" ||
        fail "bm25.py: SciFact nDCG@10 $(paste -sd' ' bm25.ndcg) (ours, shipped)"
fi
finish
