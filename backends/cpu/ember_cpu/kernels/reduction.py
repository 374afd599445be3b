"""cpu kernels: reductions and scans on numpy's ufunc.reduce / accumulate.

Core hands every kernel normalized arguments (sorted non-negative dims, the
result dtype) and has already rejected empty max/min/arg reductions. float16
and bfloat16 accumulate in float32 and round once, as PyTorch's cpu kernels
do; bfloat16 (ml_dtypes) comparisons also run in float32, where NaN ordering
is numpy's own.
"""

from __future__ import annotations

import warnings

import numpy as np

from ember import dtypes as D


from .. import _native
from ..runtime import arr, is_bfloat16, is_half, wrap

_F32 = np.dtype(np.float32)

# numpy warns where PyTorch stays silent (overflow to inf, NaN in a reduction);
# the ufuncs are called from this module so that the filter applies to them only.
warnings.filterwarnings("ignore", category=RuntimeWarning, module=__name__)


def _out(r, dt):
    """A numpy result (array or scalar) as a tensor of exactly dtype ``dt``."""
    if r.__class__ is not np.ndarray:
        r = np.asarray(r)
    if r.dtype != dt:
        r = r.astype(dt)
    return wrap(r)


def _accumulate_reduce(ufunc):
    def kernel(x, dims, keepdim, dtype):
        a = arr(x)
        dt = dtype.np
        if is_half(dt):
            if a.dtype != dt:
                a = a.astype(dt)  # convert first, as a cast would, then accumulate wider
            return _out(ufunc.reduce(a, axis=dims, dtype=_F32, keepdims=keepdim), dt)
        return _out(ufunc.reduce(a, axis=dims, dtype=dt, keepdims=keepdim), dt)
    return kernel


def _minmax_reduce(ufunc):
    def kernel(x, dims, keepdim):
        a = arr(x)
        dt = a.dtype
        if is_bfloat16(dt):
            a = a.astype(_F32)
        return _out(ufunc.reduce(a, axis=dims, keepdims=keepdim), dt)
    return kernel


def _bool_reduce(ufunc):
    def kernel(x, dims, keepdim):
        a = arr(x)
        if a.dtype != np.bool_:
            a = a != 0  # NaN != 0, so NaN counts as true
        return _out(ufunc.reduce(a, axis=dims, keepdims=keepdim), np.bool_)
    return kernel


def _comparable(a):
    return a.astype(_F32) if is_bfloat16(a.dtype) else a


def _argmax(x, dim, keepdim):
    return _out(np.argmax(_comparable(arr(x)), axis=dim, keepdims=keepdim), np.int64)


def _argmin(x, dim, keepdim):
    return _out(np.argmin(_comparable(arr(x)), axis=dim, keepdims=keepdim), np.int64)


def _scan(ufunc):
    def kernel(x, dim, dtype):
        a = arr(x)
        dt = dtype.np
        if is_half(dt):
            if a.dtype != dt:
                a = a.astype(dt)
            return _out(ufunc.accumulate(a, axis=dim, dtype=_F32), dt)
        return _out(ufunc.accumulate(a, axis=dim, dtype=dt), dt)
    return kernel


def _along_arrays(find, native):
    """max_dim / min_dim on arrays, (values, int64 indices): the native one pass where it takes the array (small,
    contiguous, float32/float64/int32/int64); else numpy's index, then the value gathered at it."""
    def along(a, dim, keepdim):
        r = native(a, dim, keepdim)
        if r is not None:
            return r
        idx = find(_comparable(a), axis=dim, keepdims=True)
        values = np.take_along_axis(a, idx, axis=dim)
        if not keepdim:
            idx = np.squeeze(idx, axis=dim)
            values = np.squeeze(values, axis=dim)
        return values, idx.astype(np.int64, copy=False)
    return along


def _along(along):
    def kernel(x, dim, keepdim):
        values, idx = along(arr(x), dim, keepdim)
        return wrap(values), wrap(idx)
    return kernel


_max_along = _along_arrays(np.argmax, _native.max_dim)
_min_along = _along_arrays(np.argmin, _native.min_dim)

KERNELS = {
    "sum": _accumulate_reduce(np.add), "prod": _accumulate_reduce(np.multiply),
    "amax": _minmax_reduce(np.maximum), "amin": _minmax_reduce(np.minimum),
    "all": _bool_reduce(np.logical_and), "any": _bool_reduce(np.logical_or),
    "argmax": _argmax, "argmin": _argmin,
    "cumsum": _scan(np.add), "cumprod": _scan(np.multiply),
    "max_dim": _along(_max_along), "min_dim": _along(_min_along),
}


def _max_dim_array(a, dims, keepdim):
    """max_dim's array kernel, called with dims = (dim,)."""
    return _max_along(a, dims[0], keepdim)


# Array kernels (float32/float64), called as f(x) over every dim or f(x, dims, keepdim): sum (numpy's
# add.reduce in the dtype, as the sum kernel), mean (core's decomposition: that sum divided by the count),
# max over every dim (NaN propagates, as the amax kernel) and max_dim. ember_cpu._native computes small arrays
# itself (the same bits as numpy) and hands the rest to numpy.
_FLOATS = (D.float32, D.float64)
ARRAY_KERNELS = {"sum": (_native.sum, _FLOATS), "mean": (_native.mean, _FLOATS),
                 "max": (_native.max_all, _FLOATS), "max_dim": (_max_dim_array, _FLOATS)}
