#!/bin/sh
# shard-search.sh - search in shards and merge: the merged run of
# per-shard searches equals the run of one search over the whole corpus
# byte for byte (ties at the cut included, in trec_eval's order) and its
# measures equal the whole search's; the GNU parallel and Slurm recipes
# of examples/ give the same run; overlapping shards and bad usage fail
# with one line.
. "${LR_SRCDIR:-$(dirname "$0")/..}/tests/lib.sh"
need_shared
M="$LR_SHARED/fixtures/tiny-mistral"
EX="$LR_SRCDIR/examples"

# 40 SciFact abstracts, each three times under different ids (equal
# embeddings: every query meets ties, and --top 5 cuts a group of three);
# 20 queries, each judged against copies of one abstract
python3 - "$LR_SHARED/datasets/scifact" "$TMP" <<'PY'
import json, sys
src, out = sys.argv[1], sys.argv[2]
rows = [json.loads(l) for l, _ in zip(open(src + "/corpus.jsonl"), range(40))]
with open(out + "/c.jsonl", "w") as f:
    for c in range(3):
        for r in rows:
            f.write(json.dumps({"_id": "%s-%d" % (r["_id"], c), "title": r["title"],
                                "text": r["text"][:300]}) + "\n")
qs = [json.loads(l) for l, _ in zip(open(src + "/queries.jsonl"), range(20))]
with open(out + "/q.jsonl", "w") as f:
    for q in qs:
        f.write(json.dumps(q) + "\n")
with open(out + "/qrels.tsv", "w") as f:
    f.write("query-id\tcorpus-id\tscore\n")
    for i, q in enumerate(qs):
        d = rows[(7 * i) % 40]["_id"]
        f.write("%s\t%s-0\t2\n%s\t%s-2\t1\n" % (q["_id"], d, q["_id"], d))
PY

enc="--quiet --threads 1 -m $M"
ev="--quiet --threads 1 --top 5"
measures="-f tsv -q -m ndcg_cut.5 -m recall.5 -m map -m recip_rank"
# the whole corpus at once: run and measures
lr-encode $enc --queries "$TMP/q.jsonl" -o "$TMP/queries.mp" &&
lr-encode $enc --corpus "$TMP/c.jsonl" -o "$TMP/docs.mp" &&
lr-eval $ev --queries "$TMP/queries.mp" --docs "$TMP/docs.mp" --write-run "$TMP/whole.run" &&
lr-eval $ev --qrels "$TMP/qrels.tsv" --queries "$TMP/queries.mp" --docs "$TMP/docs.mp" \
    $measures >"$TMP/whole.tsv" || fail "the whole search"
