#!/usr/bin/env python3
"""mp-tool.py - read lr's msgpack streams independently of the library.

Plain python3 (no msgpack module, no numpy).

  dump FILE                      every map of the stream as one JSON line;
                                 bins as lists of float32
  channels SCORES MODEL REF TOL  the "channel" bins of an lr.scores stream
                                 against the metric its header names,
                                 computed from MODEL's weights and the
                                 float64 activation statistics of REF
                                 (wanda, absmean) or from the weights alone
                                 (weight); prints the largest error relative
                                 to the largest value, fails above TOL
  widths SCORES LRJSON MODE KEEP FLOOR MULT
                                 the widths and kept_channels of LRJSON (from
                                 lr-cut-width --scores SCORES) as MODE
                                 (uniform or global) with --keep KEEP,
                                 --floor FLOOR and --multiple-of MULT keep
                                 them: each MLP keeps its best channels;
                                 uniform: every width is KEEP of the MLP,
                                 rounded to a multiple of MULT; global: one
                                 threshold across MLPs not held at the floor
                                 (when MULT is 1),
                                 none below FLOOR, KEEP of all channels
"""
import json, math, os, struct, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def unpack(buf, i):
    """Decode one msgpack value at buf[i:]; return (value, next index)."""
    b = buf[i]
    i += 1
    if b <= 0x7f:
        return b, i
    if b >= 0xe0:
        return b - 0x100, i
    if 0x80 <= b <= 0x8f or b in (0xde, 0xdf):
        n, i = (b & 0x0f, i) if b <= 0x8f else fixed(buf, i, '>H' if b == 0xde else '>I')
        out = {}
        for _ in range(n):
            k, i = unpack(buf, i)
            v, i = unpack(buf, i)
            out[k] = v
        return out, i
    if 0x90 <= b <= 0x9f or b in (0xdc, 0xdd):
        n, i = (b & 0x0f, i) if b <= 0x9f else fixed(buf, i, '>H' if b == 0xdc else '>I')
        out = []
        for _ in range(n):
            v, i = unpack(buf, i)
            out.append(v)
        return out, i
    if 0xa0 <= b <= 0xbf or b in (0xd9, 0xda, 0xdb):
        n, i = (b & 0x1f, i) if b <= 0xbf else fixed(buf, i, {0xd9: '>B', 0xda: '>H', 0xdb: '>I'}[b])
        return buf[i:i + n].decode(), i + n
    if b in (0xc4, 0xc5, 0xc6):
        n, i = fixed(buf, i, {0xc4: '>B', 0xc5: '>H', 0xc6: '>I'}[b])
        raw = buf[i:i + n]
        return list(struct.unpack('<%df' % (n // 4), raw)), i + n
    if b == 0xc0:
        return None, i
    if b in (0xc2, 0xc3):
        return b == 0xc3, i
    fmt = {0xca: '>f', 0xcb: '>d', 0xcc: '>B', 0xcd: '>H', 0xce: '>I', 0xcf: '>Q',
           0xd0: '>b', 0xd1: '>h', 0xd2: '>i', 0xd3: '>q'}.get(b)
    if fmt is None:
        raise ValueError('msgpack type 0x%02x at byte %d' % (b, i - 1))
    return fixed(buf, i, fmt)


def fixed(buf, i, fmt):
    n = struct.calcsize(fmt)
    return struct.unpack(fmt, buf[i:i + n])[0], i + n


def records(path):
    buf = open(path, 'rb').read()
    i, out = 0, []
    while i < len(buf):
        v, i = unpack(buf, i)
        out.append(v)
    return out


def channels(scores, model, ref):
    import importlib
    ck = importlib.import_module('ckpt-tool')
    recs = records(scores)
    metric = recs[0]['channel_metric']
    t = ck.tensors(model)
    rh, rdata = ck.parse_st(open(ref, 'rb').read())

    def ref64(name):
        b, e = rh[name]['data_offsets']
        return struct.unpack('<%dd' % ((e - b) // 8), rdata[b:e])

    def w(name):
        dt, shape, data = t[name]
        return shape, ck.floats(dt, data)

    worst, n = 0.0, 0
    for r in recs[1:]:
        if not r.get('mlp_width'):
            continue
        l, got = r['layer'], r['channel']
        (h, i), down = w('model.layers.%d.mlp.down_proj.weight' % l)
        dcol = [math.sqrt(sum(down[k * i + j] ** 2 for k in range(h))) for j in range(i)]
        if metric == 'wanda':
            l2 = ref64('layer%d.mlp_act_l2' % l)
            want = [l2[j] * dcol[j] for j in range(i)]
        elif metric == 'absmean':
            want = list(ref64('layer%d.mlp_act_absmean' % l))
        elif metric == 'weight':
            _, g = w('model.layers.%d.mlp.gate_proj.weight' % l)
            _, u = w('model.layers.%d.mlp.up_proj.weight' % l)
            want = [math.sqrt(sum(x * x for x in g[j * h:(j + 1) * h])) *
                    math.sqrt(sum(x * x for x in u[j * h:(j + 1) * h])) * dcol[j] for j in range(i)]
        else:
            raise ValueError('channel_metric ' + metric)
        if len(got) != len(want):
            print('layer %d: %d channels, expected %d' % (l, len(got), len(want)))
            return 1
        top = max(abs(x) for x in want)
        worst = max(worst, max(abs(a - b) for a, b in zip(got, want)) / top)
        n += 1
    print('%s: %d layers, largest error %.3g of the largest value' % (metric, n, worst))
    return worst, n


def widths(scores, lrjson, mode, keep, floor, mult):
    ch = {r['layer']: r['channel'] for r in records(scores)[1:] if r.get('mlp_width')}
    lj = json.load(open(lrjson))
    kept = {int(k): v for k, v in lj['kept_channels'].items()}
    bad = []
    total = sum(len(c) for c in ch.values())
    lo_kept, hi_dropped = math.inf, -math.inf
    for l, c in sorted(ch.items()):
        w = lj['layers'][l]['mlp']
        k = sorted(kept[l])
        if len(k) != w:
            bad.append('layer %d: width %d but %d kept channels' % (l, w, len(k)))
        drop = [c[j] for j in range(len(c)) if j not in set(k)]
        if drop and min(c[j] for j in k) < max(drop):
            bad.append('layer %d: a dropped channel scores above a kept one' % l)
        if mode == 'uniform':
            if w % mult or abs(w - keep * len(c)) > mult / 2 + 1e-9:
                bad.append('layer %d: width %d for keep %g of %d, multiple of %d' % (l, w, keep, len(c), mult))
        else:
            if w < math.floor(floor * len(c)):
                bad.append('layer %d: width %d below the floor %g of %d' % (l, w, floor, len(c)))
            if w % mult:
                bad.append('layer %d: width %d not a multiple of %d' % (l, w, mult))
            # not held at the floor and not rounded: on the global threshold
            if mult == 1 and w > math.ceil(floor * len(c)):
                lo_kept = min(lo_kept, min(c[j] for j in k))
                hi_dropped = max([hi_dropped] + drop)
    got = sum(lj['layers'][l]['mlp'] for l in ch)
    if mode == 'global':
        if hi_dropped > lo_kept:
            bad.append('no single threshold: dropped %g above kept %g' % (hi_dropped, lo_kept))
        floor_total = sum(max(math.ceil(floor * len(c)), 0) for c in ch.values())
        want = max(keep * total, floor_total)
        if abs(got - want) > len(ch) * mult:
            bad.append('%d channels kept of %d, expected about %g' % (got, total, want))
    for b in bad:
        print(b)
    print('%s: %d of %d channels kept, widths %s' % (mode, got, total,
                                                     ' '.join(str(lj['layers'][l]['mlp']) for l in sorted(ch))))
    return 1 if bad else 0


def main(argv):
    if len(argv) == 3 and argv[1] == 'dump':
        for r in records(argv[2]):
            print(json.dumps(r, sort_keys=True))
        return 0
    if len(argv) == 8 and argv[1] == 'widths':
        return widths(argv[2], argv[3], argv[4], float(argv[5]), float(argv[6]), int(argv[7]))
    if len(argv) == 6 and argv[1] == 'channels':
        worst, n = channels(argv[2], argv[3], argv[4])
        return 0 if n > 0 and worst <= float(argv[5]) else 1
    sys.exit(__doc__)


if __name__ == '__main__':
    sys.exit(main(sys.argv))
