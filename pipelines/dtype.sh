#!/bin/sh
# dtype.sh - retrieval quality and speed of every lr-encode --dtype on a
# trained retriever: encodes the collection and the queries with f32,
# bf16 and int8 (those the CPU runs), evaluates each with lr-eval and
# prints nDCG@10, Recall@100, its difference to f32 and the encoding
# rate.  A difference of nDCG@10 above 0.005 makes the script fail.
#
#   LR_WORK=DIR    a demo work directory (default: demo-work), whose
#                  full.tar and data/ are used unless these are set:
#   LR_MODEL=FILE  the retriever
#   LR_DATA=DIR    a BEIR directory (corpus.jsonl, queries.jsonl,
#                  qrels/test.tsv)
#   LR_THREADS=N   threads (default: all cores)
set -eu
work=${LR_WORK:-demo-work}
model=${LR_MODEL:-$work/full.tar}
data=${LR_DATA:-$work/data}
T=${LR_THREADS:+--threads $LR_THREADS}
if [ ! -e "$model" ] || [ ! -s "$data/corpus.jsonl" ]; then
    echo "dtype.sh: $model or $data/corpus.jsonl missing: run the demo first (make demo)" >&2
    exit 1
fi
out=$work/dtype
mkdir -p "$out"
metric() { awk -v m="$2" '$1 == m && $2 == "all" { print $3 }' "$1"; }
docs=$(wc -l <"$data/corpus.jsonl")
printf '%-6s %9s %10s %10s %9s\n' dtype nDCG@10 Recall@100 "vs f32" "docs/s"
status=0
for dt in f32 bf16 int8; do
    if ! lr-encode -q $T -m "$model" --dtype "$dt" --queries "$data/queries.jsonl" \
        -o "$out/$dt-queries.mp" 2>"$out/$dt.err"; then
        grep -q 'lacks' "$out/$dt.err" && { printf '%-6s not run by this CPU\n' "$dt"; continue; }
        cat "$out/$dt.err" >&2
        exit 1
    fi
    t0=$(date +%s.%N)
    lr-encode -q $T -m "$model" --dtype "$dt" --corpus "$data/corpus.jsonl" -o "$out/$dt-docs.mp"
    t1=$(date +%s.%N)
    lr-eval --qrels "$data/qrels/test.tsv" --queries "$out/$dt-queries.mp" --docs "$out/$dt-docs.mp" \
        -m ndcg_cut.10 -m recall.100 --format tsv >"$out/$dt-metrics.tsv"
    n=$(metric "$out/$dt-metrics.tsv" ndcg_cut_10)
    [ "$dt" = f32 ] && ref=$n
    d=$(awk -v a="$n" -v b="$ref" 'BEGIN { printf "%+.4f", a - b }')
    printf '%-6s %9s %10s %10s %9.1f\n' "$dt" "$n" "$(metric "$out/$dt-metrics.tsv" recall_100)" "$d" \
        "$(awk -v d="$docs" -v a="$t0" -v b="$t1" 'BEGIN { print d / (b - a) }')"
    awk -v d="$d" 'BEGIN { exit !(d > 0.005 || d < -0.005) }' && status=1
done
[ "$status" = 0 ] || echo "dtype.sh: nDCG@10 moved by more than 0.005 from f32" >&2
exit "$status"
