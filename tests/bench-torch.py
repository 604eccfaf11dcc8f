#!/usr/bin/python3
"""bench-torch.py - PyTorch's figures for the benchmarks to compare with, on
random models of the same shapes (float32, the CPU, this machine's BLAS):

  bench-torch.py encode IDS THREADS   Qwen2.5-0.5B shape, inference over the
                                      token ids of IDS (one JSON array per
                                      line, from lr-encode --tokenize), in
                                      length-sorted padded batches of at most
                                      4096 tokens; prints real tokens/s
  bench-torch.py train STEPS THREADS [bf16]
                                      SmolLM2-135M shape, full fine-tuning:
                                      InfoNCE steps of 8 queries (16-32
                                      tokens) and 32 passages (64-128) as
                                      tests/bench-train-run, AdamW; prints
                                      real tokens/s and the peak RSS; with
                                      bf16, forward and loss under
                                      torch.autocast("cpu", torch.bfloat16)
                                      (PyTorch's mixed precision: bf16
                                      products on oneDNN, fp32 weights)
"""
import json
import math
import resource
import sys
import time

import torch
import torch.nn.functional as F


class Layer(torch.nn.Module):
    def __init__(s, H, nh, nkv, I, bias):
        super().__init__()
        s.nh, s.nkv, s.hd = nh, nkv, H // nh
        s.n1, s.n2 = torch.nn.Parameter(torch.ones(H)), torch.nn.Parameter(torch.ones(H))
        s.q = torch.nn.Linear(H, nh * s.hd, bias=bias)
        s.k = torch.nn.Linear(H, nkv * s.hd, bias=bias)
        s.v = torch.nn.Linear(H, nkv * s.hd, bias=bias)
        s.o = torch.nn.Linear(nh * s.hd, H, bias=False)
        s.g = torch.nn.Linear(H, I, bias=False)
        s.u = torch.nn.Linear(H, I, bias=False)
        s.d = torch.nn.Linear(I, H, bias=False)

    @staticmethod
    def rms(x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * w

    def forward(s, x, cos, sin, mask):
        B, L, _ = x.shape
        h = s.rms(x, s.n1)
        q = s.q(h).view(B, L, s.nh, s.hd).transpose(1, 2)
        k = s.k(h).view(B, L, s.nkv, s.hd).transpose(1, 2)
        v = s.v(h).view(B, L, s.nkv, s.hd).transpose(1, 2)

        def rope(t):
            a, b = t[..., : s.hd // 2], t[..., s.hd // 2:]
            return torch.cat([a * cos - b * sin, b * cos + a * sin], -1)

        q, k = rope(q), rope(k)
        k = k.repeat_interleave(s.nh // s.nkv, 1)
        v = v.repeat_interleave(s.nh // s.nkv, 1)
        a = (q @ k.transpose(-1, -2)) / math.sqrt(s.hd) + mask
        a = torch.softmax(a, -1) @ v
        x = x + s.o(a.transpose(1, 2).reshape(B, L, -1))
        h = s.rms(x, s.n2)
        return x + s.d(F.silu(s.g(h)) * s.u(h))


class Model(torch.nn.Module):
    def __init__(s, V, H, layers, nh, nkv, I, bias):
        super().__init__()
        s.hd = H // nh
        s.emb = torch.nn.Embedding(V, H)
        s.layers = torch.nn.ModuleList(Layer(H, nh, nkv, I, bias) for _ in range(layers))
        s.norm = torch.nn.Parameter(torch.ones(H))

    def forward(s, ids, lens):
        B, L = ids.shape
        pos = torch.arange(L, dtype=torch.float32)
        inv = 1.0 / (10000.0 ** (torch.arange(0, s.hd, 2, dtype=torch.float32) / s.hd))
        ang = pos[:, None] * inv[None, :]
        cos, sin = ang.cos(), ang.sin()
        keep = torch.arange(L)[None, :] < lens[:, None]
        causal = torch.tril(torch.ones(L, L, dtype=torch.bool))
        mask = torch.zeros(B, 1, L, L).masked_fill(~(causal[None, None] & keep[:, None, None, :]), -1e9)
        x = s.emb(ids)
        for layer in s.layers:
            x = layer(x, cos, sin, mask)
        x = Layer.rms(x, s.norm)
        last = x[torch.arange(B), lens - 1]
        return F.normalize(last, dim=-1)


def batch(seqs):
    L = max(len(t) for t in seqs)
    ids = torch.zeros(len(seqs), L, dtype=torch.long)
    for i, t in enumerate(seqs):
        ids[i, : len(t)] = torch.tensor(t)
    return ids, torch.tensor([len(t) for t in seqs])


def encode(path):
    seqs = sorted((json.loads(l) for l in open(path)), key=len)
    m = Model(151936, 896, 24, 14, 2, 4864, True).eval()
    tokens, t0 = sum(len(t) for t in seqs), time.time()
    with torch.no_grad():
        i = 0
        while i < len(seqs):
            j = i + 1
            while j < len(seqs) and len(seqs[j]) * (j + 1 - i) <= 4096:
                j += 1
            m(*batch(seqs[i:j]))
            i = j
    dt = time.time() - t0
    print(f"torch encode: {tokens} real tokens in {dt:.1f} s: {tokens / dt:.1f} tokens/s")


def train(steps, bf16):
    torch.manual_seed(5)
    m = Model(49152, 576, 30, 9, 3, 1536, False)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-5)
    tok = secs = 0.0
    for s in range(steps + 1):
        q = [torch.randint(3, 49000, (int(torch.randint(16, 33, ())),)).tolist() for _ in range(8)]
        p = [torch.randint(3, 49000, (int(torch.randint(64, 129, ())),)).tolist() for _ in range(32)]
        t0 = time.time()
        opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            qe, pe = m(*batch(q)), m(*batch(p))
            loss = F.cross_entropy(qe.float() @ pe.float().T / 0.02, torch.arange(8) * 4)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        if s:   # the first step warms up
            secs += time.time() - t0
            tok += sum(map(len, q)) + sum(map(len, p))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"torch train: full fine-tuning, {'bf16 autocast' if bf16 else 'float32'}, "
          f"{tok / secs:.1f} real tokens/s over {steps} steps, "
          f"peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    torch.set_num_threads(int(sys.argv[3]) if len(sys.argv) > 3 else 2)
    if sys.argv[1] == "encode":
        encode(sys.argv[2])
    else:
        train(int(sys.argv[2]), len(sys.argv) > 4 and sys.argv[4] == "bf16")
