"""More tensor math (diag, unique, searchsorted, quantile, cdist, multinomial, ...) against torch:
values, dtypes, shapes, gradients and errors, in float32 and float64, on cpu and the npy vendor device."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")
sys.path.insert(0, "tests")
RNG = np.random.default_rng(7)
DTYPES = ["float32", "float64"]
TOL = {"float32": 2e-5, "float64": 1e-10}


def _np(x):
    return np.asarray(x.tolist()) if isinstance(x, ember.Tensor) else x.detach().numpy()


def check(e, t, tol=1e-6):
    """Same structure, shapes, dtypes and values (NaN meets NaN)."""
    if isinstance(t, (tuple, list)):
        assert isinstance(e, (tuple, list)) and len(e) == len(t)
        for a, b in zip(e, t):
            check(a, b, tol)
        return
    if isinstance(t, bool):
        assert e is t
        return
    assert tuple(e.shape) == tuple(t.shape)
    assert e.dtype.name == str(t.dtype).replace("torch.", ""), (e.dtype, t.dtype)
    np.testing.assert_allclose(_np(e).astype(np.float64), t.detach().numpy().astype(np.float64),
                               rtol=tol, atol=tol, equal_nan=True)


def both(a, dtype=None, grad=False):
    a = np.asarray(a, dtype=dtype)
    return ember.tensor(a, requires_grad=grad), torch.tensor(a, requires_grad=grad)


# name -> (function of a module (ember or torch) and float input arrays, inputs) for differentiable ops
def _cases(dt):
    r = lambda *s: RNG.standard_normal(s).astype(dt)  # noqa: E731
    q = np.array([0.15, 0.5, 0.85], dt)
    return {
        "diag_1d": (lambda m, x: m.diag(x, 1), [r(4)]),
        "diag_2d": (lambda m, x: m.diag(x, -1), [r(4, 3)]),
        "diag_embed": (lambda m, x: m.diag_embed(x, -1, 0, 2), [r(2, 3)]),
        "tensordot": (lambda m, a, b: m.tensordot(a, b, ([1, 0], [0, 2])), [r(3, 4, 2), r(4, 5, 3)]),
        "kron": (lambda m, a, b: m.kron(a, b), [r(2, 3), r(3,)]),
        "cross": (lambda m, a, b: m.cross(a, b, dim=0), [r(3, 4), r(3, 4)]),
        "rot90": (lambda m, x: m.rot90(x, 3, [0, 2]), [r(2, 3, 4)]),
        "repeat_interleave": (lambda m, x: m.repeat_interleave(x, 2, 1), [r(2, 3)]),
        "repeat_interleave_tensor": (lambda m, x: x.repeat_interleave(m.tensor([2, 0, 1]), 0), [r(3, 2)]),
        "block_diag": (lambda m, a, b: m.block_diag(a, b), [r(2, 3), r(2)]),
        "cdist_p2": (lambda m, a, b: m.cdist(a, b), [r(4, 3), r(5, 3)]),
        "cdist_p1": (lambda m, a, b: m.cdist(a, b, 1.0), [r(2, 4, 3), r(2, 5, 3)]),
        "cdist_p3": (lambda m, a, b: m.cdist(a, b, 3.0), [r(4, 3), r(5, 3)]),
        "cdist_inf": (lambda m, a, b: m.cdist(a, b, float("inf")), [r(4, 3), r(5, 3)]),
        "cdist_mm": (lambda m, a, b: m.cdist(a, b), [r(30, 3), r(26, 3)]),
        "logcumsumexp": (lambda m, x: m.logcumsumexp(x, 1), [r(3, 7)]),
        "cummax": (lambda m, x: m.cummax(x, 1).values, [r(3, 7)]),
        "cummin": (lambda m, x: m.cummin(x, 0)[0], [r(5, 2)]),
        "median": (lambda m, x: m.median(x), [r(3, 5)]),
        "median_dim": (lambda m, x: m.median(x, 1).values, [r(3, 6)]),
        "nanmedian_dim": (lambda m, x: m.nanmedian(x, 0, True)[0], [r(5, 2)]),
        "kthvalue": (lambda m, x: m.kthvalue(x, 2, 1).values, [r(3, 5)]),
        "mode": (lambda m, x: m.mode(x, 1).values, [r(3, 5)]),
        "quantile": (lambda m, x, q: m.quantile(x, q, dim=1), [r(3, 6), q]),
        "quantile_all": (lambda m, x: m.quantile(x, 0.3), [r(3, 6)]),
        "nanquantile": (lambda m, x, q: m.nanquantile(x, q, dim=0, keepdim=True), [r(5, 3), q]),
        "aminmax": (lambda m, x: m.aminmax(x, dim=1).max, [r(3, 4)]),
        "nan_to_num": (lambda m, x: m.nan_to_num(x, posinf=3.0), [np.array([1.0, np.nan, np.inf, -2.0], dt)]),
    }


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("name", list(_cases("float32")))
def test_values_and_gradients(name, dt):
    fn, inputs = _cases(dt)[name]
    pairs = [both(a, grad=True) for a in inputs]
    e = fn(ember, *[p[0] for p in pairs])
    t = fn(torch, *[p[1] for p in pairs])
    check(e, t, TOL[dt])
    w = RNG.standard_normal(tuple(t.shape)).astype(dt)
    (e * ember.tensor(w)).sum().backward()
    (t * torch.tensor(w)).sum().backward()
    for (pe, pt) in pairs:
        if pt.grad is None:
            continue
        np.testing.assert_allclose(_np(pe.grad), pt.grad.numpy(), rtol=TOL[dt] * 10, atol=TOL[dt] * 10)


def _int(*s, hi=5):
    return RNG.integers(0, hi, size=s)


@pytest.mark.parametrize("call", [
    lambda m, T: m.tril_indices(3, 5, 1), lambda m, T: m.triu_indices(4, 3, -1),
    lambda m, T: m.meshgrid(T([1.0, 2.0]), T([3.0, 4.0, 5.0]), indexing="xy"),
    lambda m, T: m.meshgrid([T([1, 2]), T([3, 4, 5]), T([6])], indexing="ij"),
    lambda m, T: m.cartesian_prod(T([1, 2]), T([3, 4, 5])),
    lambda m, T: m.searchsorted(T([1, 3, 3, 5, 7]), T([[3, 6, 9], [0, 5, 3]])),
    lambda m, T: m.searchsorted(T([1, 3, 3, 5, 7]), T([[3, 6, 9], [0, 5, 3]]), right=True, out_int32=True),
    lambda m, T: m.searchsorted(T([[1, 3, 5], [2, 2, 4]]), T([[3, 4], [2, 9]]), side="right"),
    lambda m, T: m.searchsorted(T([5.0, 1.0, 3.0]), T([2.0, 5.0]), sorter=T([1, 2, 0])),
    lambda m, T: m.searchsorted(T([1.0, 2.0, 3.0]), 2.0),
    lambda m, T: m.bucketize(T([0.5, 1.0, 2.5, 9.0]), T([1.0, 2.0, 3.0]), right=True),
    lambda m, T: m.histc(T([1.0, 2.0, 1.0, 4.5, -1.0]), bins=4),
    lambda m, T: m.histc(T([1.0, 2.0, 1.0, 4.5, -1.0]), bins=3, min=0, max=3),
    lambda m, T: m.bincount(T([1, 3, 3, 0, 7])), lambda m, T: m.bincount(T([1, 3, 3]), minlength=6),
    lambda m, T: m.bincount(T([1, 3, 3]), weights=T([0.5, 1.0, 2.0])),
    lambda m, T: m.bincount(T([1, 3, 3]), weights=T([0.5, 1.0, 2.0]).double()),
    lambda m, T: m.unique(T([3, 1, 2, 1, 3])),
    lambda m, T: m.unique(T([[3, 1], [2, 1]]), return_inverse=True, return_counts=True),
    lambda m, T: m.unique(T([[1, 2], [0, 5], [1, 2]]), dim=0, return_inverse=True, return_counts=True),
    lambda m, T: T([[1, 2, 1], [0, 5, 0]]).unique(dim=1),
    lambda m, T: m.unique_consecutive(T([1, 1, 2, 2, 3, 1]), return_inverse=True, return_counts=True),
    lambda m, T: m.repeat_interleave(T([2, 0, 3])),
    lambda m, T: m.repeat_interleave(T([[1, 2], [3, 4]]), T([1, 2]), dim=0, output_size=3),
    lambda m, T: m.repeat_interleave(T([[1, 2], [3, 4]]), 2),
    lambda m, T: m.isclose(T([1.0, float("nan"), float("inf"), 2.0]), T([1.0 + 1e-9, float("nan"), float("inf"), 2.1])),
    lambda m, T: m.isclose(T([1.0, float("nan")]), T([1.0, float("nan")]), equal_nan=True),
    lambda m, T: T([0, 5]).to(m.uint8).isclose(T([1, 4]).to(m.uint8), rtol=0, atol=1),
    lambda m, T: m.allclose(T([1.0, 2.0]), T([1.0, 2.0 + 1e-7])), lambda m, T: m.allclose(T([1.0]), T([1.1])),
    lambda m, T: m.count_nonzero(T([[0, 1, 2], [3, 0, 0]]), dim=1), lambda m, T: T([[0, 1], [2, 0]]).count_nonzero(),
    lambda m, T: m.cummax(T([1, 3, 2, 5, 5, 0]), 0), lambda m, T: m.cummin(T([3.0, float("nan"), 1.0, 0.0]), 0),
    lambda m, T: m.mode(T([[1, 2, 2, 3, 3], [0, 0, 1, 1, 5]]), 1),
    lambda m, T: m.median(T([[1.0, float("nan"), 2.0], [4.0, 0.0, 2.0]]), 1),
    lambda m, T: m.nanmedian(T([[1.0, float("nan"), 2.0], [float("nan"), 3.0, 1.0]]), 1),
    lambda m, T: m.aminmax(T([[1, 2], [3, 0]])), lambda m, T: T([[1, 2], [3, 0]]).aminmax(dim=0, keepdim=True),
    lambda m, T: m.nan_to_num(T([float("nan"), float("inf"), -float("inf")]).half()),
    lambda m, T: m.nan_to_num(T([1, 2])),
    lambda m, T: m.quantile(T([1.0, 2.0, 3.0, 4.0]), 0.4, interpolation="midpoint"),
    lambda m, T: m.quantile(T([[1.0, 2.0, 3.0, 4.0]]).double(), T([0.1, 0.5]).double(), dim=1, interpolation="nearest"),
    lambda m, T: m.diag(T([[1, 2, 3], [4, 5, 6]]), 5),
    lambda m, T: m.kron(T([[1, 2]]), T([[1], [3]])),
], ids=lambda f: "")
def test_integer_and_edge_results(call):
    check(call(ember, ember.tensor), call(torch, torch.tensor))


@pytest.mark.parametrize("call, error", [
    (lambda m, T: m.diag(T([[[1.0]]])), ValueError),
    (lambda m, T: m.cross(T([[1.0, 2.0]]), T([[1.0, 2.0]]), dim=1), ValueError),
    (lambda m, T: m.tensordot(T([[1.0, 2.0, 3.0]] * 2), T([[1.0, 2.0, 3.0]] * 2), 1), ValueError),
    (lambda m, T: m.searchsorted(T([[1, 2]]), T([[1], [2]])), ValueError),
    (lambda m, T: m.bincount(T([1.0, 2.0])), TypeError),
    (lambda m, T: m.bincount(T([1, -2])), ValueError),
    (lambda m, T: m.histc(T([1, 2])), (TypeError, NotImplementedError)),
    (lambda m, T: m.kthvalue(T([1.0, 2.0]), 3), IndexError),
    (lambda m, T: m.quantile(T([1.0, 2.0]), 1.5), ValueError),
    (lambda m, T: m.quantile(T([1, 2]), 0.5), TypeError),
    (lambda m, T: m.isclose(T([1.0]), T([1])), TypeError),
    (lambda m, T: m.multinomial(T([0.5, -1.0]), 1), ValueError),
    (lambda m, T: m.multinomial(T([0.0, 0.0]), 1), ValueError),
    (lambda m, T: m.multinomial(T([1, 2]), 1), TypeError),
    (lambda m, T: m.meshgrid(T([1.0]), T([1]), indexing="ij"), TypeError),
    (lambda m, T: m.repeat_interleave(T([1.0, 2.0]), T([1, -1])), ValueError),
])
def test_errors(call, error):
    with pytest.raises(error):
        call(ember, ember.tensor)
    with pytest.raises((RuntimeError, ValueError, IndexError, TypeError)):
        call(torch, torch.tensor)


def test_multinomial_frequencies_and_seeds():
    p = ember.tensor([[0.1, 0.0, 0.6, 0.3], [1.0, 1.0, 1.0, 1.0]])
    g = ember.Generator("cpu").manual_seed(3) if hasattr(ember.Generator("cpu").manual_seed(3), "device") else None
    s = ember.multinomial(p, 40000, replacement=True, generator=g)
    assert s.shape == (2, 40000) and s.dtype is ember.int64
    freq = np.stack([np.bincount(_np(row), minlength=4) / 40000 for row in s])
    np.testing.assert_allclose(freq, [[0.1, 0.0, 0.6, 0.3], [0.25] * 4], atol=0.015)
    first = _np(ember.multinomial(p[0].expand(20000, 4), 2))
    assert (first[:, 0] != first[:, 1]).all() and (first != 1).all()
    np.testing.assert_allclose(np.bincount(first[:, 0], minlength=4) / 20000, [0.1, 0, 0.6, 0.3], atol=0.015)
    # second draw without replacement: P(j second) = sum_i p_i p_j / (1 - p_i)
    want2 = [sum(pi * pj / (1 - pi) for i, pi in enumerate([0.1, 0, 0.6, 0.3]) if i != j)
             for j, pj in enumerate([0.1, 0, 0.6, 0.3])]
    np.testing.assert_allclose(np.bincount(first[:, 1], minlength=4) / 20000, want2, atol=0.015)
    ember.manual_seed(5)
    a = ember.multinomial(p, 5, True)
    ember.manual_seed(5)
    assert _np(ember.multinomial(p, 5, True)).tolist() == _np(a).tolist()
    assert sorted(_np(ember.multinomial(ember.tensor([0.5, 0.0]), 2)).tolist()) == [0, 1]
    assert ember.multinomial(p[0], 3).shape == (3,) and p.multinomial(2).shape == (2, 2)


def test_poisson_moments():
    rates = ember.tensor([0.0, 0.5, 3.0, 9.9, 10.0, 50.0, 1000.0]).expand(6000, 7)
    y = ember.poisson(rates)
    assert y.dtype is ember.float32 and y.shape == (6000, 7)
    yn = _np(y)
    assert (yn == np.round(yn)).all() and (yn >= 0).all()
    lam = np.array([0.0, 0.5, 3.0, 9.9, 10.0, 50.0, 1000.0])
    np.testing.assert_allclose(yn.mean(0), lam, rtol=0.03, atol=0.05)
    np.testing.assert_allclose(yn.var(0), lam, rtol=0.1, atol=0.05)


def test_tensor_methods_type_and_cuda():
    x = ember.ones(2)
    assert x.type() == torch.ones(2).type() == "torch.FloatTensor"
    assert x.type("torch.LongTensor").dtype is ember.int64 and x.type(ember.float64).dtype is ember.float64
    assert x.long().type() == "torch.LongTensor" and x.is_cuda is False
    with pytest.raises(ValueError):
        x.type("float")
    if "cuda" not in {d.type for d in _devices()}:
        with pytest.raises((ember.BackendNotInstalledError, ember.BackendUnavailableError)):
            x.cuda()
        with pytest.raises((ember.BackendNotInstalledError, ember.BackendUnavailableError)):
            x.type("torch.cuda.FloatTensor")


def _devices():
    try:
        return [ember.device("cuda")] if ember.cuda.is_available() else []
    except Exception:  # noqa: BLE001
        return []


def test_methods_exist_where_pytorch_has_them():
    x = ember.tensor([[3.0, 1.0], [2.0, 2.0]])
    for name in ("diag", "diag_embed", "kron", "cross", "rot90", "repeat_interleave", "nan_to_num", "isclose",
                 "allclose", "median", "nanmedian", "mode", "kthvalue", "quantile", "nanquantile", "aminmax",
                 "count_nonzero", "logcumsumexp", "cummax", "cummin", "histc", "bincount", "unique",
                 "unique_consecutive", "multinomial"):
        assert hasattr(x, name) and hasattr(torch.Tensor, name), name
    assert x.median(0).indices.tolist() == [1, 0]


def test_on_the_npy_vendor_device():
    from fixture_plugins import load
    load("npy")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 6))
    xe, xt = ember.tensor(x, device="npy", requires_grad=True), torch.tensor(x, requires_grad=True)
    out_e = [ember.quantile(xe, 0.3, dim=1), ember.logcumsumexp(xe, 1), ember.cummax(xe, 0).values,
             ember.cdist(xe, xe[:2]), ember.median(xe, 1).values, ember.diag(xe, 1), ember.rot90(xe)]
    out_t = [torch.quantile(xt, 0.3, dim=1), torch.logcumsumexp(xt, 1), torch.cummax(xt, 0).values,
             torch.cdist(xt, xt[:2]), torch.median(xt, 1).values, torch.diag(xt, 1), torch.rot90(xt)]
    for e, t in zip(out_e, out_t):
        assert e.device.type == "npy"
        check(e.to("cpu"), t, 1e-10)
    sum(o.sum() for o in out_e).backward()
    sum(o.sum() for o in out_t).backward()
    np.testing.assert_allclose(_np(xe.grad.to("cpu")), xt.grad.numpy(), rtol=1e-9, atol=1e-9)
    ints = ember.tensor([3, 1, 3, 0, 1, 3], device="npy")
    vals, inv, cnt = ember.unique(ints, return_inverse=True, return_counts=True)
    assert vals.device.type == "npy" and vals.tolist() == [0, 1, 3] and cnt.tolist() == [1, 2, 3]
    assert inv.tolist() == [2, 1, 2, 0, 1, 2]
    assert ember.bincount(ints).tolist() == [1, 2, 0, 3]
    assert ember.searchsorted(ember.tensor([1, 3, 5], device="npy"), ints).tolist() == [1, 0, 1, 0, 0, 1]
    assert ember.multinomial(ember.tensor([0.2, 0.8], device="npy"), 4, True).device.type == "npy"
