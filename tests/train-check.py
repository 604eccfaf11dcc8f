#!/usr/bin/env python3
"""train-check.py - independent checks of lr-train's options (tests/train.sh).

Plain python3 (no numpy); reads safetensors, tars and msgpack itself.

  decay STATE A B LR WD    A and B are the models one update after the
                           weights W of the lr-train state STATE, with
                           --weight-decay 0 and WD, at learning rate LR and
                           from the same gradient and moments. AdamW's
                           decoupled decay makes B - A = -LR WD W on every
                           matrix and embedding (to float32 rounding) and
                           B = A exactly on norms and biases.
  kl ROWS TQ TP TAU TAUT   the distillation loss of one batch holding every
                           row of ROWS (JSONL: qid, pos, neg; every positive
                           and negative in the batch), the student's
                           embeddings being the teacher's (TQ, TP: lr-encode
                           streams of the same model): mean over queries of
                           KL(teacher || student), teacher scores over TAUT,
                           student scores over TAU. Prints the value, then
                           the reverse KL and the value with the default
                           teacher temperature 0.02 (what a run ignoring
                           --teacher-tau would give).
"""
import json, math, os, struct, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
ck = __import__('ckpt-tool')
mp = __import__('mp-tool')


def decay(state, a, b, lr, wd):
    sh, sdata = ck.parse_st(open(state, 'rb').read())
    ta, tb = ck.tensors(a), ck.tensors(b)
    worst, n_decayed, n_kept, bad = 0.0, 0, 0, 0
    for k in sorted(ta):
        dt, shape, raw_a = ta[k]
        if dt != 'F32' or tb[k][0] != 'F32':
            sys.exit('%s: %s, not F32' % (k, dt))
        wa, wb = ck.floats(dt, raw_a), ck.floats(dt, tb[k][2])
        if len(shape) == 1:
            # norms and biases are not decayed: the same update, bit for bit
            if raw_a != tb[k][2]:
                print('decayed but should not be: ' + k)
                bad += 1
            n_kept += 1
            continue
        s = sh[k]
        w = ck.floats('F32', sdata[s['data_offsets'][0]:s['data_offsets'][1]])
        for x, y, z in zip(wa, wb, w):
            want = -lr * wd * z
            # each of the two updates rounds twice (decay, step): at most
            # 4 half-ulps of the largest magnitude involved
            tol = 4 * 2.0 ** -24 * max(abs(x), abs(y), abs(z)) + 1e-30
            worst = max(worst, abs((y - x) - want) / tol)
        n_decayed += 1
    print('%d decayed tensors, %d not decayed, largest error %.3f of the rounding bound'
          % (n_decayed, n_kept, worst))
    return 1 if bad or worst > 1 or n_decayed == 0 or n_kept == 0 else 0


def vectors(path):
    return {r['id']: r['vec'] for r in mp.records(path) if 'id' in r}


def kl_rows(t, s):
    """KL(softmax(t) || softmax(s)) of two score rows."""
    def logsoftmax(x):
        m = max(x)
        lse = m + math.log(sum(math.exp(v - m) for v in x))
        return [v - lse for v in x]
    lt, ls = logsoftmax(t), logsoftmax(s)
    return sum(math.exp(a) * (a - b) for a, b in zip(lt, ls))


def kl(rows, tq, tp, tau, taut):
    q, p = vectors(tq), vectors(tp)
    ex = [json.loads(l) for l in open(rows) if l.strip()]
    passages = []
    for r in ex:
        passages += r['pos'] + r.get('neg', [])
    out = [0.0, 0.0, 0.0]
    for r in ex:
        dots = [sum(a * b for a, b in zip(q[r['qid']], p[pid])) for pid in passages]
        t = [d / taut for d in dots]
        s = [d / tau for d in dots]
        out[0] += kl_rows(t, s) / len(ex)
        out[1] += kl_rows(s, t) / len(ex)
        out[2] += kl_rows([d / 0.02 for d in dots], s) / len(ex)
    print('%.6f %.6f %.6f' % tuple(out))
    return 0


def main(argv):
    if len(argv) == 7 and argv[1] == 'decay':
        return decay(argv[2], argv[3], argv[4], float(argv[5]), float(argv[6]))
    if len(argv) == 7 and argv[1] == 'kl':
        return kl(argv[2], argv[3], argv[4], float(argv[5]), float(argv[6]))
    sys.exit(__doc__)


if __name__ == '__main__':
    sys.exit(main(sys.argv))
