"""The exact decompositions (core/ops/decompositions/arithmetic.py) on the npy fixture device.

npy (tests/fixtures/plugins/npy) has kernels for the required prims only, so every operator
here runs through its decomposition there. Results must equal numpy's bit for bit, signed
zeros included (NaN compared as NaN), over every value of the half types, random bit
patterns of float32/float64 (all magnitudes, subnormals, ±inf, NaN), special values and
the full integer ranges.
"""

from __future__ import annotations

import itertools

import ml_dtypes
import numpy as np
import pytest

import ember
from fixture_plugins import load

# npy rounds a float32 result to a half type with numpy's cast, which warns where it overflows to inf.
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")


@pytest.fixture(scope="module", autouse=True)
def npy():
    return load("npy")


FLOATS = ("float16", "bfloat16", "float32", "float64")
INTS = ("uint8", "int8", "int16", "int32", "int64")
_BITS = {"float16": np.uint16, "bfloat16": np.uint16, "float32": np.uint32, "float64": np.uint64}
_NP = {"bfloat16": ml_dtypes.bfloat16}


def npdt(name):
    return np.dtype(_NP.get(name, name))


def specials(name):
    """Values every float test meets: the edges of rounding, division and comparison."""
    dt = npdt(name)
    fi = ml_dtypes.finfo(dt) if name == "bfloat16" else np.finfo(dt)
    big = float(2.0 ** (fi.nmant))  # the first magnitude past which every value is whole
    vals = [np.nan, np.inf, -np.inf, 0.0, -0.0, 0.5, -0.5, 1.0, -1.0, 1.5, -1.5, 2.5, -2.5, 3.5, -3.5,
            0.25, -0.75, 7.0, -7.0, 0.1, -0.1, big, -big, big - 0.5, -(big - 0.5), big + 1, 2 * big + 2,
            float(fi.max), -float(fi.max), float(fi.tiny), -float(fi.tiny), float(fi.smallest_subnormal),
            -float(fi.smallest_subnormal), float(fi.eps), 1 - float(fi.epsneg), -(1 - float(fi.epsneg)),
            0.5 - float(fi.epsneg) / 2, 1e3, -1e3]
    return np.array(vals, dtype=np.float64).astype(dt)


def float_values(name, n=4000, seed=0):
    """Special values, then every value of a 16-bit type, or random bit patterns (all exponents)."""
    rng = np.random.default_rng(seed)
    bits = _BITS[name]
    if bits is np.uint16:
        pattern = np.arange(1 << 16, dtype=np.uint16)
    else:
        pattern = rng.integers(0, np.iinfo(bits).max, size=n, dtype=bits, endpoint=True)
    x = pattern.view(npdt(name))
    x = np.where(np.isnan(x), np.array(np.nan, npdt(name)), x)  # a NaN's sign bit is invisible to the prims
    moderate = (rng.standard_normal(n) * 10.0 ** rng.integers(-3, 4, n)).astype(npdt(name))
    return np.concatenate([specials(name), moderate, x])


def int_values(name, n=2000, seed=0):
    info = np.iinfo(name)
    rng = np.random.default_rng(seed)
    edges = np.array([info.min, info.min + 1, info.max, info.max - 1, 0, 1, 2, 3, 7, 8, 100], dtype=np.int64)
    if info.min < 0:
        edges = np.concatenate([edges, [-1, -2, -3, -7, -8, -100]])
    edges = edges[(edges >= info.min) & (edges <= info.max)].astype(name)
    return np.concatenate([edges, rng.integers(info.min, info.max, size=n, dtype=name, endpoint=True),
                           rng.integers(-20 if info.min < 0 else 0, 20, size=n).astype(name)])


def values(name, **kw):
    if name == "bool":
        return np.array([True, False, True, True, False])
    return float_values(name, **kw) if name in FLOATS else int_values(name, **kw)


def on_npy(a):
    return ember.tensor(a, device="npy")


