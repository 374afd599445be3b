"""Reductions, scans and the softmax family.

Prims, which every backend implements: sum, prod, amax, amin, argmax, argmin,
all, any, cumsum, cumprod. Composites, written with Ember operators only:
mean, var, std, var_mean, std_mean, logsumexp, softmax, log_softmax, and the
max/min family (the full reduction, and the (values, indices) form along a
dim, which a backend may also give a kernel to run in one pass).

Core normalizes dims, result dtypes and empty-input errors once, in the meta
functions; kernels receive sorted non-negative dims and the result dtype and
only compute. Kernels accumulate float16 and bfloat16 in float32 and round
once, as PyTorch's cpu kernels do.
"""

from __future__ import annotations

import builtins as _b
from collections import namedtuple

from .. import dtypes as D
from .._tensor import Tensor
from ..dispatch import defop
from ..errors import DTypeError, IndexOutOfRangeError
from ._helpers import Spec, dtype_arg, numel, wrap_dim, wrap_dims
from .elementwise import (abs, add, exp, gt, isfinite, isinf, log, logical_and, maximum, minimum, mul, sqrt, sub,
                          true_divide, where)
from .views import squeeze
from ..errors import ArgumentTypeError

_int, _float, _tuple, _list = _b.int, _b.float, _b.tuple, _b.list
_HALF = (D.float16, D.bfloat16)  # computed in float32, rounded once

# -- result dtypes, as data -------------------------------------------------------
#   accumulate  bool and integers -> int64, floating keeps its dtype; dtype= overrides
#   same        the input's dtype
#   bool        always bool
#   index       always int64
#   floating    the input's dtype (or dtype='s), which must be floating
#   float       integers and bool -> the default float dtype
DTYPE_RULE = {
    "sum": "accumulate", "prod": "accumulate", "cumsum": "accumulate", "cumprod": "accumulate",
    "amax": "same", "amin": "same",
    "all": "bool", "any": "bool", "argmax": "index", "argmin": "index",
    "mean": "floating", "var": "floating", "std": "floating", "var_mean": "floating",
    "std_mean": "floating", "softmax": "floating", "log_softmax": "floating", "logsumexp": "float",
}

# Reductions with no identity element: reducing zero elements is an error.
_NEEDS_ELEMENTS = {"amax", "amin"}  # argmax/argmin and max/min check through _arg_meta and _full_meta_for


def _result_dtype(opname: str, rule: str, dt: D.DType, dtype) -> D.DType:
    if dtype is not None:
        dtype = dtype_arg(dtype, opname)
    if rule == "accumulate":
        return dtype if dtype is not None else (D.int64 if dt.category < 2 else dt)
    if rule == "same":
        return dt
    if rule == "bool":  # PyTorch keeps uint8 for all/any (a legacy of masks stored as bytes)
        return D.uint8 if dt is D.uint8 else D.bool
    if rule == "index":
        return D.int64
    if rule == "float":
        return dt if dt.is_floating_point else D.get_default_dtype()
    # floating
    if dtype is not None:
        if not dtype.is_floating_point:
            raise DTypeError(f"{opname}(): dtype= must be a floating dtype, got {dtype.name}; "
                             f"pass dtype=ember.float32 or another floating dtype")
        return dtype
    if not dt.is_floating_point and not (dt.is_complex and opname == "mean"):
        hint = ("pass dtype=ember.float32 or convert the input with .float()"
                if opname in ("mean", "softmax", "log_softmax") else "convert the input with .float()")
        raise DTypeError(f"{opname}(): could not infer the output dtype: the input dtype {dt.name} is not "
                         f"floating and {opname} supports only floating dtypes; {hint}")
    return dt


# -- dims and shapes ----------------------------------------------------------------

def _norm_dims(opname: str, shape, dim, empty_means_all: bool = True) -> tuple:
    """A dim, dims or None as a sorted tuple of non-negative dims (empty for a 0-d tensor)."""
    nd = len(shape)
    if dim is None:
        return _tuple(range(nd))
    if isinstance(dim, (_tuple, _list)):
        if not dim:
            return _tuple(range(nd)) if empty_means_all else ()
    else:
        dim = (dim,)
    dims = wrap_dims(dim, nd, opname)
    return dims if nd else ()


