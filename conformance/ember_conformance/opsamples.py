"""Sample generators for every operator family (see samples.py for the contract)."""

from __future__ import annotations

import numpy as np

from .samples import Sample, arr, finfo_max, gen, is_float, is_int, large, special

I64 = np.int64


def _ember():
    import ember
    return ember


# -- elementwise ---------------------------------------------------------------------

#: Input ranges where an operator is defined (elsewhere it gives NaN, covered by the "special" samples).
DOMAIN = {
    "log": (0.05, 5), "log2": (0.05, 5), "log10": (0.05, 5), "sqrt": (0.0, 5), "rsqrt": (0.05, 5),
    "log1p": (-0.9, 5), "asin": (-0.95, 0.95), "acos": (-0.95, 0.95), "atanh": (-0.95, 0.95),
    "erfinv": (-0.95, 0.95), "acosh": (1.05, 5), "tan": (-1.4, 1.4), "reciprocal": (0.25, 3),
}
#: Unary operators that are well conditioned far from zero: they also get large-magnitude samples.
LARGE_OK = {"neg", "abs", "sign", "square", "sqrt", "rsqrt", "reciprocal", "floor", "ceil", "round", "trunc",
            "frac", "isnan", "isinf", "isfinite", "signbit", "log", "log2", "log10", "log1p", "atan",
            "tanh", "sigmoid", "erf", "erfc", "asinh", "exp", "exp2", "expm1", "cosh", "sinh",
            "logical_not"}


def _base(name):
    return name[:-1] if name.endswith("_") else name


@gen(*[n for u in ("neg", "abs", "sign", "square", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p",
                   "sqrt", "rsqrt", "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh",
                   "asinh", "acosh", "atanh", "sigmoid", "erf", "erfc", "erfinv", "reciprocal", "floor",
                   "ceil", "round", "trunc", "frac", "logical_not", "bitwise_not")
       for n in (u, u + "_")], "isnan", "isinf", "isfinite", "signbit")
def unary(name, dt, rng):
    lo, hi = DOMAIN.get(_base(name), (-3, 3))
    if _base(name) == "reciprocal" and not is_int(dt):
        sign = np.where(rng.random((3, 4)) < 0.5, -1, 1)
        x = (arr(rng, (3, 4), dt, lo, hi).astype(np.float64) * sign).astype(dt.np) if is_float(dt) else arr(rng, (3, 4), dt)
    else:
        x = arr(rng, (3, 4), dt, lo, hi)
    out = [Sample("2d", (x,)), Sample("0d", (arr(rng, (), dt, lo, hi),), tags=("scalar",)),
           Sample("empty", (arr(rng, (0, 4), dt, lo, hi),), tags=("empty",)),
           Sample("3d", (arr(rng, (2, 3, 2), dt, lo, hi),))]
    if is_float(dt):
        out.append(Sample("special", (special(dt),), tags=("special",)))
        if _base(name) in LARGE_OK:
            out.append(Sample("large", (large(rng, dt),), tags=("large",)))
    return out


#: Binary operators and the kind of right operand they need.
DIVISORS = {"floor_divide", "trunc_divide", "remainder", "fmod", "true_divide"}
LARGE_BINARY = {"add", "sub", "mul", "maximum", "minimum", "eq", "ne", "lt", "le", "gt", "ge", "hypot",
                "atan2", "copysign", "logical_and", "logical_or", "logical_xor"}
BINARY = ("add", "sub", "mul", "true_divide", "floor_divide", "trunc_divide", "remainder", "fmod", "pow",
          "maximum", "minimum", "atan2", "hypot", "logaddexp", "copysign", "eq", "ne", "lt", "le", "gt", "ge",
          "logical_and", "logical_or", "logical_xor", "bitwise_and", "bitwise_or", "bitwise_xor",
          "bitwise_left_shift", "bitwise_right_shift")
_NO_INPLACE = {"eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor"}


def _other(name, rng, shape, dt):
    b = _base(name)
    if b in DIVISORS and dt.name != "bool":
        if is_float(dt) and b != "true_divide":
            # powers of two: a / b is exact in every float format, so floor/trunc/remainder are too
            return (rng.choice([0.5, 1.0, 2.0, 4.0], size=shape) * rng.choice([-1, 1], size=shape)).astype(dt.np)
        if is_int(dt):
            vals = [1, 2, 3] if np.dtype(dt.np).kind == "u" else [-3, -2, -1, 1, 2, 3]
            return rng.choice(vals, size=shape).astype(dt.np)
    if b == "pow":
        return arr(rng, shape, dt, 0, 3) if not is_float(dt) else arr(rng, shape, dt, -2, 2)
    if b in ("bitwise_left_shift", "bitwise_right_shift"):
        return arr(rng, shape, dt, 0, 3) if is_int(dt) else arr(rng, shape, dt)
    return arr(rng, shape, dt)


def _self(name, rng, shape, dt):
    if _base(name) == "pow" and is_float(dt):
        return arr(rng, shape, dt, 0.1, 3)
    return arr(rng, shape, dt)


def _py_scalar(name, dt):
    b = _base(name)
    if dt.name == "bool":
        return True
    if is_int(dt) or b in ("bitwise_left_shift", "bitwise_right_shift", "bitwise_and", "bitwise_or",
                           "bitwise_xor"):
        return 2
    return 2.0 if b in DIVISORS else 1.5


@gen(*BINARY, *[n + "_" for n in BINARY if n not in _NO_INPLACE])
def binary(name, dt, rng):
    inplace = name.endswith("_")
    S, O = _self, _other
    shapes = [("same", (3, 4), (3, 4), ()), ("broadcast_other", (3, 4), (4,), ("broadcast",)),
              ("0d", (), (), ("scalar",)), ("0d_other", (3, 4), (), ("scalar",)),
              ("empty", (0, 4), (4,), ("empty",)), ("3d", (2, 3, 4), (3, 1), ("broadcast",))]
    if not inplace:
        shapes.append(("broadcast", (3, 1), (1, 4), ("broadcast",)))
    out = [Sample(n, (S(name, rng, a, dt), O(name, rng, b, dt)), tags=t) for n, a, b, t in shapes]
    out.append(Sample("python_scalar", (S(name, rng, (3, 4), dt), _py_scalar(name, dt)), tags=("scalar",)))
    if is_float(dt):
        x = special(dt)
        out.append(Sample("special", (x, x[::-1].copy()), tags=("special",)))
        if _base(name) == "floor_divide":
            # quotients just below a whole number: floor(a / b) rounds up to it, floor division must not
            out.append(Sample("inexact_quotient", (np.array([1.0, 0.7, 5.0, -1.0, 2.2], dt.np),
                                                   np.array([0.1, 0.1, 0.3, 0.1, 1.1], dt.np))))
        if _base(name) in LARGE_BINARY:
            out.append(Sample("large", (large(rng, dt), large(rng, dt)), tags=("large",)))
    return out + division_by_zero(_base(name), dt, rng) + negative_powers(_base(name), dt, rng)


# -- edge semantics every backend shares (PyTorch's) ---------------------------------------

#: Integer division by zero raises ZeroDivisionError (PyTorch: RuntimeError "ZeroDivisionError");
#: true_divide gives a float result, IEEE like float division by zero.
INT_ZERO_DIVISION = {"floor_divide", "trunc_divide", "remainder", "fmod"}


def _with_zeros(rng, dt, shape=(3, 4)):
    """A divisor of ``dt`` with zeros among ordinary values (and -0.0 for floats)."""
    b = _other("floor_divide", rng, shape, dt)
    b.flat[::3] = 0
    if is_float(dt):
        b.flat[1::6] = -0.0
    return b


def division_by_zero(base, dt, rng) -> list:
    """Division of ``dt`` by a zero tensor element and by a zero Python scalar: an error for integers
    (except true division), inf/NaN as IEEE for floats."""
    if base not in DIVISORS or dt.name == "bool":
        return []
    x = arr(rng, (3, 4), dt)
    if is_int(dt) and base in INT_ZERO_DIVISION:
        return [Sample("zero_divisor", (x, _with_zeros(rng, dt)), error=ZeroDivisionError),
                Sample("zero_scalar", (x, 0), error=ZeroDivisionError)]
    if is_float(dt):
        x.flat[::4] = 0  # 0/0 is NaN, x/0 is +-inf
    return [Sample("zero_divisor", (x, _with_zeros(rng, dt)), tags=("special",)),
            Sample("zero_scalar", (x, 0.0 if is_float(dt) else 0), tags=("special",))]


def negative_powers(base, dt, rng) -> list:
    """Integer pow with negative exponents: a negative Python scalar is an error, negative tensor
    elements give 1 for base 1, +-1 for base -1 (by parity) and 0 for any other base."""
    if base != "pow" or not is_int(dt):
        return []
    out = [Sample("negative_scalar_exponent", (arr(rng, (3, 4), dt), -2), error=ValueError,
                  match="Integers to negative integer powers are not allowed")]
    if np.dtype(dt.np).kind == "i":
        bases = np.array([2, 1, -1, 0, -2, 3, -1, 1, 5, -1, 0, 2], dt.np).reshape(3, 4)
        exps = np.array([-1, -2, -3, -1, -2, -1, -4, -5, 2, 0, 3, -7], dt.np).reshape(3, 4)
        out.append(Sample("negative_exponent", (bases, exps)))
    return out


