#!/bin/sh
# compress.sh - lr-score, lr-cut-depth --scores and lr-cut-width against the
# fixtures' float64 references, composition, and bad inputs.
. "${LR_SRCDIR:-$(dirname "$0")/..}/tests/lib.sh"
need_shared
F=$LR_SHARED/fixtures
CHECK=$LR_BIN/../tests/compress-check

# ok NAME CMD...: CMD must succeed (its stderr shown on failure).
ok() {
    name=$1
    shift
    if "$@" 2>"$TMP/err"; then pass "$name"; else fail "$name: $(head -c 500 "$TMP/err")"; fi
}

# 1. importance and channel statistics equal the references, every fixture
for fx in tiny-llama tiny-llama-cut tiny-mistral tiny-qwen2 tiny-qwen3 tiny-llama3rope aidreams260K; do
    if lr-score -q -m "$F/$fx" --calib-ids "$F/$fx/ref-ids.json" -o "$TMP/$fx.mp" 2>"$TMP/err"; then
        ok "scores of $fx match the reference" \
            "$CHECK" scores "$TMP/$fx.mp" "$F/$fx/ref-forward.safetensors"
    else
        fail "lr-score $fx: $(cat "$TMP/err")"
    fi
done

# channel importance against its definition, computed by mp-tool.py from
# the weights and the reference's float64 activation statistics (largest
# error measured 3.1e-7 of the largest value; 5e-6 is a margin of 16)
MP="python3 $LR_SRCDIR/tests/mp-tool.py"
if command -v python3 >/dev/null; then
    for fx in tiny-llama tiny-llama-cut tiny-mistral tiny-qwen2 tiny-qwen3 tiny-llama3rope aidreams260K; do
        ok "wanda channels of $fx" $MP channels "$TMP/$fx.mp" "$F/$fx" "$F/$fx/ref-forward.safetensors" 5e-6
    done
    for fx in tiny-llama-cut tiny-qwen3; do
        for cm in absmean weight; do
            lr-score -q -m "$F/$fx" --calib-ids "$F/$fx/ref-ids.json" --channel-metric $cm -o "$TMP/$fx-$cm.mp" &&
                ok "$cm channels of $fx" $MP channels "$TMP/$fx-$cm.mp" "$F/$fx" "$F/$fx/ref-forward.safetensors" 5e-6 ||
                fail "lr-score --channel-metric $cm $fx"
        done
    done
else
    skip_part "python3 absent: channel metrics not checked"
fi

# the model may come as a tar on stdin; the summary is a table
tar -C "$F/tiny-llama" -cf "$TMP/llama.tar" .
lr-score -q --calib-ids "$F/tiny-llama/ref-ids.json" <"$TMP/llama.tar" >"$TMP/stdin.mp" &&
    cmp -s "$TMP/stdin.mp" "$TMP/tiny-llama.mp" &&
    pass "model on stdin" || fail "model on stdin gives other scores"
lr-score --show "$TMP/tiny-llama.mp" >"$TMP/show" &&
    [ "$(grep -Ec '^ +[0-9]+ ' "$TMP/show")" -eq 4 ] &&
    pass "--show prints a row per layer" || fail "--show: $(cat "$TMP/show")"
lr-score -m "$F/tiny-llama" --calib-ids "$F/tiny-llama/ref-ids.json" --summary \
    >/dev/null 2>"$TMP/summary" && grep -q "least important" "$TMP/summary" &&
    pass "--summary on stderr" || fail "--summary: $(cat "$TMP/summary")"

# reduced-precision projections where the CPU runs them (their accuracy
# is tested in test-forward); a bad --dtype is a usage error
if lr-score -q -m "$F/tiny-llama" --calib-ids "$F/tiny-llama/ref-ids.json" --dtype fast \
    -o "$TMP/fast.mp" 2>"$TMP/err" && lr-score --show "$TMP/fast.mp" >"$TMP/show"; then
    [ "$(grep -Ec '^ +[0-9]+ ' "$TMP/show")" -eq 4 ] && pass "--dtype fast" || fail "--dtype fast: $(cat "$TMP/show")"
else
    fail "--dtype fast: $(cat "$TMP/err")"
fi
expect_usage "bad --dtype" "^lr-score: --dtype: expected f32, bf16, int8 or fast, got 'x'" \
    lr-score -m "$F/tiny-llama" --calib-ids "$F/tiny-llama/ref-ids.json" --dtype x

# 2. tiny-llama cut to tiny-llama-cut's layout is tiny-llama-cut
lr-cut-depth --mlp-layers 1 --attn-layers 2 <"$TMP/llama.tar" 2>"$TMP/err" |
    lr-cut-width -q --channels "$F/tiny-llama-cut/lr.json" >"$TMP/cut.tar" 2>>"$TMP/err" ||
    fail "cut to the fixture layout: $(cat "$TMP/err")"