def _reduced_shape(shape, dims, keepdim) -> tuple:
    if keepdim:
        return _tuple(1 if i in dims else n for i, n in enumerate(shape))
    return _tuple(n for i, n in enumerate(shape) if i not in dims)


def _check_nonempty(opname: str, shape, dims, all_dims: bool) -> None:
    if all_dims and numel(shape) == 0:
        raise IndexOutOfRangeError(
            f"{opname}(): cannot be performed on an empty tensor (shape {_tuple(shape)}, 0 elements) "
            f"without a dim: the reduction has no identity; reduce along a dim of non-zero size with "
            f"dim=, or check that the tensor is non-empty")
    for d in dims:
        if shape[d] == 0:
            raise IndexOutOfRangeError(
                f"{opname}(): cannot be performed on a zero-size dim: dim {d} of the input of shape "
                f"{_tuple(shape)} has size 0, and the reduction has no identity; reduce along a dim "
                f"of non-zero size")


def _cache_key(dim):
    """A hashable key for a dim argument, or None when it should not be cached."""
    c = dim.__class__
    if dim is None or c is _int:
        return dim
    if (c is _tuple or c is _list) and _b.all(d.__class__ is _int for d in dim):
        return ("t",) + _tuple(dim)
    return None


_UNCACHED = object()


def _reduction_meta(opname: str, empty_means_all: bool = True):
    """The meta function of a dims-reduction: Spec(shape, dtype, extra=sorted dims), cached per call shape."""
    rule = DTYPE_RULE[opname]
    needs = opname in _NEEDS_ELEMENTS
    cache: dict = {}

    def meta(x, dim=None, keepdim=False, dtype=None):
        k = _cache_key(dim)
        key = _UNCACHED if (k is None and dim is not None) else (x._shape, x._dtype, k, keepdim, dtype)
        if key is not _UNCACHED:
            spec = cache.get(key)
            if spec is not None:
                return spec
        shape = x._shape
        dims = _norm_dims(opname, shape, dim, empty_means_all)
        if needs:
            _check_nonempty(opname, shape, dims, dim is None or (not dim and dim.__class__ is not _int))
        spec = Spec(_reduced_shape(shape, dims, bool(keepdim)), _result_dtype(opname, rule, x._dtype, dtype),
                    dims)
        if key is not _UNCACHED and len(cache) < 4096:
            cache[key] = spec
        return spec
    return meta


# -- prims: reductions over dims ---------------------------------------------------

def _reduce_adapter(op, kernel, backend):
    meta = op.meta

    def entry(x, dim=None, keepdim=False, dtype=None):
        spec = meta(x, dim, keepdim, dtype)
        return kernel(x, spec.extra, keepdim, spec.dtype)
    return entry


def _reduce_nodtype_adapter(op, kernel, backend):
    meta = op.meta

    def entry(x, dim=None, keepdim=False):
        return kernel(x, meta(x, dim, keepdim).extra, keepdim)
    return entry


_SUM_DOC = ("The {noun} of the elements over dims.\n"
            "Kernel: kernel(x, dims, keepdim, dtype) -> Tensor\n"
            "Operands: x is a tensor of any dtype and strides; dims a sorted tuple of non-negative dims, "
            "empty only for a 0-d x; keepdim a bool (keep reduced dims as size 1); dtype the result dtype "
            "core chose (bool and integers give int64 unless asked otherwise).\n"
            "Out: none; the kernel allocates and returns a new tensor.\n"
            "Result: dtype. Each value is converted to dtype as by a cast before it is {verb}; float16 and "
            "bfloat16 accumulate in float32 and round once.\n"
            "Edges: {empty} Integers wrap; NaN propagates.")

sum = defop("sum(Tensor self, int[]? dim=None, bool keepdim=False, *, ScalarType? dtype=None) -> Tensor",
            meta=_reduction_meta("sum"), prim=True, adapter=_reduce_adapter, family="reduction",
            doc=_SUM_DOC.format(noun="sum", verb="added", empty="An empty reduction is 0."))
