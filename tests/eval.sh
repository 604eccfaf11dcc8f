#!/bin/sh
# eval.sh - lr-eval: trec_eval's numbers on golden runs, dense search with
# rankings known by construction (exact ties), and bad input.
. "${LR_SRCDIR:-$(dirname "$0")/..}/tests/lib.sh"
MKEMB="$LR_BIN/../tests/mkemb"

# --- dense search: rankings known by construction ---------------------
# q1 = e1: d1 and d3 tie at 1 (d3 first: docno descending), d2 0.5, d5 -1
# q2 = e2: d4 2, then d1 d2 d3 tie at 0 (d3 d2 d1), d5 -1
# q3 = (1,1): d4 2 and d1 d3 1 (tie), d2 0.5, d5 -2
cat >"$TMP/docs.txt" <<'EOF'
d2 0.5 0
d5 -1 -1
d1 1 0
d4 0 2
d3 1 0
EOF
printf 'q1 1 0\nq2 0 1\nq3 1 1\n' >"$TMP/queries.txt"
"$MKEMB" 2 passage m1 <"$TMP/docs.txt" >"$TMP/docs.mp"
"$MKEMB" 2 query m1 <"$TMP/queries.txt" >"$TMP/queries.mp"
cat >"$TMP/qrels.tsv" <<'EOF'
query-id	corpus-id	score
q1	d1	1
q2	d2	2
q3	d5	1
EOF
cat >"$TMP/expected.run" <<'EOF'
q1 Q0 d3 1 1 lr
q1 Q0 d1 2 1 lr
q1 Q0 d2 3 0.5 lr
q1 Q0 d4 4 0 lr
q1 Q0 d5 5 -1 lr
q2 Q0 d4 1 2 lr
q2 Q0 d3 2 0 lr
q2 Q0 d2 3 0 lr
q2 Q0 d1 4 0 lr
q2 Q0 d5 5 -1 lr
q3 Q0 d4 1 2 lr
q3 Q0 d3 2 1 lr
q3 Q0 d1 3 1 lr
q3 Q0 d2 4 0.5 lr
q3 Q0 d5 5 -2 lr
EOF
for b in 1 2 3 8192; do
    if lr-eval --quiet -Q "$TMP/qrels.tsv" --queries "$TMP/queries.mp" --docs "$TMP/docs.mp" \
        --block $b --write-run "$TMP/run.$b" -f tsv -m recip_rank -q >"$TMP/m.$b" &&
        cmp -s "$TMP/run.$b" "$TMP/expected.run"; then
        pass "dense ranking with ties, block $b"
    else
        fail "dense ranking with ties, block $b: $(diff "$TMP/expected.run" "$TMP/run.$b" | head -5)"
    fi
done
# q1: d1 at rank 2; q2: d2 at rank 3; q3: d5 at rank 5
printf 'recip_rank\tq1\t0.5000\nrecip_rank\tq2\t0.3333\nrecip_rank\tq3\t0.2000\nrecip_rank\tall\t0.3444\n' >"$TMP/m.expected"
if cmp -s "$TMP/m.1" "$TMP/m.expected"; then pass "dense recip_rank"; else fail "dense recip_rank: $(cat "$TMP/m.1")"; fi

# top 2: the heap keeps the two best under trec_eval's order
lr-eval --quiet -Q "$TMP/qrels.tsv" --queries "$TMP/queries.mp" --docs "$TMP/docs.mp" -k 2 \
    --block 1 --write-run "$TMP/run.k2" >/dev/null
grep -E ' [12] [-0-9.]+ lr$' "$TMP/expected.run" >"$TMP/expected.k2"
if cmp -s "$TMP/run.k2" "$TMP/expected.k2"; then pass "dense top 2"; else fail "dense top 2: $(cat "$TMP/run.k2")"; fi

# the written run evaluates to the same numbers as the search
lr-eval -Q "$TMP/qrels.tsv" -r "$TMP/run.1" -f tsv -m recip_rank -q >"$TMP/m.run"
if cmp -s "$TMP/m.run" "$TMP/m.expected"; then pass "written run re-evaluates"; else fail "written run re-evaluates"; fi

# --ignore-identical-ids: a query whose id is a document id
printf 'd1 1 0\n' | "$MKEMB" 2 query m1 >"$TMP/q-d1.mp"
printf 'd1 0 d1 1\nd1 0 d3 1\n' >"$TMP/qrels-d1.trec"
lr-eval --quiet -Q "$TMP/qrels-d1.trec" --queries "$TMP/q-d1.mp" --docs "$TMP/docs.mp" \
    --ignore-identical-ids -k 2 --write-run "$TMP/run.ign" >/dev/null
