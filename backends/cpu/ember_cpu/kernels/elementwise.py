"""Elementwise kernels on numpy ufuncs.

Core hands every kernel operands of one computation dtype, broadcast to the
output shape; a kernel computes, writing into ``out`` when it is given.
numpy lacks some functions for bfloat16 (and erf altogether): those run in
float32 and round once, as PyTorch's cpu kernels do.
"""

from __future__ import annotations

import warnings

import numpy as np

from ember import dtypes as D

from .. import _native
from ..runtime import arr, is_bfloat16, wrap
from ember.errors import DivisionByZeroError

_F32 = np.dtype(np.float32)


def _rsqrt(x):
    return np.reciprocal(np.sqrt(x))


def _sigmoid(x):
    # 1 / (1 + exp(-x)), as PyTorch computes it: exact on both tails (where exp(-x) overflows to inf the
    # result is its limit 0), four passes with no temporaries.
    e = np.empty_like(x)   # an array even for 0-d x (numpy's ufuncs return scalars for 0-d input)
    np.negative(x, out=e)
    np.exp(e, out=e)
    np.add(e, 1, out=e)
    return np.reciprocal(e, out=e)


def _erf(x):
    if x.dtype == _F32 or x.dtype == np.float16:
        return _native.erf_f32(x).astype(x.dtype, copy=False)
    return _native.erf(np.asarray(x, dtype=np.float64, order="C")).reshape(x.shape).astype(x.dtype, copy=False)


def _erfc(x):
    return _native.erfc(np.asarray(x, dtype=np.float64, order="C")).reshape(x.shape).astype(x.dtype, copy=False)


def _erfinv(x):
    return _native.erfinv(np.asarray(x, dtype=np.float64, order="C")).reshape(x.shape).astype(x.dtype, copy=False)


def _frac(x):
    return x - np.trunc(x)


def _round(x):
    return np.round(x)  # half to even, as torch.round


def _sign(x):
    return np.sign(x) if x.dtype != np.bool_ else x.copy()


def _abs(x):
    return np.abs(x) if x.dtype != np.bool_ else x.copy()


def _neg(x):
    return np.negative(x)


UNARY = {
    "neg": _neg, "abs": _abs, "sign": _sign, "square": np.square,
    "exp": np.exp, "exp2": np.exp2, "expm1": np.expm1, "log": np.log, "log2": np.log2,
    "log10": np.log10, "log1p": np.log1p, "sqrt": np.sqrt, "rsqrt": _rsqrt, "sin": np.sin,
    "cos": np.cos, "tan": np.tan, "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan,
    "sinh": np.sinh, "cosh": np.cosh, "tanh": np.tanh, "asinh": np.arcsinh, "acosh": np.arccosh,
    "atanh": np.arctanh, "sigmoid": _sigmoid, "erf": _erf, "erfc": _erfc, "erfinv": _erfinv,
    "reciprocal": np.reciprocal, "floor": np.floor, "ceil": np.ceil, "round": _round, "trunc": np.trunc,
    "frac": _frac, "logical_not": np.logical_not, "bitwise_not": np.invert,
    "isnan": np.isnan, "isinf": np.isinf, "isfinite": np.isfinite, "signbit": np.signbit,
}


def _floor_divide(a, b):
    if isinstance(a, np.ndarray) and a.dtype.kind == "f" or isinstance(b, float):
        # numpy's floor_divide is divmod's quotient, as PyTorch: 1.0 // 0.1 is 9, inf // 3 is nan.
        return np.floor_divide(a, b)
    return _int_divide(np.floor_divide, a, b)


def _int_divide(f, a, b):
    if np.any(np.asarray(b) == 0):
        raise DivisionByZeroError("integer division by zero")
    return f(a, b)


def _trunc_divide(a, b):
    if (isinstance(a, np.ndarray) and a.dtype.kind == "f") or isinstance(b, float) or isinstance(a, float):
        return np.trunc(np.true_divide(a, b))
    q = _int_divide(np.floor_divide, a, b)
    fix = (np.remainder(a, b) != 0) & ((np.asarray(a) < 0) != (np.asarray(b) < 0))
    return q + fix.astype(q.dtype)


def _remainder(a, b):
    if isinstance(a, np.ndarray) and a.dtype.kind in "iu" or isinstance(a, int) and isinstance(b, np.ndarray) and b.dtype.kind in "iu":
        return _int_divide(np.remainder, a, b)
    return np.remainder(a, b)


def _fmod(a, b):
    if isinstance(a, np.ndarray) and a.dtype.kind in "iu" or isinstance(a, int) and isinstance(b, np.ndarray) and b.dtype.kind in "iu":
        return _int_divide(np.fmod, a, b)
    return np.fmod(a, b)


def _pow(a, b):
    return np.power(a, b)


