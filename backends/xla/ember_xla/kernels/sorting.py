"""sort on lax.sort: always stable; NaN sorts as the largest value, as on cpu."""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

from ember import dtypes as D

from .._engine import read, run
from ..runtime import geom, val, wrap


def _sort_maker(key):
    _, g, dim, descending = key

    def fn(x):
        v = read(x, g)
        k = v
        if k.dtype == jnp.bool_:
            k = k.astype(jnp.uint8)
        elif k.dtype in (jnp.bfloat16, jnp.float16):
            k = k.astype(jnp.float32)
        n = v.shape[dim]
        iota = lax.broadcasted_iota(jnp.int64, v.shape, dim)
        if descending:
            # Sort the reversed data ascending, then reverse back: equal values keep their
            # order and NaN (last ascending) comes first.
            _, idx = lax.sort((jnp.flip(k, dim), iota), dimension=dim, is_stable=True, num_keys=1)
            idx = (n - 1) - jnp.flip(idx, dim)
        else:
            _, idx = lax.sort((k, iota), dimension=dim, is_stable=True, num_keys=1)
        return (jnp.take_along_axis(v, idx, axis=dim).reshape(-1), idx.reshape(-1))
    return fn


def sort(x, dim, descending, stable):
    dev = x._storage.dev
    r = run((_sort_maker, geom(x), dim, bool(descending)), (val(x),), dev)
    return wrap(r[0], x._shape, x._dtype, dev), wrap(r[1], x._shape, D.int64, dev)


KERNELS = {"sort": sort}
