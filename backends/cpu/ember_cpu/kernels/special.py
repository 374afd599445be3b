"""Special functions on scipy.special, for the operators of ember.ops.special.

Core's decompositions run these on every backend; scipy's Cephes routines are faster
and exact to the last bits. Each kernel receives the operator's arguments (the input
already checked by core, any float dtype) and returns a new tensor of the input's
floating dtype (integers compute in the default float dtype, as the meta function
says). scipy is imported on the first call, so ``import ember`` does not pay for it.
"""

from __future__ import annotations

import numpy as np

from ember import dtypes as D

from ..runtime import arr, wrap


def _f(x):
    a = arr(x)
    if not x._dtype.is_floating_point:
        return a.astype(D.get_default_dtype().np), D.get_default_dtype().np
    if x._dtype is D.bfloat16 or x._dtype is D.float16:   # scipy computes these in float32, rounding once
        return a.astype(np.float32), a.dtype
    return a, a.dtype


def _unary(name):
    def kernel(x):
        import scipy.special as sp
        a, dt = _f(x)
        return wrap(np.asarray(getattr(sp, name)(a)).astype(dt, copy=False))
    kernel.__name__ = name
    return kernel


def lgamma(x):
    import scipy.special as sp
    a, dt = _f(x)
    out = np.asarray(sp.gammaln(a))
    out[np.isneginf(a)] = np.inf   # scipy gives -inf there; log|Gamma(x)| is +inf at both infinities (PyTorch)
    return wrap(out.astype(dt, copy=False))


def digamma(x):
    import scipy.special as sp
    a, dt = _f(x)
    out = np.asarray(sp.psi(a))
    out[a == 0] = np.where(np.signbit(a[a == 0]), np.inf, -np.inf)   # PyTorch: -inf at +0, +inf at -0
    return wrap(out.astype(dt, copy=False))


def polygamma(n, x):
    import scipy.special as sp
    from ember.ops.special import _polygamma_meta
    _polygamma_meta(n, x)   # n >= 0: checked here too, since this kernel stands in for the decomposition
    if n == 0:
        return digamma(x)
    a, dt = _f(x)
    return wrap(np.asarray(sp.polygamma(n, a)).astype(dt, copy=False))


KERNELS = {"lgamma": lgamma, "digamma": digamma, "polygamma": polygamma, "i0": _unary("i0"),
           "_special_ndtri": _unary("ndtri")}
