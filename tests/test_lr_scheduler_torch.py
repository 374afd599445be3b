"""ember.optim.lr_scheduler against torch.optim.lr_scheduler 2.13: the lr (and cycled momentum) of every group
over 60 steps, chainable and closed forms, state dicts loaded across, and the warnings and errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.optim as optim

torch = pytest.importorskip("torch")

# name -> (optimizer class name, optimizer kwargs, builder(lr_scheduler module, optimizer))
SCHEDS = {
    "lambda": ("SGD", {}, lambda m, o: m.LambdaLR(o, [lambda e: 0.95 ** e, lambda e: 1 / (1 + e)])),
    "multiplicative": ("SGD", {}, lambda m, o: m.MultiplicativeLR(o, lambda e: 0.97)),
    "step": ("SGD", {}, lambda m, o: m.StepLR(o, 7, 0.5)),
    "multistep": ("SGD", {}, lambda m, o: m.MultiStepLR(o, [5, 12, 12, 40], 0.3)),
    "constant": ("SGD", {}, lambda m, o: m.ConstantLR(o, 0.25, 9)),
    "linear": ("SGD", {}, lambda m, o: m.LinearLR(o, 0.1, 0.9, 17)),
    "exponential": ("SGD", {}, lambda m, o: m.ExponentialLR(o, 0.93)),
    "polynomial": ("SGD", {}, lambda m, o: m.PolynomialLR(o, 30, 2.0)),
    "cosine": ("SGD", {}, lambda m, o: m.CosineAnnealingLR(o, 13, 0.001)),
    "warm_restarts": ("SGD", {}, lambda m, o: m.CosineAnnealingWarmRestarts(o, 5, 2, 0.01)),
    "chained": ("SGD", {}, lambda m, o: m.ChainedScheduler([m.ExponentialLR(o, 0.95), m.StepLR(o, 4, 0.7),
                                                            m.CosineAnnealingLR(o, 20)])),
    "sequential": ("SGD", {}, lambda m, o: m.SequentialLR(o, [m.LinearLR(o, 0.1, 1.0, 5), m.ExponentialLR(o, 0.9),
                                                             m.CosineAnnealingLR(o, 10)], [5, 25])),
    "cyclic": ("SGD", dict(momentum=0.9), lambda m, o: m.CyclicLR(o, 0.01, [0.1, 0.2], 7, 4)),
    "cyclic_tri2": ("SGD", dict(momentum=0.9), lambda m, o: m.CyclicLR(o, 0.01, 0.1, 5, mode="triangular2")),
    "cyclic_exp_adam": ("Adam", {}, lambda m, o: m.CyclicLR(o, 0.001, 0.01, 6, mode="exp_range", gamma=0.97)),
    "cyclic_custom": ("SGD", {}, lambda m, o: m.CyclicLR(o, 0.01, 0.1, 5, scale_fn=lambda x: 0.9 ** x,
                                                         scale_mode="iterations", cycle_momentum=False)),
    "onecycle": ("SGD", dict(momentum=0.9), lambda m, o: m.OneCycleLR(o, [0.5, 1.0], total_steps=61)),
    "onecycle_3_linear": ("Adam", {}, lambda m, o: m.OneCycleLR(o, 0.01, epochs=4, steps_per_epoch=16,
                                                                anneal_strategy="linear", three_phase=True)),
}
# A metric sequence with plateaus, for ReduceLROnPlateau.
METRICS = [1.0 / (1 + i) if i < 10 else 0.09 + 0.001 * (i % 3) for i in range(60)]


def _opt(lib, cls, kw):
    mk = (lambda: torch.zeros(2, requires_grad=True)) if lib is torch else (lambda: nn.Parameter(ember.zeros(2)))
    o = getattr(torch.optim if lib is torch else optim, cls)([{"params": [mk()]}, {"params": [mk()], "lr": 0.05}],
                                                             lr=0.1, **kw)
    return o


def _momenta(o):
    return [g.get("momentum", g.get("betas", (None,))[0]) for g in o.param_groups]


def _sequence(lib, name, steps=60, metric=False):
    cls, kw, build = SCHEDS[name] if not metric else ("SGD", {}, None)
    o = _opt(lib, cls, kw)
    mod = torch.optim.lr_scheduler if lib is torch else optim.lr_scheduler
    s = build(mod, o) if not metric else mod.ReduceLROnPlateau(o, patience=2, factor=0.5, cooldown=1, min_lr=1e-4)
    out = [(list(s.get_last_lr()), _momenta(o))]
    for i in range(steps):
        o.step()
        s.step(METRICS[i]) if metric else s.step()
        out.append((list(s.get_last_lr()), _momenta(o)))
        assert [g["lr"] for g in o.param_groups] == out[-1][0]
    return out, s, o


@pytest.mark.parametrize("name", sorted(SCHEDS))
def test_lr_sequence_matches_torch(name):
    e, _, _ = _sequence(ember, name)
    t, _, _ = _sequence(torch, name)
    for step, ((el, em), (tl, tm)) in enumerate(zip(e, t)):
        assert el == pytest.approx(tl, rel=1e-12, abs=1e-15), f"step {step}"
        assert em == pytest.approx(tm, rel=1e-12), f"momentum at step {step}"


def test_reduce_lr_on_plateau_matches_torch():
    e, es, _ = _sequence(ember, None, metric=True)
    t, ts, _ = _sequence(torch, None, metric=True)
    assert [x[0] for x in e] == [x[0] for x in t]
    assert len({x[0][0] for x in t}) > 3  # the metric's plateaus did reduce the lr several times
    assert (es.best, es.num_bad_epochs, es.cooldown_counter) == (ts.best, ts.num_bad_epochs, ts.cooldown_counter)


@pytest.mark.parametrize("name", ["step", "multistep", "constant", "linear", "exponential", "polynomial", "cosine",
                                  "warm_restarts"])
def test_step_with_epoch_uses_the_closed_form(name):
    seqs = []
    for lib in (ember, torch):
        cls, kw, build = SCHEDS[name]
        o = _opt(lib, cls, kw)
        s = build(torch.optim.lr_scheduler if lib is torch else optim.lr_scheduler, o)
        out = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for epoch in [3, 1, 8, 8, 20, 2.5 if name == "warm_restarts" else 2, 33]:
                o.step()
                s.step(epoch)
                out.append(list(s.get_last_lr()))
        seqs.append(out)
    np.testing.assert_allclose(seqs[0], seqs[1], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", ["multistep", "cosine", "chained", "sequential", "cyclic", "onecycle", "lambda",
                                  "warm_restarts"])
def test_torch_state_dict_loads_and_continues(name):
    """A torch scheduler's state dict after 20 steps, loaded into a fresh Ember one: the same next 40 lrs."""
    t, ts, to = _sequence(torch, name, steps=20)
    cls, kw, build = SCHEDS[name]
    eo = _opt(ember, cls, kw)
    es = build(optim.lr_scheduler, eo)
    es.load_state_dict(ts.state_dict())
    assert set(es.state_dict()) == set(ts.state_dict())
    for eg, tg in zip(eo.param_groups, to.param_groups):
        eg.update({k: v for k, v in tg.items() if k != "params"})
    for _ in range(40):
        eo.step()
        to.step()
        es.step()
        ts.step()
        assert es.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-12)


