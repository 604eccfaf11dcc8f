#!/bin/sh
# exports.sh - liblr.so exports the documented API and nothing else: every
# symbol its dynamic table defines is a function declared in lr.h (the
# library is built with hidden visibility; lr.h makes its declarations
# visible).
. "$(dirname "$0")/lib.sh"
SO=$LR_BIN/../.libs/liblr.so
if [ ! -f "$SO" ]; then
    echo "skip: no shared liblr.so (configured --disable-shared)"
    exit 77
fi
CC=${CC:-cc}
LC_ALL=C
export LC_ALL
# the names lr.h declares as functions: comments stripped, macros kept
"$CC" -fpreprocessed -dD -E -P "$LR_SRCDIR/lib/lr.h" 2>"$TMP/cc.err" |
    grep -oE '\blr_[a-z0-9_]+[[:space:]]*\(' | sed 's/[[:space:]]*($//' | sort -u > "$TMP/declared" ||
    fail "cannot read lr.h: $(cat "$TMP/cc.err")"
# (a function compiled for several CPUs also exports its NAME.resolver)
nm -D --defined-only "$SO" | awk 'NF == 3 { print $3 }' | sed 's/@.*//; s/\.resolver$//' |
    grep -vxE '_init|_fini|_edata|_end|__bss_start' | sort -u > "$TMP/exported"
n=$(wc -l < "$TMP/exported")
[ "$n" -ge 200 ] || fail "only $n symbols exported: the API is missing"
grep -qx lr_encoder_encode "$TMP/exported" || fail "lr_encoder_encode is not exported"
leaks=$(comm -23 "$TMP/exported" "$TMP/declared")
[ -z "$leaks" ] || fail "exported but not declared in lr.h: $(echo $leaks)"
[ "$FAILS" -ne 0 ] || pass "$n exported symbols, each declared in lr.h"
finish
