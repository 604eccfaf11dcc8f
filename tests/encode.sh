#!/bin/sh
# encode.sh - lr-encode: token ids against golden ids, options, sharding,
# bad input.  (Vectors are checked against the forward in test-forward.)
. "${LR_SRCDIR:-$(dirname "$0")/..}/tests/lib.sh"
need_shared
M="$LR_SHARED/fixtures/tiny-mistral"
GOLD="$LR_SHARED/tokenizers/mistral/golden.jsonl"

# 20 golden texts as queries.jsonl; their ids with special tokens
head -n 20 "$GOLD" | awk '{ t = $0; sub(/^\{"text":/, "", t); sub(/,"ids":\[.*$/, "", t);
    printf "{\"_id\":\"g%d\",\"text\":%s}\n", NR, t }' >"$TMP/q.jsonl"
head -n 20 "$GOLD" | sed 's/.*"ids_special":\(\[[^]]*\]\).*/\1/' >"$TMP/gold.ids"

lr-encode -m "$M" --queries "$TMP/q.jsonl" --tokenize --no-eos | tr -d ' ' >"$TMP/ids" &&
    cmp -s "$TMP/ids" "$TMP/gold.ids" && pass "tokenize: golden ids_special" ||
    fail "tokenize: ids differ from the golden ids_special"

# EOS appended (id 2) and counted by --max-tokens
lr-encode -m "$M" --queries "$TMP/q.jsonl" --tokenize --max-tokens 3 >"$TMP/ids3"
awk -F', ' '{ n = split(substr($0, 2, length($0) - 2), a, ", ");
    if (n > 3 || a[n] != 2) bad = 1 } END { exit bad }' "$TMP/ids3" &&
    [ "$(wc -l <"$TMP/ids3")" -eq 20 ] && pass "max-tokens counts the EOS" || fail "max-tokens/EOS"

# prefixes go to queries (--queries) or passages (--corpus) only
q=$(printf 'x\tworld\n' | lr-encode -m "$M" --queries - --tokenize --no-eos --query-prefix 'Hello ' --passage-prefix 'Bye ')
p=$(printf 'x\tworld\n' | lr-encode -m "$M" --corpus - --tokenize --no-eos --query-prefix 'Hello ' --passage-prefix 'Bye ')
[ "$q" = "[1, 22557, 1526]" ] && pass "query prefix" || fail "query prefix: $q"
case "$p" in "[1, 22557, 1526]" | "") fail "passage prefix: $p" ;; *) pass "passage prefix" ;; esac

# id<TAB>text lines, corpus with titles, order kept through length sorting
printf 'a\tshort\nb\ta much longer text with many more words in it than the first\nc\tmid length text\n' >"$TMP/t.tsv"
lr-encode -q -m "$M" --corpus "$TMP/t.tsv" --batch-tokens 8 -o "$TMP/t.mp" && [ -s "$TMP/t.mp" ] &&
    pass "tsv input" || fail "tsv input"
lr-encode -q -m "$M" --corpus "$TMP/t.tsv" --pooling mean --max-tokens 4 -t 1 -o "$TMP/t2.mp" &&
    pass "mean pooling, one thread" || fail "mean pooling"

# shards: together they hold every record once, in interleaved slices
head -n 40 "$LR_SHARED/datasets/scifact/corpus.jsonl" >"$TMP/c.jsonl"
lr-encode -q -m "$M" --corpus "$TMP/c.jsonl" --max-tokens 32 -o "$TMP/all.mp"
lr-encode -q -m "$M" --corpus "$TMP/c.jsonl" --max-tokens 32 --shard 0/3 -o "$TMP/s0.mp"
lr-encode -q -m "$M" --corpus "$TMP/c.jsonl" --max-tokens 32 --shard 1/3 -o "$TMP/s1.mp"
lr-encode -q -m "$M" --corpus "$TMP/c.jsonl" --max-tokens 32 --shard 2/3 -o "$TMP/s2.mp"
: >"$TMP/empty.jsonl"
lr-encode -q -m "$M" --corpus "$TMP/empty.jsonl" -o "$TMP/empty.mp"
hdr=$(wc -c <"$TMP/empty.mp")
sum=$(($(cat "$TMP/s0.mp" "$TMP/s1.mp" "$TMP/s2.mp" | wc -c) - 2 * hdr))
[ "$hdr" -gt 0 ] && [ "$sum" -eq "$(wc -c <"$TMP/all.mp")" ] && pass "shards add up" ||
    fail "shards: $sum bytes vs $(wc -c <"$TMP/all.mp")"