def host(t):
    return np.asarray(t.cpu().numpy())


def assert_same(got, want, what="", zero_sign=True):
    """Equal values and dtypes; NaN matches NaN and a zero's sign must match (unless zero_sign is False)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype, (what, got.dtype, want.dtype)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    if want.dtype.kind == "f" or want.dtype == ml_dtypes.bfloat16:
        g, w = got.astype(np.float64), want.astype(np.float64)
        bad = (np.isnan(g) != np.isnan(w)) | (~np.isnan(w) & ((g != w) | (zero_sign & (np.signbit(g) != np.signbit(w)))))
    else:
        bad = got != want
    if bad.any():
        i = np.flatnonzero(bad)[:8]
        raise AssertionError(f"{what}: {int(bad.sum())} of {bad.size} differ; first got {got.ravel()[i]}, "
                             f"want {want.ravel()[i]}")


def reference(fn, *arrays, out=None):
    """numpy's answer; bfloat16 computes in float32 and rounds once (as numpy has few bfloat16 loops)."""
    bf = any(isinstance(a, np.ndarray) and a.dtype == ml_dtypes.bfloat16 for a in arrays)
    args = [a.astype(np.float32) if bf and isinstance(a, np.ndarray) else a for a in arrays]
    with np.errstate(all="ignore"):
        r = np.asarray(fn(*args))
    if bf and r.dtype == np.float32:
        r = r.astype(ml_dtypes.bfloat16)
    return r


def _np_frac(x):
    return x - np.trunc(x)


UNARY = {
    "neg": (np.negative, FLOATS + INTS[1:]), "abs": (np.abs, FLOATS + INTS), "sign": (np.sign, FLOATS + INTS),
    "square": (np.square, FLOATS + INTS), "trunc": (np.trunc, FLOATS), "floor": (np.floor, FLOATS),
    "ceil": (np.ceil, FLOATS), "round": (np.round, FLOATS), "frac": (_np_frac, FLOATS),
    "isnan": (np.isnan, FLOATS + INTS), "isinf": (np.isinf, FLOATS + INTS),
    "isfinite": (np.isfinite, FLOATS + INTS), "signbit": (np.signbit, FLOATS + INTS[1:]),
    "logical_not": (np.logical_not, ("bool",)), "bitwise_not": (np.invert, INTS + ("bool",)),
}


@pytest.mark.parametrize("op,dtype", [(op, dt) for op, (_, dts) in UNARY.items() for dt in dts])
def test_unary_matches_numpy(op, dtype):
    fn, _ = UNARY[op]
    x = values(dtype)
    want = reference(fn, x)
    got = host(getattr(ember, op)(on_npy(x)))
    assert_same(got, want, f"{op}({dtype})")


@pytest.mark.parametrize("op", ["neg", "abs", "sign", "square", "trunc", "floor", "ceil", "round", "frac"])
def test_unary_inplace(op):
    x = values("float32", n=200)
    t = on_npy(x)
    r = getattr(t, op + "_")()
    assert r is t
    assert_same(host(t), reference(UNARY[op][0], x), op + "_")


def test_unsigned_and_bool_special_forms():
    u = np.array([0, 1, 200, 255], dtype=np.uint8)
    assert_same(host(ember.neg(on_npy(u))), np.negative(u), "neg(uint8)")
    assert_same(host(ember.signbit(on_npy(u))), np.zeros(4, bool), "signbit(uint8)")
    b = np.array([True, False])
    assert_same(host(ember.sign(on_npy(b))), b, "sign(bool)")
    assert_same(host(ember.signbit(on_npy(b))), np.zeros(2, bool), "signbit(bool)")
    assert_same(host(ember.square(on_npy(b))), b.astype(np.int64), "square(bool)")
    assert_same(host(ember.isnan(on_npy(b))), np.zeros(2, bool), "isnan(bool)")


