"""Operators: the rest of PyTorch's everyday tensor math, as composites over existing operators.

Elementwise (xlogy, logit, sinc, deg2rad, rad2deg, heaviside, gcd, lcm, float_power, fmax,
fmin), reductions (nansum, nanmean, trace, diff, dist, cosine_similarity, pdist, renorm, cov,
corrcoef), products (addmv, addr, baddbmm, addbmm) and indexing (take, take_along_dim,
scatter_reduce, index_copy, index_fill, masked_scatter) are registered operators: every
backend runs them through these decompositions, and autograd follows the pieces.
The shape helpers and aliases (atleast_2d, hstack, tensor_split, moveaxis, arccos, ...) are
plain functions in breadth_api.py.
"""

from __future__ import annotations

import math

from .. import dtypes as D
from .._tensor import Tensor
from ..autograd.registry import nondifferentiable
from ..dispatch import defop
from ..errors import DTypeError, IndexOutOfRangeError, InvalidArgumentError, ShapeError
from ..runtime.copies import read_for_check
from . import creation as C
from . import elementwise as E
from . import indexing as I
from . import linalg as L
from . import reduction as R
from . import shape as S
from . import views as V
from ._helpers import Spec, _float_max, broadcast_shapes, check_opmath_scalars, numel, wrap_dim, wrap_dims


def _shape(x):
    return x._shape if isinstance(x, Tensor) else ()


def _full(v, like):
    return C.full((), v, dtype=like._dtype, device=like._device)


def _float_of(*xs):
    """The dtype a float-valued elementwise operator computes in: the promoted type, or the default float."""
    dt = D.result_type(*xs)
    return dt if dt.is_floating_point or dt.is_complex else D.get_default_dtype()


def _as(x, dt):
    return x.to(dt) if isinstance(x, Tensor) and x._dtype is not dt else x


def _device_of(*xs):
    return next(x._device for x in xs if isinstance(x, Tensor))


# -- elementwise ----------------------------------------------------------------------------------

def _float_binary_meta(a, b):
    return Spec(broadcast_shapes(_shape(a), _shape(b)), _float_of(a, b))


def _xlogy(x, y):
    spec = _float_binary_meta(x, y)
    x, y = _as(x, spec.dtype), _as(y, spec.dtype)
    if not isinstance(x, Tensor):
        x = C.full((), x, dtype=spec.dtype, device=y._device)
    if not isinstance(y, Tensor):
        y = C.full((), y, dtype=spec.dtype, device=x._device)
    zero = E.logical_and(E.eq(x, 0), E.logical_not(E.isnan(y)))
    safe_y = E.where(zero, _full(1.0, y), y)
    return E.where(zero, _full(0.0, y), E.mul(x, E.log(safe_y)))


xlogy = defop("xlogy(Tensor self, Tensor other) -> Tensor", meta=_float_binary_meta, decomposition=_xlogy,
              family="breadth", doc="self * log(other), 0 where self is 0 (unless other is NaN).")


def _float_unary_meta(x, *rest):
    return Spec(x._shape, _float_of(x))


def _logit(x, eps=None):
    x = _as(x, _float_of(x))
    if eps is not None:
        x = E.clamp(x, eps, 1.0 - eps)
    return E.log(E.true_divide(x, E.sub(_full(1.0, x), x)))


logit = defop("logit(Tensor self, float? eps=None) -> Tensor", meta=_float_unary_meta, decomposition=_logit,
              family="breadth", doc="log(p / (1 - p)), with p clamped to [eps, 1 - eps] when eps is given.")


def _sinc(x):
    x = _as(x, _float_of(x))
    zero = E.eq(x, 0)
    px = E.mul(E.where(zero, _full(1.0, x), x), math.pi)
    return E.where(zero, _full(1.0, x), E.true_divide(E.sin(px), px))


sinc = defop("sinc(Tensor self) -> Tensor", meta=_float_unary_meta, decomposition=_sinc, family="breadth",
             doc="sin(pi x) / (pi x), and 1 at 0.")


def _deg2rad(x):
    return E.mul(_as(x, _float_of(x)), math.pi / 180.0)


def _rad2deg(x):
    return E.mul(_as(x, _float_of(x)), 180.0 / math.pi)


deg2rad = defop("deg2rad(Tensor self) -> Tensor", meta=_float_unary_meta, decomposition=_deg2rad,
                family="breadth", doc="Degrees to radians (integers compute in the default float dtype).")
rad2deg = defop("rad2deg(Tensor self) -> Tensor", meta=_float_unary_meta, decomposition=_rad2deg,
                family="breadth", doc="Radians to degrees (integers compute in the default float dtype).")


def _heaviside_meta(x, values):
    if x._dtype is not values._dtype:
        raise DTypeError(f"heaviside(): input and values must have the same dtype, got {x._dtype.name} and "
                         f"{values._dtype.name}; convert one with .to()")
    if x._dtype.is_complex:
        raise DTypeError("heaviside(): complex inputs are not supported")
    return Spec(broadcast_shapes(x._shape, values._shape), x._dtype)


def _heaviside(x, values):
    _heaviside_meta(x, values)
    if x._dtype is D.bool:
        return E.logical_or(x, E.logical_and(E.logical_not(x), values)).expand(
            broadcast_shapes(x._shape, values._shape)).contiguous()
    one, zero = _full(1, x), _full(0, x)
    return E.where(E.eq(x, 0), values, E.where(E.gt(x, 0), one, zero))


