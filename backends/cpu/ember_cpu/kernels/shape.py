"""Shape kernels: flip and cat on numpy."""

from __future__ import annotations

import numpy as np

from ..runtime import arr, wrap


def flip(x, dims):
    return wrap(np.ascontiguousarray(np.flip(arr(x), dims)))


def cat(tensors, dim, dtype):
    dt = dtype.np
    parts = [a if a.dtype == dt else a.astype(dt) for a in map(arr, tensors)]
    return wrap(np.concatenate(parts, axis=dim))


KERNELS = {"flip": flip, "cat": cat}
