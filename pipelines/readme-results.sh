#!/bin/sh
# readme-results.sh [--check] FILE...: remake every results block of each
# Markdown FILE from the sweep it names, so that no number in it is typed.
# A block is
#   <!-- effir-summary pipelines/results/SWEEP -->
#   ...(replaced by effir-report.py --summary pipelines/results/SWEEP)...
#   <!-- end effir-summary -->
# with the sweep's directory relative to the source tree's top.  --check
# changes nothing and fails when a block differs from what it would be.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
check=
[ "${1:-}" = --check ] && { check=1; shift; }
status=0
for f in "$@"; do
    tmp=$(mktemp)
    awk -v top="$top" -v py="$PY" '
        /^<!-- effir-summary .* -->$/ {
            print; dir = $3; skip = 1
            cmd = py " \"" top "/pipelines/effir-report.py\" --summary \"" top "/" dir "\""
            while ((cmd | getline line) > 0) print line
            if (close(cmd) != 0) { print "readme-results.sh: " cmd " failed" > "/dev/stderr"; exit 1 }
            next }
        /^<!-- end effir-summary -->$/ { skip = 0 }
        !skip { print }' "$f" > "$tmp"
    if [ -n "$check" ]; then
        if ! cmp -s "$f" "$tmp"; then
            echo "readme-results.sh: $f: a results block is not what its sweep gives" >&2
            diff "$f" "$tmp" | head -20 >&2 || true
            status=1
        fi
        rm -f "$tmp"
    else
        cat "$tmp" > "$f" && rm -f "$tmp"
    fi
done
exit $status