#: Float -> integer casts: values whose truncation fits in int32, on both sides of each integer width.
#: PyTorch truncates toward zero, then wraps (two's complement) to the width; NaN, inf and values
#: beyond int32 are a C cast, undefined, and never sampled.
CAST_EDGES = (-36.0, 300.5, -129.5, -1.5, -0.5, 0.5, 127.9, 128.5, 255.9, 256.0, -128.7, 32767.5, 32768.5,
              -32769.2, 65535.7, 65536.5, -65537.0, 1e9 + 0.5, -2.1e9, 2147483000.0)
INT_TARGETS = ("uint8", "int8", "int16", "int32", "int64")


def cast_values(rng, dt, shape=(4, 8)) -> np.ndarray:
    """Floats of ``dt`` for a float -> integer cast: CAST_EDGES that ``dt`` can hold, then random
    magnitudes up to 2e9, each of whose truncation fits in int32 once rounded to ``dt``."""
    top = min(2e9, finfo_max(dt))
    edges = [v for v in CAST_EDGES if abs(v) <= top]
    n = int(np.prod(shape))
    rand = np.exp(rng.uniform(np.log(0.1), np.log(top), n)) * rng.choice([-1.0, 1.0], n)
    with np.errstate(over="ignore"):  # the top of float16 may round up to inf: replaced below
        x = np.concatenate([edges, rand])[:n].astype(dt.np)
    t = np.trunc(x.astype(np.float64))
    fits = np.isfinite(t) & (t >= -2.0**31) & (t <= 2.0**31 - 1)
    return np.where(fits, x, np.asarray(-36.0, dt.np)).reshape(shape)


@gen("where")
def where(name, dt, rng):
    c = lambda s: rng.random(s) < 0.5  # noqa: E731
    out = [Sample("same", (c((3, 4)), arr(rng, (3, 4), dt), arr(rng, (3, 4), dt))),
           Sample("broadcast", (c((3, 1)), arr(rng, (1, 4), dt), arr(rng, (), dt)), tags=("broadcast",)),
           Sample("0d", (c(()), arr(rng, (), dt), arr(rng, (), dt)), tags=("scalar",)),
           Sample("empty", (c((0, 4)), arr(rng, (0, 4), dt), arr(rng, (4,), dt)), tags=("empty",)),
           Sample("bad_condition", (arr(rng, (3, 4), _ember().int64), arr(rng, (3, 4), dt), arr(rng, (3, 4), dt)),
                  error=TypeError)]
    if is_float(dt):
        out.append(Sample("special", (c((3, 4)), special(dt), special(dt)[::-1].copy()), tags=("special",)))
    return out


@gen("clamp", "clamp_")
def clamp(name, dt, rng):
    lo, hi = arr(rng, (3, 4), dt, -3, -1), arr(rng, (3, 4), dt, 1, 3)
    if dt.name == "bool":
        lo, hi = np.zeros((3, 4), bool), np.ones((3, 4), bool)
    out = [Sample("both", (arr(rng, (3, 4), dt), lo, hi)),
           Sample("min_only", (arr(rng, (3, 4), dt), lo[0]), tags=("broadcast",)),
           Sample("max_only", (arr(rng, (3, 4), dt), None, hi[:, :1].copy()), tags=("broadcast",)),
           Sample("0d", (arr(rng, (), dt), lo[0, 0].copy(), hi[0, 0].copy()), tags=("scalar",)),
           Sample("empty", (arr(rng, (0, 4), dt), lo[0], hi[0]), tags=("empty",)),
           Sample("no_bounds", (arr(rng, (3, 4), dt),), error=ValueError)]
    if is_float(dt):
        out.append(Sample("special", (special(dt), lo, hi), tags=("special",)))
    return out


@gen("lerp")
def lerp(name, dt, rng):
    err = None if is_float(dt) else TypeError
    a = lambda s: arr(rng, s, dt)  # noqa: E731
    return [Sample("tensor_weight", (a((3, 4)), a((3, 4)), arr(rng, (3, 4), dt, 0, 1)), error=err),
            Sample("0d_weight", (a((3, 4)), a((4,)), arr(rng, (), dt, 0, 1)), tags=("broadcast",), error=err),
            Sample("empty", (a((0, 4)), a((0, 4)), a((0, 4))), tags=("empty",), error=err)]


@gen("addcmul", "addcdiv")
def addc(name, dt, rng):
    div = name == "addcdiv"
    err = TypeError if (div and not is_float(dt)) or dt.name == "bool" else None
    den = (lambda s: _other("true_divide", rng, s, dt)) if div else (lambda s: arr(rng, s, dt))
    value = 2 if not is_float(dt) else 0.5
    return [Sample("same", (arr(rng, (3, 4), dt), arr(rng, (3, 4), dt), den((3, 4))), error=err),
            Sample("broadcast_value", (arr(rng, (3, 4), dt), arr(rng, (3, 1), dt), den((4,))), {"value": value},
                   tags=("broadcast",), error=err),
            Sample("0d", (arr(rng, (), dt), arr(rng, (), dt), den(())), tags=("scalar",), error=err)]


@gen("div")
def div(name, dt, rng):
    out = []
    for mode in (None, "trunc", "floor"):
        b = _other("floor_divide", rng, (3, 4), dt)
        out.append(Sample(f"mode_{mode}", (arr(rng, (3, 4), dt), b), {"rounding_mode": mode}))
    out.append(Sample("bad_mode", (arr(rng, (3, 4), dt), arr(rng, (3, 4), dt)), {"rounding_mode": "up"},
                      error=ValueError))
    for mode, base in ((None, "true_divide"), ("trunc", "trunc_divide"), ("floor", "floor_divide")):
        for s in division_by_zero(base, dt, rng):
            s.name, s.kwargs = f"{s.name}_mode_{mode}", {"rounding_mode": mode}
            out.append(s)
    return out


# -- reductions -----------------------------------------------------------------------

@gen("sum", "prod", "amax", "amin", "all", "any", "mean", "var", "std", "var_mean", "std_mean")
def reduction(name, dt, rng):
    a = lambda s: arr(rng, s, dt)  # noqa: E731
    out = [Sample("all_dims", (a((3, 4)),)),
           Sample("dim1", (a((3, 4)), [1])),
           Sample("dim0_keepdim", (a((3, 4)), [0], True)),
           Sample("dims02", (a((2, 3, 4)), [0, 2])),
           Sample("dim_neg_keepdim", (a((2, 3, 4)), [-1], True)),
           Sample("0d", (a(()),), tags=("scalar",)),
           Sample("empty_dim1", (a((0, 4)), [1]), tags=("empty",)),
           Sample("empty_dim0", (a((0, 4)), [0]), tags=("empty",)),
           Sample("bad_dim", (a((3, 4)), [2]), error=IndexError)]
    if name in ("sum", "prod", "mean"):
        out.append(Sample("dtype_float64", (a((3, 4)), [1]), {"dtype": _ember().float64}))
    if name in ("var", "std", "var_mean", "std_mean"):
        out = [Sample(s.name, s.args[:1], {"dim": s.args[1] if len(s.args) > 1 else None,
                                           "keepdim": s.args[2] if len(s.args) > 2 else False},
                      error=s.error, tags=s.tags) for s in out]
        out.append(Sample("correction0", (a((3, 4)), [1]), {"correction": 0}))
    if is_float(dt):
        out.append(Sample("special", (special(dt), [1])) if name not in ("var", "std", "var_mean", "std_mean")
                   else Sample("special", (special(dt),), {"dim": [1]}, tags=("special",)))
        if name in ("amax", "amin", "sum", "all", "any"):
            out.append(Sample("large", (large(rng, dt, scale=0.1), [1]), tags=("large",)))
    return out


@gen("logsumexp")
def logsumexp(name, dt, rng):
    a = lambda s: arr(rng, s, dt)  # noqa: E731
    out = [Sample("dim1", (a((3, 4)), [1])), Sample("dim0_keepdim", (a((3, 4)), [0], True)),
           Sample("dims01", (a((2, 3, 4)), [0, 1])), Sample("0d", (a(()), [0]), tags=("scalar",)),
           Sample("empty", (a((0, 4)), [1]), tags=("empty",))]
    if is_float(dt):
        x = a((3, 4))
        x[0, 1] = -np.inf
        out.append(Sample("minus_inf", (x, [1]), tags=("special",)))
        out.append(Sample("large", ((rng.uniform(-1, 1, (3, 4)) * min(finfo_max(dt), 1e30) ** 0.5)
                                    .astype(dt.np), [1]), tags=("large",)))
    return out


