"""fill_, copy_ and arange; zeros and view reads used by the runtime."""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

from ember import Tensor

from .._engine import creation, needs_read, read, run, write
from ..runtime import geom, set_val, val, wrap

_F64 = jnp.float64


def cast(v, npdt):
    """A cast as numpy (and PyTorch on x86) does it: floats to narrow or unsigned integers go
    through int64 and wrap, where XLA's direct conversion would saturate; complex to bool is
    ``!= 0``, complex to another real dtype keeps the real part."""
    if v.dtype == npdt:
        return v
    if jnp.issubdtype(v.dtype, jnp.complexfloating) and npdt.kind != "c":
        if npdt.kind == "b":
            return v != 0
        v = jnp.real(v)
    if npdt.kind in "iu" and npdt.itemsize < 8 and jnp.issubdtype(v.dtype, jnp.floating):
        v = v.astype(jnp.int64)
    return v.astype(npdt)


@creation
def _zeros(key):
    _, n, dt, dev = key
    npdt = dt.np

    def f():
        return (jnp.zeros((n,), npdt),)
    return f


def zeros_key(n, dt, dev):
    return (_zeros, n, dt, dev)


def _read(key):
    g = key[1]

    def f(x):
        return (read(x, g),)
    return f


def read_key(g):
    return (_read, g)


@creation
def _full(key):
    _, n, dt, dev = key
    npdt = dt.np

    def f(v):
        return (jnp.full((n,), v, npdt),)
    return f


def _fill_view(key):
    _, g, dt = key
    npdt = dt.np
    shape = g[1]

    def f(x, v):
        return (write(x, g, jnp.full(shape, v, npdt)),)
    return f


def fill_(x, value):
    g = geom(x)
    c = x._storage
    if needs_read(g):
        r = run((_fill_view, g, x._dtype), (val(x), value), c.dev)
    else:
        r = run((_full, c.n, x._dtype, c.dev), (value,), c.dev)
    set_val(c, r[0])
    return x


def _copy_whole(key):
    _, gs, dt = key
    npdt = dt.np

    def f(s):
        return (cast(read(s, gs), npdt).reshape(-1),)
    return f


def _copy_view(key):
    _, gd, gs, dt = key
    npdt = dt.np

    def f(d, s):
        return (write(d, gd, cast(read(s, gs), npdt)),)
    return f


def copy_(dst, src):
    gd = geom(dst)
    gs = geom(src)
    c = dst._storage
    if needs_read(gd):
        r = run((_copy_view, gd, gs, dst._dtype), (val(dst), val(src)), c.dev)
    elif gs == gd and src._dtype is dst._dtype and src._storage.n == c.n:
        set_val(c, val(src))   # arrays are immutable: the whole source can be shared
        return dst
    else:
        r = run((_copy_whole, gs, dst._dtype), (val(src),), c.dev)
    set_val(c, r[0])
    return dst


@creation
def _arange(key):
    _, n, dt, dev = key
    npdt = dt.np
    if dt.is_floating_point:
        def f(start, step):
            return ((lax.iota(_F64, n) * step + start).astype(npdt),)
    else:
        def f(start, step):
            return ((lax.iota(jnp.int64, n) * step + start).astype(npdt),)
    return f


def arange(start, step, n, dtype, device):
    if isinstance(start, Tensor):
        start = start.item()
    if isinstance(step, Tensor):
        step = step.item()
    if not dtype.is_floating_point:
        start, step = int(start), int(step)
    else:
        start, step = float(start), float(step)
    dev = device.index or 0
    return wrap(run((_arange, n, dtype, dev), (start, step), dev)[0], (n,), dtype, dev)


KERNELS = {"fill_": fill_, "copy_": copy_, "arange": arange}
