"""Linalg operators (bmm, matmul, mm, mv, dot, outer, addmm, einsum) against numpy in float64."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from ember import dtypes as D
from ember.ops import linalg as L

NUMERIC = [d for d in D.all_dtypes if d is not D.bool]
# (rtol, atol) against a float64 reference computed from the same (rounded) inputs.
TOL = {D.float64: (1e-12, 1e-12), D.float32: (1e-5, 1e-5), D.float16: (2e-3, 2e-3), D.bfloat16: (1e-2, 1e-2)}


def rand(rng, shape, dtype):
    if dtype is D.bool:
        return rng.random(shape) < 0.5
    if dtype.is_floating_point:
        return rng.standard_normal(shape).astype(dtype.np)
    lo = 0 if dtype is D.uint8 else -3
    return rng.integers(lo, 4, size=shape).astype(dtype.np)


def f64(a):
    return np.asarray(a).astype(np.float64)


def check(got, ref, dtype):
    """got: an ember tensor; ref: a float64 (or int64) numpy result of the same computation."""
    assert got.dtype is dtype
    assert tuple(got.shape) == np.shape(ref)
    out = got.numpy()
    if dtype.is_floating_point:
        rtol, atol = TOL[dtype]
        np.testing.assert_allclose(f64(out), ref, rtol=rtol, atol=atol)
    else:  # integers wrap as two's complement: compare after the same cast
        np.testing.assert_array_equal(out, np.asarray(ref).astype(np.int64).astype(dtype.np))


def ref_matmul(a, b, dtype):
    if dtype.is_floating_point:
        return f64(a) @ f64(b)
    return a.astype(np.int64) @ b.astype(np.int64)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# -- matmul: every case of PyTorch's rules -------------------------------------------

MATMUL_SHAPES = [
    ((3,), (3,)),                 # dot -> 0-d
    ((2, 3), (3, 4)),             # mm
    ((3,), (3, 4)),               # vector @ matrix
    ((2, 3), (3,)),               # matrix @ vector
    ((2, 2, 3), (3, 4)),          # batch @ matrix (folded)
    ((3,), (2, 3, 4)),            # vector @ batch
    ((2, 2, 3), (3,)),            # batch @ vector
    ((5, 2, 3), (5, 3, 4)),       # bmm
    ((5, 2, 3), (1, 3, 4)),       # broadcast batch
    ((2, 1, 2, 3), (3, 3, 4)),    # broadcast batch dims of different rank
    ((1, 2, 3), (4, 1, 3, 2)),
    ((0, 3), (3, 4)),             # empty rows
    ((2, 0), (0, 4)),             # empty contraction: zeros
    ((2, 3), (3, 0)),
    ((0, 2, 3), (3, 4)),          # empty batch
    ((0,), (0,)),
    ((1, 1), (1, 1)),
]


@pytest.mark.parametrize("impl", ["op", "decomposition"])
@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES)
def test_matmul_shapes(rng, sa, sb, impl):
    a, b = rand(rng, sa, D.float64), rand(rng, sb, D.float64)
    f = ember.matmul if impl == "op" else L._matmul
    got = f(ember.tensor(a), ember.tensor(b))
    check(got, np.matmul(a, b), D.float64)


@pytest.mark.parametrize("dtype", NUMERIC)
@pytest.mark.parametrize("sa,sb", [((4,), (4,)), ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 2)), ((3,), (2, 3, 2))])
def test_matmul_dtypes(rng, dtype, sa, sb):
    a, b = rand(rng, sa, dtype), rand(rng, sb, dtype)
    ta, tb = ember.tensor(a), ember.tensor(b)
    check(ember.matmul(ta, tb), ref_matmul(a, b, dtype), dtype)
    check(L._matmul(ta, tb), ref_matmul(a, b, dtype), dtype)
    check(ta @ tb, ref_matmul(a, b, dtype), dtype)


def test_matmul_integer_wraps_like_torch():
    torch = pytest.importorskip("torch")
    a = np.full((1, 4), 100, dtype=np.int8)
    b = np.full((4, 1), 3, dtype=np.int8)
    want = torch.matmul(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    np.testing.assert_array_equal((ember.tensor(a) @ ember.tensor(b)).numpy(), want)
    np.testing.assert_array_equal(L._matmul(ember.tensor(a), ember.tensor(b)).numpy(), want)


def test_half_precision_accumulates_in_float32():
    # 4096 products of 1 + 1/1024 in float16: a float16 accumulator would stall at 2048.
    n = 4096
    a = ember.full((1, n), 1.0, dtype=ember.float16)
    b = ember.full((n, 1), 1.0, dtype=ember.float16)
    assert (a @ b).item() == 4096.0
    assert L._matmul(a, b).item() == 4096.0
    ab = ember.full((1, n), 1.0, dtype=ember.bfloat16)
    assert (ab @ ember.full((n, 1), 1.0, dtype=ember.bfloat16)).item() == 4096.0


def _noncontig(rng, shape, dtype, kind):
    """An ember tensor of ``shape`` that is not contiguous, and its numpy value."""
    if kind == "transposed":
        base = rand(rng, shape[:-2] + (shape[-1], shape[-2]), dtype)
        return ember.tensor(base).mT, np.swapaxes(base, -1, -2)
    if kind == "stepped":
        base = rand(rng, shape[:-1] + (shape[-1] * 2,), dtype)
        return ember.slice(ember.tensor(base), -1, 0, None, 2), base[..., ::2]
    if kind == "expanded":
        base = rand(rng, (1,) + shape[1:], dtype)
        return ember.tensor(base).expand(shape), np.broadcast_to(base, shape)
    raise AssertionError(kind)


@pytest.mark.parametrize("dtype", [D.float32, D.float64, D.int64, D.float16])
@pytest.mark.parametrize("kind", ["transposed", "stepped", "expanded"])
def test_matmul_noncontiguous(rng, dtype, kind):
    ta, a = _noncontig(rng, (3, 4, 5), dtype, kind)
    tb, b = _noncontig(rng, (3, 5, 2), dtype, kind)
    assert not ta.is_contiguous()
    ref = ref_matmul(a, b, dtype)
    for f in (ember.matmul, L._matmul, ember.bmm):
        check(f(ta, tb), ref, dtype)
    check(ember.mm(ta.select(0, 1), tb.select(0, 2)), ref_matmul(a[1], b[2], dtype), dtype)
    check(L._mm(ta.select(0, 1), tb.select(0, 2)), ref_matmul(a[1], b[2], dtype), dtype)
    v, tv = b[0, :, 0], tb.select(0, 0).select(1, 0)  # a strided vector
    check(ember.matmul(ta, tv), ref_matmul(a, v, dtype), dtype)
    check(ember.dot(tv, tv), ref_matmul(v, v, dtype), dtype)
    check(L._dot(tv, tv), ref_matmul(v, v, dtype), dtype)


def test_rmatmul_and_methods(rng):
    a, b = rand(rng, (2, 3), D.float64), rand(rng, (3, 4), D.float64)
    ta, tb = ember.tensor(a), ember.tensor(b)
    check(tb.__rmatmul__(ta), a @ b, D.float64)
    check(ta.matmul(tb), a @ b, D.float64)
    check(ta.mm(tb), a @ b, D.float64)


# -- mm, bmm, mv, dot, outer ------------------------------------------------------------

@pytest.mark.parametrize("dtype", NUMERIC)
def test_mm_bmm_mv_dot(rng, dtype):
    a, b = rand(rng, (3, 4), dtype), rand(rng, (4, 2), dtype)
    x, y = rand(rng, (2, 3, 4), dtype), rand(rng, (2, 4, 5), dtype)
    v = rand(rng, (4,), dtype)
    check(ember.mm(ember.tensor(a), ember.tensor(b)), ref_matmul(a, b, dtype), dtype)
    check(L._mm(ember.tensor(a), ember.tensor(b)), ref_matmul(a, b, dtype), dtype)
    check(ember.bmm(ember.tensor(x), ember.tensor(y)), ref_matmul(x, y, dtype), dtype)
    check(ember.mv(ember.tensor(a), ember.tensor(v)), ref_matmul(a, v, dtype), dtype)
    check(ember.dot(ember.tensor(v), ember.tensor(v)), ref_matmul(v, v, dtype), dtype)
    check(L._dot(ember.tensor(v), ember.tensor(v)), ref_matmul(v, v, dtype), dtype)


@pytest.mark.parametrize("sa,sb", [((0, 3, 4), (0, 4, 5)), ((2, 0, 4), (2, 4, 5)), ((2, 3, 0), (2, 0, 5))])
def test_bmm_empty(rng, sa, sb):
    a, b = rand(rng, sa, D.float32), rand(rng, sb, D.float32)
    check(ember.bmm(ember.tensor(a), ember.tensor(b)), f64(a) @ f64(b), D.float32)


def test_dot_empty_is_zero():
    got = ember.dot(ember.ones(0), ember.ones(0))
    assert got.shape == () and got.item() == 0.0


@pytest.mark.parametrize("da,db", [(D.float32, D.float32), (D.float32, D.float64), (D.int64, D.float32),
                                   (D.bool, D.bool), (D.int8, D.uint8), (D.float16, D.bfloat16)])
def test_outer_promotes(rng, da, db):
    a, b = rand(rng, (3,), da), rand(rng, (4,), db)
    got = ember.outer(ember.tensor(a), ember.tensor(b))
    want = D.promote_types(da, db)
    assert got.dtype is want and got.shape == (3, 4)
    ref = np.multiply.outer(a.astype(np.float64), b.astype(np.float64))
    if want is D.bool:
        np.testing.assert_array_equal(got.numpy(), ref.astype(bool))
    else:
        check(got, ref if want.is_floating_point else ref.astype(np.int64), want)


def test_outer_empty():
    assert ember.outer(ember.ones(0), ember.ones(3)).shape == (0, 3)


# -- addmm --------------------------------------------------------------------------------

@pytest.mark.parametrize("self_shape", [(2, 4), (4,), (1, 4), (2, 1), (), (1,)])
@pytest.mark.parametrize("beta,alpha", [(1, 1), (0.5, 2.0), (0, 1), (-1, 0.25)])
def test_addmm(rng, self_shape, beta, alpha):
    x, a, b = rand(rng, self_shape, D.float64), rand(rng, (2, 3), D.float64), rand(rng, (3, 4), D.float64)
    got = ember.addmm(ember.tensor(x), ember.tensor(a), ember.tensor(b), beta=beta, alpha=alpha)
    check(got, beta * x + alpha * (a @ b), D.float64)


def test_addmm_beta_zero_ignores_nan():
    x = ember.full((2, 2), float("nan"))
    got = ember.addmm(x, ember.ones(2, 3), ember.ones(3, 2), beta=0)
    np.testing.assert_array_equal(got.numpy(), np.full((2, 2), 3.0, np.float32))


@pytest.mark.parametrize("dtype", [D.float16, D.bfloat16, D.float32, D.int32, D.int64, D.uint8])
def test_addmm_dtypes(rng, dtype):
    x, a, b = rand(rng, (2, 4), dtype), rand(rng, (2, 3), dtype), rand(rng, (3, 4), dtype)
    got = ember.addmm(ember.tensor(x), ember.tensor(a), ember.tensor(b), beta=2, alpha=3)
    ref = 2 * x.astype(np.float64) + 3 * ref_matmul(a, b, dtype)
    if dtype.is_floating_point:
        got = got.to(ember.float64)
        np.testing.assert_allclose(got.numpy(), ref, rtol=3e-2 if dtype is D.bfloat16 else 1e-2, atol=1e-1)
    else:
        check(got, ref.astype(np.int64), dtype)


def test_addmm_integer_scalars_truncate_like_torch():
    torch = pytest.importorskip("torch")
    x = np.full((2, 2), 3, np.int64)
    m = np.ones((2, 2), np.int64)
    for beta, alpha in [(0.5, 1.7), (1.5, 2.7)]:
        want = torch.addmm(torch.from_numpy(x), torch.from_numpy(m), torch.from_numpy(m), beta=beta, alpha=alpha)
        got = ember.addmm(ember.tensor(x), ember.tensor(m), ember.tensor(m), beta=beta, alpha=alpha)
        assert got.dtype is ember.int64
        np.testing.assert_array_equal(got.numpy(), want.numpy())


# -- errors ---------------------------------------------------------------------------------

def test_matmul_shape_mismatch_names_both_shapes():
    with pytest.raises(ember.ShapeError, match=r"\(2, 3\).*\(4, 5\)"):
        ember.ones(2, 3) @ ember.ones(4, 5)
    with pytest.raises(ember.ShapeError, match=r"\(3,\).*\(4,\)"):
        ember.matmul(ember.ones(3), ember.ones(4))
    with pytest.raises(ember.ShapeError, match=r"\(2, 2, 3\).*\(3, 3, 5\)"):
        ember.matmul(ember.ones(2, 2, 3), ember.ones(3, 3, 5))


def test_matmul_0d_is_an_error():
    with pytest.raises(ember.ShapeError, match=r"at least 1 dimension.*\(\).*\(3,\)"):
        ember.matmul(ember.tensor(1.0), ember.ones(3))


@pytest.mark.parametrize("fn,sa,sb", [(ember.matmul, (2, 3), (3, 4)), (ember.mm, (2, 3), (3, 4)),
                                      (ember.bmm, (1, 2, 3), (1, 3, 4)), (ember.dot, (3,), (3,)),
                                      (ember.mv, (2, 3), (3,))])
def test_mixed_dtypes_raise_naming_both(fn, sa, sb):
    a = ember.ones(*sa, dtype=ember.float32)
    b = ember.ones(*sb, dtype=ember.float64)
    with pytest.raises(ember.DTypeError, match=r"float32.*float64"):
        fn(a, b)
    with pytest.raises(ember.DTypeError, match=r"int8.*int16"):
        fn(a.to(ember.int8), b.to(ember.int16))


@pytest.mark.parametrize("fn,sa,sb", [(ember.matmul, (2, 3), (3, 4)), (ember.mm, (2, 3), (3, 4)),
                                      (ember.bmm, (1, 2, 3), (1, 3, 4)), (ember.dot, (3,), (3,))])
def test_bool_matmul_is_an_error(fn, sa, sb):
    with pytest.raises(ember.DTypeError, match="bool"):
        fn(ember.ones(*sa, dtype=ember.bool), ember.ones(*sb, dtype=ember.bool))


def test_mm_bmm_dot_mv_shape_errors():
    with pytest.raises(ember.ShapeError, match=r"mm\(\).*\(3,\).*\(3, 3\)"):
        ember.mm(ember.ones(3), ember.ones(3, 3))
    with pytest.raises(ember.ShapeError, match=r"\(2, 3\).*\(4, 5\)"):
        ember.mm(ember.ones(2, 3), ember.ones(4, 5))
    with pytest.raises(ember.ShapeError, match=r"\(2, 3, 4\).*\(3, 4, 3\)"):
        ember.bmm(ember.ones(2, 3, 4), ember.ones(3, 4, 3))
    with pytest.raises(ember.ShapeError, match=r"3-D.*\(3, 4\)"):
        ember.bmm(ember.ones(3, 4), ember.ones(4, 3))
    with pytest.raises(ember.ShapeError, match=r"\(3,\).*\(4,\)"):
        ember.dot(ember.ones(3), ember.ones(4))
    with pytest.raises(ember.ShapeError, match=r"1-D.*\(2, 3\)"):
        ember.dot(ember.ones(2, 3), ember.ones(3))
    with pytest.raises(ember.ShapeError, match=r"\(2, 3\).*\(4,\)"):
        ember.mv(ember.ones(2, 3), ember.ones(4))
    with pytest.raises(ember.ShapeError, match=r"1-D.*\(2, 2\)"):
        ember.outer(ember.ones(2, 2), ember.ones(3))


def test_addmm_errors():
    with pytest.raises(ember.ShapeError, match=r"\(3,\).*\(2, 4\)"):
        ember.addmm(ember.ones(3), ember.ones(2, 3), ember.ones(3, 4))
    with pytest.raises(ember.ShapeError, match=r"\(2, 2, 4\)"):
        ember.addmm(ember.ones(2, 2, 4), ember.ones(2, 3), ember.ones(3, 4))
    with pytest.raises(ember.DTypeError, match=r"float64.*float32"):
        ember.addmm(ember.ones(2, 4, dtype=ember.float64), ember.ones(2, 3), ember.ones(3, 4))


def test_matmul_device_mismatch():
    with pytest.raises(ember.DeviceMismatchError, match="meta"):
        ember.matmul(ember.ones(2, 3), ember.empty((3, 4), device="meta"))


# -- meta -------------------------------------------------------------------------------------

@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES)
def test_matmul_meta(sa, sb):
    a = ember.empty(sa, dtype=ember.float16, device="meta")
    b = ember.empty(sb, dtype=ember.float16, device="meta")
    out = a @ b
    assert out.device.type == "meta" and out.dtype is ember.float16
    assert tuple(out.shape) == np.matmul(np.empty(sa), np.empty(sb)).shape


def test_meta_products_and_errors():
    m = lambda *s, dtype=ember.float32: ember.empty(s, dtype=dtype, device="meta")  # noqa: E731
    assert ember.bmm(m(2, 3, 4), m(2, 4, 5)).shape == (2, 3, 5)
    assert ember.mm(m(3, 4), m(4, 5)).shape == (3, 5)
    assert ember.mv(m(3, 4), m(4)).shape == (3,)
    assert ember.dot(m(4), m(4)).shape == ()
    assert ember.outer(m(3), m(4, dtype=ember.float64)).dtype is ember.float64
    assert ember.addmm(m(5), m(3, 4), m(4, 5), beta=2).shape == (3, 5)
    assert ember.einsum("bij,bjk->bki", m(2, 3, 4), m(2, 4, 5)).shape == (2, 5, 3)
    assert ember.einsum("ii", m(3, 3, dtype=ember.int32)).dtype is ember.int64
    with pytest.raises(ember.ShapeError, match=r"\(2, 3\).*\(4, 5\)"):
        m(2, 3) @ m(4, 5)
    with pytest.raises(ember.DTypeError, match=r"float32.*float64"):
        m(2, 3) @ m(3, 4, dtype=ember.float64)


# -- einsum -------------------------------------------------------------------------------------

EINSUM_CASES = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,jk", [(2, 3), (3, 4)]),
    ("ij,kj->ik", [(2, 3), (4, 3)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("bij,bjk->bki", [(2, 3, 4), (2, 4, 5)]),
    ("i,i->", [(5,), (5,)]),
    ("i,i", [(5,), (5,)]),
    ("i,j->ij", [(3,), (4,)]),
    ("i,j", [(3,), (4,)]),
    ("ij,ij->ij", [(2, 3), (2, 3)]),
    ("ij,ij->", [(2, 3), (2, 3)]),
    ("ij,ij->i", [(2, 3), (2, 3)]),
    ("ij->ji", [(2, 3)]),
    ("ij->", [(2, 3)]),
    ("ij->j", [(2, 3)]),
    ("ij", [(2, 3)]),
    ("ji", [(2, 3)]),
    ("ii->i", [(4, 4)]),
    ("ii", [(4, 4)]),
    ("ii->", [(4, 4)]),
    ("iij->ji", [(3, 3, 2)]),
    ("iji->j", [(3, 2, 3)]),
    ("iii->i", [(3, 3, 3)]),
    ("bii->bi", [(2, 3, 3)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
    ("ij,jk,kl", [(2, 3), (3, 4), (4, 5)]),
    ("bn,anm,bm->ba", [(2, 3), (4, 3, 5), (2, 5)]),
    ("ik,jk,lk->ijl", [(2, 3), (4, 3), (5, 3)]),
    ("i,i,i->", [(4,), (4,), (4,)]),
    ("ij,k->k", [(2, 3), (4,)]),
    ("ij,k->", [(2, 3), (4,)]),
    ("ij,k", [(2, 3), (4,)]),
    ("...ij,...jk->...ik", [(2, 3, 4), (2, 4, 5)]),
    ("...ij,...jk", [(5, 1, 3, 4), (2, 4, 2)]),
    ("...ij,jk->...ik", [(2, 2, 3, 4), (4, 5)]),
    ("...,...->...", [(2, 3), (3,)]),
    ("i...->...", [(3, 2, 4)]),
    ("...i->...", [(2, 3, 4)]),
    ("...ii->...i", [(2, 3, 3)]),
    ("i...i", [(3, 2, 3)]),
    ("...", [(2, 3)]),
    ("...,...", [(3,), (2, 1)]),
    ("ab...,bc...->ac...", [(2, 3, 4), (3, 5, 4)]),
    ("i j , j k -> i k", [(2, 3), (3, 4)]),
    ("Ab,bA->A", [(3, 4), (4, 3)]),
    ("bB,Bc", [(2, 3), (3, 4)]),
    ("ij,jk->ik", [(0, 3), (3, 4)]),
    ("ij,jk->ik", [(2, 0), (0, 4)]),
    ("i->", [(0,)]),
    ("ijk,kji->", [(2, 3, 4), (4, 3, 2)]),
    ("abc,cda,dbe->e", [(2, 3, 4), (4, 5, 2), (5, 3, 6)]),
    ("b h i d, b h j d -> b h i j", [(2, 2, 3, 4), (2, 2, 5, 4)]),
    ("", [()]),
    ("->", [()]),
    (",->", [(), ()]),
    ("i,->i", [(3,), ()]),
]


@pytest.mark.parametrize("eq,shapes", EINSUM_CASES)
def test_einsum_vs_numpy(rng, eq, shapes):
    ops = [rand(rng, s, D.float64) for s in shapes]
    got = ember.einsum(eq, *[ember.tensor(o) for o in ops])
    check(got, np.einsum(eq.replace(" ", ""), *ops), D.float64)


@pytest.mark.parametrize("eq,shapes", [("i,i->i", [(1,), (3,)]), ("ij,jk", [(2, 1), (3, 4)]),
                                       ("bij,bjk->bik", [(1, 2, 3), (4, 3, 2)]), ("ij,ij->", [(2, 1), (1, 3)]),
                                       ("...ij->ij", [(2, 3, 4)]), ("...ij,...jk->ik", [(2, 3, 4), (4, 5)]),
                                       ("i...,i...->i", [(3, 1, 2), (3, 4, 1)])])
def test_einsum_broadcasts_size_one_dims_like_torch(rng, eq, shapes):
    torch = pytest.importorskip("torch")
    ops = [rand(rng, s, D.float64) for s in shapes]
    got = ember.einsum(eq, *[ember.tensor(o) for o in ops])
    check(got, torch.einsum(eq, *[torch.from_numpy(o) for o in ops]).numpy(), D.float64)


@pytest.mark.parametrize("dtype", NUMERIC)
@pytest.mark.parametrize("eq,shapes", [("ij,jk->ik", [(2, 3), (3, 4)]), ("bij,bkj->bik", [(2, 3, 4), (2, 5, 4)]),
                                       ("i,j->ij", [(3,), (4,)]), ("ij,k->k", [(2, 3), (4,)])])
def test_einsum_dtypes(rng, dtype, eq, shapes):
    ops = [rand(rng, s, dtype) for s in shapes]
    got = ember.einsum(eq, *[ember.tensor(o) for o in ops])
    if dtype.is_floating_point:
        ref = np.einsum(eq, *[f64(o) for o in ops])
    else:
        ref = np.einsum(eq, *[o.astype(np.int64) for o in ops])
    check(got, ref, dtype)


@pytest.mark.parametrize("eq,shape,dtype", [("ij->", (2, 3), D.int8), ("ii", (3, 3), D.int32),
                                            ("ij->i", (2, 3), D.uint8), ("ij->ji", (2, 3), D.bool),
                                            ("ij->", (2, 3), D.bool), ("ij->i", (2, 3), D.float16),
                                            ("ii->i", (3, 3), D.int16)])
def test_einsum_single_operand_dtype_like_torch(rng, eq, shape, dtype):
    """One operand: a summed integer or bool tensor gives int64 (as sum() does); otherwise the dtype stays."""
    torch = pytest.importorskip("torch")
    x = rand(rng, shape, dtype)
    if dtype is D.int8:
        x = np.full(shape, 100, np.int8)  # sums past int8's range: torch's result is int64
    got = ember.einsum(eq, ember.tensor(x))
    want = torch.einsum(eq, torch.from_numpy(x))
    assert got.dtype.name == str(want.dtype).replace("torch.", "")
    np.testing.assert_allclose(f64(got.numpy()), want.double().numpy(), rtol=1e-2)


def test_einsum_bool_elementwise(rng):
    a, b = rand(rng, (2, 3), D.bool), rand(rng, (2, 3), D.bool)
    got = ember.einsum("ij,ij->ji", ember.tensor(a), ember.tensor(b))
    assert got.dtype is ember.bool
    np.testing.assert_array_equal(got.numpy(), (a & b).T)


@pytest.mark.parametrize("kind", ["transposed", "stepped", "expanded"])
def test_einsum_noncontiguous(rng, kind):
    ta, a = _noncontig(rng, (3, 4, 5), D.float32, kind)
    tb, b = _noncontig(rng, (3, 5, 4), D.float32, kind)
    for eq in ["bij,bjk->bik", "bij,bji->b", "bij,bjk->ikb", "bij->jb", "bij,bjk"]:
        check(ember.einsum(eq, ta, tb) if "," in eq else ember.einsum(eq, ta),
              np.einsum(eq, f64(a), f64(b)) if "," in eq else np.einsum(eq, f64(a)), D.float32)
    sq = ember.tensor(rand(rng, (4, 4), D.float32)).t()
    check(ember.einsum("ii->i", sq), np.einsum("ii->i", f64(sq.numpy())), D.float32)


def test_einsum_calling_forms(rng):
    a, b = rand(rng, (2, 3), D.float64), rand(rng, (3, 4), D.float64)
    ta, tb = ember.tensor(a), ember.tensor(b)
    check(ember.einsum("ij,jk", [ta, tb]), a @ b, D.float64)
    check(ember.einsum("ij,jk", (ta, tb)), a @ b, D.float64)
    check(ember.einsum(ta, [0, 1], tb, [1, 2], [0, 2]), a @ b, D.float64)
    check(ember.einsum(ta, [0, 1], tb, [1, 2]), a @ b, D.float64)
    check(ember.einsum(ta, [Ellipsis, 1], tb, [1, 2], [Ellipsis, 2]), a @ b, D.float64)


def test_einsum_does_not_modify_inputs(rng):
    a = rand(rng, (3, 3), D.float64)
    ta = ember.tensor(a)
    ember.einsum("ii->i", ta)
    ember.einsum("ij,jk", ta, ta)
    np.testing.assert_array_equal(ta.numpy(), a)


@pytest.mark.parametrize("eq,shapes,err,pattern", [
    ("ij,jk", [(2, 3)], ValueError, r"2 operand term.*1 operand"),
    ("ij", [(2, 3), (3, 4)], ValueError, r"1 operand term.*2 operand"),
    ("ijk", [(2, 3)], ember.ShapeError, r"operand 0 has 2 dimension.*'ijk'"),
    ("i...jkl", [(2, 3)], ember.ShapeError, r"operand 0 has 2 dimension"),
    ("ij->k", [(2, 3)], ValueError, r"'k'.*does not appear"),
    ("ij->ii", [(2, 3)], ValueError, r"'i'.*more than once"),
    ("i1", [(2, 2)], ValueError, r"invalid subscript '1'"),
    ("i..j", [(2, 2)], ValueError, r"ellipsis"),
    ("...i...", [(2, 2)], ValueError, r"ellipsis"),
    ("ij->i->j", [(2, 2)], ValueError, r"more than one '->'"),
    ("i,i", [(2,), (3,)], ember.ShapeError, r"'i' has size 3 for operand 1.*size 2 for operand 0"),
    ("ii", [(2, 3)], ember.ShapeError, r"'i' is repeated for operand 0 of shape \(2, 3\)"),
    ("...,...", [(2,), (3,)], ember.ShapeError, r"ellipsis.*size 3.*size 2"),
])
def test_einsum_errors(eq, shapes, err, pattern):
    with pytest.raises(err, match=pattern):
        ember.einsum(eq, *[ember.ones(*s) for s in shapes])


def test_einsum_dtype_errors():
    with pytest.raises(ember.DTypeError, match=r"float32, float64"):
        ember.einsum("ij,jk", ember.ones(2, 3), ember.ones(3, 4, dtype=ember.float64))
    with pytest.raises(ember.DTypeError, match="bool"):
        ember.einsum("ij,jk", ember.ones(2, 3, dtype=ember.bool), ember.ones(3, 4, dtype=ember.bool))
    with pytest.raises(ValueError, match="at least one operand"):
        ember.einsum("")
    with pytest.raises(TypeError, match="string"):
        ember.einsum(3, [ember.ones(2)])


def test_einsum_random_equations(rng):
    """Seeded random equations (repeats, sums, outer products, empty dims) against numpy.einsum."""
    letters = "abcdeB"
    checked = 0
    for _ in range(150):
        sizes = {l: int(rng.integers(0, 4)) if rng.random() < 0.1 else int(rng.integers(1, 4)) for l in letters}
        terms = ["".join(rng.choice(list(letters), size=rng.integers(0, 4))) for _ in range(rng.integers(1, 4))]
        eq = ",".join(terms)
        if rng.random() < 0.5:
            used = sorted(set("".join(terms)))
            eq += "->" + "".join(rng.permutation(used)[:rng.integers(0, len(used) + 1)])
        ops = [rng.standard_normal(tuple(sizes[l] for l in t)) for t in terms]
        got = ember.einsum(eq, *[ember.tensor(o) for o in ops])
        check(got, np.einsum(eq, *ops), D.float64)
        checked += 1
    assert checked == 150
