"""The indexing operators against numpy: gather, scatter, scatter_add, index_select, index_add,
masked_fill, masked_select, nonzero, index, index_put_; their native cpu kernels, their
decompositions (what a backend with only the prims runs), the meta device and the errors.
"""

import ml_dtypes
import numpy as np
import pytest

import ember
from ember import _indexing as ADV
from ember.ops import indexing as OPS

from layouts import random_array, tensor_in

DTYPES = ember.dtypes.all_dtypes
RNG = np.random.default_rng(11)
LAYOUTS = ("contiguous", "transposed", "stepped")


def rand(shape, dtype):
    return random_array(shape, dtype, RNG, low=-20, high=20)


def idx(high, shape):
    return RNG.integers(0, high, size=shape).astype(np.int64)


def same(got, want):
    want = np.asarray(want)
    assert tuple(got.shape) == want.shape, (tuple(got.shape), want.shape)
    assert got.dtype.np == want.dtype, (got.dtype, want.dtype)
    np.testing.assert_array_equal(got.numpy(), want)


# -- numpy references ------------------------------------------------------------------------------

def np_gather(a, dim, index):
    sl = tuple(slice(0, index.shape[d]) if d != dim else slice(None) for d in range(a.ndim))
    return np.take_along_axis(a[sl], index, axis=dim)


def np_scatter(a, dim, index, src, add=False):
    out = a.copy()
    pos = list(np.indices(index.shape))
    pos[dim] = index
    vals = src[tuple(slice(0, n) for n in index.shape)] if np.ndim(src) else np.broadcast_to(src, index.shape)
    if add:
        np.add.at(out, tuple(pos), vals)
    else:
        out[tuple(pos)] = vals
    return out


def np_index_add(a, dim, index, src):
    out = a.copy()
    np.add.at(np.moveaxis(out, dim, 0), index, np.moveaxis(src, dim, 0))
    return out


# -- gather ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_gather(dtype, layout):
    a = rand((4, 5, 3), dtype)
    x = tensor_in(a, dtype, layout)
    for dim, ishape in [(0, (6, 5, 3)), (1, (4, 2, 3)), (-1, (2, 3, 7)), (2, (1, 1, 1))]:
        high = a.shape[dim]
        i = idx(high, ishape)
        same(x.gather(dim, tensor_in(i, ember.int64, layout)), np_gather(a, dim % 3, i))
        same(ember.gather(x, dim, ember.tensor(i)), np_gather(a, dim % 3, i))


def test_gather_0d_empty_and_expanded_index():
    x = ember.tensor(np.float32(3.5))
    same(x.gather(0, ember.tensor(0)), np.float32(3.5))
    a = rand((3, 4), ember.float32)
    same(ember.tensor(a).gather(1, ember.zeros(3, 0, dtype=ember.int64)), np.zeros((3, 0), np.float32))
    same(ember.tensor(a[:0]).gather(0, ember.zeros(0, 4, dtype=ember.int64)), np.zeros((0, 4), np.float32))
    i = ember.tensor([[2], [0], [1]]).expand(3, 4)    # stride-0 index
    same(ember.tensor(a).gather(0, i), np_gather(a, 0, np.broadcast_to([[2], [0], [1]], (3, 4))))


# -- scatter, scatter_add --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_scatter(dtype, layout):
    a, src = rand((4, 5), dtype), rand((4, 6), dtype)
    # unique targets along dim 0 per column, so that the result does not depend on write order
    i = np.stack([RNG.permutation(4)[:3] for _ in range(5)], axis=1)
    x = tensor_in(a, dtype, layout)
    same(x.scatter(0, ember.tensor(i), tensor_in(src, dtype, layout)), np_scatter(a, 0, i, src))
    same(x, a)   # the out-of-place form leaves x alone
    y = tensor_in(a, dtype, layout)
    out = y.scatter_(0, ember.tensor(i), ember.tensor(src, dtype=dtype))
    assert out is y
    same(y, np_scatter(a, 0, i, src))
    value = src.flat[0].item()
    same(tensor_in(a, dtype, layout).scatter(0, ember.tensor(i), value=value), np_scatter(a, 0, i, src.flat[0]))
    same(tensor_in(a, dtype, layout).scatter(0, ember.tensor(i), value), np_scatter(a, 0, i, src.flat[0]))