prod = defop("prod(Tensor self, int[]? dim=None, bool keepdim=False, *, ScalarType? dtype=None) -> Tensor",
             meta=_reduction_meta("prod"), prim=True, adapter=_reduce_adapter, family="reduction",
             doc=_SUM_DOC.format(noun="product", verb="multiplied", empty="An empty reduction is 1."))

_MINMAX_DOC = ("The {what} of the elements over dims.\n"
               "Kernel: kernel(x, dims, keepdim) -> Tensor\n"
               "Operands: x is a tensor of any dtype and strides; dims a sorted tuple of non-negative dims, "
               "empty only for a 0-d x; keepdim a bool. Core has checked that every reduced dim is non-empty.\n"
               "Out: none; the kernel allocates and returns a new tensor.\n"
               "Result: x's dtype.\n"
               "Edges: NaN propagates (any NaN gives NaN); for bool, True is the larger; -0.0 and +0.0 tie.")
amax = defop("amax(Tensor self, int[]? dim=None, bool keepdim=False) -> Tensor",
             meta=_reduction_meta("amax"), prim=True, adapter=_reduce_nodtype_adapter, family="reduction",
             doc=_MINMAX_DOC.format(what="maximum"))
amin = defop("amin(Tensor self, int[]? dim=None, bool keepdim=False) -> Tensor",
             meta=_reduction_meta("amin"), prim=True, adapter=_reduce_nodtype_adapter, family="reduction",
             doc=_MINMAX_DOC.format(what="minimum"))

def _bool_reduce_adapter(op, kernel, backend):
    """all/any kernels return bool; a uint8 input gets its uint8 result (as PyTorch) by one cast here."""
    meta = op.meta

    def entry(x, dim=None, keepdim=False):
        spec = meta(x, dim, keepdim)
        out = kernel(x, spec.extra, keepdim)
        return out if spec.dtype is D.bool else out.to(spec.dtype)
    return entry


_BOOL_DOC = ("kernel(x, dims, keepdim) -> bool Tensor: whether {what} element along dims is nonzero (NaN "
             "counts as nonzero); dims is a sorted tuple of non-negative dims and may be empty (no "
             "reduction: x converted to bool). An empty reduction is {empty}. Core casts the result to uint8 "
             "for a uint8 x, as PyTorch.")
all = defop("all(Tensor self, int[]? dim=None, bool keepdim=False) -> Tensor",
            meta=_reduction_meta("all", empty_means_all=False), prim=True, adapter=_bool_reduce_adapter,
            family="reduction", doc=_BOOL_DOC.format(what="every", empty="True"))
any = defop("any(Tensor self, int[]? dim=None, bool keepdim=False) -> Tensor",
            meta=_reduction_meta("any", empty_means_all=False), prim=True, adapter=_bool_reduce_adapter,
            family="reduction", doc=_BOOL_DOC.format(what="some", empty="False"))


# -- prims: argmax / argmin ---------------------------------------------------------

def _arg_meta(opname: str):
    cache: dict = {}

    def meta(x, dim=None, keepdim=False):
        key = (x._shape, dim, keepdim) if dim is None or dim.__class__ is _int else None
        if key is not None:
            spec = cache.get(key)
            if spec is not None:
                return spec
        shape = x._shape
        nd = len(shape)
        if dim is None:
            _check_nonempty(opname, shape, (), True)
            out = (1,) * nd if keepdim else ()
            d = None
        else:
            d = wrap_dim(dim, nd, opname)
            if nd:
                _check_nonempty(opname, shape, (d,), False)
            out = _reduced_shape(shape, (d,) if nd else (), bool(keepdim))
        spec = Spec(out, D.int64, d)
        if key is not None and len(cache) < 4096:
            cache[key] = spec
        return spec
    return meta


def _arg_adapter(op, kernel, backend):
    meta = op.meta

    def entry(x, dim=None, keepdim=False):
        spec = meta(x, dim, keepdim)
        if not x._shape:  # a 0-d tensor: its one element, as a 1-element vector
            return kernel(x._view((1,), (1,)), 0, False)
        return kernel(x, spec.extra, keepdim)
    return entry


