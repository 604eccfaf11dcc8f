#!/bin/sh
# sharded-search.sh - encode and search a corpus in N shards with GNU
# parallel, on this machine or on several, and merge the shards' runs into
# the run of one search over the whole corpus (the same documents, ranks
# and scores, ties included).
#
#   examples/sharded-search.sh MODEL CORPUS.jsonl QUERIES.jsonl N RUN [SSHLOGINS]
#
# SSHLOGINS is GNU parallel's --sshlogin list: ":" (the default) runs the
# shards here; "host1,host2,:" runs them over ssh on those machines, which
# need lr on their PATH and the same paths (a shared file system: the
# shards' files go to a directory next to RUN).  Each shard runs
# lr-encode --shard I/N and lr-eval --write-run with LR_THREADS threads
# (default 1); runs keep the top LR_TOP documents per query (default 1000).
# Evaluate the merged run with lr-eval --qrels QRELS --run RUN.
set -eu
if [ $# -lt 5 ] || [ $# -gt 6 ]; then
    echo "usage: $0 MODEL CORPUS QUERIES N RUN [SSHLOGINS]" >&2
    exit 2
fi
abs() { case $1 in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$PWD/$1" ;; esac; }
model=$(abs "$1") corpus=$(abs "$2") queries=$(abs "$3") n=$4 run=$(abs "$5") logins=${6:-:}
top=${LR_TOP:-1000} threads=${LR_THREADS:-1}
case $n in '' | *[!0-9]* | 0) echo "$0: N must be a positive integer, not '$n'" >&2; exit 2 ;; esac
work=$(mktemp -d "$(dirname "$run")/.sharded-search.XXXXXX")
trap 'rm -rf "$work"' EXIT

lr-encode --quiet --threads "$threads" -m "$model" --queries "$queries" -o "$work/queries.mp"
# one job per shard; the first failure stops the others
seq 0 $((n - 1)) | parallel --halt now,fail=1 --sshlogin "$logins" \
    "lr-encode --quiet --threads $threads -m '$model' --corpus '$corpus' --shard {}/$n -o '$work/docs.{}.mp' &&
     lr-eval --quiet --threads $threads --top $top --queries '$work/queries.mp' --docs '$work/docs.{}.mp' --write-run '$work/run.{}'"
set --
i=0
while [ "$i" -lt "$n" ]; do
    set -- "$@" --merge "$work/run.$i"
    i=$((i + 1))
done
lr-eval --top "$top" "$@" --write-run "$run"
