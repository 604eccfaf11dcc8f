#!/bin/sh
# bad-input.sh - one matrix of malformed inputs across the six tools.
# Every case must exit 1 (a runtime error, not a crash), print exactly one line
# on stderr that names the file and the place (line, record, member,
# tensor, key), print nothing on stdout, and leave nothing in the output
# directory: neither the -o file nor a temporary.
. "${LR_SRCDIR:-$(dirname "$0")/..}/tests/lib.sh"
need_shared
command -v python3 >/dev/null || { echo "skip: python3 absent"; exit 77; }
F=$LR_SHARED/fixtures
L=$F/tiny-llama       # no tokenizer: cut, score by ids
M=$F/tiny-mistral     # with a tokenizer: encode, score by text, train
D=$TMP/in             # inputs
O=$TMP/out            # the output directory, checked empty after each case
mkdir -p "$D" "$O"
ncases=0

# bad NAME PATTERN CMD...: the case (CMD may write into $O): a clean
# runtime error (error_mismatch in lib.sh), nothing on stdout, nothing left
# in $O.
bad() {
    name=$1 pat=$2
    shift 2
    ncases=$((ncases + 1))
    why=$(error_mismatch "$pat" - -- "$@")
    left=$(ls -A "$O")
    if [ -n "$why" ]; then fail "$name: $why"
    elif [ -s "$TMP/stdout" ]; then fail "$name: output on stdout"
    elif [ -n "$left" ]; then fail "$name: left in the output directory: $left"
    else pass "$name"; fi
    rm -rf "$O" && mkdir "$O"
}

# ---- inputs: streams (msgpack written here), checkpoints, texts ----
python3 - "$LR_SRCDIR/tests/fuzz" "$D" "$L" <<'PY' || fail "input generator"
import json, os, struct, sys
sys.path.insert(0, sys.argv[1])
from seeds import mp, f32, safetensors, micro
d, llama = sys.argv[2], sys.argv[3]
def emb(kind, dim, vecs, model="0123456789abcdef"):
    h = mp({"stream": "lr.embeddings", "version": 1, "model": model, "dim": dim, "pooling": "last",
            "normalized": True, "kind": kind})
    return h + b"".join(mp({"id": "d%d" % i, "vec": f32(v)}) for i, v in enumerate(vecs))
def put(name, data):
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
put("q.mp", emb("query", 2, [[1, 0]]))
put("d.mp", emb("passage", 2, [[1, 0], [0, 1]]))
put("d3.mp", emb("passage", 3, [[1, 0, 0]]))
put("nan.mp", emb("passage", 2, [[1, 0], [float("nan"), 1]]))
put("inf.mp", emb("query", 2, [[float("inf"), 0]]))
put("trunc.mp", emb("passage", 2, [[1, 0], [0, 1]])[:-3])
put("other.mp", mp({"stream": "lr.metrics", "version": 1}))
put("v9.mp", mp({"stream": "lr.embeddings", "version": 9}))
# micro checkpoints for config.json cases: a valid llama, then broken configs
cfg, tensors, lrj = micro()
st = safetensors(tensors)
for name, change in (("huge", {"num_hidden_layers": 1e300}), ("heads", {"hidden_size": 6, "num_attention_heads": 4}),
                     ("gpt2", {"model_type": "gpt2"}), ("neg", {"vocab_size": -8})):
    os.makedirs(os.path.join(d, name), exist_ok=True)
    c = json.loads(cfg)
    c.update(change)
    put(name + "/config.json", json.dumps(c))
    put(name + "/model.safetensors", st)
h = json.loads(st[8:8 + struct.unpack("<Q", st[:8])[0]])
os.makedirs(os.path.join(d, "hole"), exist_ok=True)
put("hole/config.json", cfg)
hole = safetensors(tensors[:1]) + bytes(8)   # fixed below: a gap before the last tensor
hdr = {"__metadata__": {}}
off = 0
blobs = []
for i, (n, shape) in enumerate(tensors):
    size = 4
    for s in shape:
        size *= s
    if i == len(tensors) - 1:
        off += 8    # 8 bytes that belong to no tensor
        blobs.append(bytes(8))
    hdr[n] = {"dtype": "F32", "shape": list(shape), "data_offsets": [off, off + size]}
    blobs.append(bytes(size))
    off += size
