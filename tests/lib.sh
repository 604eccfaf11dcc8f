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

# expect_error NAME PATTERN OUTFILE -- CMD...: CMD must exit 1 (runtime
# error), print exactly one line on stderr matching PATTERN (extended
# regex) and leave OUTFILE absent or empty ("-" to skip that check).
expect_error() {
    name=$1 pat=$2 out=$3
    shift 4
    "$@" >"$TMP/stdout" 2>"$TMP/stderr"
    rc=$?
    lines=$(wc -l <"$TMP/stderr")
    if [ $rc -ge 128 ]; then
        fail "$name: crashed (status $rc): $(head -c 300 "$TMP/stderr")"
    elif [ $rc -ne 1 ]; then
        fail "$name: exit $rc, expected 1: $(head -c 300 "$TMP/stderr")"
    elif [ "$lines" -ne 1 ]; then
        fail "$name: expected one line on stderr, got $lines: $(head -c 300 "$TMP/stderr")"
    elif ! grep -Eq -- "$pat" "$TMP/stderr"; then
        fail "$name: stderr '$(cat "$TMP/stderr")' does not match '$pat'"
    elif [ "$out" != - ] && [ -s "$out" ]; then
        fail "$name: partial output left in $out"
    else
        pass "$name"
    fi
}

finish() {
    if [ "$FAILS" -ne 0 ]; then
        echo "$FAILS failure(s)" >&2
        exit 1
    fi
    [ "$SKIPPED" -eq 0 ] || exit 77
    exit 0
}
