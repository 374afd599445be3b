"""Matrix products on jax.numpy.matmul at full precision (no TF32 or bf16 passes on GPUs).

float16 and bfloat16 accumulate in float32 and round once; integers wrap as two's complement.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

from ember import dtypes as D

from .._engine import read, run
from ..runtime import geom, val, wrap

_HALF = (D.float16, D.bfloat16)
_HIGHEST = lax.Precision.HIGHEST


def _matmul_maker(key):
    _, ga, gb, dt = key
    npdt = dt.np
    acc = jnp.float32 if dt in _HALF else None

    def fn(a, b):
        r = jnp.matmul(read(a, ga), read(b, gb), precision=_HIGHEST, preferred_element_type=acc)
        return (r.astype(npdt).reshape(-1),)
    return fn


def _shape(sa, sb):
    if len(sa) == 1 and len(sb) == 1:
        return ()
    if len(sa) == 1:
        return sb[:-2] + sb[-1:]
    if len(sb) == 1:
        return sa[:-1]
    batch = _bcast(sa[:-2], sb[:-2])
    return batch + (sa[-2], sb[-1])


def _bcast(a, b):
    n = max(len(a), len(b))
    a = (1,) * (n - len(a)) + a
    b = (1,) * (n - len(b)) + b
    return tuple(x if y == 1 else y for x, y in zip(a, b))


def matmul(a, b):
    dev = a._storage.dev
    r = run((_matmul_maker, geom(a), geom(b), a._dtype), (val(a), val(b)), dev)
    return wrap(r[0], _shape(a._shape, b._shape), a._dtype, dev)


# numpy's (and jax's) matmul rules are PyTorch's, and bmm, mm and dot are its special cases.
KERNELS = {"bmm": matmul, "mm": matmul, "matmul": matmul, "dot": matmul}