@gen("argmax", "argmin")
def argreduce(name, dt, rng):
    a = lambda s: arr(rng, s, dt)  # noqa: E731
    out = [Sample("flat", (a((3, 4)),)), Sample("dim1", (a((3, 4)), 1)),
           Sample("dim0_keepdim", (a((3, 4)), 0, True)), Sample("flat_keepdim", (a((3, 4)), None, True)),
           Sample("0d", (a(()),), tags=("scalar",)), Sample("3d", (a((2, 3, 4)), -2)),
           Sample("empty", (a((0, 4)),), error=IndexError)]
    if is_float(dt):
        out.append(Sample("special", (special(dt), 1), tags=("special",)))
    return out


@gen("max", "min")
def fullreduce(name, dt, rng):
    out = [Sample("2d", (arr(rng, (3, 4), dt),)), Sample("0d", (arr(rng, (), dt),), tags=("scalar",)),
           Sample("empty", (arr(rng, (0, 4), dt),), error=IndexError)]
    if is_float(dt):
        out.append(Sample("special", (special(dt),), tags=("special",)))
    return out


@gen("max_dim", "min_dim")
def dimreduce(name, dt, rng):
    out = [Sample("dim1", (arr(rng, (3, 4), dt), 1)), Sample("dim0_keepdim", (arr(rng, (3, 4), dt), 0, True)),
           Sample("0d", (arr(rng, (), dt), 0), tags=("scalar",)), Sample("bad_dim", (arr(rng, (3, 4), dt), 3),
                                                                         error=IndexError)]
    if is_float(dt):
        out.append(Sample("special", (special(dt), 1), tags=("special",)))
    return out


@gen("cumsum", "cumprod")
def scan(name, dt, rng):
    a = lambda s: arr(rng, s, dt, -2, 2)  # noqa: E731
    out = [Sample("dim0", (a((3, 4)), 0)), Sample("dim1", (a((3, 4)), 1)), Sample("dim_neg", (a((2, 3, 4)), -1)),
           Sample("0d", (a(()), 0), tags=("scalar",)), Sample("empty", (a((0, 4)), 1), tags=("empty",)),
           Sample("dtype_float64", (a((3, 4)), 1), {"dtype": _ember().float64}),
           Sample("bad_dim", (a((3, 4)), 2), error=IndexError)]
    if is_float(dt):
        out.append(Sample("special", (special(dt), 1), tags=("special",)))
    return out


@gen("softmax", "log_softmax")
def softmax(name, dt, rng):
    a = lambda s: arr(rng, s, dt)  # noqa: E731
    return [Sample("dim1", (a((3, 4)), 1)), Sample("dim0", (a((3, 4)), 0)), Sample("3d", (a((2, 3, 4)), -1)),
            Sample("0d", (a(()), 0), tags=("scalar",)), Sample("empty", (a((0, 4)), 1), tags=("empty",)),
            Sample("dtype_float64", (a((3, 4)), 1, _ember().float64))]


# -- views ----------------------------------------------------------------------------

def _v(rng, dt, shape):
    return arr(rng, shape, dt)


@gen("view")
def view(name, dt, rng):
    return [Sample("2d_to_2d", (_v(rng, dt, (3, 4)), [4, 3]), only_layouts=("contiguous",)),
            Sample("flat", (_v(rng, dt, (3, 4)), [-1]), only_layouts=("contiguous",)),
            Sample("0d", (_v(rng, dt, ()), [1]), tags=("scalar",)),
            Sample("empty", (_v(rng, dt, (0, 4)), [4, 0]), tags=("empty",)),
            Sample("non_contiguous", (_v(rng, dt, (3, 4)), [-1]), only_layouts=("transposed",), error=ValueError),
            Sample("bad_size", (_v(rng, dt, (3, 4)), [5, 2]), error=ValueError)]


@gen("reshape")
def reshape(name, dt, rng):
    return [Sample("2d", (_v(rng, dt, (3, 4)), [2, 6])), Sample("flat", (_v(rng, dt, (3, 4)), [-1])),
            Sample("add_dim", (_v(rng, dt, (3, 4)), [3, 1, 4])), Sample("0d", (_v(rng, dt, ()), [])),
            Sample("empty", (_v(rng, dt, (0, 4)), [0, 2, -1]), tags=("empty",)),
            Sample("bad_size", (_v(rng, dt, (3, 4)), [5, -1]), error=ValueError)]


@gen("permute")
def permute(name, dt, rng):
    return [Sample("2d", (_v(rng, dt, (3, 4)), [1, 0])), Sample("3d", (_v(rng, dt, (2, 3, 4)), [2, 0, 1])),
            Sample("0d", (_v(rng, dt, ()), [])), Sample("bad_dims", (_v(rng, dt, (3, 4)), [0, 0]), error=ValueError)]


@gen("transpose")
def transpose(name, dt, rng):
    return [Sample("2d", (_v(rng, dt, (3, 4)), 0, 1)), Sample("3d", (_v(rng, dt, (2, 3, 4)), 0, -1)),
            Sample("bad_dim", (_v(rng, dt, (3, 4)), 0, 2), error=IndexError)]


@gen("t")
def t(name, dt, rng):
    return [Sample("2d", (_v(rng, dt, (3, 4)),)), Sample("1d", (_v(rng, dt, (4,)),)),
            Sample("0d", (_v(rng, dt, ()),)), Sample("3d", (_v(rng, dt, (2, 3, 4)),), error=ValueError)]


@gen("expand")
def expand(name, dt, rng):
    return [Sample("2d", (_v(rng, dt, (3, 1)), [3, 4])), Sample("new_dims", (_v(rng, dt, (4,)), [2, 3, 4])),
            Sample("keep", (_v(rng, dt, (3, 1)), [-1, 5])), Sample("0d", (_v(rng, dt, ()), [2, 2])),
            Sample("bad", (_v(rng, dt, (3, 2)), [3, 4]), error=ValueError)]


@gen("squeeze")
def squeeze(name, dt, rng):
    return [Sample("all", (_v(rng, dt, (3, 1, 4, 1)),)), Sample("dim", (_v(rng, dt, (3, 1, 4)), [1])),
            Sample("not_one", (_v(rng, dt, (3, 1, 4)), [0])), Sample("0d", (_v(rng, dt, ()),))]


@gen("unsqueeze")
def unsqueeze(name, dt, rng):
    return [Sample("front", (_v(rng, dt, (3, 4)), 0)), Sample("back", (_v(rng, dt, (3, 4)), -1)),
            Sample("0d", (_v(rng, dt, ()), 0)), Sample("bad_dim", (_v(rng, dt, (3, 4)), 4), error=IndexError)]


@gen("flatten")
def flatten(name, dt, rng):
    return [Sample("all", (_v(rng, dt, (2, 3, 4)),)), Sample("inner", (_v(rng, dt, (2, 3, 4)), 1, 2)),
            Sample("0d", (_v(rng, dt, ()),))]


@gen("narrow")
def narrow(name, dt, rng):
    return [Sample("dim1", (_v(rng, dt, (3, 4)), 1, 1, 2)), Sample("dim0", (_v(rng, dt, (3, 4)), 0, 2, 1)),
            Sample("empty", (_v(rng, dt, (3, 4)), 1, 4, 0)),
            Sample("out_of_range", (_v(rng, dt, (3, 4)), 1, 3, 2), error=IndexError)]


@gen("slice")
def slice_(name, dt, rng):
    return [Sample("step2", (_v(rng, dt, (3, 4)), 1, 0, None, 2)), Sample("dim0", (_v(rng, dt, (3, 4)), 0, 1, 3)),
            Sample("negative_start", (_v(rng, dt, (3, 4)), 1, -2)), Sample("past_end", (_v(rng, dt, (3, 4)), 0, 2, 10)),
            Sample("bad_step", (_v(rng, dt, (3, 4)), 0, 0, None, 0), error=ValueError)]


@gen("select")
def select(name, dt, rng):
    return [Sample("row", (_v(rng, dt, (3, 4)), 0, 1)), Sample("col_neg", (_v(rng, dt, (3, 4)), 1, -1)),
            Sample("3d", (_v(rng, dt, (2, 3, 4)), 1, 2)),
            Sample("out_of_range", (_v(rng, dt, (3, 4)), 0, 3), error=IndexError)]


@gen("unbind")
def unbind(name, dt, rng):
    return [Sample("dim0", (_v(rng, dt, (3, 4)), 0)), Sample("dim1", (_v(rng, dt, (3, 4)), 1))]


@gen("diagonal")
def diagonal(name, dt, rng):
    return [Sample("main", (_v(rng, dt, (3, 4)),)), Sample("offset", (_v(rng, dt, (3, 4)), 1)),
            Sample("below", (_v(rng, dt, (3, 4)), -1)), Sample("3d", (_v(rng, dt, (2, 3, 4)), 0, 1, 2))]


