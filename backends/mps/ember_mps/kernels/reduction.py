"""sum and amax on mlx.core. Core hands sorted non-negative dims and the result dtype;
float16 and bfloat16 accumulate in float32 and round once, as on cpu."""

from __future__ import annotations

import mlx.core as mx

from ember import dtypes as D

from ..runtime import MX, cast, val, wrap

_HALF = (D.float16, D.bfloat16)


def _reduced(shape, dims, keepdim):
    if keepdim:
        return tuple(1 if i in dims else n for i, n in enumerate(shape))
    return tuple(n for i, n in enumerate(shape) if i not in dims)


def sum(x, dims, keepdim, dtype):   # noqa: A001  (the operator's name)
    v = cast(val(x), dtype)   # convert first, as a cast would
    if dtype in _HALF:
        v = v.astype(mx.float32)
    elif dtype is D.bool:
        v = v.astype(mx.int32)
    r = mx.sum(v, axis=list(dims), keepdims=bool(keepdim)) if dims else v
    return wrap(cast(r, dtype) if r.dtype != MX[dtype] else r, _reduced(x._shape, dims, keepdim), dtype)


def amax(x, dims, keepdim):
    v = val(x)
    r = mx.max(v, axis=list(dims), keepdims=bool(keepdim)) if dims else v   # NaN propagates
    return wrap(r, _reduced(x._shape, dims, keepdim), x._dtype)


KERNELS = {"sum": sum, "amax": amax}
