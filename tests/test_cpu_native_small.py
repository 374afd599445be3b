"""The cpu backend's kernels for small arrays (backends/cpu/ember_cpu/native/elementwise.cpp, reduce.cpp) against
numpy, whose drop-ins they are, and PyTorch.

add/sub/mul/true_divide (broadcasting, Python numbers, out=) and relu must give numpy's bits exactly; sum and
mean numpy's pairwise order (the same bits) at every length up to the size limit; max_all/min_all (the
whole-array extremum) and max_dim/min_dim (values and the index of the first extremum along a dim) every
supported dtype, every dim of 1- to 4-d shapes, lengths around the vector loop's step, NaNs (which win, at their
first index), ties, infinities and signed zeros. The arrays they leave to numpy (other dtypes, non-contiguous,
large, shapes that do not broadcast) must come back as numpy's own results, or its errors."""

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


def test_signed_zeros_are_numpys():
    rng = np.random.default_rng(3)
    for _ in range(300):
        a = rng.choice(np.array([0.0, -0.0, -1.0], np.float32), size=int(rng.integers(1, 40)))
        _bits_equal(_native.max_all(a), np.maximum.reduce(a, None))
        _bits_equal(_native.min_all(a), np.minimum.reduce(a, None))
        v, i = _native.max_dim(a, 0, False)
        k = np.argmax(a)
        assert i == k and v.tobytes() == a[k].tobytes()   # the element at the index, sign included


def test_mean_takes_what_numpy_takes():
    np.testing.assert_allclose(_native.mean([1.0, 2.0, 4.0]), np.mean([1.0, 2.0, 4.0]))
    x = np.arange(6.0).reshape(2, 3)
    _bits_equal(_native.mean(x, (-1,), False), np.true_divide(np.add.reduce(x, (-1,)), 3))
    _bits_equal(_native.sum(x, (-2,), True), np.add.reduce(x, (-2,), None, None, True))


def test_read_only_out_is_numpys_error():
    a = np.ones((2, 2), np.float32)
    ro = np.zeros((2, 2), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        _native.add(a, a, ro)


def test_bad_arguments_raise_typed_errors():
    with pytest.raises(ValueError, match="empty"):
        _native.max_all(np.zeros(0, np.float32))
    with pytest.raises(IndexError, match="out of range"):
        _native.max_dim(np.zeros((2, 3), np.float32), 2, False)
    with pytest.raises(ValueError, match="size 0"):
        _native.min_dim(np.zeros((2, 0), np.float64), 1, False)
    with pytest.raises(TypeError):
        _native.max_dim([1.0, 2.0], 0, False)


SPECIALS = np.array([0.0, -0.0, 1.5, -2.25, np.inf, -np.inf, np.nan, 1e-40, 3e38, -7.0])


def _bits_equal(r, ref):
    """Same dtype, shape and bytes (a 0-d result may be a 0-d array where numpy gives a scalar)."""
    assert isinstance(r, (np.ndarray, np.generic)) and isinstance(ref, (np.ndarray, np.generic))
    r, ref = np.asarray(r), np.asarray(ref)
    assert r.dtype == ref.dtype and r.shape == ref.shape
    assert r.tobytes() == ref.tobytes(), (r, ref)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, ufunc", [("add", np.add), ("sub", np.subtract), ("mul", np.multiply),
                                         ("true_divide", np.true_divide)])
@pytest.mark.parametrize("sa, sb", [((4, 4), (4, 4)), ((4, 4), (4,)), ((3, 1), (1, 5)), ((2, 3, 4), (3, 1)),
                                    ((5,), (2, 1, 5)), ((), (3,)), ((4,), ()), ((1,), (1,)), ((2, 1, 3), (2, 4, 1))])
