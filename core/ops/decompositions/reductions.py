"""Reductions, scans, fill, flip, nonzero and sort, decomposed onto the required prims.

Each function has its operator's kernel signature (``ember.dispatch.get(name).doc``) and runs
behind the operator's adapter, so dims arrive normalized and the trivial cases (empty or
one-element sorts, 0-d scans, flips of size-1 dims) never reach it.
"""

from __future__ import annotations

import math

import numpy as np

from ... import dtypes as D
from .. import creation as C
from .. import elementwise as E
from .. import indexing as I
from .. import reduction as R
from .. import shape as S
from ..prims import kernel_decomposition

_HALF = (D.float16, D.bfloat16)


def _acc(dtype):
    """The accumulation dtype of a product or scan: float16 and bfloat16 accumulate in float32."""
    return D.float32 if dtype in _HALF else dtype


def _pow2(n):
    """The smallest power of two >= max(n, 1)."""
    return 1 << max(n - 1, 0).bit_length()


def _not(b):
    """Logical not of a bool tensor (bitwise_xor with True)."""
    return E.bitwise_xor(b, True)


def _isnan(x):
    """NaN is the one value unequal to itself."""
    return E.eq(E.eq(x, x), False)


# -- fill --------------------------------------------------------------------------

@kernel_decomposition("fill_")
def _fill(x, value):
    """copy_ from a 0-d tensor uploaded once (runtime.from_numpy), broadcast to x's shape."""
    with np.errstate(over="ignore"):
        host = np.array(value, dtype=x._dtype.np)
    v = x._backend.runtime.from_numpy(host, x._device)
    return x.copy_(v.expand(x._shape))


# -- reductions over dims -----------------------------------------------------------

@kernel_decomposition("prod")
def _prod(x, dims, keepdim, dtype):
    """A product tree: mul of the two halves of the reduced extent, log2(n) times, after padding it
    with ones to a power of two (so an empty reduction is 1)."""
    if not dims:  # a 0-d x: the value itself, cast, in a new tensor
        return C.clone(x) if x._dtype is dtype else x.to(dtype)
    acc = _acc(dtype)
    y = x.to(dtype).to(acc)
    kept = [d for d in range(x.ndim) if d not in dims]
    kshape = tuple(x._shape[d] for d in kept)
    n = math.prod(x._shape[d] for d in dims)
    y = y.permute(*kept, *dims).reshape(*kshape, n)
    p = _pow2(n)
    if p > n:
        y = S.cat([y, C.full(kshape + (p - n,), 1, dtype=acc, device=x._device)], -1)
    while p > 1:
        p //= 2
        y = E.mul(y.narrow(-1, 0, p), y.narrow(-1, p, p))
    out = tuple(1 if d in dims else s for d, s in enumerate(x._shape)) if keepdim else kshape
    return y.reshape(out).to(dtype)


def _order_flip(x):
    """An order-reversing bijection: -x for floats, ~x for integers, not x for bool (each its own inverse)."""
    if x._dtype.is_floating_point:
        return E.mul(x, -1)
    return E.bitwise_xor(x, True if x._dtype is D.bool else -1)


@kernel_decomposition("amin")
def _amin(x, dims, keepdim):
    """min(x) = f(max(f(x))) for the order-reversing f of _order_flip; NaN propagates through amax."""
    return _order_flip(R.amax(_order_flip(x), dims, keepdim))


def _zero_count(x, dims, keepdim):
    return R.sum(E.eq(x, 0), dims, keepdim, dtype=D.int64)


@kernel_decomposition("all")
def _all(x, dims, keepdim):
    """No element along dims equals 0 (NaN does not): sum(eq(x, 0)) == 0; empty gives True."""
    if not dims:
        return _not(E.eq(x, 0))
    return E.eq(_zero_count(x, dims, keepdim), 0)


@kernel_decomposition("any")
def _any(x, dims, keepdim):
    """Fewer zeros than elements along dims: sum(eq(x, 0)) < n; empty gives False."""
    if not dims:
        return _not(E.eq(x, 0))
    n = math.prod(x._shape[d] for d in dims)
    return E.lt(_zero_count(x, dims, keepdim), n)


def _arg(x, dim, keepdim, extreme):
    """The first index where x equals its extreme (or is NaN): -max(where(hit, -i, -n)) along dim."""
    y, d = (x.reshape(-1), 0) if dim is None else (x, dim)
    n = y._shape[d]
    hit = E.eq(y, extreme(y, d, True))
    if y._dtype.is_floating_point:  # eq(eq(y, y), hit) adds the NaNs: there, and only there, both are False
        hit = E.eq(E.eq(y, y), hit)
    minus_i = C.arange(0, -n, -1, dtype=D.int64, device=x._device).reshape((n,) + (1,) * (y.ndim - d - 1))
    r = E.mul(R.amax(E.where(hit, minus_i, -n), d, keepdim), -1)
    return r.reshape((1,) * x.ndim) if dim is None and keepdim else r


@kernel_decomposition("argmax")
def _argmax(x, dim, keepdim):
    return _arg(x, dim, keepdim, R.amax)


@kernel_decomposition("argmin")
def _argmin(x, dim, keepdim):
    return _arg(x, dim, keepdim, R.amin)


# -- scans --------------------------------------------------------------------------

def _scan(x, dim, dtype, op):
    """Hillis–Steele inclusive scan: for s = 1, 2, 4, ..., y[s:] = op(y[s:], y[:-s]) (log2 n rounds)."""
    acc = _acc(dtype)
    y = C.empty(x._shape, dtype=acc, device=x._device).copy_(x.to(dtype))
    n, s = x._shape[dim], 1
    while s < n:
        tail = y.narrow(dim, s, n - s)
        tail.copy_(op(tail, y.narrow(dim, 0, n - s)))  # op's result is a new tensor: no overlap
        s *= 2
    return y.to(dtype)