@gen("as_strided")
def as_strided(name, dt, rng):
    c = ("contiguous",)
    return [Sample("window", (_v(rng, dt, (3, 4)), [2, 2], [4, 1], 1), only_layouts=c),
            Sample("overlap", (_v(rng, dt, (3, 4)), [3, 3], [1, 1]), only_layouts=c),
            Sample("broadcast", (_v(rng, dt, (3, 4)), [2, 3], [0, 2]), only_layouts=c)]


@gen("split")
def split(name, dt, rng):
    return [Sample("size", (_v(rng, dt, (6, 4)), 2)), Sample("sections", (_v(rng, dt, (6, 4)), [1, 2, 3])),
            Sample("dim1", (_v(rng, dt, (6, 4)), 3, 1)),
            Sample("bad_sections", (_v(rng, dt, (6, 4)), [1, 2]), error=ValueError)]


@gen("chunk")
def chunk(name, dt, rng):
    return [Sample("even", (_v(rng, dt, (6, 4)), 3)), Sample("uneven", (_v(rng, dt, (5, 4)), 2)),
            Sample("dim1", (_v(rng, dt, (6, 4)), 2, 1)), Sample("bad_chunks", (_v(rng, dt, (6, 4)), 0), error=ValueError)]


@gen("movedim")
def movedim(name, dt, rng):
    return [Sample("one", (_v(rng, dt, (2, 3, 4)), 0, 2)), Sample("two", (_v(rng, dt, (2, 3, 4)), [0, 1], [2, 0]))]


# -- creation and copies ----------------------------------------------------------------

def _fill_value(dt, rng):
    if dt.name == "bool":
        return True
    return 2 if is_int(dt) else 1.5


@gen("arange")
def arange(name, dt, rng):
    kw = {"dtype": dt}
    out = [Sample("count", (0, 5), kw, device_arg=True), Sample("step", (1, 10, 3), kw, device_arg=True),
           Sample("down", (5, 0, -1), kw, device_arg=True), Sample("empty", (3, 3), kw, device_arg=True),
           Sample("zero_step", (0, 5, 0), kw, device_arg=True, error=ValueError)]
    if is_float(dt):
        out.append(Sample("fractional", (0.0, 1.0, 0.25), kw, device_arg=True))
    return out


@gen("empty")
def empty(name, dt, rng):
    return [Sample("2d", ([2, 3],), {"dtype": dt}, device_arg=True),
            Sample("0d", ([],), {"dtype": dt}, device_arg=True),
            Sample("zero", ([0, 3],), {"dtype": dt}, device_arg=True)]


@gen("full")
def full(name, dt, rng):
    v = _fill_value(dt, rng)
    return [Sample("2d", ([2, 3], v), {"dtype": dt}, device_arg=True),
            Sample("0d", ([], v), {"dtype": dt}, device_arg=True),
            Sample("zero", ([0, 3], v), {"dtype": dt}, device_arg=True)]


@gen("eye")
def eye(name, dt, rng):
    return [Sample("square", (3,), {"dtype": dt}, device_arg=True),
            Sample("rect", (2, 4), {"dtype": dt}, device_arg=True),
            Sample("zero", (0,), {"dtype": dt}, device_arg=True)]


@gen("linspace")
def linspace(name, dt, rng):
    kw = {"dtype": dt}
    out = [Sample("ints", (0, 10, 6), kw, device_arg=True), Sample("one", (2, 8, 1), kw, device_arg=True),
           Sample("none", (0, 1, 0), kw, device_arg=True),
           Sample("negative_steps", (0, 1, -1), kw, device_arg=True, error=ValueError)]
    if is_float(dt):
        out.append(Sample("fractional", (-2.0, 2.0, 9), kw, device_arg=True))
    return out


@gen("fill_")
def fill(name, dt, rng):
    v = _fill_value(dt, rng)
    out = [Sample("2d", (arr(rng, (3, 4), dt), v)), Sample("0d", (arr(rng, (), dt), v), tags=("scalar",)),
           Sample("empty", (arr(rng, (0, 4), dt), v), tags=("empty",))]
    if is_float(dt):
        out.append(Sample("nan", (arr(rng, (3, 4), dt), float("nan")), tags=("special",)))
    return out


@gen("copy_")
def copy(name, dt, rng):
    E = _ember()
    src64 = arr(rng, (3, 4), E.float32, 0, 3)
    casts = [Sample(f"cast_wrap_from_{f.name}", (arr(rng, (4, 8), dt), cast_values(rng, f)))
             for f in (E.float16, E.bfloat16, E.float32, E.float64)] if is_int(dt) else []
    return casts + [Sample("same_dtype", (arr(rng, (3, 4), dt), arr(rng, (3, 4), dt))),
            Sample("broadcast", (arr(rng, (3, 4), dt), arr(rng, (4,), dt)), tags=("broadcast",)),
            Sample("cast_from_float32", (arr(rng, (3, 4), dt), src64)),
            Sample("cast_from_int64", (arr(rng, (3, 4), dt), arr(rng, (3, 4), E.int64, 0, 3))),
            Sample("0d", (arr(rng, (), dt), arr(rng, (), dt)), tags=("scalar",)),
            Sample("empty", (arr(rng, (0, 4), dt), arr(rng, (0, 4), dt)), tags=("empty",)),
            Sample("bad_shape", (arr(rng, (3, 4), dt), arr(rng, (3, 5), dt)), error=ValueError)]


@gen("_to_copy")
def to_copy(name, dt, rng):
    E = _ember()
    return [Sample("same", (arr(rng, (3, 4), dt),)), Sample("to_float64", (arr(rng, (3, 4), dt),), {"dtype": E.float64}),
            Sample("to_int32", (arr(rng, (3, 4), dt, 0, 3),), {"dtype": E.int32}),
            Sample("to_bool", (arr(rng, (3, 4), dt),), {"dtype": E.bool}),
            Sample("0d", (arr(rng, (), dt),), {"dtype": E.float32}, tags=("scalar",))] + [
        Sample(f"to_{t}_wrap", (cast_values(rng, dt),), {"dtype": E.dtypes.dtype_from_name(t)})
        for t in (INT_TARGETS if is_float(dt) else ())]


@gen("clone", "contiguous")
def clone(name, dt, rng):
    out = [Sample("2d", (arr(rng, (3, 4), dt),)), Sample("0d", (arr(rng, (), dt),), tags=("scalar",)),
           Sample("empty", (arr(rng, (0, 4), dt),), tags=("empty",)), Sample("3d", (arr(rng, (2, 3, 4), dt),))]
    if is_float(dt):
        out.append(Sample("special", (special(dt),), tags=("special",)))
    return out


# -- indexing -----------------------------------------------------------------------------

def _idx(rng, shape, high):
    return rng.integers(0, high, size=shape).astype(I64)


def _unique_rows(rng, rows, k, high):
    """An int64 (rows, k) index with distinct entries in each row (scatter needs no collisions)."""
    return np.stack([rng.permutation(high)[:k] for _ in range(rows)]).astype(I64)


@gen("gather")
def gather(name, dt, rng):
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    return [Sample("dim1", (x((3, 4)), 1, _idx(rng, (3, 2), 4))), Sample("dim0", (x((3, 4)), 0, _idx(rng, (2, 4), 3))),
            Sample("repeat", (x((3, 4)), 1, _idx(rng, (3, 6), 4))), Sample("empty", (x((3, 4)), 1, _idx(rng, (3, 0), 4))),
            Sample("1d", (x((5,)), 0, _idx(rng, (3,), 5))),
            Sample("out_of_range", (x((3, 4)), 1, np.full((3, 2), 4, I64)), error=IndexError),
            Sample("bad_index_dtype", (x((3, 4)), 1, np.zeros((3, 2), np.int32)), error=TypeError)]


@gen("scatter", "scatter_")
def scatter(name, dt, rng):
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    v = _fill_value(dt, rng)
    return [Sample("src_dim1", (x((3, 4)), 1, _unique_rows(rng, 3, 2, 4), x((3, 2)))),
            Sample("src_dim0", (x((3, 4)), 0, np.stack([rng.permutation(3)[:2] for _ in range(4)], 1).astype(I64), x((2, 4)))),
            Sample("value", (x((3, 4)), 1, _unique_rows(rng, 3, 2, 4)), {"value": v}),
            Sample("reduce_add", (x((3, 4)), 1, _unique_rows(rng, 3, 2, 4), x((3, 2))), {"reduce": "add"}),
            Sample("out_of_range", (x((3, 4)), 1, np.full((3, 1), 9, I64), x((3, 1))), error=IndexError)]


@gen("scatter_add", "scatter_add_")
def scatter_add(name, dt, rng):
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    return [Sample("dim1", (x((3, 4)), 1, _idx(rng, (3, 5), 4), x((3, 5)))),
            Sample("dim0", (x((3, 4)), 0, _idx(rng, (4, 4), 3), x((4, 4)))),
            Sample("out_of_range", (x((3, 4)), 0, np.full((1, 4), -5, I64), x((1, 4))), error=IndexError)]


