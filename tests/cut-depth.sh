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

# --scores: ties and lists. A stream of tiny-llama's true scores with the
# importance values rewritten (the model digest stays): MLPs 0.5 0.2 0.2
# 0.5, attention 0.3 everywhere. Ties go to the lower layer; listed
# sublayers are dropped besides those chosen by score, which are chosen
# among the others (lr-cut-depth(1)).
lr-score -q -m "$FIX/tiny-llama" --calib-ids "$FIX/tiny-llama/ref-ids.json" -o "$TMP/s.mp" ||
    fail "lr-score tiny-llama"
python3 - "$TMP/s.mp" "$TMP/tie.mp" <<'PY' || fail "tied scores stream"
import struct, sys
b = bytearray(open(sys.argv[1], 'rb').read())
for key, vals in ((b'\xa3mlp\xcb', (0.5, 0.2, 0.2, 0.5)), (b'\xa4attn\xcb', (0.3,) * 4)):
    i = 0
    for v in vals:   # the float64 after each layer record's key
        i = b.index(key, i) + len(key)
        b[i:i + 8] = struct.pack('>d', v)
open(sys.argv[2], 'wb').write(b)
PY
by_score() {
    want=$1
    shift
    if lr-cut-depth -m "$FIX/tiny-llama" --scores "$TMP/tie.mp" "$@" -o "$TMP/tie.tar" &&
       [ "$($TOOL layout "$TMP/tie.tar")" = "$want" ]; then
        pass "--scores $*: $want"
    else
        fail "--scores $*: $($TOOL layout "$TMP/tie.tar" 2>&1), expected $want"
    fi
}
by_score 1:160,1:0,1:160,1:160 --drop-mlp 1
by_score 1:0,1:0,1:0,1:160 --drop-mlp 3
by_score 0:160,0:160,1:160,1:160 --drop-attn 2
by_score 1:160,0:160,0:160,1:160 --drop-attn 2 --keep-first 1
by_score 1:160,1:0,1:0,1:160 --mlp-layers 1 --drop-mlp 1
by_score 0:160,1:0,1:160,0:160 --attn-layers 3 --drop-attn 1 --drop-mlp 1 --keep-last 2

# Attention dropped on the qwen2 (q/k/v biases) and qwen3 (per-head q/k
# norms, head_dim != hidden/heads) layouts: the layer's attention tensors
# and input_layernorm gone, every other tensor unchanged, and the cut
# model's hidden states and importance equal those torchref.py computes
# for it in float64 (forward: 1e-5 of the largest value, as compress.sh)
if have_torch; then
    refs=
    for c in tiny-qwen2:1 tiny-qwen3:0,2; do
        fx=${c%%:*} layers=${c#*:}
        lr-cut-depth -m "$FIX/$fx" --attn-layers "$layers" -o "$TMP/$fx-a.tar" || fail "$fx: cut"
        $TOOL compare "$FIX/$fx" "$TMP/$fx-a.tar" >"$TMP/cmp"
        case $fx in
        tiny-qwen2) names="q_proj.weight q_proj.bias k_proj.weight k_proj.bias v_proj.weight v_proj.bias" ;;
        tiny-qwen3) names="q_proj.weight k_proj.weight v_proj.weight q_norm.weight k_norm.weight" ;;
        esac
        for l in $(echo "$layers" | tr , ' '); do
            for t in $names o_proj.weight; do echo "only in $FIX/$fx: model.layers.$l.self_attn.$t"; done
            echo "only in $FIX/$fx: model.layers.$l.input_layernorm.weight"
        done | sort >"$TMP/want"
        if grep '^only in' "$TMP/cmp" | sort | cmp -s - "$TMP/want" && ! grep -q '^differs' "$TMP/cmp"; then
            pass "$fx: attention of layers $layers removed ($(wc -l <"$TMP/want") tensors), the rest unchanged"
        else
            fail "$fx: attention of layers $layers: $(grep -v '^only' "$TMP/cmp"; grep '^only' "$TMP/cmp" | sort | diff - "$TMP/want")"
        fi
        mkdir "$TMP/$fx-a" && tar -xf "$TMP/$fx-a.tar" -C "$TMP/$fx-a"
        refs="$refs${refs:+ +} forward --model $TMP/$fx-a --ids $FIX/$fx/ref-ids.json --out $TMP/$fx-a.ref"
    done
    if $TORCHREF $refs >"$TMP/torchref.out" 2>&1; then
        for fx in tiny-qwen2 tiny-qwen3; do
            "$LR_BIN/../tests/compress-check" forward "$TMP/$fx-a.tar" "$FIX/$fx/ref-ids.json" \
                "$TMP/$fx-a.ref" >"$TMP/fwd" 2>&1 &&
                pass "$fx cut: hidden states as torchref.py's: $(cat "$TMP/fwd")" ||
                fail "$fx cut: hidden states: $(cat "$TMP/fwd")"
            lr-score -q -m "$TMP/$fx-a.tar" --calib-ids "$FIX/$fx/ref-ids.json" -o "$TMP/$fx-a.mp" &&
            "$LR_BIN/../tests/compress-check" scores "$TMP/$fx-a.mp" "$TMP/$fx-a.ref" >"$TMP/sc" 2>&1 &&
                pass "$fx cut: importance as torchref.py's" || fail "$fx cut: importance: $(cat "$TMP/sc")"
        done
    else
        fail "torchref.py: $(tail -n 3 "$TMP/torchref.out")"
    fi
else
    skip_part "/usr/bin/python3 lacks torch: attention drops not checked against torchref.py"
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
