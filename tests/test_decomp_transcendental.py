"""The transcendental decompositions (core/ops/decompositions/transcendental.py) on the npy fixture device.

npy (tests/fixtures/plugins/npy) has kernels for the required prims only, so every operator here
runs through its decomposition there. Each is compared with the float64 C library (numpy, math,
scipy for erfinv) over every value of the half types, random bit patterns of float32/float64
(all magnitudes, subnormals, ±inf, NaN), dense samples where the functions bend, and special
values, with signed zeros checked. The operators computed through float64 where the device has
it are also checked on their float32 path (the decomposition called on float32 directly, as on
a device without float64).
"""

from __future__ import annotations

import itertools
import math

import ml_dtypes
import numpy as np
import pytest

import ember
from fixture_plugins import load
from ember.ops.decompositions import transcendental as T

# npy rounds a float64 result beyond a half type's range to inf, as intended; numpy warns.
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")


@pytest.fixture(scope="module", autouse=True)
def npy():
    return load("npy")


FLOATS = ("float16", "bfloat16", "float32", "float64")
INTS = ("uint8", "int8", "int16", "int32", "int64")
_NP = {"bfloat16": ml_dtypes.bfloat16}
_BITS = {"float32": np.uint32, "float64": np.uint64}


def npdt(name):
    return np.dtype(_NP.get(name, name))


def finfo(name):
    return ml_dtypes.finfo(npdt(name)) if name == "bfloat16" else np.finfo(npdt(name))


def on_npy(a):
    return ember.tensor(a, device="npy")


def host(t):
    return np.asarray(t.cpu().numpy())


# -- references (float64) --------------------------------------------------------------------

_erf = np.vectorize(math.erf, otypes=[np.float64])
_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def _erfinv(y):
    special = pytest.importorskip("scipy.special")
    return np.copysign(special.erfinv(np.abs(y)), y)  # odd, as PyTorch's: erfinv(−0) = −0


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _rsqrt(x):
    return 1.0 / np.sqrt(x)


def _reciprocal(x):
    return 1.0 / x


UNARY = {
    "exp2": np.exp2, "expm1": np.expm1, "log1p": np.log1p, "log2": np.log2, "log10": np.log10,
    "tan": np.tan, "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan, "sinh": np.sinh,
    "cosh": np.cosh, "tanh": np.tanh, "asinh": np.arcsinh, "acosh": np.arccosh, "atanh": np.arctanh,
    "sigmoid": _sigmoid, "erf": _erf, "erfc": _erfc, "erfinv": _erfinv, "rsqrt": _rsqrt,
    "reciprocal": _reciprocal,
}
BINARY = {"pow": np.power, "hypot": np.hypot, "logaddexp": np.logaddexp}

#: Relative tolerance per result dtype: a few ulps where the decomposition computes in the dtype
#: itself (float32 and float64), one ulp for the half types (one rounding of a float32 result).
RTOL = {"float16": 2.0 ** -10, "bfloat16": 2.0 ** -7, "float32": 5e-7, "float64": 1e-15}
#: Operators allowed more in float64, with the reason: exp(x·ln2) and exp(b·log a) inherit the
#: rounding of their argument, up to 709·2^-53 relative; erfc = 1 − erf just below 1 (Cephes)
#: loses up to log2(0.85/0.15) bits.
RTOL64 = {"exp2": 1e-13, "pow": 2e-13, "erfc": 3e-15}


# -- values --------------------------------------------------------------------------------------

SPECIALS = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 3.0, -3.0, 2.5, -2.5]