def test_every_operator_here_is_decomposed():
    from ember.dispatch import registry
    names = list(UNARY) + list(BINARY)
    for name in names + [n + "_" for n in names if n + "_" in registry]:
        op = registry[name]
        assert not op.is_prim and op.decomposition is not None, name
        assert ember.ops.prims.REQUIRED.count(name) == 0, name


def test_rounding_on_integers_never_reaches_a_kernel():
    x = np.array([-3, 0, 5], dtype=np.int32)
    for op in ("trunc", "floor", "ceil", "round"):
        assert_same(host(getattr(ember, op)(on_npy(x))), x, op)


# -- binary ----------------------------------------------------------------------------------------

def float_pairs(name):
    """All pairs of special values, then random pairs of the same and of mixed magnitudes."""
    s = specials(name)
    a, b = (np.array(v, dtype=s.dtype) for v in zip(*itertools.product(s, s)))
    x = float_values(name, n=3000, seed=1)
    y = float_values(name, n=3000, seed=2)
    rng = np.random.default_rng(3)
    y = y[rng.permutation(len(y))][:len(x)] if len(y) >= len(x) else np.resize(y, len(x))
    # near multiples: quotients close to whole numbers, where floor division is delicate
    q = rng.integers(-50, 50, 2000).astype(np.float64)
    d = (rng.standard_normal(2000) * 10.0 ** rng.integers(-2, 3, 2000))
    m = (q * d).astype(s.dtype)
    return np.concatenate([a, x, m]), np.concatenate([b, y[:len(x)], d.astype(s.dtype)])


def int_pairs(name, nonzero=False):
    x = int_values(name, seed=1)
    y = int_values(name, seed=2)
    n = min(len(x), len(y))
    e = int_values(name, n=0)
    a, b = (np.array(v, dtype=name) for v in zip(*itertools.product(e, e)))
    a, b = np.concatenate([a, x[:n]]), np.concatenate([b, y[:n]])
    if nonzero:
        b = np.where(b == 0, np.array(3, dtype=name), b)
    return a, b


def shift_pairs(name):
    width = 8 * np.dtype(name).itemsize
    a = int_values(name, n=300)
    info = np.iinfo(name)
    counts = [c for c in range(-3, width + 3) if info.min <= c <= info.max] + [info.max, info.min]
    a, b = (np.array(v, dtype=name) for v in zip(*itertools.product(a, counts)))
    return a, b


BINARY = {
    "sub": (np.subtract, FLOATS + INTS), "floor_divide": (np.floor_divide, FLOATS + INTS),
    "remainder": (np.remainder, FLOATS + INTS), "maximum": (np.maximum, FLOATS + INTS + ("bool",)),
    "minimum": (np.minimum, FLOATS + INTS + ("bool",)), "copysign": (np.copysign, FLOATS),
    "ne": (np.not_equal, FLOATS + INTS + ("bool",)), "le": (np.less_equal, FLOATS + INTS + ("bool",)),
    "gt": (np.greater, FLOATS + INTS + ("bool",)), "ge": (np.greater_equal, FLOATS + INTS + ("bool",)),
    "logical_and": (np.logical_and, ("bool",)), "logical_or": (np.logical_or, ("bool",)),
    "logical_xor": (np.logical_xor, ("bool",)), "bitwise_or": (np.bitwise_or, INTS + ("bool",)),
    "bitwise_left_shift": (np.left_shift, INTS), "bitwise_right_shift": (np.right_shift, INTS),
}


# numpy's maximum and minimum pick either zero of a (−0, +0) pair, depending on the dtype's loop.
ZERO_SIGN_FREE = ("maximum", "minimum")


def pairs(op, dtype):
    if dtype == "bool":
        return np.array([True, True, False, False]), np.array([True, False, True, False])
    if op.startswith("bitwise_") and "shift" in op:
        return shift_pairs(dtype)
    if dtype in FLOATS:
        return float_pairs(dtype)
    return int_pairs(dtype, nonzero=op in ("floor_divide", "remainder"))


