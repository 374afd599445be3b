"""ember.optim's optimizers and lr schedulers against torch.optim 2.13: 20-step parameter trajectories and final
state (float32 and float64, several options each), LBFGS with a closure, state dicts converted both ways,
every scheduler's lr sequence over 60 steps, and one run on the npy vendor device."""

from __future__ import annotations


import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.optim as optim

torch = pytest.importorskip("torch")

_RNG = np.random.default_rng(1)
INIT = [_RNG.standard_normal((3, 4)), _RNG.standard_normal(5)]
TARGET = [_RNG.standard_normal((3, 4)), _RNG.standard_normal(5)]


def _grad(lib, p, i, step):
    """A non-quadratic gradient that changes sign and scale over the steps (hand-written: the test isolates the
    update rule)."""
    x = p.detach()
    if lib is torch:
        return (x - torch.tensor(TARGET[i], dtype=x.dtype)) ** 3 + torch.sin(x * (step + 1)) * 0.1
    return (x - ember.tensor(TARGET[i], dtype=x.dtype)) ** 3 + (x * (step + 1)).sin() * 0.1


CASES = {
    "Adadelta": [{}, dict(lr=0.5, rho=0.8, eps=1e-5, weight_decay=0.1, maximize=True)],
    "Adagrad": [{}, dict(lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.1, eps=1e-8)],
    "Adamax": [{}, dict(lr=0.01, betas=(0.3, 0.9), weight_decay=0.1, foreach=True, capturable=False)],
    "NAdam": [dict(lr=0.01), dict(lr=0.01, weight_decay=0.1, momentum_decay=0.01),
              dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)],
    "RAdam": [dict(lr=0.01), dict(lr=0.01, betas=(0.3, 0.9), weight_decay=0.1),
              dict(lr=0.01, weight_decay=0.2, decoupled_weight_decay=True, differentiable=False)],
    "ASGD": [{}, dict(lr=0.05, lambd=1e-3, alpha=0.5, t0=5, weight_decay=0.1), dict(lr=0.01, maximize=True)],
    "Rprop": [{}, dict(lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-3, 0.1), maximize=True)],
}
CASE_IDS = [(name, i) for name, cases in CASES.items() for i in range(len(cases))]
TOL = {"float64": dict(rtol=1e-10, atol=1e-12), "float32": dict(rtol=2e-5, atol=2e-6)}


def _params(lib, dtype, device=None):
    if lib is torch:
        return [torch.tensor(a, dtype=getattr(torch, dtype), requires_grad=True) for a in INIT]
    return [nn.Parameter(ember.tensor(a, dtype=getattr(ember, dtype), device=device)) for a in INIT]


def _np(t):
    return np.array(t.detach().cpu().numpy() if hasattr(t, "cpu") and not isinstance(t, ember.Tensor)
                    else t.detach().to("cpu").numpy())


def _steps(lib, opt, ps, start, n):
    traj = []
    for step in range(start, start + n):
        for i, p in enumerate(ps):
            p.grad = _grad(lib, p, i, step)
        opt.step()
        opt.zero_grad()
        traj.append([_np(p) for p in ps])
    return traj


def _make(lib, name, kw, dtype, groups=False, device=None):
    ps = _params(lib, dtype, device)
    cls = getattr(torch.optim if lib is torch else optim, name)
    params = [{"params": [ps[0]]}, {"params": [ps[1]], "lr": kw.get("lr", 0.01) * 0.5}] if groups else ps
    return cls(params, **kw), ps


