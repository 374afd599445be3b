"""sort, argsort and topk against numpy and PyTorch: stable ties, NaN as the largest value, every dtype."""

import numpy as np
import pytest

import ember

from layouts import random_array, tensor_in

DTYPES = ember.dtypes.all_dtypes
RNG = np.random.default_rng(5)
LAYOUTS = ("contiguous", "transposed", "stepped")


def with_ties(shape, dtype):
    """Few distinct values (many ties); NaN and infinities for floating dtypes."""
    a = random_array(shape, dtype, RNG, low=-3, high=3)
    if dtype.is_floating_point:
        a = np.round(a.astype(np.float64)).astype(a.dtype)
        flat = a.reshape(-1)
        flat[RNG.integers(0, flat.size, size=max(1, flat.size // 6))] = np.nan
        flat[RNG.integers(0, flat.size, size=max(1, flat.size // 10))] = np.inf
        flat[RNG.integers(0, flat.size, size=max(1, flat.size // 10))] = -np.inf
    return a


def np_stable_sort(a, dim, descending):
    """numpy's stable argsort (NaN last) with PyTorch's descending order (NaN first, ties in input order)."""
    key = a.astype(np.float64) if a.dtype.kind == "f" or a.dtype.name == "bfloat16" else a
    if descending:
        n = a.shape[dim]
        idx = (n - 1) - np.flip(np.argsort(np.flip(key, dim), axis=dim, kind="stable"), dim)
    else:
        idx = np.argsort(key, axis=dim, kind="stable")
    return np.take_along_axis(a, idx, axis=dim), idx


def same(got, want):
    want = np.asarray(want)
    assert tuple(got.shape) == want.shape, (tuple(got.shape), want.shape)
    assert got.dtype.np == want.dtype, (got.dtype, want.dtype)
    g = got.numpy()
    if want.dtype.name == "bfloat16":   # numpy's NaN-aware comparison needs a numpy float type
        g, want = g.astype(np.float64), want.astype(np.float64)
    np.testing.assert_array_equal(g, want)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_sort_stable(dtype, layout):
    a = with_ties((5, 6, 7), dtype)
    x = tensor_in(a, dtype, layout)
    for dim in (0, 1, -1):
        for descending in (False, True):
            values, indices = x.sort(dim, descending, stable=True)
            wv, wi = np_stable_sort(a, dim % 3, descending)
            same(values, wv)
            same(indices, wi)
            same(x.argsort(dim, descending, stable=True), wi)
            r = ember.sort(x, dim=dim, descending=descending, stable=True)
            assert r.values is not None and r.indices is not None
            same(r.values, wv)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_sort_matches_torch(dtype):
    torch = pytest.importorskip("torch")
    a = with_ties((4, 33), dtype)
    t = torch.from_numpy(a.astype(np.float32) if dtype is ember.bfloat16 else a)
    if dtype is ember.bfloat16:
        t = t.to(torch.bfloat16)
    x = ember.tensor(a, dtype=dtype)
    for descending in (False, True):
        got = x.sort(-1, descending=descending, stable=True)
        want = t.sort(dim=-1, descending=descending, stable=True)
        np.testing.assert_array_equal(got.indices.numpy(), want.indices.numpy())
        np.testing.assert_array_equal(got.values.numpy().astype(np.float64),
                                      want.values.to(torch.float64).numpy())


def test_sort_nan_order():
    x = ember.tensor([1.0, float("nan"), 0.0, float("nan"), 1.0, -float("inf"), float("inf")])
    v, i = x.sort()
    np.testing.assert_array_equal(v.numpy(), [-np.inf, 0, 1, 1, np.inf, np.nan, np.nan])
    same(i, np.array([5, 2, 0, 4, 6, 1, 3]))
    v, i = x.sort(descending=True, stable=True)
    np.testing.assert_array_equal(v.numpy(), [np.nan, np.nan, np.inf, 1, 1, 0, -np.inf])
    same(i, np.array([1, 3, 6, 0, 4, 2, 5]))
    # -0.0 and 0.0 are equal: a stable sort keeps their order
    v, i = ember.tensor([0.0, -0.0, 0.0, -0.0]).sort(stable=True)
    same(i, np.arange(4))


def test_sort_unstable_is_still_a_sort():
    a = with_ties((6, 20), ember.float32)
    values, indices = ember.tensor(a).sort(1)
    same(values, np.take_along_axis(a, indices.numpy(), 1))
    same(values, np.sort(a, axis=1))


def test_sort_0d_empty_and_single():
    v, i = ember.tensor(3.0).sort()
    same(v, np.float32(3.0))
    same(i, np.int64(0))
    v, i = ember.zeros(0, 4).sort(0)
    same(v, np.zeros((0, 4), np.float32))
    same(i, np.zeros((0, 4), np.int64))
    v, i = ember.tensor([[2.0], [1.0]]).sort(dim=1, descending=True)
    same(v, np.array([[2.0], [1.0]], np.float32))
    same(i, np.zeros((2, 1), np.int64))
    same(ember.tensor(7).argsort(), np.int64(0))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_topk(dtype, layout):
    a = with_ties((5, 8), dtype)
    x = tensor_in(a, dtype, layout)
    for dim, k in ((1, 3), (0, 2), (-1, 8), (0, 0)):
        for largest in (True, False):
            values, indices = x.topk(k, dim, largest=largest)
            wv, _ = np_stable_sort(a, dim % 2, largest)
            same(values, np.take(wv, range(k), axis=dim))
            same(values, np.take_along_axis(a, indices.numpy(), axis=dim))   # the indices point at them
    r = ember.topk(x, 2)
    assert type(r).__name__ == "topk" and r.values.shape == (5, 2)


def test_topk_matches_torch():
    torch = pytest.importorskip("torch")
    a = with_ties((3, 40), ember.float32)
    a[0, :5] = np.nan
    x, t = ember.tensor(a), torch.from_numpy(a)
    for k in (1, 7, 40):
        for largest in (True, False):
            got, want = x.topk(k, largest=largest), t.topk(k, largest=largest)
            np.testing.assert_array_equal(got.values.numpy(), want.values.numpy())


def test_topk_0d():
    v, i = ember.tensor(5.0).topk(1)
    same(v, np.float32(5.0))
    same(i, np.int64(0))
    v, _ = ember.tensor(5.0).topk(0)
    same(v, np.float32(5.0))


def test_meta_device():
    x = ember.empty((3, 4, 5), dtype=ember.bfloat16, device="meta")
    v, i = x.sort(1)
    assert v.device.type == "meta" and tuple(v.shape) == (3, 4, 5) and v.dtype is ember.bfloat16
    assert tuple(i.shape) == (3, 4, 5) and i.dtype is ember.int64
    r = ember.sort(x, descending=True)
    assert tuple(r.indices.shape) == (3, 4, 5)
    a = x.argsort(0)
    assert tuple(a.shape) == (3, 4, 5) and a.dtype is ember.int64
    v, i = x.topk(2, dim=0)
    assert tuple(v.shape) == (2, 4, 5) and v.dtype is ember.bfloat16 and i.dtype is ember.int64
    with pytest.raises(ember.IndexOutOfRangeError, match="k=6"):
        x.topk(6)


def test_errors():
    x = ember.ones(3, 4)
    with pytest.raises(ember.IndexOutOfRangeError, match=r"sort\(\).*dimension 2.*\[-2, 1\]"):
        x.sort(2)
    with pytest.raises(ember.IndexOutOfRangeError, match=r"sort\(\).*-3"):
        x.argsort(-3)
    with pytest.raises(ember.IndexOutOfRangeError, match=r"topk\(\).*k=5 .*size 4"):
        x.topk(5)
    with pytest.raises(ember.IndexOutOfRangeError, match=r"topk\(\).*k=-1 .*size 3"):
        x.topk(-1, dim=0)
    with pytest.raises(ember.IndexOutOfRangeError, match=r"topk\(\).*k=2 .*size 1"):
        ember.tensor(1.0).topk(2)
    with pytest.raises(TypeError, match="k must be an int"):
        x.topk(1.5)