_ARG_DOC = ("kernel(x, dim, keepdim) -> int64 Tensor: the index of the first {what} along dim (a "
            "non-negative int), or in the flattened x when dim is None (keepdim then keeps every dim "
            "as size 1); a NaN counts as the {what}. x has at least one dimension and the reduced "
            "extent is non-empty.")
argmax = defop("argmax(Tensor self, int? dim=None, bool keepdim=False) -> Tensor", meta=_arg_meta("argmax"),
               prim=True, adapter=_arg_adapter, family="reduction", doc=_ARG_DOC.format(what="maximum"))
argmin = defop("argmin(Tensor self, int? dim=None, bool keepdim=False) -> Tensor", meta=_arg_meta("argmin"),
               prim=True, adapter=_arg_adapter, family="reduction", doc=_ARG_DOC.format(what="minimum"))


# -- prims: cumulative scans --------------------------------------------------------

def _scan_meta(opname: str):
    rule = DTYPE_RULE[opname]

    def meta(x, dim, dtype=None):
        d = wrap_dim(dim, len(x._shape), opname)
        return Spec(x._shape, _result_dtype(opname, rule, x._dtype, dtype), d)
    return meta


def _scan_adapter(op, kernel, backend):
    meta = op.meta

    def entry(x, dim, dtype=None):
        spec = meta(x, dim, dtype)
        if not x._shape:
            return kernel(x._view((1,), (1,)), 0, spec.dtype)._view((), ())
        return kernel(x, spec.extra, spec.dtype)
    return entry


_SCAN_DOC = ("kernel(x, dim, dtype) -> Tensor of x's shape: the running {what} along dim (a non-negative "
             "int; x has at least one dimension), each value converted to dtype as by a cast; float16 "
             "and bfloat16 accumulate in float32 and each output is rounded once.")
cumsum = defop("cumsum(Tensor self, int dim, *, ScalarType? dtype=None) -> Tensor", meta=_scan_meta("cumsum"),
               prim=True, adapter=_scan_adapter, family="reduction", doc=_SCAN_DOC.format(what="sum"))
cumprod = defop("cumprod(Tensor self, int dim, *, ScalarType? dtype=None) -> Tensor",
                meta=_scan_meta("cumprod"), prim=True, adapter=_scan_adapter, family="reduction",
                doc=_SCAN_DOC.format(what="product"))


# -- composites: mean, var, std -----------------------------------------------------

def _count(shape, dims) -> int:
    n = 1
    for d in dims:
        n *= shape[d]
    return n


_mean_meta = _reduction_meta("mean")


def _mean(x, dim=None, keepdim=False, dtype=None):
    spec = _mean_meta(x, dim, keepdim, dtype)
    dims, dt = spec.extra, spec.dtype
    if dt in _HALF:
        s = sum(x if x._dtype is dt else x.to(dt), dims, keepdim, dtype=D.float32)
        return true_divide(s, _count(x._shape, dims)).to(dt)
    return true_divide(sum(x, dims, keepdim, dtype=dt), _count(x._shape, dims))


mean = defop("mean(Tensor self, int[]? dim=None, bool keepdim=False, *, ScalarType? dtype=None) -> Tensor",
             meta=_mean_meta, decomposition=_mean, family="reduction",
             doc="sum / count over dims; floating inputs only, unless dtype= names a floating dtype.")


_bool_t = _b.bool


def _check_correction(opname, correction):
    if correction is None:
        return 1
    if isinstance(correction, Tensor):
        correction = correction.item()
    if isinstance(correction, (_bool_t, _int, _float)):
        return correction
    raise ArgumentTypeError(f"{opname}(): correction must be a number, got {type(correction).__name__}: {correction!r}")


_VAR_BASE = {n: _reduction_meta(n) for n in ("var", "std", "var_mean", "std_mean")}


def _var_meta_for(opname: str, outputs: int = 1):
    base = _VAR_BASE[opname]

    def meta(x, dim=None, correction=None, keepdim=False):
        _check_correction(opname, correction)
        spec = base(x, dim, keepdim)
        return spec if outputs == 1 else (spec, Spec(spec.shape, spec.dtype, spec.extra))
    return meta


