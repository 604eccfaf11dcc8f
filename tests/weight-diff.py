#!/usr/bin/env python3
"""weight-diff.py A B - compare two safetensors files of float32 tensors
(lr-train's OUTPUT.state files: weights and AdamW moments) that should
hold the same numbers up to float32 rounding.  Plain python3 (no numpy).

Prints one line: "max_abs MAX_ABS_DIFF max_rel MAX_REL_DIFF tensors N"
where the relative difference of a tensor is max |a - b| / max |a|, over
the weights only (not the '#exp_avg' moments).  Exits 1 when the names,
dtypes or shapes differ."""
import array, json, struct, sys


def load(path):
    b = open(path, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    h = json.loads(b[8:8 + n])
    h.pop('__metadata__', None)
    out = {}
    for name, t in h.items():
        if t['dtype'] != 'F32':
            sys.exit('%s: %s is %s, not F32' % (path, name, t['dtype']))
        a, e = t['data_offsets']
        v = array.array('f')
        v.frombytes(b[8 + n + a:8 + n + e])
        out[name] = (t['shape'], v)
    return out


a, b = load(sys.argv[1]), load(sys.argv[2])
if sorted(a) != sorted(b):
    sys.exit('the files hold different tensors')
max_abs = max_rel = 0.0
for name in a:
    (sa, va), (sb, vb) = a[name], b[name]
    if sa != sb:
        sys.exit('%s: shape %s vs %s' % (name, sa, sb))
    if '#' in name:
        continue
    d = max((abs(x - y) for x, y in zip(va, vb)), default=0.0)
    m = max((abs(x) for x in va), default=0.0)
    max_abs = max(max_abs, d)
    if m > 0:
        max_rel = max(max_rel, d / m)
print('max_abs %.3g max_rel %.3g tensors %d' % (max_abs, max_rel, len(a)))
