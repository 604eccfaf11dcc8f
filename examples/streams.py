#!/usr/bin/env python3
"""Read lr's msgpack streams in Python (see lr-formats(5)).

    python3 examples/streams.py docs.mp              # an embeddings stream
    python3 examples/streams.py scores.mp            # a scores stream
    python3 examples/streams.py queries.mp docs.mp   # dot-product top 3

An embeddings stream becomes a list of ids and a numpy float32 matrix
(one row per text, in stream order); a scores stream becomes a table, one
row per layer.  Needs numpy and msgpack (Debian: python3-numpy,
python3-msgpack).
"""
import sys

import msgpack
import numpy as np


def read_stream(path, kind):
    """The header and the records of a stream of lr.KIND, version 1.

    A later header identical to the first (shards joined with cat) is
    skipped; a different one is an error, as in the tools."""
    with open(path, "rb") as f:
        maps = msgpack.Unpacker(f, raw=False, strict_map_key=False)
        header = None
        records = []
        for m in maps:
            if not isinstance(m, dict):
                raise ValueError(f"{path}: record {len(records) + 1}: not a map")
            if header is None:
                if m.get("stream") != "lr." + kind or m.get("version") != 1:
                    raise ValueError(f"{path}: not an lr.{kind} stream, version 1")
                header = m
            elif "stream" in m:
                if m != header:
                    raise ValueError(f"{path}: a second, different header")
            else:
                records.append(m)
    if header is None:
        raise ValueError(f"{path}: empty")
    return header, records


def load_embeddings(path):
    """(header, ids, matrix): matrix[i] is the float32 vector of ids[i]."""
    header, records = read_stream(path, "embeddings")
    dim = header["dim"]
    matrix = np.empty((len(records), dim), dtype=np.float32)
    ids = []
    for i, r in enumerate(records):
        vec = np.frombuffer(r["vec"], dtype="<f4")
        if vec.size != dim:
            raise ValueError(f"{path}: record {i + 1}: {vec.size} floats, dim is {dim}")
        matrix[i] = vec
        ids.append(r["id"])
    return header, ids, matrix


SCORE_COLUMNS = ("layer", "attn_present", "attn", "mlp_width", "mlp")


def load_scores(path):
    """(header, rows): one dict per layer with SCORE_COLUMNS, plus the
    per-channel importance as a float32 array under "channel" (None for a
    dropped MLP)."""
    header, records = read_stream(path, "scores")
    rows = []
    for r in records:
        row = {c: r[c] for c in SCORE_COLUMNS}
        ch = r.get("channel")
        row["channel"] = None if ch is None else np.frombuffer(ch, dtype="<f4")
        rows.append(row)
    if len(rows) != header["layers"]:
        raise ValueError(f"{path}: {len(rows)} layer records, the header says {header['layers']}")
    return header, rows


def stream_kind(path):
    with open(path, "rb") as f:
        first = next(iter(msgpack.Unpacker(f, raw=False, strict_map_key=False)), None)
    return first.get("stream") if isinstance(first, dict) else None


def main(argv):
    if len(argv) == 3:
        _, qids, q = load_embeddings(argv[1])
        _, dids, d = load_embeddings(argv[2])
        scores = q @ d.T
        for i, qid in enumerate(qids):
            top = np.argsort(-scores[i], kind="stable")[:3]
            print(qid, " ".join(f"{dids[j]}:{scores[i, j]:.4f}" for j in top))
        return 0
    if len(argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    kind = stream_kind(argv[1])
    if kind == "lr.embeddings":
        header, ids, matrix = load_embeddings(argv[1])
        print(f"{header['kind']} embeddings: {matrix.shape[0]} x {matrix.shape[1]} float32, "
              f"{header['pooling']} pooling, model {header['model']}")
        norms = np.linalg.norm(matrix, axis=1)
        for i in range(min(3, len(ids))):
            print(f"{ids[i]}\tnorm {norms[i]:.4f}")
    elif kind == "lr.scores":
        header, rows = load_scores(argv[1])
        print("\t".join(SCORE_COLUMNS))
        for r in rows:
            print("\t".join(str(r[c]) for c in SCORE_COLUMNS))
    else:
        print(f"{argv[1]}: not an lr.embeddings or lr.scores stream", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
