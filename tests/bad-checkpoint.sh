#!/bin/sh
# Broken checkpoints: one-line error naming the file and the cause,
# exit 1, no output left behind, no crash (under sanitizers too).
. "${LR_SRCDIR:-$(dirname "$0")/..}/tests/lib.sh"
need_shared
command -v python3 >/dev/null || { echo "skip: python3 absent"; exit 77; }
TOOL="python3 $LR_SRCDIR/tests/ckpt-tool.py"
SRC=$LR_SHARED/fixtures/tiny-llama
OUT=$TMP/out.tar
B='[^ ]*/bad\.tar'
ST="$B: model\.safetensors"
Q='model\.layers\.0\.self_attn\.q_proj\.weight'

check() {   # check KIND PATTERN: the broken tar KIND.tar
    kind=$1 pat=$2
    cp "$TMP/gen/$kind.tar" "$TMP/bad.tar" || { fail "$kind: generator"; return; }
    # exit 1 exactly (expect_error)
    expect_error "$kind" "^lr-cut-depth: $pat" "$OUT" -- lr-cut-depth -m "$TMP/bad.tar" --mlp-layers 0 -o "$OUT"
}

# One python run makes every broken input (interpreter start-up is slow).
mkdir "$TMP/gen"
$TOOL bad-all "$SRC" "$TMP/gen" truncated no-config offset-past-end overlap unknown-dtype header-too-long \
    size-mismatch shape-vs-config lrjson-vs-tensors malformed-config malformed-lrjson malformed-header \
    unknown-model-type missing-tensor dir-offset-past-end trailing-bytes dir-trailing-bytes || fail "generator"

check truncated "$B: model\.safetensors: .*truncated"
check no-config "$B: no config\.json"
check offset-past-end "$ST: tensor $Q: data_offsets \[[0-9]+, [0-9]+\] past the end of the data"
check overlap "$ST: tensors model\.layers\.0\.self_attn\.[kv]_proj\.weight .* overlap"
check unknown-dtype "$ST: tensor $Q: unsupported dtype \"Q4\""
check header-too-long "$ST: header length [0-9]+ larger than the file"
check size-mismatch "$ST: tensor $Q: 16384 bytes in data_offsets, but dtype F32 x shape needs 16128"
check shape-vs-config "$B: tensor $Q has shape \[32, 128\], expected \[64, 64\]"
check lrjson-vs-tensors "$B: unexpected tensor model\.layers\.1\.mlp\..* \(lr\.json drops layer 1's MLP\)"
check malformed-config "$B: config\.json: malformed JSON at line"
check malformed-lrjson "$B: lr\.json: malformed JSON at line"
check malformed-header "$ST: header: malformed JSON at line"
check unknown-model-type "$B: config\.json: unsupported model_type \"gpt_neox\""
check missing-tensor "$B: tensor model\.norm\.weight missing \(expected shape \[64\]"
check trailing-bytes "$B: model\.safetensors: member of [0-9]+ bytes, but its header accounts for [0-9]+"
mv "$TMP/gen/dir-trailing-bytes" "$TMP/trail"
expect_error "directory: trailing bytes" "trail/model\.safetensors: 8 bytes after the last tensor" "$OUT" -- \
    lr-cut-depth -m "$TMP/trail" --mlp-layers 0 -o "$OUT"

# Compressed tars: a member that is never used is skipped unread (here
# 256 MiB of zeros in 256 KiB of gzip), one that is used is bounded.
python3 - "$SRC" "$TMP" <<'PY' || fail "tgz generator"
import gzip, io, os, sys, tarfile
src, tmp = sys.argv[1:3]
def member(t, name, size, data=None):
    ti = tarfile.TarInfo(name)
    ti.size = size
    if data is None:
        class Zeros(io.RawIOBase):
            left = size
            def readinto(self, b):
                n = min(len(b), self.left)
                b[:n] = bytes(n)
                self.left -= n
                return n
        data = Zeros()
    t.addfile(ti, data)
for out, extra, size in (("skip.tgz", "extra.bin", 256 << 20), ("big.tgz", "README.md", 65 << 20)):
    with gzip.open(os.path.join(tmp, out), "wb", compresslevel=1) as z, tarfile.open(fileobj=z, mode="w") as t:
        for n in ("config.json", "model.safetensors"):
            p = os.path.join(src, n)
            member(t, n, os.path.getsize(p), open(p, "rb"))
        member(t, extra, size)
PY
/usr/bin/time -f %M -o "$TMP/rss" lr-cut-depth -m "$TMP/skip.tgz" --mlp-layers 0 -o "$OUT" 2>"$TMP/err" \
    && [ -s "$OUT" ] && pass "tgz with an unused 256 MiB member" || fail "tgz with an unused member: $(cat "$TMP/err")"
rss=$(tail -n 1 "$TMP/rss")
[ "${rss:-999999}" -lt 204800 ] && pass "unused member not held (peak RSS $rss KiB)" \
    || fail "unused member held: peak RSS $rss KiB"
rm -f "$OUT"
expect_error "tgz with a 65 MiB README.md" "big\.tgz: README\.md: [0-9]+ bytes, more than the limit of 64 MiB" "$OUT" -- \
    lr-cut-depth -m "$TMP/big.tgz" --mlp-layers 0 -o "$OUT"

# The same through a directory and through stdin.
mv "$TMP/gen/dir-offset-past-end" "$TMP/baddir"
expect_error "directory" "baddir/model\.safetensors: tensor $Q: data_offsets" "$OUT" -- \
    lr-cut-depth -m "$TMP/baddir" --mlp-layers 0 -o "$OUT"
cp "$TMP/gen/overlap.tar" "$TMP/bad.tar"
expect_error "stdin" "^lr-cut-depth: stdin: model\.safetensors: tensors .* overlap" "$OUT" -- \
    sh -c "lr-cut-depth --mlp-layers 0 -o '$OUT' <'$TMP/bad.tar'"
expect_error "empty stdin" "^lr-cut-depth: stdin: " "$OUT" -- \
    sh -c "lr-cut-depth --mlp-layers 0 -o '$OUT' </dev/null"
expect_error "not a tar" "^lr-cut-depth: .*config\.json: " "$OUT" -- \
    lr-cut-depth -m "$SRC/config.json" --mlp-layers 0 -o "$OUT"
expect_error "no such file" "^lr-cut-depth: $TMP/none: No such file" "$OUT" -- \
    lr-cut-depth -m "$TMP/none" --mlp-layers 0 -o "$OUT"
ls -A "$TMP" | grep -q '^\.out\.tar' && fail "temporary file left behind" || pass "no temporary left"
finish