[ "$("$CHECK" digest "$TMP/cut.tar")" = "$("$CHECK" digest "$F/tiny-llama-cut")" ] &&
    pass "cut model has the fixture's tensors and layout" || fail "cut model differs from tiny-llama-cut"
ok "cut model encodes as the fixture's reference" \
    "$CHECK" forward "$TMP/cut.tar" "$F/tiny-llama-cut/ref-ids.json" "$F/tiny-llama-cut/ref-forward.safetensors"
lr-score -q -m "$TMP/cut.tar" --calib-ids "$F/tiny-llama-cut/ref-ids.json" -o "$TMP/cut.mp" &&
    ok "cut model scores as the fixture's reference" \
        "$CHECK" scores "$TMP/cut.mp" "$F/tiny-llama-cut/ref-forward.safetensors"
tar -xOf "$TMP/cut.tar" ./lr.json 2>/dev/null >"$TMP/cut.json" || tar -xOf "$TMP/cut.tar" lr.json >"$TMP/cut.json"
grep -q '"history"' "$TMP/cut.json" && grep -q '"lr-cut-width"' "$TMP/cut.json" &&
    pass "lr.json has a history entry" || fail "no lr-cut-width history in lr.json"

# 3. the tools compose in any order: depth by scores, width, depth, width
S=$TMP/tiny-llama.mp
IDS=$F/tiny-llama/ref-ids.json
ok "drop the least important MLP" lr-cut-depth --scores "$S" --drop-mlp 1 -m "$TMP/llama.tar" -o "$TMP/d1.tar"
ok "score after depth" lr-score -q -m "$TMP/d1.tar" --calib-ids "$IDS" -o "$TMP/d1.mp"
ok "width after depth" lr-cut-width -q --scores "$TMP/d1.mp" --keep 0.5 --multiple-of 8 -m "$TMP/d1.tar" -o "$TMP/d1w.tar"
ok "score after width" lr-score -q -m "$TMP/d1w.tar" --calib-ids "$IDS" -o "$TMP/d1w.mp"
ok "depth after width" lr-cut-depth --scores "$TMP/d1w.mp" --drop-attn 1 --drop-mlp 1 -m "$TMP/d1w.tar" -o "$TMP/d2.tar"
ok "score again" lr-score -q -m "$TMP/d2.tar" --calib-ids "$IDS" -o "$TMP/d2.mp"
ok "global width" lr-cut-width -q --scores "$TMP/d2.mp" --global --keep 0.5 --floor 0.25 -m "$TMP/d2.tar" -o "$TMP/d2w.tar"
ok "width on scores of the original model" lr-cut-width -q --scores "$S" --width 40 -m "$TMP/llama.tar" -o "$TMP/w.tar"
ok "depth on a width-cut model" lr-score -q -m "$TMP/w.tar" --calib-ids "$IDS" -o "$TMP/w.mp"
ok "weight-only scores need no calibration" lr-score -q -m "$TMP/d2w.tar" --channel-metric weight -o "$TMP/wt.mp"
ok "width by weight-only scores" lr-cut-width -q --scores "$TMP/wt.mp" --keep 0.5 -m "$TMP/d2w.tar" -o "$TMP/wt.tar"
expect_error "weight-only scores cannot choose sublayers" "no MLP importance" "$TMP/out.tar" -- \
    lr-cut-depth --scores "$TMP/wt.mp" --drop-mlp 1 -m "$TMP/d2w.tar" -o "$TMP/out.tar"
for t in d1 d1w d2 d2w wt; do
    ok "$t.tar runs forward" "$CHECK" forward "$TMP/$t.tar" "$IDS" -
done

# text calibration is tokenised as lr-encode tokenises (same ids, same scores)
tar -C "$F/tiny-mistral" -cf "$TMP/mistral.tar" .
Q=$LR_SHARED/datasets/adi/queries.jsonl
ok "score from BEIR queries" lr-score -q -m "$TMP/mistral.tar" --calib "$Q" -o "$TMP/m.mp"
if lr-encode -q -m "$TMP/mistral.tar" --queries "$Q" --tokenize >"$TMP/q.ids" 2>"$TMP/err"; then
    { printf '['; paste -sd, "$TMP/q.ids"; printf ']'; } >"$TMP/q.json"
    lr-score -q -m "$TMP/mistral.tar" --calib-ids "$TMP/q.json" -o "$TMP/mi.mp" &&
        lr-score --show "$TMP/m.mp" >"$TMP/m.show" && lr-score --show "$TMP/mi.mp" >"$TMP/mi.show" &&
        cmp -s "$TMP/m.show" "$TMP/mi.show" &&
        pass "text calibration uses lr-encode's ids" || fail "text and lr-encode's ids score differently"
