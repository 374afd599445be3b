"""Tensor.__getitem__ / __setitem__: views for basic keys, copies for advanced ones, writes into the base.

The reference is numpy; where PyTorch and numpy differ (an int beside
non-adjacent advanced indices), PyTorch.
"""

import ml_dtypes
import numpy as np
import pytest

import ember

from layouts import random_array

RNG = np.random.default_rng(7)
DTYPES = ember.dtypes.all_dtypes


def base(shape=(4, 5, 6), dtype=np.float32):
    a = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape).astype(dtype)
    return ember.tensor(a), a


def to_ember_key(key):
    if isinstance(key, tuple):
        return tuple(to_ember_key(k) for k in key)
    if isinstance(key, np.ndarray):
        return ember.tensor(key)
    return key


def check(x, a, key, view=None):
    got = x[to_ember_key(key)]
    want = a[key]
    assert tuple(got.shape) == want.shape, (key, tuple(got.shape), want.shape)
    assert got.dtype is x.dtype
    np.testing.assert_array_equal(got.numpy(), want)
    if view is not None:
        assert (got._storage is x._storage) == view, key
    return got


# -- basic indexing: views ----------------------------------------------------------------------

BASIC = [
    0, -1, 3, slice(None), slice(1, 3), slice(None, None, 2), slice(1, None, 3), slice(-3, -1),
    slice(10, 20), slice(3, 1), (1, 2), (1, -1, 0), (-4, slice(None), 5), (slice(None), 2),
    (slice(None, None, 2), slice(1, None, 2), slice(None, None, 4)), (Ellipsis, 1), (1, Ellipsis),
    (Ellipsis,), (), (None,), (None, 1), (1, None, slice(None), None), (Ellipsis, None),
    (slice(None), None, Ellipsis, None), (True,), (False,), (1, True), (Ellipsis, False, 2),
    (slice(1, 3), Ellipsis, slice(None, None, -1 + 3)),
]


@pytest.mark.parametrize("key", BASIC, ids=repr)
def test_basic_keys_are_views(key):
    x, a = base()
    check(x, a, key, view=True)


@pytest.mark.parametrize("layout", ["transposed", "stepped"])
def test_basic_keys_on_non_contiguous(layout):
    if layout == "transposed":
        x, a = base((6, 4, 5))
        x, a = x.permute(1, 2, 0), a.transpose(1, 2, 0)
    else:
        x, a = base((8, 15, 6))
        x, a = x[::2, 1::3], a[::2, 1::3]
    for key in BASIC:
        check(x, a, key, view=True)


def test_basic_view_geometry_matches_torch():
    torch = pytest.importorskip("torch")
    x, a = base()
    t = torch.from_numpy(a.copy())
    for key in BASIC:
        got, want = x[key], t[key]
        assert tuple(got.shape) == tuple(want.shape), key
        has_bool = any(isinstance(k, bool) for k in (key if isinstance(key, tuple) else (key,)))
        if want.numel() and not has_bool:   # PyTorch copies for a bool beside other keys; Ember views
            assert got.stride() == want.stride(), key
            assert got.storage_offset() == want.storage_offset(), key


def test_view_writes_reach_base():
    x, a = base((3, 4))
    v = x[1:, ::2]
    v.fill_(-1)
    a[1:, ::2] = -1
    np.testing.assert_array_equal(x.numpy(), a)


def test_integer_like_keys():
    x, a = base((3, 4))
    check(x, a, np.int64(2), view=True)
    check(x, a, (np.int32(-1), np.int8(1)), view=True)
    got = x[ember.tensor(2)]   # a 0-d integer tensor selects, as an int does (PyTorch)
    np.testing.assert_array_equal(got.numpy(), a[2])
    got = x[slice(ember.tensor(1), ember.tensor(3))]
    np.testing.assert_array_equal(got.numpy(), a[1:3])