def test_scatter_writes_into_base_of_a_view():
    base = ember.zeros(4, 6)
    v = base.t()[::2]                         # (3, 4), strides (2, 6)
    v.scatter_(1, ember.tensor([[3], [0], [1]]), ember.tensor([[1.0], [2.0], [3.0]]))
    want = np.zeros((4, 6), np.float32)
    want.T[::2][[0, 1, 2], [3, 0, 1]] = [1, 2, 3]
    same(base, want)


def test_scatter_value_casts_and_reduce_add():
    x = ember.zeros(3, dtype=ember.int32)
    same(x.scatter(0, ember.tensor([1]), 2.7), np.array([0, 2, 0], np.int32))
    same(ember.ones(3).scatter(0, ember.tensor([0, 0]), ember.tensor([1.0, 2.0]), reduce="add"),
         np.array([4.0, 1.0, 1.0], np.float32))
    same(ember.ones(3).scatter(0, ember.tensor([2, 2]), value=1.5, reduce="add"), np.array([1, 1, 4], np.float32))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_scatter_add_duplicates(dtype, layout):
    a, src = rand((5, 4, 3), dtype), rand((7, 4, 3), dtype)
    for dim, ishape in [(0, (7, 4, 3)), (1, (5, 9, 2)), (-1, (2, 3, 6))]:
        high = a.shape[dim]
        i = idx(high, ishape)
        s = src if dim == 0 else rand(ishape, dtype)
        want = np_scatter(a, dim % 3, i, s, add=True)
        got = tensor_in(a, dtype, layout).scatter_add(dim, tensor_in(i, ember.int64, layout),
                                                      tensor_in(s, dtype, layout))
        same(got, want)
        y = tensor_in(a, dtype, layout)
        assert y.scatter_add_(dim, ember.tensor(i), ember.tensor(s, dtype=dtype)) is y
        same(y, want)


def test_scatter_add_0d_and_empty():
    same(ember.tensor(5.0).scatter_add(0, ember.tensor(0), ember.tensor(2.0)), np.float32(7.0))
    x = ember.ones(3)
    x.scatter_add_(0, ember.zeros(0, dtype=ember.int64), ember.ones(0))
    same(x, np.ones(3, np.float32))
    same(ember.ones(0, 2).scatter_add(1, ember.zeros(0, 1, dtype=ember.int64), ember.ones(0, 1)),
         np.ones((0, 2), np.float32))


def test_scatter_add_with_aliased_src():
    x = ember.tensor([1.0, 2.0, 3.0])
    with pytest.raises(ember.MemoryOverlapError, match="some elements of the input tensor"):
        x.scatter_add_(0, ember.tensor([2, 1, 0]), x)   # src is self: refused, as PyTorch refuses it
    x.scatter_add_(0, ember.tensor([2, 1, 0]), x.clone())
    same(x, np.array([4.0, 4.0, 4.0], np.float32))


def test_native_scatter_add_matches_np_add_at():
    """A benchmark-sized run (results, not timings) of the native kernels against np.add.at."""
    from ember_cpu import _native
    n, m = 200_000, 1000
    for dtype in DTYPES:
        a = rand((m, 3), dtype)
        src_full = rand((n, 6), dtype)
        src = src_full[:, ::2]                       # strided source
        i = idx(m, (n,))
        want = a.copy()
        np.add.at(want, (i[:, None], np.arange(3)), src)
        # straight into the native module, with a strided index too
        got = a.copy()
        i2 = np.broadcast_to(i[:, None], (n, 3))     # stride-0 index
        _native.scatter_add(got, 0, i2, src, dtype.name)
        np.testing.assert_array_equal(got, want)
        # through Ember: scatter_add_ and index_add_ (whose native kernel walks the 1-d index)
        x = ember.tensor(a, dtype=dtype)
        x.scatter_add_(0, ember.tensor(i)[:, None].expand(n, 3), ember.tensor(src_full, dtype=dtype)[:, ::2])
        same(x, want)
        y = ember.tensor(a, dtype=dtype)
        y.index_add_(0, ember.tensor(i), ember.tensor(src_full, dtype=dtype)[:, ::2])
        same(y, want)


