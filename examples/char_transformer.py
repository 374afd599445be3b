"""Train a small character-level transformer on examples/ember_tales.txt, then sample from it.

    python examples/char_transformer.py                  # the first available accelerator, else cpu; ~200 steps
    python examples/char_transformer.py --steps 1000 --device cpu

The model is a decoder-only transformer: token and position embeddings, pre-norm blocks of causal
multi-head self-attention and a GELU MLP, a final LayerNorm and a linear head.
"""

from __future__ import annotations

import argparse
import math
import os
import time

import numpy as np

import ember
import ember.nn as nn
import ember.nn.functional as F

from _device import best_device
from train_digits import limit_blas_threads, progress

HERE = os.path.dirname(os.path.abspath(__file__))


class Block(nn.Module):
    def __init__(self, dim, heads, dropout):
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.ln2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim), nn.Dropout(dropout))

    def forward(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
        return x + self.mlp(self.ln2(x))


class CharTransformer(nn.Module):
    def __init__(self, vocab, block, dim=64, heads=4, layers=2, dropout=0.0):
        super().__init__()
        self.block = block
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Embedding(block, dim)
        self.blocks = nn.ModuleList([Block(dim, heads, dropout) for _ in range(layers)])
        self.ln = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab)

    def forward(self, idx):
        T = idx.shape[1]
        x = self.tok(idx) + self.pos(ember.arange(T, device=idx.device))
        # True above the diagonal: a position may not attend to later ones
        mask = ember.ones(T, T, dtype=ember.bool, device=idx.device).triu(1)
        for b in self.blocks:
            x = b(x, mask)
        return self.head(self.ln(x))


def batches(data, block, batch, rng):
    while True:
        starts = rng.integers(0, len(data) - block - 1, batch)
        x = np.stack([data[s:s + block] for s in starts])
        y = np.stack([data[s + 1:s + block + 1] for s in starts])
        yield x, y


def sample(model, stoi, itos, prompt, n, temperature, device, rng):
    model.eval()
    idx = [stoi[c] for c in prompt if c in stoi] or [0]
    with ember.no_grad():
        for _ in range(n):
            ctx = ember.tensor([idx[-model.block:]], device=device)
            logits = model(ctx)[0, -1].float().cpu().numpy().astype(np.float64) / temperature
            p = np.exp(logits - logits.max())
            idx.append(int(rng.choice(len(p), p=p / p.sum())))
    return "".join(itos[i] for i in idx)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default=None, help="default: the first available accelerator, else cpu")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--block", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sample", type=int, default=300, help="characters to sample after training")
    ap.add_argument("--text", default=os.path.join(HERE, "ember_tales.txt"))
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--blas-threads", type=int, default=1)
    args = ap.parse_args(argv)
    limit_blas_threads(args.blas_threads)

    device = args.device or best_device()
    if hasattr(ember, "manual_seed"):
        ember.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    with open(args.text, encoding="utf-8") as f:
        text = f.read()
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    data = np.array([stoi[c] for c in text], dtype=np.int64)
    model = CharTransformer(len(chars), args.block).to(device)
    opt = ember.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    sched = ember.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.steps, eta_min=args.lr / 10)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"device {device}: {len(text)} characters, vocabulary {len(chars)}, {n_params} parameters")

    gen = batches(data, args.block, args.batch_size, rng)
    model.train()
    t0 = time.perf_counter()
    avg = None
    for step in progress(range(1, args.steps + 1), args.steps, "training", not args.no_progress):
        xb, yb = next(gen)
        x, y = ember.tensor(xb, device=device), ember.tensor(yb, device=device)
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, len(chars)), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        v = loss.item()
        avg = v if avg is None else 0.95 * avg + 0.05 * v
        if step % 50 == 0 or step == args.steps:
            print(f"step {step:4d}  loss {avg:.3f}  ({avg / math.log(2):.2f} bits/char)  "
                  f"{(time.perf_counter() - t0) / step * 1e3:.0f} ms/step", flush=True)
    print(f"trained {args.steps} steps in {time.perf_counter() - t0:.1f} s\n--- sample ---")
    print(sample(model, stoi, chars, "The keeper ", args.sample, 0.8, device, rng))


if __name__ == "__main__":
    main()