def test_zero_d_tensor():
    x = ember.tensor(np.float32(5.0))
    assert x[()].shape == () and x[()].item() == 5.0
    assert x[...].shape == ()
    assert tuple(x[None].shape) == (1,)
    assert tuple(x[None, None, ...].shape) == (1, 1)
    assert tuple(x[True].shape) == (1,) and tuple(x[False].shape) == (0,)
    with pytest.raises(ember.IndexOutOfRangeError, match="dimension 0"):
        x[0]


def test_empty_tensor():
    x, a = base((0, 3))
    for key in [slice(None), (slice(None), 1), (Ellipsis, slice(1, 2)), (None,), np.array([], np.int64),
                (slice(None), np.array([0, 2]))]:
        check(x, a, key)


# -- advanced indexing: copies ---------------------------------------------------------------------

def _i(*v):
    return np.array(v, dtype=np.int64)


ADVANCED = [
    _i(0, 2, 1), _i(-1, 0), _i(3, 3, 3), np.array([], dtype=np.int64), _i([0, 1], [2, 3]),
    (_i(0, 1), _i(1, 2)), (_i(0, 1), _i(1, 2), _i(3, 4)), (_i([0], [1]), _i(2, 3)),
    (slice(None), _i(0, 4)), (slice(1, 3), _i(0, 4), slice(None)), (Ellipsis, _i(1, 5, -1)),
    (_i(0, 1), slice(None), _i(1, 2)),                    # non-adjacent: index dims go first
    (_i([0, 1]), slice(None), _i([[1], [2]])),
    (slice(None), _i(0, 1), _i(2, 3)),                    # adjacent, not at the front
    (_i(1, 2), None, _i(0, 1)),                           # None separates them
    (None, _i(1, 2), _i(0, 1)), (_i(1, 2), Ellipsis, _i(0, 5)),
    (slice(None, None, 2), slice(None), _i(5, 0)), (_i(0, 1), slice(None, None, -1 + 2), None),
    np.array([True, False, True, True]), (slice(None), np.array([False, True, True, False, True])),
    (np.ones((4, 5), bool),), (np.arange(120).reshape(4, 5, 6) % 3 == 0,),
    (np.array([True, False, True, False]), _i(1, 4)),      # mask beside an index: adjacent
    (np.array([True, False, True, False]), slice(None), _i(1, 4)),
    (_i(0, 2), np.eye(5, 6, dtype=bool) & (np.arange(6) < 2)),   # the mask's 2 hits broadcast with (2,)
    (slice(None), slice(None), np.zeros(6, bool)),
]


@pytest.mark.parametrize("key", ADVANCED, ids=lambda k: repr(k).replace("\n", "")[:60])
def test_advanced_keys_match_numpy(key):
    x, a = base()
    got = check(x, a, key, view=False)
    got.fill_(-7)   # a copy: the base stays as it was
    np.testing.assert_array_equal(x.numpy(), a)


def test_advanced_keys_on_non_contiguous():
    x, a = base((8, 10, 12))
    x, a = x.permute(1, 2, 0)[::2, 1:, ::3], a.transpose(1, 2, 0)[::2, 1:, ::3]
    for key in [(_i(0, 2, 4),), (slice(None), _i(-1, 0)), (_i(1, 2), slice(None), _i(0, 1)),
                (a[..., 0] > 300,), (Ellipsis, _i([1], [2]))]:
        check(x, a, key)


def test_lists_as_keys():
    x, a = base()
    check(x, a, [0, 2])
    check(x, a, [])
    check(x, a, [True, False, True, False])
    check(x, a, [[0, 1], [2, 3]])            # a nested list is one index (numpy 2 and later PyTorch)
    check(x, a, (slice(None), [0, -1], [1, 2]))
    got = x[[ember.tensor(0), 2]]
    np.testing.assert_array_equal(got.numpy(), a[[0, 2]])


