"""Tier 2 gradients and RNG identity, tier 3 end to end. Each waits, skipping with its
reason, until the part of Ember it needs exists (autograd, random operators, nn)."""

from __future__ import annotations

import os
import tempfile

import numpy as np

from .cases import Case, seed_for
from .opcase import CaseFailure, CaseSkip, widen
from .references import REFERENCES

GRAD_SAMPLES = 2


def autograd_available() -> bool:
    import ember
    return callable(getattr(ember.Tensor, "backward", None))


def _differentiable(op, dt) -> list:
    """The first samples of an operator whose float64 result is floating (so it has a gradient)."""
    from .opcase import run_meta
    from .samples import GENERATORS, sample_inputs
    if op.name not in GENERATORS:  # reported as a failing case by cases.op_cases
        return []
    if op.name.endswith("_") or op.name in REFERENCES and REFERENCES[op.name].__name__ == "_no_values":
        return []
    out = []
    for s in sample_inputs(op.name, dt, rng=np.random.default_rng(seed_for("grad", op.name))):
        if s.error is not None or s.device_arg or "special" in s.tags or "large" in s.tags:
            continue
        if not any(isinstance(a, np.ndarray) and a.dtype == np.float64 and a.size for a in _flat(s.args)):
            continue
        res, err = run_meta(op, s, "contiguous")
        if err is not None:
            continue
        res = res if isinstance(res, (tuple, list)) else [res]
        if all(getattr(r, "dtype", None) is not None and r.dtype.is_floating_point for r in res):
            out.append(s)
        if len(out) >= GRAD_SAMPLES:
            break
    return out


def _flat(x):
    for a in x:
        if isinstance(a, (list, tuple)):
            yield from _flat(a)
        else:
            yield a


def gradient_cases(ctx) -> list[Case]:
    import ember
    from ember.dispatch import registry
    if ember.float64 not in ctx.dtypes:
        return [Case("grad", 2, None, status="n/a", reason="float64 is not among the backend's dtypes; "
                                                           "gradients are checked in float64")]
    out = []
    have = autograd_available()
    for name in sorted(registry):
        op = registry[name]
        if op.is_view and name in ("as_strided",):
            continue
        samples = _differentiable(op, ember.float64)
        for s in samples:
            cid = f"grad/{name}/float64/{s.name}"
            if not have:
                out.append(Case(cid, 2, None, name, "float64", "skip", "autograd not available"))
            else:
                out.append(Case(cid, 2, _bind_grad(op, s), name, "float64"))
    return out


def _bind_grad(op, s):
    return lambda ctx: _gradcheck(ctx, op, s)


#: Operators whose gradient, as PyTorch's, is the one for a symmetric input (a symmetric matrix): the
#: numerical gradient perturbs a[..., i, j] and a[..., j, i] together and halves the difference.
SYMMETRIC_GRAD = {"_linalg_eigh"}


def _gradcheck(ctx, op, s, eps=1e-6):
    """Ember's gradient of sum(w * op(x)) against central differences of the numpy reference."""
    import ember
    rng = np.random.default_rng(seed_for("w", op.name, s.name))
    leaves, pos = [], []

    def conv(a, path):
        if isinstance(a, np.ndarray):
            if a.dtype == np.float64:
                t = ember.tensor(a, device=ctx.device, requires_grad=True)
                leaves.append(t)
                pos.append(path)
                return t
            return ember.tensor(a, device=ctx.device)
        if isinstance(a, list):
            return [conv(x, path + (i,)) for i, x in enumerate(a)]
        return a
    args = [conv(a, (i,)) for i, a in enumerate(s.args)]
    out = op.fn(*args, **s.kwargs)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    ws = [rng.standard_normal(tuple(o.shape)) for o in outs]
    # Outputs the reference leaves out (None: not unique, such as eigenvectors' signs) stay out of the loss.
    r0 = REFERENCES[op.name](*widen(tuple(s.args)), **s.kwargs)
    for k, x in enumerate(list(r0) if isinstance(r0, (tuple, list)) else [r0]):
        if x is None:
            ws[k] = None
    loss = None
    for o, w in zip(outs, ws):
        if w is None:
            continue
        term = (o * ember.tensor(w, device=ctx.device)).sum()
        loss = term if loss is None else loss + term
    if getattr(loss, "requires_grad", True):
        loss.backward()
    # else: the operator is not differentiable (floor division): its gradient is zero, as numerically

    def L(args_np):
        r = REFERENCES[op.name](*widen(tuple(args_np)), **s.kwargs)
        rs = list(r) if isinstance(r, (tuple, list)) else [r]
        return sum(float(np.sum(np.asarray(x, np.float64) * w)) for x, w in zip(rs, ws) if w is not None)

    for leaf, path in zip(leaves, pos):
        base = [np.array(a, copy=True) if isinstance(a, np.ndarray) else a for a in s.args]
        target = base[path[0]] if len(path) == 1 else base[path[0]][path[1]]
        num = np.zeros(target.shape)
        symmetric = op.name in SYMMETRIC_GRAD
        for idx in np.ndindex(target.shape):
            mirror = idx[:-2] + (idx[-1], idx[-2]) if symmetric else idx
            orig, orig_m = target[idx], target[mirror]
            target[idx], target[mirror] = orig + eps, orig_m + eps
            hi = L(base)
            target[idx], target[mirror] = orig - eps, orig_m - eps
            lo = L(base)
            target[idx], target[mirror] = orig, orig_m
            num[idx] = (hi - lo) / (2 * eps) / (1 if mirror == idx else 2)
        g = leaf.grad
        got = np.zeros(target.shape) if g is None else g._to_numpy_copy()
        if not np.allclose(got, num, rtol=1e-5, atol=1e-6, equal_nan=True):
            bad = np.argwhere(~np.isclose(got, num, rtol=1e-5, atol=1e-6, equal_nan=True))[0].tolist()
            raise CaseFailure(f"gradient of argument {path}: got {got[tuple(bad)]!r} at {bad}, numerical "
                              f"{num[tuple(bad)]!r}", float(np.nanmax(np.abs(got - num))), bad)