if [ "$(cut -d' ' -f3 "$TMP/run.ign" | tr '\n' ' ')" = "d3 d2 " ]; then
    pass "--ignore-identical-ids in the search"
else
    fail "--ignore-identical-ids in the search: $(cat "$TMP/run.ign")"
fi

# concatenated shards are one stream
head -n 2 "$TMP/docs.txt" | "$MKEMB" 2 passage m1 >"$TMP/s1.mp"
tail -n 3 "$TMP/docs.txt" | "$MKEMB" 2 passage m1 >"$TMP/s2.mp"
cat "$TMP/s1.mp" "$TMP/s2.mp" | lr-eval --quiet -Q "$TMP/qrels.tsv" --queries "$TMP/queries.mp" \
    --docs - --write-run "$TMP/run.cat" >/dev/null
if cmp -s "$TMP/run.cat" "$TMP/expected.run"; then pass "concatenated shards"; else fail "concatenated shards"; fi

# metrics stream and json
lr-eval -Q "$TMP/qrels.tsv" -r "$TMP/run.1" -m map -f json --metrics-stream "$TMP/m.mp" >"$TMP/m.json"
if grep -q '"map": 0.3444' "$TMP/m.json" && [ -s "$TMP/m.mp" ]; then pass "json and metrics stream"; else fail "json and metrics stream: $(cat "$TMP/m.json")"; fi

# --- a run file: negative judgements, # lines, identical ids, formats ---
# q1: d2 is judged -1 (judged, not relevant): the first relevant document,
# d1, is at rank 2, so recip_rank 1/2; relevant d1, d3 at ranks 2 and 3,
# so map (1/2 + 2/3) / 2 = 0.5833. q2: its own id q2 ranks first; with
# --ignore-identical-ids d2 is at rank 1 (recip_rank and map 1), without
# it at rank 2 (1/2). Lines starting with # are skipped.
printf 'q1 0 d1 1\nq1 0 d2 -1\nq1 0 d3 2\nq2 0 d2 1\n' >"$TMP/n.qrels"
printf '# a comment\nq1 Q0 d2 1 3.0 t\nq1 Q0 d1 2 2.0 t\nq1 Q0 d3 3 1.0 t\n# q2\nq2 Q0 q2 1 5.0 t\nq2 Q0 d2 2 4.0 t\n' >"$TMP/n.run"
printf '%s\n' 'query     map  recip_rank' 'q1     0.5833      0.5000' 'q2     0.5000      0.5000' \
    'all    0.5417      0.5000' '(2 queries averaged)' >"$TMP/n.table"
lr-eval -Q "$TMP/n.qrels" -r "$TMP/n.run" -m recip_rank -m map -q >"$TMP/n.out" 2>&1 &&
    cmp -s "$TMP/n.out" "$TMP/n.table" && pass "table format; negative judgements; # lines" ||
    fail "table format: $(cat "$TMP/n.out")"
lr-eval -Q "$TMP/n.qrels" -r "$TMP/n.run" -m recip_rank -m map -q --ignore-identical-ids \
    -f json --metrics-stream "$TMP/n.mp" >"$TMP/n.json"
if command -v python3 >/dev/null; then
    python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
want = {"queries": 2, "complete": False, "all": {"map": (7 / 12 + 1) / 2, "recip_rank": 0.75},
        "per_query": {"q1": {"map": 7 / 12, "recip_rank": 0.5}, "q2": {"map": 1.0, "recip_rank": 1.0}}}
def same(a, b):
    if isinstance(b, dict):
        return isinstance(a, dict) and all(k in a and same(a[k], v) for k, v in b.items())
    if isinstance(b, float):
        return isinstance(a, float) and abs(a - b) < 1e-9
    return a == b
ok = same(j, want) and j["run"].endswith("n.run") and j["qrels"].endswith("n.qrels")
sys.exit(0 if ok else 1)' "$TMP/n.json" &&
        pass "json format, --ignore-identical-ids on a run" || fail "json: $(cat "$TMP/n.json")"
    python3 "$LR_SRCDIR/tests/mp-tool.py" dump "$TMP/n.mp" >"$TMP/n.dump"
    {
        printf '{"complete": false, "qrels": "%s", "queries": 2, "run": "%s", "stream": "lr.metrics", "version": 1}\n' \
            "$TMP/n.qrels" "$TMP/n.run"
        printf '{"measure": "%s", "query": "%s", "value": %s}\n' map q1 0.5833333333333333 \
            recip_rank q1 0.5 map q2 1.0 recip_rank q2 1.0 map all 0.7916666666666666 recip_rank all 0.75
    } >"$TMP/n.dump.want"
    cmp -s "$TMP/n.dump" "$TMP/n.dump.want" && pass "metrics stream contents" ||
        fail "metrics stream: $(diff "$TMP/n.dump.want" "$TMP/n.dump" | head -5)"