def test_int_beside_advanced_follows_pytorch():
    torch = pytest.importorskip("torch")
    x, a = base((2, 3, 4))
    t = torch.from_numpy(a.copy())
    for key in [(0, slice(None), [0, 1]), ([0, 1], slice(None), 0), (slice(None), 0, [0, 1]),
                (1, [0, 2], [1, 3]), (ember.tensor(1), slice(None), [0, 1])]:
        tkey = tuple(torch.tensor(k.item()) if isinstance(k, ember.Tensor) else k for k in key)
        got, want = x[key], t[tkey]
        assert tuple(got.shape) == tuple(want.shape), key
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    # numpy differs here: (2, 3) there, (3, 2) in PyTorch and Ember
    assert tuple(x[0, :, [0, 1]].shape) == (3, 2) and a[0, :, [0, 1]].shape == (2, 3)


def test_bool_scalar_beside_advanced_matches_numpy():
    x, a = base((3, 4))
    check(x, a, (True, _i(0, 1)))
    check(x, a, (slice(None), True, _i(0, 1)))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_getitem_every_dtype(dtype):
    a = random_array((3, 4, 5), dtype, RNG)
    x = ember.tensor(a, dtype=dtype)
    for key in [1, (slice(None), -1), (_i(0, 2), slice(1, None)), (a.astype(np.float32) > 0,),
                (Ellipsis, _i([1, 0], [3, 4]))]:
        got = x[to_ember_key(key)]
        assert got.dtype is dtype
        np.testing.assert_array_equal(got.numpy(), a[key])


def test_index_dtypes():
    x, a = base((5, 4))
    for dt in (np.int8, np.int16, np.int32, np.uint8, np.int64):
        got = x[ember.tensor(np.array([4, 0, 2], dtype=dt))]
        np.testing.assert_array_equal(got.numpy(), a[[4, 0, 2]])
    np.testing.assert_array_equal(x[np.array([1, 3])].numpy(), a[[1, 3]])


# -- __setitem__ -----------------------------------------------------------------------------------

SET_KEYS = [
    1, -1, slice(1, 3), (slice(1, None), slice(None, None, 2)), (Ellipsis, 0), (None, 2), (0, 1, 2),
    (), Ellipsis, (True, 0), (False,), _i(0, 2), (_i(0, 1), _i(1, 2)), (slice(None), _i(4, 0)),
    (_i(0, 3), slice(None), _i(1, 5)), np.array([True, False, False, True]), (slice(None), [1, -1]),
    (np.arange(120).reshape(4, 5, 6) % 7 == 0,),
]


@pytest.mark.parametrize("key", SET_KEYS, ids=lambda k: repr(k).replace("\n", "")[:60])
def test_setitem_scalar(key):
    x, a = base()
    x[to_ember_key(key)] = -3
    a[key] = -3
    np.testing.assert_array_equal(x.numpy(), a)


@pytest.mark.parametrize("key", SET_KEYS, ids=lambda k: repr(k).replace("\n", "")[:60])
def test_setitem_tensor_broadcast_and_cast(key):
    x, a = base()
    shape = a[key].shape
    v = np.arange(-1, -1 - int(np.prod(shape[-1:] or (1,))), -1).reshape(shape[-1:])   # broadcast along the rest
    x[to_ember_key(key)] = ember.tensor(v.astype(np.float64))  # float64 into float32
    a[key] = v
    np.testing.assert_array_equal(x.numpy(), a)


def test_setitem_views_write_into_base():
    x, a = base((3, 4))
    x[1:, ::2] = 5
    a[1:, ::2] = 5
    np.testing.assert_array_equal(x.numpy(), a)
    v = x.t()[::2]           # a non-contiguous view: assignment goes through to x
    v[0] = ember.tensor([9.0, 8.0, 7.0])
    a.T[::2][0] = [9.0, 8.0, 7.0]
    np.testing.assert_array_equal(x.numpy(), a)
    v[:, [0, 2]] = ember.tensor([[-1.0], [-2.0]])
    a.T[::2][:, [0, 2]] = [[-1.0], [-2.0]]
    np.testing.assert_array_equal(x.numpy(), a)


