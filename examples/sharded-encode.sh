#!/bin/sh
# sharded-encode.sh - encode a corpus in N interleaved shards run side by
# side (here as local processes; on many machines, run one shard on each)
# and join them: shards of one stream concatenate into a valid stream.
#
#   examples/sharded-encode.sh MODEL CORPUS.jsonl N > docs.mp
set -eu
if [ $# -ne 3 ]; then
    echo "usage: $0 MODEL CORPUS N > docs.mp" >&2
    exit 2
fi
model=$1 corpus=$2 n=$3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sharded-encode.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
i=0 pids=
while [ "$i" -lt "$n" ]; do
    lr-encode -q --threads 1 -m "$model" --corpus "$corpus" --shard "$i/$n" -o "$tmp/$i.mp" &
    pids="$pids $!"
    i=$((i + 1))
done
for p in $pids; do
    wait "$p" || { echo "$0: a shard failed" >&2; exit 1; }
done
i=0
while [ "$i" -lt "$n" ]; do
    cat "$tmp/$i.mp"
    i=$((i + 1))
done
