"""Putting numpy inputs on a device in a given layout, without running any backend kernel.

Only the runtime's host-to-device copy and core's view operators are used, so
a layout exists even on a backend whose kernels are all wrong.
"""

from __future__ import annotations

import numpy as np


def place(a: np.ndarray, device, layout: str = "contiguous"):
    """(tensor, base, view_of) for array ``a``: ``tensor`` holds a's values on ``device``;
    ``base`` is the tensor that owns the memory; ``view_of(base_array)`` picks out of a numpy
    array shaped like ``base`` the elements ``tensor`` views (so that writes through the view
    can be checked against every other element of base)."""
    import ember
    from ember import dtypes as D

    dt = D.from_numpy_dtype(a.dtype)
    if layout == "contiguous" or a.ndim < 2:
        t = ember.tensor(np.array(a, order="C", copy=True), dtype=dt, device=device)
        return t, t, _identity
    if layout == "transposed":
        rev = tuple(range(a.ndim - 1, -1, -1))
        base = ember.tensor(np.ascontiguousarray(a.transpose(rev)), dtype=dt, device=device)
        return base.permute(rev), base, lambda b: b.transpose(rev)
    if layout == "stepped":
        # Every other element along each dim, starting at 1: the gaps must stay untouched.
        big = _filler(a.dtype, tuple(2 * n + 1 for n in a.shape))
        sl = tuple(slice(1, None, 2) for _ in a.shape)
        big[sl] = a
        base = ember.tensor(big, dtype=dt, device=device)
        t = base
        slice_op = ember.dispatch.get("slice").fn
        for d in range(a.ndim):
            t = slice_op(t, d, 1, None, 2)
        return t, base, lambda b: b[sl]
    raise ValueError(f"unknown layout {layout!r}; known: contiguous, transposed, stepped")


def _identity(b):
    return b


def _filler(npdt, shape):
    """Recognisable values for the gaps of a stepped layout."""
    if npdt == np.bool_:
        return np.ones(shape, dtype=npdt)
    return np.full(shape, 7, dtype=npdt)
