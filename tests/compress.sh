#!/bin/sh
# compress.sh - lr-cut-width: explicit channels, bad inputs.
. "${LR_SRCDIR:-$(dirname "$0")/..}/tests/lib.sh"
need_shared
F=$LR_SHARED/fixtures

# expect_usage NAME PATTERN -- CMD...: exit 2, the message on the first
# line of stderr, nothing on stdout.
expect_usage() {
    name=$1 pat=$2
    shift 3
    "$@" >"$TMP/stdout" 2>"$TMP/stderr"
    rc=$?
    if [ $rc -ne 2 ]; then
        fail "$name: exit $rc, expected 2: $(head -c 300 "$TMP/stderr")"
    elif ! head -n 1 "$TMP/stderr" | grep -Eq -- "$pat"; then
        fail "$name: stderr '$(head -n 1 "$TMP/stderr")' does not match '$pat'"
    elif [ -s "$TMP/stdout" ]; then
        fail "$name: output on stdout"
    else
        pass "$name"
    fi
}

tar -C "$F/tiny-llama" -cf "$TMP/llama.tar" .
# tiny-llama-cut's layer-0 channels, through a tar on stdin and stdout
if lr-cut-width -q --channels "$F/tiny-llama-cut/lr.json" <"$TMP/llama.tar" >"$TMP/w.tar" 2>"$TMP/err"; then
    tar -xOf "$TMP/w.tar" lr.json >"$TMP/w.json"
    grep -q '"mlp": 96' "$TMP/w.json" && grep -q '"lr-cut-width"' "$TMP/w.json" &&
        pass "explicit channels" || fail "explicit channels: $(cat "$TMP/w.json")"
else
    fail "explicit channels: $(cat "$TMP/err")"
fi
printf '{"0": [1, 2, 999]}' >"$TMP/ch.json"
expect_error "channel out of range" "ch.json: layer 0" "$TMP/out.tar" -- \
    lr-cut-width --channels "$TMP/ch.json" -m "$TMP/llama.tar" -o "$TMP/out.tar"
printf '{"9": [1]}' >"$TMP/ch.json"
expect_error "layer out of range" "ch.json: key \"9\"" "$TMP/out.tar" -- \
    lr-cut-width --channels "$TMP/ch.json" -m "$TMP/llama.tar" -o "$TMP/out.tar"
printf 'not msgpack\n' >"$TMP/junk.mp"
expect_error "not a scores stream" "junk.mp" "$TMP/out.tar" -- \
    lr-cut-width --scores "$TMP/junk.mp" --keep 0.5 -m "$TMP/llama.tar" -o "$TMP/out.tar"
expect_error "missing scores" "nothere.mp" "$TMP/out.tar" -- \
    lr-cut-width --scores "$TMP/nothere.mp" --keep 0.5 -m "$TMP/llama.tar" -o "$TMP/out.tar"
expect_usage "keep 0" "--keep" -- lr-cut-width --scores "$TMP/junk.mp" --keep 0 -m "$TMP/llama.tar"
expect_usage "keep above 1" "--keep" -- lr-cut-width --scores "$TMP/junk.mp" --keep 1.5 -m "$TMP/llama.tar"
expect_usage "width 0" "--width" -- lr-cut-width --scores "$TMP/junk.mp" --width 0 -m "$TMP/llama.tar"
expect_usage "keep and width" "--keep" -- lr-cut-width --scores "$TMP/junk.mp" --keep 0.5 --width 8 -m "$TMP/llama.tar"
expect_usage "channels and scores" "--channels" -- lr-cut-width --scores "$TMP/junk.mp" --channels "$TMP/ch.json"
[ ! -e "$TMP/out.tar" ] && pass "no partial outputs" || fail "partial output left"
finish
