#!/bin/sh
# effir-compare.sh QRELS COLLECTION "LR-EVAL OPTIONS" CONTROL=RUNS MODEL=RUNS...
# One comparison of effir.mk's significance: every MODEL against CONTROL
# on nDCG@10 and Recall@100, by one lr-eval invocation (so Holm's
# correction runs over this group).  RUNS is one run file, or several
# separated by commas (seeds, draws: compared by their per-query mean).
# Prints significance.tsv's rows:
#   model  control  collection  measure  mean  delta  p  p_holm
# the control's own rows first, with control, delta, p and p_holm "-".
set -e
qrels=$1 collection=$2 opts=$3
shift 3
names= args=
for s in "$@"; do
    names="$names ${s%%=*}"
    args="$args --run ${s#*=}"
done
# shellcheck disable=SC2086
lr-eval --qrels "$qrels" $args $opts -m ndcg_cut.10 -m recall.100 --format tsv |
    awk -F'\t' -v OFS='\t' -v names="$names" -v c="$collection" '
        BEGIN { n = split(names, name, " ") }
        NR == 1 { next }
        { i = int((NR - 2) / 2) + 1      # two measures per system, in order
          if (i > n) { print "effir-compare.sh: more rows than systems" > "/dev/stderr"; exit 1 }
          print name[i], (i == 1 ? "-" : name[1]), c, $2, $4, $5, $6, $7 }'