else
    fail "lr-encode --tokenize: $(cat "$TMP/err")"
fi
head -n 5 "$LR_SHARED/datasets/train/climate_fever_claim_evidence.jsonl" >"$TMP/pairs.jsonl"
ok "score from training pairs" lr-score -q -m "$TMP/mistral.tar" --calib "$TMP/pairs.jsonl" --calib-tokens 300 -o "$TMP/p.mp"
printf 'a\tThe quick brown fox\nb\tjumps over the lazy dog\n' >"$TMP/calib.tsv"
ok "score from id<TAB>text" lr-score -q -m "$TMP/mistral.tar" --calib "$TMP/calib.tsv" -o "$TMP/t.mp"
# the uncut model's scores after a cut: an ancestor's, used with a note
lr-cut-depth --scores "$TMP/m.mp" --drop-mlp 1 <"$TMP/mistral.tar" 2>"$TMP/err" |
    lr-cut-width -q --scores "$TMP/m.mp" --keep 0.5 >"$TMP/stale.tar" 2>"$TMP/err2" &&
    [ "$(grep -c 'scores of an ancestor of stdin (1 stage back)' "$TMP/err2")" -eq 1 ] &&
    pass "an ancestor's scores after a cut, said once" || fail "ancestor scores: $(cat "$TMP/err2")"
ok "width-cut model" lr-cut-width -q --scores "$TMP/m.mp" --keep 0.5 -m "$TMP/mistral.tar" -o "$TMP/mw.tar"
ok "cut model encodes text" lr-encode -q -m "$TMP/mw.tar" --corpus "$TMP/calib.tsv" -o "$TMP/mw.emb"
printf '{"_id": "1", "text": "x"}\n{"_id": \n' >"$TMP/bad.jsonl"
expect_error "malformed calibration text" "bad.jsonl.*2" "$TMP/out.mp" -- \
    lr-score -m "$TMP/mistral.tar" --calib "$TMP/bad.jsonl" -o "$TMP/out.mp"
expect_error "calibration without a tokenizer" "tokenizer" "$TMP/out.mp" -- \
    lr-score -m "$TMP/llama.tar" --calib "$TMP/calib.tsv" -o "$TMP/out.mp"

# width options by their effect: mp-tool.py reads the kept channels and
# widths of lr.json and checks them against the scores (each MLP keeps its
# best channels; uniform widths are the fraction, rounded to the multiple;
# global: one threshold above the floor, the fraction of all channels)
if command -v python3 >/dev/null; then
    for c in "uniform 0.5 0.1 1" "uniform 0.33 0.1 8" "global 0.5 0.1 1" "global 0.3 0.4 1" "global 0.4 0.1 16"; do
        set -- $c
        fl=
        [ $1 = global ] && fl="--floor $3"
        lr-cut-width -q --scores "$S" --$1 --keep $2 $fl --multiple-of $4 -m "$TMP/llama.tar" -o "$TMP/wo.tar" &&
            tar -xOf "$TMP/wo.tar" lr.json >"$TMP/wo.json" &&
            ok "--$1 --keep $2 --floor $3 --multiple-of $4 by effect" $MP widths "$S" "$TMP/wo.json" $1 $2 $3 $4 ||
            fail "lr-cut-width --$1 --keep $2 --floor $3 --multiple-of $4"
    done
    # the default is --uniform
    lr-cut-width -q --scores "$S" --keep 0.5 -m "$TMP/llama.tar" -o "$TMP/wo.tar" &&
        tar -xOf "$TMP/wo.tar" lr.json >"$TMP/wo.json" &&
        ok "uniform by default" $MP widths "$S" "$TMP/wo.json" uniform 0.5 0.1 1
    rm -f "$TMP/wo.tar"
fi

# 4. every MLP, every attention sublayer
ok "drop every MLP" lr-cut-depth --scores "$S" --drop-mlp 4 -m "$TMP/llama.tar" -o "$TMP/nomlp.tar"
ok "score a model without MLPs" lr-score -q -m "$TMP/nomlp.tar" --calib-ids "$IDS" -o "$TMP/nomlp.mp"
expect_error "width of a model without MLPs" "no MLP" "$TMP/out.tar" -- \
    lr-cut-width --scores "$TMP/nomlp.mp" --keep 0.5 -m "$TMP/nomlp.tar" -o "$TMP/out.tar"