def test_setitem_mask_and_values():
    x, a = base((3, 4))
    m = a > 5
    x[ember.tensor(m)] = ember.tensor(np.arange(m.sum(), dtype=np.float32))
    a[m] = np.arange(m.sum())
    np.testing.assert_array_equal(x.numpy(), a)
    x[x < 3] = 0.5
    a[a < 3] = 0.5
    np.testing.assert_array_equal(x.numpy(), a)


def test_setitem_value_forms():
    x, a = base((3, 4))
    x[0] = [1, 2, 3, 4]
    x[1] = np.array([5.0, 6.0, 7.0, 8.0])
    x[2] = ember.tensor([[1.5, 2.5, 3.5, 4.5]])      # a leading size-1 dim is dropped
    x[:, 0] = True
    a[0], a[1], a[2], a[:, 0] = [1, 2, 3, 4], [5, 6, 7, 8], [1.5, 2.5, 3.5, 4.5], 1
    np.testing.assert_array_equal(x.numpy(), a)
    y = ember.zeros(4, dtype=ember.int32)
    y[[0, 1]] = 2.7        # cast as PyTorch does: truncation
    y[2:] = ember.tensor([-1.9, 3.2])
    np.testing.assert_array_equal(y.numpy(), np.array([2, 2, -1, 3], np.int32))


def test_setitem_augmented_assignment():
    x, a = base((3, 4))
    x[1] += 10
    x[:, [0, 3]] *= 2
    x[[0, 0]] += 1          # advanced: read, add, write back (no accumulation of repeats), as numpy
    a[1] += 10
    a[:, [0, 3]] *= 2
    a[[0, 0]] += 1
    np.testing.assert_array_equal(x.numpy(), a)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_setitem_every_dtype(dtype):
    a = random_array((3, 4), dtype, RNG)
    v = random_array((2, 4), dtype, RNG)
    x = ember.tensor(a, dtype=dtype)
    x[_i(2, 0)] = ember.tensor(v, dtype=dtype)
    x[1, 1:3] = ember.tensor(v[0, :2], dtype=dtype)
    x[0, -1] = 1
    a = a.copy()
    a[[2, 0]] = v
    a[1, 1:3] = v[0, :2]
    a[0, -1] = 1
    np.testing.assert_array_equal(x.numpy(), a)


def test_setitem_bfloat16_rounds_like_ml_dtypes():
    x = ember.zeros(3, dtype=ember.bfloat16)
    x[[0, 2]] = ember.tensor([1.00390625, 3.14159], dtype=ember.float64)
    want = np.array([1.00390625, 0, 3.14159]).astype(ml_dtypes.bfloat16)
    np.testing.assert_array_equal(x.numpy(), want)


def test_setitem_overlapping_value():
    x, a = base((6,))
    x[1:] = x[:-1].clone()
    a[1:] = a[:-1].copy()
    np.testing.assert_array_equal(x.numpy(), a)
    with pytest.raises(ember.MemoryOverlapError, match="some elements of the input tensor"):
        x[[0, 1, 2]] = x[3:]    # the value shares x's storage: refused, as PyTorch refuses it
    x[[0, 1, 2]] = x[3:].clone()
    a[[0, 1, 2]] = a[3:].copy()
    np.testing.assert_array_equal(x.numpy(), a)


def test_index_put_accumulate():
    x, a = base((4, 3))
    x.index_put_((ember.tensor([0, 0, 3]),), ember.ones(3, 3), accumulate=True)
    np.add.at(a, [0, 0, 3], 1)
    np.testing.assert_array_equal(x.numpy(), a)
    y = x.index_put((ember.tensor([1]), ember.tensor([2])), ember.tensor(-1.0))
    a2 = a.copy()
    a2[1, 2] = -1
    np.testing.assert_array_equal(y.numpy(), a2)
    np.testing.assert_array_equal(x.numpy(), a)   # index_put (no _) leaves x alone


