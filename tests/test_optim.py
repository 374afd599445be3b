"""ember.optim against torch.optim: 20-step trajectories, schedulers, state dicts, and bad input."""

from __future__ import annotations

import io

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.optim as optim

torch = pytest.importorskip("torch")

# A quadratic bowl whose gradient is computed by hand, so the test isolates the optimizer's update rule.
_RNG = np.random.default_rng(0)
INIT = [_RNG.standard_normal((3, 4)), _RNG.standard_normal(5)]
TARGET = [_RNG.standard_normal((3, 4)), _RNG.standard_normal(5)]
SCALE = [_RNG.uniform(0.5, 2, (3, 4)), _RNG.uniform(0.5, 2, 5)]


def _grad(p, i, lib):
    t, s = TARGET[i], SCALE[i]
    if lib is torch:
        return 2 * torch.tensor(s) * (p.detach() - torch.tensor(t))
    return (p - ember.tensor(t)) * ember.tensor(s) * 2


OPTIMIZERS = {
    "sgd": (dict(lr=0.05), {}),
    "sgd_momentum": (dict(lr=0.05, momentum=0.9), {}),
    "sgd_dampening_wd": (dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.1), {}),
    "sgd_nesterov": (dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01), {}),
    "sgd_maximize": (dict(lr=0.01, maximize=True), {}),
    "adam": (dict(lr=0.1), {}),
    "adam_wd_amsgrad": (dict(lr=0.1, betas=(0.8, 0.99), weight_decay=0.1, amsgrad=True), {}),
    "adamw": (dict(lr=0.1), {}),
    "adamw_amsgrad": (dict(lr=0.05, weight_decay=0.3, amsgrad=True), {}),
    "rmsprop": (dict(lr=0.01), {}),
    "rmsprop_centered_momentum": (dict(lr=0.01, alpha=0.9, momentum=0.5, centered=True, weight_decay=0.05), {}),
}


def _classes(name):
    base = name.split("_")[0]
    return {"sgd": (optim.SGD, torch.optim.SGD), "adam": (optim.Adam, torch.optim.Adam),
            "adamw": (optim.AdamW, torch.optim.AdamW), "rmsprop": (optim.RMSprop, torch.optim.RMSprop)}[base]


def _params(lib):
    if lib is torch:
        return [torch.tensor(a, requires_grad=True) for a in INIT]
    return [nn.Parameter(ember.tensor(a)) for a in INIT]


def _run(lib, cls, kw, steps, groups=False, sched=None, opt_state=None, start=0):
    ps = _params(lib)
    params = [{"params": [ps[0]]}, {"params": [ps[1]], "lr": kw["lr"] * 0.5}] if groups else ps
    opt = cls(params, **kw)
    s = sched(opt) if sched else None
    traj = []
    for step in range(steps):
        for i, p in enumerate(ps):
            p.grad = _grad(p, i, lib)
        opt.step()
        if s:
            s.step()
        opt.zero_grad()
        traj.append([np.array(p.detach().numpy()) for p in ps])
    return traj, opt, ps


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("groups", [False, True])
def test_trajectory_matches_torch(name, groups):
    kw, _ = OPTIMIZERS[name]
    ecls, tcls = _classes(name)
    e, _, _ = _run(ember, ecls, kw, 20, groups)
    t, _, _ = _run(torch, tcls, kw, 20, groups)
    for step, (es, ts) in enumerate(zip(e, t)):
        for a, b in zip(es, ts):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10, err_msg=f"step {step}")


SCHEDULERS = {
    "step": (lambda o: optim.lr_scheduler.StepLR(o, 3, 0.5), lambda o: torch.optim.lr_scheduler.StepLR(o, 3, 0.5)),
    "cosine": (lambda o: optim.lr_scheduler.CosineAnnealingLR(o, 10, 0.001),
               lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 10, 0.001)),
    "linear": (lambda o: optim.lr_scheduler.LinearLR(o, 0.2, 1.0, 8),
               lambda o: torch.optim.lr_scheduler.LinearLR(o, 0.2, 1.0, 8)),
}


@pytest.mark.parametrize("sched", sorted(SCHEDULERS))
def test_schedulers_match_torch(sched):
    es, ts = SCHEDULERS[sched]
    kw = dict(lr=0.1, momentum=0.9)
    e, eo, _ = _run(ember, optim.SGD, kw, 20, True, es)
    t, to, _ = _run(torch, torch.optim.SGD, kw, 20, True, ts)
    for es_, ts_ in zip(e, t):
        for a, b in zip(es_, ts_):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-10)
    assert [g["lr"] for g in eo.param_groups] == pytest.approx([g["lr"] for g in to.param_groups], rel=1e-12)


