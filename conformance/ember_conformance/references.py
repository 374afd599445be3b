"""The reference of every operator: numpy, in float64 (int64 for integers), independent of Ember.

``REFERENCES[op](*args, **kwargs)`` takes a sample's arguments with floating
arrays widened to float64 and integer arrays to int64 (bool stays bool) and
returns the exact answer as numpy arrays: one array, or a tuple/list of them
for operators with several outputs. The runner rounds it once to the result
dtype core's meta function names, then compares. ``None`` means "values not
checked" (``empty``, random operators: their shape, dtype and device still are).
"""

from __future__ import annotations

import math

import numpy as np

F64 = np.float64
REFERENCES: dict = {}


def ref(*names):
    def deco(fn):
        for n in names:
            REFERENCES[n] = fn
        return fn
    return deco


def F(x):
    x = np.asarray(x)
    return x if x.dtype.kind == "c" else np.asarray(x, dtype=F64)  # complex samples stay complex128


def N(x):
    """Booleans as int64 for arithmetic; other arrays as they are."""
    x = np.asarray(x)
    return x.astype(np.int64) if x.dtype == np.bool_ else x


_erf = np.vectorize(math.erf, otypes=[F64])
_erfc = np.vectorize(math.erfc, otypes=[F64])


def erfinv(y):
    y = F(y)
    out = np.full(y.shape, np.nan)
    ok = np.abs(y) < 1
    out[y == 1] = np.inf
    out[y == -1] = -np.inf
    v = y[ok]
    a = 0.147  # Winitzki's approximation, then Newton
    ln = np.log((1.0 - v) * (1.0 + v))
    t = 2 / (math.pi * a) + ln / 2
    x = np.sign(v) * np.sqrt(np.sqrt(t * t - ln / a) - t)
    for _ in range(4):  # Newton on erf(x) = v: converges to float64 precision from this start
        x = x - (_erf(x) - v) / (2 / math.sqrt(math.pi) * np.exp(-x * x))
    out[ok] = x
    return out


# -- elementwise ------------------------------------------------------------------------

_UNARY = {
    "neg": lambda x: -N(x), "abs": lambda x: np.abs(N(x)), "sign": lambda x: np.sign(N(x)),
    "square": lambda x: N(x) * N(x), "exp": lambda x: np.exp(F(x)), "exp2": lambda x: np.exp2(F(x)),
    "expm1": lambda x: np.expm1(F(x)), "log": lambda x: np.log(F(x)), "log2": lambda x: np.log2(F(x)),
    "log10": lambda x: np.log10(F(x)), "log1p": lambda x: np.log1p(F(x)), "sqrt": lambda x: np.sqrt(F(x)),
    "rsqrt": lambda x: 1.0 / np.sqrt(F(x)), "sin": lambda x: np.sin(F(x)), "cos": lambda x: np.cos(F(x)),
    "tan": lambda x: np.tan(F(x)), "asin": lambda x: np.arcsin(F(x)), "acos": lambda x: np.arccos(F(x)),
    "atan": lambda x: np.arctan(F(x)), "sinh": lambda x: np.sinh(F(x)), "cosh": lambda x: np.cosh(F(x)),
    "tanh": lambda x: np.tanh(F(x)), "asinh": lambda x: np.arcsinh(F(x)), "acosh": lambda x: np.arccosh(F(x)),
    "atanh": lambda x: np.arctanh(F(x)), "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-F(x))),
    "erf": lambda x: _erf(F(x)), "erfc": lambda x: _erfc(F(x)), "erfinv": erfinv,
    "reciprocal": lambda x: 1.0 / F(x), "floor": np.floor, "ceil": np.ceil, "round": np.round, "trunc": np.trunc,
    "frac": lambda x: F(x) - np.trunc(F(x)), "logical_not": lambda x: np.asarray(x) == 0,
    "bitwise_not": np.invert, "isnan": lambda x: np.isnan(F(x)), "isinf": lambda x: np.isinf(F(x)),
    "isfinite": lambda x: np.isfinite(F(x)), "signbit": lambda x: np.signbit(F(x)),
}


def _is_int(x) -> bool:
    return np.asarray(x).dtype.kind in "iu"


def _pow(a, b):
    """np.power, with PyTorch's answer where an integer base meets a negative integer exponent
    (numpy refuses it): 1 for base 1, +-1 for base -1 by the exponent's parity, 0 for any other base."""
    a, b = N(a), N(b)
    if not (_is_int(a) and _is_int(b)) or not np.any(np.asarray(b) < 0):
        return np.power(a, b)
    neg = np.asarray(b) < 0
    odd = np.asarray(b) % 2 != 0
    special = np.where(a == 1, 1, np.where(a == -1, np.where(odd, -1, 1), 0))
    return np.where(neg, special, np.power(a, np.where(neg, 0, b)))


def cast(x, dtype):
    """``x`` converted to the ember ``dtype`` as PyTorch converts: a float into an integer dtype is
    truncated toward zero, then wrapped (two's complement) to the width (defined where the truncation
    fits in int32); everything else as numpy's astype."""
    x = np.asarray(x)
    if x.dtype.kind == "f" and np.dtype(dtype.np).kind in "iu":
        return np.trunc(x).astype(np.int64).astype(dtype.np)
    return x.astype(dtype.np)


