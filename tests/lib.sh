# lib.sh - helpers for the shell tests of the tools (sourced).
# Environment from make check: LR_BIN, LR_SRCDIR, LR_SHARED.
set -u
: "${LR_BIN:=$(cd "$(dirname "$0")/../bin" && pwd)}"
: "${LR_SRCDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${LR_SHARED:=$LR_SRCDIR/../shared}"
PATH="$LR_BIN:$PATH"
export PATH
TMP=$(mktemp -d "${TMPDIR:-/tmp}/lr-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
FAILS=0
SKIPPED=0

fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
pass() { echo "ok: $*"; }

# have_shared: true when ../shared is present. When it is absent and CI
# is set, the test fails at once with one line: CI always has the data.
have_shared() {
    [ -d "$LR_SHARED/fixtures" ] && return 0
    if [ -n "${CI:-}" ]; then
        echo "FAIL: CI is set but the shared reference data ($LR_SHARED) is absent" >&2
        exit 1
    fi
    return 1
}

# Skip the whole test (exit 77) when ../shared is absent.
need_shared() {
    if ! have_shared; then
        echo "skip: $LR_SHARED absent (tests that need shared data are skipped)"
        exit 77
    fi
}

# have_torch: true when /usr/bin/python3 (Debian's, not one on PATH) has
# PyTorch and numpy (python3-torch python3-numpy) to run
# $LR_SHARED/tools/torchref.py for references the fixtures do not carry;
# through $LR_SRCDIR/tests/torchref-run.py, several at one import. When
# they are absent and CI is set, the test fails at once.
TORCHREF="/usr/bin/python3 $LR_SRCDIR/tests/torchref-run.py $LR_SHARED/tools/torchref.py"
have_torch() {
    /usr/bin/python3 -c 'import torch, numpy' 2>/dev/null && return 0
    if [ -n "${CI:-}" ]; then
        echo "FAIL: CI is set but /usr/bin/python3 lacks torch or numpy (python3-torch python3-numpy)" >&2
        exit 1
    fi
    return 1
}

# skip_part MESSAGE: part of the test cannot run here; the rest goes on,
# and a run without failures ends as skipped (77), not passed.
skip_part() {
    echo "skip: $*"
    SKIPPED=1
}

# expect_usage NAME PATTERN CMD...: CMD must exit 2 (usage error), print
# exactly one line on stderr matching PATTERN and nothing on stdout.
expect_usage() {
    name=$1 pat=$2
    shift 2
    "$@" >"$TMP/stdout" 2>"$TMP/stderr"
    rc=$?
    if [ $rc -ne 2 ]; then fail "$name: exit $rc, expected 2"
    elif [ "$(wc -l <"$TMP/stderr")" -ne 1 ]; then fail "$name: not one line: $(head -c 300 "$TMP/stderr")"
    elif ! grep -Eq -- "$pat" "$TMP/stderr"; then fail "$name: '$(cat "$TMP/stderr")'"
    elif [ -s "$TMP/stdout" ]; then fail "$name: output on stdout"
    else pass "$name"; fi
}

# error_mismatch PATTERN OUTFILE -- CMD...: run CMD (its output in
# $TMP/stdout and $TMP/stderr) and print why it is not a clean runtime
# error, or nothing when it is: exit 1 (not a crash), exactly one line on
# stderr matching PATTERN (extended regex), OUTFILE absent or empty ("-"
# to skip that check).
error_mismatch() {
    pat=$1 out=$2
    shift 3
    "$@" >"$TMP/stdout" 2>"$TMP/stderr"
    rc=$?
    lines=$(wc -l <"$TMP/stderr")
    if [ $rc -ge 128 ]; then
        echo "crashed (status $rc): $(head -c 300 "$TMP/stderr")"
    elif [ $rc -ne 1 ]; then
        echo "exit $rc, expected 1: $(head -c 300 "$TMP/stderr")"
    elif [ "$lines" -ne 1 ]; then
        echo "expected one line on stderr, got $lines: $(head -c 300 "$TMP/stderr")"
    elif ! grep -Eq -- "$pat" "$TMP/stderr"; then
        echo "stderr '$(cat "$TMP/stderr")' does not match '$pat'"
    elif [ "$out" != - ] && [ -s "$out" ]; then
        echo "partial output left in $out"
    fi
}

# expect_error NAME PATTERN OUTFILE -- CMD...: CMD must be a clean runtime
# error (error_mismatch).
expect_error() {
    name=$1
    shift
    why=$(error_mismatch "$@")
    if [ -n "$why" ]; then fail "$name: $why"; else pass "$name"; fi
}

# ---- toy models and collections (self-contained tests) ----
# toy_config FILE LAYERS: a tiny tied Llama (hidden 32, 2 heads, 1 KV
# head) with the demo tokenizer's vocabulary.
toy_config() {
    cat >"$1" <<JSON
{"model_type": "llama", "hidden_size": 32, "intermediate_size": 64,
 "num_hidden_layers": $2, "num_attention_heads": 2, "num_key_value_heads": 1,
 "max_position_embeddings": 128, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
 "vocab_size": 4096, "tie_word_embeddings": true, "bos_token_id": 1, "eos_token_id": 2}
JSON
}

# toy_topics N: the first N of twelve topics, one "name:text" per line.
toy_topics() {
    head -n "$1" <<'EOF'
tides:the moon pulls the oceans and the sea level rises and falls twice a day
volcano:molten rock erupts from a mountain and lava flows down its sides
bread:flour water yeast and salt are kneaded and baked in a hot oven
chess:two players move kings queens rooks bishops knights and pawns on a board
rain:water vapour condenses into clouds and falls back as drops
bees:insects collect nectar from flowers and make honey in a hive
glacier:a river of ice moves slowly down a valley and carves it
coffee:roasted beans are ground and hot water is poured through them
compiler:source code is parsed checked optimised and turned into machine code
guitar:six strings are plucked or strummed over a wooden body
vaccine:a weakened germ trains the immune system to fight disease
bridge:steel cables hang from towers and carry a road across a river
EOF
}

# toy_collection N: in the current directory, for the first N topics
# (document dI and query qI each), corpus.jsonl (titled), queries.jsonl
# ("what is NAME"), pairs.jsonl ("tell me about NAME", positive
# "NAME TEXT"), text.jsonl ("NAME TEXT") and qrels.tsv (BEIR, qI -> dI).
toy_collection() {
    toy_topics "$1" | awk -F: '{
        i = NR - 1
        printf "{\"_id\":\"d%d\",\"title\":\"%s\",\"text\":\"%s\"}\n", i, $1, $2 > "corpus.jsonl"
        printf "{\"_id\":\"q%d\",\"text\":\"what is %s\"}\n", i, $1 > "queries.jsonl"
        printf "{\"query\":\"tell me about %s\",\"pos\":[\"%s %s\"]}\n", $1, $1, $2 > "pairs.jsonl"
        printf "{\"text\":\"%s %s\"}\n", $1, $2 > "text.jsonl"
        if (NR == 1) printf "query-id\tcorpus-id\tscore\n" > "qrels.tsv"
        printf "q%d\td%d\t1\n", i, i > "qrels.tsv" }'
}