def float_values(name, n=6000, seed=0):
    """Specials, dense samples in [-30, 30] and around ±1, then every value of a 16-bit type or
    random bit patterns (every exponent)."""
    rng = np.random.default_rng(seed)
    fi = finfo(name)
    edges = [float(fi.max), -float(fi.max), float(fi.tiny), -float(fi.tiny), float(fi.smallest_subnormal),
             1 - float(fi.epsneg), -(1 - float(fi.epsneg)), 1 + float(fi.eps), -(1 + float(fi.eps)),
             88.7, 89.4, -87.3, -103.9, 709.7, 710.4, 127.9, 128.0, -149.0, -1074.0, 26.5, 9.19, 1e-30]
    dense = np.concatenate([rng.uniform(-30, 30, n), rng.uniform(-1, 1, n),
                            np.sign(rng.uniform(-1, 1, n)) * (1 - np.exp(rng.uniform(-40, 0, n))),
                            rng.standard_normal(n) * 10.0 ** rng.integers(-8, 4, n)])
    if name in _BITS:
        bits = _BITS[name]
        every = rng.integers(0, np.iinfo(bits).max, size=n, dtype=bits, endpoint=True).view(npdt(name))
    else:
        every = np.arange(1 << 16, dtype=np.uint16).view(npdt(name))
    every = np.where(np.isnan(every), np.array(np.nan, npdt(name)), every)
    with np.errstate(over="ignore"):
        return np.concatenate([np.array(SPECIALS + edges).astype(npdt(name)), dense.astype(npdt(name)), every])


def float_pairs(name, n=6000, seed=1):
    """Every pair of specials, then random pairs: moderate, of mixed magnitudes, and bit patterns."""
    rng = np.random.default_rng(seed)
    s = np.array(SPECIALS)
    a, b = (np.array(v) for v in zip(*itertools.product(s, s)))
    x = float_values(name, n=n, seed=seed)
    y = float_values(name, n=n, seed=seed + 1)
    m = min(len(x), len(y))
    x, y = x[rng.permutation(len(x))[:m]], y[rng.permutation(len(y))[:m]]
    with np.errstate(over="ignore"):
        return (np.concatenate([a.astype(npdt(name)), x]), np.concatenate([b.astype(npdt(name)), y]))