def _assert_state_equal(es, ts, tol):
    assert set(es) == set(ts)
    for k in ts:
        a, b = es[k], ts[k]
        if isinstance(b, torch.Tensor):
            assert isinstance(a, ember.Tensor), k
            assert tuple(a.shape) == tuple(b.shape) and str(a.dtype).split(".")[-1] == str(b.dtype).split(".")[-1], k
            np.testing.assert_allclose(_np(a), b.numpy(), **tol, err_msg=k)
        else:
            assert a == b, k


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name,case", CASE_IDS)
def test_trajectory_and_state_match_torch(name, case, dtype):
    kw = CASES[name][case]
    groups = case % 2 == 1
    (eo, eps), (to, tps) = _make(ember, name, kw, dtype, groups), _make(torch, name, kw, dtype, groups)
    e, t = _steps(ember, eo, eps, 0, 20), _steps(torch, to, tps, 0, 20)
    for step, (es, ts) in enumerate(zip(e, t)):
        for a, b in zip(es, ts):
            np.testing.assert_allclose(a, b, **TOL[dtype], err_msg=f"{name} {kw} step {step}")
    for ep, tp in zip(eps, tps):
        _assert_state_equal(eo.state[ep], to.state[tp], TOL[dtype])
    esd, tsd = eo.state_dict(), to.state_dict()
    assert esd["param_groups"] == tsd["param_groups"]


def _to_ember(v):
    if isinstance(v, torch.Tensor):
        return ember.tensor(v.detach().numpy().copy())
    if isinstance(v, (list, tuple)):
        return type(v)(_to_ember(x) for x in v)
    if isinstance(v, dict):
        return {k: _to_ember(x) for k, x in v.items()}
    return v


def _to_torch(v):
    if isinstance(v, ember.Tensor):
        return torch.tensor(v.numpy().copy())
    if isinstance(v, (list, tuple)):
        return type(v)(_to_torch(x) for x in v)
    if isinstance(v, dict):
        return {k: _to_torch(x) for k, x in v.items()}
    return v


