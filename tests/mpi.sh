#!/bin/sh
# mpi.sh - data-parallel lr-train and lr-score under Open MPI on localhost:
# two ranks give the losses, weights and scores of one process (float32
# reduction order aside), --resume works with two ranks, and ranks that
# disagree or die stop the job with one message and no output.
. "${LR_SRCDIR:-$(dirname "$0")/..}/tests/lib.sh"

if [ "${LR_MPI:-no}" != yes ]; then
    echo "skip: lr was built without MPI (install openmpi-bin and libopenmpi-dev, rerun configure)"
    exit 77
fi
if ! command -v mpirun >/dev/null 2>&1; then
    echo "skip: mpirun not found (Debian package openmpi-bin)"
    exit 77
fi
need_shared
# shared memory and self only: no network needed; -q: only the tools speak.
# Under AddressSanitizer, leak checking is off for the ranks: Open MPI's
# own allocations in plugins it unloads cannot be suppressed by name (the
# one-process runs here and every other test keep it on).
MPIRUN="env ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0
        mpirun -q --oversubscribe --allow-run-as-root --mca btl self,vader"
tiny_contrastive
m=$M ct=$CT
head -n 16 "$LR_SHARED/datasets/train/climate_fever_claim_evidence.jsonl" >"$TMP/other.jsonl"