@gen("index_select")
def index_select(name, dt, rng):
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    return [Sample("dim1", (x((3, 4)), 1, np.array([3, 0, 0], I64))), Sample("dim0", (x((3, 4)), 0, _idx(rng, (5,), 3))),
            Sample("empty", (x((3, 4)), 0, np.zeros((0,), I64))), Sample("0d_index", (x((3, 4)), 1, np.array(2, I64))),
            Sample("out_of_range", (x((3, 4)), 0, np.array([3], I64)), error=IndexError)]


@gen("index_add", "index_add_")
def index_add(name, dt, rng):
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    alpha = True if dt.name == "bool" else 2
    return [Sample("dim0", (x((3, 4)), 0, np.array([0, 2, 0], I64), x((3, 4)))),
            Sample("dim1_alpha", (x((3, 4)), 1, np.array([1, 1], I64), x((3, 2))), {"alpha": alpha}),
            Sample("out_of_range", (x((3, 4)), 0, np.array([5], I64), x((1, 4))), error=IndexError)]


@gen("index_put", "index_put_")
def index_put(name, dt, rng):
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    return [Sample("elements", (x((3, 4)), [np.array([0, 2], I64), np.array([1, 3], I64)], x((2,)))),
            Sample("rows", (x((3, 4)), [np.array([2, 0], I64)], x((2, 4)))),
            Sample("broadcast_values", (x((3, 4)), [np.array([1], I64)], x(()))),
            Sample("accumulate", (x((3, 4)), [np.array([0, 0, 2], I64), np.array([1, 1, 3], I64)], x((3,)), True)),
            Sample("out_of_range", (x((3, 4)), [np.array([3], I64)], x(())), error=IndexError)]


@gen("index")
def index(name, dt, rng):
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    return [Sample("rows", (x((3, 4)), [np.array([0, 2, 2], I64)])),
            Sample("elements", (x((3, 4)), [np.array([0, 2], I64), np.array([3, 1], I64)])),
            Sample("broadcast", (x((3, 4)), [np.array([[0], [2]], I64), np.array([1, 3], I64)])),
            Sample("mask", (x((3, 4)), [rng.random((3, 4)) < 0.5])),
            Sample("out_of_range", (x((3, 4)), [np.array([5], I64)]), error=IndexError)]


@gen("masked_fill", "masked_fill_")
def masked_fill(name, dt, rng):
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    m = lambda s: rng.random(s) < 0.5  # noqa: E731
    v = _fill_value(dt, rng)
    out = [Sample("same", (x((3, 4)), m((3, 4)), v)), Sample("broadcast_mask", (x((3, 4)), m((4,)), v)),
           Sample("0d", (x(()), m(()), v)), Sample("bad_mask", (x((3, 4)), x((3, 4)).astype(np.int64), v), error=TypeError)]
    if is_float(dt):
        out.append(Sample("nan_value", (x((3, 4)), m((3, 4)), float("nan")), tags=("special",)))
    return out


@gen("masked_select")
def masked_select(name, dt, rng):
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    m = lambda s: rng.random(s) < 0.5  # noqa: E731
    return [Sample("same", (x((3, 4)), m((3, 4)))), Sample("broadcast_mask", (x((3, 4)), m((4,)))),
            Sample("0d", (x(()), m(()))), Sample("none", (x((3, 4)), np.zeros((3, 4), bool)))]


@gen("nonzero", "argwhere")
def nonzero(name, dt, rng):
    def z(s):
        a = np.asarray(arr(rng, s, dt))
        return np.where(rng.random(s) < 0.4, np.zeros((), a.dtype), a).astype(a.dtype)
    out = [Sample("2d", (z((3, 4)),)), Sample("3d", (z((2, 3, 4)),)), Sample("0d", (z(()),)),
           Sample("empty", (z((0, 4)),)), Sample("all_zero", (np.zeros((3, 4), dt.np),))]
    if is_float(dt):
        out.append(Sample("special", (special(dt),), tags=("special",)))
    return out


# -- linear algebra ------------------------------------------------------------------------

@gen("mm")
def mm(name, dt, rng):
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    return [Sample("2d", (x((3, 4)), x((4, 5)))), Sample("empty_rows", (x((0, 4)), x((4, 2))), tags=("empty",)),
            Sample("empty_inner", (x((3, 0)), x((0, 2))), tags=("empty",)),
            Sample("bad_shapes", (x((3, 4)), x((3, 4))), error=ValueError)]


@gen("bmm")
def bmm(name, dt, rng):
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    return [Sample("3d", (x((2, 3, 4)), x((2, 4, 5)))), Sample("empty_batch", (x((0, 3, 4)), x((0, 4, 2)))),
            Sample("bad_batch", (x((2, 3, 4)), x((3, 4, 2))), error=ValueError)]


@gen("matmul")
def matmul(name, dt, rng):
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    return [Sample("1d_1d", (x((4,)), x((4,)))), Sample("2d_1d", (x((3, 4)), x((4,)))),
            Sample("1d_2d", (x((4,)), x((4, 2)))), Sample("2d_2d", (x((3, 4)), x((4, 2)))),
            Sample("batched", (x((2, 3, 4)), x((4, 2)))), Sample("broadcast_batch", (x((2, 1, 3, 4)), x((3, 4, 2)))),
            Sample("bad_shapes", (x((3, 4)), x((3,))), error=ValueError)]


@gen("mv")
def mv(name, dt, rng):
    return [Sample("2d", (arr(rng, (3, 4), dt), arr(rng, (4,), dt))),
            Sample("bad", (arr(rng, (3, 4), dt), arr(rng, (3,), dt)), error=ValueError)]


@gen("dot")
def dot(name, dt, rng):
    return [Sample("1d", (arr(rng, (4,), dt), arr(rng, (4,), dt))), Sample("empty", (arr(rng, (0,), dt), arr(rng, (0,), dt))),
            Sample("bad", (arr(rng, (4,), dt), arr(rng, (3,), dt)), error=ValueError)]


@gen("outer")
def outer(name, dt, rng):
    return [Sample("1d", (arr(rng, (3,), dt), arr(rng, (4,), dt)))]


@gen("addmm")
def addmm(name, dt, rng):
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    kw = {"beta": 0.5, "alpha": 2.0} if is_float(dt) else ({"beta": 2, "alpha": 3} if is_int(dt) else {})
    return [Sample("2d", (x((3, 5)), x((3, 4)), x((4, 5)))), Sample("broadcast_bias", (x((5,)), x((3, 4)), x((4, 5))), kw),
            Sample("bad", (x((3, 5)), x((3, 4)), x((3, 5))), error=ValueError)]


@gen("einsum")
def einsum(name, dt, rng):
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    return [Sample("matmul", ("ij,jk->ik", [x((3, 4)), x((4, 2))])),
            Sample("batched", ("bij,bjk->bik", [x((2, 3, 4)), x((2, 4, 2))])),
            Sample("dot", ("i,i->", [x((4,)), x((4,))])), Sample("transpose", ("ij->ji", [x((3, 4))])),
            Sample("trace_like", ("ii->i", [x((3, 3))])), Sample("sum", ("ij->", [x((3, 4))])),
            Sample("outer", ("i,j->ij", [x((3,)), x((2,))]))]


# -- shape ------------------------------------------------------------------------------

@gen("cat")
def cat(name, dt, rng):
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    return [Sample("dim0", ([x((2, 4)), x((3, 4))],)), Sample("dim1", ([x((3, 2)), x((3, 4))], 1)),
            Sample("with_empty", ([x((0, 4)), x((3, 4))],), tags=("empty",)), Sample("one", ([x((3, 4))], -1)),
            Sample("bad_shapes", ([x((2, 4)), x((2, 3))],), error=ValueError)]


@gen("stack")
def stack(name, dt, rng):
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    return [Sample("dim0", ([x((3, 4)), x((3, 4))],)), Sample("dim2", ([x((3, 4)), x((3, 4)), x((3, 4))], 2)),
            Sample("0d", ([x(()), x(())],), tags=("scalar",)),
            Sample("bad_shapes", ([x((3, 4)), x((4, 3))],), error=ValueError)]


@gen("flip")
def flip(name, dt, rng):
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    return [Sample("dim0", (x((3, 4)), [0])), Sample("both", (x((3, 4)), [0, 1])), Sample("3d", (x((2, 3, 4)), [-1])),
            Sample("0d", (x(()), [])), Sample("empty", (x((0, 4)), [1]), tags=("empty",)),
            Sample("bad_dim", (x((3, 4)), [2]), error=IndexError)]


@gen("one_hot")
def one_hot(name, dt, rng):
    if dt.name != "int64":
        return [Sample("not_int64", (arr(rng, (3,), dt, 0, 3), 4), error=TypeError)]
    return [Sample("1d", (_idx(rng, (5,), 4), 4)), Sample("2d", (_idx(rng, (2, 3), 3), 3)),
            Sample("0d", (np.array(2, I64), 3)), Sample("out_of_range", (np.array([0, 5], I64), 3), error=IndexError)]


