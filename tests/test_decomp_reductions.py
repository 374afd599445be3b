"""The decompositions of core/ops/decompositions/reductions.py, run on the npy fixture device.

npy (tests/fixtures/plugins/npy) has kernels for the required prims only, so fill_, prod, amin,
all, any, argmax, argmin, cumsum, cumprod, flip, nonzero and sort run there through their
decompositions. Results are compared with numpy and torch over wide ranges and special values,
per dtype.
"""

from __future__ import annotations


import numpy as np
import pytest
import torch

import ember
from fixture_plugins import load
from ember import dtypes as D

OPS = ("fill_", "prod", "amin", "all", "any", "argmax", "argmin", "cumsum", "cumprod", "flip", "nonzero", "sort")
FLOATS = (D.float16, D.bfloat16, D.float32, D.float64)
INTS = (D.uint8, D.int8, D.int16, D.int32, D.int64)
ALL = (D.bool,) + INTS + FLOATS
TOL = {D.float16: 2e-3, D.bfloat16: 1.6e-2, D.float32: 2e-6, D.float64: 1e-12}   # the suite's rtol


load("npy")
rng = np.random.default_rng(1234)


def T(a, dtype=None):
    """An npy tensor holding numpy array ``a`` (as ``dtype``)."""
    a = np.asarray(a)
    if dtype is not None:
        with np.errstate(all="ignore"):
            a = a.astype(dtype.np)
    return ember.tensor(a, device="npy")


def N(t):
    return t.cpu().numpy()


