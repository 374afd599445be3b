"""Forward + backward time of a 3-layer MLP (784-512-256-10, batch 128, float32): Ember cpu vs PyTorch CPU.

One step is: clear grads, forward (two ReLU hidden layers, log_softmax,
negative log-likelihood of the labels), backward. Ember and PyTorch steps
are interleaved (``--repeat`` samples of ``--number`` steps each) so that a
busy machine slows both alike; the ratio printed is median(Ember) / median(PyTorch)
of the two medians printed above it (lower is better for Ember). Gradients are
checked against PyTorch's first. Both libraries run on ``--threads`` threads
(default 1): numpy's BLAS, which Ember's cpu backend calls, and PyTorch's intra-op pool.

    python bench/mlp.py [--repeat 9] [--number 10] [--threads 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from _common import add_threads_option, fmt, fmt_ratio, interleave, medians, pin_threads, ratio, threads_line

ember = None   # imported by main() once the threads are pinned

SIZES = (784, 512, 256, 10)
BATCH = 128


def _params(rng):
    ps = []
    for a, b in zip(SIZES[:-1], SIZES[1:]):
        ps.append((rng.standard_normal((a, b)) / np.sqrt(a)).astype(np.float32))
        ps.append(np.zeros(b, dtype=np.float32))
    return ps


def _relu_ember(x):
    f = getattr(getattr(getattr(ember, "nn", None), "functional", None), "relu", None)
    return f(x) if f is not None else ember.maximum(x, 0.0)


def ember_step(x, y, params):
    for p in params:
        p.grad = None
    h = x
    for i in range(0, len(params), 2):
        h = ember.addmm(params[i + 1], h, params[i])
        if i + 2 < len(params):
            h = _relu_ember(h)
    loss = -ember.log_softmax(h, 1).gather(1, y).mean()
    loss.backward()
    return loss


def torch_step(torch, x, y, params):
    for p in params:
        p.grad = None
    h = x
    for i in range(0, len(params), 2):
        h = torch.addmm(params[i + 1], h, params[i])
        if i + 2 < len(params):
            h = torch.relu(h)
    loss = -torch.log_softmax(h, 1).gather(1, y).mean()
    loss.backward()
    return loss


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=9, help="samples per library (the median is reported)")
    ap.add_argument("--number", type=int, default=10, help="steps per sample")
    add_threads_option(ap)
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    args = ap.parse_args(argv)
    torch = pin_threads(args.threads, torch=True)
    if torch is None:
        raise SystemExit("bench/mlp.py compares with PyTorch: python -m pip install torch")
    global ember
    import ember
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((BATCH, SIZES[0])).astype(np.float32)
    ys = rng.integers(0, SIZES[-1], (BATCH, 1))
    ps = _params(rng)
    ex, ey = ember.tensor(xs), ember.tensor(ys)
    eps = [ember.tensor(p, requires_grad=True) for p in ps]
    tx, ty = torch.tensor(xs), torch.tensor(ys)
    tps = [torch.tensor(p, requires_grad=True) for p in ps]

    el, tl = ember_step(ex, ey, eps), torch_step(torch, tx, ty, tps)
    assert abs(el.item() - tl.item()) < 1e-4, (el.item(), tl.item())
    # Relative error of each whole gradient: a float32 ReLU input within rounding of 0 may fall on
    # the other side of 0 in one library, which changes a column of the first layer's gradient a little.
    for e, t in zip(eps, tps):
        d = np.linalg.norm(e.grad.numpy() - t.grad.numpy()) / np.linalg.norm(t.grad.numpy())
        assert d < 1e-2, f"gradient differs from PyTorch's by {d:.2e} (relative)"

    med = medians(interleave({"ember": lambda: ember_step(ex, ey, eps),
                              "torch": lambda: torch_step(torch, tx, ty, tps)}, args.repeat, args.number))
    e_ms, t_ms = med["ember"] * 1e3, med["torch"] * 1e3
    r = ratio(e_ms, t_ms)
    threads = threads_line()
    print(f"MLP {'-'.join(map(str, SIZES))}, batch {BATCH}, float32, forward+backward per step "
          f"(median of {args.repeat} x {args.number} steps, interleaved); {threads}")
    print(f"{f'ember {ember.__version__} cpu:':<24}{fmt(e_ms):>8} ms")
    print(f"{f'torch {torch.__version__} cpu:':<24}{fmt(t_ms):>8} ms")
    print(f"ratio ember/torch = {fmt(e_ms)} / {fmt(t_ms)} = {fmt_ratio(r)}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"ember_ms": e_ms, "torch_ms": t_ms, "ratio": r, "threads": args.threads,
                       "threads_detail": threads}, f, indent=2)


if __name__ == "__main__":
    main()