# toy_model OUT [LR-TRAIN OPTION]...: a model pretrained (lm, from
# config.json, one thread, seed 1 unless given) on text.jsonl of the
# current directory; when it fails, so does the test, at once.
toy_model() {
    out=$1
    shift
    lr-train -q --threads 1 --objective lm --init config.json --tokenizer "$LR_SRCDIR/pipelines/demo/tokenizer.json" \
        --train text.jsonl --seed 1 "$@" -o "$out" 2>>"$TMP/toy.log" ||
        { fail "toy model: $(tail -n 1 "$TMP/toy.log")"; finish; }
}

# tiny_contrastive: the contrastive run of tiny-mistral that train.sh and
# mpi.sh share (needs ../shared): M, $TMP/pairs.jsonl (24 climate-fever
# pairs) and CT, its options.
tiny_contrastive() {
    M="$LR_SHARED/fixtures/tiny-mistral"
    head -n 24 "$LR_SHARED/datasets/train/climate_fever_claim_evidence.jsonl" >"$TMP/pairs.jsonl"
    CT="-j1 -q -m $M --train $TMP/pairs.jsonl --batch 8 --negatives 1 --tau 0.05 --lr 2e-3
        --max-tokens 48 --seed 1"
}

finish() {
    if [ "$FAILS" -ne 0 ]; then
        echo "$FAILS failure(s)" >&2
        exit 1
    fi
    [ "$SKIPPED" -eq 0 ] || exit 77
    exit 0
}
