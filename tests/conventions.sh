#!/bin/sh
# conventions.sh - what every tool shares: lr(7)'s option table against
# each tool's --help, the renamed options, BLIS_ARCH_TYPE and the
# thread count.
. "$(dirname "$0")/lib.sh"
TOOLS="score depth width train encode eval"
bin() { case $1 in depth) echo lr-cut-depth ;; width) echo lr-cut-width ;; *) echo "lr-$1" ;; esac; }

# ---- 1. one option table: lr(7) against --help ----
# the options of each tool's --help, as "-x --long" or "--long" lines
for t in $TOOLS; do
    "$(bin $t)" --help | sed -n 's/^ *\(-[a-zA-Z]\), \(--[a-z-]*\).*/\1 \2/p; s/^  *\(--[a-z-]*\).*/\1/p' > "$TMP/help.$t"
    [ -s "$TMP/help.$t" ] || fail "$(bin $t) --help lists no options"
done
# the table: option<TAB>meaning<TAB>tools rows between the header and .TE
awk -F'\t' '/^option\tmeaning\ttools$/ { on = 1; next } on && /^\.TE/ { exit }
    on && NF == 3 { gsub(/\\-/, "-", $1); print $1 "\t" $3 }' "$LR_SRCDIR/man/lr.7" > "$TMP/table"
[ "$(wc -l < "$TMP/table")" -ge 20 ] && pass "lr(7) has an option table" || fail "lr(7) table: $(cat "$TMP/table")"
expand_tools() {
    case $1 in
        all) echo "$TOOLS" ;;
        "all but "*) echo "$TOOLS" | tr ' ' '\n' | grep -vx "${1#all but }" | tr '\n' ' ' ;;
        *) echo "$1" ;;
    esac
}
: > "$TMP/listed"
while IFS="$(printf '\t')" read -r opt tools; do
    long=$(echo "$opt" | grep -o -- '--[a-z-]*' | head -1)
    short=$(echo "$opt" | grep -o -- '^-[a-zA-Z],' | tr -d ,)
    for t in $(expand_tools "$tools"); do
        echo "$t $long" >> "$TMP/listed"
        # lr-eval's -m, -c and -q are trec_eval's: only the long name there
        if [ -n "$short" ] && ! { [ $t = eval ] && echo "$short" | grep -Eqx -- '-(m|c|q)'; }; then
            grep -qx -- "$short $long" "$TMP/help.$t" || fail "lr(7): $(bin $t) $short, $long not in its --help"
        else
            grep -q -- " *$long\$" "$TMP/help.$t" || fail "lr(7): $(bin $t) $long not in its --help"
        fi
    done
done < "$TMP/table"
# every long option more than one tool takes is in the table, for each of them
for t in $TOOLS; do sed 's/.* //' "$TMP/help.$t" | sed "s/^/$t /"; done > "$TMP/all"
for long in $(awk '{ print $2 }' "$TMP/all" | sort | uniq -d); do
    for t in $(awk -v l="$long" '$2 == l { print $1 }' "$TMP/all"); do
        grep -qx -- "$t $long" "$TMP/listed" || fail "$(bin $t) and another tool take $long; lr(7)'s table does not list it for $(bin $t)"
    done
done
# a short letter means one long option across the suite (lr-eval's -m, -c
# and -q are trec_eval's), and it is in the table
for t in $TOOLS; do
    grep '^-[a-zA-Z] ' "$TMP/help.$t" | { [ $t = eval ] && grep -Ev '^-(m|c|q) ' || cat; }
done | sort -u > "$TMP/shorts"
dups=$(awk '{ print $1 }' "$TMP/shorts" | uniq -d | tr '\n' ' ')
[ -z "$dups" ] && pass "a short letter means one option" || fail "short letters with two meanings: $dups"
while read -r short long; do
    awk -F'\t' '{ print $1 }' "$TMP/table" | grep -q -- "^$short, $long" || fail "$short, $long is not in lr(7)'s table"
done < "$TMP/shorts"
pass "lr(7)'s table matches every --help"

# ---- 2. the renamed options behave as the table says ----
expect_usage "lr-train -t is --threads" "--threads: 'pairs.jsonl' is not an integer" lr-train -t pairs.jsonl
expect_usage "lr-score --queries points to --as-queries" "--queries is now --as-queries" \
    lr-score --queries --calib x
expect_usage "lr-cut-width -k points to --keep" "-k is lr-eval's --top; say --keep F" \
    lr-cut-width -k 0.5 --scores x
for t in score depth width train encode eval; do
    expect_usage "$(bin $t) --threads checks its value" "--threads: 'x' is not an integer" "$(bin $t)" --threads x
done

