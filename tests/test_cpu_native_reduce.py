"""The cpu backend's native max and min (backends/cpu/ember_cpu/native/reduce.cpp) against PyTorch and numpy.

max_all/min_all (the whole-array extremum) and max_dim/min_dim (values and the index of the first extremum
along a dim): every supported dtype, every dim of 1- to 4-d shapes, lengths around the vector loop's step,
NaNs (which win, at their first index), ties, infinities and signed zeros; and the arrays they leave to numpy
(other dtypes, non-contiguous, large), which must come back unchanged or as None."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from ember_cpu import _native

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(11)
DTYPES = [np.float32, np.float64, np.int32, np.int64]


def _data(shape, dtype, nans=0, ties=False):
    if np.issubdtype(dtype, np.integer):
        a = RNG.integers(-5 if ties else -10**6, 5 if ties else 10**6, size=shape).astype(dtype)
    else:
        a = RNG.standard_normal(shape).astype(dtype)
        if ties:
            a = np.round(a)
        flat = a.reshape(-1)
        for _ in range(nans):
            flat[RNG.integers(flat.size)] = np.nan
    return a


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 2, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 1000, 4096])
def test_max_min_all_match_numpy(dtype, n):
    for nans in ((0, 1, 3) if np.issubdtype(dtype, np.floating) else (0,)):
        a = _data((n,), dtype, nans=nans, ties=n > 50)
        for fn, ref in ((_native.max_all, np.max), (_native.min_all, np.min)):
            r = fn(a)
            assert isinstance(r, np.ndarray) and r.shape == () and r.dtype == a.dtype
            np.testing.assert_array_equal(r, ref(a))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_anywhere_in_the_vector_loop_wins(dtype):
    for n in (16, 40, 129):
        for pos in range(n):
            a = np.arange(n, dtype=dtype)
            a[pos] = np.nan
            assert np.isnan(_native.max_all(a)) and np.isnan(_native.min_all(a)), (n, pos)
            v, i = _native.max_dim(a, 0, False)
            assert np.isnan(v) and i == pos


def test_infinities_and_signed_zeros():
    a = np.array([-np.inf, -0.0, 0.0, -np.inf], np.float32)
    assert _native.max_all(a) == 0.0 and _native.min_all(a) == -np.inf
    a = np.full(40, -np.inf, np.float64)
    assert _native.max_all(a) == -np.inf
    v, i = _native.max_dim(a, 0, False)
    assert v == -np.inf and i == 0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(5,), (3, 4), (1, 33), (33, 1), (2, 3, 17), (2, 1, 3, 5)])
@pytest.mark.parametrize("keepdim", [False, True])
def test_max_min_dim_match_torch(dtype, shape, keepdim):
    floating = np.issubdtype(dtype, np.floating)
    a = _data(shape, dtype, nans=2 if floating else 0, ties=True)
    t = torch.from_numpy(a)
    for d in range(len(shape)):
        for name, fn in (("max", _native.max_dim), ("min", _native.min_dim)):
            values, indices = fn(a, d, keepdim)
            tv, ti = getattr(torch, name)(t, d, keepdim)
            assert values.dtype == a.dtype and indices.dtype == np.int64
            np.testing.assert_array_equal(values, tv.numpy(), err_msg=f"{name} dim {d}")
            np.testing.assert_array_equal(indices, ti.numpy(), err_msg=f"{name} dim {d}")


def test_arrays_left_to_numpy():
    a = RNG.standard_normal((4, 6)).astype(np.float32)
    strided = a[:, ::2]
    assert _native.max_dim(strided, 1, False) is None
    np.testing.assert_array_equal(_native.max_all(strided), strided.max())
    large = RNG.standard_normal(5000).astype(np.float32)
    assert _native.max_dim(large, 0, False) is None
    np.testing.assert_array_equal(_native.max_all(large), large.max())
    for other in (a.astype(np.float16), a > 0, a.astype(np.int8)):
        assert _native.max_dim(other, 0, False) is None
        np.testing.assert_array_equal(_native.max_all(other), other.max())


def test_bad_arguments_raise_typed_errors():
    with pytest.raises(ValueError, match="empty"):
        _native.max_all(np.zeros(0, np.float32))
    with pytest.raises(IndexError, match="out of range"):
        _native.max_dim(np.zeros((2, 3), np.float32), 2, False)
    with pytest.raises(ValueError, match="size 0"):
        _native.min_dim(np.zeros((2, 0), np.float64), 1, False)
    with pytest.raises(TypeError):
        _native.max_dim([1.0, 2.0], 0, False)


@pytest.mark.parametrize("name", ["max", "min"])
def test_tensor_max_min_over_a_dim_match_torch_with_gradients(name):
    v = _data((5, 7), np.float32, ties=True)
    a = ember.tensor(v, requires_grad=True)
    t = torch.from_numpy(v).requires_grad_()
    r, tr = getattr(a, name)(1), getattr(t, name)(1)
    np.testing.assert_array_equal(r.values.detach().numpy(), tr.values.detach().numpy())
    np.testing.assert_array_equal(r.indices.numpy(), tr.indices.numpy())
    r.values.sum().backward()
    tr.values.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), t.grad.numpy())