# largest |a - b| of column 2 (the loss) between two logs of the same steps
loss_gap() { awk 'NR == FNR { a[$1] = $2; next } ($1 in a) { d = a[$1] - $2; if (d < 0) d = -d; if (d > g) g = d; n++ }
                  END { if (n == 0) print "none"; else printf "%.2g\n", g }' "$1" "$2"; }
within() { awk -v x="$1" -v t="$2" 'BEGIN { exit !(x != "none" && x + 0 <= t + 0) }'; }
field() { awk -v k="$2" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }' "$1"; }

# --- contrastive: one process vs two ranks, the same global batch of 8 ---
# (gradient caching on the ranks, --chunk 64, keeps working per rank)
# Tolerances: the loss as logged (6 decimals) to 1e-5; the float32 weights
# of the training state after 4 updates (lr 2e-3) to 5e-5 absolute.  Two
# ranks measure 8e-6 to 1.3e-5 here, as does one process with --chunk 64 against
# one without: the same float32 sums in another order.
lr-train $ct --steps 5 --save-every 4 --log "$TMP/one.log" -o "$TMP/one.tar" ||
    fail "one process: exit status"
# (without -q: rank 0 alone reports progress, saying how many ranks train)
if $MPIRUN -np 2 lr-train $(echo "$ct" | sed 's/-q//') --chunk 64 --steps 5 --save-every 4 \
        --log "$TMP/two.log" -o "$TMP/two.tar" 2>"$TMP/two.err"; then
    gap=$(loss_gap "$TMP/one.log" "$TMP/two.log")
    [ "$(wc -l <"$TMP/two.log")" -eq 5 ] && within "$gap" 1e-5 &&
        pass "contrastive: 2 ranks log the losses of one process (largest gap $gap)" ||
        fail "contrastive: losses differ by $gap: $(paste "$TMP/one.log" "$TMP/two.log" | head -3)"
    python3 "$LR_SRCDIR/tests/weight-diff.py" "$TMP/one.tar.state" "$TMP/two.tar.state" >"$TMP/wd" ||
        fail "contrastive: states not comparable"
    d=$(field "$TMP/wd" max_abs)
    within "$d" 5e-5 && pass "contrastive: 2 ranks train the weights of one process ($(cat "$TMP/wd"))" ||
        fail "contrastive: weights differ: $(cat "$TMP/wd")"
    grep -q '^lr-train, 2 ranks: 5/5' "$TMP/two.err" && ! grep -qv '^lr-train, 2 ranks: ' "$TMP/two.err" &&
        pass "progress: rank 0 alone reports, saying 2 ranks" ||
        fail "progress: $(head -c 300 "$TMP/two.err")"
else
    fail "contrastive, 2 ranks: exit status: $(head -c 300 "$TMP/two.err")"
fi

# --- resume with two ranks: 4 updates saved, 1 more == 5 in one go ---
if $MPIRUN -np 2 lr-train $ct --chunk 64 --steps 5 --resume "$TMP/two.tar.state" -o "$TMP/res.tar"; then
    mkdir "$TMP/a" "$TMP/b" && tar -xf "$TMP/two.tar" -C "$TMP/a" && tar -xf "$TMP/res.tar" -C "$TMP/b"
    cmp -s "$TMP/a/model.safetensors" "$TMP/b/model.safetensors" &&
        pass "resume with 2 ranks == uninterrupted 2 ranks" || fail "resume with 2 ranks: weights differ"
else
    fail "resume with 2 ranks: exit status"
fi

# --- lm objective: the global mean over predicted tokens, split by sequences ---
cat >"$TMP/config.json" <<'JSON'
{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 32,
 "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
 "num_key_value_heads": 2, "max_position_embeddings": 256, "rms_norm_eps": 1e-05,
 "rope_theta": 10000.0, "vocab_size": 4096, "tie_word_embeddings": false,
 "bos_token_id": 1, "eos_token_id": 2}
JSON
lm="-j1 -q --init $TMP/config.json --tokenizer $LR_SRCDIR/pipelines/demo/tokenizer.json --objective lm
    --train $LR_SRCDIR/README.md --max-tokens 64 --batch 5 --lr 3e-3 --seed 3 --steps 3 --save-every 2"
if lr-train $lm --log "$TMP/lm1.log" -o "$TMP/lm1.tar" &&
   $MPIRUN -np 2 lr-train $lm --log "$TMP/lm2.log" -o "$TMP/lm2.tar"; then
    gap=$(loss_gap "$TMP/lm1.log" "$TMP/lm2.log")
    python3 "$LR_SRCDIR/tests/weight-diff.py" "$TMP/lm1.tar.state" "$TMP/lm2.tar.state" >"$TMP/wd"
    d=$(field "$TMP/wd" max_abs)
    within "$gap" 1e-5 && within "$d" 5e-5 &&
        pass "lm: 2 ranks == one process (loss gap $gap, $(cat "$TMP/wd"))" ||
        fail "lm: loss gap $gap, $(cat "$TMP/wd")"
else
    fail "lm, 2 ranks: exit status"
fi

# --- lr-score: batches dealt to the ranks, sums over tokens added up ---
# (--batch-tokens 8: the fixture's 8 sequences make several batches per rank;
# the sums differ from one process only in double rounding, 1e-12 relative)
F="$LR_SHARED/fixtures/tiny-llama"
CHECK="$LR_BIN/../tests/compress-check"
sc="-q -t 1 -m $F --calib-ids $F/ref-ids.json --batch-tokens 8"
if lr-score $sc -o "$TMP/s1.mp" && $MPIRUN -np 2 lr-score $sc -o "$TMP/s2.mp"; then
    "$CHECK" scores "$TMP/s2.mp" "$F/ref-forward.safetensors" >"$TMP/sc" &&
        pass "lr-score, 2 ranks: scores match the float64 reference ($(cat "$TMP/sc"))" ||
        fail "lr-score, 2 ranks: $(cat "$TMP/sc")"
    "$CHECK" same-scores "$TMP/s1.mp" "$TMP/s2.mp" 1e-12 >"$TMP/sc" &&
        pass "lr-score, 2 ranks == one process ($(cat "$TMP/sc"))" ||
        fail "lr-score, 2 ranks differ from one process: $(cat "$TMP/sc")"
else
    fail "lr-score, 2 ranks: exit status"
fi

# --- ranks that disagree or fail: one line, every rank stops, nothing written ---
# (two programs on one mpirun command line: rank 0, then rank 1)
one="-j1 -q --batch 8 --max-tokens 48 --steps 2"
expect_error "ranks with different data" 'the ranks disagree: rank 1 has a different training data' "$TMP/e1.tar" -- \
    $MPIRUN -np 1 lr-train $one -m "$m" --train "$TMP/pairs.jsonl" -o "$TMP/e1.tar" \
          : -np 1 lr-train $one -m "$m" --train "$TMP/other.jsonl" -o "$TMP/e1.tar"
expect_error "ranks with different models" 'the ranks disagree: rank 1 has a different model' "$TMP/e3.tar" -- \
    $MPIRUN -np 1 lr-train $one -m "$m" --train "$TMP/pairs.jsonl" -o "$TMP/e3.tar" \
          : -np 1 lr-train $one -m "$TMP/one.tar" --train "$TMP/pairs.jsonl" -o "$TMP/e3.tar"
expect_error "a rank without its model" '^lr-train: rank 1 of 2: .*nope.tar' "$TMP/e4.tar" -- \
    $MPIRUN -np 1 lr-train $one -m "$m" --train "$TMP/pairs.jsonl" -o "$TMP/e4.tar" \
          : -np 1 lr-train $one -m "$TMP/nope.tar" --train "$TMP/pairs.jsonl" -o "$TMP/e4.tar"
expect_usage "model on stdin" 'give the model as -m PATH' \
    $MPIRUN -np 2 lr-train $one --train "$TMP/pairs.jsonl" -o "$TMP/e6.tar"
# a rank killed mid-run: mpirun stops the job, no output (mpirun itself says which rank died)
$MPIRUN -np 1 lr-train $one --steps 100000 -m "$m" --train "$TMP/pairs.jsonl" -o "$TMP/e7.tar" \
      : -np 1 sh -c '(sleep 1; kill -9 $$) & exec lr-train "$@"' sh \
            $one --steps 100000 -m "$m" --train "$TMP/pairs.jsonl" -o "$TMP/e7.tar" 2>"$TMP/e7.err"
rc=$?
[ $rc -ne 0 ] && [ ! -e "$TMP/e7.tar" ] && pass "a rank killed: job stopped (status $rc), nothing written" ||
    fail "a rank killed: status $rc, output: $(ls "$TMP"/e7.tar* 2>&1)"

finish