else
    skip_part "python3 absent: json and metrics stream contents not checked"
fi
# --tag names the written run
lr-eval --quiet -Q "$TMP/qrels.tsv" --queries "$TMP/queries.mp" --docs "$TMP/docs.mp" \
    --tag my-run --write-run "$TMP/run.tag" >/dev/null
[ "$(awk '{ print $6 }' "$TMP/run.tag" | sort -u)" = my-run ] && [ "$(wc -l <"$TMP/run.tag")" -eq 15 ] &&
    pass "--tag" || fail "--tag: $(head -2 "$TMP/run.tag")"

# --- bad input ----------------------------------------------------------
printf '1 0 d1 1\n1 0 d2\n' >"$TMP/short.qrels"
expect_error "qrels line too short" 'short\.qrels: line 2: expected 4 fields' "$TMP/o" -- \
    lr-eval -Q "$TMP/short.qrels" -r "$TMP/run.1" -o "$TMP/o"
printf '1 0 d1 1\n1 0 d2 yes\n' >"$TMP/word.qrels"
expect_error "qrels relevance not a number" 'word\.qrels: line 2: relevance "yes" is not an integer' "$TMP/o" -- \
    lr-eval -Q "$TMP/word.qrels" -r "$TMP/run.1" -o "$TMP/o"
printf 'q1 Q0 d1 1 1.5 t\nq1 Q0 d2 2 0.5\n' >"$TMP/short.run"
expect_error "run line too short" 'short\.run: line 2: expected 6 fields' "$TMP/o" -- \
    lr-eval -Q "$TMP/qrels.tsv" -r "$TMP/short.run" -o "$TMP/o"
printf 'q1 Q0 d1 1 1.5 t\nq1 Q0 d2 2 high t\n' >"$TMP/word.run"
expect_error "run score not a number" 'word\.run: line 2: score "high" is not a number' "$TMP/o" -- \
    lr-eval -Q "$TMP/qrels.tsv" -r "$TMP/word.run" -o "$TMP/o"
printf 'q1 Q0 d1 1 1.5 t\nq1 Q0 d2 2 1 t\nq1 Q0 d1 3 0.5 t\n' >"$TMP/dup.run"
expect_error "run with a duplicate docno" 'dup\.run: line 3: query q1 lists document d1 again \(first at line 1\)' "$TMP/o" -- \
    lr-eval -Q "$TMP/qrels.tsv" -r "$TMP/dup.run" -o "$TMP/o"
printf 'q1 1 0 0\n' | "$MKEMB" 3 query m1 >"$TMP/q3d.mp"
expect_error "streams of different dimension" 'q3d\.mp has dimension 3 but .*docs\.mp has 2' "$TMP/o" -- \
    lr-eval -Q "$TMP/qrels.tsv" --queries "$TMP/q3d.mp" --docs "$TMP/docs.mp" --write-run "$TMP/o"
: | "$MKEMB" 2 query m1 >"$TMP/empty.mp"
expect_error "empty query stream" 'empty\.mp: no queries' "$TMP/o" -- \
    lr-eval -Q "$TMP/qrels.tsv" --queries "$TMP/empty.mp" --docs "$TMP/docs.mp" --write-run "$TMP/o"
size=$(wc -c <"$TMP/docs.mp")
head -c $((size - 3)) "$TMP/docs.mp" >"$TMP/trunc.mp"
expect_error "truncated stream" 'trunc\.mp: record 5: truncated stream' "$TMP/o" -- \
    lr-eval --quiet -Q "$TMP/qrels.tsv" --queries "$TMP/queries.mp" --docs "$TMP/trunc.mp" --write-run "$TMP/o"
"$MKEMB" 2 query m2 <"$TMP/queries.txt" >"$TMP/q-m2.mp"
expect_error "different models" 'encoded by model m2 but .* by model m1' "$TMP/o" -- \
    lr-eval -Q "$TMP/qrels.tsv" --queries "$TMP/q-m2.mp" --docs "$TMP/docs.mp" --write-run "$TMP/o"
