"""Train a word-level LSTM language model on examples/ember_tales.txt (PyTorch's word_language_model, small).

    python examples/word_lm.py --steps 30                 # a few seconds on cpu
    python examples/word_lm.py --steps 400 --tied --device xla

An Embedding, a stacked LSTM with dropout between its layers, and a linear decoder (optionally tied to
the embedding's weights). The text is cut into --batch-size columns and read --bptt words at a time;
the hidden state is carried from one chunk to the next but detached, so gradients stop at the chunk
(truncated backpropagation through time). Gradients are clipped to --clip.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import time

import numpy as np

import ember
import ember.nn as nn
import ember.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))


class WordLM(nn.Module):
    def __init__(self, vocab, emb=32, hidden=64, layers=2, dropout=0.2, tied=False):
        super().__init__()
        if tied and emb != hidden:
            raise ValueError(f"--tied needs --emb equal to --hidden, got {emb} and {hidden}")
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(vocab, emb)
        self.rnn = nn.LSTM(emb, hidden, layers, dropout=dropout)
        self.decoder = nn.Linear(hidden, vocab)
        if tied:   # "Using the Output Embedding to Improve Language Models" (Press & Wolf, 2016)
            self.decoder.weight = self.encoder.weight
        self.layers, self.hidden = layers, hidden
        init_range = 0.1
        nn.init.uniform_(self.encoder.weight, -init_range, init_range)
        nn.init.zeros_(self.decoder.bias)
        if not tied:
            nn.init.uniform_(self.decoder.weight, -init_range, init_range)

    def forward(self, x, state):
        out, state = self.rnn(self.drop(self.encoder(x)), state)
        return self.decoder(self.drop(out)), state

    def init_state(self, batch, device):
        z = ember.zeros(self.layers, batch, self.hidden, device=device)
        return (z, z)


def tokenize(text):
    """Words and punctuation, one <eos> per line."""
    words = []
    for line in text.splitlines():
        words += re.findall(r"[\w']+|[^\w\s]", line.lower()) + ["<eos>"]
    return words


def batchify(ids, batch):
    """(steps, batch): the stream cut into ``batch`` columns read top to bottom."""
    n = len(ids) // batch
    return ids[:n * batch].reshape(batch, n).T.copy()


def clip_gradients(params, max_norm):
    """nn.utils.clip_grad_norm_ where Ember has it, else the same by hand."""
    clip = getattr(getattr(nn, "utils", None), "clip_grad_norm_", None)
    if clip is not None:
        return clip(params, max_norm)
    grads = [p.grad for p in params if p.grad is not None]
    total = ember.stack([g.pow(2).sum() for g in grads]).sum().sqrt()
    scale = (max_norm / (total + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(scale)
    return total


def evaluate(model, data, bptt, device):
    model.eval()
    state, total, count = model.init_state(data.shape[1], device), 0.0, 0
    with ember.no_grad():
        for i in range(0, data.shape[0] - 1, bptt):
            n = min(bptt, data.shape[0] - 1 - i)
            x = ember.tensor(data[i:i + n], device=device)
            y = ember.tensor(data[i + 1:i + 1 + n], device=device)
            logits, state = model(x, state)
            total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)).item() * n
            count += n
    model.train()
    return total / max(count, 1)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--bptt", type=int, default=20)
    ap.add_argument("--emb", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--dropout", type=float, default=0.2)
    ap.add_argument("--tied", action="store_true", help="share the embedding and decoder weights")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--clip", type=float, default=0.5)
    ap.add_argument("--log-interval", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--text", default=os.path.join(HERE, "ember_tales.txt"))
    args = ap.parse_args(argv)
    if args.tied:
        args.emb = args.hidden

    ember.manual_seed(args.seed)
    with open(args.text, encoding="utf-8") as f:
        words = tokenize(f.read())
    vocab = sorted(set(words))
    index = {w: i for i, w in enumerate(vocab)}
    ids = np.array([index[w] for w in words], dtype=np.int64)
    split = int(len(ids) * 0.9)
    train, valid = batchify(ids[:split], args.batch_size), batchify(ids[split:], 4)

    device = args.device
    model = WordLM(len(vocab), args.emb, args.hidden, args.layers, args.dropout, args.tied).to(device)
    opt = ember.optim.Adam(model.parameters(), lr=args.lr)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"device {device}: {len(words)} words, vocabulary {len(vocab)}, {n_params} parameters")

    state = model.init_state(args.batch_size, device)
    t0, i, running = time.perf_counter(), 0, []
    for step in range(1, args.steps + 1):
        if i + 1 >= train.shape[0]:   # an epoch is done: start again at the top with a fresh state
            i, state = 0, model.init_state(args.batch_size, device)
        n = min(args.bptt, train.shape[0] - 1 - i)
        x = ember.tensor(train[i:i + n], device=device)
        y = ember.tensor(train[i + 1:i + 1 + n], device=device)
        i += n
        state = tuple(s.detach() for s in state)   # truncated BPTT: no gradient into the last chunk
        logits, state = model(x, state)
        loss = F.cross_entropy(logits.reshape(-1, len(vocab)), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        clip_gradients(list(model.parameters()), args.clip)
        opt.step()
        running.append(loss.item())
        if step % args.log_interval == 0 or step == args.steps:
            avg = sum(running) / len(running)
            running = []
            print(f"step {step:4d}  loss {avg:.3f}  ppl {math.exp(avg):8.1f}  "
                  f"{(time.perf_counter() - t0) / step * 1e3:.0f} ms/step", flush=True)
    v = evaluate(model, valid, args.bptt, device)
    print(f"trained {args.steps} steps in {time.perf_counter() - t0:.1f} s; valid ppl {math.exp(v):.1f}")
    return v


if __name__ == "__main__":
    main()