BINARY = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "true_divide": np.true_divide,
    "floor_divide": _floor_divide, "trunc_divide": _trunc_divide, "remainder": _remainder,
    "fmod": _fmod, "pow": _pow, "maximum": np.maximum, "minimum": np.minimum,
    "atan2": np.arctan2, "hypot": np.hypot, "logaddexp": np.logaddexp, "copysign": np.copysign,
    "eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal, "gt": np.greater,
    "ge": np.greater_equal, "logical_and": np.logical_and, "logical_or": np.logical_or,
    "logical_xor": np.logical_xor, "bitwise_and": np.bitwise_and, "bitwise_or": np.bitwise_or,
    "bitwise_xor": np.bitwise_xor, "bitwise_left_shift": np.left_shift,
    "bitwise_right_shift": np.right_shift,
}

# numpy warns where PyTorch stays silent (1/0, log(-1), overflow to inf).
# np.errstate would cost more than the operation on small tensors, so the
# warnings are filtered for the calls made from this module only.
warnings.filterwarnings("ignore", category=RuntimeWarning, module=__name__)


def _value(x):
    return arr(x) if hasattr(x, "_storage") else x


def _unary_kernel(name, f):
    def kernel(a, out):
        x = arr(a)
        if is_bfloat16(x.dtype):
            x = x.astype(_F32)
        r = f(x)
        if out is not None:
            np.copyto(arr(out), r, casting="unsafe")
            return out
        if r.dtype != a._dtype.np and r.dtype != np.bool_:
            r = r.astype(a._dtype.np)
        return wrap(np.asarray(r))
    kernel.__name__ = name
    return kernel


def _binary_kernel(name, f):
    ufunc = isinstance(f, np.ufunc)

    def kernel(a, b, out):
        # Operands are tensors or Python scalars; tensors' numpy views are cached in ``_h``.
        if a.__class__ is _T:
            x = a._h
            if x is None:
                x = arr(a)
            dt = x.dtype
        else:
            x = a
        if b.__class__ is _T:
            y = b._h
            if y is None:
                y = arr(b)
            dt = y.dtype
        else:
            y = b
        if is_bfloat16(dt):
            return _via_f32(f, x, y, out)
        if out is not None:
            if ufunc:
                f(x, y, out=arr(out))
            else:
                np.copyto(arr(out), f(x, y), casting="unsafe")
            return out
        r = f(x, y)
        if r.__class__ is not np.ndarray:
            r = np.asarray(r)
        if r.dtype != dt and r.dtype != np.bool_:
            r = r.astype(dt)
        return wrap(r)
    kernel.__name__ = name
    return kernel


def _via_f32(f, x, y, out):
    x = x.astype(_F32) if isinstance(x, np.ndarray) else x
    y = y.astype(_F32) if isinstance(y, np.ndarray) else y
    r = np.asarray(f(x, y))
    if out is not None:
        np.copyto(arr(out), r, casting="unsafe")
        return out
    return wrap(r if r.dtype == np.bool_ else r.astype(D.bfloat16.np))


def where(cond, a, b, out):
    r = np.where(arr(cond), _value(a), _value(b))
    dt = a._dtype.np if hasattr(a, "_dtype") else b._dtype.np if hasattr(b, "_dtype") else r.dtype
    if out is not None:
        np.copyto(arr(out), r, casting="unsafe")
        return out
    return wrap(r.astype(dt, copy=False))


from ember import Tensor as _T  # noqa: E402
from ember.dispatch import registry  # noqa: E402

KERNELS = {"where": where}
for _n, _f in UNARY.items():
    KERNELS[_n] = _unary_kernel(_n, _f)
    KERNELS[_n + "_"] = KERNELS[_n]
for _n, _f in BINARY.items():
    KERNELS[_n] = _binary_kernel(_n, _f)
    KERNELS[_n + "_"] = KERNELS[_n]
KERNELS = {k: v for k, v in KERNELS.items() if k in registry}  # in-place forms exist only where defined

# Array kernels (register(array_kernels=...)): for these dtypes the kernel above is the ufunc on the operands'
# arrays, so the dispatcher's native fast path may call the ufunc itself; for add, sub, mul and true_divide it
# calls ember_cpu._native's drop-ins, which compute small float arrays themselves (the same bits as the ufunc)
# and hand everything else to it, and for relu the drop-in for numpy's maximum(x, 0), core's decomposition.
_FAST_DTYPES = (D.float32, D.float64, D.int32, D.int64)
_NATIVE_BINARY = {"add": _native.add, "sub": _native.sub, "mul": _native.mul,
                  "true_divide": _native.true_divide}
ARRAY_KERNELS = {n + inplace: (_NATIVE_BINARY.get(n, BINARY[n]), _FAST_DTYPES)
                 for n in ("add", "sub", "mul", "true_divide", "maximum", "minimum")
                 for inplace in ("", "_") if isinstance(BINARY.get(n), np.ufunc)}
ARRAY_KERNELS.update({n: (f, (D.float32, D.float64)) for n, f in UNARY.items() if isinstance(f, np.ufunc)})
ARRAY_KERNELS["relu"] = (_native.relu, (D.float32, D.float64))