heaviside = defop("heaviside(Tensor self, Tensor values) -> Tensor", meta=_heaviside_meta,
                  decomposition=_heaviside, family="breadth",
                  doc="0 where self < 0 (or NaN), values where self == 0, 1 where self > 0.")


def _integer_meta(opname):
    def meta(a, b):
        dt = D.result_type(a, b)
        if dt.category != 1:
            raise DTypeError(f"{opname}(): expects integer tensors, got {dt.name}; convert with .to(ember.int64)")
        return Spec(broadcast_shapes(_shape(a), _shape(b)), dt)
    return meta


#: Euclid's algorithm takes at most this many steps for operands of a dtype (consecutive Fibonacci
#: numbers are the worst case), so a fixed number of elementwise steps computes every gcd.
_EUCLID_STEPS = {1: 14, 2: 25, 4: 48, 8: 94}


def _gcd(a, b):
    spec = _integer_meta("gcd")(a, b)
    dev = _device_of(a, b)
    a = E.abs(_as(a, spec.dtype) if isinstance(a, Tensor) else C.full((), a, dtype=spec.dtype, device=dev))
    b = E.abs(_as(b, spec.dtype) if isinstance(b, Tensor) else C.full((), b, dtype=spec.dtype, device=dev))
    a, b = (V.expand(t, spec.shape) for t in (a, b))
    one, zero = _full(1, a), _full(0, a)
    for _ in range(_EUCLID_STEPS[spec.dtype.itemsize]):
        nz = E.ne(b, 0)
        r = E.where(nz, E.remainder(a, E.where(nz, b, one)), zero)
        a, b = E.where(nz, b, a), r
    return E.abs(a).contiguous()


def _lcm(a, b):
    spec = _integer_meta("lcm")(a, b)
    g = _gcd(a, b)
    dev = _device_of(a, b)
    a = _as(a, spec.dtype) if isinstance(a, Tensor) else C.full((), a, dtype=spec.dtype, device=dev)
    b = _as(b, spec.dtype) if isinstance(b, Tensor) else C.full((), b, dtype=spec.dtype, device=dev)
    nz = E.ne(g, 0)
    q = E.trunc_divide(a, E.where(nz, g, _full(1, g)))
    return E.where(nz, E.mul(E.abs(q), E.abs(b)), _full(0, g))   # |a / g| |b|, wrapping as PyTorch's


gcd = defop("gcd(Tensor self, Tensor other) -> Tensor", meta=_integer_meta("gcd"), decomposition=_gcd,
            family="breadth", doc="The greatest common divisor of integers (non-negative; gcd(0, 0) is 0).")
lcm = defop("lcm(Tensor self, Tensor other) -> Tensor", meta=_integer_meta("lcm"), decomposition=_lcm,
            family="breadth", doc="The least common multiple of integers (non-negative; 0 if either is 0).")


def _float_power_meta(x, exponent):
    cplx = any(isinstance(t, complex) or (isinstance(t, Tensor) and t._dtype.is_complex) for t in (x, exponent))
    return Spec(broadcast_shapes(_shape(x), _shape(exponent)), D.complex128 if cplx else D.float64)


def _float_power(x, exponent):
    dt = _float_power_meta(x, exponent).dtype
    return E.pow(_as(x, dt) if isinstance(x, Tensor) else C.full((), x, dtype=dt, device=exponent._device),
                 _as(exponent, dt))


float_power = defop("float_power(Tensor self, Tensor exponent) -> Tensor", meta=_float_power_meta,
                    decomposition=_float_power, family="breadth",
                    doc="pow computed in double precision: the result is float64 (complex128 for complex).")


def _fminmax_meta(a, b):
    dt = D.result_type(a, b)
    if dt.is_complex:
        raise DTypeError("fmax()/fmin(): complex inputs are not supported")
    return Spec(broadcast_shapes(_shape(a), _shape(b)), dt)


def _fmax(a, b):
    dt = _fminmax_meta(a, b).dtype
    a, b = _as(a, dt), _as(b, dt)
    return E.where(E.logical_or(E.ge(a, b), E.isnan(b)), a, b)


def _fmin(a, b):
    dt = _fminmax_meta(a, b).dtype
    a, b = _as(a, dt), _as(b, dt)
    return E.where(E.logical_or(E.le(a, b), E.isnan(b)), a, b)


fmax = defop("fmax(Tensor self, Tensor other) -> Tensor", meta=_fminmax_meta, decomposition=_fmax,
             family="breadth", doc="The larger of two elements, ignoring NaN (NaN only where both are).")
fmin = defop("fmin(Tensor self, Tensor other) -> Tensor", meta=_fminmax_meta, decomposition=_fmin,
             family="breadth", doc="The smaller of two elements, ignoring NaN (NaN only where both are).")


# -- reductions -----------------------------------------------------------------------------------

def _nansum_meta(x, dim=None, keepdim=False, dtype=None):
    if x._dtype.is_complex:
        raise DTypeError("nansum(): complex inputs are not supported")
    return _reduced_spec(x, dim, keepdim, dtype or (D.int64 if x._dtype.category <= 1 else x._dtype), "nansum")


def _reduced_spec(x, dim, keepdim, dtype, opname):
    if isinstance(dim, (list, tuple)) and len(dim) == 0:
        dim = None
    dims = wrap_dims(dim, x.ndim, opname)
    shape = tuple(1 if i in dims else s for i, s in enumerate(x._shape) if keepdim or i not in dims)
    return Spec(shape, dtype)


