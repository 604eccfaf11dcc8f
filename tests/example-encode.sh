#!/bin/sh
# example-encode.sh - examples/encode.c, a program linking liblr, encodes
# through the library's encoder: a passage identical to the query scores 1
# (same ids, same normalised vector), others less; bad input is named.
. "$(dirname "$0")/lib.sh"
need_shared
EX=$LR_BIN/../examples/encode
M=$LR_SHARED/fixtures/tiny-mistral
out=$("$EX" "$M" "the moon pulls the oceans" "bees make honey in a hive" \
      "the moon pulls the oceans" "lava flows down a mountain" 2>"$TMP/err") ||
    fail "example failed: $(cat "$TMP/err")"
[ "$(printf '%s\n' "$out" | wc -l)" -eq 3 ] || fail "expected 3 lines, got: $out"
printf '%s\n' "$out" | awk -F'\t' '
    NR == 2 && ($1 < 0.999999 || $1 > 1.000001) { print "identical passage scores " $1; bad = 1 }
    NR != 2 && $1 >= 0.999999 { print "other passage scores " $1; bad = 1 }
    END { exit bad }' >&2 || fail "scores: $out"
if "$EX" "$TMP/none" q p 2>"$TMP/err"; then fail "a missing model succeeded"; fi
grep -q "$TMP/none" "$TMP/err" || fail "error does not name the model: $(cat "$TMP/err")"
finish
