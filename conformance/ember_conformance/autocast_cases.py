"""Autocast cases, for every backend that declares a lower-precision dtype (``Capabilities.autocast_dtypes``);
a backend that declares none gets one n/a case.

Tier 2, per declared dtype: each operator of a small catalogue that the backend's autocast list names
computes in the dtype its policy gives (core's tables are the specification) and close to a numpy float64
reference of the inputs rounded as the policy rounds them; regions nest and switch off; gradients reach
float32 parameters in float32. Tier 3: a model trained under autocast (with GradScaler in float16) learns.
"""

from __future__ import annotations

import numpy as np

from .cases import Case, seed_for
from .opcase import CaseFailure, CaseSkip

#: Per dtype, the relative error one rounding to it can cause, times a margin for a few roundings.
_TOL = {"bfloat16": 4 * 2.0 ** -8, "float16": 4 * 2.0 ** -11, "float32": 1e-5}


def _sm(x, axis):
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def _ce(x, t):
    lp = np.log(_sm(x, 1))
    return -lp[np.arange(len(t)), t].mean()


#: name in ember.amp.tables -> (input shapes ("l:N" an int64 class index below N), call(ember, *tensors),
#: numpy reference(*float64 arrays)).
CATALOGUE = {
    "mm": (((3, 4), (4, 5)), lambda E, a, b: E.mm(a, b), lambda a, b: a @ b),
    "matmul": (((2, 3, 4), (4, 5)), lambda E, a, b: E.matmul(a, b), lambda a, b: a @ b),
    "addmm": (((5,), (3, 4), (4, 5)), lambda E, c, a, b: E.addmm(c, a, b), lambda c, a, b: c + a @ b),
    "bmm": (((2, 3, 4), (2, 4, 5)), lambda E, a, b: E.bmm(a, b), lambda a, b: a @ b),
    "F.linear": (((4, 5), (3, 5), (3,)), lambda E, x, w, b: E.nn.functional.linear(x, w, b),
                 lambda x, w, b: x @ w.T + b),
    "mse_loss": (((4, 3), (4, 3)), lambda E, a, b: E.nn.functional.mse_loss(a, b), lambda a, b: ((a - b) ** 2).mean()),
    "l1_loss": (((4, 3), (4, 3)), lambda E, a, b: E.nn.functional.l1_loss(a, b), lambda a, b: np.abs(a - b).mean()),
    "cross_entropy": (((4, 5), "l:5"), lambda E, x, t: E.nn.functional.cross_entropy(x, t), _ce),
    "exp": (((3, 4),), lambda E, a: E.exp(a), np.exp),
    "softmax": (((3, 4),), lambda E, a: E.softmax(a, 1), lambda a: _sm(a, 1)),
    "sum": (((3, 4),), lambda E, a: E.sum(a), np.sum),
    "cumsum": (((3, 4),), lambda E, a: E.cumsum(a, 1), lambda a: np.cumsum(a, 1)),
    "layer_norm": (((3, 4),), lambda E, a: E.nn.functional.layer_norm(a, (4,)),
                   lambda a: (a - a.mean(1, keepdims=True)) / np.sqrt(a.var(1, keepdims=True) + 1e-5)),
    "cat": (((2, 3), (2, 3)), lambda E, a, b: E.cat([a, b]), lambda a, b: np.concatenate([a, b])),
    "stack": (((2, 3), (2, 3)), lambda E, a, b: E.stack([a, b]), lambda a, b: np.stack([a, b])),
    "addcmul": (((3,), (3,), (3,)), lambda E, a, b, c: E.addcmul(a, b, c), lambda a, b, c: a + b * c),
}


def autocast_cases(ctx, tiers) -> list[Case]:
    import ember
    caps = ctx.backend.capabilities
    declared = tuple(getattr(caps, "autocast_dtypes", ()))
    if not declared:
        return [Case("autocast", 2, None, status="n/a",
                     reason="the backend declares no autocast dtype (Capabilities.autocast_dtypes)")]
    if not hasattr(ember, "amp"):
        return [Case("autocast", 2, None, status="skip", reason="this ember-core has no ember.amp")]
    table = ember.amp.tables.LISTS[getattr(caps, "autocast_lists", "cuda")]
    out = []
    for d in declared:
        if d not in ctx.dtypes:
            out.append(Case(f"autocast/{d.name}", 2, None, None, d.name, "fail",
                            f"autocast dtype {d.name} is not among the backend's dtypes"))
            continue
        if 2 in tiers:
            for name in sorted(CATALOGUE):
                if name in table:
                    out.append(Case(f"autocast/{d.name}/{name}", 2, _bind(_op_case, d.name, name, table[name]),
                                    name, d.name))
            out.append(Case(f"autocast/{d.name}/regions", 2, _bind(_regions, d.name), None, d.name))
            out.append(Case(f"autocast/{d.name}/grad", 2, _bind(_grad, d.name), None, d.name))
        if 3 in tiers:
            out.append(Case(f"e2e/train_mlp_autocast/{d.name}", 3, _bind(_train, d.name), None, d.name))
    return out


def _bind(fn, *a):
    return lambda ctx: fn(ctx, *a)