def sample(dt, shape, ties=False):
    """Values of dtype dt over its whole range, with the special values mixed in."""
    n = int(np.prod(shape))
    if dt is D.bool:
        a = rng.random(n) < 0.5
    elif dt.is_floating_point:
        a = rng.standard_normal(n) * np.exp2(rng.integers(-20, 20, n))
        if ties:
            a = np.round(a * 2) / 2
        sp = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 1e30, -1e-30, np.nan])
        k = min(n // 3, sp.size)
        a[rng.choice(n, k, replace=False)] = sp[:k]
    else:
        info = np.iinfo(dt.np)
        a = rng.integers(-3, 4, n) if ties else rng.integers(info.min, info.max, n, endpoint=True)
        a[: min(2, n)] = [info.min, info.max][: min(2, n)]
        rng.shuffle(a)
    with np.errstate(all="ignore"):
        return a.astype(dt.np).reshape(shape)


def as_torch(a):
    if a.dtype == D.bfloat16.np:
        return torch.from_numpy(a.astype(np.float32)).to(torch.bfloat16)
    return torch.from_numpy(np.ascontiguousarray(a))


def same(got, want):
    """Bit-for-bit equal as float64 values (NaN matches NaN; the sign of zero is checked)."""
    g, w = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert g.shape == w.shape, (g.shape, w.shape)
    ok = (g == w) & (np.signbit(g) == np.signbit(w)) | (np.isnan(g) & np.isnan(w))
    assert ok.all(), f"got {g[~ok][:8]}, want {w[~ok][:8]}"


def test_these_ops_decompose_on_npy():
    for name in OPS:
        op = ember.dispatch.get(name)
        assert not op.is_prim and op.decomposition is not None, name
        assert "npy" not in {b.device_type for b in _backends_with_kernel(op)}, name


def _backends_with_kernel(op):
    from ember.plugins.manager import registered_backends
    return [b for b in registered_backends() if b.key.index in op.kernels]


# -- fill_ ---------------------------------------------------------------------------------

@pytest.mark.parametrize("dt", ALL, ids=str)
def test_fill(dt):
    # Values PyTorch accepts for every dtype here (it refuses ints and floats out of a dtype's range).
    values = [True, False] if dt is D.bool else [0, 1, -1, 127, -128] if not dt.is_floating_point else \
        [0.0, -0.0, 1.5, np.nan, np.inf, -np.inf, 6e4, 1e-300]
    for v in values:
        x = ember.empty((3, 4), dtype=dt, device="npy").fill_(v)
        want = torch.full((3, 4), v, dtype=torch.float64 if dt.is_floating_point else torch.int64)
        with np.errstate(all="ignore"):
            same(N(x), want.numpy().astype(dt.np))
    x = ember.zeros((4, 5), dtype=dt, device="npy")
    x[1:3, ::2].fill_(1)
    want = np.zeros((4, 5), dt.np)
    want[1:3, ::2] = 1
    same(N(x), want)
    same(N(ember.full((), 1, dtype=dt, device="npy")), np.ones((), dt.np))


# -- prod, amin, all, any ----------------------------------------------------------------

DIMS = [None, 0, 1, (0, 2), (1, 2), 2]


@pytest.mark.parametrize("dt", ALL, ids=str)
@pytest.mark.parametrize("n", [1, 3, 8, 13])
def test_prod(dt, n):
    a = sample(dt, (3, n, 5))
    if dt.is_floating_point:   # keep most products finite
        a = np.where(np.isfinite(a), (1 + 0.05 * rng.standard_normal(a.shape)), a).astype(dt.np)
    wide = a.astype(np.float64 if dt.is_floating_point else np.int64)
    for dim in DIMS:
        for keepdim in (False, True):
            got = ember.prod(T(a), dim, keepdim)
            with np.errstate(all="ignore"):
                want = np.prod(wide, axis=dim, keepdims=keepdim)   # int64 products wrap as Ember's do
            if dt.is_floating_point:
                assert got.dtype is dt
                with np.errstate(all="ignore"):
                    w = want.astype(dt.np).astype(np.float64)
                assert np.allclose(N(got).astype(np.float64), w, rtol=TOL[dt], atol=0, equal_nan=True), dim
            else:
                assert got.dtype is D.int64
                same(N(got), want)


def test_prod_dtype_empty_and_0d():
    a = np.arange(1, 21, dtype=np.int8)
    same(N(ember.prod(T(a), dtype=D.int8)), np.prod(a, dtype=np.int8))   # wraps in int8
    same(N(ember.prod(T(a), dtype=D.int64)), np.prod(a.astype(np.int64)))
    same(N(ember.prod(T(np.zeros((2, 0, 3), np.float32)), 1)), np.ones((2, 3)))
    same(N(ember.prod(T(np.zeros((0,), np.int32)))), 1)
    x0 = T(np.array(2.5, np.float16))
    r = ember.prod(x0)
    x0.fill_(7)   # the result is a new tensor, not x0
    same(N(r), 2.5)
    # float16 accumulates in float32: 300 * 300 / 300... stays finite where float16 steps would overflow
    h = np.array([300, 300, 1 / 300, 1 / 300], np.float16)
    same(N(ember.prod(T(h))), np.float16(np.prod(h.astype(np.float32))))


@pytest.mark.parametrize("dt", ALL, ids=str)
def test_amin(dt):
    a = sample(dt, (4, 9, 6))
    for dim in DIMS:
        kw = {} if dim is None else {"dim": dim, "keepdim": True}
        want = np.min(a, axis=dim, keepdims=dim is not None)
        same(N(ember.amin(T(a), **kw)), want)
    same(N(ember.amin(T(np.array(a.flat[0])))), a.flat[0])


def test_amin_signed_zero_and_nan():
    assert np.isnan(N(ember.amin(T(np.array([1.0, np.nan, -np.inf], np.float32)))))
    same(N(ember.amin(T(np.array([np.inf, -0.0, 5.0], np.float32)))), -0.0)


@pytest.mark.parametrize("dt", ALL, ids=str)
def test_all_any(dt):
    a = sample(dt, (4, 5, 6))
    if dt is not D.bool:
        a[rng.random(a.shape) < 0.3] = 0
    a[1] = 1  # a row with no zeros
    for dim in DIMS:
        kw = {} if dim is None else {"dim": dim, "keepdim": dim == 1}
        same(N(ember.all(T(a), **kw)), np.all(a, axis=dim, keepdims=dim == 1))
        same(N(ember.any(T(a), **kw)), np.any(a, axis=dim, keepdims=dim == 1))
    same(N(ember.all(T(a), dim=[])), a.astype(bool))
    e = np.zeros((3, 0), dt.np)
    same(N(ember.all(T(e), 1)), [True] * 3)
    same(N(ember.any(T(e), 1)), [False] * 3)
    same(N(ember.any(T(np.array(a.flat[3])))), bool(a.flat[3]))


def test_nan_counts_as_nonzero():
    x = T(np.array([np.nan, 0.0, -0.0], np.float32))
    same(N(ember.all(x[:1])), True)
    same(N(ember.any(x[1:])), False)


# -- argmax, argmin ------------------------------------------------------------------------

@pytest.mark.parametrize("dt", ALL, ids=str)
@pytest.mark.parametrize("which", ["argmax", "argmin"])
def test_argmax_argmin(dt, which):
    for ties in (False, True):
        a = sample(dt, (5, 7, 4), ties=ties)
        ref = getattr(torch, which)
        f = getattr(ember, which)
        for dim in (None, 0, 1, 2, -1):
            for keepdim in (False, True):
                got = f(T(a), dim, keepdim)
                want = ref(as_torch(a).int() if dt is D.bool else as_torch(a), dim, keepdim)
                assert got.dtype is D.int64
                same(N(got), want.numpy())
    same(N(getattr(ember, which)(T(np.array(a.flat[0])))), 0)


def test_argmax_first_nan_and_first_tie():
    a = np.array([[1, 3, np.nan, 3, np.nan], [-np.inf, -np.inf, 2, 2, -np.inf]], np.float32)
    same(N(ember.argmax(T(a), 1)), [2, 2])
    same(N(ember.argmin(T(a), 1)), [2, 0])


# -- cumsum, cumprod -----------------------------------------------------------------------

@pytest.mark.parametrize("dt", ALL, ids=str)
@pytest.mark.parametrize("which", ["cumsum", "cumprod"])
def test_scans(dt, which):
    for n in (1, 2, 5, 16, 37):
        a = sample(dt, (3, n, 4))
        if dt.is_floating_point and which == "cumprod":
            a = (1 + 0.05 * rng.standard_normal(a.shape)).astype(dt.np)
        elif dt.is_floating_point:
            a = rng.standard_normal(a.shape).astype(dt.np)
        for dim in (0, 1, 2, -1):
            got = getattr(ember, which)(T(a), dim)
            t = as_torch(a)
            if dt.is_floating_point:
                want = getattr(torch, which)(t.double(), dim)
                # the reference: each output of the exact scan of the inputs, rounded once to dt
                w = want.numpy().astype(dt.np).astype(np.float64)
                g = N(got).astype(np.float64)
                assert got.dtype is dt
                atol = TOL[dt] * np.abs(getattr(np, which)(np.abs(a.astype(np.float64)), dim)).max() \
                    if which == "cumsum" else 0
                assert np.allclose(g, w, rtol=TOL[dt], atol=atol), (n, dim)
            else:
                want = getattr(torch, which)(t.long(), dim)   # bool and ints accumulate in int64
                assert got.dtype is D.int64
                same(N(got), want.numpy())


def test_scan_dtype_wraps_and_0d():
    a = np.arange(1, 40, dtype=np.int64)
    same(N(ember.cumsum(T(a), 0, dtype=D.int8)), np.cumsum(a.astype(np.int8), dtype=np.int8))
    same(N(ember.cumprod(T(a), 0, dtype=D.int16)), np.cumprod(a.astype(np.int16), dtype=np.int16))
    same(N(ember.cumsum(T(np.array(3, np.int32)), 0)), 3)
    # float16 accumulates in float32: 2048 + 1 + 1 stays exact before the rounding of each output
    h = np.array([2048, 1, 1, 1, 1], np.float16)
    same(N(ember.cumsum(T(h), 0)), np.cumsum(h.astype(np.float32)).astype(np.float16))
    x = T(np.array([1.0, np.inf, -np.inf, 2.0], np.float32))
    same(N(ember.cumsum(x, 0)), [1.0, np.inf, np.nan, np.nan])


# -- flip, nonzero -------------------------------------------------------------------------

@pytest.mark.parametrize("dt", ALL, ids=str)
def test_flip(dt):
    a = sample(dt, (3, 4, 5))
    for dims in ((0,), (2,), (0, 2), (0, 1, 2), (-1, 0)):
        same(N(ember.flip(T(a), dims)), np.flip(a, dims))
    x = T(a).permute(2, 0, 1)[1:, :, ::2]    # a strided input
    same(N(ember.flip(x, (0, 2))), np.flip(np.transpose(a, (2, 0, 1))[1:, :, ::2], (0, 2)))


@pytest.mark.parametrize("dt", ALL, ids=str)
def test_nonzero(dt):
    for shape in ((7,), (4, 5), (2, 3, 4, 3)):
        a = sample(dt, shape)
        if dt is not D.bool:
            a[rng.random(shape) < 0.4] = 0
        got = ember.nonzero(T(a))
        assert got.dtype is D.int64
        same(N(got), np.argwhere(a))
    same(N(ember.nonzero(T(np.zeros((3, 2), dt.np)))).reshape(-1), [])
    assert tuple(ember.nonzero(T(np.zeros((3, 2), dt.np))).shape) == (0, 2)
    assert tuple(ember.nonzero(T(np.ones((), dt.np))).shape) == (1, 0)
    assert tuple(ember.nonzero(T(np.zeros((), dt.np))).shape) == (0, 0)
    assert tuple(ember.nonzero(T(np.zeros((2, 0), dt.np))).shape) == (0, 2)


def test_nonzero_nan_and_as_tuple():
    a = np.array([[0.0, np.nan], [-0.0, 2.0]], np.float32)
    same(N(ember.nonzero(T(a))), [[0, 1], [1, 1]])
    rows, cols = ember.nonzero(T(a), as_tuple=True)
    same(N(rows), [0, 1])
    same(N(cols), [1, 1])


# -- sort ----------------------------------------------------------------------------------

def _want_sort(a, dim, descending):
    """torch's stable sort (NaN largest), the reference for values and indices."""
    v, i = torch.sort(as_torch(a), dim=dim, descending=descending, stable=True)
    return v.float().numpy() if a.dtype == D.bfloat16.np else v.numpy(), i.numpy()


@pytest.mark.parametrize("dt", ALL, ids=str)
@pytest.mark.parametrize("descending", [False, True])
def test_sort(dt, descending):
    for n in (2, 3, 5, 8, 13, 31, 64, 100):
        for ties in (False, True):
            a = sample(dt, (3, n), ties=ties)
            v, i = ember.sort(T(a), -1, descending)
            wv, wi = _want_sort(a, -1, descending)
            same(N(i), wi)
            same(N(v), wv)
            assert v.dtype is dt and i.dtype is D.int64
            if not descending:   # the same order as numpy's stable argsort
                same(N(i), np.argsort(a, -1, kind="stable"))
    a = sample(dt, (9, 2, 3), ties=True)
    v, i = ember.sort(T(a), 0, descending, stable=True)
    wv, wi = _want_sort(a, 0, descending)
    same(N(i), wi)
    same(N(v), wv)


def test_sort_specials_stable_both_directions():
    a = np.array([np.nan, 1.0, -0.0, np.inf, 0.0, np.nan, -np.inf, 1.0, np.inf, -np.inf, 0.0], np.float32)
    v, i = ember.sort(T(a))
    same(N(i), [6, 9, 2, 4, 10, 1, 7, 3, 8, 0, 5])
    same(N(v), a[[6, 9, 2, 4, 10, 1, 7, 3, 8, 0, 5]])   # -0.0 keeps its sign
    v, i = ember.sort(T(a), descending=True)
    same(N(i), [0, 5, 3, 8, 1, 7, 2, 4, 10, 6, 9])
    # padding (11 -> 16) sits past +inf and NaN ascending, past -inf descending: never in the result
    assert N(i).max() == 10


def test_sort_integer_extremes_with_padding():
    for dt in INTS + (D.bool,):
        info = np.iinfo(dt.np) if dt is not D.bool else None
        vals = [True, False, True] if dt is D.bool else [info.max, 0, info.min, info.max, 1, info.min, 0]
        a = np.array(vals, dt.np)   # 3 or 7 elements: padded with the dtype's extreme
        for descending in (False, True):
            v, i = ember.sort(T(a), descending=descending)
            wv, wi = _want_sort(a, -1, descending)
            same(N(i), wi)
            same(N(v), wv)


def test_argsort_and_topk_through_sort():
    a = sample(D.float32, (4, 21), ties=True)
    same(N(ember.argsort(T(a), -1)), np.argsort(a, -1, kind="stable"))
    v, i = ember.topk(T(a), 5)
    wv, wi = _want_sort(a, -1, True)   # topk is the head of the stable descending sort
    same(N(v), wv[:, :5])
    same(N(i), wi[:, :5])


# -- philox_random: decomposed onto integer ops, bit for bit ------------------------------------

def test_philox_words_match_cpu():
    assert not ember.dispatch.get("philox_random").is_prim
    for n, seed, offset in [(1, 0, 0), (7, 1, 2), (1001, 2**64 - 1, 2**128 - 5), (4097, 123456789, 2**32 - 1)]:
        same(N(ember.philox_random([n], seed, offset, device="npy")), ember.philox_random([n], seed, offset).numpy())
    words = N(ember.philox_random([4], 0, 0, device="npy"))
    assert [int(w) for w in words] == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]   # the known answer


@pytest.mark.parametrize("dt", FLOATS, ids=str)
def test_rand_randn_randint_match_cpu_bitwise(dt):
    def draw(device):
        ember.manual_seed(11)
        return (N(ember.rand(999, dtype=dt, device=device)), N(ember.randn(999, dtype=dt, device=device)),
                N(ember.randint(-2**62, 2**62, (999,), device=device)))
    for got, want in zip(draw("npy"), draw("cpu")):
        assert got.dtype == want.dtype and got.tobytes() == want.tobytes()
