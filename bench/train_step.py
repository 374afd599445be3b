"""Train-step time of Ember against PyTorch on cpu: an MLP, the digits CNN, an LSTM language model and a GPT.

    python bench/train_step.py [--samples 30] [--threads 1] [--only mlp|cnn|lstm|gpt|amp]

The models: an MLP (784-256-10, batch 128, SGD); the digits CNN (batch 32, AdamW); PyTorch's
word_language_model at its default sizes (embedding 200, 2-layer LSTM of 200, 35 steps of truncated
backpropagation, batch 20) over a 2,000-word vocabulary, with gradient clipping and SGD; a GPT with
F.scaled_dot_product_attention (2 blocks of width 128, 4 heads, context 64, batch 16, 65 symbols), tied
embeddings, gradient clipping and AdamW with two parameter groups.

The MLP and the CNN run a second time with their forward pass and loss under autocast on cpu in bfloat16
(``ember.autocast("cpu")`` against ``torch.autocast("cpu")``; ``--only amp`` runs just these two).

One train step = forward, cross-entropy loss, zero_grad, backward, optimizer step. Ember and PyTorch
samples are interleaved (so a noisy machine slows both alike) and the medians are compared; the ratio is
median(Ember) / median(PyTorch), the two figures printed beside it (lower is better, 1.0 = parity). Both
run on ``--threads`` threads (default 1: numpy's BLAS for Ember, torch.set_num_threads for PyTorch).

Where the time goes: the MLP's matrix products run on the same BLAS as PyTorch's and take the same time; the
rest is per-operator Python (dispatch, the autograd tape, gradient accumulation), about 20 operators a step.
The CNN's convolutions (forward and both gradients), batch norm (with its running statistics), max pooling,
relu's gradient and the AdamW update run as native kernels (backends/cpu/ember_cpu/native), as PyTorch's run
as direct kernels; the rest is per-operator Python, as in the MLP.
"""

from __future__ import annotations

import argparse

import numpy as np

from _common import add_threads_option, fmt, fmt_ratio, interleave, medians, pin_threads, ratio, threads_line



def _mlp(lib):
    nn = lib.nn
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))


def _cnn(lib):
    nn = lib.nn
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(512, 64), nn.ReLU(), nn.Linear(64, 10))


