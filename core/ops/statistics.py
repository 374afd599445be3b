"""Operators: order statistics, scans and closeness, as composites over existing operators.

median, nanmedian, kthvalue and mode sort along a dim and pick (PyTorch's
median is the lower of the two middle values). cummax, cummin and logcumsumexp are
log-step (Hillis-Steele) scans over ``where`` and ``logaddexp``, since no prim
scans with max. Values are gathered from the input, so autograd follows them.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from .. import dtypes as D
from ..dispatch import defop
from ..errors import DTypeError, IndexOutOfRangeError
from . import creation as C
from . import elementwise as E
from . import indexing as I
from . import reduction as R
from . import shape as S
from . import sorting as SO
from . import views as V
from ._helpers import Spec, wrap_dim, wrap_dims
from ..errors import InvalidArgumentError

_names = ("median", "nanmedian", "kthvalue", "mode", "cummax", "cummin")
RESULTS = {n: namedtuple(n, ["values", "indices"]) for n in _names}
RESULTS["aminmax"] = namedtuple("aminmax", ["min", "max"])
for _t in RESULTS.values():
    _t.__module__ = "ember.return_types"


def _reduced(x, d, keepdim):
    if x.ndim == 0:
        return ()
    s = list(x._shape)
    if keepdim:
        s[d] = 1
    else:
        del s[d]
    return tuple(s)


def _pair_meta(opname):
    def meta(x, dim=-1, keepdim=False):
        d = wrap_dim(dim, x.ndim, opname)
        if x.ndim and x._shape[d] == 0:
            raise IndexOutOfRangeError(f"{opname}(): cannot compute over dimension {dim} of size 0")
        shape = _reduced(x, d, keepdim)
        return Spec(shape, x._dtype, d), Spec(shape, D.int64)
    return meta


def _sorted_pick(x, d, keepdim, k):
    """Values and indices of the k-th smallest along d (k an int or an int64 tensor with size 1 at d)."""
    xs = V.reshape(x, (1,)) if x.ndim == 0 else x
    vals, idx = SO.sort(xs, d, False, True)
    if isinstance(k, int):
        k = C.full(_reduced(xs, d, True), k, dtype=D.int64, device=x._device)
    v, i = I.gather(vals, d, k), I.gather(idx, d, k)
    if x.ndim == 0:
        return V.reshape(v, ()), V.reshape(i, ())
    return (v, i) if keepdim else (V.squeeze(v, d), V.squeeze(i, d))


def _nan_rank(x, d, nan_skip):
    """The median's position along d: the lower middle, or the first NaN (median) / of the non-NaN (nanmedian)."""
    n = x._shape[d] if x.ndim else 1
    if not x._dtype.is_floating_point:
        return (n - 1) // 2
    xs = V.reshape(x, (1,)) if x.ndim == 0 else x
    valid = E.sub(n, R.sum(E.isnan(xs), [d], True))
    if nan_skip:   # an all-NaN slice picks its middle NaN, as PyTorch
        return E.where(E.eq(valid, 0), (n - 1) // 2, E.floor_divide(E.sub(valid, 1), 2))
    return E.where(E.lt(valid, n), valid, C.full((), (n - 1) // 2, dtype=D.int64, device=x._device))


def _median_dim(x, dim=-1, keepdim=False):
    d = _pair_meta("median")(x, dim, keepdim)[0].extra
    return _sorted_pick(x, d, keepdim, _nan_rank(x, d, False))


def _nanmedian_dim(x, dim=-1, keepdim=False):
    d = _pair_meta("nanmedian")(x, dim, keepdim)[0].extra
    return _sorted_pick(x, d, keepdim, _nan_rank(x, d, True))


median_dim = defop("median_dim(Tensor self, int dim=-1, bool keepdim=False) -> (Tensor, Tensor)",
                   meta=_pair_meta("median"), decomposition=_median_dim, family="statistics",
                   doc="The lower median along dim and its index (NaN if the slice has a NaN).")
nanmedian_dim = defop("nanmedian_dim(Tensor self, int dim=-1, bool keepdim=False) -> (Tensor, Tensor)",
                      meta=_pair_meta("nanmedian"), decomposition=_nanmedian_dim, family="statistics",
                      doc="The lower median along dim of the non-NaN values, and its index.")


def _full_meta(x):
    return Spec((), x._dtype)


def _whole(pick):
    def fn(x):
        if x.numel() == 0:
            return C.full((), float("nan"), dtype=x._dtype, device=x._device)
        return pick(V.reshape(x, (-1,)), 0)[0]
    return fn


median_op = defop("median(Tensor self) -> Tensor", meta=_full_meta, decomposition=_whole(_median_dim),
                  family="statistics", doc="The lower median of all elements (NaN if any is NaN).")
nanmedian_op = defop("nanmedian(Tensor self) -> Tensor", meta=_full_meta, decomposition=_whole(_nanmedian_dim),
                     family="statistics", doc="The lower median of the non-NaN elements.")


def _kthvalue_meta(x, k, dim=-1, keepdim=False):
    spec = _pair_meta("kthvalue")(x, dim, keepdim)
    n = x._shape[spec[0].extra] if x.ndim else 1
    if not 1 <= k <= n:
        raise IndexOutOfRangeError(f"kthvalue(): k={k} is out of range for a dimension of size {n} "
                                   f"(expected 1 <= k <= {n})")
    return spec


def _kthvalue(x, k, dim=-1, keepdim=False):
    d = _kthvalue_meta(x, k, dim, keepdim)[0].extra
    return _sorted_pick(x, d, keepdim, k - 1)


kthvalue_op = defop("kthvalue(Tensor self, int k, int dim=-1, bool keepdim=False) -> (Tensor, Tensor)",
                    meta=_kthvalue_meta, decomposition=_kthvalue, family="statistics",
                    doc="The k-th smallest value along dim (k from 1) and its index.")


# -- scans: cummax, cummin, logcumsumexp ---------------------------------------------------------

def _identity(dt, largest):
    if dt.is_floating_point:
        return float("-inf") if largest else float("inf")
    if dt is D.bool:
        return not largest
    info = np.iinfo(dt.np)
    return int(info.min) if largest else int(info.max)


def _shifted(t, d, k, fill):
    """t moved k places along d, the first k filled with ``fill``."""
    n = t._shape[d]
    shape = list(t._shape)
    shape[d] = k
    return S.cat([C.full(tuple(shape), fill, dtype=t._dtype, device=t._device), V.narrow(t, d, 0, n - k)], d)


def _cum_index(x, d, largest):
    """Index of the running max (min) along d: the latest of equal extremes, and the latest NaN once one is seen."""
    v = x.detach() if hasattr(x, "detach") else x
    n = v._shape[d]
    shape = [1] * v.ndim
    shape[d] = n
    i = V.expand(V.reshape(C.arange(0, n, device=v._device), tuple(shape)), v._shape).contiguous()
    fill = _identity(v._dtype, largest)
    floating = v._dtype.is_floating_point
    k = 1
    while k < n:
        pv, pi = _shifted(v, d, k, fill), _shifted(i, d, k, 0)
        better = E.ge(v, pv) if largest else E.le(v, pv)
        if floating:
            better = E.logical_or(E.isnan(v), E.logical_and(E.logical_not(E.isnan(pv)), better))
        v, i = E.where(better, v, pv), E.where(better, i, pi)
        k *= 2
    return i


def _cum_meta(opname):
    def meta(x, dim):
        wrap_dim(dim, x.ndim, opname)
        return Spec(x._shape, x._dtype), Spec(x._shape, D.int64)
    return meta


def _cum(opname, largest):
    def fn(x, dim):
        d = wrap_dim(dim, x.ndim, opname)
        if x.ndim == 0 or x.numel() == 0:
            return C.clone(x), C.zeros(x._shape, dtype=D.int64, device=x._device)
        idx = _cum_index(x, d, largest)
        return I.gather(x, d, idx), idx
    return fn


cummax_op = defop("cummax(Tensor self, int dim) -> (Tensor, Tensor)", meta=_cum_meta("cummax"),
                  decomposition=_cum("cummax", True), family="statistics",
                  doc="The running maximum along dim and where it was found (NaN propagates).")
cummin_op = defop("cummin(Tensor self, int dim) -> (Tensor, Tensor)", meta=_cum_meta("cummin"),
                  decomposition=_cum("cummin", False), family="statistics",
                  doc="The running minimum along dim and where it was found (NaN propagates).")


def _logcumsumexp_meta(x, dim):
    wrap_dim(dim, x.ndim, "logcumsumexp")
    if not x._dtype.is_floating_point:
        raise DTypeError(f"logcumsumexp(): expects a floating point tensor, got {x._dtype.name}")
    return Spec(x._shape, x._dtype)


def _logcumsumexp(x, dim):
    _logcumsumexp_meta(x, dim)
    if x.ndim == 0:
        return C.clone(x)
    d = wrap_dim(dim, x.ndim, "logcumsumexp")
    n, k, v = x._shape[d], 1, x
    while k < n:
        v = E.logaddexp(_shifted(v, d, k, float("-inf")), v)
        k *= 2
    return v if v is not x else C.clone(x)


logcumsumexp = defop("logcumsumexp(Tensor self, int dim) -> Tensor", meta=_logcumsumexp_meta,
                     decomposition=_logcumsumexp, family="statistics",
                     doc="log(cumsum(exp(self))) along dim, computed stably.")


# -- mode --------------------------------------------------------------------------------------

def _mode(x, dim=-1, keepdim=False):
    d = _pair_meta("mode")(x, dim, keepdim)[0].extra
    xs = V.reshape(x, (1,)) if x.ndim == 0 else x
    vals, idx = SO.sort(xs.detach() if hasattr(xs, "detach") else xs, d, False, True)
    n = xs._shape[d]
    shape = [1] * xs.ndim
    shape[d] = n
    pos = V.expand(V.reshape(C.arange(0, n, device=x._device), tuple(shape)), xs._shape)
    start = E.ne(vals, _shifted(vals, d, 1, 0)) if n > 1 else E.eq(pos, 0)
    start = E.logical_or(start, E.eq(pos, 0))
    starts = E.where(start, pos, 0)
    run_start = I.gather(starts, d, _cum_index(starts, d, True))
    length = E.sub(pos, run_start)   # the count so far within the run: its maximum ends the most common run
    last = R.argmax(length, d, True)  # the first maximum: the smallest of equally common values
    i = I.gather(idx, d, last)
    v = I.gather(xs, d, i)
    if x.ndim == 0:
        return V.reshape(v, ()), V.reshape(i, ())
    return (v, i) if keepdim else (V.squeeze(v, d), V.squeeze(i, d))


mode_op = defop("mode(Tensor self, int dim=-1, bool keepdim=False) -> (Tensor, Tensor)", meta=_pair_meta("mode"),
                decomposition=_mode, family="statistics",
                doc="The most common value along dim (the smallest of ties) and the index of its last occurrence.")


# -- aminmax, count_nonzero, isclose, allclose ---------------------------------------------------

def _aminmax_meta(x, dim=None, keepdim=False):
    dims = wrap_dims(dim, x.ndim, "aminmax")
    if x.numel() == 0 and (dim is None or x._shape[dims[0]] == 0):
        raise IndexOutOfRangeError("aminmax(): cannot compute aminmax over an empty dimension: the operation has "
                                   "no identity")
    shape = tuple(1 if i in dims else s for i, s in enumerate(x._shape) if keepdim or i not in dims)
    return Spec(shape, x._dtype), Spec(shape, x._dtype)


def _aminmax(x, dim=None, keepdim=False):
    _aminmax_meta(x, dim, keepdim)
    dims = None if dim is None else [dim]
    return R.amin(x, dims, keepdim), R.amax(x, dims, keepdim)


_aminmax_op = defop("aminmax(Tensor self, *, int? dim=None, bool keepdim=False) -> (Tensor, Tensor)",
                    meta=_aminmax_meta, decomposition=_aminmax, family="statistics",
                    doc="The minimum and maximum (along dim, or of all elements), in one call.")


def _count_nonzero_meta(x, dim=None):
    dims = wrap_dims(dim, x.ndim, "count_nonzero")
    return Spec(tuple(s for i, s in enumerate(x._shape) if i not in dims), D.int64)


def _count_nonzero(x, dim=None):
    _count_nonzero_meta(x, dim)
    return R.sum(E.ne(x, 0), None if dim is None else list(wrap_dims(dim, x.ndim, "count_nonzero")))


count_nonzero = defop("count_nonzero(Tensor self, Any dim=None) -> Tensor", meta=_count_nonzero_meta,
                      decomposition=_count_nonzero, family="statistics",
                      doc="How many elements are not zero, along dim (an int or a tuple) or in all.")


def _isclose_meta(x, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    if x._dtype is not other._dtype:
        raise DTypeError(f"isclose(): expected self and other to have the same dtype, but got {x._dtype.name} and "
                         f"{other._dtype.name}; convert one with .to()")
    if not (rtol >= 0 and atol >= 0):  # NaN tolerances too: every comparison with them is False
        raise InvalidArgumentError(f"isclose(): rtol and atol must be non-negative, got rtol={rtol}, atol={atol}")
    from ._helpers import broadcast_shapes
    return Spec(broadcast_shapes(x._shape, other._shape), D.bool)


def _isclose(x, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    _isclose_meta(x, other, rtol, atol, equal_nan)
    close = E.eq(x, other)
    if equal_nan and x._dtype.is_floating_point:
        close = E.logical_or(close, E.logical_and(E.isnan(x), E.isnan(other)))
    if rtol == 0 and atol == 0:
        return close
    if x._dtype is D.bool:
        x, other = x.to(D.get_default_dtype()), other.to(D.get_default_dtype())
    elif not x._dtype.is_floating_point and not x._dtype.is_complex:
        x, other = x.to(D.float64), other.to(D.float64)  # |x - other| of int64 extremes would wrap around
    allowed = E.add(E.abs(E.mul(other, rtol)), atol)
    actual = E.sub(E.maximum(x, other), E.minimum(x, other))      # no wrap-around for unsigned
    return E.logical_or(close, E.logical_and(E.isfinite(actual), E.le(actual, allowed)))


isclose = defop("isclose(Tensor self, Tensor other, float rtol=1e-05, float atol=1e-08, bool equal_nan=False) "
                "-> Tensor", meta=_isclose_meta, decomposition=_isclose, family="statistics",
                doc="|self - other| <= atol + rtol * |other|, elementwise (equal infinities are close; NaN only "
                    "with equal_nan).")


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool:
    """True when every element of ``input`` is close to ``other`` (see isclose); a Python bool."""
    return bool(R.all(isclose(input, other, rtol, atol, equal_nan)).item())


# -- Python-level wrappers: named tuples, and median/nanmedian with or without dim ---------------

def _pairwise(name, op):
    def fn(*args, **kwargs):
        return RESULTS[name](*op(*args, **kwargs))
    fn.__name__ = name
    fn.__doc__ = op.__doc__
    return fn


def _with_dim(name, whole, along):
    def fn(input, dim=None, keepdim=False):
        if dim is None:
            return whole(input)
        return RESULTS[name](*along(input, dim, keepdim))
    fn.__name__ = name
    fn.__doc__ = f"{name}(input) -> the value; {name}(input, dim, keepdim=False) -> (values, indices)."
    return fn


FUNCTIONS = {"median": _with_dim("median", median_op, median_dim),
             "nanmedian": _with_dim("nanmedian", nanmedian_op, nanmedian_dim),
             "kthvalue": _pairwise("kthvalue", kthvalue_op), "mode": _pairwise("mode", mode_op),
             "cummax": _pairwise("cummax", cummax_op), "cummin": _pairwise("cummin", cummin_op),
             "aminmax": _pairwise("aminmax", _aminmax_op), "allclose": allclose}
METHODS = dict(FUNCTIONS)
