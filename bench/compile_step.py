"""ember.compile on a whole train step: eager against compiled, per device, and against JAX's jitted step.

The model is the MLP of bench/train_step.py (784-256-10, batch 128, cross-entropy, SGD lr 0.05); one
step = zero_grad, forward, loss, backward, optimizer step, all inside the compiled function. On cpu and
xpu the compiled step replays the traced operator calls (no module, autograd-engine or optimizer
Python); on xla it is one jax.jit of the whole graph; on cuda (mode="reduce-overhead") it is one CUDA
graph launch. xla and cuda are also compared with JAX's own value_and_grad step under jax.jit at the
same sizes (on JAX's default backend: the GPU on a machine with jax[cuda]).

    python bench/compile_step.py [--samples 15] [--steps 5] [--devices cpu,xla,xpu,cuda] [--threads 1]

Samples of each contender alternate; figures are medians (ms per step); ratios are median / median.
"""

from __future__ import annotations

import argparse

import numpy as np

from _common import add_threads_option, fmt, fmt_ratio, interleave, medians, pin_threads, ratio, threads_line

LR = 0.05


def _ember_fns(dev, xs, ys, steps):
    import ember
    import ember.nn as nn
    import ember.nn.functional as F

    x, y = ember.tensor(xs, device=dev), ember.tensor(ys, device=dev)

    def make():
        ember.manual_seed(0)
        model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10)).to(dev)
        opt = ember.optim.SGD(model.parameters(), lr=LR)

        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss
        return step

    mode = "reduce-overhead" if dev == "cuda" else None   # cuda: one CUDA graph per step
    eager, compiled = make(), ember.compile(make(), mode=mode)

    def run(step):
        def go():
            for _ in range(steps):
                loss = step(x, y)
            loss.cpu()   # waits for the device
        return go
    return {"eager": run(eager), "compiled": run(compiled)}, compiled


def _jax_fn(xs, ys, steps):
    import jax
    import jax.numpy as jnp

    def init(k, fan_in, fan_out):
        bound = 1 / np.sqrt(fan_in)
        k1, k2 = jax.random.split(k)
        return (jax.random.uniform(k1, (fan_in, fan_out), minval=-bound, maxval=bound),
                jax.random.uniform(k2, (fan_out,), minval=-bound, maxval=bound))

    k1, k2 = jax.random.split(jax.random.PRNGKey(0))
    state = {"p": [init(k1, 784, 256), init(k2, 256, 10)]}
    jx, jy = jnp.asarray(xs), jnp.asarray(ys.astype(np.int32))

    def loss_fn(p, x, y):
        h = jax.nn.relu(x @ p[0][0] + p[0][1])
        logits = h @ p[1][0] + p[1][1]
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))

    @jax.jit
    def jax_step(p, x, y):
        loss, g = jax.value_and_grad(loss_fn)(p, x, y)
        return jax.tree_util.tree_map(lambda a, b: a - LR * b, p, g), loss

    def go():
        p = state["p"]
        for _ in range(steps):
            p, loss = jax_step(p, jx, jy)
        state["p"] = p
        loss.block_until_ready()
    return go


def bench(dev, samples, steps):
    import ember
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((128, 784)).astype(np.float32)
    ys = rng.integers(0, 10, size=128).astype(np.int64)
    try:
        ember.empty(1, device=dev)
    except Exception as e:  # noqa: BLE001  (a device this machine lacks: say so and go on)
        print(f"{dev}: skipped: {type(e).__name__}: {e}")
        return
    fns, compiled = _ember_fns(dev, xs, ys, steps)
    if dev in ("xla", "cuda"):
        fns["jax jit"] = _jax_fn(xs, ys, steps)
        import jax
        print(f"{dev}: jax jit runs on {jax.default_backend()}")
    for f in fns.values():   # trace, lower and warm up
        f()
        f()
    lowering = [e.lowering for e in compiled._entries]
    t = medians(interleave(fns, samples))
    per = {k: v / steps * 1e3 for k, v in t.items()}
    print(f"{dev}: MLP 784-256-10, batch 128, SGD step (median ms): "
          + ", ".join(f"{k} {fmt(v)}" for k, v in per.items()) + f"  [lowering: {', '.join(map(str, lowering))}]")
    line = f"  compiled / eager = {fmt_ratio(ratio(per['compiled'], per['eager']))}"
    if "jax jit" in per:
        line += f", compiled / jax jit = {fmt_ratio(ratio(per['compiled'], per['jax jit']))}"
    print(line)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=15)
    ap.add_argument("--steps", type=int, default=5, help="train steps per sample")
    ap.add_argument("--devices", default="cpu,xla,xpu")
    add_threads_option(ap)
    args = ap.parse_args(argv)
    pin_threads(args.threads, jax=True, pocl=True)
    print(f"median of {args.samples} interleaved samples; {threads_line()}")
    for dev in args.devices.split(","):
        bench(dev.strip(), args.samples, args.steps)


if __name__ == "__main__":
    main()
