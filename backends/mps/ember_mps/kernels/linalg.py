"""bmm on mlx.core.matmul. float16 and bfloat16 accumulate in float32 and round once; MLX's
matmul takes floating types only, so integers multiply and sum over k (wrapping, as on cpu)
and bool is any-of-and."""

from __future__ import annotations

import mlx.core as mx

from ember import dtypes as D

from ..runtime import MX, val, wrap

_HALF = (D.float16, D.bfloat16)


def bmm(a, b):
    dt = a._dtype
    x, y = val(a), val(b)
    if dt.is_floating_point:
        if dt in _HALF:
            r = mx.matmul(x.astype(mx.float32), y.astype(mx.float32)).astype(MX[dt])
        else:
            r = mx.matmul(x, y)
    elif dt is D.bool:
        r = mx.any(mx.logical_and(x[..., :, :, None], y[..., None, :, :]), axis=-2)
    else:
        r = mx.sum(x[..., :, :, None] * y[..., None, :, :], axis=-2).astype(MX[dt])
    return wrap(r, a._shape[:-1] + b._shape[-1:], dt)


KERNELS = {"bmm": bmm}