def _var_core(opname, x, dim, correction, keepdim, scaled=False):
    """(variance, mean), computed in float32 for float16/bfloat16 inputs and rounded once. ``scaled``
    (std): the variance of the deviations divided by their largest magnitude, times that scale when
    the square root is taken, so that a std in range stays finite though the variance overflows
    (as PyTorch's: std([3.4e38, 1, 2]) is 1.96e38 in float32)."""
    c = _check_correction(opname, correction)
    spec = _VAR_BASE[opname](x, dim, keepdim)
    dims, dt = spec.extra, spec.dtype
    xc = x.to(D.float32) if dt in _HALF else x
    m = _mean(xc, dims, True)
    d = sub(xc, m)
    scale = None
    if scaled and numel(x._shape) > 0:
        scale = amax(abs(d), dims, True)
        scale = where(logical_and(isfinite(scale), gt(scale, 0)), scale, 1.0)  # NaN, inf and 0 stay as they are
        d = true_divide(d, scale)
    ss = sum(mul(d, d), dims, keepdim)
    v = true_divide(ss, _b.max(0, _count(x._shape, dims) - c))
    if not keepdim:
        m = squeeze(m, dims)
        scale = squeeze(scale, dims) if scale is not None else None
    return v, m, dt, scale


def _sqrt_scaled(v, scale):
    return sqrt(v) if scale is None else mul(sqrt(v), scale)


def _finish(t, dt):
    return t.to(dt) if t._dtype is not dt else t


def _var(x, dim=None, correction=None, keepdim=False):
    v, _, dt, _ = _var_core("var", x, dim, correction, keepdim)
    return _finish(v, dt)


def _std(x, dim=None, correction=None, keepdim=False):
    v, _, dt, scale = _var_core("std", x, dim, correction, keepdim, scaled=True)
    return _finish(_sqrt_scaled(v, scale), dt)


def _var_mean(x, dim=None, correction=None, keepdim=False):
    v, m, dt, _ = _var_core("var_mean", x, dim, correction, keepdim)
    return _finish(v, dt), _finish(m, dt)


def _std_mean(x, dim=None, correction=None, keepdim=False):
    v, m, dt, scale = _var_core("std_mean", x, dim, correction, keepdim, scaled=True)
    return _finish(_sqrt_scaled(v, scale), dt), _finish(m, dt)


_VAR_DOC = ("sum((x - mean)^2) / max(0, N - correction) over dims (N elements each); correction "
            "defaults to 1 (Bessel's correction); floating inputs only.")
var = defop("var(Tensor self, int[]? dim=None, *, Scalar? correction=None, bool keepdim=False) -> Tensor",
            meta=_var_meta_for("var"), decomposition=_var, family="reduction", doc=_VAR_DOC)
std = defop("std(Tensor self, int[]? dim=None, *, Scalar? correction=None, bool keepdim=False) -> Tensor",
            meta=_var_meta_for("std"), decomposition=_std, family="reduction", doc="sqrt(var). " + _VAR_DOC)
var_mean = defop("var_mean(Tensor self, int[]? dim=None, *, Scalar? correction=None, bool keepdim=False) "
                 "-> (Tensor, Tensor)", meta=_var_meta_for("var_mean", 2), decomposition=_var_mean,
                 family="reduction", doc="(var, mean), computed together.")
std_mean = defop("std_mean(Tensor self, int[]? dim=None, *, Scalar? correction=None, bool keepdim=False) "
                 "-> (Tensor, Tensor)", meta=_var_meta_for("std_mean", 2), decomposition=_std_mean,
                 family="reduction", doc="(std, mean), computed together.")


# -- composites: logsumexp, softmax, log_softmax ------------------------------------

_lse_base = _reduction_meta("logsumexp")


def _logsumexp_meta(x, dim, keepdim=False):
    return _lse_base(x, dim, keepdim)