ties=$(awk '$4 == 5 { last[$1] = $5 } { s[$1 " " $5]++ }
            END { for (q in last) if (s[q " " last[q]] > 1) t++; print t + 0 }' "$TMP/whole.run")
[ "$ties" -gt 0 ] && pass "the whole run: $ties queries with a tie at rank 5" || fail "no tie at the cut"

# three shards, searched one by one (no qrels: --write-run only), merged
for i in 0 1 2; do
    lr-encode $enc --corpus "$TMP/c.jsonl" --shard "$i/3" -o "$TMP/docs.$i.mp" &&
    lr-eval $ev --queries "$TMP/queries.mp" --docs "$TMP/docs.$i.mp" --write-run "$TMP/run.$i" ||
        fail "shard $i"
done
shards="--merge $TMP/run.0 --merge $TMP/run.1 --merge $TMP/run.2"
lr-eval --top 5 $shards --write-run "$TMP/merged.run" &&
    cmp -s "$TMP/merged.run" "$TMP/whole.run" && pass "merged run == the whole search's run" ||
    fail "merged run differs: $(diff "$TMP/merged.run" "$TMP/whole.run" | head -5)"
lr-eval --top 5 --qrels "$TMP/qrels.tsv" $shards $measures >"$TMP/merged.tsv" &&
    cmp -s "$TMP/merged.tsv" "$TMP/whole.tsv" && pass "merged measures == the whole search's" ||
    fail "measures differ: $(diff "$TMP/merged.tsv" "$TMP/whole.tsv" | head -5)"
cat "$TMP/run.2" "$TMP/run.0" "$TMP/run.1" | lr-eval --top 5 --merge - --write-run "$TMP/stdin.run" &&
    cmp -s "$TMP/stdin.run" "$TMP/whole.run" && pass "runs concatenated on stdin merge the same" ||
    fail "merge from stdin differs"

# bad input: overlapping shards, usage
cp "$TMP/run.0" "$TMP/again.run"
expect_error "overlapping shards" "again.run: query [^ ]+: document [^ ]+ is also in .*run.0: the shards overlap" \
    "$TMP/bad.run" -- lr-eval --top 5 --merge "$TMP/run.0" --merge "$TMP/run.1" --merge "$TMP/again.run" \
    --write-run "$TMP/bad.run"
expect_usage "--merge with --run" '--merge makes the run: give no --run' \
    lr-eval --qrels "$TMP/qrels.tsv" --run "$TMP/run.0" --merge "$TMP/run.1"
expect_usage "neither qrels nor --write-run" '--qrels is required' lr-eval --merge "$TMP/run.0"
expect_usage "--merge - twice" 'standard input can be read once' lr-eval --merge - --merge - --write-run "$TMP/x"

# the GNU parallel recipe, on this machine (-S :)
if command -v parallel >/dev/null 2>&1; then
    LR_TOP=5 "$EX/sharded-search.sh" "$M" "$TMP/c.jsonl" "$TMP/q.jsonl" 3 "$TMP/par.run" : 2>"$TMP/err" &&
        cmp -s "$TMP/par.run" "$TMP/whole.run" &&
        pass "examples/sharded-search.sh (GNU parallel, -S :) == the whole search" ||
        fail "sharded-search.sh: $(head -c 300 "$TMP/err")"
else
    skip_part "GNU parallel absent (Debian package parallel): its recipe not run"
fi

# the Slurm array script, its tasks run here by hand: 0-based and 1-based
# ranges, then the merge its header submits
mkdir "$TMP/w0" "$TMP/w1"
cp "$TMP/queries.mp" "$TMP/w0/" && cp "$TMP/queries.mp" "$TMP/w1/"
ok=true
for t in 0 1 2; do
    env SLURM_ARRAY_TASK_ID=$t SLURM_ARRAY_TASK_COUNT=3 SLURM_ARRAY_TASK_MIN=0 LR_TOP=5 \
        sh "$EX/sharded-search.sbatch" "$M" "$TMP/c.jsonl" "$TMP/w0" || ok=false
    env SLURM_ARRAY_TASK_ID=$((t + 1)) SLURM_ARRAY_TASK_COUNT=3 SLURM_ARRAY_TASK_MIN=1 LR_TOP=5 \
        sh "$EX/sharded-search.sbatch" "$M" "$TMP/c.jsonl" "$TMP/w1" || ok=false
done
$ok && for i in 0 1 2; do cmp -s "$TMP/w0/docs.$i.mp" "$TMP/docs.$i.mp" &&
    cmp -s "$TMP/w1/docs.$i.mp" "$TMP/docs.$i.mp" || ok=false; done
$ok && pass "slurm tasks 0-2 and 1-3 encode shards 0/3, 1/3, 2/3" || fail "slurm tasks: shards differ"
for w in w0 w1; do
    cat "$TMP/$w"/run.* | lr-eval --top 5 --merge - --write-run "$TMP/$w/run" &&
        cmp -s "$TMP/$w/run" "$TMP/whole.run" && pass "slurm recipe ($w) == the whole search" ||
        fail "slurm recipe ($w): merged run differs"
done
# a step of 2 (--array=0-4:2) is understood; a task outside the range or no array is refused
env SLURM_ARRAY_TASK_ID=4 SLURM_ARRAY_TASK_COUNT=3 SLURM_ARRAY_TASK_MIN=0 SLURM_ARRAY_TASK_STEP=2 LR_TOP=5 \
    sh "$EX/sharded-search.sbatch" "$M" "$TMP/c.jsonl" "$TMP/w0" &&
    cmp -s "$TMP/w0/docs.2.mp" "$TMP/docs.2.mp" && pass "slurm: task 4 of 0-4:2 is shard 2/3" ||
    fail "slurm: stepped range"
expect_usage "slurm: not an array task" 'not a task of a Slurm job array' \
    env -u SLURM_ARRAY_TASK_ID sh "$EX/sharded-search.sbatch" "$M" "$TMP/c.jsonl" "$TMP/w0"
expect_usage "slurm: task outside the range" 'task 3 is not in the range' \
    env SLURM_ARRAY_TASK_ID=3 SLURM_ARRAY_TASK_COUNT=3 SLURM_ARRAY_TASK_MIN=0 \
    sh "$EX/sharded-search.sbatch" "$M" "$TMP/c.jsonl" "$TMP/w0"
finish