def test_native_kernels_reject_bad_input_cleanly():
    from ember_cpu import _native
    a = np.zeros((3, 2))
    with pytest.raises(IndexError, match="index 3 .*dimension 0 with size 3"):
        _native.scatter_add(a, 0, np.array([[0, 0], [3, 0]]), np.ones((2, 2)), "float64")
    np.testing.assert_array_equal(a, 0)             # checked before any write
    with pytest.raises(IndexError, match="-1"):
        _native.index_add(a, 0, np.array([0, -1]), np.ones((2, 2)), "float64")
    with pytest.raises(ValueError):
        _native.scatter_add(a, 0, np.zeros((2, 5), np.int64), np.ones((2, 5)), "float64")
    with pytest.raises(TypeError):
        _native.scatter_add(a, 0, np.zeros((2, 2), np.int32), np.ones((2, 2)), "float64")
    with pytest.raises(TypeError):
        _native.scatter_add(a, 0, np.zeros((2, 2), np.int64), np.ones((2, 2)), "float32")
    ro = np.zeros(3)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        _native.scatter(ro, 0, np.zeros(1, np.int64), np.ones(1))


def test_native_half_precision_rounding():
    """float16 and bfloat16 add in float32 and round once per addition, as numpy and ml_dtypes do."""
    for npdt in (np.float16, ml_dtypes.bfloat16):
        vals = np.array([1e-3, 1.0, 3e4, -3e4, np.inf, np.nan, 6e-8, 2.0 ** -14, 0.1, -0.0] * 50, np.float64)
        src = vals.astype(npdt)
        i = RNG.integers(0, 7, size=src.shape)
        want = np.zeros(7, npdt)
        with np.errstate(over="ignore", invalid="ignore"):
            np.add.at(want, i, src)
        got = ember.zeros(7, dtype=ember.dtypes.from_numpy_dtype(npdt))
        got.scatter_add_(0, ember.tensor(i), ember.tensor(src))
        np.testing.assert_array_equal(got.numpy().astype(np.float64), want.astype(np.float64))


# -- index_select, index_add ----------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_index_select(dtype, layout):
    a = rand((4, 5, 3), dtype)
    x = tensor_in(a, dtype, layout)
    for dim in (0, 1, 2, -2):
        i = idx(a.shape[dim], (7,))
        same(x.index_select(dim, ember.tensor(i)), np.take(a, i, axis=dim))
        same(x.index_select(dim, ember.tensor(i.astype(np.int32))), np.take(a, i, axis=dim))
        same(OPS._index_select(x, dim, ember.tensor(i)), np.take(a, i, axis=dim))   # the decomposition
    same(x.index_select(1, ember.tensor(2)), np.take(a, [2], axis=1))             # a 0-d index keeps the dim
    same(x.index_select(0, ember.zeros(0, dtype=ember.int64)), a[:0])


def test_index_select_0d():
    same(ember.tensor(np.int16(4)).index_select(0, ember.tensor([0])), np.int16(4))
    same(OPS._index_select(ember.tensor(np.int16(4)), 0, ember.tensor([0])), np.int16(4))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_index_add(dtype, layout):
    a = rand((5, 4, 3), dtype)
    for dim in (0, 1, -1):
        n = a.shape[dim]
        i = idx(n, (9,))
        sshape = list(a.shape)
        sshape[dim] = 9
        s = rand(tuple(sshape), dtype)
        want = np_index_add(a, dim % 3, i, s)
        same(tensor_in(a, dtype, layout).index_add(dim, ember.tensor(i), tensor_in(s, dtype, layout)), want)
        y = tensor_in(a, dtype, layout)
        assert y.index_add_(dim, ember.tensor(i.astype(np.int32)), ember.tensor(s, dtype=dtype)) is y
        same(y, want)
        z = tensor_in(a, dtype, layout)
        OPS._index_add_(z, dim, ember.tensor(i), ember.tensor(s, dtype=dtype))     # the decomposition
        same(z, want)


