#!/bin/sh
# Peak memory of lr-cut-depth against the size of its input (contract:
# within 1.5x), from a tar on stdin and from a directory.
# LR_BENCH_CKPT=DIR uses an existing checkpoint instead of making one.
. "${LR_SRCDIR:-$(dirname "$0")/..}/tests/lib.sh"
[ -x /usr/bin/time ] || { echo "skip: /usr/bin/time absent"; exit 77; }
DIR=${LR_BENCH_CKPT:-}
if [ -z "$DIR" ]; then
    DIR=$TMP/big
    python3 "$LR_SRCDIR/tests/ckpt-tool.py" big "$DIR" 1024 12 4096 32000 || exit 1
fi
size=$(du -bc "$DIR"/*.safetensors | tail -n 1 | cut -f 1)
layers=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["num_hidden_layers"])' "$DIR/config.json")
last=$((layers - 1))
tar -C "$DIR" -cf "$TMP/in.tar" .
peak() { sed -n 's/.*Maximum resident set size (kbytes): //p' "$1"; }
/usr/bin/time -v lr-cut-depth --mlp-layers "1-$last" <"$TMP/in.tar" >"$TMP/out.tar" 2>"$TMP/t1" || { cat "$TMP/t1"; exit 1; }
/usr/bin/time -v lr-cut-depth -m "$DIR" --mlp-layers "1-$last" -o "$TMP/out2.tar" 2>"$TMP/t2" || { cat "$TMP/t2"; exit 1; }
for t in "stdin tar:t1" "directory:t2"; do
    name=${t%%:*} f=$TMP/${t#*:}
    kb=$(peak "$f")
    echo "lr-cut-depth from $name: checkpoint $((size / 1048576)) MiB, peak RSS $((kb / 1024)) MiB," \
         "ratio $(awk -v a="$kb" -v b="$size" 'BEGIN { printf "%.2f", a * 1024 / b }')," \
         "wall $(sed -n 's/.*Elapsed (wall clock) time.*: //p' "$f")"
done
