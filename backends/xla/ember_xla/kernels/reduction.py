"""Reductions and scans on jax.numpy.

Core hands every kernel sorted non-negative dims and the result dtype. float16
and bfloat16 accumulate in float32 and round once, as on cpu.
"""

from __future__ import annotations

import jax.numpy as jnp

from ember import dtypes as D

from .._engine import read, run
from ..runtime import geom, val, wrap

_HALF = (D.float16, D.bfloat16)
_F32 = jnp.float32


def _reduced(shape, dims, keepdim):
    if keepdim:
        return tuple(1 if i in dims else n for i, n in enumerate(shape))
    return tuple(n for i, n in enumerate(shape) if i not in dims)


def _acc_maker(key):
    _, name, g, dims, keepdim, dt = key
    f = jnp.sum if name == "sum" else jnp.prod
    npdt = dt.np
    half = dt in _HALF

    def fn(x):
        v = read(x, g)
        if v.dtype != npdt:
            v = v.astype(npdt)   # convert first, as a cast would
        r = f(v, axis=dims, keepdims=keepdim, dtype=_F32 if half else npdt)
        return (r.astype(npdt).reshape(-1),)
    return fn


def _accumulate(name):
    def kernel(x, dims, keepdim, dtype):
        dev = x._storage.dev
        r = run((_acc_maker, name, geom(x), dims, bool(keepdim), dtype), (val(x),), dev)
        return wrap(r[0], _reduced(x._shape, dims, keepdim), dtype, dev)
    return kernel


def _simple_maker(key):
    _, name, g, dims, keepdim = key

    def fn(x):
        v = read(x, g)
        if name == "amax":
            r = jnp.max(v, axis=dims, keepdims=keepdim)
        elif name == "amin":
            r = jnp.min(v, axis=dims, keepdims=keepdim)
        else:
            b = v if v.dtype == jnp.bool_ else v != 0   # NaN != 0: NaN counts as true
            r = (jnp.all if name == "all" else jnp.any)(b, axis=dims, keepdims=keepdim)
        return (r.reshape(-1),)
    return fn


def _simple(name):
    def kernel(x, dims, keepdim):
        dev = x._storage.dev
        r = run((_simple_maker, name, geom(x), dims, bool(keepdim)), (val(x),), dev)
        dt = x._dtype if name in ("amax", "amin") else D.bool
        return wrap(r[0], _reduced(x._shape, dims, keepdim), dt, dev)
    return kernel


def _arg_maker(key):
    _, name, g, dim, keepdim = key
    f = jnp.argmax if name == "argmax" else jnp.argmin

    def fn(x):
        v = read(x, g)
        if dim is None:
            r = f(v.reshape(-1))
        else:
            r = f(v, axis=dim, keepdims=keepdim)
        return (r.astype(jnp.int64).reshape(-1),)
    return fn


def _arg(name):
    def kernel(x, dim, keepdim):
        dev = x._storage.dev
        r = run((_arg_maker, name, geom(x), dim, bool(keepdim)), (val(x),), dev)
        if dim is None:
            shape = (1,) * len(x._shape) if keepdim else ()
        else:
            shape = _reduced(x._shape, (dim,), keepdim)
        return wrap(r[0], shape, D.int64, dev)
    return kernel


def _scan_maker(key):
    _, name, g, dim, dt = key
    f = jnp.cumsum if name == "cumsum" else jnp.cumprod
    npdt = dt.np
    half = dt in _HALF

    def fn(x):
        v = read(x, g)
        if v.dtype != npdt:
            v = v.astype(npdt)
        r = f(v, axis=dim, dtype=_F32 if half else npdt)
        return (r.astype(npdt).reshape(-1),)
    return fn


def _scan(name):
    def kernel(x, dim, dtype):
        dev = x._storage.dev
        r = run((_scan_maker, name, geom(x), dim, dtype), (val(x),), dev)
        return wrap(r[0], x._shape, dtype, dev)
    return kernel


KERNELS = {
    "sum": _accumulate("sum"), "prod": _accumulate("prod"),
    "amax": _simple("amax"), "amin": _simple("amin"), "all": _simple("all"), "any": _simple("any"),
    "argmax": _arg("argmax"), "argmin": _arg("argmin"),
    "cumsum": _scan("cumsum"), "cumprod": _scan("cumprod"),
}
