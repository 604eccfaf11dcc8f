#!/bin/sh
# iterative-drop.sh - drop MLP sublayers one at a time, re-scoring the
# model after each drop (the iterative mode of LLM-Drop): removing one
# sublayer changes the residual stream every later sublayer sees, so the
# next least important MLP is chosen on the model as it now is.
#
#   examples/iterative-drop.sh MODEL.tar CALIB.jsonl N > OUT.tar
#
# MODEL.tar: the model (tar or HF directory); CALIB.jsonl: calibration
# texts (BEIR corpus/queries, training pairs or id<TAB>text); N: how many
# MLP sublayers to drop.  Set LR_SCORE_OPTS for lr-score (for example
# "--max-tokens 8192") and LR_KEEP for lr-cut-depth (for example
# "--keep-first 1 --keep-last 1").
set -eu
if [ $# -ne 3 ]; then
    echo "usage: $0 MODEL CALIB N > OUT.tar" >&2
    exit 2
fi
model=$1 calib=$2 n=$3
case $n in
    '' | *[!0-9]* | 0) echo "$0: N must be a positive integer" >&2; exit 2 ;;
esac
tmp=$(mktemp -d "${TMPDIR:-/tmp}/iterative-drop.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

cur=$model
i=0
while [ "$i" -lt "$n" ]; do
    i=$((i + 1))
    # shellcheck disable=SC2086
    lr-score -q -m "$cur" --calib "$calib" ${LR_SCORE_OPTS:-} -o "$tmp/scores.mp"
    # shellcheck disable=SC2086
    lr-cut-depth --scores "$tmp/scores.mp" --drop-mlp 1 ${LR_KEEP:-} -m "$cur" -o "$tmp/next.tar"
    mv "$tmp/next.tar" "$tmp/model-$i.tar"
    [ "$cur" = "$model" ] || rm -f "$cur"
    cur=$tmp/model-$i.tar
    echo "iterative-drop: step $i of $n done" >&2
done
cat "$cur"