def pow_pairs(name, n=6000, seed=2):
    """Bases over every magnitude and exponents that keep a^b in range, plus negative bases with
    whole exponents and the generic pairs (mostly 0, inf or NaN results)."""
    rng = np.random.default_rng(seed)
    hi = math.log(float(finfo(name).max))
    la = rng.uniform(-hi, hi, n)
    b = rng.uniform(-1, 1, n) * hi / np.maximum(np.abs(la), 1e-3)
    a = np.exp(la)
    neg = -rng.uniform(0, 4, n)
    whole = rng.integers(-12, 13, n).astype(np.float64)
    ga, gb = float_pairs(name, n // 4, seed)
    with np.errstate(over="ignore"):
        return (np.concatenate([ga, np.concatenate([a, neg, rng.uniform(0, 3, n)]).astype(npdt(name))]),
                np.concatenate([gb, np.concatenate([b, whole, rng.uniform(-2, 2, n)]).astype(npdt(name))]))


# -- comparison -------------------------------------------------------------------------------

def reference(fn, *arrays, dtype):
    """The float64 answer on the (already rounded) inputs, rounded once to ``dtype``."""
    with np.errstate(all="ignore"):
        return np.asarray(fn(*[np.asarray(a).astype(np.float64) for a in arrays])).astype(npdt(dtype))


def assert_close(got, want, rtol, what, atol=None, inputs=()):
    """NaN where want is NaN, the same infinities, signed zeros where want is an exact zero, and
    |got − want| <= rtol·|want| + atol elsewhere (atol: the dtype's smallest normal by default)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype, (what, got.dtype, want.dtype)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    g, w = got.astype(np.float64), want.astype(np.float64)
    if atol is None:
        atol = float(finfo(str(want.dtype)).tiny)
    with np.errstate(all="ignore"):
        far = np.abs(g - w) > rtol * np.abs(w) + atol
    bad = (np.isnan(g) != np.isnan(w)) | (np.isinf(w) & (g != w)) | (~np.isnan(w) & ~np.isinf(w) & far)
    bad |= (w == 0) & (g == 0) & (np.signbit(g) != np.signbit(w))
    if bad.any():
        i = np.flatnonzero(bad)[:6]
        at = [np.asarray(x).ravel()[i] for x in inputs]
        raise AssertionError(f"{what}: {int(bad.sum())} of {bad.size} off; at {at} got {got.ravel()[i]}, "
                             f"want {want.ravel()[i]}")


def rtol(op, dtype):
    return RTOL64.get(op, RTOL[dtype]) if dtype == "float64" else RTOL[dtype]


# -- unary ---------------------------------------------------------------------------------------

def test_these_operators_run_by_decomposition_on_npy():
    for op in list(UNARY) + list(BINARY):
        for name in (op, op + "_"):
            assert ember.dispatch.get(name).implementation("npy") == "decomposition", name


@pytest.mark.parametrize("op,dtype", [(op, dt) for op in UNARY for dt in FLOATS])
def test_unary_matches_the_c_library(op, dtype):
    x = float_values(dtype)
    got = host(getattr(ember, op)(on_npy(x)))
    assert_close(got, reference(UNARY[op], x, dtype=dtype), rtol(op, dtype), f"{op}({dtype})", inputs=(x,))


@pytest.mark.parametrize("op", list(UNARY))
def test_unary_integers_compute_in_the_default_float(op):
    x = np.array([-3, -1, 0, 1, 2, 5], dtype=np.int32)
    got = host(getattr(ember, op)(on_npy(x)))
    assert_close(got, reference(UNARY[op], x, dtype="float32"), RTOL["float32"], op, inputs=(x,))


@pytest.mark.parametrize("op", list(UNARY))
def test_unary_inplace(op):
    x = float_values("float32", n=500)
    t = on_npy(x)
    r = getattr(t, op + "_")()
    assert r is t
    assert_close(host(t), reference(UNARY[op], x, dtype="float32"), RTOL["float32"], op + "_", inputs=(x,))


#: The decompositions that compute float32 in float64 where the device has it, and their own
#: float32 path for devices without it, checked here on float32 directly.
F32_PATH = {"exp2": T._exp2, "sinh": T._sinh, "cosh": T._cosh, "erf": T._erf, "erfc": T._erfc,
            "erfinv": T._erfinv}


@pytest.mark.parametrize("op", list(F32_PATH))
def test_float32_path_without_float64(op):
    x = float_values("float32", seed=5)
    got = host(F32_PATH[op](on_npy(x)))
    assert_close(got, reference(UNARY[op], x, dtype="float32"), 1e-6, f"{op} in float32", inputs=(x,))


def test_the_float64_route_is_taken_for_float32():
    # exp2 of a float32 on a float64 device is exp(x·ln2) in float64, rounded once: exact here
    x = np.arange(-149, 128, dtype=np.float32)
    want = (2.0 ** x.astype(np.float64)).astype(np.float32)
    assert_close(host(ember.exp2(on_npy(x))), want, 0.0, "exp2 of whole numbers", atol=0.0)


# -- binary --------------------------------------------------------------------------------------

@pytest.mark.parametrize("op,dtype", [(op, dt) for op in ("hypot", "logaddexp") for dt in FLOATS])
def test_binary_matches_the_c_library(op, dtype):
    a, b = float_pairs(dtype)
    got = host(getattr(ember, op)(on_npy(a), on_npy(b)))
    atol = None
    if op == "logaddexp":  # a result near 0 comes from cancellation (in numpy's formula too)
        with np.errstate(all="ignore"):
            size = np.abs(a.astype(np.float64)) + np.abs(b.astype(np.float64))
            atol = 4 * float(finfo(dtype).eps) * np.nan_to_num(size)
    assert_close(got, reference(BINARY[op], a, b, dtype=dtype), rtol(op, dtype), f"{op}({dtype})",
                 atol=atol, inputs=(a, b))


@pytest.mark.parametrize("dtype", FLOATS)
def test_pow_matches_the_c_library(dtype):
    a, b = pow_pairs(dtype)
    got = host(ember.pow(on_npy(a), on_npy(b)))
    assert_close(got, reference(np.power, a, b, dtype=dtype), rtol("pow", dtype), f"pow({dtype})", inputs=(a, b))


@pytest.mark.parametrize("path", ["float32", "float32 without float64", "float64"])
def test_pow_special_pairs_match_numpy_exactly(path):
    vals = SPECIALS + [0.25, -0.25, 1e30, -1e30, 7.0, -7.0]
    a, b = (np.array(v) for v in zip(*itertools.product(vals, vals)))
    dt = np.float64 if path == "float64" else np.float32
    a, b = a.astype(dt), b.astype(dt)
    fn = T._pow if path == "float32 without float64" else ember.pow
    got = host(fn(on_npy(a), on_npy(b)))
    with np.errstate(all="ignore"):
        want = np.power(a, b)
    tol = {"float32": 2e-7, "float32 without float64": 1e-6, "float64": RTOL64["pow"]}[path]
    assert_close(got, want, tol, f"pow specials ({path})", inputs=(a, b))


def test_pow_float32_path_without_float64():
    # exp(b·log a) in float32 is off by the absolute error of b·log a; the decomposition corrects
    # the product's and (for |log a| > 4) log's rounding, so any base with |b| <= 4 stays close
    rng = np.random.default_rng(7)
    a = np.exp(rng.uniform(-87, 88, 50000)).astype(np.float32)
    b = rng.uniform(-4, 4, 50000).astype(np.float32)
    got = host(T._pow(on_npy(a), on_npy(b)))
    want = reference(np.power, a, b, dtype="float32")
    assert_close(got, want, 1.2e-6, "pow in float32", atol=1e-37, inputs=(a, b))


def test_pow_python_scalars():
    x = float_values("float32", n=300)
    t = on_npy(x)
    for e in (2.0, 3.0, 0.5, -1.5, 0.0):
        assert_close(host(t ** e), reference(lambda v: np.power(v, e), x, dtype="float32"), 5e-7, f"x ** {e}",
                     inputs=(x,))
    assert_close(host(ember.pow(2.0, t)), reference(lambda v: np.power(2.0, v), x, dtype="float32"), 5e-7,
                 "2 ** x", inputs=(x,))
    r = t.pow_(2.0)
    assert r is t
    assert_close(host(t), reference(np.square, x, dtype="float32"), 0.0, "pow_(2)", atol=0.0, inputs=(x,))


@pytest.mark.parametrize("dtype", INTS)
def test_integer_pow_wraps(dtype):
    info = np.iinfo(dtype)
    rng = np.random.default_rng(3)
    bits = 8 * np.dtype(dtype).itemsize
    base = np.concatenate([[info.min, info.max, 0, 1, 2, 3], rng.integers(info.min, info.max, 300, endpoint=True),
                           rng.integers(max(info.min, -5), 6, 300)]).astype(dtype)
    exp = np.concatenate([[0, 1, bits - 1, bits, bits + 1, min(info.max, 1000)],
                          rng.integers(0, min(info.max, 2 * bits), 600, endpoint=True)]).astype(dtype)

    def exact(a, e):  # Python integers, wrapped to the width
        r = pow(int(a), int(e), 1 << bits)
        return r - (1 << bits) if info.min < 0 and r > info.max else r

    want = np.array([exact(a, e) for a, e in zip(base, exp)]).astype(dtype)
    np.testing.assert_array_equal(host(ember.pow(on_npy(base), on_npy(exp))), want)
    for e in (0, 1, 2, 3, 7, bits + 3):
        np.testing.assert_array_equal(host(on_npy(base) ** e), np.array([exact(a, e) for a in base]).astype(dtype))
    small = exp % 7
    np.testing.assert_array_equal(host(ember.pow(3, on_npy(small))),
                                  np.array([exact(3, e) for e in small]).astype(dtype))


def test_hypot_and_logaddexp_with_python_scalars():
    x = float_values("float64", n=200)
    assert_close(host(ember.hypot(on_npy(x), 3.0)), reference(lambda v: np.hypot(v, 3.0), x, dtype="float64"),
                 1e-15, "hypot(x, 3)", inputs=(x,))
    t = on_npy(x.copy())
    t.logaddexp_(on_npy(np.full_like(x, -1.5)))
    assert_close(host(t), reference(lambda v: np.logaddexp(v, -1.5), x, dtype="float64"), 1e-15,
                 "logaddexp_(x, -1.5)", atol=1e-15, inputs=(x,))
