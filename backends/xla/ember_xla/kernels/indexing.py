"""Indexing kernels: gather, scatter, scatter_add, index_select, index_add, masked_fill, nonzero.

Bounds: each XLA call also returns the smallest and largest index; in eager mode the
kernel reads them and raises IndexError before the result is stored, so a bad index
never writes. In lazy mode no value is read back (that would be a sync point per
call): out-of-range indices there are clipped (reads) or dropped (writes), as XLA does.
nonzero has a data-dependent shape: it runs on the host copy of its input.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import lax

from ember import dtypes as D

from .. import _state as S
from .._engine import read, run, run_eager, write
from ..runtime import concrete, geom, set_val, val, wrap
from ember.errors import IndexOutOfRangeError

_I64 = D.int64
_HALF = (jnp.float16, jnp.bfloat16)


def _bounds(idx):
    if idx.size == 0:
        return jnp.zeros((2,), jnp.int64)
    return jnp.stack([jnp.min(idx), jnp.max(idx)]).astype(jnp.int64)


def _check(r, dim, n):
    if S.graphs is not None or S.jit_tracing:
        return
    lo, hi = (int(v) for v in np.asarray(r[-1]))
    if lo < 0 or hi >= n:
        bad = lo if lo < 0 else hi
        raise IndexOutOfRangeError(f"index {bad} is out of bounds for dimension {dim} with size {n}")


def _gather_maker(key):
    _, gx, gi, dim = key

    def fn(x, i):
        v, idx = read(x, gx), read(i, gi)
        n = v.shape[dim]
        v = v[tuple(slice(None) if k == dim else slice(0, m) for k, m in enumerate(idx.shape))]
        if n == 0:
            out = jnp.zeros(idx.shape, v.dtype)
        else:
            out = jnp.take_along_axis(v, jnp.clip(idx, 0, n - 1), axis=dim)
        return (out.reshape(-1), _bounds(idx))
    return fn


def gather(x, dim, index):
    dev = x._storage.dev
    r = run((_gather_maker, geom(x), geom(index), dim), (val(x), val(index)), dev)
    _check(r, dim, x._shape[dim])
    return wrap(r[0], index._shape, x._dtype, dev)


def _coords(idx, dim):
    return tuple(idx if k == dim else lax.broadcasted_iota(idx.dtype, idx.shape, k) for k in range(idx.ndim))


def _scatter_maker(key):
    _, how, gs, gi, gsrc, dim = key

    def fn(s, i, src):
        v, idx, sv = read(s, gs), read(i, gi), read(src, gsrc)
        sv = sv[tuple(slice(0, m) for m in idx.shape)]
        if how == "set":
            new = v.at[_coords(idx, dim)].set(sv, mode="drop")
        elif v.dtype == jnp.bool_:
            new = v.at[_coords(idx, dim)].max(sv, mode="drop")   # adding bools is or
        elif v.dtype in _HALF:   # accumulate in float32, round once
            new = v.astype(jnp.float32).at[_coords(idx, dim)].add(sv.astype(jnp.float32), mode="drop")
            new = new.astype(v.dtype)
        else:
            new = v.at[_coords(idx, dim)].add(sv, mode="drop")
        return (write(s, gs, new), _bounds(idx))
    return fn


def _scatter(how):
    def kernel(self, dim, index, src):
        c = self._storage
        r = run((_scatter_maker, how, geom(self), geom(index), geom(src), dim),
                (val(self), val(index), val(src)), c.dev)
        _check(r, dim, self._shape[dim])
        set_val(c, r[0])
        return self
    return kernel


def _index_select_maker(key):
    _, gx, gi, dim = key

    def fn(x, i):
        v, idx = read(x, gx), read(i, gi)
        n = v.shape[dim]
        if n == 0:
            shape = v.shape[:dim] + idx.shape + v.shape[dim + 1:]
            out = jnp.zeros(shape, v.dtype)
        else:
            out = jnp.take(v, jnp.clip(idx, 0, n - 1), axis=dim)
        return (out.reshape(-1), _bounds(idx))
    return fn


def index_select(x, dim, index):
    dev = x._storage.dev
    r = run((_index_select_maker, geom(x), geom(index), dim), (val(x), val(index)), dev)
    _check(r, dim, x._shape[dim])
    s = x._shape
    return wrap(r[0], s[:dim] + index._shape + s[dim + 1:], x._dtype, dev)


def _index_add_maker(key):
    _, gs, gi, gsrc, dim = key

    def fn(s, i, src):
        v, idx, sv = read(s, gs), read(i, gi), read(src, gsrc)
        where = (slice(None),) * dim + (idx,)
        if v.dtype == jnp.bool_:
            new = v.at[where].max(sv, mode="drop")
        elif v.dtype in _HALF:   # accumulate in float32, round once
            new = v.astype(jnp.float32).at[where].add(sv.astype(jnp.float32), mode="drop").astype(v.dtype)
        else:
            new = v.at[where].add(sv, mode="drop")
        return (write(s, gs, new), _bounds(idx))
    return fn


def index_add_(self, dim, index, source):
    c = self._storage
    r = run((_index_add_maker, geom(self), geom(index), geom(source), dim),
            (val(self), val(index), val(source)), c.dev)
    _check(r, dim, self._shape[dim])
    set_val(c, r[0])
    return self


def _masked_fill_maker(key):
    _, gx, gm = key

    def fn(x, m, value):
        v = read(x, gx)
        mask = jnp.broadcast_to(read(m, gm), v.shape)
        return (write(x, gx, jnp.where(mask, jnp.asarray(value, v.dtype), v)),)
    return fn


def masked_fill_(x, mask, value):
    c = x._storage
    r = run((_masked_fill_maker, geom(x), geom(mask)), (val(x), val(mask), value), c.dev)
    set_val(c, r[0])
    return x


def _count_maker(key):
    g = key[1]

    def fn(x):
        v = read(x, g)
        return (jnp.count_nonzero(v if v.dtype == jnp.bool_ else v != 0).astype(jnp.int64),)
    return fn


def _nonzero_maker(key):
    _, g, size = key

    def fn(x):
        v = read(x, g)
        coords = jnp.nonzero(v if v.dtype == jnp.bool_ else v != 0, size=size, fill_value=0)
        return (jnp.stack(coords, axis=1).astype(jnp.int64).reshape(-1),)
    return fn


def nonzero(x):
    """The count is read back first (the output shape depends on it); the coordinates are then
    computed on the device into a power-of-two bucket, so counts share compiled kernels, and the
    result is the first ``count`` rows of it."""
    c = x._storage
    g = geom(x)
    a = concrete(c)
    n = int(run_eager((_count_maker, g), (a,), c.dev)[0])
    nd = len(x._shape)
    if nd == 0 or n == 0:
        return wrap(_empty_i64(c.dev), (n, nd), _I64, c.dev)   # no elements
    size = 1 << (n - 1).bit_length()
    out = wrap(run_eager((_nonzero_maker, g, size), (a,), c.dev)[0], (size, nd), _I64, c.dev)
    return out if size == n else out._view((n, nd), (nd, 1), 0)


def _empty_i64(dev):
    from .creation import zeros_key
    return run_eager(zeros_key(0, _I64, dev), (), dev)[0]


KERNELS = {
    "gather": gather, "scatter_": _scatter("set"), "scatter_add_": _scatter("add"),
    "index_select": index_select, "index_add_": index_add_, "masked_fill_": masked_fill_,
    "nonzero": nonzero,
}
