#!/bin/sh
# lr-cut-depth: the cut of tiny-llama against the tiny-llama-cut fixture,
# inputs from a directory, a tar, stdin, a sharded directory; refusals.
. "${LR_SRCDIR:-$(dirname "$0")/..}/tests/lib.sh"
need_shared
command -v python3 >/dev/null || { echo "skip: python3 absent"; exit 77; }
TOOL="python3 $LR_SRCDIR/tests/ckpt-tool.py"
FIX=$LR_SHARED/fixtures

lr-cut-depth --help | grep -q -- --mlp-layers && pass "--help" || fail "--help"
lr-cut-depth --version | grep -q '^lr-cut-depth' && pass "--version" || fail "--version"

# From a directory; tensors equal tiny-llama-cut's but layer 0's MLP.
if lr-cut-depth -m "$FIX/tiny-llama" --mlp-layers 1 --attn-layers 2 -o "$TMP/cut.tar" &&
   $TOOL compare "$TMP/cut.tar" "$FIX/tiny-llama-cut" --skip model.layers.0.mlp. >"$TMP/cmp" &&
   [ "$($TOOL layout "$TMP/cut.tar")" = "1:160,1:0,0:160,1:160" ] &&
   [ "$($TOOL history "$TMP/cut.tar")" = 1 ]; then
    pass "cut tiny-llama = tiny-llama-cut"
else
    fail "cut tiny-llama: $(cat "$TMP/cmp" 2>/dev/null)"
fi

# A tar on stdin (members ./x) to stdout gives the same tensors.
tar -C "$FIX/tiny-llama" -cf "$TMP/in.tar" .
if lr-cut-depth --mlp-layers 1 --attn-layers 2 <"$TMP/in.tar" >"$TMP/cut2.tar" &&
   $TOOL compare "$TMP/cut2.tar" "$TMP/cut.tar" >"$TMP/cmp"; then
    pass "stdin to stdout"
else
    fail "stdin to stdout: $(cat "$TMP/cmp")"
fi

# A gzipped tar with one top directory, given as -m.
mkdir -p "$TMP/top" && cp -r "$FIX/tiny-llama" "$TMP/top/m" && chmod -R u+w "$TMP/top"
tar -C "$TMP/top" -czf "$TMP/in.tgz" m
if lr-cut-depth -m "$TMP/in.tgz" --mlp-layers 1 --attn-layers 2 -o "$TMP/cut3.tar" &&
   $TOOL compare "$TMP/cut3.tar" "$TMP/cut.tar" >"$TMP/cmp"; then
    pass "gzipped tar with a top directory"
else
    fail "gzipped tar: $(cat "$TMP/cmp")"
fi

# A sharded directory reads as the single file does.
$TOOL shard "$FIX/tiny-llama" "$TMP/sharded"
if lr-cut-depth -m "$TMP/sharded" --mlp-layers 1 --attn-layers 2 -o "$TMP/cut4.tar" &&
   $TOOL compare "$TMP/cut4.tar" "$TMP/cut.tar" >"$TMP/cmp"; then
    pass "sharded input"
else
    fail "sharded input: $(cat "$TMP/cmp")"
fi

# Cutting again: a second history entry; the passthrough tokenizer survives.
if lr-cut-depth -m "$TMP/cut.tar" --attn-layers 0,3 -o "$TMP/cut5.tar" &&
   [ "$($TOOL layout "$TMP/cut5.tar")" = "0:160,1:0,0:160,0:160" ] &&
   [ "$($TOOL history "$TMP/cut5.tar")" = 2 ]; then
    pass "second cut"
else
    fail "second cut"
fi
lr-cut-depth -m "$FIX/tiny-mistral" --mlp-layers 0 -o "$TMP/m.tar" &&
tar -xOf "$TMP/m.tar" tokenizer.json | cmp -s - "$FIX/tiny-mistral/tokenizer.json" &&
    pass "tokenizer.json passed through" || fail "tokenizer.json passed through"

# -o onto a FIFO writes into it (no temporary renamed over it).
if mkfifo "$TMP/fifo" 2>/dev/null; then
    cat "$TMP/fifo" >"$TMP/from-fifo.tar" &
    lr-cut-depth -m "$FIX/tiny-llama" --mlp-layers 1 --attn-layers 2 -o "$TMP/fifo"
    wait
    if [ -p "$TMP/fifo" ] && $TOOL compare "$TMP/from-fifo.tar" "$TMP/cut.tar" >"$TMP/cmp"; then
        pass "-o FIFO"
    else
        fail "-o FIFO: $(cat "$TMP/cmp")"
    fi
else
    fail "-o FIFO: mkfifo $TMP/fifo failed"
fi

# Refusals.
expect_error "already dropped" "cut\.tar: layer 1's MLP is already dropped" "$TMP/o.tar" -- \
    lr-cut-depth -m "$TMP/cut.tar" --mlp-layers 0-1 -o "$TMP/o.tar"
# usage_error NAME PATTERN CMD...: exit 2, first stderr line matches, no output.
usage_error() {
    name=$1 pat=$2
    shift 2
    "$@" >"$TMP/stdout" 2>"$TMP/stderr"
    rc=$?
    if [ $rc -ne 2 ]; then
        fail "$name: exit $rc, expected 2"
    elif ! head -n 1 "$TMP/stderr" | grep -Eq -- "$pat"; then
        fail "$name: stderr '$(cat "$TMP/stderr")' does not match '$pat'"
    elif [ -e "$TMP/o.tar" ]; then
        fail "$name: output left"
    else
        pass "$name"
    fi
}
usage_error "out of range" "^lr-cut-depth: --attn-layers: index 4 out of range" \
    lr-cut-depth -m "$FIX/tiny-llama" --attn-layers 4 -o "$TMP/o.tar"
usage_error "nothing to drop" "nothing to drop" lr-cut-depth -m "$FIX/tiny-llama" -o "$TMP/o.tar"
usage_error "bad list" "--mlp-layers: bad range" lr-cut-depth -m "$FIX/tiny-llama" --mlp-layers 2-x -o "$TMP/o.tar"
usage_error "stray argument" "unexpected argument" lr-cut-depth -m "$FIX/tiny-llama" --mlp-layers 1 x -o "$TMP/o.tar"
ls -A "$TMP" | grep -q '^\.o\.tar' && fail "temporary file left behind" || pass "no temporary left"
finish