def _tdiv(a, b):
    a, b = N(a), N(b)
    if np.asarray(a).dtype.kind == "f" or np.asarray(b).dtype.kind == "f" or isinstance(b, float):
        return np.trunc(F(a) / F(b))
    return np.sign(a) * np.sign(b) * (np.abs(a) // np.abs(b))


_BINARY = {
    "add": lambda a, b: np.add(a, b), "sub": lambda a, b: np.subtract(N(a), N(b)),
    "mul": lambda a, b: np.multiply(a, b), "true_divide": lambda a, b: F(a) / F(b),
    "floor_divide": lambda a, b: np.floor_divide(N(a), N(b)), "trunc_divide": _tdiv,
    "remainder": lambda a, b: np.remainder(N(a), N(b)), "fmod": lambda a, b: np.fmod(N(a), N(b)),
    "pow": _pow, "maximum": np.maximum, "minimum": np.minimum,
    "atan2": lambda a, b: np.arctan2(F(a), F(b)), "hypot": lambda a, b: np.hypot(F(a), F(b)),
    "logaddexp": lambda a, b: np.logaddexp(F(a), F(b)), "copysign": lambda a, b: np.copysign(F(a), F(b)),
    "eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal, "gt": np.greater,
    "ge": np.greater_equal, "logical_and": lambda a, b: np.logical_and(a, b),
    "logical_or": lambda a, b: np.logical_or(a, b), "logical_xor": lambda a, b: np.logical_xor(a, b),
    "bitwise_and": np.bitwise_and, "bitwise_or": np.bitwise_or, "bitwise_xor": np.bitwise_xor,
    "bitwise_left_shift": lambda a, b: np.left_shift(N(a), N(b)),
    "bitwise_right_shift": lambda a, b: np.right_shift(N(a), N(b)),
}

for _n, _f in _UNARY.items():
    REFERENCES[_n] = REFERENCES[_n + "_"] = (lambda f: lambda x: f(x))(_f)
for _n, _f in _BINARY.items():
    REFERENCES[_n] = REFERENCES[_n + "_"] = (lambda f: lambda a, b: f(a, b))(_f)


@ref("where")
def _where(c, a, b):
    return np.where(c, a, b)


@ref("clamp", "clamp_")
def _clamp(x, lo=None, hi=None):
    out = x
    if lo is not None:
        out = np.maximum(out, lo)
    if hi is not None:
        out = np.minimum(out, hi)
    return np.broadcast_to(out, np.broadcast_shapes(*[np.shape(v) for v in (x, lo, hi) if v is not None]))


@ref("lerp")
def _lerp(a, b, w):
    return F(a) + F(w) * (F(b) - F(a))


@ref("addcmul")
def _addcmul(x, t1, t2, value=1):
    return x + value * (t1 * t2) if np.asarray(x).dtype != np.bool_ else x | (bool(value) & t1 & t2)


@ref("addcdiv")
def _addcdiv(x, t1, t2, value=1):
    return F(x) + value * (F(t1) / F(t2))


@ref("div")
def _div(a, b, rounding_mode=None):
    if rounding_mode is None:
        return F(a) / F(b)
    if rounding_mode == "trunc":
        return _tdiv(a, b)
    return np.floor_divide(N(a), N(b))


# -- reductions ----------------------------------------------------------------------------

def _axes(x, dim):
    if dim is None or np.ndim(x) == 0:
        return None
    return tuple(int(d) for d in ([dim] if isinstance(dim, int) else dim))


def _cast(x, dtype):
    return x if dtype is None else np.asarray(x).astype(dtype.np).astype(F64 if dtype.is_floating_point else np.int64)


@ref("sum")
def _sum(x, dim=None, keepdim=False, dtype=None):
    return np.sum(N(_cast(x, dtype)), axis=_axes(x, dim), keepdims=keepdim)


@ref("prod")
def _prod(x, dim=None, keepdim=False, dtype=None):
    return np.prod(N(_cast(x, dtype)), axis=_axes(x, dim), keepdims=keepdim)


@ref("amax")
def _amax(x, dim=None, keepdim=False):
    return np.max(x, axis=_axes(x, dim), keepdims=keepdim)


@ref("amin")
def _amin(x, dim=None, keepdim=False):
    return np.min(x, axis=_axes(x, dim), keepdims=keepdim)


@ref("all")
def _all(x, dim=None, keepdim=False):
    return np.all(np.asarray(x) != 0, axis=_axes(x, dim), keepdims=keepdim)


@ref("any")
def _any(x, dim=None, keepdim=False):
    return np.any(np.asarray(x) != 0, axis=_axes(x, dim), keepdims=keepdim)


@ref("mean")
def _mean(x, dim=None, keepdim=False, dtype=None):
    return np.mean(F(x), axis=_axes(x, dim), keepdims=keepdim)


def _ddof(correction):
    return 1 if correction is None else correction


@ref("var")
def _var(x, dim=None, correction=None, keepdim=False):
    return np.var(F(x), axis=_axes(x, dim), ddof=_ddof(correction), keepdims=keepdim)


@ref("std")
def _std(x, dim=None, correction=None, keepdim=False):
    return np.sqrt(_var(x, dim, correction, keepdim))


@ref("var_mean")
def _var_mean(x, dim=None, correction=None, keepdim=False):
    return _var(x, dim, correction, keepdim), _mean(x, dim, keepdim)


@ref("std_mean")
def _std_mean(x, dim=None, correction=None, keepdim=False):
    return _std(x, dim, correction, keepdim), _mean(x, dim, keepdim)


@ref("logsumexp")
def _logsumexp(x, dim, keepdim=False):
    x = F(x)
    ax = _axes(x, dim)
    if x.size == 0:
        return np.log(np.sum(np.exp(x), axis=ax, keepdims=keepdim))
    m = np.max(x, axis=ax, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    out = np.log(np.sum(np.exp(x - m), axis=ax, keepdims=True)) + m
    return out if keepdim or ax is None else np.squeeze(out, axis=ax)


def _arg(fn, x, dim=None, keepdim=False):
    x = N(x)
    if dim is None:
        i = np.asarray(fn(x))
        return i.reshape((1,) * x.ndim) if keepdim else i
    if x.ndim == 0:
        return np.asarray(0)
    return fn(x, axis=dim, keepdims=keepdim)


@ref("argmax")
def _argmax(x, dim=None, keepdim=False):
    return _arg(np.argmax, x, dim, keepdim)


@ref("argmin")
def _argmin(x, dim=None, keepdim=False):
    return _arg(np.argmin, x, dim, keepdim)


@ref("max")
def _max(x):
    return np.max(x)


@ref("min")
def _min(x):
    return np.min(x)


@ref("max_dim")
def _max_dim(x, dim, keepdim=False):
    if np.ndim(x) == 0:
        return x, np.asarray(0)
    return np.max(x, axis=dim, keepdims=keepdim), np.argmax(N(x), axis=dim, keepdims=keepdim)


@ref("min_dim")
def _min_dim(x, dim, keepdim=False):
    if np.ndim(x) == 0:
        return x, np.asarray(0)
    return np.min(x, axis=dim, keepdims=keepdim), np.argmin(N(x), axis=dim, keepdims=keepdim)


@ref("cumsum")
def _cumsum(x, dim, dtype=None):
    x = N(_cast(x, dtype))
    return x if x.ndim == 0 else np.cumsum(x, axis=dim)


@ref("cumprod")
def _cumprod(x, dim, dtype=None):
    x = N(_cast(x, dtype))
    return x if x.ndim == 0 else np.cumprod(x, axis=dim)


@ref("softmax")
def _softmax(x, dim, dtype=None):
    x = F(x)
    if x.ndim == 0:
        return np.ones(())
    if x.size == 0:
        return x
    e = np.exp(x - np.max(x, axis=dim, keepdims=True))
    return e / np.sum(e, axis=dim, keepdims=True)


@ref("log_softmax")
def _log_softmax(x, dim, dtype=None):
    x = F(x)
    if x.ndim == 0:
        return np.zeros(())
    if x.size == 0:
        return x
    m = np.max(x, axis=dim, keepdims=True)
    return x - m - np.log(np.sum(np.exp(x - m), axis=dim, keepdims=True))


# -- views ------------------------------------------------------------------------------

def _expand(x, size):
    x = np.asarray(x)
    lead = len(size) - x.ndim
    shape = tuple(x.shape[i - lead] if s == -1 else s for i, s in enumerate(size))
    return np.broadcast_to(x, shape)


def _squeeze(x, dim=None):
    dims = range(np.ndim(x)) if dim is None else [d % max(np.ndim(x), 1) for d in dim]
    return np.squeeze(x, axis=tuple(d for d in dims if np.ndim(x) and x.shape[d] == 1))


def _flatten(x, start_dim=0, end_dim=-1):
    x = np.asarray(x)
    if x.ndim == 0:
        return x.reshape(1)
    s, e = start_dim % x.ndim, end_dim % x.ndim
    return x.reshape(x.shape[:s] + (-1,) + x.shape[e + 1:]) if x.size else x.reshape(
        x.shape[:s] + (int(np.prod(x.shape[s:e + 1])),) + x.shape[e + 1:])


def _along(x, dim, sl):
    return x[(slice(None),) * (dim % np.ndim(x)) + (sl,)]


def _split(x, size, dim=0):
    n = x.shape[dim]
    if isinstance(size, int):
        bounds = list(range(size, n, size))
    else:
        bounds = list(np.cumsum(size)[:-1])
    return list(np.split(x, bounds, axis=dim))


def _as_strided(x, size, stride, storage_offset=None):
    flat = np.ascontiguousarray(x).reshape(-1)[storage_offset or 0:]
    return np.lib.stride_tricks.as_strided(flat, tuple(size), tuple(s * flat.itemsize for s in stride))


REFERENCES.update({
    "view": lambda x, size: np.reshape(x, tuple(size)),
    "reshape": lambda x, shape: np.reshape(x, tuple(shape)),
    "permute": lambda x, dims: np.transpose(x, tuple(dims)),
    "transpose": lambda x, a, b: np.swapaxes(x, a, b),
    "t": lambda x: np.transpose(x),
    "expand": _expand, "squeeze": _squeeze,
    "unsqueeze": lambda x, dim: np.expand_dims(x, dim),
    "flatten": _flatten,
    "narrow": lambda x, dim, start, length: _along(x, dim, slice(start, start + length)),
    "slice": lambda x, dim=0, start=None, end=None, step=1: _along(x, dim, slice(start, end, step)),
    "select": lambda x, dim, index: _along(x, dim, index),
    "unbind": lambda x, dim=0: tuple(_along(x, dim, i) for i in range(x.shape[dim])),
    "diagonal": lambda x, offset=0, dim1=0, dim2=1: np.diagonal(x, offset, dim1, dim2),
    "as_strided": _as_strided,
    "split": _split,
    "chunk": lambda x, chunks, dim=0: _split(x, max(-(-x.shape[dim] // chunks), 1), dim),
    "movedim": lambda x, src, dst: np.moveaxis(x, src, dst),
})


# -- creation and copies ---------------------------------------------------------------------

REFERENCES.update({
    "arange": lambda start, end, step=1, dtype=None, device=None: np.arange(start, end, step),
    "empty": lambda size, dtype=None, device=None: None,
    "full": lambda size, value, dtype=None, device=None: np.full(tuple(size), value),
    "eye": lambda n, m=None, dtype=None, device=None: np.eye(n, m),
    "linspace": lambda start, end, steps, dtype=None, device=None: np.linspace(start, end, steps),
    "fill_": lambda x, value: np.full(np.shape(x), value),
    # (dst arrives widened to int64 or bool: an integer dst gets the truncated value, which the runner
    # wraps to dst's width)
    "copy_": lambda dst, src, non_blocking=False: np.broadcast_to(
        cast(src, _int64()) if _is_int(dst) else src, np.shape(dst)),
    "_to_copy": lambda x, dtype=None, device=None, non_blocking=False: x if dtype is None else cast(x, dtype),
    "clone": lambda x: x, "contiguous": lambda x: x,
})


def _int64():
    import ember
    return ember.int64


# -- indexing --------------------------------------------------------------------------------

def _coords(index, dim):
    c = list(np.indices(index.shape, sparse=True))
    c[dim] = index
    return tuple(c)


def _scatter(x, dim, index, src=None, value=None, reduce=None):
    out = np.array(x, copy=True)
    dim %= out.ndim
    vals = value if src is None or not isinstance(src, np.ndarray) else src[tuple(slice(0, n) for n in index.shape)]
    if src is not None and not isinstance(src, np.ndarray):
        vals = src
    if reduce == "add":
        np.add.at(out, _coords(index, dim), vals)
    else:
        out[_coords(index, dim)] = vals
    return out


def _scatter_add(x, dim, index, src):
    return _scatter(x, dim, index, src, reduce="add")


def _index_add(x, dim, index, source, alpha=1):
    out = np.array(N(x), copy=True)
    for i, j in enumerate(index.reshape(-1)):
        _along(out, dim, int(j))[...] += alpha * _along(N(source), dim, i)
    return out if np.asarray(x).dtype != np.bool_ else out != 0


def _index_put(x, indices, values, accumulate=False):
    out = np.array(N(x) if accumulate else x, copy=True)
    idx = tuple(indices)
    if accumulate:
        np.add.at(out, idx, N(values))
        return out if np.asarray(x).dtype != np.bool_ else out != 0
    out[idx] = values
    return out


def _masked_select(x, mask):
    shape = np.broadcast_shapes(np.shape(x), np.shape(mask)) or (1,)
    return np.broadcast_to(x, shape)[np.broadcast_to(mask, shape)]


REFERENCES.update({
    "gather": lambda x, dim, index, sparse_grad=False: np.take_along_axis(x, index, dim) if index.size else
    np.zeros(index.shape, np.asarray(x).dtype),
    "scatter": _scatter, "scatter_": _scatter, "scatter_add": _scatter_add, "scatter_add_": _scatter_add,
    "index_select": lambda x, dim, index: np.take(x, index.reshape(-1), axis=dim),
    "index_add": _index_add, "index_add_": _index_add, "index_put": _index_put, "index_put_": _index_put,
    "index": lambda x, indices: np.asarray(x)[tuple(indices)],
    "masked_fill": lambda x, mask, value: np.where(mask, value, x),
    "masked_fill_": lambda x, mask, value: np.where(mask, value, x),
    "masked_select": _masked_select,
    "nonzero": lambda x, as_tuple=False: np.argwhere(np.asarray(x) != 0),
    "argwhere": lambda x: np.argwhere(np.asarray(x) != 0),
})


# -- linear algebra -------------------------------------------------------------------------

def _mat(a, b):
    if np.asarray(a).dtype == np.bool_:
        return np.matmul(N(a), N(b)) != 0
    return np.matmul(a, b)


REFERENCES.update({
    "mm": _mat, "bmm": _mat, "matmul": _mat, "mv": _mat, "dot": _mat,
    "outer": lambda a, b: np.multiply.outer(a, b),
    "addmm": lambda x, m1, m2, beta=1, alpha=1: (beta * N(x) + alpha * N(_mat(m1, m2))
                                                 if np.asarray(x).dtype != np.bool_ else x | _mat(m1, m2)),
    "einsum": lambda eq, tensors: np.einsum(eq, *[N(t) for t in tensors]),
})


# -- shape --------------------------------------------------------------------------------------

def _one_hot(x, num_classes=-1):
    n = int(np.max(x)) + 1 if num_classes == -1 else num_classes
    return (np.asarray(x)[..., None] == np.arange(n)).astype(np.int64)


REFERENCES.update({
    "cat": lambda tensors, dim=0: np.concatenate(tensors, axis=dim),
    "stack": lambda tensors, dim=0: np.stack(tensors, axis=dim),
    "flip": lambda x, dims: np.flip(x, axis=tuple(dims)) if len(dims) else np.asarray(x),
    "one_hot": _one_hot,
    "repeat": lambda x, repeats: np.tile(x, tuple(repeats)),
    "roll": lambda x, shifts, dims=None: np.roll(x, tuple(shifts) if dims else shifts[0],
                                                 axis=tuple(dims) if dims else None),
    "tril": lambda x, diagonal=0: np.tril(x, diagonal), "tril_": lambda x, diagonal=0: np.tril(x, diagonal),
    "triu": lambda x, diagonal=0: np.triu(x, diagonal), "triu_": lambda x, diagonal=0: np.triu(x, diagonal),
})


# -- sorting ----------------------------------------------------------------------------------

def _order(x, dim, descending):
    key = N(x)
    if descending:
        key = -key.astype(F64) if key.dtype.kind == "f" else -key
    return np.argsort(key, axis=dim, kind="stable")


@ref("sort")
def _sort(x, dim=-1, descending=False, stable=False):
    if np.ndim(x) == 0:
        return x, np.asarray(0)
    i = _order(x, dim, descending)
    return np.take_along_axis(x, i, dim), i


@ref("argsort")
def _argsort(x, dim=-1, descending=False, stable=False):
    return _sort(x, dim, descending, stable)[1]


@ref("topk")
def _topk(x, k, dim=-1, largest=True, sorted=True):
    i = np.take(_order(x, dim, largest), np.arange(k), axis=dim)
    return np.take_along_axis(x, i, dim), i


# -- random ------------------------------------------------------------------------------------

_M0, _M1, _W0, _W1 = 0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85
_MASK = 0xFFFFFFFF


def philox4x32_10(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 on uint64 arrays holding 32-bit words; returns the four output words."""
    c0, c1, c2, c3 = (np.asarray(c, dtype=np.uint64) for c in (c0, c1, c2, c3))
    k0, k1 = np.uint64(k0), np.uint64(k1)
    for r in range(10):
        if r:
            k0, k1 = np.uint64((int(k0) + _W0) & _MASK), np.uint64((int(k1) + _W1) & _MASK)
        p0, p1 = np.uint64(_M0) * c0, np.uint64(_M1) * c2
        hi0, lo0, hi1, lo1 = p0 >> np.uint64(32), p0 & np.uint64(_MASK), p1 >> np.uint64(32), p1 & np.uint64(_MASK)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return c0, c1, c2, c3


@ref("philox_random")
def _philox_random(size, seed, offset, device=None):
    n = int(np.prod(size)) if len(size) else 1
    idx = np.arange(n, dtype=np.uint64)
    ctr = np.uint64(offset) + idx // np.uint64(4)
    lo, hi = ctr & np.uint64(_MASK), ctr >> np.uint64(32)
    zero = np.zeros(n, np.uint64)
    words = np.stack(philox4x32_10(lo, hi, zero, zero, seed & _MASK, (seed >> 32) & _MASK))
    return words[(idx % np.uint64(4)).astype(np.intp), np.arange(n)].astype(np.int64).reshape(tuple(size))


def _no_values(*args, **kwargs):
    return None


for _n in ("rand", "randn", "randint", "randperm", "normal_", "uniform_", "bernoulli_", "dropout", "bernoulli",
           "normal", "multinomial", "rand_like", "randn_like", "randint_like", "exponential_"):
    REFERENCES[_n] = _no_values


# -- nn family (core/ops/nn.py): PyTorch's semantics, written out in numpy -------------------

def _pair(v, n=2):
    v = tuple(v) if isinstance(v, (list, tuple)) else (v,)
    return v * n if len(v) == 1 else v


@ref("constant_pad_nd")
def _constant_pad_nd(x, pad, value=0):
    x = np.asarray(x)
    for i in range(len(pad) // 2):
        d = x.ndim - 1 - i
        lo, hi = pad[2 * i], pad[2 * i + 1]
        sl = [slice(None)] * x.ndim
        sl[d] = slice(max(-lo, 0), x.shape[d] - max(-hi, 0))
        x = x[tuple(sl)]
        widths = [(0, 0)] * x.ndim
        widths[d] = (max(lo, 0), max(hi, 0))
        x = np.pad(x, widths, constant_values=value)
    return x


def _out(n, k, s, p, d, ceil=False):
    span = n + 2 * p - d * (k - 1) - 1
    o = (-(-span // s) if ceil else span // s) + 1
    if ceil and (o - 1) * s >= n + p:
        o -= 1
    return o


@ref("im2col")
def _im2col(x, kernel_size, dilation=1, padding=0, stride=1):
    k, d, p, s = _pair(kernel_size), _pair(dilation), _pair(padding), _pair(stride)
    x = np.asarray(x)
    N, C, H, W = x.shape
    oh, ow = _out(H, k[0], s[0], p[0], d[0]), _out(W, k[1], s[1], p[1], d[1])
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))
    cols = np.empty((N, C, k[0], k[1], oh, ow), x.dtype)
    for i in range(k[0]):
        for j in range(k[1]):
            cols[:, :, i, j] = xp[:, :, i * d[0]:i * d[0] + s[0] * (oh - 1) + 1:s[0],
                                  j * d[1]:j * d[1] + s[1] * (ow - 1) + 1:s[1]]
    return cols.reshape(N, C * k[0] * k[1], oh * ow)


@ref("col2im")
def _col2im(x, output_size, kernel_size, dilation=1, padding=0, stride=1):
    k, d, p, s = _pair(kernel_size), _pair(dilation), _pair(padding), _pair(stride)
    H, W = _pair(output_size)
    x = np.asarray(x)
    N = x.shape[0]
    C = x.shape[1] // (k[0] * k[1])
    oh, ow = _out(H, k[0], s[0], p[0], d[0]), _out(W, k[1], s[1], p[1], d[1])
    hp = max(H + 2 * p[0], (oh - 1) * s[0] + d[0] * (k[0] - 1) + 1)
    wp = max(W + 2 * p[1], (ow - 1) * s[1] + d[1] * (k[1] - 1) + 1)
    out = np.zeros((N, C, hp, wp), x.dtype)
    cols = x.reshape(N, C, k[0], k[1], oh, ow)
    for i in range(k[0]):
        for j in range(k[1]):
            out[:, :, i * d[0]:i * d[0] + s[0] * (oh - 1) + 1:s[0],
                j * d[1]:j * d[1] + s[1] * (ow - 1) + 1:s[1]] += cols[:, :, i, j]
    return out[:, :, p[0]:p[0] + H, p[1]:p[1] + W]


@ref("conv2d")
def _conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    x, w = F(x), F(w)
    batched = x.ndim == 4
    x = x if batched else x[None]
    N = x.shape[0]
    O, Cg, KH, KW = w.shape
    cols = _im2col(x, (KH, KW), dilation, padding, stride)                 # (N, C*K, L)
    s, p, d = _pair(stride), _pair(padding), _pair(dilation)
    oh, ow = _out(x.shape[2], KH, s[0], p[0], d[0]), _out(x.shape[3], KW, s[1], p[1], d[1])
    cols = cols.reshape(N, groups, Cg * KH * KW, oh * ow)
    wg = w.reshape(groups, O // groups, Cg * KH * KW)
    out = np.einsum("gok,ngkl->ngol", wg, cols).reshape(N, O, oh, ow)
    if b is not None:
        out = out + F(b).reshape(O, 1, 1)
    return out if batched else out[0]


@ref("conv1d")
def _conv1d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    out = _conv2d(F(x)[..., None, :], F(w)[..., None, :], b, (1,) + _pair(stride, 1), (0,) + _pair(padding, 1),
                  (1,) + _pair(dilation, 1), groups)
    return out[..., 0, :]


@ref("conv2d_backward")
def _conv2d_backward(g, x, w, stride=1, padding=0, dilation=1, groups=1):
    g, x, w = F(g), F(x), F(w)
    N, C, H, W = x.shape
    O, Cg, KH, KW = w.shape
    L = g.shape[2] * g.shape[3]
    gg = g.reshape(N, groups, O // groups, L)
    cols = _im2col(x, (KH, KW), dilation, padding, stride).reshape(N, groups, Cg * KH * KW, L)
    gw = np.einsum("ngol,ngkl->gok", gg, cols).reshape(w.shape)
    gcols = np.einsum("gok,ngol->ngkl", w.reshape(groups, O // groups, Cg * KH * KW), gg)
    gi = _col2im(gcols.reshape(N, C * KH * KW, L), (H, W), (KH, KW), dilation, padding, stride)
    return gi, gw, g.sum(axis=(0, 2, 3))


@ref("conv_transpose2d")
def _conv_transpose2d(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    x, w = F(x), F(w)
    batched = x.ndim == 4
    x = x if batched else x[None]
    s, p, op, d = _pair(stride), _pair(padding), _pair(output_padding), _pair(dilation)
    N, C, H, W = x.shape
    _, Og, KH, KW = w.shape
    G = groups
    # every input position scattered into the full output, output_padding's rows and columns included
    hf, wf = (H - 1) * s[0] + d[0] * (KH - 1) + 1 + op[0], (W - 1) * s[1] + d[1] * (KW - 1) + 1 + op[1]
    out = np.zeros((N, G, Og, hf, wf))
    xg, wg = x.reshape(N, G, C // G, H, W), w.reshape(G, C // G, Og, KH, KW)
    for i in range(KH):
        for j in range(KW):
            out[:, :, :, i * d[0]:i * d[0] + (H - 1) * s[0] + 1:s[0], j * d[1]:j * d[1] + (W - 1) * s[1] + 1:s[1]] += \
                np.einsum("ngchw,gco->ngohw", xg, wg[..., i, j])
    ho, wo = hf - 2 * p[0], wf - 2 * p[1]
    out = out.reshape(N, G * Og, hf, wf)[:, :, p[0]:p[0] + ho, p[1]:p[1] + wo]
    if b is not None:
        out = out + F(b).reshape(-1, 1, 1)
    return out if batched else out[0]


@ref("conv_transpose2d_backward")
def _conv_transpose2d_backward(g, x, w, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    g, x, w = F(g), F(x), F(w)
    s, p, op, d = _pair(stride), _pair(padding), _pair(output_padding), _pair(dilation)
    N, C, H, W = x.shape
    _, Og, KH, KW = w.shape
    G = groups
    hf, wf = (H - 1) * s[0] + d[0] * (KH - 1) + 1 + op[0], (W - 1) * s[1] + d[1] * (KW - 1) + 1 + op[1]
    gf = np.zeros((N, G * Og, hf, wf))      # grad in the full (uncropped) output
    gf[:, :, p[0]:p[0] + g.shape[2], p[1]:p[1] + g.shape[3]] = g
    gf = gf.reshape(N, G, Og, hf, wf)
    xg, wg = x.reshape(N, G, C // G, H, W), w.reshape(G, C // G, Og, KH, KW)
    gi, gw = np.zeros_like(xg), np.zeros_like(wg)
    for i in range(KH):
        for j in range(KW):
            win = gf[:, :, :, i * d[0]:i * d[0] + (H - 1) * s[0] + 1:s[0], j * d[1]:j * d[1] + (W - 1) * s[1] + 1:s[1]]
            gi += np.einsum("ngohw,gco->ngchw", win, wg[..., i, j])
            gw[..., i, j] = np.einsum("ngohw,ngchw->gco", win, xg)
    return gi.reshape(x.shape), gw.reshape(w.shape), g.sum(axis=(0, 2, 3))


def _pool_windows(x, k, s, p, d, ceil, fill):
    """(N, C, OH, OW, KH*KW) windows of a padded input, and the flat input position of each element."""
    N, C, H, W = x.shape
    oh, ow = _out(H, k[0], s[0], p[0], d[0], ceil), _out(W, k[1], s[1], p[1], d[1], ceil)
    vals = np.full((N, C, oh, ow, k[0] * k[1]), fill, dtype=F64 if fill is not None else x.dtype)
    pos = np.full((oh, ow, k[0] * k[1]), -1, np.int64)
    for a in range(oh):
        for b in range(ow):
            for i in range(k[0]):
                for j in range(k[1]):
                    h, w_ = a * s[0] - p[0] + i * d[0], b * s[1] - p[1] + j * d[1]
                    if 0 <= h < H and 0 <= w_ < W:
                        vals[:, :, a, b, i * k[1] + j] = x[:, :, h, w_]
                        pos[a, b, i * k[1] + j] = h * W + w_
    return vals, pos


@ref("max_pool2d_with_indices")
def _max_pool2d_with_indices(x, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    x = np.asarray(x)
    batched = x.ndim == 4
    x4 = (x if batched else x[None]).astype(F64)
    k = _pair(kernel_size)
    s = _pair(stride) if len(_pair(stride) if isinstance(stride, (list, tuple)) else (stride,)) else k
    vals, pos = _pool_windows(x4, k, s, _pair(padding), _pair(dilation), ceil_mode, -np.inf)
    i = np.argmax(vals, axis=-1)
    v = np.take_along_axis(vals, i[..., None], -1)[..., 0]
    idx = np.take_along_axis(np.broadcast_to(pos, vals.shape), i[..., None], -1)[..., 0]
    return (v, idx) if batched else (v[0], idx[0])


REFERENCES["max_pool2d"] = lambda *a, **k: _max_pool2d_with_indices(*a, **k)[0]


@ref("avg_pool2d")
def _avg_pool2d(x, kernel_size, stride=(), padding=0, ceil_mode=False, count_include_pad=True,
                divisor_override=None):
    x = F(x)
    batched = x.ndim == 4
    x4 = x if batched else x[None]
    k = _pair(kernel_size)
    s = _pair(stride) if (stride if isinstance(stride, (list, tuple)) else (stride,)) else k
    p = _pair(padding)
    N, C, H, W = x4.shape
    oh, ow = _out(H, k[0], s[0], p[0], 1, ceil_mode), _out(W, k[1], s[1], p[1], 1, ceil_mode)
    out = np.zeros((N, C, oh, ow))
    for a in range(oh):
        hs = a * s[0] - p[0]
        he = min(hs + k[0], H + p[0])
        for b in range(ow):
            ws = b * s[1] - p[1]
            we = min(ws + k[1], W + p[1])
            size = (he - hs) * (we - ws)
            h0, h1, w0, w1 = max(hs, 0), min(he, H), max(ws, 0), min(we, W)
            total = x4[:, :, h0:h1, w0:w1].sum(axis=(2, 3))
            div = divisor_override or (size if count_include_pad else (h1 - h0) * (w1 - w0))
            out[:, :, a, b] = total / div
    return out if batched else out[0]


@ref("adaptive_avg_pool2d")
def _adaptive_avg_pool2d(x, output_size):
    x = F(x)
    H, W = x.shape[-2:]
    oh, ow = _pair(output_size)
    out = np.zeros(x.shape[:-2] + (oh, ow))
    for a in range(oh):
        h0, h1 = (a * H) // oh, -(-((a + 1) * H) // oh)
        for b in range(ow):
            w0, w1 = (b * W) // ow, -(-((b + 1) * W) // ow)
            out[..., a, b] = x[..., h0:h1, w0:w1].mean(axis=(-2, -1))
    return out


@ref("layer_norm")
def _layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    x = F(x)
    axes = tuple(range(x.ndim - len(normalized_shape), x.ndim))
    m, v = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    out = (x - m) / np.sqrt(v + eps)
    return out * (1 if weight is None else F(weight)) + (0 if bias is None else F(bias))


def _channel_shape(x):
    return (-1,) + (1,) * (np.ndim(x) - 2)


@ref("group_norm")
def _group_norm(x, num_groups, weight=None, bias=None, eps=1e-5):
    x = F(x)
    g = x.reshape(x.shape[0], num_groups, -1)
    out = ((g - g.mean(-1, keepdims=True)) / np.sqrt(g.var(-1, keepdims=True) + eps)).reshape(x.shape)
    cs = _channel_shape(x)
    return out * (1 if weight is None else F(weight).reshape(cs)) + (0 if bias is None else F(bias).reshape(cs))


def _bn(x, m, v, weight, bias, eps):
    cs = _channel_shape(x)
    out = (F(x) - m.reshape(cs)) / np.sqrt(v.reshape(cs) + eps)
    return out * (1 if weight is None else F(weight).reshape(cs)) + (0 if bias is None else F(bias).reshape(cs))


def _batch_axes(x):
    return (0,) + tuple(range(2, np.ndim(x)))


@ref("batch_norm")
def _batch_norm(x, running_mean=None, running_var=None, weight=None, bias=None, training=False, momentum=0.1,
                eps=1e-5):
    if training:
        ax = _batch_axes(x)
        return _bn(x, F(x).mean(axis=ax), F(x).var(axis=ax), weight, bias, eps)
    return _bn(x, F(running_mean), F(running_var), weight, bias, eps)


def _gelu_grad(g, x, approximate="none"):
    g, x = F(g), F(x)
    if approximate == "tanh":
        k = math.sqrt(2 / math.pi)
        t = np.tanh(k * (x + 0.044715 * x ** 3))
        return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x))
    return g * (0.5 * (1 + _erf(x / math.sqrt(2))) + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi))


def _sig(x):
    return 1 / (1 + np.exp(-x))


def _lstm_gates(gates):
    i, f, g, o = np.split(F(gates), 4, axis=1)
    return _sig(i), _sig(f), np.tanh(g), _sig(o)


def _lstm_cell(gates, cx):
    i, f, g, o = _lstm_gates(gates)
    cy = f * F(cx) + i * g
    return o * np.tanh(cy), cy


def _lstm_cell_backward(grad_hy, grad_cy, gates, cx, cy):
    i, f, g, o = _lstm_gates(gates)
    gh, tc = F(grad_hy), np.tanh(F(cy))
    gc = F(grad_cy) + gh * o * (1 - tc * tc)
    d = np.concatenate([gc * g * i * (1 - i), gc * F(cx) * f * (1 - f), gc * i * (1 - g * g),
                        gh * tc * o * (1 - o)], axis=1)
    return d, gc * f


REFERENCES.update({"gelu_backward": _gelu_grad, "_lstm_cell": _lstm_cell,
                   "_lstm_cell_backward": _lstm_cell_backward})


@ref("batch_norm_train")
def _batch_norm_train(x, weight=None, bias=None, eps=1e-5):
    return _batch_norm(x, None, None, weight, bias, True, 0.0, eps)


@ref("batch_norm_train_backward")
def _batch_norm_train_backward(g, x, weight=None, eps=1e-5):
    g, x = F(g), F(x)
    ax = _batch_axes(x)
    cs = _channel_shape(x)
    n = x.size // x.shape[1]
    m, v = x.mean(axis=ax, keepdims=True), x.var(axis=ax, keepdims=True)
    rstd = 1 / np.sqrt(v + eps)
    xhat = (x - m) * rstd
    gb, gw = g.sum(axis=ax), (g * xhat).sum(axis=ax)
    w = 1 if weight is None else F(weight).reshape(cs)
    gi = w * rstd * (g - gb.reshape(cs) / n - xhat * gw.reshape(cs) / n)
    return gi, gw, gb


def _threshold_backward(g, x, threshold):
    g, x = N(g), N(x)
    return np.where(x <= threshold, np.zeros((), np.result_type(g, x)), g).astype(np.result_type(g, x))


REFERENCES["batch_norm_update_stats_"] = _no_values   # its samples are argument checks only (see opsamples)
REFERENCES.update({
    "embedding": lambda w, idx, padding_idx=None: np.asarray(w)[np.asarray(idx)],
    "relu": lambda x: np.maximum(N(x), 0),
    "threshold_backward": _threshold_backward,
    "gelu": lambda x, approximate="none": (0.5 * F(x) * (1 + np.tanh(math.sqrt(2 / math.pi) *
                                                                    (F(x) + 0.044715 * F(x) ** 3)))
                                           if approximate == "tanh" else 0.5 * F(x) * (1 + _erf(F(x) / math.sqrt(2)))),
    "silu": lambda x: F(x) / (1 + np.exp(-F(x))),
})


def _reduce(loss, reduction):
    return loss.mean() if reduction == "mean" else (loss.sum() if reduction == "sum" else loss)


REFERENCES.update({
    "mse_loss": lambda x, t, reduction="mean": _reduce((F(x) - F(t)) ** 2, reduction),
    "l1_loss": lambda x, t, reduction="mean": _reduce(np.abs(F(x) - F(t)), reduction),
    "binary_cross_entropy": lambda x, t, weight=None, reduction="mean": _reduce(
        -(F(t) * np.maximum(np.log(F(x)), -100) + (1 - F(t)) * np.maximum(np.log(1 - F(x)), -100))
        * (1 if weight is None else F(weight)), reduction),
    "binary_cross_entropy_with_logits": lambda x, t, weight=None, pos_weight=None, reduction="mean": _reduce(
        ((1 - F(t)) * F(x) + (1 + ((0 if pos_weight is None else F(pos_weight)) - (0 if pos_weight is None else 1))
                              * F(t)) * np.logaddexp(0, -F(x))) * (1 if weight is None else F(weight)), reduction),
})


def _log_softmax_axis(x, axis):
    x = F(x)
    return x - x.max(axis=axis, keepdims=True) - np.log(np.exp(x - x.max(axis=axis, keepdims=True)).sum(
        axis=axis, keepdims=True))


def _class_targets(x, target, weight, ignore_index):
    """Per-element (picked log-prob, target weight, keep mask) with the class dim moved last."""
    cd = 0 if np.ndim(x) == 1 else 1
    lp = np.moveaxis(x, cd, -1)
    t = np.asarray(target).astype(np.int64)
    keep = t != ignore_index
    safe = np.where(keep, t, 0)
    C = lp.shape[-1]
    w = np.ones(C) if weight is None else F(weight)
    return lp, safe, keep, w, C, cd


@ref("nll_loss")
def _nll_loss(x, target, weight=None, reduction="mean", ignore_index=-100):
    lp, safe, keep, w, C, _ = _class_targets(F(x), target, weight, ignore_index)
    picked = np.take_along_axis(lp, safe[..., None], -1)[..., 0]
    wt = w[safe] * keep
    loss = -picked * wt
    return loss.sum() / wt.sum() if reduction == "mean" else _reduce(loss, reduction)


@ref("cross_entropy")
def _cross_entropy(x, target, weight=None, reduction="mean", ignore_index=-100, label_smoothing=0.0):
    x = F(x)
    cd = 0 if x.ndim == 1 else 1
    logp = _log_softmax_axis(x, cd)
    C = x.shape[cd]
    w = np.ones(C) if weight is None else F(weight)
    if np.asarray(target).dtype.kind == "f":
        t = F(target) * (1 - label_smoothing) + label_smoothing / C
        loss = -(np.moveaxis(logp * t, cd, -1) * w).sum(-1)
        return loss.sum() / loss.size if reduction == "mean" else _reduce(loss, reduction)
    lp, safe, keep, w, C, _ = _class_targets(logp, target, weight, ignore_index)
    wt = w[safe] * keep
    nll = -np.take_along_axis(lp, safe[..., None], -1)[..., 0] * wt
    smooth = -(lp * w).sum(-1) * keep
    loss = nll * (1 - label_smoothing) + smooth * label_smoothing / C
    return loss.sum() / wt.sum() if reduction == "mean" else _reduce(loss, reduction)


@ref("cross_entropy_backward")
def _cross_entropy_backward(g, x, target, weight=None, reduction="mean", ignore_index=-100, label_smoothing=0.0):
    x = F(x)
    cd = 0 if x.ndim == 1 else 1
    C = x.shape[cd]
    p = np.moveaxis(np.exp(_log_softmax_axis(x, cd)), cd, -1)
    t = np.asarray(target).astype(np.int64)
    keep = t != ignore_index
    safe = np.where(keep, t, 0)
    w = np.ones(C) if weight is None else F(weight)
    onehot = np.eye(C)[safe]
    wy = w[safe]
    eps = label_smoothing
    grad = (1 - eps) * wy[..., None] * (p - onehot) + eps / C * (p * w.sum() - w)
    grad = grad * keep[..., None]
    if reduction == "mean":
        grad = grad * F(g) / (wy * keep).sum()
    elif reduction == "sum":
        grad = grad * F(g)
    else:
        grad = grad * F(g)[..., None]
    return np.moveaxis(grad, -1, cd)


@ref("scaled_dot_product_attention")
def _sdpa(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    q, k, v = F(q), F(k), F(v)
    L, S = q.shape[-2], k.shape[-2]
    sc = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    a = q @ np.swapaxes(k, -1, -2) * sc
    if is_causal:
        a = np.where(np.tril(np.ones((L, S), bool)), a, -np.inf)
    elif attn_mask is not None:
        m = np.asarray(attn_mask)
        a = np.where(m, a, -np.inf) if m.dtype == np.bool_ else a + F(m)
    a = np.exp(a - a.max(-1, keepdims=True))
    return (a / a.sum(-1, keepdims=True)) @ v


@ref("sgd_step_")
def _sgd_step(p, g, momentum_buffer=None, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
              first=False):
    d = F(g) + weight_decay * F(p)
    if momentum_buffer is not None:
        b = d if first else momentum * F(momentum_buffer) + (1 - dampening) * d
        d = d + momentum * b if nesterov else b
    return F(p) - lr * d


REFERENCES["adam_step_"] = _no_values  # its samples are argument checks only (see opsamples.adam_step_)