def _logsumexp(x, dim, keepdim=False):
    spec = _lse_base(x, dim, keepdim)
    dims, dt = spec.extra, spec.dtype
    xc = x.to(D.float32 if dt in _HALF else dt)
    if _count(x._shape, dims) == 0 or numel(x._shape) == 0:
        r = log(sum(exp(xc), dims, keepdim))  # log(0) = -inf, or an empty result
        return _finish(r, dt)
    m = amax(xc, dims, True)
    # An infinite maximum would give inf - inf = nan: shift by 0 there instead.
    m = where(isinf(m), 0.0, m)
    r = log(sum(exp(sub(xc, m)), dims, keepdim))
    return _finish(add(r, m if keepdim else squeeze(m, dims)), dt)


logsumexp = defop("logsumexp(Tensor self, int[] dim, bool keepdim=False) -> Tensor", meta=_logsumexp_meta,
                  decomposition=_logsumexp, family="reduction",
                  doc="log(sum(exp(x))) over dims, computed stably by subtracting the maximum; integer "
                      "inputs give the default float dtype.")


def _softmax_meta_for(opname):
    rule = DTYPE_RULE[opname]

    def meta(x, dim, dtype=None):
        d = wrap_dim(dim, len(x._shape), opname)
        return Spec(x._shape, _result_dtype(opname, rule, x._dtype, dtype), d)
    return meta


_softmax_meta = _softmax_meta_for("softmax")
_log_softmax_meta = _softmax_meta_for("log_softmax")


def _softmax_prep(x, spec):
    dt = spec.dtype
    ct = D.float32 if dt in _HALF else dt
    if x._dtype is not dt:
        x = x.to(dt)  # dtype= converts the input first, as in PyTorch
    return x.to(ct) if ct is not dt else x


def _softmax(x, dim, dtype=None):
    spec = _softmax_meta(x, dim, dtype)
    xc = _softmax_prep(x, spec)
    if numel(x._shape) == 0:
        return xc.clone().to(spec.dtype)
    d = spec.extra
    e = exp(sub(xc, amax(xc, d, True)))
    return _finish(true_divide(e, sum(e, d, True)), spec.dtype)


def _log_softmax(x, dim, dtype=None):
    spec = _log_softmax_meta(x, dim, dtype)
    xc = _softmax_prep(x, spec)
    if numel(x._shape) == 0:
        return xc.clone().to(spec.dtype)
    d = spec.extra
    s = sub(xc, amax(xc, d, True))
    return _finish(sub(s, log(sum(exp(s), d, True))), spec.dtype)


softmax = defop("softmax(Tensor self, int dim, ScalarType? dtype=None) -> Tensor", meta=_softmax_meta,
                decomposition=_softmax, family="reduction",
                doc="exp(x - max) / sum(exp(x - max)) along dim; dtype= converts the input first.")
log_softmax = defop("log_softmax(Tensor self, int dim, ScalarType? dtype=None) -> Tensor",
                    meta=_log_softmax_meta, decomposition=_log_softmax, family="reduction",
                    doc="(x - max) - log(sum(exp(x - max))) along dim; dtype= converts the input first.")


# -- composites: max and min --------------------------------------------------------

#: The (values, indices) result of max/min along a dim, as torch.return_types.max.
max_result = namedtuple("max", ["values", "indices"])
min_result = namedtuple("min", ["values", "indices"])


def _full_meta_for(opname):
    def meta(x):
        _check_nonempty(opname, x._shape, (), True)
        return Spec((), x._dtype, _tuple(range(len(x._shape))))
    return meta


_max_meta, _min_meta = _full_meta_for("max"), _full_meta_for("min")


def _max_full(x):
    _max_meta(x)
    return amax(x)


def _min_full(x):
    _min_meta(x)
    return amin(x)


max = defop("max(Tensor self) -> Tensor", meta=_max_meta, decomposition=_max_full, family="reduction",
            doc="The largest element (NaN if any element is NaN); an error for an empty tensor.")
min = defop("min(Tensor self) -> Tensor", meta=_min_meta, decomposition=_min_full, family="reduction",
            doc="The smallest element (NaN if any element is NaN); an error for an empty tensor.")


def _dim_meta_for(opname):
    arg = _arg_meta(opname)

    def meta(x, dim, keepdim=False):
        spec = arg(x, dim, keepdim)
        return Spec(spec.shape, x._dtype, spec.extra), spec
    return meta


_max_dim_meta, _min_dim_meta = _dim_meta_for("max"), _dim_meta_for("min")