@gen("repeat")
def repeat(name, dt, rng):
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    return [Sample("2d", (x((2, 3)), [2, 2])), Sample("new_dim", (x((2, 3)), [1, 2, 3])), Sample("0d", (x(()), [3])),
            Sample("zero", (x((2, 3)), [0, 1])), Sample("too_few", (x((2, 3)), [2]), error=ValueError)]


@gen("roll")
def roll(name, dt, rng):
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    return [Sample("dim1", (x((3, 4)), [1], [1])), Sample("two", (x((3, 4)), [1, -2], [0, 1])),
            Sample("flat", (x((3, 4)), [5])), Sample("empty", (x((0, 4)), [1], [1]), tags=("empty",))]


@gen("tril", "triu", "tril_", "triu_")
def tri(name, dt, rng):
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    return [Sample("main", (x((3, 4)),)), Sample("above", (x((3, 4)), 1)), Sample("below", (x((4, 3)), -1)),
            Sample("batched", (x((2, 3, 3)),)), Sample("1d", (x((4,)),), error=ValueError)]


# -- sorting --------------------------------------------------------------------------------

def _distinct(rng, shape, dt):
    """Values with no ties along the last dim (so sort's indices are unambiguous) in every dtype."""
    n = shape[-1] if shape else 1
    rows = int(np.prod(shape[:-1])) if shape else 1
    kind = np.dtype(dt.np).kind
    base = np.arange(n) if kind == "u" else np.arange(n) - n // 2
    vals = np.stack([rng.permutation(base) for _ in range(rows)]).reshape(shape)
    if is_float(dt):
        vals = vals * 0.5
    return vals.astype(dt.np)


def _distinct_cols(rng, shape, dt):
    return np.ascontiguousarray(_distinct(rng, shape[::-1], dt).T)


@gen("sort", "argsort")
def sort(name, dt, rng):
    if dt.name == "bool":  # ties everywhere: only a stable sort has one answer
        x = arr(rng, (3, 4), dt)
        return [Sample("stable", (x, -1, False, True)), Sample("stable_desc", (x, -1, True, True))]
    out = [Sample("last", (_distinct(rng, (3, 4), dt),)), Sample("desc", (_distinct(rng, (3, 4), dt), -1, True)),
           Sample("dim0", (_distinct_cols(rng, (4, 3), dt), 0)), Sample("1d", (_distinct(rng, (5,), dt),)),
           Sample("0d", (arr(rng, (), dt),)), Sample("empty", (arr(rng, (0, 4), dt),), tags=("empty",)),
           Sample("stable_ties", (arr(rng, (3, 6), dt, -1, 1), -1, False, True)),
           Sample("bad_dim", (arr(rng, (3, 4), dt), 2), error=IndexError)]
    return out


@gen("topk")
def topk(name, dt, rng):
    if dt.name == "bool":
        return [Sample("k0", (arr(rng, (3, 4), dt), 0))]
    return [Sample("k2", (_distinct(rng, (3, 4), dt), 2)), Sample("smallest", (_distinct(rng, (3, 4), dt), 3, -1, False)),
            Sample("dim0", (_distinct_cols(rng, (4, 3), dt), 1, 0)), Sample("k0", (arr(rng, (3, 4), dt), 0)),
            Sample("k_too_big", (arr(rng, (3, 4), dt), 5), error=IndexError)]


# -- random ------------------------------------------------------------------------------

@gen("philox_random")
def philox_random(name, dt, rng):
    if dt.name != "int64":  # the words are int64 whatever the dtype under test
        return []
    return [Sample("known_answer", ([8], 0, 0), device_arg=True),
            Sample("seed_offset", ([3, 5], 0x1234_5678_9ABC, 7), device_arg=True),
            Sample("big_offset", ([6], 42, 2**32 + 3), device_arg=True),
            Sample("0d", ([], 5, 1), device_arg=True), Sample("empty", ([0, 3], 5, 1), device_arg=True)]


#: Random operators (decompositions over philox_random): their values are checked by the RNG
#: identity cases against cpu, their shapes and dtypes here.
RANDOM = ("rand", "randn", "randint", "randperm", "normal_", "uniform_", "bernoulli_", "dropout",
          "bernoulli", "normal", "multinomial", "rand_like", "randn_like", "randint_like", "exponential_")


def _schema_args(op, dt, rng):
    """Arguments for an operator built from its schema alone (for the random family)."""
    args, kwargs = [], {}
    for a in op.schema.arguments:
        v = _SCHEMA_DEFAULTS.get(a.name)
        if a.type == "Tensor" and not a.is_list:
            v = arr(rng, (3, 4), dt, 0.1, 0.9)
        elif v is None and a.has_default:
            continue
        elif v is None:
            v = {"int": 3, "float": 0.5, "bool": False, "Scalar": 1}.get(a.type)
            if a.is_list:
                v = [3, 4]
        if a.type == "ScalarType":
            v = dt
        if a.type == "Device":
            continue
        if a.kwarg_only:
            kwargs[a.name] = v
        else:
            args.append(v)
    return tuple(args), kwargs


_SCHEMA_DEFAULTS = {"low": 0, "high": 10, "n": 6, "p": 0.5, "mean": 0.0, "std": 1.0, "size": [3, 4],
                    "generator": None, "train": True, "from": 0, "to": 10}


@gen(*RANDOM)
def random_op(name, dt, rng):
    from ember.dispatch import registry
    op = registry[name]
    args, kwargs = _schema_args(op, dt, rng)
    dev = any(a.type == "Device" for a in op.schema.arguments)
    return [Sample("schema", args, kwargs, device_arg=dev, tags=("random",))]


# -- nn family (core/ops/nn.py) ------------------------------------------------------------
# Floating operators give an error sample (DTypeError is a TypeError) for other dtypes.

@gen("constant_pad_nd")
def constant_pad_nd(name, dt, rng):
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    v = 1 if dt.name != "bool" else True
    return [Sample("last", (x((3, 4)), [1, 2], v)), Sample("two_dims_crop", (x((2, 3, 4)), [1, 0, -1, 2])),
            Sample("odd_pad", (x((3, 4)), [1]), error=ValueError)]


@gen("im2col")
def im2col(name, dt, rng):
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    return [Sample("k2", (x((1, 2, 4, 5)), [2, 2])),
            Sample("all_args", (x((2, 2, 6, 5)), [3, 2], [2, 1], [1, 0], [1, 2])),
            Sample("not_4d", (x((2, 4, 5)), [2, 2]), error=ValueError)]


@gen("col2im")
def col2im(name, dt, rng):
    if dt.name == "bool":
        return []
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    return [Sample("k2", (x((1, 8, 12)), [4, 5], [2, 2])),
            Sample("all_args", (x((2, 12, 12)), [6, 5], [3, 2], [2, 1], [1, 0], [1, 2])),
            Sample("wrong_columns", (x((1, 8, 10)), [4, 5], [2, 2]), error=ValueError)]


def _conv_samples(rng, dt):
    x = lambda s: arr(rng, s, dt, -1, 1)  # noqa: E731
    return [Sample("bias_pad", (x((2, 3, 5, 4)), x((4, 3, 3, 2)), x((4,)), [1, 1], [1, 1])),
            Sample("stride_dilation_groups", (x((1, 4, 7, 6)), x((6, 2, 3, 2)), None, [2, 1], [1, 0], [1, 2], 2)),
            Sample("unbatched", (x((3, 5, 5)), x((2, 3, 2, 2)))),
            Sample("channels", (x((1, 3, 5, 5)), x((2, 2, 3, 3))), error=ValueError)]


@gen("conv2d")
def conv2d(name, dt, rng):
    if not is_float(dt):
        return [Sample("not_floating", (arr(rng, (1, 2, 4, 4), dt), arr(rng, (2, 2, 2, 2), dt)), error=TypeError)]
    return _conv_samples(rng, dt)


@gen("conv1d")
def conv1d(name, dt, rng):
    if not is_float(dt):
        return [Sample("not_floating", (arr(rng, (1, 2, 4), dt), arr(rng, (2, 2, 2), dt)), error=TypeError)]
    x = lambda s: arr(rng, s, dt, -1, 1)  # noqa: E731
    return [Sample("bias_pad", (x((2, 3, 7)), x((4, 3, 3)), x((4,)), [1], [1])),
            Sample("stride_groups", (x((1, 4, 9)), x((6, 2, 3)), None, [2], [0], [2], 2))]


@gen("conv2d_backward")
def conv2d_backward(name, dt, rng):
    if not is_float(dt):
        return [Sample("not_floating", (arr(rng, (1, 2, 3, 3), dt), arr(rng, (1, 2, 4, 4), dt),
                                        arr(rng, (2, 2, 2, 2), dt)), error=TypeError)]
    x = lambda s: arr(rng, s, dt, -1, 1)  # noqa: E731
    return [Sample("pad", (x((2, 4, 5, 5)), x((2, 3, 5, 4)), x((4, 3, 3, 2)), [1, 1], [1, 1])),
            Sample("stride_dilation_groups", (x((1, 6, 4, 4)), x((1, 4, 7, 6)), x((6, 2, 3, 2)), [2, 1], [1, 0],
                                              [1, 2], 2)),
            Sample("grad_shape", (x((2, 4, 5, 3)), x((2, 3, 5, 4)), x((4, 3, 3, 2)), [1, 1], [1, 1]),
                   error=ValueError)]


