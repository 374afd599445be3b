"""cpu kernels: sorting family (a stable numpy argsort; NaN sorts as the largest value)."""

from __future__ import annotations

import numpy as np

from ember import dtypes as D

from ..runtime import arr, wrap


def sort(x, dim, descending, stable):
    a = arr(x)
    key = a.astype(np.float32) if x._dtype is D.bfloat16 else a   # numpy cannot order bfloat16
    if descending:
        # Stable and descending: sort the reversed data ascending, then reverse back, so that
        # equal values keep their order and NaN (last ascending) comes first.
        n = a.shape[dim]
        idx = (n - 1) - np.flip(np.argsort(np.flip(key, dim), axis=dim, kind="stable"), dim)
    else:
        idx = np.argsort(key, axis=dim, kind="stable")
    return wrap(np.take_along_axis(a, idx, axis=dim)), wrap(np.ascontiguousarray(idx, dtype=np.int64))


KERNELS = {"sort": sort}