@pytest.mark.parametrize("dtype", [ember.int32, ember.float16, ember.bfloat16, ember.float64], ids=lambda d: d.name)
def test_index_add_alpha(dtype):
    a, s = rand((4, 3), dtype), rand((5, 3), dtype)
    i = idx(4, (5,))
    alpha = 3 if not dtype.is_floating_point else 0.5
    want = np_index_add(a, 0, i, (s * np.asarray(alpha, dtype=s.dtype)).astype(s.dtype))
    same(ember.tensor(a, dtype=dtype).index_add(0, ember.tensor(i), ember.tensor(s, dtype=dtype), alpha=alpha), want)
    same(OPS._index_add_(ember.tensor(a, dtype=dtype), 0, ember.tensor(i), ember.tensor(s, dtype=dtype), alpha),
         want)


def test_index_add_0d_and_empty():
    same(ember.tensor(5.0).index_add(0, ember.tensor([0]), ember.tensor(2.0)), np.float32(7.0))
    same(ember.ones(2, 3).index_add(1, ember.zeros(0, dtype=ember.int64), ember.ones(2, 0)),
         np.ones((2, 3), np.float32))


# -- masks ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_masked_fill(dtype, layout):
    a = rand((4, 5), dtype)
    m = RNG.random((4, 5)) < 0.4
    x = tensor_in(a, dtype, layout)
    v = True if dtype is ember.bool else 7
    same(x.masked_fill(tensor_in(m, ember.bool, layout), v), np.where(m, np.asarray(v, a.dtype), a))
    same(x.masked_fill(ember.tensor(m[0]), ember.tensor(v)), np.where(m[0], np.asarray(v, a.dtype), a))  # broadcast
    y = tensor_in(a, dtype, layout)
    assert y.masked_fill_(ember.tensor(m[:, :1]), v) is y
    same(y, np.where(m[:, :1], np.asarray(v, a.dtype), a))
    z = tensor_in(a, dtype, layout)
    OPS._masked_fill_(z, ember.tensor(m), v)                                         # the decomposition
    same(z, np.where(m, np.asarray(v, a.dtype), a))


def test_masked_fill_broadcasts_self_and_casts_value():
    same(ember.zeros(3).masked_fill(ember.ones(2, 3, dtype=ember.bool), 1.0), np.ones((2, 3), np.float32))
    same(ember.zeros(3, dtype=ember.int32).masked_fill(ember.tensor([True, False, True]), 2.7),
         np.array([2, 0, 2], np.int32))
    same(ember.zeros(3).masked_fill(ember.tensor([True, False, True]), ember.tensor(2.5, dtype=ember.float64)),
         np.array([2.5, 0, 2.5], np.float32))
    same(ember.tensor(1.0).masked_fill(ember.tensor(True), -1.0), np.float32(-1.0))
    same(ember.zeros(0, 2).masked_fill(ember.ones(0, 2, dtype=ember.bool), 3.0), np.zeros((0, 2), np.float32))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_masked_select(dtype, layout):
    a = rand((4, 5), dtype)
    m = RNG.random((4, 5)) < 0.5
    x = tensor_in(a, dtype, layout)
    same(x.masked_select(tensor_in(m, ember.bool, layout)), a[m])
    same(x.masked_select(ember.tensor(m[2])), np.broadcast_to(a, (4, 5))[np.broadcast_to(m[2], (4, 5))])
    same(OPS._masked_select(x, ember.tensor(m)), a[m])                              # the decomposition


def test_masked_select_0d_and_empty():
    same(ember.tensor(3.0).masked_select(ember.tensor(True)), np.array([3.0], np.float32))
    same(ember.tensor(3.0).masked_select(ember.tensor(False)), np.zeros(0, np.float32))
    same(OPS._masked_select(ember.tensor(3.0), ember.tensor(True)), np.array([3.0], np.float32))
    same(ember.ones(3).masked_select(ember.ones(2, 3, dtype=ember.bool)), np.ones(6, np.float32))
    same(ember.ones(0, 3).masked_select(ember.ones(0, 3, dtype=ember.bool)), np.zeros(0, np.float32))


# -- nonzero --------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_nonzero(dtype, layout):
    a = rand((4, 5, 3), dtype)
    a.flat[::3] = 0
    x = tensor_in(a, dtype, layout)
    same(x.nonzero(), np.argwhere(a))
    same(ember.argwhere(x), np.argwhere(a))
    got = ember.nonzero(x, as_tuple=True)
    assert isinstance(got, tuple) and len(got) == 3
    for g, w in zip(got, np.nonzero(a)):
        same(g, w)