lr-encode -m "$M" --corpus "$TMP/c.jsonl" --shard 1/3 --tokenize --max-tokens 8 >"$TMP/s1.ids"
lr-encode -m "$M" --corpus "$TMP/c.jsonl" --tokenize --max-tokens 8 | awk 'NR % 3 == 2' >"$TMP/all1.ids"
cmp -s "$TMP/s1.ids" "$TMP/all1.ids" && pass "shard 1/3 is every third text from the second" ||
    fail "shard slices"

# vectors, read back by mp-tool.py: shards hold the unsharded run's vectors;
# default vectors have unit norm and are the --no-normalize ones scaled;
# mean pooling is the mean of the hidden states, which for a causal model
# are the last-token vectors of the text's prefixes (--max-tokens 1..n)
if command -v python3 >/dev/null; then
    MP="python3 $LR_SRCDIR/tests/mp-tool.py"
    # compare A B TOL: same ids in the same order (A may be a concatenation),
    # every vector within TOL (absolute); prints the largest difference
    compare() {
        python3 -c '
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])][1:]
b = [json.loads(l) for l in open(sys.argv[2])][1:]
a = sorted(a, key=lambda r: r["id"]) if sys.argv[4] == "sort" else a
b = sorted(b, key=lambda r: r["id"]) if sys.argv[4] == "sort" else b
if [r["id"] for r in a] != [r["id"] for r in b] or not a:
    sys.exit("ids differ")
d = max(abs(x - y) for r, s in zip(a, b) for x, y in zip(r["vec"], s["vec"]))
print("largest difference %.3g" % d)
sys.exit(0 if d <= float(sys.argv[3]) else 1)' "$@"
    }
    for f in all s0 s1 s2; do $MP dump "$TMP/$f.mp" >"$TMP/$f.dump"; done
    { head -n 1 "$TMP/s0.dump"; tail -q -n +2 "$TMP/s0.dump" "$TMP/s1.dump" "$TMP/s2.dump"; } >"$TMP/s.dump"
    # measured: identical (difference 0); 1e-6 allows another packing's rounding
    r=$(compare "$TMP/s.dump" "$TMP/all.dump" 1e-6 sort) && pass "shards hold the unsharded vectors: $r" ||
        fail "shard vectors: $r"
    lr-encode -q -m "$M" --corpus "$TMP/c.jsonl" --max-tokens 32 --no-normalize -o "$TMP/raw.mp"
    $MP dump "$TMP/raw.mp" >"$TMP/raw.dump"
    python3 -c '
import json, math, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
assert a[0]["normalized"] is True and b[0]["normalized"] is False, "header flags"
worst = 0
for r, s in zip(a[1:], b[1:]):
    n = math.sqrt(sum(x * x for x in s["vec"]))
    worst = max([worst, abs(math.sqrt(sum(x * x for x in r["vec"])) - 1)] +
                [abs(x - y / n) for x, y in zip(r["vec"], s["vec"])])
print("largest error %.3g" % worst)
# float32 normalisation: measured 5.6e-8; 1e-6 is a margin of 18
sys.exit(0 if len(a) == len(b) == 41 and worst <= 1e-6 else 1)' "$TMP/all.dump" "$TMP/raw.dump" >"$TMP/norm.out" &&
        pass "default L2 normalisation: $(cat "$TMP/norm.out")" || fail "normalisation: $(cat "$TMP/norm.out")"
    printf 'm1\tthe cat sat\nm2\trivers flow to the sea\n' >"$TMP/mean.tsv"
    lr-encode -q -m "$M" --corpus "$TMP/mean.tsv" --pooling mean --no-eos --no-normalize -o "$TMP/mean.mp"
    : >"$TMP/prefix.dump"
    n=$(lr-encode -m "$M" --corpus "$TMP/mean.tsv" --tokenize --no-eos | awk -F, '{ if (NF > n) n = NF } END { print n }')
    for t in $(seq 1 "$n"); do
        lr-encode -q -m "$M" --corpus "$TMP/mean.tsv" --pooling last --no-eos --no-normalize --max-tokens "$t" \
            -o "$TMP/p$t.mp" && $MP dump "$TMP/p$t.mp" | tail -n +2 >>"$TMP/prefix.dump"
    done
    $MP dump "$TMP/mean.mp" >"$TMP/mean.dump"
    python3 -c '
import json, sys
got = [json.loads(l) for l in open(sys.argv[1])][1:]
pre = [json.loads(l) for l in open(sys.argv[2])]
lens = [len(json.loads(l)) for l in open(sys.argv[3])]
worst = 0
for r, n in zip(got, lens):
    # prefixes longer than the text repeat its last token: use the first n
    vs = [p["vec"] for p in pre if p["id"] == r["id"]][:n]
    want = [sum(v[k] for v in vs) / n for k in range(len(r["vec"]))]
    worst = max([worst] + [abs(x - y) for x, y in zip(r["vec"], want)])