@pytest.mark.parametrize("op,dtype", [(op, dt) for op, (_, dts) in BINARY.items() for dt in dts])
def test_binary_matches_numpy(op, dtype):
    fn, _ = BINARY[op]
    a, b = pairs(op, dtype)
    want = reference(fn, a, b)
    got = host(getattr(ember, op)(on_npy(a), on_npy(b)))
    assert_same(got, want, f"{op}({dtype})", zero_sign=op not in ZERO_SIGN_FREE)


SCALARS = {"float32": (2.5, -0.0, 0.0, -3.0, float("inf"), float("nan"), 1e-30),
           "int32": (3, -3, 1, -1, 7, 100), "uint8": (3, 1, 200), "int8": (3, -3, 1, -1, 7, 100)}


@pytest.mark.parametrize("op,dtype", [(op, dt) for op, (_, dts) in BINARY.items() if "logical" not in op
                                      for dt in SCALARS if dt in dts])
def test_binary_with_a_scalar(op, dtype):
    fn, _ = BINARY[op]
    a = pairs(op, dtype)[0][:500]
    scalars = SCALARS[dtype]
    if "shift" in op:
        scalars = (0, 1, 3, 7, 8, 31, 32, 40, -1) if dtype != "uint8" else (0, 1, 3, 7, 8, 9)
    for s in scalars:
        if s == 0 and op in ("floor_divide", "remainder") and dtype not in FLOATS:
            continue
        sn = np.array(s).astype(npdt(dtype)) if dtype not in FLOATS else np.float32(s)
        if "shift" in op and not (np.iinfo(dtype).min <= s <= np.iinfo(dtype).max):
            continue
        want = reference(fn, a, np.full(a.shape, sn, dtype=a.dtype))
        zs = op not in ZERO_SIGN_FREE
        assert_same(host(getattr(ember, op)(on_npy(a), s)), want, f"{op}({dtype}, {s})", zs)
        b = a if op not in ("floor_divide", "remainder") or dtype in FLOATS else np.where(a == 0, 1, a).astype(a.dtype)
        want = reference(fn, np.full(b.shape, sn, dtype=b.dtype), b)
        assert_same(host(getattr(ember, op)(s, on_npy(b))), want, f"{op}({s}, {dtype})", zs)


@pytest.mark.parametrize("op", ["sub", "floor_divide", "remainder", "maximum", "minimum", "copysign",
                                "bitwise_or", "bitwise_left_shift", "bitwise_right_shift"])
def test_binary_inplace(op):
    dtype = "float32" if op in ("sub", "floor_divide", "remainder", "maximum", "minimum", "copysign") else "int32"
    a, b = pairs(op, dtype)
    t = on_npy(a)
    r = getattr(t, op + "_")(on_npy(b))
    assert r is t
    assert_same(host(t), reference(BINARY[op][0], a, b), op + "_", op not in ZERO_SIGN_FREE)


def test_integer_division_by_zero_raises():
    a = on_npy(np.array([5, -5], dtype=np.int32))
    for op in ("floor_divide", "remainder"):
        with pytest.raises(ZeroDivisionError):
            getattr(ember, op)(a, on_npy(np.array([1, 0], dtype=np.int32)))


def test_broadcast_and_promotion():
    a = on_npy(np.array([[-7], [7]], dtype=np.int16))
    b = on_npy(np.array([2.0, -2.0, 0.5], dtype=np.float32))
    got = host(ember.floor_divide(a, b))
    assert_same(got, np.floor_divide(np.array([[-7], [7]], np.float32), np.array([2.0, -2.0, 0.5], np.float32)))
    got = host(ember.maximum(on_npy(np.array([1, 5], np.int8)), on_npy(np.array([3.0, float("nan")], np.float64))))
    assert_same(got, np.array([3.0, np.nan]))
    assert_same(host(ember.ne(on_npy(np.array([1, 2], np.uint8)), 2.5)), np.array([True, True]))
