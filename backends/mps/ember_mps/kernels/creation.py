"""copy_ (strided copy with a cast) and arange."""

from __future__ import annotations

import mlx.core as mx

from ember import Tensor

from ..runtime import MX, METAL, cast, geom, set_val, val, wrap

_IOTA_F = mx.float32 if METAL else mx.float64   # start + i * step, rounded once to the dtype


def copy_(dst, src):
    gs, gd = geom(src), geom(dst)
    c = dst._storage
    if gd.__class__ is tuple and gs == gd and src._dtype is dst._dtype and src._storage.n == c.n \
            and (not gd or gd[0] != "v") and src._storage.a is not None:
        c.a = src._storage.a   # arrays are immutable: the whole source can be shared
        return dst
    set_val(dst, val(src))   # set_val casts to dst's dtype
    return dst


def arange(start, step, n, dtype, device):
    if isinstance(start, Tensor):
        start = start.item()
    if isinstance(step, Tensor):
        step = step.item()
    if dtype.is_floating_point:
        a = mx.arange(n, dtype=_IOTA_F) * float(step) + float(start)
    else:
        a = mx.arange(n, dtype=mx.int64) * int(step) + int(start)
    return wrap(cast(a, dtype) if a.dtype != MX[dtype] else a, (n,), dtype)


KERNELS = {"copy_": copy_, "arange": arange}