def test_last_epoch_resume_needs_initial_lr():
    o = optim.SGD([nn.Parameter(ember.zeros(2))], lr=0.1)
    with pytest.raises(KeyError, match="initial_lr.*last_epoch=4"):
        optim.lr_scheduler.StepLR(o, 3, last_epoch=4)
    s = optim.lr_scheduler.StepLR(o, 3, 0.5)
    for _ in range(4):
        o.step()
        s.step()
    s2 = optim.lr_scheduler.StepLR(o, 3, 0.5, last_epoch=4)  # resumes: initial_lr is in the groups now
    assert s2.base_lrs == [0.1]


def test_warnings_and_errors():
    o = optim.SGD([nn.Parameter(ember.zeros(2))], lr=0.1, momentum=0.9)
    s = optim.lr_scheduler.ExponentialLR(o, 0.9)
    with pytest.warns(UserWarning, match=r"before `optimizer.step\(\)`"):
        s.step()
    with pytest.warns(UserWarning, match="get_last_lr"):
        s.get_lr()
    with pytest.raises(TypeError, match="not an Optimizer"):
        optim.lr_scheduler.StepLR(object(), 3)
    with pytest.raises(ValueError, match="factor must be in"):
        optim.lr_scheduler.ConstantLR(o, factor=2)
    with pytest.raises(ValueError, match="total_steps OR"):
        optim.lr_scheduler.OneCycleLR(o, 0.1)
    with pytest.raises(ValueError, match="tried to step 4 times"):
        s1 = optim.lr_scheduler.OneCycleLR(o, 0.1, total_steps=3)
        for _ in range(4):
            o.step()
            s1.step()
    with pytest.raises(ValueError, match="cycle_momentum=False"):
        optim.lr_scheduler.CyclicLR(optim.Adagrad([nn.Parameter(ember.zeros(2))]), 0.01, 0.1)
    with pytest.raises(ValueError, match="ReduceLROnPlateau"):
        optim.lr_scheduler.ChainedScheduler([optim.lr_scheduler.ReduceLROnPlateau(o)])
    with pytest.raises(ValueError, match="one milestone fewer"):
        optim.lr_scheduler.SequentialLR(o, [optim.lr_scheduler.StepLR(o, 2)], [3])
    with pytest.raises(ValueError, match="T_0"):
        optim.lr_scheduler.CosineAnnealingWarmRestarts(o, 0)