ok "drop every attention sublayer" lr-cut-depth --scores "$S" --drop-attn 4 -m "$TMP/llama.tar" -o "$TMP/noattn.tar"
ok "score a model without attention" lr-score -q -m "$TMP/noattn.tar" --calib-ids "$IDS" -o "$TMP/noattn.mp"
ok "width of a model without attention" lr-cut-width -q --scores "$TMP/noattn.mp" --keep 0.25 -m "$TMP/noattn.tar" -o "$TMP/noattn-w.tar"

# 5. refusals
CS=$TMP/tiny-llama-cut.mp
expect_error "more MLPs than present" "only 3 present" "$TMP/out.tar" -- \
    lr-cut-depth --scores "$CS" --drop-mlp 4 -m "$F/tiny-llama-cut" -o "$TMP/out.tar"
expect_error "protected layers" "protected" "$TMP/out.tar" -- \
    lr-cut-depth --scores "$S" --drop-mlp 3 --keep-first 1 --keep-last 1 -m "$TMP/llama.tar" -o "$TMP/out.tar"
expect_error "scores of another model (width)" \
    "tiny-llama\.mp: scores of model [0-9a-f]{16}, but .*/tiny-qwen2 is model [0-9a-f]{16}, which does not descend from it: score the model being cut$" \
    "$TMP/out.tar" -- lr-cut-width --scores "$S" --keep 0.5 -m "$F/tiny-qwen2" -o "$TMP/out.tar"
expect_error "scores of another model (depth)" "tiny-llama\.mp: scores of a 4-layer model, but .*/tiny-qwen2 has 3 layers$" "$TMP/out.tar" -- \
    lr-cut-depth --scores "$S" --drop-mlp 1 -m "$F/tiny-qwen2" -o "$TMP/out.tar"
# scores of the model before its cut are an ancestor's (tests/readme.sh);
# scores of the cut model do not describe the model it was cut from
expect_error "scores of a descendant" "d1.mp: scores of model .*, which does not descend from it" \
    "$TMP/out.tar" -- lr-cut-width --scores "$TMP/d1.mp" --keep 0.5 -m "$TMP/llama.tar" -o "$TMP/out.tar"
head -c 200 "$S" >"$TMP/trunc.mp"
expect_error "truncated scores" "trunc.mp" "$TMP/out.tar" -- \
    lr-cut-width --scores "$TMP/trunc.mp" --keep 0.5 -m "$TMP/llama.tar" -o "$TMP/out.tar"
printf 'not msgpack\n' >"$TMP/junk.mp"
expect_error "not a stream" "junk.mp" "$TMP/out.tar" -- \
    lr-cut-depth --scores "$TMP/junk.mp" --drop-mlp 1 -m "$TMP/llama.tar" -o "$TMP/out.tar"
expect_error "malformed scores for --show" "trunc.mp" - -- lr-score --show "$TMP/trunc.mp"
printf '{"0": [1, 2, 999]}' >"$TMP/ch.json"
expect_error "channel out of range" "ch.json: layer 0" "$TMP/out.tar" -- \
    lr-cut-width --channels "$TMP/ch.json" -m "$TMP/llama.tar" -o "$TMP/out.tar"
printf '[[1, 2], []]' >"$TMP/ids.json"
expect_error "empty id sequence" "ids.json: sequence 1" "$TMP/out.mp" -- \
    lr-score -m "$TMP/llama.tar" --calib-ids "$TMP/ids.json" -o "$TMP/out.mp"
printf '[[1, 2, 100000]]' >"$TMP/ids.json"
expect_error "id outside the vocabulary" "100000|vocab" "$TMP/out.mp" -- \
    lr-score -m "$TMP/llama.tar" --calib-ids "$TMP/ids.json" -o "$TMP/out.mp"
expect_usage "keep 0" "--keep" lr-cut-width --scores "$S" --keep 0 -m "$TMP/llama.tar"
expect_usage "keep above 1" "--keep" lr-cut-width --scores "$S" --keep 1.5 -m "$TMP/llama.tar"
expect_usage "width 0" "--width" lr-cut-width --scores "$S" --width 0 -m "$TMP/llama.tar"
expect_usage "width above full" "--width" lr-cut-width --scores "$S" --width 161 -m "$TMP/llama.tar" -o "$TMP/out.tar"
expect_usage "keep and width" "--keep" lr-cut-width --scores "$S" --keep 0.5 --width 8 -m "$TMP/llama.tar"
expect_usage "no calibration" "calib" lr-score -m "$TMP/llama.tar" -o "$TMP/out.mp"
expect_usage "unknown metric" "channel-metric" lr-score -m "$TMP/llama.tar" --channel-metric foo
[ ! -e "$TMP/out.tar" ] && [ ! -e "$TMP/out.mp" ] && pass "no partial outputs" || fail "partial output left"
finish
