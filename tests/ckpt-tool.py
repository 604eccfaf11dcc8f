#!/usr/bin/env python3
"""ckpt-tool.py - independent checks and bad inputs for the checkpoint tests.

Plain python3 (no numpy): reads safetensors and tars itself.

  compare A B [--skip PREFIX]...   same tensors (names, dtypes, shapes, bytes)
  layout CKPT                      print lr.json layers as "attn:mlp,..."
  history CKPT                     print the number of lr.json history entries
  shard DIR OUT                    split DIR's model.safetensors into 2 shards
  bad KIND DIR OUT                 write a broken copy of checkpoint DIR
  bad-all DIR OUTDIR KIND...       the same for several kinds, OUTDIR/KIND.tar
  lora BASE MERGED STATE ALPHA TARGETS
                                   MERGED's weights are BASE's plus
                                   (ALPHA / rank) B A, the adapters of the
                                   lr-train state STATE, on TARGETS (q,v,...)
                                   only; every other tensor is unchanged
"""
import io, json, os, shutil, struct, sys, tarfile


def read_files(path):
    """Return {name: bytes} of a checkpoint directory or tar."""
    if os.path.isdir(path):
        return {n: open(os.path.join(path, n), 'rb').read() for n in os.listdir(path)
                if os.path.isfile(os.path.join(path, n))}
    out = {}
    with tarfile.open(path) as t:
        for m in t.getmembers():
            if m.isfile():
                name = m.name[2:] if m.name.startswith('./') else m.name
                out[name.split('/')[-1]] = t.extractfile(m).read()
    return out


def parse_st(buf):
    n = struct.unpack('<Q', buf[:8])[0]
    h = json.loads(buf[8:8 + n])
    h.pop('__metadata__', None)
    return h, buf[8 + n:]


def tensors(path):
    files = read_files(path)
    names = ['model.safetensors']
    if 'model.safetensors.index.json' in files:
        names = sorted(set(json.loads(files['model.safetensors.index.json'])['weight_map'].values()))
    out = {}
    for n in names:
        h, data = parse_st(files[n])
        for k, v in h.items():
            b, e = v['data_offsets']
            out[k] = (v['dtype'], tuple(v['shape']), data[b:e])
    return out


def write_st(tens):
    header, off, blobs = {'__metadata__': {'format': 'pt'}}, 0, []
    for k, (dt, shape, data) in tens.items():
        header[k] = {'dtype': dt, 'shape': list(shape), 'data_offsets': [off, off + len(data)]}
        off += len(data)
        blobs.append(data)
    return raw_st(header, b''.join(blobs))


def raw_st(header, data):
    js = json.dumps(header, separators=(',', ':')).encode()
    js += b' ' * (-len(js) % 8)
    return struct.pack('<Q', len(js)) + js + data


def write_dir(files, out):
    os.makedirs(out, exist_ok=True)
    for n, b in files.items():
        with open(os.path.join(out, n), 'wb') as f:
            f.write(b)


def write_tar(files, out, prefix='./'):
    with tarfile.open(out, 'w', format=tarfile.PAX_FORMAT) as t:
        for n, b in files.items():
            ti = tarfile.TarInfo(prefix + n)
            ti.size = len(b)
            t.addfile(ti, io.BytesIO(b))


def compare(a, b, skip):
    ta, tb = tensors(a), tensors(b)
    bad = 0
    for k in sorted(set(ta) | set(tb)):
        if k not in ta or k not in tb:
            print('only in %s: %s' % (a if k in ta else b, k))
            bad += 1
        elif any(k.startswith(p) for p in skip):
            continue
        elif ta[k] != tb[k]:
            print('differs: %s (%s %s vs %s %s)' % (k, ta[k][0], ta[k][1], tb[k][0], tb[k][1]))
            bad += 1
    print('%d tensors compared, %d differences' % (len(ta), bad))
    return 1 if bad else 0