class _Models:
    """The LSTM language model and the GPT, written once against a library (ember or torch)."""

    def __init__(self, lib):
        self.lib, nn = lib, lib.nn
        F = lib.nn.functional

        class WordLM(nn.Module):
            def __init__(self, vocab, emb=200, hidden=200, layers=2):
                super().__init__()
                self.encoder = nn.Embedding(vocab, emb)
                self.rnn = nn.LSTM(emb, hidden, layers)
                self.decoder = nn.Linear(hidden, vocab)

            def forward(self, x, state):
                out, state = self.rnn(self.encoder(x), state)
                return self.decoder(out), state

        class Block(nn.Module):
            def __init__(self, dim, heads):
                super().__init__()
                self.heads = heads
                self.ln_1, self.ln_2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
                self.c_attn, self.c_proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
                self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

            def forward(self, x):
                B, T, C = x.shape
                q, k, v = (t.reshape(B, T, self.heads, C // self.heads).transpose(1, 2)
                           for t in self.c_attn(self.ln_1(x)).split(C, dim=2))
                y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
                x = x + self.c_proj(y.transpose(1, 2).reshape(B, T, C))
                return x + self.mlp(self.ln_2(x))

        class GPT(nn.Module):
            def __init__(self, vocab, block, dim=128, heads=4, layers=2):
                super().__init__()
                self.wte, self.wpe = nn.Embedding(vocab, dim), nn.Embedding(block, dim)
                self.h = nn.ModuleList([Block(dim, heads) for _ in range(layers)])
                self.ln_f = nn.LayerNorm(dim)
                self.lm_head = nn.Linear(dim, vocab, bias=False)
                self.lm_head.weight = self.wte.weight

            def forward(self, idx):
                x = self.wte(idx) + self.wpe(lib.arange(idx.shape[1]))
                for b in self.h:
                    x = b(x)
                return self.lm_head(self.ln_f(x))

        self.WordLM, self.GPT = WordLM, GPT


def _lstm_setup(lib, x, y, vocab):
    lib.manual_seed(0)
    model = _Models(lib).WordLM(vocab)
    xt, yt = lib.tensor(x), lib.tensor(y)
    F = lib.nn.functional
    zero = lib.zeros(2, x.shape[1], 200)
    state = [(zero, zero)]

    def step():
        h = tuple(s.detach() for s in state[0])   # truncated backpropagation: the state carries, its graph not
        model.zero_grad()
        out, state[0] = model(xt, h)
        loss = F.cross_entropy(out.reshape(-1, vocab), yt.reshape(-1))
        loss.backward()
        lib.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
        with lib.no_grad():
            for p in model.parameters():
                p.add_(p.grad, alpha=-20.0)
        return loss
    return step


def _gpt_setup(lib, x, y, vocab):
    lib.manual_seed(0)
    model = _Models(lib).GPT(vocab, x.shape[1])
    xt, yt = lib.tensor(x), lib.tensor(y)
    F = lib.nn.functional
    params = list(model.parameters())
    opt = lib.optim.AdamW([{"params": [p for p in params if p.ndim >= 2], "weight_decay": 0.1},
                           {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}], lr=3e-4)

    def step():
        loss = F.cross_entropy(model(xt).reshape(-1, vocab), yt.reshape(-1))
        opt.zero_grad()
        loss.backward()
        lib.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return loss
    return step


def _setup(lib, make, opt_cls, x, y, amp=False, **opt_kw):
    model = make(lib)
    xt, yt = lib.tensor(x), lib.tensor(y)
    opt = opt_cls(model.parameters(), **opt_kw)
    F = lib.nn.functional

    def step():
        with lib.autocast("cpu", dtype=lib.bfloat16, enabled=amp):
            loss = F.cross_entropy(model(xt), yt)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss
    return step


def compare(name, ember_step, torch_step, samples, inner):
    for _ in range(3):  # warm up caches on both sides
        ember_step()
        torch_step()
    med = medians(interleave({"ember": ember_step, "torch": torch_step}, samples, inner))
    me, mt = med["ember"] * 1e3, med["torch"] * 1e3
    r = ratio(me, mt)
    print(f"{name:<34} ember {fmt(me):>8} ms   torch {fmt(mt):>8} ms   ember/torch {fmt_ratio(r):>6}", flush=True)
    return r


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=30)
    add_threads_option(ap)
    ap.add_argument("--only", choices=["mlp", "cnn", "lstm", "gpt", "amp"], default=None)
    args = ap.parse_args(argv)

    torch = pin_threads(args.threads, torch=True)
    if torch is None:
        raise SystemExit("bench/train_step.py compares with PyTorch: python -m pip install torch")
    import ember
    rng = np.random.default_rng(0)
    print(f"train step on cpu, median of {args.samples} interleaved samples; {threads_line()}")
    ratios = {}
    if args.only in (None, "mlp"):
        x = rng.standard_normal((128, 784)).astype(np.float32)
        y = rng.integers(0, 10, 128)
        ratios["mlp"] = compare("MLP 784-256-10, batch 128, SGD",
                                _setup(ember, _mlp, ember.optim.SGD, x, y, lr=0.01),
                                _setup(torch, _mlp, torch.optim.SGD, x, y, lr=0.01), args.samples, 5)
    if args.only in (None, "cnn"):
        x = rng.standard_normal((32, 1, 8, 8)).astype(np.float32)
        y = rng.integers(0, 10, 32)
        ratios["cnn"] = compare("digits CNN, batch 32, AdamW",
                                _setup(ember, _cnn, ember.optim.AdamW, x, y, lr=1e-3),
                                _setup(torch, _cnn, torch.optim.AdamW, x, y, lr=1e-3), args.samples, 3)
    if args.only in (None, "amp"):
        x = rng.standard_normal((128, 784)).astype(np.float32)
        y = rng.integers(0, 10, 128)
        ratios["mlp_amp"] = compare("MLP, autocast bfloat16",
                                    _setup(ember, _mlp, ember.optim.SGD, x, y, amp=True, lr=0.01),
                                    _setup(torch, _mlp, torch.optim.SGD, x, y, amp=True, lr=0.01), args.samples, 5)
        x = rng.standard_normal((32, 1, 8, 8)).astype(np.float32)
        y = rng.integers(0, 10, 32)
        ratios["cnn_amp"] = compare("digits CNN, autocast bfloat16",
                                    _setup(ember, _cnn, ember.optim.AdamW, x, y, amp=True, lr=1e-3),
                                    _setup(torch, _cnn, torch.optim.AdamW, x, y, amp=True, lr=1e-3),
                                    args.samples, 3)
    if args.only in (None, "lstm"):
        vocab = 2000
        x = rng.integers(0, vocab, (35, 20))
        y = rng.integers(0, vocab, (35, 20))
        ratios["lstm"] = compare("word LSTM LM, bptt 35, batch 20",
                                 _lstm_setup(ember, x, y, vocab), _lstm_setup(torch, x, y, vocab),
                                 args.samples, 1)
    if args.only in (None, "gpt"):
        vocab = 65
        x = rng.integers(0, vocab, (16, 64))
        y = rng.integers(0, vocab, (16, 64))
        ratios["gpt"] = compare("GPT 2x128, context 64, batch 16", _gpt_setup(ember, x, y, vocab),
                                _gpt_setup(torch, x, y, vocab), args.samples, 1)
    return ratios


if __name__ == "__main__":
    main()