@gen("conv_transpose2d")
def conv_transpose2d(name, dt, rng):
    if not is_float(dt):
        return [Sample("not_floating", (arr(rng, (1, 2, 4, 4), dt), arr(rng, (2, 2, 2, 2), dt)), error=TypeError)]
    x = lambda s: arr(rng, s, dt, -1, 1)  # noqa: E731
    return [Sample("bias_pad_output_padding", (x((2, 4, 5, 4)), x((4, 3, 3, 2)), x((3,)), [2, 1], [1, 1], [1, 0])),
            Sample("groups_dilation", (x((1, 4, 4, 5)), x((4, 2, 2, 3)), None, [1, 2], [0, 1], [0, 1], 2, [2, 1])),
            Sample("unbatched", (x((3, 4, 4)), x((3, 2, 2, 2)))),
            Sample("channels", (x((1, 3, 5, 5)), x((2, 2, 3, 3))), error=ValueError),
            Sample("output_padding", (x((1, 2, 3, 3)), x((2, 2, 3, 3)), None, [2, 2], [0, 0], [2, 2]),
                   error=ValueError)]


@gen("conv_transpose2d_backward")
def conv_transpose2d_backward(name, dt, rng):
    if not is_float(dt):
        return [Sample("not_floating", (arr(rng, (1, 2, 5, 5), dt), arr(rng, (1, 2, 4, 4), dt),
                                        arr(rng, (2, 2, 2, 2), dt)), error=TypeError)]
    x = lambda s: arr(rng, s, dt, -1, 1)  # noqa: E731
    return [Sample("pad_output_padding", (x((2, 3, 10, 5)), x((2, 4, 5, 4)), x((4, 3, 3, 2)), [2, 1], [1, 1],
                                          [1, 0])),
            Sample("groups_dilation", (x((1, 4, 5, 7)), x((1, 4, 4, 5)), x((4, 2, 2, 3)), [1, 2], [0, 1], [0, 1], 2,
                                       [2, 1])),
            Sample("grad_shape", (x((2, 3, 9, 5)), x((2, 4, 5, 4)), x((4, 3, 3, 2)), [2, 1], [1, 1], [1, 0]),
                   error=ValueError)]


def _pool_input(rng, dt, shape):
    if is_float(dt):  # distinct values: the position of the maximum is unambiguous
        return (rng.permutation(int(np.prod(shape))).reshape(shape) * 0.25 - 3).astype(dt.np)
    return arr(rng, shape, dt)


@gen("max_pool2d_with_indices", "max_pool2d")
def max_pool2d(name, dt, rng):
    if dt.name == "bool":
        return [Sample("bool", (arr(rng, (1, 2, 4, 4), dt), [2, 2]), error=TypeError)]
    if not is_float(dt):
        return [Sample("k2", (_pool_input(rng, dt, (1, 2, 4, 4)), [2, 2]))] if name == "max_pool2d" else []
    return [Sample("k2", (_pool_input(rng, dt, (2, 3, 4, 6)), [2, 2])),
            Sample("pad_ceil", (_pool_input(rng, dt, (1, 2, 7, 6)), [3, 3], [2, 2], [1, 1], [1, 1], True)),
            Sample("dilated_unbatched", (_pool_input(rng, dt, (2, 7, 7)), [2, 3], [1, 2], [0, 1], [2, 1])),
            Sample("big_padding", (_pool_input(rng, dt, (1, 1, 4, 4)), [2, 2], [2, 2], [2, 2]), error=ValueError)]


@gen("avg_pool2d")
def avg_pool2d(name, dt, rng):
    if not is_float(dt):
        return [Sample("not_floating", (arr(rng, (1, 2, 4, 4), dt), [2, 2]), error=TypeError)]
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    return [Sample("k2", (x((2, 3, 4, 6)), [2, 2])),
            Sample("pad_ceil", (x((1, 2, 7, 6)), [3, 3], [2, 2], [1, 1], True)),
            Sample("exclude_pad", (x((1, 2, 7, 6)), [3, 3], [2, 2], [1, 1], True, False)),
            Sample("divisor", (x((1, 2, 4, 4)), [2, 2], [], [0, 0], False, True, 3))]


@gen("adaptive_avg_pool2d")
def adaptive_avg_pool2d(name, dt, rng):
    if not is_float(dt):
        return [Sample("not_floating", (arr(rng, (1, 2, 4, 4), dt), [2, 2]), error=TypeError)]
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    return [Sample("uneven", (x((2, 3, 7, 5)), [3, 2])), Sample("one", (x((1, 2, 4, 4)), [1, 1])),
            Sample("unbatched", (x((2, 5, 5)), [5, 3]))]


@gen("layer_norm")
def layer_norm(name, dt, rng):
    if not is_float(dt):
        return [Sample("not_floating", (arr(rng, (2, 3), dt), [3]), error=TypeError)]
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    return [Sample("affine", (x((2, 3, 4)), [4], x((4,)), x((4,)))), Sample("two_dims", (x((2, 3, 4)), [3, 4])),
            Sample("bad_shape", (x((2, 3, 4)), [3]), error=ValueError)]


@gen("group_norm")
def group_norm(name, dt, rng):
    if not is_float(dt):
        return [Sample("not_floating", (arr(rng, (2, 4, 3), dt), 2), error=TypeError)]
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    return [Sample("affine", (x((2, 4, 3)), 2, x((4,)), x((4,)))), Sample("image", (x((2, 6, 3, 2)), 3)),
            Sample("groups", (x((2, 4, 3)), 3), error=ValueError)]


@gen("batch_norm")
def batch_norm(name, dt, rng):
    if not is_float(dt):
        return [Sample("not_floating", (arr(rng, (4, 2), dt),), error=TypeError)]
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    # training with running stats updates them in place (an input): the train sample has none
    return [Sample("train", (x((4, 3, 2)), None, None, x((3,)), x((3,)), True)),
            Sample("eval", (x((4, 3, 2, 2)), x((3,)), arr(rng, (3,), dt, 0.5, 2), x((3,)), x((3,)), False)),
            Sample("one_per_channel", (x((1, 3)), None, None, None, None, True), error=ValueError)]


@gen("batch_norm_train")
def batch_norm_train(name, dt, rng):
    if not is_float(dt):
        return [Sample("not_floating", (arr(rng, (4, 2), dt),), error=TypeError)]
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    return [Sample("affine", (x((4, 3, 2)), x((3,)), x((3,)))), Sample("plain", (x((5, 2)),))]


@gen("batch_norm_train_backward")
def batch_norm_train_backward(name, dt, rng):
    if not is_float(dt):
        return [Sample("not_floating", (arr(rng, (4, 2), dt), arr(rng, (4, 2), dt)), error=TypeError)]
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    return [Sample("affine", (x((4, 3, 2)), x((4, 3, 2)), x((3,)))), Sample("plain", (x((5, 2)), x((5, 2))))]


@gen("gelu_backward")
def gelu_backward(name, dt, rng):
    if not is_float(dt):
        return [Sample("not_floating", (arr(rng, (2, 3), dt), arr(rng, (2, 3), dt)), error=TypeError)]
    x = lambda s, lo=-3, hi=3: arr(rng, s, dt, lo, hi)  # noqa: E731
    return [Sample("exact", (x((4, 5)), x((4, 5)))), Sample("tanh", (x((4, 5)), x((4, 5)), "tanh")),
            Sample("0d", (x(()), x(()))), Sample("empty", (x((0, 3)), x((0, 3))), tags=("empty",)),
            Sample("shape_mismatch", (x((2, 3)), x((3, 2))), error=ValueError)]


@gen("_lstm_cell")
def lstm_cell(name, dt, rng):
    if not is_float(dt):
        return [Sample("not_floating", (arr(rng, (2, 8), dt), arr(rng, (2, 2), dt)), error=TypeError)]
    x = lambda s: arr(rng, s, dt, -3, 3)  # noqa: E731
    return [Sample("b3h4", (x((3, 16)), x((3, 4)))), Sample("b1h1", (x((1, 4)), x((1, 1)))),
            Sample("empty_batch", (x((0, 8)), x((0, 2))), tags=("empty",)),
            Sample("not_4h", (x((3, 10)), x((3, 4))), error=ValueError)]


@gen("_lstm_cell_backward")
def lstm_cell_backward(name, dt, rng):
    if not is_float(dt):
        return [Sample("not_floating", tuple(arr(rng, s, dt) for s in ((2, 2), (2, 2), (2, 8), (2, 2), (2, 2))),
                       error=TypeError)]
    x = lambda s: arr(rng, s, dt, -3, 3)  # noqa: E731
    return [Sample("b3h4", (x((3, 4)), x((3, 4)), x((3, 16)), x((3, 4)), x((3, 4)))),
            Sample("grad_shape", (x((3, 5)), x((3, 4)), x((3, 16)), x((3, 4)), x((3, 4))), error=ValueError)]