def test_binary_gives_numpys_bits(dtype, name, ufunc, sa, sb):
    fn = getattr(_native, name)
    a = RNG.choice(SPECIALS, size=sa).astype(dtype)
    b = RNG.choice(SPECIALS, size=sb).astype(dtype)
    with np.errstate(all="ignore"):
        _bits_equal(fn(a, b), ufunc(a, b))
        for s in (2.5, -3, 0, 1e300, -0.0, float("nan"), 2 ** 60):
            _bits_equal(fn(a, s), ufunc(a, s))


@pytest.mark.parametrize("name, ufunc", [("add", np.add), ("mul", np.multiply), ("true_divide", np.true_divide)])
def test_binary_writes_out_in_place_as_numpy(name, ufunc):
    fn = getattr(_native, name)
    a = RNG.standard_normal((4, 4)).astype(np.float32)
    b = RNG.standard_normal((4,)).astype(np.float32)
    ref = ufunc(a, b)
    r = fn(a, b, a)
    assert r is a
    _bits_equal(a, ref)
    out = np.empty((4, 4), np.float32)
    assert fn(a, 2.0, out) is out
    _bits_equal(out, ufunc(a, 2.0))
    # a shifted view of the output as an operand: numpy's buffered rule, not a read after write here
    base = RNG.standard_normal(20).astype(np.float32)
    expect = base.copy()
    ufunc(expect[:16], expect[4:20].copy(), expect[:16])
    fn(base[:16], base[4:20], base[:16])
    _bits_equal(base, expect)


def test_binary_leaves_other_arrays_to_numpy():
    a = RNG.standard_normal((4, 4)).astype(np.float32)
    for x, y in [(a.astype(np.int32), a.astype(np.int32)), (a, a.astype(np.float64)), (a[:, ::2], a[:, 1::2]),
                 (a.astype(np.float16), a.astype(np.float16)), (RNG.standard_normal(5000), 1.0), (a, True),
                 (a, np.float32(2)), (a, 2 ** 80), (a, 1j), (np.zeros((0, 4), np.float32), a[0])]:
        _bits_equal(_native.add(x, y), np.add(x, y))
    with pytest.raises(ValueError):
        _native.mul(a, a[:3])   # numpy's own broadcast error
    with pytest.raises(TypeError):
        _native.add()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_is_numpys_maximum_with_zero(dtype):
    for shape in [(), (7,), (4, 4), (3, 5, 2)]:
        x = RNG.choice(SPECIALS, size=shape).astype(dtype)
        _bits_equal(_native.relu(x), np.maximum(x, 0))
    big = RNG.standard_normal(5000).astype(dtype)
    _bits_equal(_native.relu(big), np.maximum(big, 0))
    _bits_equal(_native.relu(big[::2]), np.maximum(big[::2], 0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sum_and_mean_give_numpys_bits_at_every_length(dtype):
    for n in list(range(1, 300)) + [511, 1000, 4095, 4096, 4097, 9000]:
        x = (RNG.standard_normal(n) * 1e3).astype(dtype)
        _bits_equal(_native.sum(x), np.asarray(np.add.reduce(x, None)))
        _bits_equal(_native.mean(x), np.asarray(np.true_divide(np.add.reduce(x, None), n)))
    x = RNG.standard_normal((6, 8)).astype(dtype)
    _bits_equal(_native.sum(x), np.asarray(np.add.reduce(x, (0, 1))))   # the sum kernel's dims form
    _bits_equal(_native.sum(x, (1,), True), np.add.reduce(x, (1,), None, None, True))
    _bits_equal(_native.mean(x, (0,), False), np.true_divide(np.add.reduce(x, (0,)), 6))
    _bits_equal(np.asarray(_native.sum(x[:, ::3])), np.asarray(np.add.reduce(x[:, ::3], None)))
    _bits_equal(np.asarray(_native.sum(np.full(9, -0.0, dtype))), np.asarray(np.add.reduce(np.full(9, -0.0, dtype))))
    with np.errstate(all="ignore"):
        for v in (np.inf, np.nan):
            y = x.copy()
            y[2, 3] = v
            _bits_equal(_native.sum(y), np.asarray(np.add.reduce(y, None)))


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
