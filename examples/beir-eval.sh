#!/bin/sh
# beir-eval.sh - encode a BEIR collection with a model and evaluate it.
#
#   examples/beir-eval.sh MODEL BEIR_DIR [lr-encode options...]
#
# MODEL: tar or Hugging Face directory; BEIR_DIR holds corpus.jsonl,
# queries.jsonl and qrels/test.tsv.  Prints nDCG@10, Recall@100, MRR and
# MAP; the embeddings and the run stay in a temporary directory.
set -eu
if [ $# -lt 2 ]; then
    echo "usage: $0 MODEL BEIR_DIR [lr-encode options...]" >&2
    exit 2
fi
model=$1 data=$2
shift 2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/beir-eval.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
lr-encode -m "$model" --corpus "$data/corpus.jsonl" "$@" -o "$tmp/docs.mp"
lr-encode -m "$model" --queries "$data/queries.jsonl" "$@" -o "$tmp/queries.mp"
lr-eval --qrels "$data/qrels/test.tsv" --queries "$tmp/queries.mp" --docs "$tmp/docs.mp"