js = json.dumps(hdr).encode()
js += b" " * (-len(js) % 8)
put("hole/model.safetensors", struct.pack("<Q", len(js)) + js + b"".join(blobs))
PY
printf '1 0 d1 1\n1 0 d2\n' >"$D/short.qrels"
printf '1 0 d1 high\n' >"$D/rel.qrels"
printf '1 0 d1 1\n' >"$D/ok.qrels"
printf '\n\n' >"$D/empty.qrels"
printf '1 Q0 d1 1 2.0\n' >"$D/five.run"
printf '1 Q0 d1 1 2.0 t\n1 Q0 d2 2 abc t\n' >"$D/score.run"
printf '1 Q0 d1 1 2.0 t\n1 Q0 d1 2 1.0 t\n' >"$D/dup.run"
printf '{"_id": "d1", "text": "a"}\n{"_id": "d2", "text": "b"}\n{"_id": "d1", "text": "c"}\n' >"$D/dup.jsonl"
printf '{"_id": "d1", "text": "a"}\n{"_id": "d2", "text": }\n' >"$D/json.jsonl"
printf '{"_id": "d1", "text": "a"}\n{"_id": "d2", "title": "t"}\n' >"$D/notext.jsonl"
printf '{"_id": "", "text": "a"}\n' >"$D/noid.jsonl"
printf 'd1\tone\nd2 two\n' >"$D/notab.tsv"
printf 'd1\tone\nd2\ttwo\n' >"$D/ok.tsv"
printf 'q1\tone\nq1\tagain\n' >"$D/dup.tsv"
printf '{"query": "q", "pos": ["a"]}\n{"query": "r", "neg": ["b"]}\n' >"$D/nopos.jsonl"
printf '{"query": "q", "pos": ["d1"]}\n' >"$D/ids.jsonl"
printf '{"query": "q", "pos": ["a"]\n' >"$D/badrow.jsonl"
printf '[[1, 2, 3], [4, 99999]]\n' >"$D/vocab-ids.json"
printf '[[1, 2, 3], [4, -1]]\n' >"$D/neg-ids.json"
printf '{"a": 1}\n' >"$D/notarray-ids.json"
# directories whose files are not regular, or hold bad JSON
for x in fifo zero lrjson tok; do mkdir -p "$D/$x"; done
mkfifo "$D/fifo/config.json"
ln -s "$L/model.safetensors" "$D/fifo/model.safetensors"
cp "$L/config.json" "$D/zero/config.json"
ln -s /dev/zero "$D/zero/model.safetensors"
cp "$L/config.json" "$D/lrjson/config.json"
ln -s "$L/model.safetensors" "$D/lrjson/model.safetensors"
printf '{"format": "lr-checkpoint", "version": 1, "layers": [}' >"$D/lrjson/lr.json"
cp "$M/config.json" "$D/tok/config.json"
ln -s "$M/model.safetensors" "$D/tok/model.safetensors"
python3 - "$M/tokenizer.json" "$D/tok/tokenizer.json" <<'PY' || fail "tokenizer generator"
import json, sys
t = json.load(open(sys.argv[1], encoding="utf-8"))
t["added_tokens"] = [{"id": 2000000000, "content": "<x>", "special": True}]
json.dump(t, open(sys.argv[2], "w", encoding="utf-8"))
PY
# tars: truncated, trailing bytes after the last tensor
python3 "$LR_SRCDIR/tests/ckpt-tool.py" bad-all "$L" "$D" truncated trailing-bytes unknown-dtype || fail "tar generator"

# ---- lr-eval ----
E="lr-eval -q"
bad "eval: qrels line with 3 fields" "short\.qrels: line 2: expected 4 fields" $E -Q "$D/short.qrels" --run "$D/score.run" -o "$O/m"
bad "eval: relevance not an integer" "rel\.qrels: line 1: relevance \"high\"" $E -Q "$D/rel.qrels" --run "$D/score.run" -o "$O/m"
bad "eval: qrels without judgements" "empty\.qrels: no judgements" $E -Q "$D/empty.qrels" --run "$D/score.run" -o "$O/m"
bad "eval: run line with 5 fields" "five\.run: line 1: expected 6 fields" $E -Q "$D/ok.qrels" --run "$D/five.run" -o "$O/m"
bad "eval: run score not a number" "score\.run: line 2: score \"abc\"" $E -Q "$D/ok.qrels" --run "$D/score.run" -o "$O/m"
bad "eval: run lists a document twice" "dup\.run: line 2: .*d1 again" $E -Q "$D/ok.qrels" --run "$D/dup.run" -o "$O/m"
bad "eval: NaN in document embeddings" "nan\.mp: record 2: key \"vec\": element 0 is NaN" \
    $E -Q "$D/ok.qrels" --queries "$D/q.mp" --docs "$D/nan.mp" --write-run "$O/run" -o "$O/m"