print("largest error %.3g over texts of %s tokens" % (worst, lens))
# measured 6.0e-8 (float32 sums in another order); 1e-6 is a margin of 17
sys.exit(0 if len(got) == 2 and worst <= 1e-6 else 1)' "$TMP/mean.dump" "$TMP/prefix.dump" \
        "$(lr-encode -m "$M" --corpus "$TMP/mean.tsv" --tokenize --no-eos >"$TMP/mean.ids"; echo "$TMP/mean.ids")" \
        >"$TMP/mean.out" && pass "mean pooling = mean of the prefixes' last states: $(cat "$TMP/mean.out")" ||
        fail "mean pooling: $(cat "$TMP/mean.out")"
else
    skip_part "python3 absent: vectors not read back"
fi
# lr-encode honours the retrieval settings lr-train records in lr.json: a
# model trained one update with --pooling mean --no-normalize --no-eos
# --query-prefix 'query: ' embeds five golden texts as passages into the
# unnormalised mean of the hidden states of their golden ids_special (BOS,
# no EOS), as torchref.py computes them in float64 for the trained weights;
# a query is the passage vector of its text after the prefix
if have_torch; then
    MP="python3 $LR_SRCDIR/tests/mp-tool.py"
    sed -n 7,11p "$GOLD" | python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin]
with open(sys.argv[1], "w") as f:
    for i, r in enumerate(rows):
        f.write("g%d\t%s\n" % (i, r["text"]))
json.dump([r["ids_special"] for r in rows], open(sys.argv[2], "w"))
' "$TMP/rt.tsv" "$TMP/rt-ids.json"
    sed 's/\t/\tquery: /' "$TMP/rt.tsv" >"$TMP/rt-q.tsv"
    head -n 8 "$LR_SHARED/datasets/train/climate_fever_claim_evidence.jsonl" >"$TMP/rt-pairs.jsonl"
    if lr-train -j1 -q -m "$M" --train "$TMP/rt-pairs.jsonl" --batch 4 --steps 1 --lr 1e-2 --max-tokens 32 \
           --pooling mean --no-normalize --no-eos --query-prefix 'query: ' -o "$TMP/rt.tar" &&
       mkdir "$TMP/rt" && tar -xf "$TMP/rt.tar" -C "$TMP/rt" &&
       lr-encode -q -t 1 -m "$TMP/rt.tar" --corpus "$TMP/rt.tsv" -o "$TMP/rt-p.mp" &&
       lr-encode -q -t 1 -m "$TMP/rt.tar" --queries "$TMP/rt.tsv" -o "$TMP/rt-q.mp" &&
       lr-encode -q -t 1 -m "$TMP/rt.tar" --corpus "$TMP/rt-q.tsv" -o "$TMP/rt-qp.mp" &&
       $TORCHREF forward --model "$TMP/rt" --ids "$TMP/rt-ids.json" --out "$TMP/rt.ref" >/dev/null; then
        python3 - "$TMP/rt-p.mp" "$TMP/rt.ref" "$LR_SRCDIR/tests" >"$TMP/rt.out" <<'PY' &&
