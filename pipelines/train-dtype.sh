#!/bin/sh
# train-dtype.sh - does lr-train --dtype bf16 train as good a retriever as
# f32?  Fine-tunes one starting model once per run (a name, a dtype and a
# seed; the same lr-train options otherwise), evaluates each on BEIR
# collections (encoded in f32), and compares every run with the first by
# lr-eval's paired randomization test (Holm over the runs, per
# collection).  A second seed in f32 is the control: how far two f32
# trainings differ by the seed alone.
#
#   sh pipelines/train-dtype.sh OUT START "LR-TRAIN OPTIONS" NAME:DTYPE:SEED...
#
#   OUT          working directory: OUT/NAME.tar, .log (lr-train --log),
#                .time (seconds of training), runs/, perquery/
#   START        the model to fine-tune (tar or directory)
#   SHARED=DIR   the shared data (default ../shared); COLLECTIONS (default
#                scifact), MAXTOK (texts at encoding, default 128), THREADS
# A model already in OUT is reused (rerunning resumes), so a model trained
# elsewhere with the same options can stand for a run.  Writes
# OUT/train-dtype.tsv:
#   run dtype seed train_s train_tokens_per_s collection ndcg_cut_10 recall_100 delta_ndcg p p_holm
set -eu
[ $# -ge 4 ] || { echo "usage: train-dtype.sh OUT START \"LR-TRAIN OPTIONS\" NAME:DTYPE:SEED..." >&2; exit 2; }
out=$1 start=$2 opts=$3
shift 3
data=${SHARED:-../shared}/datasets
cols=${COLLECTIONS:-scifact}
maxtok=${MAXTOK:-128}
T=${THREADS:+--threads $THREADS}
mkdir -p "$out/runs" "$out/perquery"
specs=$*
for spec in "$@"; do
    name=${spec%%:*} rest=${spec#*:}
    dtype=${rest%%:*} seed=${rest#*:}
    if [ ! -s "$out/$name.tar" ]; then
        t0=$(date +%s.%N)
        # shellcheck disable=SC2086
        lr-train $T -q -m "$start" $opts --dtype "$dtype" --seed "$seed" \
            --log "$out/$name.log" -o "$out/$name.part.tar"
        awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f\n", b - a }' > "$out/$name.time"
        mv "$out/$name.part.tar" "$out/$name.tar"
    fi
    for c in $cols; do
        [ -s "$out/runs/$name.$c.trec" ] && continue
        # shellcheck disable=SC2086
        lr-encode $T -q -m "$out/$name.tar" --corpus "$data/$c/corpus.jsonl" --max-tokens "$maxtok" -o "$out/$name.$c.docs.mp"
        # shellcheck disable=SC2086
        lr-encode $T -q -m "$out/$name.tar" --queries "$data/$c/queries.jsonl" --max-tokens "$maxtok" -o "$out/$name.$c.queries.mp"
        lr-eval --quiet --qrels "$data/$c/qrels/test.tsv" --queries "$out/$name.$c.queries.mp" \
            --docs "$out/$name.$c.docs.mp" -k 1000 --write-run "$out/runs/$name.$c.trec.tmp" --tag "$name" \
            -m ndcg_cut.10 -m recall.100 -q --format tsv -o "$out/perquery/$name.$c.tsv"
        rm -f "$out/$name.$c.docs.mp" "$out/$name.$c.queries.mp"
        mv "$out/runs/$name.$c.trec.tmp" "$out/runs/$name.$c.trec"
    done
done
{
    printf 'run\tdtype\tseed\ttrain_s\ttrain_tokens_per_s\tcollection\tndcg_cut_10\trecall_100\tdelta_ndcg\tp\tp_holm\n'
    for c in $cols; do
        set --
        for spec in $specs; do set -- "$@" --run "$out/runs/${spec%%:*}.$c.trec"; done
        lr-eval --quiet --qrels "$data/$c/qrels/test.tsv" "$@" -m ndcg_cut.10 -m recall.100 \
            --test randomization --trials 10000 --seed 7 --correction holm --format tsv > "$out/sig.$c.tsv"
        for spec in $specs; do
            n=${spec%%:*} rest=${spec#*:}
            secs=$(cat "$out/$n.time" 2>/dev/null || echo NA)
            toks=$(awk '{ s += $5 } END { print s + 0 }' "$out/$n.log" 2>/dev/null || echo 0)
            rate=$(awk -v t="$toks" -v s="$secs" 'BEGIN { if (s + 0 > 0 && t > 0) printf "%.1f", t / s; else print "NA" }')
            awk -F'\t' -v run="$out/runs/$n.$c.trec" -v n="$n" -v d="${rest%%:*}" -v sd="${rest#*:}" \
                -v secs="$secs" -v rate="$rate" -v c="$c" '
                $1 == run && $2 == "ndcg_cut_10" { nd = $4; dl = $5; p = $6; ph = $7 }
                $1 == run && $2 == "recall_100" { rc = $4 }
                END { printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n, d, sd, secs, rate, c, nd, rc, dl, p, ph }' \
                "$out/sig.$c.tsv"
        done
    done
} > "$out/train-dtype.tsv.tmp"
mv "$out/train-dtype.tsv.tmp" "$out/train-dtype.tsv"
cat "$out/train-dtype.tsv"
