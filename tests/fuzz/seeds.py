#!/usr/bin/env python3
"""seeds.py OUTDIR [SHARED] - seed corpora for the libFuzzer targets.

Small valid inputs of every kind, made here (micro checkpoints, streams,
qrels and runs), plus excerpts of the reference material in SHARED
(fixture configs, trimmed tokenizers, dataset lines) when it is there.
OUTDIR/<target>/ receives the seeds; OUTDIR/tokenizers/ the tokenizer.json
files fuzz-tokenize encodes with (the full ones from SHARED when present).
"""
import gzip, io, json, lzma, os, struct, sys, tarfile

SEP = b"\n%%\n"
out = sys.argv[1] if __name__ == "__main__" else None
shared = sys.argv[2] if __name__ == "__main__" and len(sys.argv) > 2 else None
if shared and not os.path.isdir(os.path.join(shared, "fixtures")):
    shared = None


def put(target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def sh(*rel):
    return os.path.join(shared, *rel)


def read(path, limit=None):
    with open(path, "rb") as f:
        return f.read() if limit is None else f.read(limit)


def head_lines(path, n):
    with open(path, "rb") as f:
        return b"".join(f.readline() for _ in range(n))


# ---- micro checkpoints ----
SIZES = {"F32": 4, "BF16": 2, "F16": 2}


def safetensors(tensors, dtype="F32", trailing=b""):
    """tensors: list of (name, shape); data: a small ramp per tensor."""
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, shape in tensors:
        n = 1
        for s in shape:
            n *= s
        if dtype == "F32":
            data = struct.pack("<%df" % n, *[(i % 7 - 3) * 0.125 for i in range(n)])
        else:
            data = struct.pack("<%dH" % n, *[(0x3c00 if dtype == "F16" else 0x3f80) ^ (i % 5) for i in range(n)])
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs) + trailing


def micro(model_type="llama", layers=(True, 4), n_layers=1, tie=True):
    hidden, heads, kv, hd, inter, vocab = 4, 2, 1, 2, 4, 8
    cfg = {"model_type": model_type, "hidden_size": hidden, "num_hidden_layers": n_layers,
           "num_attention_heads": heads, "num_key_value_heads": kv, "intermediate_size": inter,
           "vocab_size": vocab, "max_position_embeddings": 64, "rms_norm_eps": 1e-6,
           "rope_theta": 10000.0, "tie_word_embeddings": tie, "bos_token_id": 1, "eos_token_id": 2,
           "hidden_act": "silu"}
    if model_type == "qwen3":
        cfg["head_dim"] = hd
    t = [("model.embed_tokens.weight", (vocab, hidden)), ("model.norm.weight", (hidden,))]
    if not tie:
        t.append(("lm_head.weight", (vocab, hidden)))
    attn, mlp = layers
    for l in range(n_layers):
        p = "model.layers.%d." % l
        if attn:
            t += [(p + "input_layernorm.weight", (hidden,)),
                  (p + "self_attn.q_proj.weight", (heads * hd, hidden)),
                  (p + "self_attn.k_proj.weight", (kv * hd, hidden)),
                  (p + "self_attn.v_proj.weight", (kv * hd, hidden)),
                  (p + "self_attn.o_proj.weight", (hidden, heads * hd))]
            if model_type == "qwen2":
                t += [(p + "self_attn.q_proj.bias", (heads * hd,)), (p + "self_attn.k_proj.bias", (kv * hd,)),
                      (p + "self_attn.v_proj.bias", (kv * hd,))]
            if model_type == "qwen3":
                t += [(p + "self_attn.q_norm.weight", (hd,)), (p + "self_attn.k_norm.weight", (hd,))]
        if mlp:
            t += [(p + "post_attention_layernorm.weight", (hidden,)),
                  (p + "mlp.gate_proj.weight", (mlp, hidden)), (p + "mlp.up_proj.weight", (mlp, hidden)),
                  (p + "mlp.down_proj.weight", (hidden, mlp))]
    lrj = {"format": "lr-checkpoint", "version": 1,
           "layers": [{"attn": attn, "mlp": mlp} for _ in range(n_layers)],
           "retrieval": {"pooling": "mean", "normalize": True, "append_eos": True,
                         "query_prefix": "query: ", "passage_prefix": "", "max_tokens": 32}}
    return json.dumps(cfg).encode(), t, json.dumps(lrj).encode()


