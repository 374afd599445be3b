"""ember-mps against its peers: the MLP (784-256-10, batch 128, cross-entropy, SGD) train step.

1. Ember on mps (every operator an MLX operator, evaluated lazily by MLX);
2. MLX's own compiled step: mlx.nn + mlx.optimizers under mx.compile (same sizes, same lr);
3. PyTorch on the cpu.

    python bench/mps_mlp.py [--samples 15] [--steps 5] [--threads 1]

Samples of each contender alternate, so a noisy shared machine slows them alike. Every ratio is
median(a) / median(b) of the two medians printed before it. MLX's CPU build, PyTorch and numpy's
BLAS all run on ``--threads`` threads: below the core count the process is restricted to that
many cores (bench/_common.py), which bounds MLX's thread pools as it bounds XLA's.
"""

from __future__ import annotations

import argparse

import numpy as np

from _common import add_threads_option, fmt, fmt_ratio, interleave, medians, pin_threads, ratio, threads_line


def bench_mlp(samples: int, steps: int) -> None:
    import mlx.core as mx
    import mlx.nn as mnn
    import mlx.optimizers as mopt

    import ember
    import ember.nn as nn
    import ember.nn.functional as F
    import ember.optim as optim

    if not ember.mps.is_available():
        print("MLP train step: skipped: mps is unavailable (see `ember info`)")
        return
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((128, 784)).astype(np.float32)
    ys = rng.integers(0, 10, size=128).astype(np.int64)
    lr = 0.05

    # -- Ember on mps ----------------------------------------------------------------
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10)).to("mps")
    opt = optim.SGD(model.parameters(), lr=lr)
    ex, ey = ember.tensor(xs, device="mps"), ember.tensor(ys, device="mps")

    def ember_mps():
        for _ in range(steps):
            opt.zero_grad()
            loss = F.cross_entropy(model(ex), ey)
            loss.backward()
            opt.step()
        loss.item()

    # -- MLX's own compiled step -----------------------------------------------------------
    mm = mnn.Sequential(mnn.Linear(784, 256), mnn.ReLU(), mnn.Linear(256, 10))
    mo = mopt.SGD(learning_rate=lr)
    mx.eval(mm.parameters())
    mxs, mys = mx.array(xs), mx.array(ys.astype(np.int32))

    def loss_fn(m, x, y):
        return mnn.losses.cross_entropy(m(x), y, reduction="mean")

    grad_fn = mnn.value_and_grad(mm, loss_fn)
    state = [mm.state, mo.state]

    def mlx_step_fn(x, y):
        loss, g = grad_fn(mm, x, y)
        mo.update(mm, g)
        return loss

    mlx_step = mx.compile(mlx_step_fn, inputs=state, outputs=state)

    def mlx_compiled():
        for _ in range(steps):
            loss = mlx_step(mxs, mys)
            mx.eval(state)
        loss.item()

    fns = {"ember mps": ember_mps, "mlx compiled": mlx_compiled}

    # -- PyTorch on the cpu ----------------------------------------------------------------
    try:
        import torch
        tm = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
        topt = torch.optim.SGD(tm.parameters(), lr=lr)
        tx, ty = torch.from_numpy(xs), torch.from_numpy(ys)

        def torch_cpu():
            for _ in range(steps):
                topt.zero_grad()
                loss = torch.nn.functional.cross_entropy(tm(tx), ty)
                loss.backward()
                topt.step()
            loss.item()
        fns["torch cpu"] = torch_cpu
    except ImportError:
        print("PyTorch is not installed: no PyTorch comparison")

    for f in fns.values():   # compile and warm up
        f()
        f()
    t = medians(interleave(fns, samples))
    per = {k: v / steps * 1e3 for k, v in t.items()}
    where = "Metal" if mx.metal.is_available() else "MLX's CPU build"
    print(f"MLP 784-256-10, batch 128, train step (median ms per step) [mlx {mx.__version__} on {where}]: "
          + ", ".join(f"{k} {fmt(v)}" for k, v in per.items()))
    line = f"  ember mps / mlx compiled = {fmt_ratio(ratio(per['ember mps'], per['mlx compiled']))}"
    if "torch cpu" in per:
        line += (f", ember mps / torch cpu = {fmt_ratio(ratio(per['ember mps'], per['torch cpu']))}"
                 f", mlx compiled / torch cpu = {fmt_ratio(ratio(per['mlx compiled'], per['torch cpu']))}")
    print(line)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=15)
    ap.add_argument("--steps", type=int, default=5, help="train steps per sample")
    add_threads_option(ap)
    args = ap.parse_args(argv)
    pin_threads(args.threads, torch=True, jax=True)   # jax=True: the core restriction, which MLX obeys too
    print(f"median of {args.samples} interleaved samples; {threads_line()} (MLX shares the XLA core limit)")
    bench_mlp(args.samples, args.steps)


if __name__ == "__main__":
    main()
