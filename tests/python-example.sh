#!/bin/sh
# python-example.sh - examples/streams.py reads what the tools write: an
# embeddings stream (sharded and joined) into a numpy matrix whose dot
# products rank documents as lr-eval does, and a scores stream into the
# table lr-score --show prints.  Needs numpy and msgpack (Debian:
# python3-numpy, python3-msgpack); skipped without them, failed under CI.
. "$(dirname "$0")/lib.sh"
PY=
for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null && "$p" -c 'import numpy, msgpack' 2>/dev/null; then PY=$p; break; fi
done
if [ -z "$PY" ]; then
    if [ -n "${CI:-}" ]; then echo "FAIL: CI is set but python3 lacks numpy or msgpack" >&2; exit 1; fi
    echo "skip: no python3 with numpy and msgpack (python3-numpy, python3-msgpack)"
    exit 77
fi
EX=$LR_SRCDIR/examples/streams.py
cd "$TMP"
toy_config config.json 3
toy_collection 6
printf 'q0\twhat pulls the sea\nq1\twhere does honey come from\n' > queries.tsv
printf 'q0\td0\t1\nq1\td5\t1\n' > qrels.txt
run() { "$@" 2>>log || { fail "$*: $(tail -1 log)"; finish; }; }
toy_model m.tar --steps 2 --batch 4
run lr-encode -q -t 1 -m m.tar --corpus corpus.jsonl --shard 0/2 -o d0.mp
run lr-encode -q -t 1 -m m.tar --corpus corpus.jsonl --shard 1/2 -o d1.mp
cat d0.mp d1.mp > docs.mp
run lr-encode -q -t 1 -m m.tar --queries queries.tsv -o q.mp
run lr-score -q -t 1 -m m.tar --calib corpus.jsonl -o scores.mp

# the matrix: 6 rows of 32 float32, unit norm, ids in shard order
"$PY" "$EX" docs.mp > emb.out 2>>log || fail "streams.py docs.mp: $(tail -1 log)"
head -1 emb.out | grep -q '^passage embeddings: 6 x 32 float32, last pooling' &&
    pass "embeddings: 6 x 32 matrix" || fail "embeddings: $(head -1 emb.out)"
[ "$(sed -n '2,4p' emb.out | awk '{ print $1 }' | tr '\n' ' ')" = "d0 d2 d4 " ] &&
    awk 'NR > 1 { if ($3 < 0.9999 || $3 > 1.0001) bad = 1 } END { exit bad }' emb.out &&
    pass "embeddings: ids in stream order, unit norm" || fail "rows: $(cat emb.out)"
# numpy's dot products rank and score as lr-eval's exact search does
"$PY" "$EX" q.mp docs.mp > top.out 2>>log || fail "streams.py q.mp docs.mp: $(tail -1 log)"
lr-eval --quiet --qrels qrels.txt --queries q.mp --docs docs.mp -k 3 --write-run run.trec -o /dev/null 2>>log
awk '{ printf "%s %s:%.4f\n", $1, $3, $5 }' run.trec |
    awk '{ a[$1] = a[$1] (a[$1] ? " " : "") $2 } END { for (q in a) print q, a[q] }' | sort > eval-top
sort top.out > py-top
[ -s py-top ] && cmp -s py-top eval-top && pass "numpy top 3 = lr-eval's run" ||
    fail "numpy: $(cat py-top) lr-eval: $(cat eval-top)"

# the scores table: the layers, widths and importances lr-score --show prints
"$PY" "$EX" scores.mp > table.out 2>>log || fail "streams.py scores.mp: $(tail -1 log)"
lr-score --show scores.mp > show.out
awk -F'\t' 'NR > 1 { printf "%d %.4f %.4f %d\n", $1, $3, $5, $4 }' table.out > py-table
awk '$1 ~ /^[0-9]+$/ && NF >= 6 { printf "%d %.4f %.4f %d\n", $1, $2, $4, $6 }' show.out > show-table
[ "$(wc -l < py-table)" -eq 3 ] && cmp -s py-table show-table && pass "scores table = lr-score --show" ||
    fail "python: $(cat py-table) show: $(cat show-table) ($(cat show.out))"
# not a stream: one line, exit 1
"$PY" "$EX" config.json > /dev/null 2> err; rc=$?
[ $rc -ne 0 ] && pass "a non-stream is refused" || fail "config.json accepted"
finish
