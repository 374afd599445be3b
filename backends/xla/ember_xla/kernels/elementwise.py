"""Elementwise kernels on jax.numpy / lax.

Core hands every kernel operands already promoted to one computation dtype and
broadcast to the output shape (broadcast views read as XLA broadcasts); Python
scalars arrive as Python scalars and are passed to the jitted function as
arguments, so a new scalar value never retraces. Integer division by zero and
integers raised to negative powers raise as on cpu (eager mode only: the check
reads a flag computed in the same XLA call).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from ember import Tensor as _T
from ember import dtypes as D

from .. import _state as S
from .._engine import needs_read, read, run, write
from ..runtime import geom, set_val, val, wrap
from ember.errors import DivisionByZeroError, InvalidArgumentError


def _frac(x):
    return x - jnp.trunc(x)


def _sign(x):
    return x if x.dtype == jnp.bool_ else jnp.sign(x)


def _signbit(x):
    if x.dtype == jnp.bool_:
        return jnp.zeros(x.shape, jnp.bool_)
    if jnp.issubdtype(x.dtype, jnp.unsignedinteger):
        return jnp.zeros(x.shape, jnp.bool_)
    return jnp.signbit(x)


def _pred(f, for_integers):
    def g(x):
        if not jnp.issubdtype(x.dtype, jnp.floating):
            return jnp.full(x.shape, for_integers, jnp.bool_)
        return f(x)
    return g


UNARY = {
    "neg": jnp.negative, "abs": jnp.abs, "sign": _sign, "square": lambda x: x * x,
    "exp": jnp.exp, "exp2": jnp.exp2, "expm1": jnp.expm1, "log": jnp.log, "log2": jnp.log2,
    "log10": jnp.log10, "log1p": jnp.log1p, "sqrt": jnp.sqrt, "rsqrt": lax.rsqrt, "sin": jnp.sin,
    "cos": jnp.cos, "tan": jnp.tan, "asin": jnp.arcsin, "acos": jnp.arccos, "atan": jnp.arctan,
    "sinh": jnp.sinh, "cosh": jnp.cosh, "tanh": jnp.tanh, "asinh": jnp.arcsinh, "acosh": jnp.arccosh,
    "atanh": jnp.arctanh, "sigmoid": jax.nn.sigmoid, "erf": lax.erf, "erfc": lax.erfc,
    "erfinv": lax.erf_inv, "reciprocal": jnp.reciprocal, "floor": jnp.floor, "ceil": jnp.ceil,
    "round": jnp.round, "trunc": jnp.trunc, "frac": _frac, "logical_not": jnp.logical_not,
    "bitwise_not": jnp.invert, "isnan": _pred(jnp.isnan, False), "isinf": _pred(jnp.isinf, False),
    "isfinite": _pred(jnp.isfinite, True), "signbit": _signbit,
}
_BOOL_UNARY = {"isnan", "isinf", "isfinite", "signbit", "logical_not"}


def _floor_divide(a, b):
    # numpy's divmod algorithm for floats (inf // 3 is nan, 1.0 // 0.1 is 9), as PyTorch.
    return jnp.floor_divide(a, b)


def _trunc_divide(a, b):
    if jnp.issubdtype(a.dtype, jnp.floating):
        return jnp.trunc(a / b)
    a, b = jnp.broadcast_arrays(a, b)
    return lax.div(a, b)   # rounds toward zero


def _fmod(a, b):
    if jnp.issubdtype(a.dtype, jnp.floating):
        return jnp.fmod(a, b)
    a, b = jnp.broadcast_arrays(a, b)
    return lax.rem(a, b)


def _pow(a, b):
    if a.dtype == jnp.bool_:
        return jnp.logical_or(a, jnp.logical_not(b))
    return jnp.power(a, b)


def _shift_left(a, b):
    a, b = jnp.broadcast_arrays(a, b)
    return lax.shift_left(a, b)


def _shift_right(a, b):
    a, b = jnp.broadcast_arrays(a, b)
    if jnp.issubdtype(a.dtype, jnp.signedinteger):
        bits = jnp.iinfo(a.dtype).bits
        return lax.shift_right_arithmetic(a, jnp.minimum(b, bits - 1).astype(a.dtype))
    return lax.shift_right_logical(a, b)


def _logaddexp(a, b):
    return jnp.logaddexp(a, b)


BINARY = {
    "add": jnp.add, "sub": jnp.subtract, "mul": jnp.multiply, "true_divide": jnp.true_divide,
    "floor_divide": _floor_divide, "trunc_divide": _trunc_divide, "remainder": jnp.remainder,
    "fmod": _fmod, "pow": _pow, "maximum": jnp.maximum, "minimum": jnp.minimum,
    "atan2": jnp.arctan2, "hypot": jnp.hypot, "logaddexp": _logaddexp, "copysign": jnp.copysign,
    "eq": jnp.equal, "ne": jnp.not_equal, "lt": jnp.less, "le": jnp.less_equal, "gt": jnp.greater,
    "ge": jnp.greater_equal, "logical_and": jnp.logical_and, "logical_or": jnp.logical_or,
    "logical_xor": jnp.logical_xor, "bitwise_and": jnp.bitwise_and, "bitwise_or": jnp.bitwise_or,
    "bitwise_xor": jnp.bitwise_xor, "bitwise_left_shift": _shift_left,
    "bitwise_right_shift": _shift_right,
}
_BOOL_BINARY = {"eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor"}
_INT_DIVISION = {"floor_divide", "trunc_divide", "remainder", "fmod"}


def _operand(v, g, npdt):
    """Read a tensor operand (geometry g) or convert a Python scalar (g is its type)."""
    if g.__class__ is type:
        return jnp.asarray(v, npdt)
    return read(v, g)


def _finish(r, npdt):
    return r if r.dtype == npdt else r.astype(npdt)


# -- unary -----------------------------------------------------------------------------

def _unary_maker(key):
    _, name, ga, go, odt = key
    f = UNARY[name]
    npdt = odt.np
    if go is None:
        def fn(a):
            return (_finish(f(read(a, ga)), npdt).reshape(-1),)
    elif needs_read(go):
        def fn(a, o):
            return (write(o, go, _finish(f(read(a, ga)), npdt)),)
    else:
        def fn(a):
            return (_finish(f(read(a, ga)), npdt).reshape(-1),)
    return fn


def _unary_kernel(name):
    boolres = name in _BOOL_UNARY

    def kernel(a, out):
        dev = a._storage.dev
        ga = a._h
        if ga is None:
            ga = geom(a)
        if out is None:
            odt = D.bool if boolres else a._dtype
            r = run((_unary_maker, name, ga, None, odt), (val(a),), dev)
            return wrap(r[0], a._shape, odt, dev)
        go = out._h
        if go is None:
            go = geom(out)
        args = (val(a), val(out)) if needs_read(go) else (val(a),)
        r = run((_unary_maker, name, ga, go, out._dtype), args, dev)
        set_val(out._storage, r[0])
        return out
    kernel.__name__ = name
    return kernel


# -- binary ----------------------------------------------------------------------------

def _binary_maker(key):
    _, name, ga, gb, go, ct, odt = key
    f = BINARY[name]
    cdt, npdt = ct.np, odt.np
    check = None
    if name in _INT_DIVISION and ct.category == 1:
        def check(x, y):
            return jnp.any(y == 0)
    elif name == "pow" and ct.category == 1:
        def check(x, y):
            return jnp.any(y < 0)

    def compute(a, b):
        x, y = _operand(a, ga, cdt), _operand(b, gb, cdt)
        r = _finish(f(x, y), npdt)
        return r, (check(x, y) if check is not None else None)

    if go is not None and needs_read(go):
        def fn(a, b, o):
            r, flag = compute(a, b)
            return (write(o, go, r),) if flag is None else (write(o, go, r), flag)
    else:
        def fn(a, b):
            r, flag = compute(a, b)
            return (r.reshape(-1),) if flag is None else (r.reshape(-1), flag)
    return fn


def _check_flag(name, r, ct):
    if S.graphs is None and not S.jit_tracing and bool(r[1]):
        if name == "pow":
            raise InvalidArgumentError("Integers to negative integer powers are not allowed.")
        raise DivisionByZeroError("integer division by zero")


def _binary_kernel(name):
    boolres = name in _BOOL_BINARY
    checked = name in _INT_DIVISION or name == "pow"

    def kernel(a, b, out):
        if a.__class__ is _T:
            ga = a._h
            if ga is None:
                ga = geom(a)
            va = a._storage.a
            if va.__class__ is not _Arr:
                va = val(a)
            t = a
        else:
            ga, va = a.__class__, a
            t = b
        if b.__class__ is _T:
            gb = b._h
            if gb is None:
                gb = geom(b)
            vb = b._storage.a
            if vb.__class__ is not _Arr:
                vb = val(b)
        else:
            gb, vb = b.__class__, b
        ct = t._dtype
        dev = t._storage.dev
        if out is None:
            odt = D.bool if boolres else ct
            r = run((_binary_maker, name, ga, gb, None, ct, odt), (va, vb), dev)
            if checked and ct.category == 1:
                _check_flag(name, r, ct)
            return wrap(r[0], t._shape, odt, dev)
        go = out._h
        if go is None:
            go = geom(out)
        args = (va, vb, val(out)) if needs_read(go) else (va, vb)
        r = run((_binary_maker, name, ga, gb, go, ct, out._dtype), args, dev)
        if checked and ct.category == 1:
            _check_flag(name, r, ct)
        set_val(out._storage, r[0])
        return out
    kernel.__name__ = name
    return kernel


# -- where -----------------------------------------------------------------------------

def _where_maker(key):
    _, gc, ga, gb, go, dt = key
    npdt = dt.np

    def compute(c, a, b):
        return jnp.where(read(c, gc), _operand(a, ga, npdt), _operand(b, gb, npdt))

    if go is not None and needs_read(go):
        def fn(c, a, b, o):
            return (write(o, go, compute(c, a, b)),)
    else:
        def fn(c, a, b):
            return (compute(c, a, b).reshape(-1),)
    return fn


def _g(x):
    return (geom(x), val(x)) if x.__class__ is _T else (x.__class__, x)


def where(cond, a, b, out):
    t = a if a.__class__ is _T else b
    dt = t._dtype
    dev = cond._storage.dev
    (gc, vc), (ga, va), (gb, vb) = _g(cond), _g(a), _g(b)
    if out is None:
        r = run((_where_maker, gc, ga, gb, None, dt), (vc, va, vb), dev)
        return wrap(r[0], cond._shape, dt, dev)
    go = geom(out)
    args = (vc, va, vb, val(out)) if needs_read(go) else (vc, va, vb)
    r = run((_where_maker, gc, ga, gb, go, out._dtype), args, dev)
    set_val(out._storage, r[0])
    return out


from ..runtime import _ArrayImpl as _Arr  # noqa: E402
from ember.dispatch import registry  # noqa: E402

KERNELS = {"where": where}
for _n in UNARY:
    KERNELS[_n] = _unary_kernel(_n)
    KERNELS[_n + "_"] = KERNELS[_n]
for _n in BINARY:
    KERNELS[_n] = _binary_kernel(_n)
    KERNELS[_n + "_"] = KERNELS[_n]
KERNELS = {k: v for k, v in KERNELS.items() if k in registry}
