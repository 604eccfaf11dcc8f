#!/bin/sh
# results-readmes.sh - no number in a results README is typed: every
# pipelines/results/*/README.md is what effir-report.py (a sweep) or
# train-dtype-report.sh (a train-dtype.sh comparison) writes from its
# files, and every results block of README.md is what
# readme-results.sh makes from the sweep it names.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "skip: python3 absent"; exit 77; }
# each results directory's README against its generator's output
for d in "$LR_SRCDIR"/pipelines/results/*/; do
    if [ -f "$d/results.tsv" ]; then what=effir-report.py
    elif [ -f "$d/train-dtype.tsv" ]; then what=train-dtype-report.sh
    else continue; fi
    name=$(basename "$d")
    case $what in
    *.py) python3 "$LR_SRCDIR/pipelines/$what" "$d" ;;
    *.sh) sh "$LR_SRCDIR/pipelines/$what" "$d" ;;
    esac >"$TMP/$name.md" 2>"$TMP/err"
    if [ $? -eq 0 ] && cmp -s "$TMP/$name.md" "$d/README.md"; then
        pass "results/$name/README.md is $what's"
    else
        fail "results/$name/README.md differs from $what's: $(diff "$d/README.md" "$TMP/$name.md" | head -3) $(cat "$TMP/err")"
    fi
done
if sh "$LR_SRCDIR/pipelines/readme-results.sh" --check "$LR_SRCDIR/README.md" 2>"$TMP/err"; then
    pass "README.md's results blocks are their sweeps'"
else
    fail "README.md: $(head -3 "$TMP/err")"
fi
finish
