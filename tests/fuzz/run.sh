#!/bin/sh
# run.sh SECONDS TARGET... - run each libFuzzer target for SECONDS from its
# corpus (fuzz-corpus/TARGET, grown), its seeds (fuzz-seeds/TARGET) and
# the inputs that once broke it (tests/fuzz/regress/TARGET, committed);
# stop at the first crash, leak, sanitizer report, timeout or memory
# blow-up, leaving the input as fuzz-crash/TARGET-*.
# Environment: FUZZ_ARGS (extra libFuzzer options), FUZZ_SHARED (../shared).
set -u
secs=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
seeds=fuzz-seeds
if [ ! -d "$seeds" ]; then
    python3 "$here/seeds.py" "$seeds.tmp" "${FUZZ_SHARED:-$here/../../../shared}" && mv "$seeds.tmp" "$seeds" || exit 1
fi
LR_FUZZ_TOKENIZERS=$(ls "$seeds"/tokenizers/*.json | tr '\n' ':')
ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}"
LSAN_OPTIONS="suppressions=$here/../lsan.supp"
UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LR_FUZZ_TOKENIZERS ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS
mkdir -p fuzz-corpus fuzz-crash
status=0
for t in "$@"; do
    mkdir -p "fuzz-corpus/$t"
    regress=
    [ -d "$here/regress/$t" ] && regress="$here/regress/$t"
    echo "== fuzz-$t: $secs s"
    if ! "tests/fuzz/fuzz-$t" -max_total_time="$secs" -timeout=20 -rss_limit_mb=3072 -max_len=262144 \
        -print_final_stats=1 -artifact_prefix="fuzz-crash/$t-" ${FUZZ_ARGS:-} \
        "fuzz-corpus/$t" "$seeds/$t" $regress >"fuzz-$t.log" 2>&1; then
        tail -n 40 "fuzz-$t.log" >&2
        echo "fuzz-$t: FAILED (log: fuzz-$t.log, input: fuzz-crash/)" >&2
        status=1
    else
        grep -E '^stat::number_of_executed_units|^#[0-9]+.*DONE' "fuzz-$t.log" | tail -n 2
    fi
done
exit $status