RNG_CALLS = {"rand": lambda f, d: f(3, 4, device=d), "randn": lambda f, d: f(3, 4, device=d),
             "randint": lambda f, d: f(0, 10, (3, 4), device=d)}


def rng_cases(ctx) -> list[Case]:
    return [Case(f"rng/{name}_matches_cpu", 2, _bind_rng(name)) for name in RNG_CALLS]


def _bind_rng(name):
    return lambda ctx: _rng_identity(ctx, name)


def _rng_identity(ctx, name):
    import ember
    fn = getattr(ember, name, None)
    if fn is None or not hasattr(ember, "manual_seed"):
        raise CaseSkip(f"this ember-core has no ember.{name} / ember.manual_seed yet (random operators)")
    if ctx.device_type == "cpu":
        raise CaseSkip("the backend under test is cpu, the reference of RNG identity (philox_random is "
                       "checked against the numpy Philox reference)")
    ember.manual_seed(1234)
    a = RNG_CALLS[name](fn, ctx.device)
    ember.manual_seed(1234)
    b = RNG_CALLS[name](fn, "cpu")
    ga, gb = a._to_numpy_copy(), b._to_numpy_copy()
    if ga.dtype != gb.dtype or not np.array_equal(ga, gb):
        raise CaseFailure(f"ember.{name} after manual_seed(1234) differs from cpu: {ga.ravel()[:3]} vs {gb.ravel()[:3]}")


# -- tier 3 ----------------------------------------------------------------------------------

def end_to_end_cases(ctx) -> list[Case]:
    return [Case("e2e/train_mlp", 3, _train), Case("e2e/save_load", 3, _save_load)]


def _need_nn():
    import ember
    nn = getattr(ember, "nn", None)
    optim = getattr(ember, "optim", None)
    missing = [n for n, ok in (("ember.nn.Linear", hasattr(nn, "Linear")), ("ember.optim.SGD", hasattr(optim, "SGD")),
                               ("autograd", autograd_available()), ("ember.save", hasattr(ember, "save")),
                               ("ember.load", hasattr(ember, "load"))) if not ok]
    if missing:
        raise CaseSkip(f"nn not available: this ember-core has no {', '.join(missing)} yet")
    return ember


def _blobs(n=256):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, n)
    x = rng.standard_normal((n, 2)) * 0.6 + np.where(y[:, None] == 1, 1.5, -1.5)
    return x.astype(np.float32), y.astype(np.int64)


def _model(ember):
    ember.manual_seed(0) if hasattr(ember, "manual_seed") else None
    nn = ember.nn
    return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))


def _fit(ember, ctx):
    x_np, y_np = _blobs()
    x, y = ember.tensor(x_np, device=ctx.device), ember.tensor(y_np, device=ctx.device)
    model = _model(ember).to(ctx.device)
    opt = ember.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(100):
        opt.zero_grad()
        loss = ember.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    acc = float((model(x).argmax(1) == y).float().mean().item())
    return model, x, acc


def _train(ctx):
    ember = _need_nn()
    _, _, acc = _fit(ember, ctx)
    if acc < 0.95:
        raise CaseFailure(f"a 2-16-2 MLP trained 100 SGD steps on separable blobs reached accuracy {acc:.3f}; "
                          f"the target is 0.95")


def _save_load(ctx):
    ember = _need_nn()
    model, x, _ = _fit(ember, ctx)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "model.safetensors")
        ember.save(model.state_dict(), path)
        again = _model(ember).to(ctx.device)
        again.load_state_dict(ember.load(path, map_location=ctx.device) if _takes(ember.load, "map_location")
                              else ember.load(path))
    a, b = model(x)._to_numpy_copy(), again.to(ctx.device)(x)._to_numpy_copy()
    if not np.array_equal(a, b):
        raise CaseFailure("a model saved and loaded again gives other outputs")


def _takes(fn, name):
    import inspect
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