bad "eval: infinity in query embeddings" "inf\.mp: record 1: key \"vec\": element 0 is infinite" \
    $E -Q "$D/ok.qrels" --queries "$D/inf.mp" --docs "$D/d.mp" -o "$O/m"
bad "eval: a query stream as --docs" "q\.mp: header: kind \"query\"" \
    $E -Q "$D/ok.qrels" --queries "$D/q.mp" --docs "$D/q.mp" -o "$O/m"
bad "eval: truncated stream" "trunc\.mp: record 2: truncated stream" \
    $E -Q "$D/ok.qrels" --queries "$D/q.mp" --docs "$D/trunc.mp" --write-run "$O/run"
bad "eval: another kind of stream" "other\.mp: expected a lr\.embeddings stream, found lr\.metrics" \
    $E -Q "$D/ok.qrels" --queries "$D/q.mp" --docs "$D/other.mp" -o "$O/m"
bad "eval: stream version from the future" "v9\.mp: lr\.embeddings version 9 is not supported" \
    $E -Q "$D/ok.qrels" --queries "$D/v9.mp" --docs "$D/d.mp" -o "$O/m"
bad "eval: a text file as a stream" "dup\.jsonl: (record|not an lr stream)" \
    $E -Q "$D/ok.qrels" --queries "$D/dup.jsonl" --docs "$D/d.mp" -o "$O/m"
bad "eval: dimensions differ" "q\.mp has dimension 2 but .*d3\.mp has 3" \
    $E -Q "$D/ok.qrels" --queries "$D/q.mp" --docs "$D/d3.mp" -o "$O/m"
bad "eval: qrels file missing" "$D/none\.qrels: No such file" $E -Q "$D/none.qrels" --run "$D/score.run" -o "$O/m"

# ---- lr-encode ----
bad "encode: corpus id twice" "dup\.jsonl: line 3: id \"d1\" appears again \(first at line 1\)" \
    lr-encode -q -m "$M" --corpus "$D/dup.jsonl" --max-tokens 16 -o "$O/e.mp"
bad "encode: id twice on stdin" "stdin: line 2: id \"q1\" appears again" \
    sh -c "lr-encode -q -m '$M' --queries - --max-tokens 16 <'$D/dup.tsv'"
bad "encode: malformed JSON line" "json\.jsonl: line 2: invalid JSON" \
    lr-encode -q -m "$M" --corpus "$D/json.jsonl" --max-tokens 16 -o "$O/e.mp"
bad "encode: no text" "notext\.jsonl: line 2: no \"text\"" \
    lr-encode -q -m "$M" --corpus "$D/notext.jsonl" --max-tokens 16 -o "$O/e.mp"
bad "encode: empty id" "noid\.jsonl: line 1: empty \"_id\"" \
    lr-encode -q -m "$M" --queries "$D/noid.jsonl" --max-tokens 16 -o "$O/e.mp"
bad "encode: line without a tab" "notab\.tsv: line 2: expected id<TAB>text" \
    lr-encode -q -m "$M" --corpus "$D/notab.tsv" --max-tokens 16 -o "$O/e.mp"
bad "encode: config.json is a FIFO" "fifo/config\.json: a FIFO, not a regular file" \
    lr-encode -q -m "$D/fifo" --corpus "$D/ok.tsv" -o "$O/e.mp"
bad "encode: model.safetensors is /dev/zero" "zero/model\.safetensors: a character device, not a regular file" \
    lr-encode -q -m "$D/zero" --corpus "$D/ok.tsv" -o "$O/e.mp"
bad "encode: added token id out of range" "tok: tokenizer\.json: added token 0: id 2000000000 out of range" \
    lr-encode -q -m "$D/tok" --corpus "$D/ok.tsv" -o "$O/e.mp"
bad "encode: corpus missing" "$D/none\.jsonl: No such file" \
    lr-encode -q -m "$M" --corpus "$D/none.jsonl" -o "$O/e.mp"

# ---- lr-cut-depth ----
bad "cut-depth: num_hidden_layers 1e300" "huge/config\.json: \"num_hidden_layers\" = 1e\+300 out of range" \
    lr-cut-depth -m "$D/huge" --mlp-layers 0 -o "$O/c.tar"
bad "cut-depth: heads do not divide the hidden size" "heads/config\.json: hidden_size 6 is not a multiple of num_attention_heads 4" \
    lr-cut-depth -m "$D/heads" --mlp-layers 0 -o "$O/c.tar"