import json, os, struct, sys
sys.path.insert(0, sys.argv[3])
mp = __import__("mp-tool")
recs = mp.records(sys.argv[1])
b = open(sys.argv[2], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
t = json.loads(b[8:8 + n])["mean"]
o0, o1 = t["data_offsets"]
ref = struct.unpack("<%dd" % ((o1 - o0) // 8), b[8 + n + o0:8 + n + o1])
got = [x for r in recs[1:] for x in r["vec"]]
err = max(abs(x - y) for x, y in zip(got, ref)) / max(abs(y) for y in ref)
print("header %s, relative error %.3g" % ({k: recs[0][k] for k in ("pooling", "normalized")}, err))
# measured 2.6e-7; 1e-5 as the forward's tolerance in compress-check
sys.exit(0 if len(got) == len(ref) and err <= 1e-5 else 1)
PY
            pass "lr.json's settings: passages as torchref.py's unnormalised means: $(cat "$TMP/rt.out")" ||
            fail "lr.json's settings: passages: $(cat "$TMP/rt.out")"
        $MP dump "$TMP/rt-q.mp" | tail -n +2 >"$TMP/rt-q.dump"
        $MP dump "$TMP/rt-qp.mp" | tail -n +2 >"$TMP/rt-qp.dump"
        [ -s "$TMP/rt-q.dump" ] && cmp -s "$TMP/rt-q.dump" "$TMP/rt-qp.dump" &&
            pass "lr.json's settings: a query carries the recorded prefix" ||
            fail "lr.json's settings: queries are not the prefixed passages"
    else
        fail "lr.json's settings: lr-train, lr-encode or torchref.py failed"
    fi
else
    skip_part "/usr/bin/python3 lacks torch: lr.json's settings not checked against torchref.py"
fi
# reduced-precision projections: a whole stream of the same shape (the
# vectors themselves are checked against the reference in test-forward)
for dt in f32 bf16 int8 fast; do
    if lr-encode -v -m "$M" --corpus "$TMP/c.jsonl" --max-tokens 32 --dtype "$dt" -o "$TMP/$dt.mp" 2>"$TMP/$dt.err"; then
        [ "$(wc -c <"$TMP/$dt.mp")" -eq "$(wc -c <"$TMP/all.mp")" ] && pass "--dtype $dt" ||
            fail "--dtype $dt: $(wc -c <"$TMP/$dt.mp") bytes vs $(wc -c <"$TMP/all.mp")"
    elif grep -q "^lr-encode: --dtype $dt: precision .*: this CPU lacks" "$TMP/$dt.err" && [ ! -e "$TMP/$dt.mp" ]; then
        pass "--dtype $dt: refused on this CPU, no output"
    else
        fail "--dtype $dt: $(cat "$TMP/$dt.err")"
    fi
done
grep -q '^lr-encode: --dtype fast: \(f32\|bf16\|int8\) on this CPU$' "$TMP/fast.err" &&
    pass "--dtype fast -v says which" || fail "--dtype fast -v: $(cat "$TMP/fast.err")"
expect_usage "bad --dtype" "^lr-encode: --dtype: expected f32, bf16, int8 or fast, got 'f16'" \
    lr-encode -m "$M" --corpus "$TMP/c.jsonl" --dtype f16

# help, version, usage errors
lr-encode --help | grep -q -- '--batch-tokens' && pass "help" || fail "help"
lr-encode --version | grep -q 'lr-encode' && pass "version" || fail "version"
expect_usage "no input" "give one of --corpus" lr-encode -m "$M"
expect_usage "bad --pooling" "--pooling" lr-encode -m "$M" --corpus "$TMP/c.jsonl" --pooling max
expect_usage "unknown long option" "^lr-encode: unknown option '--bogus'; try 'lr-encode --help'$" \
    lr-encode --bogus -m "$M"
expect_usage "unknown short option" "unknown option '-z'" lr-encode -z -m "$M"
expect_usage "missing argument" "option '--pooling' needs an argument" lr-encode -m "$M" --corpus "$TMP/c.jsonl" --pooling
expect_usage "missing short argument" "option '-m' needs an argument" lr-encode --corpus "$TMP/c.jsonl" -m
expect_usage "argument to a flag" "option '--quiet' takes no argument" lr-encode --quiet=yes -m "$M"
expect_usage "ambiguous prefix" "option '--p' is ambiguous" lr-encode --p x -m "$M"

# bad input: one line naming file and place, no output left behind
O="$TMP/out.mp"
expect_error "missing text file" "nothere\.jsonl" "$O" -- lr-encode -m "$M" --corpus "$TMP/nothere.jsonl" -o "$O"
printf '{"_id": "1", "text": "a"}\n{"_id": "2", "text": \n' >"$TMP/bad.jsonl"
expect_error "malformed JSON" "bad\.jsonl: line 2: invalid JSON" "$O" -- lr-encode -m "$M" --corpus "$TMP/bad.jsonl" -o "$O"
# past the first window of texts, on standard output: still nothing written
awk 'BEGIN { for (i = 1; i <= 5000; i++) printf "{\"_id\": \"%d\", \"text\": \"w%d\"}\n", i, i; print "{" }' >"$TMP/late.jsonl"
expect_error "malformed line after 5000 texts, stdout" "late\.jsonl: line 5001: invalid JSON" "$TMP/stdout" -- \
    lr-encode -q -m "$M" --corpus "$TMP/late.jsonl"
printf '{"_id": "1", "text": "a"}\n{"title": "t", "text": "b"}\n' >"$TMP/noid.jsonl"
expect_error "corpus line without _id" 'noid\.jsonl: line 2: no "_id"' "$O" -- lr-encode -m "$M" --corpus "$TMP/noid.jsonl" -o "$O"
printf 'a\tb\nno tab\n' >"$TMP/bad.tsv"
expect_error "tsv line without a tab" "bad\.tsv: line 2: expected id<TAB>text" "$O" -- lr-encode -m "$M" --queries "$TMP/bad.tsv" -o "$O"
expect_error "model without tokenizer.json" "tokenizer\.json" "$O" -- lr-encode -m "$LR_SHARED/fixtures/tiny-llama" --corpus "$TMP/c.jsonl" -o "$O"
expect_error "missing model" "nomodel" "$O" -- lr-encode -m "$TMP/nomodel" --corpus "$TMP/c.jsonl" -o "$O"
finish
