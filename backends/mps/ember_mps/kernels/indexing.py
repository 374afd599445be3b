"""gather, scatter_ and scatter_add_ on mlx.core.

Indices are checked before any read or write: the smallest and largest are read back
(one sync) and a bad one raises ``ember.IndexOutOfRangeError`` (an IndexError), so a bad
index never writes. Scatters address the flat elements of ``self`` (linear indices from
the index tensor and iotas) so that they are one functional MLX scatter.
"""

from __future__ import annotations

import mlx.core as mx

from ember import dtypes as D
from ember.errors import IndexOutOfRangeError

from ..runtime import MX, set_val, val, wrap

_HALF = (D.float16, D.bfloat16)


def _check(idx, dim, n):
    if idx.size:
        lo, hi = mx.min(idx).item(), mx.max(idx).item()
        if lo < 0 or hi >= n:
            bad = lo if lo < 0 else hi
            raise IndexOutOfRangeError(f"index {bad} is out of bounds for dimension {dim} with size {n}")


def _prefix(v, shape, dim=None):
    """``v`` cut to ``shape`` in every dimension except ``dim``."""
    return v[tuple(slice(None) if k == dim else slice(0, m) for k, m in enumerate(shape))]


def gather(x, dim, index):
    idx = val(index)
    _check(idx, dim, x._shape[dim])
    shape = index._shape
    if idx.size == 0:
        return wrap(mx.zeros(shape, MX[x._dtype]), shape, x._dtype)
    r = mx.take_along_axis(_prefix(val(x), shape, dim), idx, axis=dim)
    return wrap(r, shape, x._dtype)


def _linear(idx, dim, shape):
    """Flat positions in a contiguous array of ``shape`` of the elements the index tensor addresses along ``dim``."""
    lin = mx.zeros(idx.shape, mx.int64)
    stride = 1
    for d in range(len(shape) - 1, -1, -1):
        if d == dim:
            coord = idx.astype(mx.int64)
        else:
            coord = mx.broadcast_to(mx.arange(idx.shape[d], dtype=mx.int64).reshape(
                [-1 if k == d else 1 for k in range(idx.ndim)]), idx.shape)
        lin = lin + coord * stride
        stride *= shape[d]
    return lin.reshape(-1)


def _scatter(how):
    def kernel(self, dim, index, src):
        idx = val(index)
        _check(idx, dim, self._shape[dim])
        if idx.size == 0:
            return self
        dt = self._dtype
        flat = val(self).reshape(-1)
        lin = _linear(idx, dim, self._shape)
        s = _prefix(val(src), idx.shape).reshape(-1)
        if how == "set":
            new = mx.put_along_axis(flat, lin, s.astype(flat.dtype), axis=0)
        elif dt is D.bool:
            new = flat.at[lin].maximum(s)   # adding bools is or
        elif dt in _HALF:   # accumulate in float32, round once
            new = flat.astype(mx.float32).at[lin].add(s.astype(mx.float32))
        else:
            new = flat.at[lin].add(s.astype(flat.dtype))
        set_val(self, new.reshape(self._shape))
        return self
    return kernel


KERNELS = {"gather": gather, "scatter_": _scatter("set"), "scatter_add_": _scatter("add")}