def test_nonzero_special_values():
    a = np.array([0.0, -0.0, np.nan, np.inf, 1e-45, -1.0], np.float32)
    same(ember.tensor(a).nonzero(), np.array([[2], [3], [4], [5]]))
    same(ember.tensor(np.float32(2)).nonzero(), np.zeros((1, 0), np.int64))
    same(ember.tensor(np.float32(0)).nonzero(), np.zeros((0, 0), np.int64))
    (t,) = ember.tensor(np.float32(2)).nonzero(as_tuple=True)
    same(t, np.array([0]))
    same(ember.zeros(0, 3).nonzero(), np.zeros((0, 2), np.int64))


# -- index, index_put_ (the operators behind x[idx]) --------------------------------------------

INDEX_CASES = [
    lambda: [ember.tensor([2, 0, -1])],
    lambda: [None, ember.tensor([[1], [4]]), ember.tensor([0, 2, 5])],
    lambda: [ember.tensor([0, 3]), None, ember.tensor([1, 5])],
    lambda: [ember.tensor(np.arange(20).reshape(4, 5) % 3 == 0)],
    lambda: [None, None, ember.tensor([True, False, True, False, True, False])],
    lambda: [ember.tensor([1, 2], dtype=ember.int32), ember.tensor([[0], [-5]], dtype=ember.int16)],
    lambda: [ember.zeros(0, dtype=ember.int64)],
]


def np_key(indices):
    return tuple(slice(None) if i is None else i.numpy() for i in indices)


@pytest.mark.parametrize("case", range(len(INDEX_CASES)))
@pytest.mark.parametrize("layout", LAYOUTS)
def test_index_and_its_decomposition(case, layout):
    a = rand((4, 5, 6), ember.float64)
    x = tensor_in(a, ember.float64, layout)
    ind = INDEX_CASES[case]()
    same(ember.index(x, ind), a[np_key(ind)])
    same(ADV._index(x, ind), a[np_key(ind)])


@pytest.mark.parametrize("case", range(len(INDEX_CASES)))
@pytest.mark.parametrize("accumulate", [False, True])
def test_index_put_and_its_decomposition(case, accumulate):
    a = rand((4, 5, 6), ember.int32)
    ind = INDEX_CASES[case]()
    shape = a[np_key(ind)].shape
    v = rand(shape[-1:], ember.int32)        # broadcast over the leading dims
    want = a.copy()
    if accumulate:
        np.add.at(want, np_key(ind), np.broadcast_to(v, shape))
    else:
        want[np_key(ind)] = v
    for put in (ember.index_put_, ADV._index_put_):
        for layout in LAYOUTS:
            x = tensor_in(a, ember.int32, layout)
            assert put(x, ind, ember.tensor(v), accumulate) is x
            same(x, want)


def test_index_put_accumulate_every_dtype():
    for dtype in DTYPES:
        a, v = rand((5, 3), dtype), rand((8, 3), dtype)
        i = idx(5, (8,))
        want = a.copy()
        np.add.at(want, i, v)
        for put in (ember.index_put_, ADV._index_put_):
            x = ember.tensor(a, dtype=dtype)
            put(x, [ember.tensor(i)], ember.tensor(v, dtype=dtype), True)
            same(x, want)


# -- the meta device --------------------------------------------------------------------------------

