#!/bin/sh
# effir-subsets.sh OUT MODEL IMPORTANCE DATASET "KS" ALL SAMPLES SEED "ENCODE OPTIONS"
# Where the importance choice ranks among other choices: for each k of
# KS and each kind (mlp, attn), drop k-subsets of that kind's sublayers
# (no recovery) and evaluate on one BEIR collection.  Every k-subset when
# there are at most ALL of them, else SAMPLES distinct ones drawn at
# random (seeded by SEED, k and the kind) plus the importance choice (the
# k lowest importances of IMPORTANCE, as lr-cut-depth --drop-mlp/--drop-attn
# choose).  Each subset's row is kept in OUT/subsets/ as it is done, so an
# interrupted run resumes; OUT/subsets.tsv collects them:
#   kind  k  layers  chosen  ndcg_cut_10  recall_100
set -e
out=$1 model=$2 imp=$3 data=$4 ks=$5 all=$6 samples=$7 seed=$8 enc=$9
dir=$out/subsets
mkdir -p "$dir"
for kind in mlp attn; do
    col=$([ $kind = mlp ] && echo 4 || echo 2)
    # the layers that still have this sublayer, least important first
    present=$(awk -v c=$col '$1 ~ /^[0-9]+$/ && $c != "-" { print $c, $1 }' "$imp" | sort -g | awk '{ print $2 }')
    n=$(echo "$present" | wc -w)
    for k in $ks; do
        [ "$k" -lt "$n" ] || { echo "effir-subsets.sh: k=$k: only $n $kind sublayers" >&2; exit 1; }
        chosen=$(echo "$present" | head -n "$k" | sort -n | paste -sd, -)
        # every subset, or a sample: awk enumerates combinations in order,
        # or draws distinct ones; the chosen one is always in the list
        echo "$present" | sort -n | awk -v k="$k" -v all="$all" -v m="$samples" -v chosen="$chosen" \
            -v seed="$seed$k$col" '
            { l[++n] = $1 }
            function binom(n, k,   r, i) { r = 1; for (i = 1; i <= k; i++) r = r * (n - k + i) / i; return r }
            function comb(start, depth, s,   i) {
                if (depth == k) { print substr(s, 2); return }
                for (i = start; i <= n; i++) comb(i + 1, depth + 1, s "," l[i])
            }
            END {
                if (binom(n, k) <= all) { comb(1, 0, ""); exit }
                srand(seed); seen[chosen] = 1; print chosen
                for (got = 0; got < m; ) {
                    for (i = 1; i <= n; i++) { p[i] = l[i]; r[i] = rand() }
                    # k smallest random keys, reported in layer order
                    s = ""; for (i = 1; i <= n; i++) { c = 0
                        for (j = 1; j <= n; j++) if (r[j] < r[i]) c++
                        if (c < k) s = s "," p[i] }
                    s = substr(s, 2)
                    if (!(s in seen)) { seen[s] = 1; print s; got++ }
                }
            }' > "$dir/$kind.$k.list"
        while read -r layers; do
            row=$dir/$kind.$k.$layers.tsv
            [ -s "$row" ] && continue
            tmp=$dir/tmp.$$
            lr-cut-depth -m "$model" --$kind-layers "$layers" -o "$tmp.tar"
            # shellcheck disable=SC2086
            lr-encode $enc -q -m "$tmp.tar" --corpus "$data/corpus.jsonl" -o "$tmp.docs.mp"
            # shellcheck disable=SC2086
            lr-encode $enc -q -m "$tmp.tar" --queries "$data/queries.jsonl" -o "$tmp.queries.mp"
            lr-eval --quiet --qrels "$data/qrels/test.tsv" --queries "$tmp.queries.mp" --docs "$tmp.docs.mp" \
                -k 100 -m ndcg_cut.10 -m recall.100 --format tsv -o "$tmp.eval"
            printf '%s\t%s\t%s\t%s\t%s\t%s\n' $kind "$k" "$layers" "$([ "$layers" = "$chosen" ] && echo 1 || echo 0)" \
                "$(awk '$1 == "ndcg_cut_10" && $2 == "all" { print $3 }' "$tmp.eval")" \
                "$(awk '$1 == "recall_100" && $2 == "all" { print $3 }' "$tmp.eval")" > "$row.tmp"
            mv "$row.tmp" "$row"
            rm -f "$tmp.tar" "$tmp.docs.mp" "$tmp.queries.mp" "$tmp.eval"
        done < "$dir/$kind.$k.list"
    done
done
{
    printf 'kind\tk\tlayers\tchosen\tndcg_cut_10\trecall_100\n'
    for kind in mlp attn; do for k in $ks; do
        while read -r layers; do cat "$dir/$kind.$k.$layers.tsv"; done < "$dir/$kind.$k.list"
    done; done
} > "$out/subsets.tsv.tmp"
mv "$out/subsets.tsv.tmp" "$out/subsets.tsv"
