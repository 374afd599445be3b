"""Shape operators (cat, stack, flip, roll, repeat, tril, triu, one_hot) against numpy."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from ember import dtypes as D
from ember.ops import shape as S


def rand(rng, shape, dtype):
    if dtype is D.bool:
        return rng.random(shape) < 0.5
    if dtype.is_floating_point:
        return rng.standard_normal(shape).astype(dtype.np)
    lo = 0 if dtype is D.uint8 else -50
    return rng.integers(lo, 50, size=shape).astype(dtype.np)


def same(got, want, dtype=None):
    """Exact comparison: these operators move values, they never round them."""
    want = np.asarray(want)
    assert got.dtype is (dtype or D.from_numpy_dtype(want.dtype))
    assert tuple(got.shape) == want.shape
    np.testing.assert_array_equal(got.numpy(), want)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def noncontig(rng, shape, dtype, kind):
    """An ember tensor of ``shape`` that is not contiguous, and its numpy value."""
    if kind == "transposed":
        base = rand(rng, shape[::-1], dtype)
        return ember.tensor(base).permute(*range(len(shape) - 1, -1, -1)), base.transpose()
    if kind == "stepped":
        base = rand(rng, shape[:-1] + (shape[-1] * 2,), dtype)
        return ember.slice(ember.tensor(base), -1, 1, None, 2), base[..., 1::2]
    raise AssertionError(kind)


# -- cat ----------------------------------------------------------------------------------

@pytest.mark.parametrize("impl", ["op", "decomposition"])
@pytest.mark.parametrize("dtype", D.all_dtypes)
@pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
def test_cat(rng, impl, dtype, dim):
    parts = [rand(rng, s, dtype) for s in [(2, 3, 4), (2, 3, 4), (2, 3, 4)]]
    shapes = [list(p.shape) for p in parts]
    for i, p in enumerate(parts):  # vary the size along dim
        shapes[i][dim] = i + 1
    parts = [rand(rng, tuple(s), dtype) for s in shapes]
    f = ember.cat if impl == "op" else S._cat
    same(f([ember.tensor(p) for p in parts], dim), np.concatenate(parts, axis=dim))


@pytest.mark.parametrize("impl", ["op", "decomposition"])
@pytest.mark.parametrize("types,want", [((D.int32, D.float16), D.float16), ((D.uint8, D.int8), D.int16),
                                        ((D.bool, D.int64), D.int64), ((D.float16, D.bfloat16), D.float32),
                                        ((D.bool, D.uint8, D.float64), D.float64), ((D.int8, D.int8), D.int8)])
def test_cat_promotes(rng, impl, types, want):
    parts = [rand(rng, (2, 2), d) for d in types]
    f = ember.cat if impl == "op" else S._cat
    got = f([ember.tensor(p) for p in parts], 1)
    ref = np.concatenate([p.astype(np.float64) for p in parts], axis=1)
    assert got.dtype is want
    np.testing.assert_array_equal(got.numpy().astype(np.float64), ref.astype(want.np).astype(np.float64))


@pytest.mark.parametrize("impl", ["op", "decomposition"])
def test_cat_legacy_empty_1d_is_skipped(rng, impl):
    f = ember.cat if impl == "op" else S._cat
    a = rand(rng, (2, 3), D.float32)
    got = f([ember.ones(0, dtype=ember.float64), ember.tensor(a), ember.ones(0, dtype=ember.float64)], 1)
    same(got, np.concatenate([a, a[:, :0]], 1).astype(np.float64))  # the empties still promote the dtype
    assert f([ember.ones(0), ember.ones(0, dtype=ember.int64)], 0).shape == (0,)
    assert f([ember.ones(0), ember.ones(0)], 3).shape == (0,)  # dim is not checked when nothing is left


@pytest.mark.parametrize("impl", ["op", "decomposition"])
@pytest.mark.parametrize("kind", ["transposed", "stepped"])
def test_cat_noncontiguous(rng, impl, kind):
    f = ember.cat if impl == "op" else S._cat
    ta, a = noncontig(rng, (3, 4), D.float32, kind)
    tb, b = noncontig(rng, (3, 2), D.float32, kind)
    assert not ta.is_contiguous()
    same(f([ta, tb, ta], 1), np.concatenate([a, b, a], 1))
    same(f([ta, ember.tensor(a)], 0), np.concatenate([a, a], 0))


def test_cat_empty_parts_and_single(rng):
    a = rand(rng, (2, 3), D.int64)
    same(ember.cat([ember.tensor(a), ember.zeros(2, 0, dtype=ember.int64)], 1), a)
    same(ember.cat([ember.zeros(0, 3, dtype=ember.int64)] * 2, 0), np.zeros((0, 3), np.int64))
    ta = ember.tensor(a)
    single = ember.cat([ta])
    same(single, a)
    single.fill_(7)  # cat always returns a new tensor
    same(ta, a)
    same(ember.cat((ta, ta)), np.concatenate([a, a]))
    same(ember.concat([ta, ta], dim=1), np.concatenate([a, a], 1))
    same(ember.concatenate([ta, ta], 1), np.concatenate([a, a], 1))
    same(ember.cat(t for t in [ta, ta]), np.concatenate([a, a]))


def test_cat_errors():
    with pytest.raises(ValueError, match="non-empty list"):
        ember.cat([])
    with pytest.raises(ValueError, match="non-empty list"):
        S._cat([])
    with pytest.raises(TypeError, match="single tensor"):
        ember.cat(ember.ones(2))
    with pytest.raises(TypeError, match="position 1.*int"):
        ember.cat([ember.ones(2), 3])
    with pytest.raises(ember.ShapeError, match=r"zero-dimensional tensor \(at position 1\)"):
        ember.cat([ember.ones(2), ember.tensor(1.0)])
    with pytest.raises(ember.ShapeError, match=r"same number of dimensions.*\(2, 3\).*\(2,\)"):
        ember.cat([ember.ones(2, 3), ember.ones(2)])
    with pytest.raises(ember.ShapeError, match=r"except in dimension 0.*\(2, 3\).*\(2, 4\)"):
        ember.cat([ember.ones(2, 3), ember.ones(2, 4)])
    with pytest.raises(ember.ShapeError, match=r"tensor 1 has shape \(0, 3\)"):
        ember.cat([ember.ones(2, 2), ember.ones(0, 3)])
    with pytest.raises(ember.IndexOutOfRangeError, match=r"dimension 2 is out of range"):
        ember.cat([ember.ones(2, 3), ember.ones(2, 3)], 2)
    with pytest.raises(ember.DeviceMismatchError, match="meta"):
        ember.cat([ember.ones(2), ember.empty((2,), device="meta")])


def test_cat_meta():
    m = lambda *s, dtype=ember.float32: ember.empty(s, dtype=dtype, device="meta")  # noqa: E731
    out = ember.cat([m(2, 3), m(4, 3, dtype=ember.float64), m(0)], 0)
    assert out.device.type == "meta" and out.shape == (6, 3) and out.dtype is ember.float64
    assert ember.cat([m(0)]).shape == (0,)
    with pytest.raises(ember.ShapeError, match=r"\(2, 3\).*\(2, 4\)"):
        ember.cat([m(2, 3), m(2, 4)])


# -- stack ----------------------------------------------------------------------------------

@pytest.mark.parametrize("impl", ["op", "decomposition"])
@pytest.mark.parametrize("dtype", D.all_dtypes)
@pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
def test_stack(rng, impl, dtype, dim):
    parts = [rand(rng, (2, 3), dtype) for _ in range(3)]
    f = ember.stack if impl == "op" else S._stack
    same(f([ember.tensor(p) for p in parts], dim), np.stack(parts, axis=dim))


@pytest.mark.parametrize("impl", ["op", "decomposition"])
def test_stack_cases(rng, impl):
    f = ember.stack if impl == "op" else S._stack
    a, b = rand(rng, (3,), D.int8), rand(rng, (3,), D.float16)
    got = f([ember.tensor(a), ember.tensor(b)], 1)
    same(got, np.stack([a.astype(np.float16), b], 1))
    z = [rand(rng, (), D.float32) for _ in range(4)]
    same(f([ember.tensor(x) for x in z]), np.stack(z))
    same(f([ember.zeros(0, 2)] * 3, 1), np.zeros((0, 3, 2), np.float32))
    t, x = noncontig(rng, (2, 3), D.float64, "transposed")
    same(f((t, t), -1), np.stack([x, x], -1))
    single = f([t])
    single.fill_(0)  # a new tensor
    same(t, x)
    m = ember.stack([ember.empty((2, 3), device="meta")] * 4, 1)
    assert m.device.type == "meta" and m.shape == (2, 4, 3)


def test_stack_errors():
    with pytest.raises(ember.ShapeError, match=r"\(2, 3\) at entry 0 and \(2, 4\) at entry 1"):
        ember.stack([ember.ones(2, 3), ember.ones(2, 4)])
    with pytest.raises(ValueError, match="non-empty list"):
        ember.stack([])
    with pytest.raises(ember.IndexOutOfRangeError, match="dimension 3"):
        ember.stack([ember.ones(2, 3)], 3)


# -- flip ------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", D.all_dtypes)
@pytest.mark.parametrize("dims", [(0,), (1,), (-1,), (0, 2), (2, 0, 1), ()])
def test_flip(rng, dtype, dims):
    x = rand(rng, (2, 3, 4), dtype)
    same(ember.flip(ember.tensor(x), dims), np.flip(x, dims) if dims else x)


def test_flip_cases(rng):
    x = rand(rng, (3, 4), D.float32)
    tx = ember.tensor(x)
    out = tx.flip([0])
    out.fill_(0)  # a copy, never a view
    same(tx, x)
    same(ember.flip(ember.tensor(np.float32(2.5)), (0,)), np.float32(2.5))
    same(ember.flip(ember.tensor(np.float32(2.5)), ()), np.float32(2.5))
    same(ember.flip(ember.zeros(0, 3), (0, 1)), np.zeros((0, 3), np.float32))
    same(ember.flip(ember.ones(1, 3), (0,)), np.ones((1, 3), np.float32))
    for kind in ("transposed", "stepped"):
        t, a = noncontig(rng, (3, 5), D.int16, kind)
        same(t.flip((0, 1)), np.flip(a, (0, 1)))
        same(t.flip((1,)), np.flip(a, 1))
    same(ember.fliplr(tx), np.fliplr(x))
    same(ember.flipud(tx), np.flipud(x))
    same(tx.fliplr(), np.fliplr(x))
    m = ember.empty((2, 3), dtype=ember.int8, device="meta").flip((0,))
    assert m.device.type == "meta" and m.shape == (2, 3) and m.dtype is ember.int8


def test_flip_errors():
    with pytest.raises(ValueError, match=r"flip\(\): dims \(0, -2\) name a dimension more than once"):
        ember.flip(ember.ones(2, 3), (0, -2))
    with pytest.raises(ember.IndexOutOfRangeError, match="dimension 2 is out of range"):
        ember.flip(ember.ones(2, 3), (2,))
    with pytest.raises(ember.ShapeError, match=r"fliplr\(\).*\(3,\)"):
        ember.fliplr(ember.ones(3))


# -- roll ------------------------------------------------------------------------------------

@pytest.mark.parametrize("shifts,dims", [(1, 0), (-1, 1), (5, 1), (-7, 0), (2, None), (-3, None), (0, 1),
                                         ((1, 2), (0, 1)), ((1, -1), (1, 1)), ((3, 1), (-1, 0)), ([2], [1])])
def test_roll(rng, shifts, dims):
    x = rand(rng, (3, 4), D.float64)
    got = ember.roll(ember.tensor(x), shifts, dims)
    same(got, np.roll(x, shifts, dims if dims is None or isinstance(dims, int) else tuple(dims)))


@pytest.mark.parametrize("dtype", D.all_dtypes)
def test_roll_dtypes(rng, dtype):
    x = rand(rng, (2, 3, 4), dtype)
    same(ember.tensor(x).roll((1, -2), (0, 2)), np.roll(x, (1, -2), (0, 2)))


def test_roll_cases(rng):
    same(ember.roll(ember.tensor(np.float32(3.0)), 1), np.float32(3.0))
    same(ember.roll(ember.zeros(0, 3), 2, 1), np.zeros((0, 3), np.float32))
    same(ember.roll(ember.zeros(0, 3), 2), np.zeros((0, 3), np.float32))
    for kind in ("transposed", "stepped"):
        t, a = noncontig(rng, (3, 5), D.int32, kind)
        same(t.roll(2, 1), np.roll(a, 2, 1))
        same(t.roll(4), np.roll(a, 4))
    tx = ember.tensor(rand(rng, (3,), D.float32))
    out = tx.roll(3)  # a full turn: equal values, still a copy
    out.fill_(0)
    assert tx.numpy().any()
    m = ember.empty((2, 3), device="meta").roll(1, 0)
    assert m.device.type == "meta" and m.shape == (2, 3)


def test_roll_errors():
    with pytest.raises(ValueError, match=r"shifts and dims must align.*2 shifts \(1, 2\) and no dims"):
        ember.roll(ember.ones(2, 3), (1, 2))
    with pytest.raises(ValueError, match=r"2 shifts \(1, 2\) and 1 dims \(0,\)"):
        ember.roll(ember.ones(2, 3), (1, 2), (0,))
    with pytest.raises(ember.IndexOutOfRangeError, match="dimension 2 is out of range"):
        ember.roll(ember.ones(2, 3), 1, 2)
    with pytest.raises(ember.IndexOutOfRangeError, match="0-d tensor"):
        ember.roll(ember.tensor(1.0), 1, 0)


# -- repeat ----------------------------------------------------------------------------------

@pytest.mark.parametrize("shape,reps", [((2, 3), (2, 2)), ((2, 3), (1, 1)), ((3,), (4,)), ((3,), (2, 3)),
                                        ((2, 3), (2, 1, 3)), ((2, 3), (0, 2)), ((), ()), ((), (3,)),
                                        ((), (2, 2)), ((1,), (5,)), ((0, 2), (3, 2)), ((2, 1, 3), (1, 4, 1))])
def test_repeat(rng, shape, reps):
    x = rand(rng, shape, D.float32)
    same(ember.tensor(x).repeat(*reps), np.tile(x, reps))
    same(ember.tensor(x).repeat(reps), np.tile(x, reps))
    same(ember.repeat(ember.tensor(x), list(reps)), np.tile(x, reps))


@pytest.mark.parametrize("dtype", D.all_dtypes)
def test_repeat_dtypes(rng, dtype):
    x = rand(rng, (2, 3), dtype)
    same(ember.tensor(x).repeat(2, 1, 2), np.tile(x, (2, 1, 2)))


def test_repeat_copies_and_noncontiguous(rng):
    for reps in ((1, 1), (3,), (2, 1)):
        base = rand(rng, (1,) if len(reps) == 1 else (2, 2), D.float64)
        t = ember.tensor(base)
        out = t.repeat(*reps)
        out.fill_(0)  # never a view of the input, even when nothing is repeated
        same(t, base)
    for kind in ("transposed", "stepped"):
        t, a = noncontig(rng, (3, 4), D.int64, kind)
        same(t.repeat(2, 3), np.tile(a, (2, 3)))
    m = ember.empty((2, 3), device="meta").repeat(4, 1, 2)
    assert m.device.type == "meta" and m.shape == (4, 2, 6)


def test_repeat_errors():
    with pytest.raises(ember.ShapeError, match=r"number of repeats 1 \(\(2,\)\).*\(2, 3\)"):
        ember.ones(2, 3).repeat(2)
    with pytest.raises(ember.ShapeError, match=r"non-negative.*\(-1, 2\)"):
        ember.ones(3).repeat(-1, 2)


# -- tril and triu ------------------------------------------------------------------------------

TRI = {"op": (ember.tril, ember.triu), "decomposition": (S._tril, S._triu)}


@pytest.mark.parametrize("impl", ["op", "decomposition"])
@pytest.mark.parametrize("dtype", D.all_dtypes)
@pytest.mark.parametrize("k", [-2, -1, 0, 1, 3, -5])
def test_tril_triu(rng, impl, dtype, k):
    tril, triu = TRI[impl]
    x = rand(rng, (3, 4), dtype)
    same(tril(ember.tensor(x), k), np.tril(x, k))
    same(triu(ember.tensor(x), k), np.triu(x, k))


@pytest.mark.parametrize("impl", ["op", "decomposition"])
@pytest.mark.parametrize("shape", [(2, 3, 3), (2, 1, 4, 2), (0, 3), (3, 0), (2, 0, 2, 2), (1, 1)])
def test_tril_triu_batched_and_empty(rng, impl, shape):
    tril, triu = TRI[impl]
    x = rand(rng, shape, D.float64)
    for k in (-1, 0, 1):
        same(tril(ember.tensor(x), k), np.tril(x, k))
        same(triu(ember.tensor(x), k), np.triu(x, k))


@pytest.mark.parametrize("impl", ["op", "decomposition"])
def test_tril_triu_noncontiguous(rng, impl):
    tril, triu = TRI[impl]
    for kind in ("transposed", "stepped"):
        t, a = noncontig(rng, (4, 3), D.float32, kind)
        same(tril(t), np.tril(a))
        same(triu(t, -1), np.triu(a, -1))
        e = ember.tensor(a[:1]).expand(3, 3)  # stride 0
        same(tril(e), np.tril(np.broadcast_to(a[:1], (3, 3))))


def test_tril_triu_cases(rng):
    same(ember.tensor(np.ones((2, 3), np.float32)).triu(diagonal=1), np.triu(np.ones((2, 3), np.float32), 1))
    x = rand(rng, (3, 3), D.float32)
    t = ember.tensor(x)
    assert t.tril_() is t
    same(t, np.tril(x))
    t2 = ember.tensor(x)
    t2.triu_(1)
    same(t2, np.triu(x, 1))
    nan = ember.full((2, 2), float("nan"))
    for tril in (ember.tril, S._tril):  # where, not a product: NaN stays NaN, the rest is exactly 0
        assert np.isnan(tril(nan).numpy()[1, 0]) and tril(nan).numpy()[0, 1] == 0
    m = ember.empty((5, 2, 3), dtype=ember.bool, device="meta").triu(1)
    assert m.device.type == "meta" and m.shape == (5, 2, 3) and m.dtype is ember.bool


def test_tril_triu_errors():
    for f in (ember.tril, ember.triu):
        with pytest.raises(ember.ShapeError, match=r"at least 2 dimensions.*\(3,\)"):
            f(ember.ones(3))
        with pytest.raises(ember.ShapeError, match=r"at least 2 dimensions"):
            f(ember.empty((3,), device="meta"))


# -- one_hot -------------------------------------------------------------------------------------

def ref_one_hot(x, n):
    return np.eye(n, dtype=np.int64)[x]


@pytest.mark.parametrize("shape", [(5,), (2, 3), (), (1, 0)])
@pytest.mark.parametrize("n", [6, 10])
def test_one_hot(rng, shape, n):
    x = rng.integers(0, 6, size=shape).astype(np.int64)
    same(ember.one_hot(ember.tensor(x), n), ref_one_hot(x, n))
    same(ember.tensor(x).one_hot(num_classes=n), ref_one_hot(x, n))


def test_one_hot_infers_num_classes(rng):
    x = np.array([[0, 3], [1, 1]], np.int64)
    same(ember.one_hot(ember.tensor(x)), ref_one_hot(x, 4))
    torch = pytest.importorskip("torch")
    np.testing.assert_array_equal(ember.one_hot(ember.tensor(x)).numpy(),
                                  torch.nn.functional.one_hot(torch.from_numpy(x)).numpy())
    t, a = noncontig(rng, (3, 4), D.int64, "transposed")
    a = np.abs(a)
    same(ember.one_hot(ember.tensor(np.ascontiguousarray(a)).t().t()), ref_one_hot(a, a.max() + 1))
    same(ember.one_hot(ember.tensor(a.T).t(), 100), ref_one_hot(a, 100))
    same(ember.one_hot(ember.zeros(0, dtype=ember.int64), 3), np.zeros((0, 3), np.int64))


def test_one_hot_meta():
    m = ember.empty((2, 3), dtype=ember.int64, device="meta")
    out = ember.one_hot(m, 5)
    assert out.device.type == "meta" and out.shape == (2, 3, 5) and out.dtype is ember.int64
    with pytest.raises(ValueError, match="num_classes=-1.*meta"):
        ember.one_hot(m)


def test_one_hot_errors():
    with pytest.raises(ember.DTypeError, match=r"int64, got int32"):
        ember.one_hot(ember.tensor([1, 2], dtype=ember.int32))
    with pytest.raises(ember.DTypeError, match=r"int64, got float32"):
        ember.one_hot(ember.ones(2), 3)
    with pytest.raises(ember.IndexOutOfRangeError, match=r"non-negative, got -2"):
        ember.one_hot(ember.tensor([1, -2]))
    with pytest.raises(ember.IndexOutOfRangeError, match=r"smaller than num_classes \(2\), got 2"):
        ember.one_hot(ember.tensor([1, 2]), 2)
    with pytest.raises(ValueError, match="empty tensor"):
        ember.one_hot(ember.zeros(0, dtype=ember.int64))
    with pytest.raises(ValueError, match=r"-1 \(inferred\) or non-negative, got -2"):
        ember.one_hot(ember.tensor([1, 2]), -2)
