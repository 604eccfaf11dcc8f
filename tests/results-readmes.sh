#!/bin/sh
# results-readmes.sh - no number in a results README is typed: every
# pipelines/results/*/README.md is what effir-report.py (a sweep) or
# train-dtype-report.sh (a train-dtype.sh comparison) writes from its
# files, and every results block of README.md is what
# readme-results.sh makes from the sweep it names.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "skip: python3 absent"; exit 77; }
for d in "$LR_SRCDIR"/pipelines/results/*/; do
    [ -f "$d/results.tsv" ] || continue
    name=$(basename "$d")
    if python3 "$LR_SRCDIR/pipelines/effir-report.py" "$d" >"$TMP/$name.md" 2>"$TMP/err" &&
        cmp -s "$TMP/$name.md" "$d/README.md"; then
        pass "results/$name/README.md is effir-report.py's"
    else
        fail "results/$name/README.md differs from effir-report.py's: $(diff "$d/README.md" "$TMP/$name.md" | head -3) $(cat "$TMP/err")"
    fi
done
for d in "$LR_SRCDIR"/pipelines/results/*/; do
    [ -f "$d/train-dtype.tsv" ] || continue
    name=$(basename "$d")
    if sh "$LR_SRCDIR/pipelines/train-dtype-report.sh" "$d" >"$TMP/$name.md" 2>"$TMP/err" &&
        cmp -s "$TMP/$name.md" "$d/README.md"; then
        pass "results/$name/README.md is train-dtype-report.sh's"
    else
        fail "results/$name/README.md differs from train-dtype-report.sh's: $(diff "$d/README.md" "$TMP/$name.md" | head -3) $(cat "$TMP/err")"
    fi
done
if sh "$LR_SRCDIR/pipelines/readme-results.sh" --check "$LR_SRCDIR/README.md" 2>"$TMP/err"; then
    pass "README.md's results blocks are their sweeps'"
else
    fail "README.md: $(head -3 "$TMP/err")"
fi
finish
