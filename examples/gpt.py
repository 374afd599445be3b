"""A small GPT trained on examples/ember_tales.txt, one character per token, then sampled.

    python examples/gpt.py                      # cpu, 200 steps
    python examples/gpt.py --steps 30           # a few seconds: the loss falls
    python examples/gpt.py --device cuda --steps 2000 --dim 192 --layers 6 --block 128

The model follows nanoGPT: token and position embeddings, pre-norm blocks of causal self-attention
(F.scaled_dot_product_attention with is_causal=True) and a GELU MLP, a final LayerNorm, and an output
head that shares the token embedding's weight. AdamW decays the weight matrices only; gradients are
clipped to norm 1.
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

HERE = os.path.dirname(os.path.abspath(__file__))


class CausalSelfAttention(nn.Module):
    def __init__(self, dim, heads, dropout):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.c_attn = nn.Linear(dim, 3 * dim)   # query, key and value in one matrix
        self.c_proj = nn.Linear(dim, dim)
        self.resid_dropout = nn.Dropout(dropout)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = (t.reshape(B, T, self.heads, C // self.heads).transpose(1, 2)
                   for t in self.c_attn(x).split(C, dim=2))                    # (B, heads, T, head_dim)
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0,
                                           is_causal=True)
        return self.resid_dropout(self.c_proj(y.transpose(1, 2).reshape(B, T, C)))


class MLP(nn.Module):
    def __init__(self, dim, dropout):
        super().__init__()
        self.c_fc = nn.Linear(dim, 4 * dim)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * dim, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, dim, heads, dropout):
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim)
        self.attn = CausalSelfAttention(dim, heads, dropout)
        self.ln_2 = nn.LayerNorm(dim)
        self.mlp = MLP(dim, dropout)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, vocab, block, dim=64, heads=4, layers=2, dropout=0.0):
        super().__init__()
        self.block = block
        self.wte = nn.Embedding(vocab, dim)
        self.wpe = nn.Embedding(block, dim)
        self.drop = nn.Dropout(dropout)
        self.h = nn.ModuleList([Block(dim, heads, dropout) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(dim)
        self.lm_head = nn.Linear(dim, vocab, bias=False)
        self.lm_head.weight = self.wte.weight     # weight tying: one matrix embeds and un-embeds
        self.apply(self._init_weights)
        for name, p in self.named_parameters():   # residual projections scaled down by depth, as GPT-2
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * layers))

    @staticmethod
    def _init_weights(m):
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)

    def forward(self, idx):
        T = idx.shape[1]
        x = self.drop(self.wte(idx) + self.wpe(ember.arange(T, device=idx.device)))
        for b in self.h:
            x = b(x)
        return self.lm_head(self.ln_f(x))

    def configure_optimizer(self, lr, weight_decay, betas=(0.9, 0.95)):
        """AdamW with two groups: weight matrices and embeddings decay, biases and LayerNorm weights do not."""
        params = [p for p in self.parameters() if p.requires_grad]
        groups = [{"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay},
                  {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]
        return ember.optim.AdamW(groups, lr=lr, betas=betas)


def batch(data, block, size, rng, device):
    starts = rng.integers(0, len(data) - block - 1, size)
    x = np.stack([data[s:s + block] for s in starts])
    y = np.stack([data[s + 1:s + block + 1] for s in starts])
    return ember.tensor(x, device=device), ember.tensor(y, device=device)


def generate(model, idx, n, temperature, device, rng):
    """Extends the list of token ids ``idx`` by n sampled tokens."""
    model.eval()
    with ember.no_grad():
        for _ in range(n):
            ctx = ember.tensor([idx[-model.block:]], device=device)
            logits = model(ctx)[0, -1].float().cpu().numpy().astype(np.float64) / temperature
            p = np.exp(logits - logits.max())
            idx.append(int(rng.choice(len(p), p=p / p.sum())))
    model.train()
    return idx


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--block", type=int, default=32)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sample", type=int, default=120, help="characters to sample after training")
    ap.add_argument("--text", default=os.path.join(HERE, "ember_tales.txt"))
    args = ap.parse_args(argv)

    ember.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    with open(args.text, encoding="utf-8") as f:
        text = f.read()
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    data = np.array([stoi[c] for c in text], dtype=np.int64)
    model = GPT(len(chars), args.block, args.dim, args.heads, args.layers, args.dropout).to(args.device)
    opt = model.configure_optimizer(args.lr, args.weight_decay)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"device {args.device}: {len(text)} characters, vocabulary {len(chars)}, {n_params} parameters",
          flush=True)

    model.train()
    t0 = time.perf_counter()
    for step in range(1, args.steps + 1):
        x, y = batch(data, args.block, args.batch_size, rng, args.device)
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, len(chars)), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        norm = nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step == 1 or step % args.log_every == 0 or step == args.steps:
            print(f"step {step:5d}  loss {loss.item():.4f}  grad norm {float(norm):.3f}  "
                  f"{(time.perf_counter() - t0) / step * 1e3:.0f} ms/step", flush=True)
    print(f"trained {args.steps} steps in {time.perf_counter() - t0:.1f} s", flush=True)
    if args.sample > 0:
        idx = generate(model, [stoi[c] for c in "The keeper "], args.sample, 0.8, args.device, rng)
        print("--- sample ---\n" + "".join(chars[i] for i in idx))
    return model


if __name__ == "__main__":
    main()