# -- errors --------------------------------------------------------------------------------------

def test_errors_out_of_range():
    x, _ = base((3, 4))
    with pytest.raises(ember.IndexOutOfRangeError, match=r"index 5 .*dimension 0 with size 3"):
        x[5]
    with pytest.raises(ember.IndexOutOfRangeError, match=r"index -5 .*dimension 1 with size 4"):
        x[0, -5]
    with pytest.raises(ember.IndexOutOfRangeError, match=r"index 4 .*dimension 1 with size 4"):
        x[:, 4]
    with pytest.raises(ember.IndexOutOfRangeError, match=r"index 3 .*size 3"):
        x[[0, 3]]
    with pytest.raises(ember.IndexOutOfRangeError, match=r"-7.*size 4"):
        x[:, ember.tensor([1, -7])]
    with pytest.raises(ember.IndexOutOfRangeError, match=r"index 9 .*size 3"):
        x[[9]] = 1.0
    with pytest.raises(ember.IndexOutOfRangeError, match=r"index 3 .*dimension 0 with size 3"):
        x[3] = 1.0
    with pytest.raises(ember.IndexOutOfRangeError, match=r"too many indices .*dimension 2"):
        x[0, 0, 0]
    with pytest.raises(ember.IndexOutOfRangeError, match=r"mask \(3,\) .*\(3, 4\)"):
        x[:, ember.tensor([True, False, True])]
    np.testing.assert_array_equal(x.numpy(), base((3, 4))[1])   # failed writes wrote nothing


def test_errors_key_types():
    x, _ = base((3, 4))
    with pytest.raises(TypeError, match="float"):
        x[1.5]
    with pytest.raises(TypeError, match="str"):
        x["a"]
    with pytest.raises(ember.DTypeError, match="float32"):
        x[ember.tensor([0.0, 1.0])]
    with pytest.raises(ember.DTypeError, match="float"):
        x[[0.5, 1.0]]
    with pytest.raises(IndexError, match="single ellipsis"):
        x[..., ...]
    with pytest.raises(ValueError, match="step"):
        x[::-1]
    with pytest.raises(ember.ShapeError, match=r"\(2,\).*\(3,\)"):
        x[[0, 1], [0, 1, 2]]
    with pytest.raises(ember.ShapeError, match=r"\(3,\).*\(4,\)"):
        x[0] = ember.ones(3)
    with pytest.raises(ember.ShapeError, match=r"\(5,\).*\(2, 4\)"):
        x[[0, 1]] = ember.ones(5)


# -- meta device ----------------------------------------------------------------------------------

def test_meta_device():
    x = ember.empty((4, 5, 6), device="meta")
    a = np.empty((4, 5, 6))
    for key in BASIC + [_i(0, 2), (slice(None), _i([0], [1]), slice(1, 3)), (_i(0, 1), slice(None), _i(1, 2)),
                        [1, 2], (None, Ellipsis, [0])]:
        k = key if not isinstance(key, np.ndarray) else ember.tensor(key, device="meta")
        if isinstance(key, tuple):
            k = tuple(ember.tensor(v, device="meta") if isinstance(v, np.ndarray) else v for v in key)
        got = x[k]
        assert got.device.type == "meta"
        assert tuple(got.shape) == a[key].shape, key
    x[1:, 2] = 1.0
    x[ember.tensor([0, 1], device="meta")] = ember.empty((5, 6), device="meta")
    with pytest.raises(ember.NotImplementedForBackend, match="mask"):
        x[ember.empty((4,), dtype=ember.bool, device="meta")]
    with pytest.raises(ember.IndexOutOfRangeError, match="too many"):
        x[0, 0, 0, 0]