def floats(dt, data):
    """Decode F32, F16 or BF16 bytes as python floats."""
    if dt == 'F32':
        return list(struct.unpack('<%df' % (len(data) // 4), data))
    if dt == 'F16':
        return list(struct.unpack('<%de' % (len(data) // 2), data))
    if dt == 'BF16':
        u = struct.unpack('<%dH' % (len(data) // 2), data)
        return list(struct.unpack('<%df' % len(u), struct.pack('<%dI' % len(u), *(x << 16 for x in u))))
    raise ValueError('dtype ' + dt)


# stored precision: the largest rounding error relative to |value|
HALF_ULP = {'F32': 2.0 ** -24, 'F16': 2.0 ** -11, 'BF16': 2.0 ** -8}
PROJ = {'q': 'self_attn.q_proj', 'k': 'self_attn.k_proj', 'v': 'self_attn.v_proj',
        'o': 'self_attn.o_proj', 'gate': 'mlp.gate_proj', 'up': 'mlp.up_proj', 'down': 'mlp.down_proj'}


def lora(base, merged, state, alpha, targets):
    tb, tm = tensors(base), tensors(merged)
    sh, sdata = parse_st(open(state, 'rb').read())
    st = {k: floats(v['dtype'], sdata[v['data_offsets'][0]:v['data_offsets'][1]]) for k, v in sh.items()}
    suffixes = ['.' + PROJ[t] + '.weight' for t in targets.split(',')]
    bad = n_merged = 0
    worst = change = 0.0
    for k in sorted(set(tb) | set(tm)):
        if k not in tb or k not in tm:
            print('only in one model: ' + k)
            bad += 1
            continue
        if not any(k.endswith(s) for s in suffixes):
            if tb[k] != tm[k]:
                print('not a LoRA target but changed: ' + k)
                bad += 1
            continue
        dt, (rows, cols), _ = tb[k]
        stem = k[:-len('.weight')]
        a, b = st.get(stem + '.lora_A'), st.get(stem + '.lora_B')
        if a is None or b is None:
            print('no adapters in the state for ' + k)
            bad += 1
            continue
        rank = len(a) // cols
        w0, w = floats(dt, tb[k][2]), floats(tm[k][0], tm[k][2])
        s = alpha / rank
        for i in range(rows):
            bi = b[i * rank:(i + 1) * rank]
            for j in range(cols):
                d = s * sum(bi[r] * a[r * cols + j] for r in range(rank))
                want = w0[i * cols + j] + d
                # one rounding to the stored dtype, in units of its half-ulp
                err = abs(w[i * cols + j] - want) / (HALF_ULP[dt] * max(abs(want), 1e-30))
                worst, change = max(worst, err), max(change, abs(d))
        n_merged += 1
    print('%d merged tensors, largest change %.3g, largest error %.3f half-ulps' % (n_merged, change, worst))
    # one rounding is at most one half-ulp (1.01: float64 summation noise)
    if worst > 1.01:
        bad += 1
    if n_merged == 0 or change == 0:
        print('the adapters change nothing')
        bad += 1
    return 1 if bad else 0


def bad(kind, src, out):
    files = {n: b for n, b in read_files(src).items() if not n.startswith('ref-')}
    st = files['model.safetensors']
    h, data = parse_st(st)
    q = 'model.layers.0.self_attn.q_proj.weight'
    as_dir = kind.startswith('dir-')
    kind = kind[4:] if as_dir else kind
    if kind == 'no-config':
        del files['config.json']
    elif kind == 'offset-past-end':
        n = h[q]['data_offsets'][1] - h[q]['data_offsets'][0]
        h[q]['data_offsets'] = [len(data), len(data) + n]
        files['model.safetensors'] = raw_st(h, data)
    elif kind == 'overlap':
        h['model.layers.0.self_attn.v_proj.weight']['data_offsets'] = \
            list(h['model.layers.0.self_attn.k_proj.weight']['data_offsets'])
        files['model.safetensors'] = raw_st(h, data)
    elif kind == 'unknown-dtype':
        h[q]['dtype'] = 'Q4'
        files['model.safetensors'] = raw_st(h, data)
    elif kind == 'header-too-long':
        files['model.safetensors'] = struct.pack('<Q', len(st) + 100) + st[8:]
    elif kind == 'size-mismatch':
        h[q]['shape'] = [64, 63]
        files['model.safetensors'] = raw_st(h, data)
    elif kind == 'shape-vs-config':
        h[q]['shape'] = [32, 128]
        files['model.safetensors'] = raw_st(h, data)
    elif kind == 'lrjson-vs-tensors':
        layers = [{'attn': True, 'mlp': 160} for _ in range(4)]
        layers[1]['mlp'] = 0
        files['lr.json'] = json.dumps({'format': 'lr-checkpoint', 'version': 1, 'layers': layers}).encode()
    elif kind == 'malformed-config':
        files['config.json'] = files['config.json'][:40]
    elif kind == 'malformed-lrjson':
        files['lr.json'] = b'{"format": "lr-checkpoint", "version": 1, "layers": [}'
    elif kind == 'malformed-header':
        js = b'{"a": [1, 2'
        js += b' ' * (-len(js) % 8)
        files['model.safetensors'] = struct.pack('<Q', len(js)) + js + data
    elif kind == 'unknown-model-type':
        c = json.loads(files['config.json'])
        c['model_type'] = 'gpt_neox'
        files['config.json'] = json.dumps(c).encode()
    elif kind == 'missing-tensor':
        tens = {k: (v['dtype'], tuple(v['shape']), data[v['data_offsets'][0]:v['data_offsets'][1]])
                for k, v in h.items() if k != 'model.norm.weight'}
        files['model.safetensors'] = write_st(tens)
    elif kind == 'trailing-bytes':
        files['model.safetensors'] = raw_st(h, data + bytes(8))
    elif kind in ('truncated', 'ok'):
        pass
    else:
        sys.exit('unknown kind ' + kind)
    if as_dir:
        write_dir(files, out)
        return 0
    write_tar(files, out)
    if kind == 'truncated':
        size = os.path.getsize(out)
        with open(out, 'r+b') as f:
            f.truncate(size // 2)
    return 0


def big(out, dim, layers, ffn, vocab):
    """A large F32 llama checkpoint (weights are repeated random bytes)."""
    heads = max(1, dim // 64)
    cfg = {'architectures': ['LlamaForCausalLM'], 'model_type': 'llama', 'hidden_size': dim,
           'intermediate_size': ffn, 'num_hidden_layers': layers, 'num_attention_heads': heads,
           'num_key_value_heads': heads, 'max_position_embeddings': 2048, 'rms_norm_eps': 1e-5,
           'rope_theta': 10000.0, 'vocab_size': vocab, 'hidden_act': 'silu',
           'tie_word_embeddings': False, 'torch_dtype': 'float32', 'bos_token_id': 1, 'eos_token_id': 2}
    shapes = {'model.embed_tokens.weight': [vocab, dim], 'model.norm.weight': [dim], 'lm_head.weight': [vocab, dim]}
    for l in range(layers):
        p = 'model.layers.%d.' % l
        shapes.update({p + 'input_layernorm.weight': [dim], p + 'post_attention_layernorm.weight': [dim],
                       p + 'self_attn.q_proj.weight': [dim, dim], p + 'self_attn.k_proj.weight': [dim, dim],
                       p + 'self_attn.v_proj.weight': [dim, dim], p + 'self_attn.o_proj.weight': [dim, dim],
                       p + 'mlp.gate_proj.weight': [ffn, dim], p + 'mlp.up_proj.weight': [ffn, dim],
                       p + 'mlp.down_proj.weight': [dim, ffn]})
    header, off = {'__metadata__': {'format': 'pt'}}, 0
    for k, shape in shapes.items():
        n = 4 * shape[0] * (shape[1] if len(shape) > 1 else 1)
        header[k] = {'dtype': 'F32', 'shape': shape, 'data_offsets': [off, off + n]}
        off += n
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, 'config.json'), 'w') as f:
        json.dump(cfg, f)
    block = os.urandom(1 << 20)
    with open(os.path.join(out, 'model.safetensors'), 'wb') as f:
        f.write(raw_st(header, b''))
        left = off
        while left:
            k = min(left, len(block))
            f.write(block[:k])
            left -= k
    return 0


def main(argv):
    cmd = argv[1]
    if cmd == 'compare':
        skip = [argv[i + 1] for i, x in enumerate(argv) if x == '--skip']
        return compare(argv[2], argv[3], skip)
    if cmd == 'layout':
        lj = json.loads(read_files(argv[2])['lr.json'])
        print(','.join('%d:%d' % (l['attn'], l['mlp']) for l in lj['layers']))
        return 0
    if cmd == 'history':
        lj = json.loads(read_files(argv[2]).get('lr.json', b'{}'))
        print(len(lj.get('history', [])))
        return 0
    if cmd == 'shard':
        files = {n: b for n, b in read_files(argv[2]).items() if not n.startswith('ref-')}
        t = tensors(argv[2])
        del files['model.safetensors']
        keys = sorted(t)
        half = len(keys) // 2
        parts = [keys[:half], keys[half:]]
        wm = {}
        for i, part in enumerate(parts):
            name = 'model-%05d-of-%05d.safetensors' % (i + 1, len(parts))
            files[name] = write_st({k: t[k] for k in part})
            wm.update({k: name for k in part})
        files['model.safetensors.index.json'] = json.dumps({'metadata': {}, 'weight_map': wm}).encode()
        write_dir(files, argv[3])
        return 0
    if cmd == 'bad':
        return bad(argv[2], argv[3], argv[4])
    if cmd == 'lora':
        return lora(argv[2], argv[3], argv[4], float(argv[5]), argv[6])
    if cmd == 'big':   # big OUTDIR DIM LAYERS FFN VOCAB: an F32 llama, arbitrary bytes
        return big(argv[2], *map(int, argv[3:7]))
    if cmd == 'bad-all':   # bad-all DIR OUTDIR KIND...: OUTDIR/KIND.tar (or dir)
        for k in argv[4:]:
            bad(k, argv[2], os.path.join(argv[3], k + ('' if k.startswith('dir-') else '.tar')))
        return 0
    sys.exit(__doc__)


if __name__ == '__main__':
    sys.exit(main(sys.argv))