def test_meta_device():
    def m(*shape, dtype=ember.float32):
        return ember.empty(shape, dtype=dtype, device="meta")
    x, i = m(4, 5), m(2, 5, dtype=ember.int64)
    checks = [
        (x.gather(0, i), (2, 5), ember.float32), (x.scatter(0, i, m(3, 5)), (4, 5), ember.float32),
        (x.scatter(0, i, value=2.0), (4, 5), ember.float32), (x.scatter_add(0, i, m(2, 5)), (4, 5), ember.float32),
        (x.index_select(1, m(7, dtype=ember.int64)), (4, 7), ember.float32),
        (x.index_add(0, m(3, dtype=ember.int64), m(3, 5)), (4, 5), ember.float32),
        (x.masked_fill(m(3, 1, 5, dtype=ember.bool), 1.0), (3, 4, 5), ember.float32),
        (ember.index(x, [None, m(2, 3, dtype=ember.int64)]), (4, 2, 3), ember.float32),
        (x.index_put((m(2, dtype=ember.int64),), m(5)), (4, 5), ember.float32),
    ]
    for got, shape, dtype in checks:
        assert got.device.type == "meta" and tuple(got.shape) == shape and got.dtype is dtype
    for inplace in (lambda: x.scatter_(0, i, m(2, 5)), lambda: x.scatter_add_(0, i, m(2, 5)),
                    lambda: x.index_add_(0, m(3, dtype=ember.int64), m(3, 5)),
                    lambda: x.masked_fill_(m(5, dtype=ember.bool), 0.0),
                    lambda: x.index_put_((m(4, 5, dtype=ember.bool),), m())):
        assert inplace() is x
    for data_dependent in (lambda: x.nonzero(), lambda: ember.argwhere(x), lambda: x.nonzero(as_tuple=True),
                           lambda: x.masked_select(m(4, 5, dtype=ember.bool)),
                           lambda: ember.index(x, [m(4, 5, dtype=ember.bool)])):
        with pytest.raises(ember.NotImplementedForBackend, match="meta"):
            data_dependent()
    with pytest.raises(ember.ShapeError):          # shape checks still run on meta
        x.gather(0, m(2, 6, dtype=ember.int64))
    with pytest.raises(ember.DTypeError):
        x.gather(0, m(2, 5, dtype=ember.int32))


# -- errors -----------------------------------------------------------------------------------------

@pytest.fixture
def x():
    return ember.tensor(np.arange(12, dtype=np.float32).reshape(3, 4))


def test_errors_index_dtype(x):
    i32 = ember.tensor([[0]], dtype=ember.int32)
    for call in (lambda: x.gather(0, i32), lambda: x.scatter(0, i32, ember.ones(1, 1)),
                 lambda: x.scatter_add_(0, i32, ember.ones(1, 1))):
        with pytest.raises(ember.DTypeError, match=r"int64.*int32"):
            call()
    with pytest.raises(ember.DTypeError, match=r"int64 or int32.*float32"):
        x.index_select(0, ember.tensor([0.0]))
    with pytest.raises(ember.DTypeError, match=r"int64 or int32.*int16"):
        x.index_add(0, ember.tensor([0], dtype=ember.int16), ember.ones(1, 4))
    with pytest.raises(ember.DTypeError, match=r"bool.*uint8"):
        x.masked_fill(ember.ones(3, 4, dtype=ember.uint8), 0.0)
    with pytest.raises(ember.DTypeError, match=r"bool.*int64"):
        x.masked_select(ember.ones(3, 4, dtype=ember.int64))
    with pytest.raises(ember.DTypeError, match=r"float32.*float64"):
        x.scatter(0, ember.tensor([[0]]), ember.ones(1, 1, dtype=ember.float64))
    with pytest.raises(ember.DTypeError, match=r"float32.*float64"):
        x.index_add(0, ember.tensor([0]), ember.ones(1, 4, dtype=ember.float64))
    with pytest.raises(ember.DTypeError, match=r"float32.*float64"):
        x.index_put_((ember.tensor([0]),), ember.ones(4, dtype=ember.float64))
    with pytest.raises(ember.DTypeError, match="float32"):
        ember.index(x, [ember.tensor([0.0])])


