"""Train-step time of Ember against PyTorch on cpu: an MLP (784-256-10, batch 128, SGD) and the digits CNN.

    python bench/train_step.py [--samples 30] [--threads 1] [--only mlp|cnn]

One train step = forward, cross-entropy loss, zero_grad, backward, optimizer step. Ember and PyTorch
samples are interleaved (so a noisy machine slows both alike) and the medians are compared; the ratio is
median(Ember) / median(PyTorch), the two figures printed beside it (lower is better, 1.0 = parity). Both
run on ``--threads`` threads (default 1: numpy's BLAS for Ember, torch.set_num_threads for PyTorch).

Where the time goes: the MLP's matrix products run on the same BLAS as PyTorch's and take the same time; the
rest is per-operator Python (dispatch, the autograd tape, gradient accumulation), about 20 operators a step.
The CNN adds im2col copies and per-kernel-position col2im adds in numpy, where PyTorch has direct kernels.
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


def _setup(lib, make, opt_cls, x, y, **opt_kw):
    model = make(lib)
    xt, yt = lib.tensor(x), lib.tensor(y)
    opt = opt_cls(model.parameters(), **opt_kw)
    F = lib.nn.functional

    def step():
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
    ap.add_argument("--only", choices=["mlp", "cnn"], default=None)
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
    return ratios


if __name__ == "__main__":
    main()