def _nan_zeroed(x):
    return E.where(E.isnan(x), _full(0, x), x) if x._dtype.is_floating_point else x


def _nansum(x, dim=None, keepdim=False, dtype=None):
    _nansum_meta(x, dim, keepdim, dtype)
    return R.sum(_nan_zeroed(x), dim, keepdim, dtype=dtype)


nansum = defop("nansum(Tensor self, int[]? dim=None, bool keepdim=False, *, ScalarType? dtype=None) -> Tensor",
               meta=_nansum_meta, decomposition=_nansum, family="breadth",
               doc="sum, counting NaN as 0.")


def _nanmean_meta(x, dim=None, keepdim=False, dtype=None):
    dt = dtype or x._dtype
    if not dt.is_floating_point:
        raise DTypeError(f"nanmean(): expected a floating point input (or dtype=), got {dt.name}")
    return _reduced_spec(x, dim, keepdim, dt, "nanmean")


def _nanmean(x, dim=None, keepdim=False, dtype=None):
    spec = _nanmean_meta(x, dim, keepdim, dtype)
    x = _as(x, spec.dtype)
    n = R.sum(E.logical_not(E.isnan(x)), dim, keepdim, dtype=spec.dtype)
    return E.true_divide(R.sum(_nan_zeroed(x), dim, keepdim), n)


nanmean = defop("nanmean(Tensor self, int[]? dim=None, bool keepdim=False, *, ScalarType? dtype=None) -> Tensor",
                meta=_nanmean_meta, decomposition=_nanmean, family="breadth",
                doc="mean over the elements that are not NaN (NaN where all are).")


def _trace_meta(x):
    if x.ndim != 2:
        raise ShapeError(f"trace(): expected a matrix (2-d tensor), got a {x.ndim}-d tensor of shape {tuple(x._shape)}")
    return Spec((), D.int64 if x._dtype.category <= 1 else x._dtype)


def _trace(x):
    _trace_meta(x)
    return R.sum(V.diagonal(x, 0, 0, 1))


trace = defop("trace(Tensor self) -> Tensor", meta=_trace_meta, decomposition=_trace, family="breadth",
              doc="The sum of a matrix's diagonal (integers sum in int64).")


def _diff_meta(x, n=1, dim=-1, prepend=None, append=None):
    if x.ndim == 0:
        raise ShapeError("diff(): expects a tensor with at least 1 dimension, got a 0-d tensor")
    if n < 0:
        raise InvalidArgumentError(f"diff(): order must be non-negative, got n={n}")
    d = wrap_dim(dim, x.ndim, "diff")
    size = x._shape[d]
    dt = x._dtype
    for extra in (prepend, append):
        if extra is not None:
            if extra.ndim != x.ndim or any(a != b for i, (a, b) in enumerate(zip(extra._shape, x._shape)) if i != d):
                raise ShapeError(f"diff(): prepend/append of shape {tuple(extra._shape)} must match the input's "
                                 f"shape {tuple(x._shape)} except in dim {d}")
            size += extra._shape[d]
            dt = D.promote_types(dt, extra._dtype)
    shape = list(x._shape)
    shape[d] = max(size - n, 0)
    return Spec(tuple(shape), dt, d)


def _diff(x, n=1, dim=-1, prepend=None, append=None):
    d = _diff_meta(x, n, dim, prepend, append).extra
    if n == 0:  # PyTorch: the input itself, prepend and append ignored
        return C.clone(x)
    parts = [t for t in (prepend, x, append) if t is not None]
    x = S.cat(parts, d) if len(parts) > 1 else x
    for _ in range(n):
        m = x._shape[d]
        if m == 0:
            break
        hi, lo = V.narrow(x, d, 1, m - 1), V.narrow(x, d, 0, m - 1)
        x = E.logical_xor(hi, lo) if x._dtype is D.bool else E.sub(hi, lo)
    return x.contiguous() if n else C.clone(x)


diff = defop("diff(Tensor self, int n=1, int dim=-1, Tensor? prepend=None, Tensor? append=None) -> Tensor",
             meta=_diff_meta, decomposition=_diff, family="breadth",
             doc="The n-th forward difference along dim, after prepending and appending (bool: xor).")


def _check_float(opname, *ts):
    for t in ts:
        if not (t._dtype.is_floating_point or t._dtype.is_complex):
            raise DTypeError(f"{opname}(): expected floating point tensors, got {t._dtype.name}; "
                             f"convert with .to(ember.float32)")


def _pnorm(x, p, dims, keepdim=False):
    from ..linalg import vector_norm
    return vector_norm(x, p, dims, keepdim)


def _dist_meta(x, other, p=2):
    _check_float("dist", x, other)
    broadcast_shapes(x._shape, other._shape)
    return Spec((), D.promote_types(x._dtype, other._dtype))


def _dist(x, other, p=2):
    dt = _dist_meta(x, other, p).dtype
    return _pnorm(E.sub(_as(x, dt), _as(other, dt)), p, None)


dist = defop("dist(Tensor self, Tensor other, Scalar p=2) -> Tensor", meta=_dist_meta, decomposition=_dist,
             family="breadth", doc="The p-norm of self - other (broadcast), over all elements.")