def test_scheduler_get_last_lr_and_state_dict():
    p = nn.Parameter(ember.zeros(2))
    o = optim.SGD([p], lr=1.0)
    s = optim.lr_scheduler.StepLR(o, 2, 0.1)
    for _ in range(3):
        s.step()
    assert s.get_last_lr() == pytest.approx([0.1])
    sd = s.state_dict()
    s2 = optim.lr_scheduler.StepLR(optim.SGD([p], lr=1.0), 2, 0.1)
    s2.load_state_dict(sd)
    assert s2.last_epoch == 3


@pytest.mark.parametrize("name", ["adam_wd_amsgrad", "sgd_momentum", "rmsprop_centered_momentum"])
def test_state_dict_round_trip_through_a_file(name):
    """Stop after 10 steps, save the optimizer to safetensors, load into a new one: the same 20-step path."""
    kw, _ = OPTIMIZERS[name]
    cls, _ = _classes(name)
    full, _, _ = _run(ember, cls, kw, 20)
    first, opt, ps = _run(ember, cls, kw, 10)
    buf = io.BytesIO()
    ember.save({"optimizer": opt.state_dict(), "params": [p.detach() if hasattr(p, "detach") else p for p in ps]},
               buf)
    buf.seek(0)
    loaded = ember.load(buf)
    ps2 = [nn.Parameter(t) for t in loaded["params"]]
    opt2 = cls(ps2, **kw)
    opt2.load_state_dict(loaded["optimizer"])
    for step in range(10):
        for i, p in enumerate(ps2):
            p.grad = _grad(p, i, ember)
        opt2.step()
        opt2.zero_grad()
        for a, b in zip(ps2, full[10 + step]):
            np.testing.assert_allclose(a.detach().numpy(), b, rtol=1e-12, atol=1e-12)


def test_state_dict_layout_matches_torch():
    e = optim.Adam(_params(ember), lr=0.1)
    t = torch.optim.Adam(_params(torch), lr=0.1)
    for o, lib in ((e, ember), (t, torch)):
        for i, p in enumerate(o.param_groups[0]["params"]):
            p.grad = _grad(p, i, lib)
        o.step()
    es, ts = e.state_dict(), t.state_dict()
    assert set(es["state"]) == set(ts["state"]) == {0, 1}
    assert set(es["state"][0]) == set(ts["state"][0])
    eg, tg = es["param_groups"][0], ts["param_groups"][0]
    assert eg["params"] == tg["params"] and eg["lr"] == tg["lr"] and tuple(eg["betas"]) == tuple(tg["betas"])


def test_zero_grad_set_to_none():
    p = nn.Parameter(ember.ones(3))
    o = optim.SGD([p], lr=0.1)
    p.grad = ember.ones(3)
    o.zero_grad(set_to_none=False)
    assert (p.grad.numpy() == 0).all()
    o.zero_grad()
    assert p.grad is None
    o.step()  # no gradient: nothing changes
    assert (p.detach().numpy() == 1).all()


def test_bad_input():
    p = nn.Parameter(ember.ones(3))
    with pytest.raises(ValueError, match="-1"):
        optim.SGD([p], lr=-1)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match=r"betas \(1.0, 0.9\)"):
        optim.Adam([p], betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([])
    with pytest.raises(TypeError, match="single Tensor"):
        optim.SGD(p, lr=0.1)
    o = optim.SGD([p], lr=0.1)
    with pytest.raises(optim.OptimizerStateError, match="2 parameter group.*optimizer 1"):
        o.load_state_dict({"state": {}, "param_groups": [{"params": [0]}, {"params": [1]}]})
    with pytest.raises(optim.OptimizerStateError, match="group 0 has 2 parameters.*but 1"):
        o.load_state_dict({"state": {}, "param_groups": [{"params": [0, 1], "lr": 0.1}]})
    with pytest.raises(ember.ShapeError, match=r"momentum_buffer.*\(5,\).*\(3,\)"):
        o.load_state_dict({"state": {0: {"momentum_buffer": ember.zeros(5)}}, "param_groups": [{"params": [0]}]})
    with pytest.raises(optim.OptimizerStateError, match="'state' and 'param_groups'"):
        o.load_state_dict({"foo": 1})
