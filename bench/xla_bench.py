"""ember-xla against its peers, in one run, as ratios (median of interleaved samples).

1. Eager per-operator host time: a 4x4 float32 add on xla, against JAX's own eager jnp.add.
2. The MLP (784-256-10, batch 128, cross-entropy, SGD) train step on xla, eager and lazy,
   against JAX's own jitted step (value_and_grad + update under jax.jit) and against PyTorch
   on the cpu. Skipped, with the reason, where ember.nn / ember.optim / autograd are missing.

    python bench/xla_bench.py [--samples 15] [--ops 300] [--steps 5] [--threads 1]

Samples of each contender alternate, so a noisy shared machine slows them alike. Every ratio is
median(a) / median(b) of the two medians printed before it. XLA (both Ember's and JAX's), PyTorch
and numpy's BLAS all run on ``--threads`` threads (default 1; see bench/_common.py for how XLA is
limited).
"""

from __future__ import annotations

import argparse

import numpy as np

from _common import add_threads_option, fmt, fmt_ratio, interleave, medians, pin_threads, ratio, threads_line


def bench_op(samples: int, n: int) -> None:
    import jax
    import jax.numpy as jnp

    import ember

    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((4, 4)).astype(np.float32) for _ in range(2))
    ea, eb = ember.tensor(a, device="xla"), ember.tensor(b, device="xla")
    ja, jb = jnp.asarray(a), jnp.asarray(b)

    def ember_eager():
        r = None
        for _ in range(n):
            r = ea + eb
        r._storage.a.block_until_ready()

    def jax_eager():
        r = None
        for _ in range(n):
            r = jnp.add(ja, jb)
        r.block_until_ready()

    ember_eager(), jax_eager()   # compile and warm up
    t = medians(interleave({"ember": ember_eager, "jax": jax_eager}, samples))
    e, j = t["ember"] / n * 1e6, t["jax"] / n * 1e6
    print(f"eager 4x4 add, host time per op: ember xla {fmt(e)} us, JAX eager (jnp.add) {fmt(j)} us, "
          f"ember/jax = {fmt_ratio(ratio(e, j))}  [jax {jax.__version__}, {jax.devices()[0].platform}]")


def _mlp_missing():
    try:
        import ember
        import ember.nn as nn  # noqa: F401
        import ember.optim as optim  # noqa: F401
        if not hasattr(nn, "Linear") or not hasattr(optim, "SGD"):
            return "ember.nn.Linear / ember.optim.SGD are not in this build of Ember yet"
        if not hasattr(ember.Tensor, "backward"):
            return "autograd (Tensor.backward) is not in this build of Ember yet"
    except ImportError as e:
        return f"ember.nn / ember.optim cannot be imported: {e}"
    return None


def bench_mlp(samples: int, steps: int) -> None:
    why = _mlp_missing()
    if why:
        print(f"MLP train step: skipped: {why}")
        return
    import jax
    import jax.numpy as jnp

    import ember
    import ember.nn as nn
    import ember.nn.functional as F
    import ember.optim as optim
    import ember_xla

    rng = np.random.default_rng(0)
    xs = rng.standard_normal((128, 784)).astype(np.float32)
    ys = rng.integers(0, 10, size=128).astype(np.int64)
    lr = 0.05

    # -- Ember on xla ----------------------------------------------------------------
    def make_ember():
        model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10)).to("xla")
        return model, optim.SGD(model.parameters(), lr=lr)

    ex, ey = ember.tensor(xs, device="xla"), ember.tensor(ys, device="xla")
    m_eager, o_eager = make_ember()
    m_lazy, o_lazy = make_ember()

    def ember_step(model, opt):
        opt.zero_grad()
        loss = F.cross_entropy(model(ex), ey)
        loss.backward()
        opt.step()
        return loss

    def ember_eager():
        for _ in range(steps):
            loss = ember_step(m_eager, o_eager)
        loss.item()

    def ember_lazy():
        with ember_xla.lazy():
            for _ in range(steps):
                loss = ember_step(m_lazy, o_lazy)
                ember_xla.mark_step()
        loss.item()

    # -- JAX's own jitted step -----------------------------------------------------------
    def init(k, fan_in, fan_out):
        bound = 1 / np.sqrt(fan_in)
        k1, k2 = jax.random.split(k)
        return (jax.random.uniform(k1, (fan_in, fan_out), minval=-bound, maxval=bound),
                jax.random.uniform(k2, (fan_out,), minval=-bound, maxval=bound))

    k1, k2 = jax.random.split(jax.random.PRNGKey(0))
    params = [init(k1, 784, 256), init(k2, 256, 10)]
    jx, jy = jnp.asarray(xs), jnp.asarray(ys.astype(np.int32))

    def loss_fn(p, x, y):
        h = jax.nn.relu(x @ p[0][0] + p[0][1])
        logits = h @ p[1][0] + p[1][1]
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))

    @jax.jit
    def jax_step(p, x, y):
        loss, g = jax.value_and_grad(loss_fn)(p, x, y)
        return jax.tree_util.tree_map(lambda a, b: a - lr * b, p, g), loss

    state = {"p": params}

    def jax_jit():
        p = state["p"]
        for _ in range(steps):
            p, loss = jax_step(p, jx, jy)
        state["p"] = p
        loss.block_until_ready()

    fns = {"ember eager": ember_eager, "ember lazy": ember_lazy, "jax jit": jax_jit}

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

    for f in fns.values():   # compile (eager kernels, the lazy graph, the jax step) and warm up
        f()
        f()
    compiles = ember_xla.stats["graph_compiles"]
    t = medians(interleave(fns, samples))
    per = {k: v / steps * 1e3 for k, v in t.items()}
    print("MLP 784-256-10, batch 128, train step (median ms per step): "
          + ", ".join(f"{k} {fmt(v)}" for k, v in per.items()))
    for mine in ("ember eager", "ember lazy"):
        line = f"  {mine} / jax jit = {fmt_ratio(ratio(per[mine], per['jax jit']))}"
        if "torch cpu" in per:
            line += f", {mine} / torch cpu = {fmt_ratio(ratio(per[mine], per['torch cpu']))}"
        print(line)
    print(f"  lazy graphs compiled during the timed steps: {ember_xla.stats['graph_compiles'] - compiles}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=15)
    ap.add_argument("--ops", type=int, default=300, help="operators per sample for the per-op timing")
    ap.add_argument("--steps", type=int, default=5, help="train steps per sample")
    add_threads_option(ap)
    args = ap.parse_args(argv)
    pin_threads(args.threads, torch=True, jax=True)
    print(f"median of {args.samples} interleaved samples; {threads_line()}")
    bench_op(args.samples, args.ops)
    bench_mlp(args.samples, args.steps)


if __name__ == "__main__":
    main()