@kernel_decomposition("cumsum")
def _cumsum(x, dim, dtype):
    return _scan(x, dim, dtype, E.add)


@kernel_decomposition("cumprod")
def _cumprod(x, dim, dtype):
    return _scan(x, dim, dtype, E.mul)


# -- flip and nonzero ---------------------------------------------------------------

@kernel_decomposition("flip")
def _flip(x, dims):
    """One gather per dim with the reversed index n-1, ..., 0 (Ember has no negative strides)."""
    y = x
    for d in dims:
        n = y._shape[d]
        rev = C.arange(n - 1, -1, -1, dtype=D.int64, device=x._device)
        y = I.gather(y, d, rev.reshape((n,) + (1,) * (y.ndim - d - 1)).expand(y._shape))
    return y


@kernel_decomposition("nonzero")
def _nonzero(x):
    """Count the nonzeros (one host sync), scatter each one's flat index into its slot, given by the
    running count (cumsum), then unravel: coordinate d = fmod(i, size), i = trunc_divide(i, size)."""
    flat = x.reshape(-1)
    nz = _not(E.eq(flat, 0))
    count = int(R.sum(nz, dtype=D.int64).item())
    if count == 0 or x.ndim == 0:
        return C.zeros((count, x.ndim), dtype=D.int64, device=x._device)
    slot = E.where(nz, E.add(R.cumsum(nz, 0), -1), count)  # zeros all land in the spare slot `count`
    lin = C.zeros((count + 1,), dtype=D.int64, device=x._device)
    lin.scatter_add_(0, slot, C.arange(flat._shape[0], dtype=D.int64, device=x._device))
    lin = lin.narrow(0, 0, count)
    coords = []
    for size in reversed(x._shape[1:]):
        coords.append(E.fmod(lin, size))
        lin = E.trunc_divide(lin, size)
    coords.append(lin)
    return S.stack(coords[::-1], 1)


# -- sort ---------------------------------------------------------------------------

@kernel_decomposition("sort")
def _sort(x, dim, descending, stable):
    """A bitonic sorting network on (key, tag), then a gather of x by the sorted indices.

    The tag is the original index i plus P times a class (P: the row padded to a power of two):
    NaN keys become +inf with class 1 ascending (after +inf) and class 0 descending (before
    +inf); padding gets the last key of the order with class 2. Ties in key fall to the tag, so
    the order is total, stable in both directions, and matches numpy's stable argsort.
    """
    moved = x.movedim(dim, -1)
    n = moved._shape[-1]
    x2 = moved.reshape(-1, n)
    rows, p = x2._shape[0], _pow2(n)
    dev, dt = x._device, x._dtype
    i = C.arange(n, dtype=D.int64, device=dev)
    if dt.is_floating_point:
        ok = E.eq(x2, x2)
        key = E.where(ok, x2, math.inf)
        tag = E.where(ok, i + p, i) if descending else E.where(ok, i, i + p)
        pad = -math.inf if descending else math.inf
    else:
        key, tag = x2, i
        info = np.iinfo(dt.np) if dt is not D.bool else None
        pad = (False if dt is D.bool else info.min) if descending else (True if dt is D.bool else info.max)
    keys = C.full((rows, p), pad, dtype=dt, device=dev)
    keys.narrow(1, 0, n).copy_(key)
    tags = C.empty((rows, p), dtype=D.int64, device=dev)
    tags.narrow(1, 0, n).copy_(tag)
    if p > n:
        tags.narrow(1, n, p - n).copy_(C.arange(2 * p + n, 3 * p, dtype=D.int64, device=dev))
    _bitonic(keys, tags, descending)
    idx = E.bitwise_and(tags.narrow(1, 0, n), p - 1)
    values = I.gather(x2, 1, idx)
    values, idx = values.reshape(moved._shape), idx.reshape(moved._shape)
    if dim != x.ndim - 1:
        values, idx = values.movedim(-1, dim).contiguous(), idx.movedim(-1, dim).contiguous()
    return values, idx


def _bitonic(keys, tags, descending):
    """Sort the rows of keys (and tags along) in place: Batcher's bitonic network, stages k = 2, 4, ..., P,
    steps s = k/2, ..., 1; position q pairs with q + s and the pair sorts ascending when q & k == 0."""
    rows, p = keys._shape
    pos = C.arange(p, dtype=D.int64, device=keys._device)
    k = 2
    while k <= p:
        up = E.eq(E.bitwise_and(pos, k), 0)
        s = k // 2
        while s >= 1:
            shape = (rows, p // (2 * s), 2, s)
            kv, tv = keys.view(shape), tags.view(shape)
            ka, kb, ta, tb = kv.select(2, 0), kv.select(2, 1), tv.select(2, 0), tv.select(2, 1)
            key_first = E.lt(ka, kb) if descending else E.lt(kb, ka)
            b_first = E.bitwise_xor(key_first, E.bitwise_and(E.eq(ka, kb), E.lt(tb, ta)))  # disjoint: xor is or
            swap = E.eq(b_first, up.view(shape[1:]).select(1, 0))
            for a, b in ((ka, kb), (ta, tb)):
                lo, hi = E.where(swap, b, a), E.where(swap, a, b)
                a.copy_(lo)
                b.copy_(hi)
            s //= 2
        k *= 2