@pytest.mark.parametrize("direction", ["torch_to_ember", "ember_to_torch"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_state_dict_transfer_continues_identically(name, direction):
    """10 steps in one library, its state dict converted (tensors via numpy) into the other, 10 more steps there:
    the same path as torch saving and loading its own state dict after 10 steps (loading casts scalar state such as
    NAdam's mu_product and ASGD's eta to the parameters' dtype, in both libraries)."""
    kw = CASES[name][1]
    ref_opt, ref_ps = _make(torch, name, kw, "float64", groups=True)
    _steps(torch, ref_opt, ref_ps, 0, 10)
    ref_opt2, ref_ps2 = _make(torch, name, kw, "float64", groups=True)
    with torch.no_grad():
        for d, s in zip(ref_ps2, ref_ps):
            d.copy_(s)
    ref_opt2.load_state_dict(ref_opt.state_dict())
    ref = [None] * 10 + _steps(torch, ref_opt2, ref_ps2, 10, 10)
    src_lib, dst_lib = (torch, ember) if direction == "torch_to_ember" else (ember, torch)
    src_opt, src_ps = _make(src_lib, name, kw, "float64", groups=True)
    _steps(src_lib, src_opt, src_ps, 0, 10)
    sd = src_opt.state_dict()
    convert = _to_ember if dst_lib is ember else _to_torch
    dst_opt, dst_ps = _make(dst_lib, name, kw, "float64", groups=True)
    with (torch.no_grad() if dst_lib is torch else ember.no_grad()):
        for d, s in zip(dst_ps, src_ps):
            d.copy_(convert(s.detach()))
    dst_opt.load_state_dict(convert(sd))
    if dst_lib is ember:
        assert isinstance(dst_opt.state[dst_ps[0]]["step"], ember.Tensor)
    out = _steps(dst_lib, dst_opt, dst_ps, 10, 10)
    for step, (es, ts) in enumerate(zip(out, ref[10:])):
        for a, b in zip(es, ts):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=f"{name} step {10 + step}")


def test_state_dict_layout_matches_torch():
    for name in sorted(CASES) + ["Adam", "AdamW", "RMSprop"]:
        (eo, eps), (to, tps) = _make(ember, name, {}, "float32"), _make(torch, name, {}, "float32")
        _steps(ember, eo, eps, 0, 1)
        _steps(torch, to, tps, 0, 1)
        es, ts = eo.state_dict(), to.state_dict()
        assert set(es["state"]) == set(ts["state"]) == {0, 1}, name
        assert set(es["state"][0]) == set(ts["state"][0]), name
        assert es["state"][0]["step"].dtype == ember.float32 and es["state"][0]["step"].shape == (), name
        assert es["param_groups"] == ts["param_groups"], name
    e, t = optim.SGD(_params(ember, "float32"), momentum=0.9), torch.optim.SGD(_params(torch, "float32"), momentum=0.9)
    assert e.state_dict()["param_groups"] == t.state_dict()["param_groups"]


def test_adagrad_state_exists_before_the_first_step():
    eo, _ = _make(ember, "Adagrad", dict(initial_accumulator_value=0.3), "float64")
    to, _ = _make(torch, "Adagrad", dict(initial_accumulator_value=0.3), "float64")
    assert set(eo.state_dict()["state"]) == set(to.state_dict()["state"]) == {0, 1}
    np.testing.assert_array_equal(_np(eo.state_dict()["state"][1]["sum"]), to.state_dict()["state"][1]["sum"])


# -- LBFGS -------------------------------------------------------------------------------------------------------

def _rosenbrock(x):
    a, b = x[:-1], x[1:]
    return ((1 - a) ** 2 + (b - a * a) ** 2 * 100).sum()


_A = _RNG.standard_normal((8, 4))
_B = _RNG.standard_normal(8)


def _least_squares(lib):
    A, B = (torch.tensor(_A), torch.tensor(_B)) if lib is torch else (ember.tensor(_A), ember.tensor(_B))

    def f(x):
        r = A.to(x.dtype).matmul(x) - B.to(x.dtype)
        return (r * r).sum() + (x * x).sum() * 0.1
    return f


def _lbfgs_run(lib, problem, dtype, kw, steps, x0=(-1.5, 2.0, 0.5, -0.8)):
    if lib is torch:
        x = torch.tensor(np.array(x0), dtype=getattr(torch, dtype), requires_grad=True)
    else:
        x = nn.Parameter(ember.tensor(np.array(x0), dtype=getattr(ember, dtype)))
    opt = (torch.optim.LBFGS if lib is torch else optim.LBFGS)([x], **kw)
    f = _rosenbrock if problem == "rosenbrock" else _least_squares(lib)

    def closure():
        opt.zero_grad()
        loss = f(x)
        loss.backward()
        return loss
    out = []
    for _ in range(steps):
        loss = opt.step(closure)
        out.append((_np(x), float(loss.detach())))
    return out, opt, x, closure


LBFGS_CASES = [("rosenbrock", "float64", {}), ("rosenbrock", "float64", dict(line_search_fn="strong_wolfe")),
               ("rosenbrock", "float64", dict(lr=0.5, history_size=3, max_iter=7, line_search_fn="strong_wolfe")),
               ("rosenbrock", "float64", dict(lr=0.1, history_size=2)),
               ("least_squares", "float64", dict(lr=0.5, max_iter=4)),
               ("least_squares", "float32", dict(lr=0.5, max_iter=4)),
               # float32 iterates agree until the line search reaches float32's noise floor, so few iterations.
               ("least_squares", "float32", dict(max_iter=1, history_size=2, line_search_fn="strong_wolfe"))]


@pytest.mark.parametrize("problem,dtype,kw", LBFGS_CASES)
def test_lbfgs_matches_torch(problem, dtype, kw):
    e, eo, _, _ = _lbfgs_run(ember, problem, dtype, kw, 5)
    t, to, _, _ = _lbfgs_run(torch, problem, dtype, kw, 5)
    # float32: 5 steps of up to 4 inner iterations each compound rounding differences (PyTorch fuses
    # p + alpha * d into one rounding, BLAS kernels sum in machine-dependent orders): ~2e-4 apart by step 2
    tol = dict(rtol=1e-9, atol=1e-10) if dtype == "float64" else dict(rtol=1e-3, atol=1e-4)
    for step, ((ex, el), (tx, tl)) in enumerate(zip(e, t)):
        np.testing.assert_allclose(ex, tx, **tol, err_msg=f"step {step}")
        assert el == pytest.approx(tl, rel=tol["rtol"] * 10, abs=tol["atol"])
    es, ts = eo.state[eo._params[0]], to.state[to._params[0]]
    assert set(es) == set(ts)
    assert es["func_evals"] == ts["func_evals"] and es["n_iter"] == ts["n_iter"]
    assert len(es["old_dirs"]) == len(ts["old_dirs"])


@pytest.mark.parametrize("direction", ["torch_to_ember", "ember_to_torch"])
def test_lbfgs_state_dict_transfer(direction):
    kw = dict(history_size=3, max_iter=3, line_search_fn="strong_wolfe")
    ref, _, _, _ = _lbfgs_run(torch, "rosenbrock", "float64", kw, 6)
    src_lib, dst_lib = (torch, ember) if direction == "torch_to_ember" else (ember, torch)
    first, src_opt, src_x, _ = _lbfgs_run(src_lib, "rosenbrock", "float64", kw, 3)
    convert = _to_ember if dst_lib is ember else _to_torch
    _, dst_opt, dst_x, closure = _lbfgs_run(dst_lib, "rosenbrock", "float64", kw, 0, x0=first[-1][0])
    dst_opt.load_state_dict(convert(src_opt.state_dict()))
    for step in range(3):
        dst_opt.step(closure)
        np.testing.assert_allclose(_np(dst_x), ref[3 + step][0], rtol=1e-9, atol=1e-10)


def test_lbfgs_bad_input():
    p = nn.Parameter(ember.ones(3))
    with pytest.raises(ValueError, match="parameter groups"):
        optim.LBFGS([{"params": [p]}, {"params": [nn.Parameter(ember.ones(2))]}])
    with pytest.raises(ValueError, match="'backtracking'"):
        optim.LBFGS([p], line_search_fn="backtracking")
    with pytest.raises(TypeError, match="closure"):
        optim.LBFGS([p]).step()


def test_bad_input_names_the_value():
    p = nn.Parameter(ember.ones(3))
    with pytest.raises(ValueError, match="rho 1.5"):
        optim.Adadelta([p], rho=1.5)
    with pytest.raises(ValueError, match="lr_decay -1"):
        optim.Adagrad([p], lr_decay=-1)
    with pytest.raises(ValueError, match="index 1: 1.0"):
        optim.NAdam([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="momentum_decay -0.1"):
        optim.NAdam([p], momentum_decay=-0.1)
    with pytest.raises(ValueError, match="eps -1"):
        optim.RAdam([p], eps=-1)
    with pytest.raises(ValueError, match="eta values 1.5, 1.2"):
        optim.Rprop([p], etas=(1.5, 1.2))
    with pytest.raises(RuntimeError, match="fused"):
        optim.Adagrad([p], fused=True, foreach=True)


@pytest.mark.parametrize("name", sorted(CASES) + ["LBFGS"])
def test_runs_on_the_npy_vendor_device(name):
    """Each optimizer on the npy fixture device (required prims only), gradients from autograd: the same float64
    path as torch's on the CPU, so the updates are device-generic."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).parent))
    from fixture_plugins import load
    load("npy")
    kw = CASES[name][1] if name != "LBFGS" else dict(max_iter=3, line_search_fn="strong_wolfe")
    runs = []
    for lib, device in ((ember, "npy"), (torch, None)):
        ps = _params(lib, "float64", device)
        opt = getattr(torch.optim if lib is torch else optim, name)(ps, **kw)
        A = torch.tensor(_A[:4]) if lib is torch else ember.tensor(_A[:4], device=device)

        def closure():
            opt.zero_grad()
            loss = ((ps[0].matmul(A) - 0.5) ** 2).sum() + (ps[1] * ps[1]).sum() * 0.3 + ps[1].sin().sum()
            loss.backward()
            return loss
        for _ in range(3 if name == "LBFGS" else 8):  # LBFGS: 9 iterations, before its noise floor
            opt.step(closure)
        if lib is ember:
            assert ps[0].device.type == "npy"
            assert all(t.device.type == "npy" for t in opt.state[ps[0]].values()
                       if isinstance(t, ember.Tensor) and t.ndim)
        runs.append([_np(p) for p in ps])
    for a, b in zip(*runs):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
