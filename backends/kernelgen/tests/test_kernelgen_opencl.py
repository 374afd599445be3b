"""The generated OpenCL kernels on a real OpenCL runtime (pocl's CPU device in CI), against numpy.

A representative set, not every dtype of every op: each expression and each kernel family runs
at least once, plus the layouts (broadcast, strided, offset, scalar, 0-d, empty) and the edge
semantics (NaN, signed division, shifts, ties, bounds). Kernels compile in families, one program
each, cached on disk (by pocl itself on pocl).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

from ember import dtypes as D

sys.path.insert(0, str(Path(__file__).parent))
cl = pytest.importorskip("pyopencl")

from cldriver import CLDriver  # noqa: E402

import ember_kernelgen as kg  # noqa: E402
from ember_kernelgen import gemm as G  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


@pytest.fixture(scope="module")
def drv():
    try:
        if not cl.get_platforms():
            pytest.skip("no OpenCL platform (apt-get install pocl-opencl-icd)")
    except cl.Error as e:
        pytest.skip(f"no OpenCL platform: {e}")
    return CLDriver()


@pytest.fixture(scope="module")
def K(drv):
    return kg.build_kernels(drv, registered_only=False)


@pytest.fixture(scope="module", params=["tree", "cpu"])
def KR(request, drv):
    """A kernel table whose reductions run the GPU-shaped kernels ("tree") or the CPU-shaped ones
    (16 accumulators, 4 work-items a work-group), whatever this device would choose."""
    table = kg.build_kernels(drv, registered_only=False)
    table["sum"].choose("cl:0", ("tree",) if request.param == "tree" else ("cpu", 16, 4))
    return table


def host(drv, t):
    return drv.to_host(t)


RNG = np.random.default_rng(1234)
BF16 = D.bfloat16.np


def rand(shape, dtype=np.float32, lo=-3, hi=3):
    dt = np.dtype(dtype)
    if dt == np.bool_:
        return RNG.random(shape) > 0.5
    if dt.kind in "iu":
        return RNG.integers(max(lo, np.iinfo(dt).min), min(hi, np.iinfo(dt).max) + 1, shape).astype(dt)
    return RNG.uniform(lo, hi, shape).astype(dt)


def close(got, want, rtol=2e-5, atol=1e-6):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    if want.dtype.kind == "f" or want.dtype == BF16:
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=rtol, atol=atol,
                                   equal_nan=True)
    else:
        np.testing.assert_array_equal(got, want)


# -- elementwise ----------------------------------------------------------------------------------

UNARY_F = {
    "neg": np.negative, "abs": np.abs, "sign": np.sign, "square": np.square, "exp": np.exp, "exp2": np.exp2,
    "expm1": np.expm1, "log": np.log, "log2": np.log2, "log10": np.log10, "log1p": np.log1p, "sqrt": np.sqrt,
    "rsqrt": lambda x: 1 / np.sqrt(x), "sin": np.sin, "cos": np.cos, "tan": np.tan, "asin": np.arcsin,
    "acos": np.arccos, "atan": np.arctan, "sinh": np.sinh, "cosh": np.cosh, "tanh": np.tanh,
    "asinh": np.arcsinh, "acosh": np.arccosh, "atanh": np.arctanh, "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "erf": np.vectorize(math.erf, otypes=[np.float64]), "erfc": np.vectorize(math.erfc, otypes=[np.float64]),
    "reciprocal": np.reciprocal, "floor": np.floor, "ceil": np.ceil, "round": np.round, "trunc": np.trunc,
    "frac": lambda x: x - np.trunc(x), "isnan": np.isnan, "isinf": np.isinf, "isfinite": np.isfinite,
    "signbit": np.signbit,
}


@pytest.mark.parametrize("op", sorted(UNARY_F))
def test_unary_float32(drv, K, op):
    x = np.concatenate([rand(37), np.array([0.5, -0.5, 1.5, 2.5, -2.5, 0.0, -0.0, np.inf, -np.inf, np.nan],
                                           np.float32)])
    got = host(drv, K[op](drv.tensor(x), None))
    want = UNARY_F[op](x.astype(np.float64))
    want = want.astype(np.float32) if want.dtype != np.bool_ else want
    close(got, want, rtol=1e-5, atol=1e-6)


def _erfinv_ref(y):
    out = np.empty_like(y, dtype=np.float64)
    for i, v in enumerate(y.astype(np.float64)):
        if v <= -1 or v >= 1 or np.isnan(v):
            out[i] = np.nan if (np.isnan(v) or abs(v) > 1) else math.copysign(math.inf, v)
            continue
        lo, hi = -10.0, 10.0
        for _ in range(200):
            mid = (lo + hi) / 2
            if math.erf(mid) < v:
                lo = mid
            else:
                hi = mid
        out[i] = (lo + hi) / 2
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_erfinv_values(drv, K, dtype):
    y = np.array([-1, -0.999, -0.5, -0.1, 0, 0.1, 0.3, 0.9, 0.99999, 1, 1.5, np.nan], dtype)
    got = host(drv, K["erfinv"](drv.tensor(y), None))
    close(got, _erfinv_ref(y).astype(dtype), rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float16, BF16, np.float64])
def test_unary_other_floats_round_once(drv, K, dtype):
    x = rand(70).astype(dtype)
    for op in ("exp", "sigmoid", "round", "neg"):
        got = host(drv, K[op](drv.tensor(x), None))
        want = UNARY_F[op](x.astype(np.float64)).astype(dtype)
        assert got.dtype == np.dtype(dtype)
        close(got, want, rtol=1e-2 if dtype != np.float64 else 1e-12, atol=1e-3 if dtype != np.float64 else 0)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int32, np.int64])
def test_unary_integers(drv, K, dtype):
    x = rand(41, dtype, -100, 100)
    for op, f in (("neg", np.negative), ("abs", np.abs), ("sign", np.sign), ("square", np.square),
                  ("bitwise_not", np.invert)):
        close(host(drv, K[op](drv.tensor(x), None)), f(x))
    close(host(drv, K["signbit"](drv.tensor(x), None)), np.signbit(x))


def test_logical_not_bool(drv, K):
    x = rand(19, np.bool_)
    close(host(drv, K["logical_not"](drv.tensor(x), None)), ~x)


BINARY_F = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "true_divide": np.true_divide,
    "floor_divide": np.floor_divide, "trunc_divide": lambda a, b: np.trunc(a / b), "remainder": np.remainder,
    "fmod": np.fmod, "pow": np.power, "maximum": np.maximum, "minimum": np.minimum, "atan2": np.arctan2,
    "hypot": np.hypot, "logaddexp": np.logaddexp, "copysign": np.copysign, "eq": np.equal,
    "ne": np.not_equal, "lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
}


def test_variants_of_one_family_share_one_program(drv):
    """The contiguous, strided, broadcast and Python-number forms of mul on float32 build one program."""
    table = kg.build_kernels(drv)             # a fresh table: nothing compiled yet
    before = drv.compiles
    x, y, z = rand((6, 5)), rand((5, 6)), rand((5,))
    a = drv.tensor(x)
    t = drv.tensor(y)._view((6, 5), (1, 6))    # transposed
    u = drv.tensor(z)._view((6, 5), (0, 1))    # broadcast rows
    close(host(drv, table["mul"](a, a, None)), x * x)
    close(host(drv, table["mul"](a, t, None)), x * y.T)
    close(host(drv, table["mul"](t, u, None)), y.T * z)
    close(host(drv, table["mul"](2.5, a, None)), 2.5 * x)
    assert drv.compiles - before == 1


@pytest.mark.parametrize("op", sorted(BINARY_F))
def test_binary_float32_broadcast_and_scalar(drv, K, op):
    a = rand((5, 6))
    a[0, :3] = [np.nan, 0.0, -0.0]
    b = rand((6,))
    b[:2] = [1.5, -2.0]
    ta = drv.tensor(a)
    tb = drv.tensor(b)._view((5, 6), (0, 1))     # broadcast along dim 0
    f = BINARY_F[op]
    got = host(drv, K[op](ta, tb, None))
    want = f(a.astype(np.float64), np.broadcast_to(b, (5, 6)).astype(np.float64))
    want = want.astype(np.float32) if want.dtype != np.bool_ else want
    close(got, want, rtol=1e-5, atol=1e-6)
    got = host(drv, K[op](ta, 1.25, None))
    want = f(a.astype(np.float64), 1.25)
    close(got, want.astype(np.float32) if want.dtype != np.bool_ else want, rtol=1e-5, atol=1e-6)


def test_float_division_sign_rules(drv, K):
    a = np.array([7, -7, 7, -7, 5.5, -5.5, 1, 0, -1, 3], np.float64)
    b = np.array([2, 2, -2, -2, 0.5, 2.0, 0, 0, 0, np.inf], np.float64)
    ta, tb = drv.tensor(a), drv.tensor(b)
    close(host(drv, K["floor_divide"](ta, tb, None)), np.floor_divide(a, b), rtol=0, atol=0)
    close(host(drv, K["remainder"](ta, tb, None)), np.remainder(a, b), rtol=0, atol=0)
    close(host(drv, K["fmod"](ta, tb, None)), np.fmod(a, b), rtol=0, atol=0)
    n = np.array([np.nan, 1.0, np.nan], np.float32)
    m = np.array([1.0, np.nan, np.nan], np.float32)
    close(host(drv, K["maximum"](drv.tensor(n), drv.tensor(m), None)), np.maximum(n, m))
    close(host(drv, K["minimum"](drv.tensor(n), drv.tensor(m), None)), np.minimum(n, m))


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.uint8])
def test_binary_integers(drv, K, dtype):
    a = rand((4, 9), dtype, -50, 50)
    b = rand((4, 9), dtype, -7, 7)
    b[b == 0] = 3
    ta, tb = drv.tensor(a), drv.tensor(b)
    signed = np.dtype(dtype).kind == "i"
    for op, f in (("add", np.add), ("sub", np.subtract), ("mul", np.multiply), ("floor_divide", np.floor_divide),
                  ("remainder", np.remainder), ("fmod", np.fmod), ("maximum", np.maximum),
                  ("bitwise_and", np.bitwise_and), ("bitwise_xor", np.bitwise_xor), ("lt", np.less)):
        close(host(drv, K[op](ta, tb, None)), f(a, b))
    q = np.trunc(a.astype(np.float64) / b).astype(dtype)
    close(host(drv, K["trunc_divide"](ta, tb, None)), q)
    e = rand((4, 9), dtype, 0, 5)
    close(host(drv, K["pow"](ta, drv.tensor(e), None)), np.power(a, e))
    s = np.arange(36).reshape(4, 9).astype(dtype) % (np.iinfo(dtype).bits + 3)
    ts = drv.tensor(s)
    bits = np.iinfo(dtype).bits
    want_l = np.where(s >= bits, 0, np.left_shift(a, np.minimum(s, bits - 1))).astype(dtype)
    want_r = np.where(s >= bits, np.where(a < 0, -1, 0) if signed else 0,
                      np.right_shift(a, np.minimum(s, bits - 1))).astype(dtype)
    close(host(drv, K["bitwise_left_shift"](ta, ts, None)), want_l)
    close(host(drv, K["bitwise_right_shift"](ta, ts, None)), want_r)


def test_integer_division_by_zero_raises(drv, K):
    a, b = drv.tensor(np.array([1, 2], np.int64)), drv.tensor(np.array([1, 0], np.int64))
    with pytest.raises(ZeroDivisionError):
        K["floor_divide"](a, b, None)
    with pytest.raises(ZeroDivisionError):
        K["remainder"](a, 0, None)
    close(host(drv, K["floor_divide"](a, drv.tensor(np.array([1, 1], np.int64)), None)), [1, 2])


def test_bool_logic_and_arithmetic(drv, K):
    a, b = rand(23, np.bool_), rand(23, np.bool_)
    ta, tb = drv.tensor(a), drv.tensor(b)
    for op, f in (("logical_and", np.logical_and), ("logical_or", np.logical_or),
                  ("logical_xor", np.logical_xor), ("add", np.logical_or), ("mul", np.logical_and),
                  ("bitwise_xor", np.bitwise_xor), ("eq", np.equal)):
        close(host(drv, K[op](ta, tb, None)), f(a, b))


def test_strided_offset_and_inplace(drv, K):
    base = rand((6, 8))
    t = drv.tensor(base)
    view = t._view((4, 3), (1, 16), offset=2)      # a transposed, stepped slice
    flat = base.reshape(-1)
    want = np.array([[flat[2 + i + 16 * j] for j in range(3)] for i in range(4)], np.float32)
    close(host(drv, K["exp"](view, None)), np.exp(want), rtol=1e-5)
    x = drv.tensor(rand(13), pad=1)                  # an offset that breaks vector alignment
    xh = host(drv, x)
    close(host(drv, K["mul"](x, x, None)), xh * xh)
    y = drv.tensor(rand(1000))
    yh = host(drv, y)
    K["add_"](y, 1.0, y)                             # in place, contiguous fast path
    close(host(drv, y), yh + 1)
    z = drv.tensor(rand((3, 4)))
    zh = host(drv, z)
    zt = z._view((4, 3), (1, 4))
    K["neg_"](zt, zt)
    close(host(drv, z), -zh)


def test_zero_d_and_empty(drv, K):
    s = drv.tensor(np.array(2.0, np.float32))
    close(host(drv, K["sqrt"](s, None)), np.sqrt(np.float32(2.0)))
    e = drv.tensor(np.zeros((0, 3), np.float32))
    assert host(drv, K["add"](e, e, None)).shape == (0, 3)


def test_where_fill_and_copy_casts(drv, K):
    c = rand((3, 5), np.bool_)
    a, b = rand((3, 5)), rand((5,))
    got = K["where"](drv.tensor(c), drv.tensor(a), drv.tensor(b)._view((3, 5), (0, 1)), None)
    close(host(drv, got), np.where(c, a, b))
    close(host(drv, K["where"](drv.tensor(c), drv.tensor(a), 0.5, None)), np.where(c, a, np.float32(0.5)))
    t = drv.tensor(np.zeros((4, 5), np.int16))
    K["fill_"](t._view((4, 2), (5, 2), 1), -7)
    want = np.zeros((4, 5), np.int16)
    want[:, 1:5:2] = -7
    close(host(drv, t), want)
    src = np.array([0.0, -1.5, 2.7, 300.2, -0.0, np.inf, 1e-8, 65504.0], np.float32)
    for dt in (np.float16, BF16, np.float64, np.int32, np.int8, np.bool_, np.int64):
        dst = drv.tensor(np.zeros(src.shape, dt))
        s = src if np.dtype(dt).kind != "i" else src[np.isfinite(src)][:1].repeat(8)
        K["copy_"](dst, drv.tensor(s))
        with np.errstate(all="ignore"):
            close(host(drv, dst), s.astype(dt), rtol=0, atol=0)
    ints = np.array([-3, 0, 7, 255, 1000], np.int64)
    for dt in (np.uint8, np.float16, np.bool_):
        dst = drv.tensor(np.zeros(5, dt))
        K["copy_"](dst, drv.tensor(ints))
        close(host(drv, dst), ints.astype(dt), rtol=0, atol=0)


# -- reductions and scans -------------------------------------------------------------------------

@pytest.mark.parametrize("dims", [(0,), (1,), (0, 2), (0, 1, 2)])
def test_reductions(drv, KR, dims):
    x = rand((5, 6, 7))
    tx = drv.tensor(x)
    close(host(drv, KR["sum"](tx, dims, False, D.float32)), x.sum(dims), rtol=1e-5, atol=1e-5)
    close(host(drv, KR["prod"](tx, dims, True, D.float64)), x.astype(np.float64).prod(dims, keepdims=True),
          rtol=1e-5)
    close(host(drv, KR["amax"](tx, dims, False)), x.max(dims))
    close(host(drv, KR["amin"](tx, dims, True)), x.min(dims, keepdims=True))
    close(host(drv, KR["all"](tx, dims, False)), (x != 0).all(dims))
    close(host(drv, KR["any"](drv.tensor(x > 2.5), dims, False)), (x > 2.5).any(dims))


def test_reduction_large_two_pass_nan_and_halves(drv, KR):
    x = rand((2, 300000))
    tx = drv.tensor(x)
    close(host(drv, KR["sum"](tx, (1,), False, D.float64)), x.astype(np.float64).sum(1), rtol=1e-9)
    close(host(drv, KR["sum"](tx, (0, 1), False, D.float32)), x.sum(), rtol=1e-4)
    x[1, 123456] = np.nan
    close(host(drv, KR["amax"](drv.tensor(x), (1,), False)), x.max(1))
    h = rand((3, 4000)).astype(np.float16)
    close(host(drv, KR["sum"](drv.tensor(h), (1,), False, D.float16)),
          h.astype(np.float32).sum(1).astype(np.float16), rtol=2e-3)
    i = rand((3, 1000), np.int8, -100, 100)
    close(host(drv, KR["sum"](drv.tensor(i), (1,), False, D.int64)), i.astype(np.int64).sum(1))
    bools = rand(5, np.bool_)
    close(host(drv, KR["prod"](drv.tensor(bools), (0,), False, D.int64)), np.prod(bools.astype(np.int64)))
    many = rand((5000, 70))                         # many outputs, each a contiguous row: one block each
    tm = drv.tensor(many)
    close(host(drv, KR["sum"](tm, (1,), False, D.float32)), many.sum(1), rtol=1e-5, atol=1e-5)
    close(host(drv, KR["argmin"](tm, 1, False)), many.argmin(1))
    close(host(drv, KR["amax"](tm, (0,), False)), many.max(0))
    e = drv.tensor(np.zeros((3, 0), np.float32))
    close(host(drv, KR["sum"](e, (1,), False, D.float32)), np.zeros(3, np.float32))
    close(host(drv, KR["all"](e, (1,), False)), np.ones(3, bool))


CONTIG_DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32", "float64"]


def _ref(op, a, axis, out_dt=None):
    """numpy reference of a reduction over axis (halves computed in float32, rounded once)."""
    f = a.astype(np.float32) if a.dtype in (np.float16, BF16) else a
    if op == "sum":
        acc = np.float64 if out_dt.kind == "f" and f.dtype == np.float64 else (
            np.float32 if out_dt.kind == "f" or out_dt == BF16 else np.int64)
        return f.sum(axis, dtype=acc).astype(out_dt)
    if op == "amax":
        return f.max(axis).astype(a.dtype)
    if op == "amin":
        return f.min(axis).astype(a.dtype)
    if op == "all":
        return (a != 0).all(axis)
    return (a != 0).any(axis)


@pytest.mark.parametrize("dtype", CONTIG_DTYPES)
@pytest.mark.parametrize("pad", [0, 1, 3])
def test_contiguous_reductions_vector_path(drv, KR, dtype, pad):
    """Full and trailing-dim reductions of contiguous inputs (vector loads, scalar head and tail,
    many blocks and a second pass), at element offsets that break 16-byte alignment."""
    dt = getattr(D, dtype)
    n = 2 ** 20 + 3
    a = rand(n, dt.np, -3, 3) if dtype not in ("float16", "bfloat16") else rand(n).astype(dt.np)
    ta = drv.tensor(a, pad=pad)
    sdt = dt if dtype not in ("bool", "uint8", "int8", "int16", "int32") else D.int64
    tol = dict(rtol=1e-5, atol=1e-3) if dtype in ("float32", "float64") else dict(rtol=2e-2, atol=2.0)
    close(host(drv, KR["sum"](ta, (0,), False, sdt)), _ref("sum", a, None, np.dtype(sdt.np)), **tol)
    for op in ("amax", "amin", "all", "any"):
        close(host(drv, KR[op](ta, (0,), False)), _ref(op, a, None))
    rows = rand((7, 3001), dt.np, -3, 3) if dtype not in ("float16", "bfloat16") else rand((7, 3001)).astype(dt.np)
    tr = drv.tensor(rows, pad=pad)
    close(host(drv, KR["sum"](tr, (1,), False, sdt)), _ref("sum", rows, 1, np.dtype(sdt.np)), **tol)
    close(host(drv, KR["amax"](tr, (1,), True)), _ref("amax", rows, 1)[:, None])
    close(host(drv, KR["all"](tr, (1,), False)), _ref("all", rows, 1))


@pytest.mark.parametrize("shape", [(1000, 70), (333, 129), (50, 1000)])
@pytest.mark.parametrize("dtype", ["bool", "int8", "float16", "float32", "float64"])
def test_contiguous_short_rows(drv, KR, shape, dtype):
    """Several rows a block (a few threads a row), rows starting at every alignment."""
    dt = getattr(D, dtype)
    a = rand(shape, dt.np, -3, 3) if dtype != "float16" else rand(shape).astype(np.float16)
    ta = drv.tensor(a, pad=1)
    sdt = D.int64 if dtype in ("bool", "int8") else dt
    tol = dict(rtol=1e-5, atol=1e-4) if dtype in ("float32", "float64") else dict(rtol=2e-2, atol=0.5)
    close(host(drv, KR["sum"](ta, (1,), False, sdt)), _ref("sum", a, 1, np.dtype(sdt.np)), **tol)
    close(host(drv, KR["amin"](ta, (1,), False)), _ref("amin", a, 1))
    close(host(drv, KR["any"](ta, (1,), True)), _ref("any", a, 1)[:, None])


def test_contiguous_reductions_edges(drv, KR):
    x = rand(2 ** 20 + 3)
    x[777777] = np.nan
    tx = drv.tensor(x, pad=1)
    close(host(drv, KR["amax"](tx, (0,), False)), np.float32(np.nan))
    close(host(drv, KR["amin"](tx, (0,), False)), np.float32(np.nan))
    p = (1 + rand(100003, np.float64, 0, 1) * 1e-5)
    close(host(drv, KR["prod"](drv.tensor(p, pad=1), (0,), False, D.float64)), np.prod(p), rtol=1e-9)
    one = np.array([2.5], np.float32)
    close(host(drv, KR["sum"](drv.tensor(one), (0,), False, D.float32)), np.float32(2.5))
    close(host(drv, KR["amax"](drv.tensor(one, pad=2), (0,), False)), np.float32(2.5))
    e = drv.tensor(np.zeros(0, np.float32))
    close(host(drv, KR["sum"](e, (0,), False, D.float32)), np.float32(0))
    close(host(drv, KR["any"](e, (0,), False)), np.bool_(False))
    big = rand(2 ** 20 + 5, np.int32, -2 ** 31, 2 ** 31 - 1)
    close(host(drv, KR["sum"](drv.tensor(big, pad=3), (0,), False, D.int64)), big.astype(np.int64).sum())
    # deterministic: the same launch gives the same bits
    y = rand(2 ** 20 + 3)
    ty = drv.tensor(y)
    r1 = host(drv, KR["sum"](ty, (0,), False, D.float32))
    assert host(drv, KR["sum"](ty, (0,), False, D.float32)).tobytes() == np.asarray(r1).tobytes()


@pytest.fixture(scope="module")
def KC(drv):
    table = kg.build_kernels(drv, registered_only=False)
    table["sum"].choose("cl:0", ("cpu", 16, 4))
    return table


def _strided(drv, a, step):
    """A device view of numpy array a whose last dim is ``step`` elements apart."""
    big = np.zeros(a.shape[:-1] + (a.shape[-1] * step,), a.dtype)
    big[..., ::step] = a
    t = drv.tensor(big)
    st = t._strides[:-1] + (step,)
    return t._view(a.shape, st)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "uint8", "bool", "bfloat16"])
def test_cpu_shaped_reductions_every_layout(drv, KC, dtype):
    """The CPU-shaped kernels: rows (adjacent and spaced elements, one or two kept dims), columns (a
    reduced dim above adjacent kept ones), two reduced dims, at sizes that leave partial unrolled
    steps, partial column blocks and runs of every length."""
    dt = getattr(D, dtype)
    a = rand((3, 37, 1003), dt.np, -3, 3) if dtype != "bfloat16" else rand((3, 37, 1003)).astype(BF16)
    sdt = D.int64 if dtype in ("int32", "uint8", "bool") else dt
    tol = dict(rtol=1e-5, atol=1e-3) if dtype in ("float32", "float64") else dict(rtol=2e-2, atol=0.5)
    views = {"contiguous": (a, drv.tensor(a, pad=1)), "spaced": (a, _strided(drv, a, 3)),
             "transposed": (a.transpose(0, 2, 1), drv.tensor(a)._view((3, 1003, 37), (37 * 1003, 1, 1003)))}
    for name, (ref, t) in views.items():
        for axis in (None, 0, 1, 2, (0, 1), (1, 2), (0, 2)):
            dims = tuple(range(3)) if axis is None else (axis if isinstance(axis, tuple) else (axis,))
            close(host(drv, KC["sum"](t, dims, False, sdt)), _ref("sum", ref, axis, np.dtype(sdt.np)), **tol)
            if dtype != "bool":
                close(host(drv, KC["amax"](t, dims, False)), _ref("amax", ref, axis))
            close(host(drv, KC["any"](t, dims, False)), _ref("any", ref, axis))


def test_cpu_shaped_reductions_nan_inf_and_partial_passes(drv, KC, monkeypatch):
    """NaN wins amax/amin wherever it sits (a run's tail, a partial column block, a later pass), inf
    sums to inf, and short runs chain several passes of partial results."""
    from ember_kernelgen import reduction as RD
    monkeypatch.setattr(RD, "MAX_RUN", 2)      # runs of 2 * U elements: three passes below
    monkeypatch.setattr(RD, "COL_RUN", 3)
    KC["sum"].choose("cl:0", ("cpu", 16, 4))   # drops the plans made with the defaults
    x = rand((5, 4099))
    x[1, 4098] = np.nan                        # the last element of a row
    x[3, 17] = np.nan
    x[4, 100] = np.inf
    tx = drv.tensor(x, pad=2)
    for op, f in (("amax", np.max), ("amin", np.min)):
        close(host(drv, KC[op](tx, (1,), False)), f(x, 1))
        close(host(drv, KC[op](tx, (0,), False)), f(x, 0))
        close(host(drv, KC[op](tx, (0, 1), False)), f(x))
    s = host(drv, KC["sum"](tx, (1,), False, D.float32))
    assert np.isnan(s[1]) and np.isnan(s[3]) and s[4] == np.inf
    close(s[[0, 2]], x[[0, 2]].sum(1), rtol=1e-5, atol=1e-4)
    y = rand(123457)
    close(host(drv, KC["sum"](drv.tensor(y), (0,), False, D.float32)), y.astype(np.float64).sum(),
          rtol=1e-5, atol=1e-3)
    p = 1 + y.astype(np.float64) * 1e-6
    close(host(drv, KC["prod"](drv.tensor(p), (0,), False, D.float64)), np.prod(p), rtol=1e-9)
    i = rand((300, 41), np.int16, -30000, 30000)
    close(host(drv, KC["sum"](drv.tensor(i), (0,), False, D.int64)), i.astype(np.int64).sum(0))
    close(host(drv, KC["amin"](drv.tensor(i), (0,), True)), i.min(0, keepdims=True))
    e = drv.tensor(np.zeros((0, 7), np.float32))
    close(host(drv, KC["sum"](e, (0,), False, D.float32)), np.zeros(7, np.float32))
    close(host(drv, KC["prod"](e, (0,), False, D.float32)), np.ones(7, np.float32))
    close(host(drv, KC["amax"](drv.tensor(np.zeros((7, 0), np.float32)), (0,), False)), np.zeros(0, np.float32))


def test_arg_reductions(drv, K):
    x = rand((4, 70), np.int32, -3, 3)              # many ties: the first index wins
    tx = drv.tensor(x)
    close(host(drv, K["argmax"](tx, 1, False)), x.argmax(1))
    close(host(drv, K["argmin"](tx, 0, True)), x.argmin(0)[None])
    close(host(drv, K["argmax"](tx, None, False)), np.int64(x.argmax()))
    f = rand((3, 5000))
    f[1, 4000] = np.nan
    f[1, 4500] = np.nan
    tf = drv.tensor(f)
    close(host(drv, K["argmax"](tf, 1, False)), f.argmax(1))
    close(host(drv, K["argmin"](tf, 1, False)), f.argmin(1))
    close(host(drv, K["argmax"](drv.tensor(f.T.copy())._view((3, 5000), (1, 3)), 1, False)), f.argmax(1))


def test_scans(drv, K):
    x = rand((4, 5, 6))
    tx = drv.tensor(x)
    close(host(drv, K["cumsum"](tx, 1, D.float32)), np.cumsum(x, 1), rtol=1e-5, atol=1e-5)
    close(host(drv, K["cumprod"](tx, 2, D.float64)), np.cumprod(x.astype(np.float64), 2), rtol=1e-5)
    i = rand((3, 9), np.int8)
    close(host(drv, K["cumsum"](drv.tensor(i), 0, D.int64)), np.cumsum(i, 0, dtype=np.int64))
    long = rand((2, 5000), np.int32, -9, 9)          # long lines: one block per line
    close(host(drv, K["cumsum"](drv.tensor(long), 1, D.int64)), np.cumsum(long, 1, dtype=np.int64))
    lf = rand((3000, 2)).astype(np.float64) / 3 + 1
    close(host(drv, K["cumprod"](drv.tensor(lf), 0, D.float64)), np.cumprod(lf, 0), rtol=1e-9)
    h = rand(300).astype(np.float16)
    close(host(drv, K["cumsum"](drv.tensor(h), 0, D.float16)),
          np.cumsum(h.astype(np.float32)).astype(np.float16), rtol=1e-3)


# -- indexing ---------------------------------------------------------------------------------

def test_gather_scatter_and_bounds(drv, K):
    x = rand((5, 4, 3))
    idx = RNG.integers(0, 5, (7, 4, 2))
    close(host(drv, K["gather"](drv.tensor(x), 0, drv.tensor(idx))), np.take_along_axis(x[:, :, :2], idx, 0))
    with pytest.raises(IndexError, match="index 5 is out of bounds for dimension 0 with size 5"):
        K["gather"](drv.tensor(x), 0, drv.tensor(idx + 1 + (idx.max() < 4) * 4))
    self_ = np.zeros((5, 4, 3), np.float32)
    idx2 = np.stack([RNG.permutation(5)[:3] for _ in range(12)], 1).reshape(3, 4, 3)
    src = rand((3, 4, 3))
    t = drv.tensor(self_)
    K["scatter_"](t, 0, drv.tensor(idx2), drv.tensor(src))
    want = self_.copy()
    np.put_along_axis(want, idx2, src, 0)
    close(host(drv, t), want)
    with pytest.raises(IndexError):
        K["scatter_"](t, 0, drv.tensor(idx2 - 1 - idx2.max() * 0 - 5), drv.tensor(src))


@pytest.mark.parametrize("dtype", [np.float32, np.float16, BF16, np.int8, np.int16, np.int64, np.float64])
def test_scatter_add_accumulates_repeats(drv, K, dtype):
    self_ = np.zeros((3, 5), dtype)
    idx = RNG.integers(0, 3, (40, 5))
    src = np.ones((40, 5), dtype)
    t = drv.tensor(self_)
    K["scatter_add_"](t, 0, drv.tensor(idx), drv.tensor(src))
    want = np.zeros((3, 5), np.float64)
    np.add.at(want, (idx, np.arange(5)[None, :]), 1)
    close(host(drv, t), want.astype(dtype))


def test_index_select_and_index_add(drv, K):
    x = rand((4, 6))
    idx = np.array([5, 0, 0, 3], np.int64)
    close(host(drv, K["index_select"](drv.tensor(x), 1, drv.tensor(idx))), x[:, idx])
    s = np.zeros((4, 6), np.float32)
    src = rand((4, 4))
    t = drv.tensor(s)
    K["index_add_"](t, 1, drv.tensor(idx), drv.tensor(src))
    np.add.at(s, (slice(None), idx), src)
    close(host(drv, t), s)
    with pytest.raises(IndexError, match="index 6"):
        K["index_select"](drv.tensor(x), 1, drv.tensor(np.array([6], np.int64)))


# -- bmm, philox, sort, flip, arange, nonzero -------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int32, np.float64])
def test_bmm(drv, K, dtype):
    a = rand((3, 19, 33), dtype, -4, 4)
    b = rand((3, 33, 21), dtype, -4, 4)
    got = host(drv, K["bmm"](drv.tensor(a), drv.tensor(b)))
    if np.dtype(dtype) == np.float16:
        want = (a.astype(np.float32) @ b.astype(np.float32)).astype(np.float16)
        close(got, want, rtol=2e-3, atol=1e-2)
    else:
        close(got, a @ b, rtol=1e-5, atol=1e-4)
    bt = drv.tensor(b.transpose(0, 2, 1).copy())._view((3, 33, 21), (21 * 33, 1, 33))
    close(host(drv, K["bmm"](drv.tensor(a), bt)).astype(np.float64), (a.astype(np.float64) @ b),
          rtol=2e-3, atol=2e-2)
    z = K["bmm"](drv.tensor(np.zeros((2, 3, 0), dtype)), drv.tensor(np.zeros((2, 0, 4), dtype)))
    close(host(drv, z), np.zeros((2, 3, 4), dtype))


_RB_TILES = [c for c in G.CANDIDATES if c[0] == "rb"] + [("rb", 3, 5, 2), ("rb", 1, 1, 1)]


def _want(a, b):
    if a.dtype == np.float16:
        return (a.astype(np.float32) @ b.astype(np.float32)).astype(np.float16)
    if a.dtype.kind in "iu":
        return a @ b
    return a.astype(np.float64) @ b.astype(np.float64)


@pytest.mark.parametrize("nkp", [(19, 37, 45), (45, 37, 19)], ids=["pack_a", "pack_b"])
@pytest.mark.parametrize("choice", _RB_TILES, ids=G.describe)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int32, np.int64])
def test_bmm_register_tiles(drv, K, choice, dtype, nkp):
    """The CPU-shaped GEMM at every candidate tile, packing b (N >= P) or a (N < P: out^T = b^T a^T):
    sizes that leave partial blocks in rows and columns, a transposed and a sliced b (packed from any
    strides), a transposed a read in place, an operand at an offset, one b or one a for every batch
    (stride 0), and K = 1."""
    n, k, p = nkp
    bmm = K["bmm"].using(choice)
    tol = dict(rtol=2e-3, atol=3e-2) if dtype == np.float16 else dict(rtol=1e-5, atol=1e-4)
    a, b = rand((3, n, k), dtype, -4, 4), rand((3, k, p), dtype, -4, 4)
    close(host(drv, bmm(drv.tensor(a), drv.tensor(b))), _want(a, b), **tol)
    bt = drv.tensor(b.transpose(0, 2, 1).copy())._view((3, k, p), (p * k, 1, k))
    at = drv.tensor(a.transpose(0, 2, 1).copy(), pad=3)._view((3, n, k), (n * k, 1, n), 3)
    close(host(drv, bmm(at, bt)), _want(a, b), **tol)
    wide = rand((3, k, 2 * p), dtype, -4, 4)
    sliced = drv.tensor(wide)._view((3, k, p), (k * 2 * p, 2 * p, 2))
    close(host(drv, bmm(drv.tensor(a), sliced)), _want(a, wide[:, :, ::2]), **tol)
    shared = drv.tensor(b[0])._view((3, k, p), (0, p, 1))
    close(host(drv, bmm(drv.tensor(a), shared)), _want(a, np.broadcast_to(b[0], b.shape)), **tol)
    shared_a = drv.tensor(a[1])._view((3, n, k), (0, k, 1))
    close(host(drv, bmm(shared_a, drv.tensor(b))), _want(np.broadcast_to(a[1], a.shape), b), **tol)
    one = rand((2, 5, 1), dtype), rand((2, 1, 33), dtype)
    close(host(drv, bmm(*map(drv.tensor, one))), _want(*one), **tol)
    one = rand((2, 33, 1), dtype), rand((2, 1, 5), dtype)
    close(host(drv, bmm(*map(drv.tensor, one))), _want(*one), **tol)


def test_bmm_register_tiles_bfloat16_and_size_one(drv, K):
    bmm = K["bmm"].using(G.CANDIDATES[0])
    a = rand((1, 9, 20), np.float32).astype(BF16)
    b = rand((1, 20, 17), np.float32).astype(BF16)
    got = host(drv, bmm(drv.tensor(a), drv.tensor(b))).astype(np.float32)
    want = a.astype(np.float32) @ b.astype(np.float32)
    close(got, want, rtol=1e-2, atol=5e-2)
    x, y = rand((1, 1, 7)), rand((1, 7, 1))
    close(host(drv, bmm(drv.tensor(x), drv.tensor(y))), _want(x, y), rtol=1e-5, atol=1e-5)


class Tuned(CLDriver):
    """A driver that names its device for the tuning file and counts its launches."""
    launches = 0

    def tune_key(self, device):
        return "test device"

    def launch(self, *args):
        self.launches += 1
        return super().launch(*args)


def test_gemm_tuning_measures_once_and_keeps_the_choice_on_disk(drv, tmp_path, monkeypatch):
    """A driver with tune_key has its device measured at the first bmm; the choice goes to the
    tuning file, and a later process (a new table) reads it back without measuring."""
    monkeypatch.setenv("EMBER_KERNEL_CACHE", str(tmp_path))
    monkeypatch.delenv(G.ENV, raising=False)
    monkeypatch.setattr(G, "TUNE_N", 48)
    monkeypatch.setattr(G, "CANDIDATES", (("rb", 4, 16, 1), ("tiled",)))

    tdrv = Tuned()
    a, b = rand((1, 6, 5)), rand((1, 5, 7))
    bmm = kg.build_kernels(tdrv, registered_only=False)["bmm"]
    close(host(tdrv, bmm(tdrv.tensor(a), tdrv.tensor(b))), _want(a, b), rtol=1e-5, atol=1e-5)
    assert tdrv.launches > 6      # two fills, each candidate at least twice, then the product
    import json
    entries = json.loads((tmp_path / G.TUNE_FILE).read_text())
    (key, entry), = entries.items()
    assert key.startswith("opencl|test device|")
    assert tuple(entry["choice"]) in G.CANDIDATES and set(entry["ms"]) == {"4x16", "tiled"}
    assert bmm.choice("cl:0") == tuple(entry["choice"])
    tdrv.launches = 0
    bmm = kg.build_kernels(tdrv, registered_only=False)["bmm"]
    close(host(tdrv, bmm(tdrv.tensor(a), tdrv.tensor(b))), _want(a, b), rtol=1e-5, atol=1e-5)
    assert tdrv.launches == (1 if entry["choice"] == ["tiled"] else 2)      # the product alone


def test_gemm_choice_from_the_environment(drv, monkeypatch):
    monkeypatch.setenv(G.ENV, "3x8x2")
    bmm = kg.build_kernels(drv, registered_only=False)["bmm"]
    assert bmm.choice("cl:0") == ("rb", 3, 8, 2)
    a, b = rand((2, 10, 4)), rand((2, 4, 9))
    close(host(drv, bmm(drv.tensor(a), drv.tensor(b))), _want(a, b), rtol=1e-5, atol=1e-5)
    assert G.parse("tiled") == ("tiled",) and G.parse(" 8x16 ") == ("rb", 8, 16, 1)
    for bad in ("fast", "0x16", "8x16x0", "8x"):
        with pytest.raises(ValueError, match="EMBER_KERNEL_GEMM"):
            G.parse(bad)


def test_reduction_tuning_measures_once_and_keeps_the_choice_on_disk(drv, tmp_path, monkeypatch):
    """A driver with tune_key has its device measured at the first reduction; the choice goes to the
    tuning file, and a later process (a new table) reads it back without measuring."""
    from ember_kernelgen import reduction as RD
    monkeypatch.setenv("EMBER_KERNEL_CACHE", str(tmp_path))
    monkeypatch.delenv(RD.ENV, raising=False)
    monkeypatch.setattr(RD, "TUNE_N", 1 << 14)
    monkeypatch.setattr(RD, "TUNE_ROWS", 64)
    monkeypatch.setattr(RD, "CANDIDATES", (("tree",), ("cpu", 16, 4)))

    tdrv = Tuned()
    x = rand((3, 50))
    total = kg.build_kernels(tdrv, registered_only=False)["sum"]
    close(host(tdrv, total(tdrv.tensor(x), (1,), False, D.float32)), x.sum(1), rtol=1e-5, atol=1e-5)
    assert tdrv.launches > 8      # a fill, each candidate's two sums at least twice, then the sum
    import json
    entries = json.loads((tmp_path / RD.TUNE_FILE).read_text())
    (key, entry), = entries.items()
    assert key.startswith("opencl|test device|")
    assert tuple(entry["choice"]) in RD.CANDIDATES and set(entry["ms"]) == {"tree", "16x4"}
    assert total.choice("cl:0") == tuple(entry["choice"])
    tdrv.launches = 0
    total = kg.build_kernels(tdrv, registered_only=False)["sum"]
    close(host(tdrv, total(tdrv.tensor(x), (1,), False, D.float32)), x.sum(1), rtol=1e-5, atol=1e-5)
    assert tdrv.launches == 1      # the sum alone: 3 rows of 50 take one launch either way


def test_reduction_choice_from_the_environment(drv, monkeypatch):
    from ember_kernelgen import reduction as RD
    monkeypatch.setenv(RD.ENV, "32x8")
    total = kg.build_kernels(drv, registered_only=False)["sum"]
    assert total.choice("cl:0") == ("cpu", 32, 8)
    x = rand((4, 3000))
    close(host(drv, total(drv.tensor(x), (0, 1), False, D.float32)), x.sum(), rtol=1e-5, atol=1e-3)
    assert total.choose("cl:0", ("tree",)) == ("cpu", 32, 8)
    close(host(drv, total(drv.tensor(x), (0, 1), False, D.float32)), x.sum(), rtol=1e-5, atol=1e-3)
    assert RD.parse("tree") == ("tree",) and RD.parse(" 16 ") == ("cpu", 16, 16) and RD.parse("8x1") == ("cpu", 8, 1)
    for bad in ("fast", "12", "16x0", "16x", "x16"):
        with pytest.raises(ValueError, match="EMBER_KERNEL_REDUCE"):
            RD.parse(bad)
    for bad in (("cpu", 12, 4), ("cpu", 16), ("cpu", 16, 0), ("gpu",)):
        with pytest.raises(ValueError, match="no reduction choice"):
            total.choose("cl:0", bad)


def _philox_ref(counter, key):
    c, k = list(counter), list(key)
    for _ in range(10):
        p0, p1 = 0xD2511F53 * c[0], 0xCD9E8D57 * c[2]
        c = [(p1 >> 32) ^ c[1] ^ k[0], p1 & 0xFFFFFFFF, (p0 >> 32) ^ c[3] ^ k[1], p0 & 0xFFFFFFFF]
        k = [(k[0] + 0x9E3779B9) & 0xFFFFFFFF, (k[1] + 0xBB67AE85) & 0xFFFFFFFF]
    return c


def test_philox_known_answer_and_counters(drv, K):
    got = host(drv, K["philox_random"](drv.empty((4,), D.int64, None), 0, 0))
    assert [int(v) for v in got] == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]
    seed, offset = 0x1234_5678_9ABC_DEF0, (1 << 64) - 2      # the counter carries into its high words
    got = host(drv, K["philox_random"](drv.empty((3, 5), D.int64, None), seed, offset))
    assert got.dtype == np.int64 and got.shape == (3, 5)
    key = (seed & 0xFFFFFFFF, seed >> 32)
    want = []
    for n in range(15):
        c = offset + n // 4
        want.append(_philox_ref([(c >> (32 * i)) & 0xFFFFFFFF for i in range(4)], key)[n % 4])
    assert got.reshape(-1).tolist() == want
    assert (got >= 0).all() and (got < 2 ** 32).all()


@pytest.mark.parametrize("n", [2, 37, 1024, 3000])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_stable_with_nan(drv, K, n, descending):
    x = RNG.integers(0, 5, (3, n)).astype(np.float32)
    x[0, n // 2] = np.nan
    x[2, 0] = np.nan
    vals, idx = K["sort"](drv.tensor(x), 1, descending, True)
    if descending:
        want_i = (n - 1) - np.flip(np.argsort(np.flip(x, 1), axis=1, kind="stable"), 1)
    else:
        want_i = np.argsort(x, axis=1, kind="stable")
    close(host(drv, idx), want_i)
    close(host(drv, vals), np.take_along_axis(x, want_i, 1))


def test_sort_other_dim_and_dtypes(drv, K):
    x = rand((6, 4), np.int64, -1000, 1000)
    vals, idx = K["sort"](drv.tensor(x), 0, False, True)
    close(host(drv, vals), np.sort(x, 0))
    close(host(drv, idx), np.argsort(x, 0, kind="stable"))
    h = rand((2, 9)).astype(BF16)
    vals, _ = K["sort"](drv.tensor(h), 1, True, True)
    close(host(drv, vals), -np.sort(-h.astype(np.float32), 1))


def test_flip_arange_nonzero(drv, K):
    x = rand((3, 4, 5))
    close(host(drv, K["flip"](drv.tensor(x), (0, 2))), np.flip(x, (0, 2)))
    close(host(drv, K["arange"](0.5, 0.25, 7, D.float32, "cl:0")), (np.arange(7) * 0.25 + 0.5).astype(np.float32))
    close(host(drv, K["arange"](10, -3, 5, D.int16, "cl:0")), np.arange(10, -5, -3, dtype=np.int16))
    close(host(drv, K["arange"](1, 1, 4, D.bfloat16, "cl:0")), np.arange(1, 5).astype(BF16))
    z = rand((4, 5, 3))
    z[z < 1] = 0
    z[0, 0, 0] = np.nan
    close(host(drv, K["nonzero"](drv.tensor(z))), np.argwhere(z))
    assert host(drv, K["nonzero"](drv.tensor(np.zeros((2, 3), np.int32)))).shape == (0, 2)
    assert host(drv, K["nonzero"](drv.tensor(np.array(3, np.int8)))).shape == (1, 0)
    assert host(drv, K["nonzero"](drv.tensor(np.zeros((0, 4), bool)))).shape == (0, 2)


def test_philox_matches_the_cpu_backend(drv, K):
    ref = pytest.importorskip("ember_cpu.kernels.random")
    for seed, offset, n in ((0, 0, 9), (2 ** 64 - 1, 2 ** 100 + 5, 13), (42, 7, 1001)):
        got = host(drv, K["philox_random"](drv.empty((n,), D.int64, None), seed, offset))
        np.testing.assert_array_equal(got, ref.philox_numpy(n, seed, offset))
