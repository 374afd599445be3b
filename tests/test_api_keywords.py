"""PyTorch's keywords that real programs pass: add/sub's alpha, the factory keywords (requires_grad,
layout, pin_memory), and the folded N-D @ 2-D products of linear layers, each against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")


def _np(t):
    return t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)


@pytest.mark.parametrize("name", ["add", "sub", "subtract"])
@pytest.mark.parametrize("alpha", [2, -0.5, 1])
def test_alpha_matches_torch(name, alpha):
    a, b = np.arange(6.0).reshape(2, 3), np.linspace(-1, 1, 3)
    want = getattr(torch, name)(torch.tensor(a), torch.tensor(b), alpha=alpha)
    got = getattr(ember, name)(ember.tensor(a), ember.tensor(b), alpha=alpha)
    np.testing.assert_allclose(_np(got), _np(want))
    method = getattr(ember.tensor(a), name)(ember.tensor(b), alpha=alpha)
    np.testing.assert_allclose(_np(method), _np(want))


def test_inplace_alpha_and_gradient():
    p = ember.tensor([1.0, 2.0], requires_grad=True)
    q = ember.tensor([3.0, 4.0], requires_grad=True)
    ember.add(p, q, alpha=-3).sum().backward()
    np.testing.assert_allclose(_np(q.grad), [-3.0, -3.0])
    np.testing.assert_allclose(_np(p.grad), [1.0, 1.0])
    x = ember.ones(3)
    x.add_(ember.arange(3.0), alpha=-20.0).sub_(1, alpha=2)
    np.testing.assert_allclose(_np(x), [-1.0, -21.0, -41.0])


def test_alpha_errors_follow_torch():
    i = ember.ones(2, dtype=ember.int64)
    with pytest.raises(RuntimeError, match="alpha must not be a floating point"):
        i.add(i, alpha=0.5)
    with pytest.raises(RuntimeError, match="Boolean alpha"):
        ember.ones(2).add(ember.ones(2), alpha=True)
    with pytest.raises(ember.EmberError):
        i.sub_(i, alpha=1.5)
    assert i.tolist() == [1, 1]   # nothing was written


FACTORIES = [("zeros", (2, 3)), ("ones", (2,)), ("empty", (2,)), ("full", ((2,), 1.5)), ("rand", (2, 2)),
             ("randn", (3,)), ("arange", (4.0,)), ("linspace", (0.0, 1.0, 5)), ("eye", (3,)),
             ("normal", (0.0, 1.0, (2,))), ("tensor", ([1.0, 2.0],))]


@pytest.mark.parametrize("name,args", FACTORIES, ids=[f[0] for f in FACTORIES])
def test_factories_take_torch_keywords(name, args):
    t = getattr(ember, name)(*args, requires_grad=True, layout=ember.strided, pin_memory=False)
    assert t.requires_grad and t.is_leaf
    assert t.layout is ember.strided
    r = getattr(torch, name)(*args, requires_grad=True)
    assert tuple(t.shape) == tuple(r.shape)


@pytest.mark.parametrize("name,args", [("zeros_like", ()), ("randn_like", ()), ("full_like", (2.0,))])
def test_like_factories_take_requires_grad(name, args):
    t = getattr(ember, name)(ember.ones(2, 3), *args, requires_grad=True)
    assert t.requires_grad and tuple(t.shape) == (2, 3)


def test_factory_refuses_integer_grad_and_other_layouts():
    with pytest.raises(RuntimeError, match="floating point"):
        ember.arange(3, requires_grad=True)
    with pytest.raises(ValueError, match="layout"):
        ember.zeros(2, layout="sparse")


@pytest.mark.parametrize("shape", [(5, 4, 3), (2, 3, 4, 3), (1, 3)])
def test_linear_folds_leading_dims(shape):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    w, b = rng.standard_normal((6, 3)), rng.standard_normal(6)
    ex, ew, eb = (ember.tensor(v, requires_grad=True) for v in (x, w, b))
    tx, tw, tb = (torch.tensor(v, requires_grad=True) for v in (x, w, b))
    ey = ember.nn.functional.linear(ex.transpose(0, -2) if len(shape) > 2 else ex, ew, eb)
    ty = torch.nn.functional.linear(tx.transpose(0, -2) if len(shape) > 2 else tx, tw, tb)
    np.testing.assert_allclose(_np(ey), _np(ty), rtol=1e-12)
    g = rng.standard_normal(tuple(ty.shape))
    ey.backward(ember.tensor(g))
    ty.backward(torch.tensor(g))
    for e, t in ((ex, tx), (ew, tw), (eb, tb)):
        np.testing.assert_allclose(_np(e.grad), _np(t.grad), rtol=1e-11, atol=1e-12)


def test_matmul_nd_by_matrix_gradients():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((5, 2))
    ea, eb = ember.tensor(a, requires_grad=True), ember.tensor(b, requires_grad=True)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    (ember.matmul(ea, eb) ** 2).sum().backward()
    (torch.matmul(ta, tb) ** 2).sum().backward()
    np.testing.assert_allclose(_np(ea.grad), _np(ta.grad), rtol=1e-11)
    np.testing.assert_allclose(_np(eb.grad), _np(tb.grad), rtol=1e-11)
    assert ember.autograd.gradcheck(lambda p, q: ember.matmul(p, q), (ea.detach().requires_grad_(),
                                                                      eb.detach().requires_grad_()))
