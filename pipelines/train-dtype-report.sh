#!/bin/sh
# train-dtype-report.sh DIR - DIR/README.md's text, from DIR/notes.md and
# DIR/train-dtype.tsv (pipelines/train-dtype.sh's table), on stdout.
set -eu
d=$1
cat "$d/notes.md"
echo
echo '| run | dtype | seed | nDCG@10 | Recall@100 | nDCG@10 - first run | p | p (Holm) | collection |'
echo '|---|---|---|---|---|---|---|---|---|'
awk -F'\t' 'NR > 1 { printf "| %s | %s | %s | %.3f | %.3f | %s | %s | %s | %s |\n", $1, $2, $3, $7, $8,
    $9 == "-" ? "-" : sprintf("%+.3f", $9), $10 == "-" ? "-" : sprintf("%.2f", $10),
    $11 == "-" ? "-" : sprintf("%.2f", $11), $6 }' "$d/train-dtype.tsv"
printf '\nThe commands: [commands.sh](commands.sh).\n'
