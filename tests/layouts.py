"""Test inputs in every layout an operator must handle: contiguous, 0-d, empty, transposed, step-sliced."""

from __future__ import annotations

import ml_dtypes
import numpy as np

import ember

LAYOUTS = ("contiguous", "scalar", "empty", "transposed", "stepped")


def random_array(shape, dtype, rng, low=-3.0, high=3.0):
    npdt = np.dtype(dtype.np)
    if dtype is ember.bool:
        return rng.random(shape) < 0.5
    if npdt.kind in "iu":
        lo = max(int(low), np.iinfo(npdt).min)
        hi = min(int(high) + 1, np.iinfo(npdt).max)
        return rng.integers(lo, hi, size=shape).astype(npdt)
    return rng.uniform(low, high, size=shape).astype(npdt)


def make(layout, dtype, rng, shape=(3, 4), **kw):
    """(ember tensor, numpy array of the same values) in the given layout."""
    if layout == "scalar":
        a = random_array((), dtype, rng, **kw)
        return ember.tensor(a, dtype=dtype), a
    if layout == "empty":
        a = random_array((0, shape[1]), dtype, rng, **kw)
        return ember.tensor(a, dtype=dtype), a
    if layout == "transposed":
        a = random_array(shape[::-1], dtype, rng, **kw)
        t = ember.tensor(a, dtype=dtype).t()
        assert not t.is_contiguous()
        return t, a.T
    if layout == "stepped":
        a = random_array((shape[0] * 2, shape[1] * 3), dtype, rng, **kw)
        sl = ember.dispatch.get("slice").fn
        t = sl(sl(ember.tensor(a, dtype=dtype), 0, None, None, 2), 1, 1, None, 3)
        return t, a[::2, 1::3]
    a = random_array(shape, dtype, rng, **kw)
    return ember.tensor(a, dtype=dtype), a


def to_f64(a):
    a = np.asarray(a)
    if a.dtype == ml_dtypes.bfloat16 or a.dtype == np.float16:
        return a.astype(np.float64)
    return a


TOL = {  # (rtol, atol) per dtype: data, not code
    "float16": (2e-3, 2e-3), "bfloat16": (1.6e-2, 1e-2), "float32": (1.3e-6, 1e-5),
    "float64": (1e-12, 1e-12),
}


def assert_close(got: ember.Tensor, want, dtype=None):
    dtype = dtype or got.dtype
    want = np.asarray(want)
    assert tuple(got.shape) == want.shape, (tuple(got.shape), want.shape)
    g = to_f64(got.numpy())
    w = to_f64(want)
    if dtype.is_floating_point:
        rtol, atol = TOL[dtype.name]
        np.testing.assert_allclose(g, w.astype(np.float64), rtol=rtol, atol=atol, equal_nan=True)
    else:
        np.testing.assert_array_equal(g, w)


def tensor_in(a, dtype, layout):
    """An ember tensor holding the values of ``a``; "transposed" and "stepped" give
    non-contiguous tensors when ``a`` has 2 or more dims."""
    if layout == "contiguous" or a.ndim < 2:
        return ember.tensor(a, dtype=dtype)
    if layout == "transposed":
        rev = tuple(range(a.ndim - 1, -1, -1))
        t = ember.tensor(np.ascontiguousarray(a.transpose(rev)), dtype=dtype).permute(rev)
    else:
        big = np.zeros(tuple(2 * n + 1 for n in a.shape), dtype=a.dtype)
        big[tuple(slice(1, None, 2) for _ in a.shape)] = a
        t = ember.tensor(big, dtype=dtype)[tuple(slice(1, None, 2) for _ in a.shape)]
    assert not t.is_contiguous() or a.size <= 1
    return t