@gen("embedding")
def embedding(name, dt, rng):
    w = arr(rng, (5, 3), dt)
    return [Sample("rows", (w, _idx(rng, (2, 4), 5))), Sample("padding_idx", (w, _idx(rng, (3,), 5), 1)),
            Sample("float_indices", (w, np.zeros(3)), error=TypeError)]


@gen("relu")
def relu(name, dt, rng):
    if dt.name == "bool":
        return [Sample("bool", (arr(rng, (3, 4), dt),), error=TypeError)]
    return [Sample("2d", (arr(rng, (3, 4), dt),)), Sample("empty", (arr(rng, (0, 4), dt),), tags=("empty",))]


@gen("threshold_backward")
def threshold_backward(name, dt, rng):
    if dt.name == "bool":
        return [Sample("bool", (arr(rng, (3, 4), dt), arr(rng, (3, 4), dt), 0), error=TypeError)]
    out = [Sample("2d", (arr(rng, (3, 4), dt), arr(rng, (3, 4), dt), 0)),
           Sample("broadcast", (arr(rng, (2, 1, 4), dt), arr(rng, (3, 1), dt), 1), tags=("broadcast",)),
           Sample("empty", (arr(rng, (0, 4), dt), arr(rng, (0, 4), dt), 0), tags=("empty",))]
    if is_float(dt):
        out.append(Sample("special", (arr(rng, (special(dt).size,), dt), special(dt), 0.5), tags=("special",)))
    return out


@gen("batch_norm_update_stats_")
def batch_norm_update_stats_(name, dt, rng):
    # the update writes both running buffers (inputs), so only argument checks are samples here;
    # tests/test_cpu_native_nn.py checks the values against PyTorch's batch_norm_update_stats
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    if not is_float(dt):
        return [Sample("not_floating", (x((3,)), x((3,)), x((4, 3))), error=TypeError)]
    return [Sample("shapes", (x((3,)), x((4,)), x((4, 3)), 0.1), error=ValueError),
            Sample("one_per_channel", (x((3,)), x((3,)), x((1, 3)), 0.1), error=ValueError)]


@gen("gelu", "silu")
def gelu_silu(name, dt, rng):
    if not is_float(dt):
        return [Sample("not_floating", (arr(rng, (3, 4), dt),), error=TypeError)]
    out = [Sample("2d", (arr(rng, (3, 4), dt),))]
    if name == "gelu":
        out += [Sample("tanh", (arr(rng, (3, 4), dt), "tanh")),
                Sample("bad_mode", (arr(rng, (3, 4), dt), "fast"), error=ValueError)]
    return out


@gen("mse_loss", "l1_loss")
def pointwise_loss(name, dt, rng):
    if not is_float(dt):
        return [Sample("not_floating", (arr(rng, (3, 4), dt), arr(rng, (3, 4), dt)), error=TypeError)]
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    return [Sample("mean", (x((3, 4)), x((3, 4)))), Sample("sum", (x((3, 4)), x((3, 4)), "sum")),
            Sample("none", (x((3, 4)), x((3, 4)), "none")),
            Sample("shapes", (x((3, 4)), x((4, 3))), error=ValueError)]


@gen("binary_cross_entropy")
def bce(name, dt, rng):
    if not is_float(dt):
        return [Sample("not_floating", (arr(rng, (3, 4), dt), arr(rng, (3, 4), dt)), error=TypeError)]
    p, t = arr(rng, (3, 4), dt, 0.1, 0.9), arr(rng, (3, 4), dt, 0, 1)
    return [Sample("mean", (p, t)), Sample("weight_sum", (p, t, arr(rng, (4,), dt, 0.5, 2), "sum"))]


@gen("binary_cross_entropy_with_logits")
def bce_logits(name, dt, rng):
    if not is_float(dt):
        return [Sample("not_floating", (arr(rng, (3, 4), dt), arr(rng, (3, 4), dt)), error=TypeError)]
    x, t = arr(rng, (3, 4), dt), arr(rng, (3, 4), dt, 0, 1)
    return [Sample("mean", (x, t)), Sample("pos_weight", (x, t, None, arr(rng, (4,), dt, 0.5, 2), "none"))]


def _targets(rng, shape, n):
    t = _idx(rng, shape, n)
    t.reshape(-1)[0] = -100  # ignore_index
    return t


@gen("nll_loss")
def nll_loss(name, dt, rng):
    if not is_float(dt):
        return [Sample("not_floating", (arr(rng, (4, 3), dt), _idx(rng, (4,), 3)), error=TypeError)]
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    return [Sample("mean", (x((4, 3)), _targets(rng, (4,), 3))),
            Sample("weight_sum", (x((4, 3, 2)), _targets(rng, (4, 2), 3), arr(rng, (3,), dt, 0.5, 2), "sum")),
            Sample("out_of_range", (x((2, 3)), np.array([0, 3], I64)), error=IndexError)]


@gen("cross_entropy")
def cross_entropy(name, dt, rng):
    if not is_float(dt):
        return [Sample("not_floating", (arr(rng, (4, 3), dt), _idx(rng, (4,), 3)), error=TypeError)]
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    p = rng.random((4, 3))
    return [Sample("mean", (x((4, 3)), _targets(rng, (4,), 3))),
            Sample("smooth_weight", (x((4, 3, 2)), _targets(rng, (4, 2), 3), arr(rng, (3,), dt, 0.5, 2), "none",
                                     -100, 0.2)),
            Sample("probabilities", (x((4, 3)), (p / p.sum(1, keepdims=True)).astype(dt.np), None, "sum")),
            Sample("out_of_range", (x((2, 3)), np.array([0, 3], I64)), error=IndexError)]


@gen("cross_entropy_backward")
def cross_entropy_backward(name, dt, rng):
    if not is_float(dt):
        return [Sample("not_floating", (arr(rng, (), dt), arr(rng, (4, 3), dt), _idx(rng, (4,), 3)), error=TypeError)]
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    return [Sample("mean", (x(()), x((4, 3)), _targets(rng, (4,), 3))),
            Sample("smooth_weight_none", (x((4, 2)), x((4, 3, 2)), _targets(rng, (4, 2), 3),
                                          arr(rng, (3,), dt, 0.5, 2), "none", -100, 0.2))]


@gen("scaled_dot_product_attention")
def sdpa(name, dt, rng):
    if not is_float(dt):
        return [Sample("not_floating", (arr(rng, (2, 3, 4), dt),) * 3, error=TypeError)]
    x = lambda s: arr(rng, s, dt, -1, 1)  # noqa: E731
    m = rng.random((3, 5)) > 0.3
    m[:, 0] = True
    return [Sample("plain", (x((2, 3, 4)), x((2, 5, 4)), x((2, 5, 2)))),
            Sample("causal", (x((1, 3, 4)), x((1, 3, 4)), x((1, 3, 2)), None, 0.0, True)),
            Sample("bool_mask", (x((2, 3, 4)), x((2, 5, 4)), x((2, 5, 2)), m)),
            Sample("float_mask_scale", (x((2, 3, 4)), x((2, 5, 4)), x((2, 5, 2)), x((3, 5))), {"scale": 0.3}),
            Sample("head_dims", (x((2, 3, 4)), x((2, 5, 3)), x((2, 5, 2))), error=ValueError)]


@gen("sgd_step_")
def sgd_step_(name, dt, rng):
    if not is_float(dt):
        return [Sample("not_floating", (arr(rng, (3, 4), dt), arr(rng, (3, 4), dt)), error=TypeError)]
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    # with a momentum buffer the update also writes the buffer (an input), so value samples have none
    return [Sample("plain", (x((3, 4)), x((3, 4)), None, 0.1)),
            Sample("weight_decay", (x((3, 4)), x((3, 4)), None, 0.1, 0.0, 0.0, 0.01)),
            Sample("shapes", (x((3, 4)), x((4, 3))), error=ValueError)]


@gen("adam_step_")
def adam_step_(name, dt, rng):
    # every Adam update writes its moment buffers (inputs), so only argument checks are samples here;
    # tests/test_optim.py checks the values against PyTorch
    x = lambda s: arr(rng, s, dt)  # noqa: E731
    if not is_float(dt):
        return [Sample("not_floating", (x((3, 4)), x((3, 4)), x((3, 4)), x((3, 4))), error=TypeError)]
    return [Sample("shapes", (x((3, 4)), x((3, 4)), x((4, 3)), x((3, 4))), error=ValueError)]
from . import tensor_more_samples  # noqa: E402,F401  (diag, unique, quantile, ... and their references)
from . import tensor_breadth_samples  # noqa: E402,F401  (xlogy, cov, scatter_reduce, lgamma, ... and references)
from . import complex_samples  # noqa: E402,F401  (complex numbers and the Fourier transforms, with references)
from . import linalg_samples  # noqa: E402,F401  (factorizations and solvers, with references)