def _check(what, got, ref, dtype_name, computed_in=None):
    """``got`` has dtype ``dtype_name`` and is near ``ref`` within one rounding to ``computed_in``."""
    if got.dtype.name != dtype_name:
        raise CaseFailure(f"{what}: computed in {got.dtype.name}, the autocast policy gives {dtype_name}")
    g = np.asarray(got.detach().float()._to_numpy_copy(), np.float64)
    tol = _TOL[computed_in or dtype_name]
    err = np.max(np.abs(g - ref) / (np.abs(ref) + 1.0)) if g.size else 0.0
    if g.shape != np.shape(ref) or not err <= tol:
        raise CaseFailure(f"{what}: differs from the float64 reference by {err:.3g} (tolerance {tol:.3g})",
                          float(err))


def _op_case(ctx, dname, name, policy):
    import ember
    from ember.amp import tables as T
    d = getattr(ember, dname)
    shapes, call, ref = CATALOGUE[name]
    rng = np.random.default_rng(seed_for("autocast", name, dname))
    arrays, tensors = [], []
    for i, s in enumerate(shapes if isinstance(shapes, tuple) else (shapes,)):
        if isinstance(s, str):
            a = rng.integers(0, int(s.split(":")[1]), size=4).astype(np.int64)
            arrays.append(a)
            tensors.append(ember.tensor(a, device=ctx.device))
            continue
        a = rng.standard_normal(s).astype(np.float32)
        # inputs: float32 where the policy lowers, the region's dtype where it raises; promote mixes both
        low = policy in (T.FP32, T.FP32_OPT) or (policy == T.PROMOTE and i == 0)
        t = ember.tensor(a, device=ctx.device)
        if low:
            t = t.to(d)
            a = a.astype(d.np)
        arrays.append(a.astype(np.float64))
        tensors.append(t)
    if policy == T.LOWER:  # what the region computes from: the inputs rounded to its dtype
        arrays = [x.astype(d.np).astype(np.float64) if x.dtype.kind == "f" else x for x in arrays]
    expect = dname if policy == T.LOWER else "float32"
    with ember.autocast(ctx.device_type, dtype=d):
        r = call(ember, *tensors)
    _check(f"{name} under autocast({ctx.device_type!r}, dtype={dname})", r, ref(*arrays), expect)


def _regions(ctx, dname):
    import ember
    d = getattr(ember, dname)
    a = ember.tensor(np.eye(3, dtype=np.float32), device=ctx.device)
    dt = ctx.device_type
    seen = []
    with ember.autocast(dt, dtype=d):
        seen.append(ember.mm(a, a).dtype)
        with ember.autocast(dt, enabled=False):
            seen.append(ember.mm(a, a).dtype)
            seen.append(ember.is_autocast_enabled(dt))
        with ember.no_grad():
            seen.append(ember.mm(a, a).dtype)
    seen.append(ember.mm(a, a).dtype)
    want = [d, ember.float32, False, d, ember.float32]
    if seen != want:
        raise CaseFailure(f"autocast regions: mm dtypes / enabled flags {seen}, expected {want} "
                          f"(region, enabled=False inside, no_grad inside, after)")


def _grad(ctx, dname):
    import ember
    if not callable(getattr(ember.Tensor, "backward", None)):
        raise CaseSkip("autograd not available")
    d = getattr(ember, dname)
    rng = np.random.default_rng(seed_for("autocast-grad", dname))
    x0, w0 = rng.standard_normal((4, 5)).astype(np.float32), rng.standard_normal((3, 5)).astype(np.float32)
    w = ember.tensor(w0, device=ctx.device, requires_grad=True)
    with ember.autocast(ctx.device_type, dtype=d):
        y = ember.nn.functional.linear(ember.tensor(x0, device=ctx.device), w)
    y.float().sum().backward()
    xr = x0.astype(d.np).astype(np.float64)
    # the weight's gradient is a product in the region's dtype, cast back to float32
    _check("the gradient of a float32 weight through an autocast region", w.grad, np.tile(xr.sum(0), (3, 1)),
           "float32", dname)


def _train(ctx, dname):
    import ember
    from .extra import _blobs, _need_nn
    _need_nn()
    d = getattr(ember, dname)
    x_np, y_np = _blobs()
    x, y = ember.tensor(x_np, device=ctx.device), ember.tensor(y_np, device=ctx.device)
    ember.manual_seed(0)
    nn = ember.nn
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2)).to(ctx.device)
    opt = ember.optim.SGD(model.parameters(), lr=0.1)
    scaler = ember.amp.GradScaler(ctx.device_type, enabled=d is ember.float16)
    for _ in range(100):
        opt.zero_grad()
        with ember.autocast(ctx.device_type, dtype=d):
            loss = nn.functional.cross_entropy(model(x), y)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    if any(p.dtype is not ember.float32 for p in model.parameters()):
        raise CaseFailure("training under autocast changed the parameters' dtype from float32")
    with ember.autocast(ctx.device_type, dtype=d):
        acc = float((model(x).argmax(1) == y).float().mean().item())
    if acc < 0.95:
        raise CaseFailure(f"a 2-16-2 MLP trained 100 SGD steps under autocast ({dname}) on separable blobs "
                          f"reached accuracy {acc:.3f}; the target is 0.95")