def test_errors_out_of_range(x):
    cases = [
        (lambda: x.gather(1, ember.tensor([[0, 4]])), r"gather\(\).*index 4 .*dimension 1 with size 4"),
        (lambda: x.gather(0, ember.tensor([[-1]])), r"gather\(\).*index -1 .*size 3"),
        (lambda: x.scatter(0, ember.tensor([[3]]), ember.ones(1, 1)), r"scatter_\(\).*index 3 .*size 3"),
        (lambda: x.scatter_(1, ember.tensor([[-2]]), value=1.0), r"index -2 .*size 4"),
        (lambda: x.scatter_add_(0, ember.tensor([[0, 5]]), ember.ones(1, 2)), r"scatter_add_\(\).*index 5 .*size 3"),
        (lambda: x.index_select(0, ember.tensor([0, 3])), r"index_select\(\).*index 3 .*size 3"),
        (lambda: OPS._index_select(x, 1, ember.tensor([9])), r"index_select\(\).*index 9 .*size 4"),
        (lambda: x.index_select(1, ember.tensor([-1])), r"index -1 .*size 4"),
        (lambda: x.index_add_(0, ember.tensor([7]), ember.ones(1, 4)), r"index_add_\(\).*index 7 .*size 3"),
        (lambda: OPS._index_add_(x, 0, ember.tensor([-1]), ember.ones(1, 4)), r"index_add_\(\).*index -1 .*size 3"),
        (lambda: ember.index(x, [ember.tensor([3])]), r"index\(\).*index 3 .*size 3"),
        (lambda: ADV._index(x, [None, ember.tensor([-5])]), r"index\(\).*index -5 .*dimension 1 with size 4"),
        (lambda: x.index_put_((ember.tensor([0]), ember.tensor([4])), ember.tensor(1.0)), r"index 4 .*size 4"),
        (lambda: ADV._index_put_(x, [ember.tensor([0]), ember.tensor([4])], ember.tensor(1.0)), r"index 4 .*size 4"),
        (lambda: ember.ones(0).gather(0, ember.tensor([0])), r"index 0 .*size 0"),
    ]
    for call, pattern in cases:
        with pytest.raises(ember.IndexOutOfRangeError, match=pattern):
            call()
    same(x, np.arange(12, dtype=np.float32).reshape(3, 4))   # nothing was written


def test_errors_shapes(x):
    with pytest.raises(ember.ShapeError, match=r"\(2, 5\).*\(3, 4\)"):
        x.gather(0, ember.zeros(2, 5, dtype=ember.int64))
    with pytest.raises(ember.ShapeError, match=r"\(1, 4, 1\).*\(3, 4\)"):
        x.gather(0, ember.zeros(1, 4, 1, dtype=ember.int64))
    with pytest.raises(ember.ShapeError, match=r"\(2, 2\).*src \(2, 1\)"):
        x.scatter(0, ember.zeros(2, 2, dtype=ember.int64), ember.ones(2, 1))
    with pytest.raises(ember.ShapeError, match=r"\(1, 5\).*\(3, 4\)"):
        x.scatter_add(0, ember.zeros(1, 5, dtype=ember.int64), ember.ones(1, 5))
    with pytest.raises(ember.ShapeError, match=r"vector.*\(1, 1\)"):
        x.index_select(0, ember.zeros(1, 1, dtype=ember.int64))
    with pytest.raises(ember.ShapeError, match=r"\(2, 3\).*\(3, 4\).*\(2, 4\)"):
        x.index_add(0, ember.tensor([0, 1]), ember.ones(2, 3))
    with pytest.raises(ember.ShapeError, match=r"\(2, 3, 4\)"):
        x.masked_fill_(ember.ones(2, 3, 4, dtype=ember.bool), 0.0)
    with pytest.raises(ember.ShapeError, match=r"0-d.*\(1,\)"):
        x.masked_fill(ember.ones(3, 4, dtype=ember.bool), ember.ones(1))
    with pytest.raises(ember.ShapeError, match=r"\(2,\).*\(3,\)"):
        ember.index(x, [ember.tensor([0, 1]), ember.tensor([0, 1, 2])])
    with pytest.raises(ember.ShapeError, match=r"\(3,\).*\(2, 4\)"):
        x.index_put_((ember.tensor([0, 1]),), ember.ones(3))
    with pytest.raises(ember.IndexOutOfRangeError, match=r"mask \(4,\).*\(3, 4\)"):
        ember.index(x, [ember.ones(4, dtype=ember.bool)])
    with pytest.raises(ember.IndexOutOfRangeError, match="too many indices"):
        ember.index(x, [None, None, ember.tensor([0])])
    with pytest.raises(ember.IndexOutOfRangeError, match=r"dimension 2 .*\[-2, 1\]"):
        x.gather(2, ember.zeros(3, 4, dtype=ember.int64))


def test_errors_arguments(x):
    with pytest.raises(TypeError, match="src .*value"):
        x.scatter(0, ember.tensor([[0]]))
    with pytest.raises(TypeError, match="not both"):
        x.scatter(0, ember.tensor([[0]]), ember.ones(1, 1), value=1.0)
    with pytest.raises(ValueError, match="multiply"):
        x.scatter(0, ember.tensor([[0]]), ember.ones(1, 1), reduce="multiply")
    with pytest.raises(TypeError, match="list"):
        x.gather(0, [[0]])
