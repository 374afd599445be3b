"""flip (a prim) and single-call forms of cat, stack, tril and triu."""

from __future__ import annotations

import jax.numpy as jnp

from .._engine import read, run
from ..runtime import geom, val, wrap


def _flip_maker(key):
    _, g, dims = key

    def fn(x):
        return (jnp.flip(read(x, g), dims).reshape(-1),)
    return fn


def flip(x, dims):
    dev = x._storage.dev
    r = run((_flip_maker, geom(x), tuple(dims)), (val(x),), dev)
    return wrap(r[0], x._shape, x._dtype, dev)


def _join_maker(key):
    _, name, gs, dim, dt = key
    f = jnp.concatenate if name == "cat" else jnp.stack
    npdt = dt.np

    def fn(*xs):
        parts = [read(x, g) for x, g in zip(xs, gs)]
        return (f([p if p.dtype == npdt else p.astype(npdt) for p in parts], axis=dim).reshape(-1),)
    return fn


def cat(tensors, dim, dtype):
    dev = tensors[0]._storage.dev
    gs = tuple(geom(t) for t in tensors)
    r = run((_join_maker, "cat", gs, dim, dtype), tuple(val(t) for t in tensors), dev)
    ref = tensors[0]._shape
    shape = ref[:dim] + (sum(t._shape[dim] for t in tensors),) + ref[dim + 1:]
    return wrap(r[0], shape, dtype, dev)


def stack(tensors, dim, dtype):
    dev = tensors[0]._storage.dev
    gs = tuple(geom(t) for t in tensors)
    r = run((_join_maker, "stack", gs, dim, dtype), tuple(val(t) for t in tensors), dev)
    ref = tensors[0]._shape
    return wrap(r[0], ref[:dim] + (len(tensors),) + ref[dim:], dtype, dev)


def _tri_maker(key):
    _, name, g, k = key
    f = jnp.tril if name == "tril" else jnp.triu

    def fn(x):
        return (f(read(x, g), k).reshape(-1),)
    return fn


def _tri(name):
    def kernel(x, diagonal):
        dev = x._storage.dev
        r = run((_tri_maker, name, geom(x), int(diagonal)), (val(x),), dev)
        return wrap(r[0], x._shape, x._dtype, dev)
    return kernel


KERNELS = {"flip": flip, "cat": cat, "stack": stack, "tril": _tri("tril"), "triu": _tri("triu")}