bad "cut-depth: unsupported model_type" "gpt2/config\.json: unsupported model_type \"gpt2\"" \
    lr-cut-depth -m "$D/gpt2" --mlp-layers 0 -o "$O/c.tar"
bad "cut-depth: negative vocab_size" "neg/config\.json: \"vocab_size\" = -8 out of range" \
    lr-cut-depth -m "$D/neg" --mlp-layers 0 -o "$O/c.tar"
bad "cut-depth: bytes between tensors" "hole/model\.safetensors: data bytes \[[0-9]+, [0-9]+\) belong to no tensor" \
    lr-cut-depth -m "$D/hole" --mlp-layers 0 -o "$O/c.tar"
bad "cut-depth: bytes after the last tensor" "trailing-bytes\.tar: model\.safetensors: member of [0-9]+ bytes, but its header accounts for" \
    lr-cut-depth -m "$D/trailing-bytes.tar" --mlp-layers 0 -o "$O/c.tar"
bad "cut-depth: truncated tar on stdin" "stdin: model\.safetensors: .*[Tt]runcated" \
    sh -c "lr-cut-depth --mlp-layers 0 -o '$O/c.tar' <'$D/truncated.tar'"
bad "cut-depth: malformed lr.json" "lrjson/lr\.json: malformed JSON at line 1" \
    lr-cut-depth -m "$D/lrjson" --mlp-layers 0 -o "$O/c.tar"
bad "cut-depth: scores not a stream" "dup\.jsonl: (record|not an lr stream)" \
    lr-cut-depth -m "$L" --scores "$D/dup.jsonl" --drop-mlp 1 -o "$O/c.tar"

# ---- lr-cut-width ----
bad "cut-width: unknown dtype" "unknown-dtype\.tar: model\.safetensors: tensor .*: unsupported dtype \"Q4\"" \
    lr-cut-width -m "$D/unknown-dtype.tar" --channels "$F/tiny-llama-cut/lr.json" -o "$O/w.tar"
bad "cut-width: scores of another kind" "d\.mp: expected a lr\.scores stream, found lr\.embeddings" \
    lr-cut-width -m "$L" --scores "$D/d.mp" --keep 0.5 -o "$O/w.tar"
bad "cut-width: channels from malformed lr.json" "lrjson/lr\.json: malformed JSON" \
    lr-cut-width -m "$L" --channels "$D/lrjson/lr.json" -o "$O/w.tar"

# ---- lr-score ----
bad "score: calibration id outside the vocabulary" "vocab-ids\.json: sequence 1, position 1: token id 99999 is outside the vocabulary" \
    lr-score -q -m "$L" --calib-ids "$D/vocab-ids.json" -o "$O/s.mp"
bad "score: negative calibration id" "neg-ids\.json: sequence 1, position 1: expected a token id" \
    lr-score -q -m "$L" --calib-ids "$D/neg-ids.json" -o "$O/s.mp"
bad "score: calibration ids not an array" "notarray-ids\.json: expected a JSON array" \
    lr-score -q -m "$L" --calib-ids "$D/notarray-ids.json" -o "$O/s.mp"
bad "score: calibration text id twice" "dup\.jsonl: line 3: id \"d1\" appears again" \
    lr-score -q -m "$M" --calib "$D/dup.jsonl" -o "$O/s.mp"
bad "score: calibration text malformed" "json\.jsonl: line 2: invalid JSON" \
    lr-score -q -m "$M" --calib "$D/json.jsonl" -o "$O/s.mp"

# ---- lr-train ----
T="lr-train -q -m $M --steps 1 --batch 1"
bad "train: row without a positive" "nopos\.jsonl: line 2: .*positive" $T --train "$D/nopos.jsonl" -o "$O/t.tar"
bad "train: corpus id twice" "dup\.jsonl: line 3: _id \"d1\" appears twice in the corpus" \
    $T --train "$D/ids.jsonl" --corpus "$D/dup.jsonl" -o "$O/t.tar"
bad "train: malformed row" "badrow\.jsonl: line 1: .*JSON" $T --train "$D/badrow.jsonl" -o "$O/t.tar"
bad "train: model with a FIFO config.json" "fifo/config\.json: a FIFO, not a regular file" \
    lr-train -q -m "$D/fifo" --train "$D/ids.jsonl" --steps 1 -o "$O/t.tar"

[ "$ncases" -ge 40 ] && pass "$ncases cases" || fail "only $ncases cases"
finish
