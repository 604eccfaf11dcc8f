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