def _cos_sim_meta(x1, x2, dim=1, eps=1e-8):
    _check_float("cosine_similarity", x1, x2)
    shape = broadcast_shapes(x1._shape, x2._shape)
    d = wrap_dim(dim, len(shape), "cosine_similarity")
    return Spec(shape[:d] + shape[d + 1:], D.promote_types(x1._dtype, x2._dtype), d)


def _cosine_similarity(x1, x2, dim=1, eps=1e-8):
    spec = _cos_sim_meta(x1, x2, dim, eps)
    d = spec.extra
    x1, x2 = _as(x1, spec.dtype), _as(x2, spec.dtype)
    shape = broadcast_shapes(x1._shape, x2._shape)
    x1, x2 = V.expand(x1, shape), V.expand(x2, shape)
    n1 = E.clamp(_pnorm(x1, 2, (d,), True), eps)
    n2 = E.clamp(_pnorm(x2, 2, (d,), True), eps)
    return R.sum(E.mul(E.true_divide(x1, n1), E.true_divide(x2, n2)), [d])


cosine_similarity = defop("cosine_similarity(Tensor x1, Tensor x2, int dim=1, float eps=1e-08) -> Tensor",
                          meta=_cos_sim_meta, decomposition=_cosine_similarity, family="breadth",
                          doc="x1 . x2 / (|x1| |x2|) along dim, each norm at least eps.")


