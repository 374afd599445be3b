"""The elementwise prims on mlx.core.

Core hands every kernel operands already promoted to one dtype and broadcast to the
output shape; Python scalars arrive as Python scalars. float16 and bfloat16 compute in
float32 and round once, as on cpu. C semantics that MLX lacks are built here from its
floor-rounding operators: truncating integer division and the exact C remainder
``fmod``. Integer division by zero raises, as on cpu (the check reads one flag back).

MLX's CPU kernels compute float64 ``exp``, ``sin`` and ``cos`` only to float32 accuracy
(its ``log``, ``sqrt``, ``atan2`` and arithmetic are full float64). Those three run in
float64 through numpy's libm instead: float64 exists only on MLX's CPU device, whose
arrays are host memory, so this is a host-side kernel, not a transfer to another device.
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from ember import Tensor as _T
from ember import dtypes as D

from ..runtime import MX, set_val, to_host, val, wrap

_HALF = (D.float16, D.bfloat16)
_F32 = mx.float32


def _trunc_divide(a, b):
    if mx.issubdtype(a.dtype, mx.floating):
        return mx.trunc(a / b)
    q = mx.floor_divide(a, b)
    fix = (a - q * b != 0) & ((a < 0) != (b < 0))
    return mx.where(fix, q + 1, q)


def _fmod(a, b):
    if mx.issubdtype(a.dtype, mx.floating):
        r = mx.remainder(mx.abs(a), mx.abs(b))   # exact; the floor/trunc sign fix never applies
        return mx.where(r == 0, a * 0, mx.where(a < 0, -r, r))   # a * 0 keeps the sign of a zero
    r = mx.remainder(a, b)   # floor remainder: the sign of b
    return mx.where((r != 0) & ((a < 0) != (b < 0)), r - b, r)


def _add(a, b):
    return mx.logical_or(a, b) if a.dtype == mx.bool_ else mx.add(a, b)


def _mul(a, b):
    return mx.logical_and(a, b) if a.dtype == mx.bool_ else mx.multiply(a, b)


UNARY = {"sqrt": mx.sqrt, "exp": mx.exp, "log": mx.log, "sin": mx.sin, "cos": mx.cos}
_LIBM64 = {"exp": np.exp, "sin": np.sin, "cos": np.cos}   # float64 at full accuracy (see above)
BINARY = {
    "add": _add, "mul": _mul, "true_divide": mx.divide, "trunc_divide": _trunc_divide, "fmod": _fmod,
    "atan2": mx.arctan2, "eq": mx.equal, "lt": mx.less, "bitwise_and": mx.bitwise_and,
    "bitwise_xor": mx.bitwise_xor,
}
_BOOL = {"eq", "lt"}


def _finish(r, out, dtype, shape):
    if out is not None:
        set_val(out, r)
        return out
    if r.dtype != MX[dtype]:
        r = r.astype(MX[dtype])
    return wrap(r, shape, dtype)


def _unary_kernel(name):
    f = UNARY[name]
    f64 = _LIBM64.get(name)

    def kernel(a, out):
        dt = a._dtype
        x = val(a)
        if dt in _HALF:
            x = x.astype(_F32)
        elif f64 is not None and dt is D.float64:
            return _finish(mx.array(f64(to_host(x)), mx.float64), out, dt, a._shape)
        return _finish(f(x), out, dt, a._shape)
    kernel.__name__ = name
    return kernel


def _binary_kernel(name):
    f = BINARY[name]
    boolres = name in _BOOL

    def kernel(a, b, out):
        t = a if a.__class__ is _T else b
        dt = t._dtype
        m = _F32 if dt in _HALF else MX[dt]
        x = val(a) if a.__class__ is _T else mx.array(a, m)
        y = val(b) if b.__class__ is _T else mx.array(b, m)
        if m is _F32 and dt in _HALF:
            x, y = x.astype(_F32), y.astype(_F32)
        r = f(x, y)
        if r.shape != t._shape:
            r = mx.broadcast_to(r, t._shape)
        return _finish(r, out, D.bool if boolres else dt, t._shape)
    kernel.__name__ = name
    return kernel


def where(cond, a, b, out):
    t = a if a.__class__ is _T else b
    dt = t._dtype
    m = MX[dt]
    x = val(a) if a.__class__ is _T else mx.array(a, m)
    y = val(b) if b.__class__ is _T else mx.array(b, m)
    r = mx.where(val(cond), x, y)
    if r.shape != cond._shape:
        r = mx.broadcast_to(r, cond._shape)
    return _finish(r, out, dt, cond._shape)


KERNELS = {"where": where}
for _n in UNARY:
    KERNELS[_n] = _unary_kernel(_n)
for _n in BINARY:
    KERNELS[_n] = _binary_kernel(_n)