def _max_dim(x, dim, keepdim=False):
    _max_dim_meta(x, dim, keepdim)
    return max_result(amax(x, dim, keepdim), argmax(x, dim, keepdim))


def _min_dim(x, dim, keepdim=False):
    _min_dim_meta(x, dim, keepdim)
    return min_result(amin(x, dim, keepdim), argmin(x, dim, keepdim))


def _dim_adapter(result):
    def adapter(op, kernel, backend):
        meta = op.meta

        def entry(x, dim, keepdim=False):
            spec = meta(x, dim, keepdim)[0]
            if not x._shape:
                v, i = kernel(x._view((1,), (1,)), 0, False)
            else:
                v, i = kernel(x, spec.extra, keepdim)
            return result(v, i)
        return entry
    return adapter


_DIM_DOC = ("kernel(x, dim, keepdim) -> (values, indices): the {what} along dim (a non-negative int; x "
            "has at least one dimension and dim has non-zero size) and the int64 index of its first "
            "occurrence; a NaN counts as the {what}. Without a kernel: amax/amin and argmax/argmin.")
max_dim = defop("max_dim(Tensor self, int dim, bool keepdim=False) -> (Tensor, Tensor)", meta=_max_dim_meta,
                decomposition=_max_dim, adapter=_dim_adapter(max_result), family="reduction",
                doc=_DIM_DOC.format(what="maximum"))
min_dim = defop("min_dim(Tensor self, int dim, bool keepdim=False) -> (Tensor, Tensor)", meta=_min_dim_meta,
                decomposition=_min_dim, adapter=_dim_adapter(min_result), family="reduction",
                doc=_DIM_DOC.format(what="minimum"))


# -- Python-level forms: max/min overloads, unbiased= ---------------------------------

def _minmax_public(name, full, along, binary, result):
    def fn(input, dim=None, keepdim=False, *, other=None):
        if other is not None or isinstance(dim, Tensor):
            other = dim if other is None else other
            if (dim is not None and other is not dim) or keepdim:
                raise ArgumentTypeError(f"{name}(input, other) takes two tensors and no dim or keepdim")
            return binary(input, other)
        if dim is None:
            if keepdim:
                raise ArgumentTypeError(f"{name}(): keepdim=True needs a dim; use {name}(input, dim, keepdim=True) "
                                        f"or a{name}(input, keepdim=True)")
            return full(input)
        return result(*along(input, dim, keepdim))
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (f"{name}(input) -> the {name}imum element; {name}(input, dim, keepdim=False) -> "
                  f"({name}imum values, indices) along dim; {name}(input, other) -> elementwise {name}imum.")
    return fn


_max_public = _minmax_public("max", max, max_dim, maximum, max_result)
_min_public = _minmax_public("min", min, min_dim, minimum, min_result)


def _correction_of(name, unbiased, correction):
    if unbiased is None:
        return correction
    if correction is not None:
        raise ArgumentTypeError(f"{name}(): pass either unbiased= or correction=, not both "
                                f"(got unbiased={unbiased!r}, correction={correction!r})")
    if not isinstance(unbiased, _bool_t) and type(unbiased).__name__ != "bool_":
        raise ArgumentTypeError(f"{name}(): unbiased must be a bool, got {type(unbiased).__name__}: {unbiased!r}; "
                                f"use correction= for other values")
    return 1 if unbiased else 0


def _var_public(name, op):
    def fn(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
        if isinstance(dim, _bool_t):  # var(x, True): the legacy unbiased-only form
            if unbiased is not None:
                raise ArgumentTypeError(f"{name}(): got unbiased twice ({dim!r} and {unbiased!r})")
            dim, unbiased = None, dim
        return op(input, dim, correction=_correction_of(name, unbiased, correction), keepdim=keepdim)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = op.__doc__
    return fn


FUNCTIONS = {
    "max": _max_public, "min": _min_public,
    "var": _var_public("var", var), "std": _var_public("std", std),
    "var_mean": _var_public("var_mean", var_mean), "std_mean": _var_public("std_mean", std_mean),
}
METHODS = dict(FUNCTIONS)