def _pdist_meta(x, p=2.0):
    if x.ndim != 2:
        raise ShapeError(f"pdist(): expects a 2-d tensor (rows are points), got shape {tuple(x._shape)}")
    _check_float("pdist", x)
    if p < 0:
        raise InvalidArgumentError(f"pdist(): p must be non-negative, got {p}")
    n = x._shape[0]
    return Spec((n * (n - 1) // 2,), x._dtype)


def _pdist(x, p=2.0):
    from .grids import triu_indices
    from .tensor_more import cdist
    _pdist_meta(x, p)
    n = x._shape[0]
    d = cdist(x, x, p, "donot_use_mm_for_euclid_dist")
    i, j = triu_indices(n, n, 1, device=x._device)
    return d[i, j]


pdist = defop("pdist(Tensor self, float p=2.0) -> Tensor", meta=_pdist_meta, decomposition=_pdist,
              family="breadth", doc="The p-norm distances between each pair of rows i < j, in row-major order.")


def _renorm_meta(x, p, dim, maxnorm):
    _check_float("renorm", x)
    if p <= 0:
        raise InvalidArgumentError(f"renorm(): non-positive norm p={p} is not supported")
    if maxnorm < 0:
        raise InvalidArgumentError(f"renorm(): expected maxnorm to be >= 0, got {maxnorm}")
    if x.ndim <= 1:
        raise ShapeError(f"renorm(): input needs at least 2 dimensions, got {x.ndim}")
    return Spec(x._shape, x._dtype, wrap_dim(dim, x.ndim, "renorm"))


def _renorm(x, p, dim, maxnorm):
    d = _renorm_meta(x, p, dim, maxnorm).extra
    others = tuple(i for i in range(x.ndim) if i != d)
    norm = _pnorm(x, p, others, True)
    # a maxnorm beyond the dtype's range is no limit at all: no slice's norm exceeds it (as PyTorch)
    top = _float_max(x._dtype)
    if maxnorm > top:
        return C.clone(x)
    factor = E.where(E.gt(norm, maxnorm), E.true_divide(_full(maxnorm, norm), E.add(norm, 1e-7)), _full(1.0, norm))
    return E.mul(x, factor)


renorm = defop("renorm(Tensor self, Scalar p, int dim, Scalar maxnorm) -> Tensor", meta=_renorm_meta,
               decomposition=_renorm, family="breadth",
               doc="Each slice along dim whose p-norm exceeds maxnorm, scaled down to norm maxnorm.")


def _cov_meta(x, correction=1, fweights=None, aweights=None):
    if x.ndim > 2:
        raise ShapeError(f"cov(): expected input to have two or fewer dimensions but got an input with {x.ndim}")
    n = x._shape[-1] if x.ndim else 1
    for name, w in (("fweights", fweights), ("aweights", aweights)):
        if w is None:
            continue
        if w.ndim > 1 or (w.ndim == 1 and w._shape[0] != n):
            raise ShapeError(f"cov(): expected {name} to be a 1-d tensor with {n} elements, got shape "
                             f"{tuple(w._shape)}")
        if name == "fweights" and w._dtype.category != 1:
            raise DTypeError(f"cov(): expected fweights to have an integral dtype, got {w._dtype.name}")
        if name == "aweights" and not w._dtype.is_floating_point:
            raise DTypeError(f"cov(): expected aweights to have a floating point dtype, got {w._dtype.name}")
    dt = x._dtype if x._dtype.is_floating_point or x._dtype.is_complex else D.get_default_dtype()
    if aweights is not None:
        dt = D.promote_types(dt, aweights._dtype)
    vars_ = x._shape[0] if x.ndim == 2 else 1
    return Spec(() if x.ndim < 2 else (vars_, vars_), dt)


def _cov(x, correction=1, fweights=None, aweights=None):
    spec = _cov_meta(x, correction, fweights, aweights)
    x = V.reshape(_as(x, spec.dtype), (1, -1)) if x.ndim < 2 else _as(x, spec.dtype)
    for name, wt in (("fweights", fweights), ("aweights", aweights)):
        if wt is not None and numel(wt._shape) and not read_for_check(R.all(E.ge(wt, 0))):  # NaN fails too
            raise InvalidArgumentError(f"cov(): {name} cannot be negative or NaN (its smallest entry is "
                                       f"{read_for_check(R.amin(wt))}); weights count observations")
    w = None
    if fweights is not None:
        w = _as(fweights, spec.dtype)
    if aweights is not None:
        w = _as(aweights, spec.dtype) if w is None else E.mul(w, _as(aweights, spec.dtype))
    if w is None:
        n = x._shape[1]
        wsum = C.full((), float(n), dtype=spec.dtype, device=x._device)
        avg = R.mean(x, [1])
    else:
        wsum = R.sum(w)
        avg = E.true_divide(R.sum(E.mul(x, w), [1]), wsum)
    if w is None or correction == 0:
        norm = E.sub(wsum, correction) if correction else wsum
    elif aweights is None:
        norm = E.sub(wsum, correction)
    else:
        norm = E.sub(wsum, E.true_divide(E.mul(R.sum(E.mul(w, _as(aweights, spec.dtype))), correction), wsum))
    norm = E.clamp(norm, 0)
    xc = E.sub(x, V.unsqueeze(avg, 1))
    xw = xc if w is None else E.mul(xc, w)
    c = E.true_divide(L.mm(xw, V.transpose(xc.conj() if xc._dtype.is_complex else xc, 0, 1)), norm)
    return V.reshape(c, spec.shape)


cov = defop("cov(Tensor self, *, int correction=1, Tensor? fweights=None, Tensor? aweights=None) -> Tensor",
            meta=_cov_meta, decomposition=_cov, family="breadth",
            doc="The covariance matrix of the variables in the rows of self (observations in columns).")


def _corrcoef_meta(x):
    return _cov_meta(x)


def _corrcoef(x):
    c = _cov(x)
    if c.ndim == 0:
        return E.true_divide(c, c)
    d = V.diagonal(c, 0, 0, 1)
    sd = E.sqrt(d)
    c = E.true_divide(E.true_divide(c, V.unsqueeze(sd, 1)), V.unsqueeze(sd, 0))
    return E.clamp(c, -1, 1) if not c._dtype.is_complex else c


corrcoef = defop("corrcoef(Tensor self) -> Tensor", meta=_corrcoef_meta, decomposition=_corrcoef,
                 family="breadth", doc="Pearson's correlation coefficients of the variables in the rows of self.")


# -- products with an added term --------------------------------------------------------------------

def _scaled_sum(x, prod, beta, alpha):
    if not prod._dtype.is_floating_point and not prod._dtype.is_complex:
        alpha, beta = int(alpha), int(beta)
    if alpha != 1:
        prod = E.mul(prod, alpha)
    if beta == 0:   # self is ignored: its NaNs and infs do not propagate, as in PyTorch
        return V.expand(prod, broadcast_shapes(x._shape, prod._shape)).contiguous()
    return E.add(prod, x if beta == 1 else E.mul(x, beta))


def _addsum_meta(opname, x, shape, dtype):
    if x._dtype is not dtype:
        raise DTypeError(f"{opname}(): self and the products' operands must have the same dtype, got "
                         f"{x._dtype.name} and {dtype.name}")
    try:
        ok = broadcast_shapes(x._shape, shape) == shape
    except ShapeError:
        ok = False
    if not ok:
        raise ShapeError(f"{opname}(): self of shape {tuple(x._shape)} cannot be broadcast to the product's shape "
                         f"{shape}")
    return Spec(shape, dtype)


def _check_same(opname, a, b):
    if a._dtype is not b._dtype:
        raise DTypeError(f"{opname}(): expected operands of one dtype, got {a._dtype.name} and {b._dtype.name}")


def _addmv_meta(x, mat, vec, beta=1, alpha=1):
    if mat.ndim != 2 or vec.ndim != 1:
        raise ShapeError(f"addmv(): expects a matrix and a vector, got shapes {tuple(mat._shape)} and "
                         f"{tuple(vec._shape)}")
    if mat._shape[1] != vec._shape[0]:
        raise ShapeError(f"addmv(): size mismatch, mat is {tuple(mat._shape)} and vec is {tuple(vec._shape)}")
    _check_same("addmv", mat, vec)
    spec = _addsum_meta("addmv", x, (mat._shape[0],), mat._dtype)
    check_opmath_scalars("addmv", spec.dtype, beta, alpha)
    return spec


def _addmv(x, mat, vec, beta=1, alpha=1):
    _addmv_meta(x, mat, vec, beta, alpha)
    return _scaled_sum(x, L.mv(mat, vec), beta, alpha)


def _addr_meta(x, vec1, vec2, beta=1, alpha=1):
    if vec1.ndim != 1 or vec2.ndim != 1:
        raise ShapeError(f"addr(): expects two vectors, got shapes {tuple(vec1._shape)} and {tuple(vec2._shape)}")
    _check_same("addr", vec1, vec2)
    if vec1._dtype is D.bool and (isinstance(alpha, float) or isinstance(beta, float)):
        raise DTypeError("addr(): boolean inputs take boolean (or integer) alpha and beta, not floats")
    spec = _addsum_meta("addr", x, (vec1._shape[0], vec2._shape[0]), vec1._dtype)
    check_opmath_scalars("addr", spec.dtype, beta, alpha)
    return spec


def _addr(x, vec1, vec2, beta=1, alpha=1):
    _addr_meta(x, vec1, vec2, beta, alpha)
    prod = L.outer(vec1, vec2)
    if prod._dtype is D.bool:
        p = E.logical_and(prod, bool(alpha))
        return p if not beta else E.logical_or(p, E.logical_and(x, True)).expand(p._shape).contiguous()
    return _scaled_sum(x, prod, beta, alpha)


def _bmm_meta(opname, b1, b2):
    if b1.ndim != 3 or b2.ndim != 3:
        raise ShapeError(f"{opname}(): batch1 and batch2 must be 3-d tensors, got shapes {tuple(b1._shape)} and "
                         f"{tuple(b2._shape)}")
    if b1._shape[0] != b2._shape[0] or b1._shape[2] != b2._shape[1]:
        raise ShapeError(f"{opname}(): incompatible batches {tuple(b1._shape)} @ {tuple(b2._shape)}")
    _check_same(opname, b1, b2)


def _baddbmm_meta(x, b1, b2, beta=1, alpha=1):
    _bmm_meta("baddbmm", b1, b2)
    spec = _addsum_meta("baddbmm", x, (b1._shape[0], b1._shape[1], b2._shape[2]), b1._dtype)
    check_opmath_scalars("baddbmm", spec.dtype, beta, alpha)
    return spec


def _baddbmm(x, b1, b2, beta=1, alpha=1):
    _baddbmm_meta(x, b1, b2, beta, alpha)
    return _scaled_sum(x, L.bmm(b1, b2), beta, alpha)


def _addbmm_meta(x, b1, b2, beta=1, alpha=1):
    _bmm_meta("addbmm", b1, b2)
    spec = _addsum_meta("addbmm", x, (b1._shape[1], b2._shape[2]), b1._dtype)
    check_opmath_scalars("addbmm", spec.dtype, beta, alpha)
    return spec


def _addbmm(x, b1, b2, beta=1, alpha=1):
    _addbmm_meta(x, b1, b2, beta, alpha)
    return _scaled_sum(x, R.sum(L.bmm(b1, b2), [0], dtype=b1._dtype), beta, alpha)


_SCALED = "*, Scalar beta=1, Scalar alpha=1) -> Tensor"
addmv = defop("addmv(Tensor self, Tensor mat, Tensor vec, " + _SCALED, meta=_addmv_meta, decomposition=_addmv,
              family="breadth", doc="beta * self + alpha * (mat @ vec); with beta == 0 self is not read.")
addr = defop("addr(Tensor self, Tensor vec1, Tensor vec2, " + _SCALED, meta=_addr_meta, decomposition=_addr,
             family="breadth", doc="beta * self + alpha * outer(vec1, vec2); with beta == 0 self is not read.")
baddbmm = defop("baddbmm(Tensor self, Tensor batch1, Tensor batch2, " + _SCALED, meta=_baddbmm_meta,
                decomposition=_baddbmm, family="breadth",
                doc="beta * self + alpha * (batch1 @ batch2), batched; with beta == 0 self is not read.")
addbmm = defop("addbmm(Tensor self, Tensor batch1, Tensor batch2, " + _SCALED, meta=_addbmm_meta,
               decomposition=_addbmm, family="breadth",
               doc="beta * self + alpha * the sum over the batch of batch1[i] @ batch2[i].")


# -- indexing ---------------------------------------------------------------------------------------

def _check_index(opname, index):
    if index._dtype is not D.int64 and index._dtype is not D.int32:
        raise DTypeError(f"{opname}(): expected an int64 index tensor, got {index._dtype.name}")


def _wrapped_index(opname, index, n, negative=True):
    """index with negative entries counted from the end; IndexOutOfRangeError (read back) when one is outside
    (``negative=False``: outside [0, n), as PyTorch's index_copy, which counts nothing from the end)."""
    if numel(index._shape):
        lo, hi = (read_for_check(t) for t in (R.amin(index), R.amax(index)))
        if lo < (-n if negative else 0) or hi >= n:
            bad = lo if lo < (-n if negative else 0) else hi
            raise IndexOutOfRangeError(f"{opname}(): index {bad} is out of bounds for a dimension of size {n}")
    return E.where(E.lt(index, 0), E.add(index, n), index)


def _take_meta(x, index):
    _check_index("take", index)
    return Spec(index._shape, x._dtype)


def _take(x, index):
    _take_meta(x, index)
    flat = V.reshape(x, (-1,))
    idx = _wrapped_index("take", index.to(D.int64), flat._shape[0])
    return V.reshape(I.index_select(flat, 0, V.reshape(idx, (-1,))), index._shape)


take = defop("take(Tensor self, Tensor index) -> Tensor", meta=_take_meta, decomposition=_take, family="breadth",
             doc="self read as a 1-d tensor, at index (negative entries count from the end); index's shape.")


def _tad_meta(x, indices, dim=None):
    _check_index("take_along_dim", indices)
    if dim is None:
        return Spec((numel(indices._shape),), x._dtype, None)
    if x.ndim != indices.ndim:
        raise ShapeError(f"take_along_dim(): input and indices should have the same number of dimensions, got "
                         f"{x.ndim} and {indices.ndim}")
    d = wrap_dim(dim, x.ndim, "take_along_dim")
    sx = list(x._shape)
    si = list(indices._shape)
    sx[d] = si[d] = 1
    b = list(broadcast_shapes(tuple(sx), tuple(si)))
    b[d] = indices._shape[d]
    return Spec(tuple(b), x._dtype, d)


def _take_along_dim(x, indices, dim=None):
    spec = _tad_meta(x, indices, dim)
    d = spec.extra
    if d is None:
        return I.gather(V.reshape(x, (-1,)), 0, V.reshape(indices, (-1,)).to(D.int64))
    xs = list(spec.shape)
    xs[d] = x._shape[d]
    return I.gather(V.expand(x, tuple(xs)), d, V.expand(indices, spec.shape).to(D.int64))


take_along_dim = defop("take_along_dim(Tensor self, Tensor indices, int? dim=None) -> Tensor", meta=_tad_meta,
                       decomposition=_take_along_dim, family="breadth",
                       doc="gather along dim with input and indices broadcast in the other dims "
                           "(flattened when dim is None).")


_REDUCTIONS = ("sum", "prod", "mean", "amax", "amin")


#: The older names PyTorch still takes for amax and amin.
_REDUCE_ALIASES = {"max": "amax", "min": "amin"}


def _scatter_reduce_meta(x, dim, index, src, reduce, include_self=True):
    reduce = _REDUCE_ALIASES.get(reduce, reduce)
    if reduce not in _REDUCTIONS:
        raise InvalidArgumentError(f"scatter_reduce(): reduce must be one of {', '.join(_REDUCTIONS)}, got {reduce!r}")
    _check_index("scatter_reduce", index)
    if x._dtype is not src._dtype:
        raise DTypeError(f"scatter_reduce(): expected self and src to have the same dtype, got {x._dtype.name} "
                         f"and {src._dtype.name}")
    d = wrap_dim(dim, x.ndim, "scatter_reduce")
    if index.ndim != max(x.ndim, 1) or src.ndim != index.ndim:
        raise ShapeError(f"scatter_reduce(): index, src and self must have the same number of dimensions, got "
                         f"{index.ndim}, {src.ndim} and {x.ndim}")
    for i, n in enumerate(index._shape):
        if n > src._shape[i] or (i != d and n > x._shape[i]):
            raise ShapeError(f"scatter_reduce(): index {tuple(index._shape)} is larger than src "
                             f"{tuple(src._shape)} or self {tuple(x._shape)} in dim {i}")
    return Spec(x._shape, x._dtype, d)


def _scatter_reduce(x, dim, index, src, reduce, include_self=True):
    d = _scatter_reduce_meta(x, dim, index, src, reduce, include_self).extra
    reduce = _REDUCE_ALIASES.get(reduce, reduce)
    if x.ndim == 0:
        return V.reshape(_scatter_reduce(V.reshape(x, (1,)), 0, V.reshape(index, (1,)), V.reshape(src, (1,)),
                                         reduce, include_self), ())
    M = x._shape[d]
    idx = _wrapped_index("scatter_reduce", index.to(D.int64), M, negative=False)  # as PyTorch: no negative index
    region = list(index._shape)
    region[d] = M
    part = x
    for i, n in enumerate(region):
        if n != x._shape[i]:
            part = V.narrow(part, i, 0, n)
    s = src
    for i, n in enumerate(index._shape):
        if n != src._shape[i]:
            s = V.narrow(s, i, 0, n)
    # move dim last: idx/s (..., K), part (..., M); one (..., K, M) mask of where each element lands
    idx, s, part_l = V.movedim(idx, d, -1), V.movedim(s, d, -1), V.movedim(part, d, -1)
    mask = E.eq(V.unsqueeze(idx, -1), C.arange(0, M, device=x._device))
    vals = V.unsqueeze(s, -1)
    count = R.sum(mask, [-2])
    hit = E.gt(count, 0)
    if reduce in ("sum", "mean"):
        red = R.sum(E.where(mask, vals, _full(0, s)), [-2], dtype=x._dtype)
        if include_self:
            red = E.add(red, part_l)
        if reduce == "mean":
            n = E.add(count, 1) if include_self else E.where(hit, count, _full(1, count))
            n = n.to(x._dtype)
            red = E.true_divide(red, n) if x._dtype.is_floating_point else E.floor_divide(red, n)
    elif reduce == "prod":
        red = R.prod(E.where(mask, vals, _full(1, s)), [-2], dtype=x._dtype)
        if include_self:
            red = E.mul(red, part_l)
    else:
        lo = D.bool if x._dtype is D.bool else None
        if x._dtype.is_floating_point:
            fill = float("-inf") if reduce == "amax" else float("inf")
        elif lo is not None:
            fill = reduce != "amax"
        else:
            fill = E._INT_RANGE[x._dtype][0 if reduce == "amax" else 1]
        sel = E.where(mask, vals, _full(fill, s))
        red = R.amax(sel, [-2]) if reduce == "amax" else R.amin(sel, [-2])
        if include_self:
            red = E.maximum(red, part_l) if reduce == "amax" else E.minimum(red, part_l)
    out = V.movedim(E.where(hit, red, part_l), -1, d)
    if out._shape == x._shape:
        return out.contiguous()
    from .nn import constant_pad_nd
    pad = []
    for i in range(x.ndim - 1, -1, -1):
        pad += [0, x._shape[i] - out._shape[i]]
    inside = constant_pad_nd(C.full(out._shape, True, dtype=D.bool, device=x._device), pad, False)
    return E.where(inside, constant_pad_nd(out, pad, False if x._dtype is D.bool else 0), x)


scatter_reduce = defop("scatter_reduce(Tensor self, int dim, Tensor index, Tensor src, str reduce, *, "
                       "bool include_self=True) -> Tensor", meta=_scatter_reduce_meta,
                       decomposition=_scatter_reduce, family="breadth",
                       doc="self with src's elements reduced (sum, prod, mean, amax, amin) into the places index "
                           "names along dim, self's own value included when include_self.")


def _index_copy_meta(x, dim, index, source):
    _check_index("index_copy", index)
    if index.ndim > 1:
        raise ShapeError(f"index_copy(): index must be 0-d or 1-d, got {index.ndim}-d")
    if x._dtype is not source._dtype:
        raise DTypeError(f"index_copy(): self and source must have the same dtype, got {x._dtype.name} and "
                         f"{source._dtype.name}")
    d = wrap_dim(dim, x.ndim, "index_copy")
    k = numel(index._shape)
    want = list(x._shape)
    if want:
        want[d] = k
    if tuple(source._shape) != tuple(want) and not (x.ndim == 0 and numel(source._shape) == 1):
        raise IndexOutOfRangeError(f"index_copy(): source of shape {tuple(source._shape)} does not match self "
                         f"{tuple(x._shape)} with dim {d} of size {k} (the index's length)")
    return Spec(x._shape, x._dtype, d)


def _index_copy(x, dim, index, source):
    d = _index_copy_meta(x, dim, index, source).extra
    if x.ndim == 0:
        return C.clone(V.reshape(source, ()))
    idx = _wrapped_index("index_copy", V.reshape(index, (-1,)).to(D.int64), x._shape[d], negative=False)
    shape = [1] * x.ndim
    shape[d] = idx._shape[0]
    return I.scatter(x, d, V.expand(V.reshape(idx, tuple(shape)), source._shape).contiguous(), source)


index_copy = defop("index_copy(Tensor self, int dim, Tensor index, Tensor source) -> Tensor",
                   meta=_index_copy_meta, decomposition=_index_copy, family="breadth",
                   doc="self with the slices along dim that index names replaced by source's slices, in order.")


def _index_fill_meta(x, dim, index, value):
    _check_index("index_fill", index)
    if index.ndim > 1:
        raise ShapeError(f"index_fill(): index must be 0-d or 1-d, got {index.ndim}-d")
    if isinstance(value, Tensor) and value.ndim != 0:
        raise ShapeError(f"index_fill(): value must be a number or a 0-d tensor, got a {value.ndim}-d tensor")
    return Spec(x._shape, x._dtype, wrap_dim(dim, x.ndim, "index_fill"))


def _index_fill(x, dim, index, value):
    d = _index_fill_meta(x, dim, index, value).extra
    M = x._shape[d] if x.ndim else 1
    idx = _wrapped_index("index_fill", V.reshape(index, (-1,)).to(D.int64), M)
    hit = R.any(E.eq(V.unsqueeze(C.arange(0, M, device=x._device), 1), V.unsqueeze(idx, 0)), [1])
    shape = [1] * x.ndim
    if x.ndim:
        shape[d] = M
    hit = V.reshape(hit, tuple(shape))
    v = value.to(x._dtype) if isinstance(value, Tensor) else C.full((), value, dtype=x._dtype, device=x._device)
    return E.where(hit, v, x)


index_fill = defop("index_fill(Tensor self, int dim, Tensor index, Tensor value) -> Tensor",
                   meta=_index_fill_meta, decomposition=_index_fill, family="breadth",
                   doc="self with the slices along dim that index names filled with value.")


def _masked_scatter_meta(x, mask, source):
    if mask._dtype is not D.bool:
        raise DTypeError(f"masked_scatter(): expected a bool mask, got {mask._dtype.name}")
    if x._dtype is not source._dtype:
        raise DTypeError(f"masked_scatter(): self and source must have the same dtype, got {x._dtype.name} and "
                         f"{source._dtype.name}")
    return Spec(broadcast_shapes(x._shape, mask._shape), x._dtype)


def _masked_scatter(x, mask, source):
    spec = _masked_scatter_meta(x, mask, source)
    m = V.reshape(V.expand(mask, spec.shape), (-1,))
    flat_src = V.reshape(source, (-1,))
    n = flat_src._shape[0]
    pos = E.sub(R.cumsum(m, 0), 1)
    if numel(spec.shape):
        need = read_for_check(R.sum(m))
        if need > n:
            raise ShapeError(f"masked_scatter(): the mask has {need} True elements but source has only {n} "
                             f"elements; source needs at least as many elements as the mask has True ones")
    if n == 0:
        return V.expand(x, spec.shape).contiguous()
    taken = I.index_select(flat_src, 0, E.clamp(pos, 0, n - 1))
    out = E.where(m, taken, V.reshape(V.expand(x, spec.shape), (-1,)))
    return V.reshape(out, spec.shape)


masked_scatter = defop("masked_scatter(Tensor self, Tensor mask, Tensor source) -> Tensor",
                       meta=_masked_scatter_meta, decomposition=_masked_scatter, family="breadth",
                       doc="self with the places where mask is True filled, in row-major order, from "
                           "source's first elements.")


nondifferentiable("heaviside", "gcd", "lcm")   # as in PyTorch: step functions and integer results
