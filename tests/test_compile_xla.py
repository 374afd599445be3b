"""ember.compile on xla (one jax.jit of the graph) and on xpu (eager replay, on pocl's CPU device)."""

from __future__ import annotations

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember import nn

pytest.importorskip("jax", reason="ember-xla needs jax and jaxlib (pip install jax)")
ember_xla = pytest.importorskip("ember_xla", reason="ember-xla is not installed (pip install -e backends/xla)")


def _np(t):
    return t.detach().cpu().numpy()


def _step_fn(model, opt):
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return step


def _models(dev):
    out = []
    for _ in range(2):
        ember.manual_seed(0)
        out.append(nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10)).to(dev))
    return out


def test_xla_train_step_is_one_jit_and_matches_eager():
    ref, mod = _models("xla")
    s_ref = _step_fn(ref, ember.optim.SGD(ref.parameters(), lr=0.1))
    s_cmp = ember.compile(_step_fn(mod, ember.optim.SGD(mod.parameters(), lr=0.1)))
    ember.manual_seed(1)
    x, y = ember.randn(128, 784).to("xla"), ember.randint(0, 10, (128,)).to("xla")
    for _ in range(5):
        np.testing.assert_allclose(_np(s_cmp(x, y)), _np(s_ref(x, y)), rtol=1e-5)
    assert [e.lowering for e in s_cmp._entries] == ["jit"]
    traces = ember_xla.stats["traces"]
    for _ in range(3):
        s_cmp(x, y), s_ref(x, y)
    assert ember_xla.stats["traces"] == traces   # no retracing per step
    for p, q in zip(ref.parameters(), mod.parameters()):
        assert q.device.type == "xla"
        np.testing.assert_allclose(_np(q), _np(p), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(_np(q.grad), _np(p.grad), rtol=1e-4, atol=1e-7)


def test_xla_function_outputs_views_and_in_place_inputs():
    def f(x, b):
        b.add_(1)
        y = x * 2 + b
        return y, y.t(), x

    cf = ember.compile(f)
    x = ember.randn(3, 4).to("xla")
    b1, b2 = ember.zeros(4).to("xla"), ember.zeros(4).to("xla")
    for _ in range(4):
        got, want = cf(x, b1), f(x, b2)
        for g, w in zip(got, want):
            assert tuple(g.shape) == tuple(w.shape) and g.stride() == w.stride()
            np.testing.assert_allclose(_np(g), _np(w), rtol=1e-6)
    assert got[2] is x and cf._entries[0].lowering == "jit"
    assert _np(b1).tolist() == _np(b2).tolist() == [4.0] * 4


def test_xla_module_forward_with_grad_replays_eagerly_with_autograd():
    ref, mod = _models("xla")
    opt = ember.compile(mod)
    x = ember.randn(8, 784).to("xla")
    for _ in range(3):
        ref.zero_grad(), mod.zero_grad()
        ref(x).sum().backward()
        opt(x).sum().backward()
    for p, q in zip(ref.parameters(), mod.parameters()):
        np.testing.assert_allclose(_np(q.grad), _np(p.grad), rtol=1e-5, atol=1e-6)
    assert opt._compiled._entries[0].lowering == "eager"   # the jit lowering declines autograd graphs


def test_xpu_train_step_replays_like_eager():
    pytest.importorskip("ember_xpu", reason="ember-xpu is not installed")
    from xpu_device import xpu_runtime
    xpu_runtime()
    ref, mod = _models("xpu")
    s_ref = _step_fn(ref, ember.optim.SGD(ref.parameters(), lr=0.1))
    s_cmp = ember.compile(_step_fn(mod, ember.optim.SGD(mod.parameters(), lr=0.1)))
    ember.manual_seed(1)
    x, y = ember.randn(32, 784).to("xpu"), ember.randint(0, 10, (32,)).to("xpu")
    for _ in range(4):
        assert np.array_equal(_np(s_cmp(x, y)), _np(s_ref(x, y)))
    for p, q in zip(ref.parameters(), mod.parameters()):
        assert np.array_equal(_np(q), _np(p))
    assert [e.state for e in s_cmp._entries] == ["ready"]
