"""cpu kernels: indexing family.

gather, scatter, scatter_add and index_add run in the native module (one pass
over strided operands, bounds checked before any write); the rest is numpy.
Core hands every kernel operands with at least one dimension, of the dtypes
its contract names; a bad index raises IndexError, which core turns into
ember.IndexOutOfRangeError.
"""

from __future__ import annotations

import numpy as np

from ..runtime import arr, wrap
from ember.errors import IndexOutOfRangeError

_nat = None


def _native():
    global _nat
    if _nat is None:
        from .. import _native as n
        _nat = n
    return _nat


def _parts(a):
    """The arrays the native walk runs over: a complex array as its real and imaginary parts (strided
    float views of the same memory; the walk moves and adds real items), any other array as itself."""
    return (a.real, a.imag) if a.dtype.kind == "c" else (a,)


def gather(x, dim, index):
    out = np.empty(index._shape, x._dtype.np)
    i = arr(index)
    for xp, op in zip(_parts(arr(x)), _parts(out)):
        _native().gather(xp, dim, i, op)
    return wrap(out)


def scatter_(self, dim, index, src):
    i = arr(index)
    for sp, srcp in zip(_parts(arr(self)), _parts(arr(src))):
        _native().scatter(sp, dim, i, srcp)   # an out-of-range index raises on the first part, before any write
    return self


def scatter_add_(self, dim, index, src):
    i = arr(index)
    for sp, srcp in zip(_parts(arr(self)), _parts(arr(src))):
        _native().scatter_add(sp, dim, i, srcp, sp.dtype.name if self._dtype.is_complex else self._dtype.name)
    return self


def index_add_(self, dim, index, source):
    _native().index_add(arr(self), dim, arr(index), arr(source), self._dtype.name)
    return self


def _check_range(i, dim, n):
    if i.size:
        lo, hi = i.min(), i.max()
        if lo < 0 or hi >= n:
            bad = lo if lo < 0 else hi
            raise IndexOutOfRangeError(f"index {bad} is out of bounds for dimension {dim} with size {n}")


def index_select(x, dim, index):
    i = arr(index)
    _check_range(i, dim, x._shape[dim])
    return wrap(np.take(arr(x), i, axis=dim))


def masked_fill_(x, mask, value):
    np.copyto(arr(x), np.asarray(value, dtype=x._dtype.np), where=arr(mask))
    return x


def masked_select(x, mask):
    return wrap(np.ascontiguousarray(arr(x)[arr(mask)]))


def nonzero(x):
    return wrap(np.ascontiguousarray(np.argwhere(arr(x)), dtype=np.int64))


def _key(indices):
    return tuple(slice(None) if i is None else arr(i) for i in indices)


def _reworded(e):
    return IndexError(str(e).replace(" axis ", " dimension "))


def index(x, indices):
    try:
        out = arr(x)[_key(indices)]
    except IndexError as e:
        raise _reworded(e) from None
    # 0-d indices give a numpy scalar, which ascontiguousarray would turn into shape (1,)
    return wrap(np.ascontiguousarray(out).reshape(np.shape(out)))


def index_put_(x, indices, values, accumulate):
    try:
        if accumulate:
            np.add.at(arr(x), _key(indices), arr(values))
        else:
            arr(x)[_key(indices)] = arr(values)
    except IndexError as e:
        raise _reworded(e) from None
    return x


KERNELS = {
    "gather": gather, "scatter_": scatter_, "scatter_add_": scatter_add_, "index_add_": index_add_,
    "index_select": index_select, "masked_fill_": masked_fill_, "masked_select": masked_select,
    "nonzero": nonzero, "index": index, "index_put_": index_put_,
}