"$MKEMB" 2 query m1 mean <"$TMP/queries.txt" >"$TMP/q-mean.mp"
expect_error "different pooling" 'uses mean pooling but .* uses last pooling' "$TMP/o" -- \
    lr-eval -Q "$TMP/qrels.tsv" --queries "$TMP/q-mean.mp" --docs "$TMP/docs.mp" --write-run "$TMP/o"
expect_error "swapped streams" 'are --queries and --docs swapped' "$TMP/o" -- \
    lr-eval -Q "$TMP/qrels.tsv" --queries "$TMP/docs.mp" --docs "$TMP/queries.mp" --write-run "$TMP/o"
expect_error "not a stream" 'qrels\.tsv: ' "$TMP/o" -- \
    lr-eval -Q "$TMP/qrels.tsv" --queries "$TMP/qrels.tsv" --docs "$TMP/docs.mp" --write-run "$TMP/o"
lr-eval -Q "$TMP/qrels.tsv" -r "$TMP/run.1" -m ndcg@10 >/dev/null 2>"$TMP/err"
if [ $? -eq 2 ] && grep -q 'unknown measure "ndcg@10"' "$TMP/err"; then pass "unknown measure"; else fail "unknown measure: $(cat "$TMP/err")"; fi
printf 'x 0 d1 1\n' >"$TMP/other.qrels"
expect_error "no common query" 'no query in common' "$TMP/o" -- \
    lr-eval -Q "$TMP/other.qrels" -r "$TMP/run.1" -o "$TMP/o"

printf 'd1 1 0\nd1 1 0\n' | "$MKEMB" 2 passage m1 >"$TMP/dupdocs.mp"
expect_error "duplicate document ids" 'dupdocs\.mp: document id d1 appears more than once' "$TMP/o" -- \
    lr-eval --quiet -Q "$TMP/qrels.tsv" --queries "$TMP/queries.mp" --docs "$TMP/dupdocs.mp" --write-run "$TMP/o"

# --- trec_eval 10.0's numbers on golden runs ------------------------------
# compare every (measure, query) of the reference to 4 decimals, both ways
same_values() {
    awk -F'\t' 'NR == FNR { gsub(/ /, "", $1); ref[$1 "\t" $2] = $3; next }
        { gsub(/ /, "", $1); k = $1 "\t" $2; seen[k] = 1
          if (!(k in ref)) { print "extra " k; bad = 1; next }
          d = ref[k] - $3; if (d < 0) d = -d
          if (d > 0.00005001) { print k ": " $3 " != " ref[k]; bad = 1 } }
        END { for (k in ref) if (!(k in seen)) { print "missing " k; bad = 1 }; exit bad }' "$1" "$2"
}
R="$LR_SHARED/datasets/runs"
if have_shared; then
    for n in scifact cranfield; do
        if lr-eval -Q "$R/$n.qrels" -r "$R/$n-bm25.trec" -q -f tsv -m ndcg_cut.5,10,100 \
            -m recall.10,100 -m recip_rank -m map -m P.10 >"$TMP/$n.out" &&
            same_values "$R/$n-bm25.trec_eval" "$TMP/$n.out" >"$TMP/$n.diff"; then
            pass "$n: trec_eval -q values"
        else
            fail "$n: trec_eval -q values: $(head -5 "$TMP/$n.diff")"
        fi
        if lr-eval -Q "$R/$n.qrels" -r "$R/$n-bm25.trec" -c -f tsv -m ndcg_cut.10 \
            -m recall.100 -m map >"$TMP/$n-c.out" &&
            same_values "$R/$n-bm25.trec_eval-c" "$TMP/$n-c.out" >"$TMP/$n-c.diff"; then
            pass "$n: trec_eval -c values"
        else
            fail "$n: trec_eval -c values: $(head -5 "$TMP/$n-c.diff")"
        fi
    done
    # byte-compatible output
    lr-eval -Q "$R/scifact.qrels" -r "$R/scifact-bm25.trec" -q -f trec_eval -m ndcg_cut.5,10,100 \
        -m recall.10,100 -m recip_rank -m map -m P.10 >"$TMP/scifact.te"
    if cmp -s "$TMP/scifact.te" "$R/scifact-bm25.trec_eval"; then pass "trec_eval format"; else fail "trec_eval format"; fi
else
    skip_part "$R absent: golden trec_eval comparisons skipped"
fi
finish