# ---- 3. one rule for binary output to a terminal ----
if command -v script >/dev/null; then
    on_tty() {   # on_tty NAME CMD: CMD with a terminal as standard output (and input)
        name=$1
        shift
        script -qec "timeout 60 $*" /dev/null > "$TMP/tty.out" 2>&1
        echo $?
    }
    for cmd in "lr-score --calib x.jsonl:a scores stream" "lr-cut-depth --mlp-layers 0:a model tar" \
               "lr-cut-width --channels x.json:a model tar" "lr-train --train x.jsonl:a model tar" \
               "lr-encode --corpus x.jsonl:an embeddings stream" \
               "lr-cut-depth --mlp-layers 0 -o -:a model tar" \
               "lr-eval --qrels q --run r --metrics-stream -:a metrics stream"; do
        c=${cmd%%:*} what=${cmd#*:}
        rc=$(on_tty "$c" "$c")
        if [ "$rc" = 2 ] && grep -q "refusing to write $what to a terminal: redirect standard output or use -o FILE; try" "$TMP/tty.out" &&
            [ "$(grep -c . "$TMP/tty.out")" -eq 1 ]; then
            pass "terminal: $c refused"
        else
            fail "terminal: $c: exit $rc: $(head -c 300 "$TMP/tty.out")"
        fi
    done
    # text goes to a terminal
    printf 'q1 0 d1 1\n' > "$TMP/qrels"
    printf 'q1 Q0 d1 1 2.0 r\n' > "$TMP/run"
    rc=$(on_tty eval "lr-eval --qrels $TMP/qrels --run $TMP/run")
    [ "$rc" = 0 ] && grep -q 'ndcg_cut_10' "$TMP/tty.out" && pass "terminal: lr-eval's measures are shown" ||
        fail "terminal: lr-eval: exit $rc: $(head -c 300 "$TMP/tty.out")"
else
    skip_part "script (util-linux) absent: the terminal rule not tried"
fi

# ---- 4. man pages: one header and footer ----
version=$(sed -n 's/^AC_INIT(\[lr\], \[\([^]]*\)\].*/\1/p' "$LR_SRCDIR/configure.ac")
for f in "$LR_SRCDIR"/man/*.[157]; do
    name=$(basename "$f" | sed 's/\.[157]$//' | tr a-z A-Z) sec=${f##*.}
    th=$(grep -m1 '^\.TH' "$f")
    [ "$th" = ".TH $name $sec 2026-11-29 \"lr $version\" \"lr manual\"" ] || fail "$(basename "$f"): $th"
done
date=$(grep -h -m1 '^\.TH' "$LR_SRCDIR"/man/*.[157] | awk '{ print $4 }' | sort -u | wc -l)
[ "$date" -eq 1 ] && pass "man pages: one date, lr $version, lr manual" || fail "man pages: $date dates"
for t in $TOOLS; do
    [ "$("$(bin $t)" --version)" = "$(bin $t) (lr) $version" ] || fail "$(bin $t) --version: $("$(bin $t)" --version)"
done

need_shared
F=$LR_SHARED/fixtures
# -o - is standard output; -o FILE with a terminal on stdout is fine
lr-cut-depth --mlp-layers 0 -m "$F/tiny-llama" -o - > "$TMP/dash.tar" 2>"$TMP/err" && tar -tf "$TMP/dash.tar" | grep -q lr.json &&
    pass "-o - writes standard output" || fail "-o -: $(cat "$TMP/err")"
if command -v script >/dev/null; then
    rc=$(on_tty ok "lr-cut-depth --mlp-layers 0 -m $F/tiny-llama -o $TMP/tty.tar")
    [ "$rc" = 0 ] && [ -s "$TMP/tty.tar" ] && pass "terminal: -o FILE writes the file" || fail "terminal -o FILE: exit $rc $(cat "$TMP/tty.out")"
fi
lr-cut-depth -t 1 --mlp-layers 0 -m "$F/tiny-llama" -o "$TMP/d.tar" 2>"$TMP/err" &&
    lr-cut-width --threads 1 -q --channels "$F/tiny-llama-cut/lr.json" -m "$F/tiny-llama" -o "$TMP/w.tar" 2>>"$TMP/err" &&
    [ -s "$TMP/d.tar" ] && [ -s "$TMP/w.tar" ] && pass "lr-cut-depth and lr-cut-width take --threads" ||
    fail "cut --threads: $(cat "$TMP/err")"
# lr-score: --max-tokens cuts each text, --calib-tokens is the budget;
# three sequences of 6, 8 and 2 ids
echo '[[5,6,7,8,9,10],[5,6,7,8,9,10,11,12],[5,6]]' > "$TMP/ids.json"
calib_tokens() { lr-score --show "$1" | sed -n 's/.* layers, \([0-9]*\) calibration tokens.*/\1/p'; }
lr-score -q -t 1 -m "$F/tiny-llama" --calib-ids "$TMP/ids.json" --max-tokens 4 -o "$TMP/s1.mp" 2>"$TMP/err"
[ "$(calib_tokens "$TMP/s1.mp")" = 10 ] && pass "lr-score --max-tokens 4: 4 + 4 + 2 tokens" ||
    fail "--max-tokens: $(calib_tokens "$TMP/s1.mp") tokens $(cat "$TMP/err")"
lr-score -q -t 1 -m "$F/tiny-llama" --calib-ids "$TMP/ids.json" --max-length 4 --calib-tokens 9 -o "$TMP/s2.mp" 2>"$TMP/err"
[ "$(calib_tokens "$TMP/s2.mp")" = 8 ] && pass "lr-score --calib-tokens 9: stops before the third text" ||
    fail "--calib-tokens: $(calib_tokens "$TMP/s2.mp") tokens $(cat "$TMP/err")"

# ---- 3. BLIS_ARCH_TYPE: names, numbers, refusals; -v says what runs ----
printf 'q1\tthe moon and the tides\n' > "$TMP/q.tsv"
arch_used() {
    BLIS_ARCH_TYPE=$1 lr-encode -q -v -t 1 -m "$F/tiny-mistral" --queries "$TMP/q.tsv" -o "$TMP/q.mp" 2>&1 |
        sed -n 's/.*BLIS \([a-z0-9]*\)[,)].*/\1/p'
}
flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
has() { for f in "$@"; do echo " $flags " | grep -q " $f " || return 1; done; }
[ "$(arch_used generic)" = generic ] && pass "BLIS_ARCH_TYPE=generic" || fail "generic: $(arch_used generic)"
[ "$(arch_used 25)" = generic ] && pass "BLIS_ARCH_TYPE=25 (its number)" || fail "25: $(arch_used 25)"
if has avx2 fma; then
    [ "$(arch_used HASWELL)" = haswell ] && [ "$(arch_used zen3)" = zen3 ] &&
        pass "BLIS_ARCH_TYPE=HASWELL, zen3" || fail "haswell: $(arch_used HASWELL), zen3: $(arch_used zen3)"
fi
if has avx512f avx512dq avx512bw avx512vl; then
    [ "$(arch_used skx)" = skx ] && [ "$(arch_used '')" = skx ] && pass "BLIS_ARCH_TYPE=skx, and unset on AVX-512" ||
        fail "skx: $(arch_used skx), unset: $(arch_used '')"
else
    expect_error "skx on a CPU without AVX-512" "BLIS_ARCH_TYPE: this CPU lacks the instructions of BLIS's skx kernels" \
        "$TMP/q.mp" -- env BLIS_ARCH_TYPE=skx lr-encode -q -m "$F/tiny-mistral" --queries "$TMP/q.tsv" -o "$TMP/q.mp"
fi
rm -f "$TMP/q.mp"
for v in 99 foo cortexa57 knc; do
    expect_error "BLIS_ARCH_TYPE=$v refused" "BLIS_ARCH_TYPE: '$v' is not a sub-configuration of this BLIS \\(skx, .*generic\\)" \
        "$TMP/q.mp" -- env BLIS_ARCH_TYPE=$v lr-encode -q -m "$F/tiny-mistral" --queries "$TMP/q.tsv" -o "$TMP/q.mp"
done
has fma4 || expect_error "BLIS_ARCH_TYPE=bulldozer needs FMA4" "lacks the instructions of BLIS's bulldozer kernels" - -- \
    env BLIS_ARCH_TYPE=bulldozer lr-cut-depth --mlp-layers 0 -m "$F/tiny-llama" -o "$TMP/x.tar"

# ---- threads: --threads N runs N threads in all, the caller and N - 1
# workers of lr's pool (no second runtime's threads).  lr-encode is
# caught blocked on a full pipe, after it has tokenized and encoded on
# the pool; its thread count is read from /proc ----
if [ -r /proc/self/wchan ] && mkfifo "$TMP/full"; then
    awk 'BEGIN { for (i = 0; i < 4000; i++) printf "q%d\tquery %d about cell biology\n", i, i }' >"$TMP/many.tsv"
    for n in 1 2 3; do
        exec 3<>"$TMP/full"   # held open and never read: the pipe fills
        lr-encode -q -m "$F/tiny-mistral" --queries "$TMP/many.tsv" --threads $n -o - >"$TMP/full" 2>/dev/null &
        pid=$! got= i=0
        while [ $i -lt 200 ] && [ -z "$got" ]; do
            case $(cat "/proc/$pid/wchan" 2>/dev/null) in
            *pipe_write*) got=$(sed -n 's/^Threads:[[:space:]]*//p' "/proc/$pid/status") ;;
            *) sleep 0.05 ;;
            esac
            i=$((i + 1))
        done
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        exec 3<&-
        [ "$got" = "$n" ] && pass "lr-encode --threads $n runs $n thread(s)" ||
            fail "lr-encode --threads $n: ${got:-no} threads when blocked on its output (or never blocked)"
    done
else
    echo "note: no /proc wchan or no FIFO: thread counts not tested"
fi
finish