def tar_bytes(members, mode="w", prefix=""):
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode=mode, format=tarfile.PAX_FORMAT) as tf:
        for name, data in members:
            ti = tarfile.TarInfo(prefix + name)
            ti.size = len(data)
            ti.mode = 0o644
            tf.addfile(ti, io.BytesIO(data))
    return bio.getvalue()


# ---- tokenizers ----
def byte_tokenizer():
    """A byte-level BPE made here: the 256 byte symbols and a few merges."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + \
        list(range(ord("\xae"), ord("\xff") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    sym = {b: chr(c) for b, c in zip(bs, cs)}
    vocab = {sym[b]: b for b in range(256)}
    merges = []
    for a, b in [("h", "e"), ("l", "l"), ("he", "ll"), ("o", "r"), (sym[32], "w"), ("Ġw", "or")]:
        if a in vocab and b in vocab and a + b not in vocab:
            vocab[a + b] = len(vocab)
            merges.append(a + " " + b)
    return {"version": "1.0", "added_tokens": [
        {"id": len(vocab), "content": "<|endoftext|>", "special": True, "lstrip": False, "rstrip": False,
         "single_word": False, "normalized": False}],
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": "\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+|\\s+"},
             "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": merges}}


def trimmed(path, keep):
    """A real tokenizer.json with its vocabulary cut to ids < keep and the
    merges among what is left: small, but with the real components."""
    tok = json.load(open(path, encoding="utf-8"))
    m = tok["model"]
    m["vocab"] = {k: v for k, v in m["vocab"].items() if v < keep}
    merges = []
    for x in m["merges"]:
        a, b = x if isinstance(x, list) else x.split(" ", 1)
        if a in m["vocab"] and b in m["vocab"] and a + b in m["vocab"]:
            merges.append(x)
    m["merges"] = merges[:400]
    tok["added_tokens"] = tok.get("added_tokens", [])[:8]
    return json.dumps(tok, ensure_ascii=False).encode()


# ---- msgpack (the few types the streams use) ----
def mp(x):
    if x is None:
        return b"\xc0"
    if x is True or x is False:
        return b"\xc3" if x else b"\xc2"
    if isinstance(x, int):
        if 0 <= x < 128:
            return bytes([x])
        return b"\xd3" + struct.pack(">q", x)
    if isinstance(x, float):
        return b"\xcb" + struct.pack(">d", x)
    if isinstance(x, str):
        b = x.encode()
        return (bytes([0xa0 | len(b)]) if len(b) < 32 else b"\xd9" + bytes([len(b)])) + b
    if isinstance(x, bytes):
        return b"\xc4" + bytes([len(x)]) + x if len(x) < 256 else b"\xc5" + struct.pack(">H", len(x)) + x
    if isinstance(x, dict):
        return bytes([0x80 | len(x)]) + b"".join(mp(k) + mp(v) for k, v in x.items())
    raise TypeError(x)


def f32(v):
    return struct.pack("<%df" % len(v), *v)


def main():
    os.makedirs(out, exist_ok=True)
    # checkpoints
    variants = {
        "llama": micro(),
        "llama-untied": micro(tie=False),
        "qwen2": micro("qwen2"),
        "qwen3": micro("qwen3"),
        "mistral-2layers": micro("mistral", n_layers=2),
        "cut-mlp": micro(layers=(True, 0)),
        "cut-attn": micro(layers=(False, 4)),
        "narrow": micro(layers=(True, 2)),
    }
    tok = json.dumps(byte_tokenizer()).encode()
    tokcfg = json.dumps({"add_bos_token": False, "add_eos_token": True, "eos_token": "<|endoftext|>"}).encode()
    for i, (name, (cfg, tensors, lrj)) in enumerate(variants.items()):
        dtype = ["F32", "BF16", "F16"][i % 3]
        st = safetensors(tensors, dtype)
        put("safetensors", name + ".safetensors", st)
        put("config", name + ".json", cfg + SEP + lrj)
        members = [("config.json", cfg), ("lr.json", lrj), ("model.safetensors", st)]
        if i % 2 == 0:
            members += [("tokenizer.json", tok), ("tokenizer_config.json", tokcfg)]
        put("checkpoint-tar", name + ".tar", tar_bytes(members))
        put("checkpoint-dir", name, SEP.join([cfg, st, lrj]))
    cfg, tensors, lrj = variants["llama"]
    st = safetensors(tensors)
    put("safetensors", "empty-header", struct.pack("<Q", 8) + b"{}      ")
    put("safetensors", "metadata-only", struct.pack("<Q", 32) + b'{"__metadata__":{"a":"b"}}      ')
    put("checkpoint-tar", "llama.tgz", gzip.compress(tar_bytes([("config.json", cfg), ("model.safetensors", st)]), mtime=0))
    put("checkpoint-tar", "llama.tar.xz", lzma.compress(tar_bytes([("config.json", cfg), ("model.safetensors", st)])))
    put("checkpoint-tar", "llama-topdir.tar", tar_bytes([("config.json", cfg), ("model.safetensors", st),
                                                         ("README.md", b"# micro\n")], prefix="model/"))
    half = len(tensors) // 2
    s1, s2 = safetensors(tensors[:half]), safetensors(tensors[half:])
    index = {"metadata": {"total_size": len(st)},
             "weight_map": {**{n: "model-00001-of-00002.safetensors" for n, _ in tensors[:half]},
                            **{n: "model-00002-of-00002.safetensors" for n, _ in tensors[half:]}}}
    put("checkpoint-tar", "llama-sharded.tar", tar_bytes([
        ("config.json", cfg), ("model.safetensors.index.json", json.dumps(index).encode()),
        ("model-00001-of-00002.safetensors", s1), ("model-00002-of-00002.safetensors", s2)]))
    idx2 = {"weight_map": {**{n: "model.safetensors" for n, _ in tensors[:half]},
                           **{n: "extra.safetensors" for n, _ in tensors[half:]}}}
    put("checkpoint-dir", "sharded", SEP.join([cfg, safetensors(tensors[:half]), lrj, json.dumps(idx2).encode(),
                                               safetensors(tensors[half:]), tok]))
    put("tokenizer-json", "bytelevel.json", tok + SEP + tokcfg + SEP + "Hello world, héllo wörld!".encode())
    # tokenizers
    tokdir = os.path.join(out, "tokenizers")
    os.makedirs(tokdir, exist_ok=True)
    texts = ["Hello, world!", "  leading spaces and\ttabs\n\nnew lines", "naïve café 東京 🙂",
             "<|endoftext|> special", "don't stop 12345 3.14", "\xff\xfe invalid"]
    if shared:
        for name, keep in (("qwen3", 1200), ("mistral", 1200)):
            path = sh("tokenizers", name, "tokenizer.json")
            cfgp = sh("tokenizers", name, "tokenizer_config.json")
            put("tokenizer-json", name + ".json", trimmed(path, keep) + SEP + read(cfgp) + SEP + texts[2].encode())
            os.symlink(os.path.abspath(path), os.path.join(tokdir, name + ".json"))
            with open(sh("tokenizers", name, "golden.jsonl"), encoding="utf-8") as f:
                for i, line in enumerate(f):
                    if i >= 60:
                        break
                    texts.append(json.loads(line)["text"])
        for fx in sorted(os.listdir(sh("fixtures"))):
            c = sh("fixtures", fx, "config.json")
            if os.path.exists(c):
                put("config", "fixture-" + fx, read(c))
            r = sh("fixtures", fx, "ref-forward.safetensors")
            if os.path.exists(r) and os.path.getsize(r) < 100000:
                put("safetensors", "fixture-" + fx, read(r))
    else:
        with open(os.path.join(tokdir, "bytelevel.json"), "wb") as f:
            f.write(tok)
    ntok = len(os.listdir(tokdir))
    for i, t in enumerate(texts):
        put("tokenize", "text%03d" % i, bytes([(i % ntok) | (0x10 if i % 3 else 0) | (0x20 if i % 2 else 0)]) +
            t.encode("utf-8", "surrogateescape"))
    # streams
    def emb(kind, dim, n):
        h = mp({"stream": "lr.embeddings", "version": 1, "model": "0123456789abcdef", "dim": dim,
                "pooling": "last", "normalized": True, "kind": kind})
        return h + b"".join(mp({"id": "d%d" % i, "vec": f32([(i + j) * 0.5 for j in range(dim)])}) for i in range(n))
    put("stream", "emb-passage", emb("passage", 4, 3))
    put("stream", "emb-query", emb("query", 2, 2))
    put("stream", "emb-concat", emb("passage", 3, 2) + emb("passage", 3, 1))
    sc = mp({"stream": "lr.scores", "version": 1, "model": "0123456789abcdef", "layers": 2, "hidden": 4,
             "intermediate": 4, "tokens": 10, "sequences": 2, "channel_metric": "wanda"})
    for l in range(2):
        sc += mp({"layer": l, "attn_present": True, "mlp_width": 4, "attn": 0.25, "mlp": 0.5,
                  "channel": f32([1, 2, 3, 4]), "absmean": f32([1, 1, 1, 1]), "l2": f32([2, 2, 2, 2])})
    put("stream", "scores", sc)
    put("stream", "metrics", mp({"stream": "lr.metrics", "version": 1, "qrels": "q", "run": "r", "queries": 1,
                                 "complete": False}) + mp({"measure": "map", "query": "1", "value": 0.5}))
    # texts
    put("text", "corpus.jsonl", b'{"_id": "d1", "title": "A title", "text": "Some text."}\n'
        b'{"_id": "d2", "title": "", "text": "No title \\u00e9"}\n')
    put("text", "queries.jsonl", b'{"_id": "q1", "text": "what?", "metadata": {}}\n\n{"_id": "q2", "text": "why"}\n')
    put("text", "lines.tsv", b"d1\tfirst text\nd2\tsecond\ttext with a tab\n")
    # training pairs
    corpus = (b'{"_id": "d1", "title": "T1", "text": "one"}\n{"_id": "d2", "title": "", "text": "two"}\n'
              b'{"_id": "d3", "title": "T3", "text": "three"}\n')
    put("traindata", "ids", b'{"qid": "q1", "query": "first", "pos": ["d1"], "neg": ["d2"]}\n'
        b'{"qid": "q2", "query": "second", "positives": ["d2"], "bm25_neg": ["d1", "d3"]}\n' + SEP + corpus +
        SEP + b'{"qid": "q1", "neg": ["d3"]}\n')
    put("traindata", "inline", b'{"query": "q", "pos": ["a text"], "neg": [{"id": "x", "title": "t", "text": "u"}]}\n')
    # qrels and runs
    put("trec", "trec", b"1 0 d1 2\n1 0 d2 0\n2 0 d3 1\n2 0 d1 -1\n" + SEP +
        b"1 Q0 d1 1 3.5 t\n1 Q0 d3 2 2 t\n2 Q0 d3 1 1e-3 t\n2 Q0 d2 2 1e-3 t\n# comment\n")
    put("trec", "beir", b"query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n" + SEP + b"q1 Q0 d1 1 1.0 x\nq2 Q0 d1 1 1.0 x\n")
    if shared:
        for ds in ("scifact", "cranfield"):
            put("text", ds + "-corpus.jsonl", head_lines(sh("datasets", ds, "corpus.jsonl"), 4))
            put("text", ds + "-queries.jsonl", head_lines(sh("datasets", ds, "queries.jsonl"), 6))
        put("traindata", "climate-fever", head_lines(sh("datasets", "train", "climate_fever_claim_evidence.jsonl"), 2))
        qrels = [l for l in read(sh("datasets", "runs", "cranfield.qrels")).splitlines() if l.split()[:1] in ([b"1"], [b"2"])]
        run = [l for l in read(sh("datasets", "runs", "cranfield-bm25.trec")).splitlines()
               if l.split()[:1] in ([b"1"], [b"2"]) and int(l.split()[3]) <= 20]
        put("trec", "cranfield", b"\n".join(qrels) + SEP + b"\n".join(run) + b"\n")
        put("trec", "scifact-beir", head_lines(sh("datasets", "scifact", "qrels", "test.tsv"), 6) + SEP +
            b"1 Q0 31715818 1 2.5 x\n3 Q0 14717500 1 1.0 x\n3 Q0 1 2 0.5 x\n")


if __name__ == "__main__":
    main()
