#!/bin/sh
# readme.sh - the README's headline pipeline, run as written (the first
# sh block of README.md) on a toy model and collection; scores of an
# ancestor are accepted by lr-cut-width, scores of an unrelated model are
# not, and a failed stage leaves no output file.
. "$(dirname "$0")/lib.sh"
tok=$LR_SRCDIR/pipelines/demo/tokenizer.json
cd "$TMP"
# six layers: --drop-mlp 4 leaves two MLPs for --keep 0.5 to halve
toy_config config.json 6
toy_collection 8
mkdir qrels && mv qrels.tsv qrels/test.tsv
toy_model model.tar --steps 2 --batch 4

# 1. the README's block, as written
awk '/^```sh$/ { n++; next } /^```$/ { if (n == 1) exit } n == 1' "$LR_SRCDIR/README.md" > readme-block.sh
grep -q 'lr-cut-width --scores scores.mp' readme-block.sh || fail "README block not found"
if sh -e readme-block.sh > eval.out 2> readme.err; then
    pass "README pipeline runs"
else
    fail "README pipeline: $(tail -1 readme.err)"
fi
awk 'NR == 1 && $5 == "ndcg_cut_10" { h = 1 } h && $1 == "all" && $5 >= 0 && $5 <= 1 { ok = 1 } END { exit !ok }' eval.out && pass "README pipeline prints measures" ||
    fail "no measures: $(head -c 300 eval.out)"
n=$(grep -c 'lr-cut-width: scores.mp: scores of an ancestor of stdin (1 stage back)' readme.err)
[ "$n" -eq 1 ] && pass "ancestor scores: said once" || fail "ancestor note $n times: $(cat readme.err)"
layout=$(tar -xOf small.tar lr.json | tr -d ' \n' | grep -o '"layers":\[[^]]*\]')
[ "$(echo "$layout" | grep -o '"mlp":0' | wc -l)" -eq 4 ] &&
    [ "$(echo "$layout" | grep -o '"mlp":32' | wc -l)" -eq 2 ] &&
    pass "README pipeline: 4 MLPs dropped, 2 halved" || fail "layout $layout"

# 2. the surviving MLPs keep the channels the ancestor's scores rank
# highest: the same as cutting the uncut model with those scores
lr-cut-width -q --scores scores.mp --keep 0.5 < model.tar > direct.tar 2>>log
lr-cut-depth --scores scores.mp --drop-mlp 4 < model.tar 2>>log |
    lr-cut-width -q --scores scores.mp --keep 0.5 > piped.tar 2>>log
kept() { tar -xOf "$1" lr.json | tr -d ' \n' | grep -o '"kept_channels":{[^}]*}' | grep -o '"[0-9]*":\[[0-9,]*\]'; }
kept direct.tar > direct.kc
kept piped.tar > piped.kc
[ -s piped.kc ] && [ "$(grep -cxFf piped.kc direct.kc)" -eq 2 ] &&
    pass "ancestor scores: same channels as on the uncut model" || fail "kept $(cat piped.kc)"
# two width cuts with the full-width scores keep what one cut to a
# quarter keeps (the ranking is the same; full-width scores are mapped
# through kept_channels)
lr-cut-width -q --scores scores.mp --keep 0.25 < model.tar > quarter.tar 2>>log
lr-cut-width -q --scores scores.mp --keep 0.5 < direct.tar > twice.tar 2>>log
kept quarter.tar > quarter.kc
kept twice.tar > twice.kc
[ -s twice.kc ] && cmp -s quarter.kc twice.kc && pass "ancestor scores through kept_channels" ||
    fail "twice: $(cat twice.kc) quarter: $(cat quarter.kc)"
# scores of the half-width model cannot be mapped onto a model narrowed since
lr-score -q -m direct.tar --calib corpus.jsonl -o half.mp 2>>log
lr-cut-width -q --scores half.mp --keep 0.5 < direct.tar > half2.tar 2>>log
expect_error "ancestor narrowed since it was scored" \
    'half.mp: layer 0: the MLP was narrowed from 32 to 16 channels since it was scored' \
    out.tar -- lr-cut-width --scores half.mp --keep 0.5 -m half2.tar -o out.tar

# 3. scores of an unrelated model are refused; no stage leaves a file
lr-train -q --threads 1 --objective lm --init config.json --tokenizer "$tok" \
    --train text.jsonl --steps 2 --batch 4 --seed 2 -o other.tar 2>>log
lr-score -q -m other.tar --calib corpus.jsonl -o other.mp 2>>log
rm -f small2.tar cut.tar
lr-cut-depth --scores scores.mp --drop-mlp 4 < model.tar 2>>log |
    lr-cut-width --scores other.mp --keep 0.5 2>unrelated.err |
    lr-train -q --train pairs.jsonl -o small2.tar 2>>log &&
    fail "unrelated scores: the pipeline succeeded"
grep -q 'other.mp: scores of model [0-9a-f]*, but stdin is model [0-9a-f]*, which does not descend from it: score the model being cut' unrelated.err &&
    pass "unrelated scores refused" || fail "unrelated: $(cat unrelated.err)"
[ -e small2.tar ] && fail "a failed pipeline left small2.tar" || pass "a failed pipeline leaves no -o file"
expect_error "unrelated scores, -o" 'other.mp: scores of model' cut.tar -- \
    lr-cut-width --scores other.mp --keep 0.5 -m model.tar -o cut.tar
[ -e cut.tar ] && fail "cut.tar left behind" || pass "no cut.tar"
finish
