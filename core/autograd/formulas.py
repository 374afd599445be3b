"""Derivative formulas of the core operator families, written with Ember operators.

Because the formulas are Ember operations, running them with grad mode on
records them too: that is what double backward and Hessian-vector products
use. Composites not listed here (mean, var, softmax, clamp, lerp, ...) get
their gradients from their decompositions.
"""

from __future__ import annotations

import math

from .. import dtypes as D
from .._tensor import Tensor
from ..ops import creation as C
from ..ops import elementwise as E
from ..ops import linalg as L
from ..ops import reduction as R
from ..ops import views as V
from ..ops import shape as S
from ..ops import indexing as I
from ..ops import sorting as So
from ..ops._helpers import wrap_dim, wrap_dims
from .graph import TensorInfo
from .registry import derivative


def _zeros(info, dtype=None):
    return C.full(info._shape, 0, dtype=dtype or info._dtype, device=info._device)


def _is_t(x):
    """Was this argument a tensor (saved, or kept as a shape-only stand-in)?"""
    return isinstance(x, (Tensor, TensorInfo))


def _cj(x):
    """The conjugate of a complex operand (PyTorch's gradients of a real loss conjugate the other
    factor); real tensors and numbers unchanged."""
    if x.__class__ is complex:
        return x.conjugate()
    if isinstance(x, Tensor) and x._dtype.is_complex:
        from ..ops.complex import conj
        return conj(x)
    return x


def _abs_grad(g, x):
    if x._dtype.is_complex:
        from ..ops.complex import complex_abs_grad
        return complex_abs_grad(g, x)
    return g * E.sign(x)


# -- unary ------------------------------------------------------------------------------

_LN2, _LN10 = math.log(2.0), math.log(10.0)
_2_SQRTPI = 2.0 / math.sqrt(math.pi)
_SQRTPI_2 = math.sqrt(math.pi) / 2.0


def _unary(name, save, fn):
    derivative(name, save=save, elementwise=True)(fn)


_unary("neg", (), lambda g, x: E.neg(g))
_unary("abs", ("self",), _abs_grad)
_unary("square", ("self",), lambda g, x: g * (x * 2))
_unary("exp", ("result",), lambda g, x, result: g * _cj(result))
_unary("exp2", ("result",), lambda g, x, result: g * (result * _LN2))
_unary("expm1", ("result",), lambda g, x, result: g * (result + 1))
_unary("log", ("self",), lambda g, x: g / x)
_unary("log2", ("self",), lambda g, x: g / (x * _LN2))
_unary("log10", ("self",), lambda g, x: g / (x * _LN10))
_unary("log1p", ("self",), lambda g, x: g / (x + 1))
_unary("sqrt", ("result",), lambda g, x, result: g / (result * 2))
_unary("rsqrt", ("result",), lambda g, x, result: g * (result * result * result * -0.5))
_unary("sin", ("self",), lambda g, x: g * E.cos(x))
_unary("cos", ("self",), lambda g, x: g * E.neg(E.sin(x)))
_unary("tan", ("result",), lambda g, x, result: g * (result * result + 1))
_unary("asin", ("self",), lambda g, x: g * E.rsqrt(E.neg(x * x) + 1))
_unary("acos", ("self",), lambda g, x: g * E.neg(E.rsqrt(E.neg(x * x) + 1)))
_unary("atan", ("self",), lambda g, x: g / (x * x + 1))
_unary("sinh", ("self",), lambda g, x: g * E.cosh(x))
_unary("cosh", ("self",), lambda g, x: g * E.sinh(x))
_unary("tanh", ("result",), lambda g, x, result: g * (E.neg(result * result) + 1))
_unary("asinh", ("self",), lambda g, x: g * E.rsqrt(x * x + 1))
_unary("acosh", ("self",), lambda g, x: g * E.rsqrt(x * x - 1))
_unary("atanh", ("self",), lambda g, x: g / (E.neg(x * x) + 1))
_unary("sigmoid", ("result",), lambda g, x, result: g * (result * (E.neg(result) + 1)))
_unary("erf", ("self",), lambda g, x: g * (E.exp(E.neg(x * x)) * _2_SQRTPI))
_unary("erfc", ("self",), lambda g, x: g * (E.exp(E.neg(x * x)) * -_2_SQRTPI))
_unary("erfinv", ("result",), lambda g, x, result: g * (E.exp(result * result) * _SQRTPI_2))
_unary("reciprocal", ("result",), lambda g, x, result: g * E.neg(result * result))
_unary("frac", (), lambda g, x: g)
for _n in ("sign", "floor", "ceil", "round", "trunc"):   # piecewise constant: zero gradient, as in PyTorch
    _unary(_n, (), lambda g, x: E.mul(g, 0))


# -- binary -----------------------------------------------------------------------------

def _binary(name, save, fn):
    derivative(name, save=save, elementwise=True)(fn)


derivative("add", save=(), linear=("self", "other"))(lambda g, a, b: (g, g))
derivative("sub", save=(), linear=("self", "other"))(lambda g, a, b: (g, E.neg(g)))
def _has(x):
    """A value the formula may compute with: a saved tensor or a Python number (not a stand-in)."""
    return not isinstance(x, TensorInfo)


_MUL_SAVE = {"self": ("other",), "other": ("self",)}
_binary("mul", _MUL_SAVE, lambda g, a, b: (g * _cj(b) if _is_t(a) and _has(b) else None,
                                           g * _cj(a) if _is_t(b) and _has(a) else None))


def _div(g, a, b):
    ga = g / _cj(b) if _is_t(a) else None
    gb = E.neg(g) * _cj(a / (b * b)) if _is_t(b) and _has(a) else None
    return ga, gb


_binary("true_divide", {"self": ("other",), "other": ("self", "other")}, _div)
_binary("remainder", ("self", "other"),
        lambda g, a, b: (g, E.neg(g) * E.floor_divide(a, b) if _is_t(b) else None))
_binary("fmod", ("self", "other"),
        lambda g, a, b: (g, E.neg(g) * E.trunc(E.true_divide(a, b)) if _is_t(b) else None))


def _pow(g, a, b, result):
    ga = gb = None
    if _is_t(a):
        if _is_t(b):
            ga = g * b * E.pow(a, b - 1)
        elif b == 0:
            ga = E.mul(g, 0)
        else:
            ga = g * (E.pow(a, b - 1) * b)
    if _is_t(b):
        # d/db a^b = a^b log(a); where a == 0 and b >= 0 the limit is 0
        safe = E.where(E.eq(a, 0), 1.0, a) if _is_t(a) else a
        lg = E.log(safe) if _is_t(safe) else math.log(safe) if safe > 0 else float("nan")
        gb = g * result * lg
        if _is_t(a):
            gb = E.where(E.logical_and(E.eq(a, 0), E.ge(b, 0)), 0.0, gb)
    return ga, gb


_binary("pow", ("self", "other", "result"), _pow)


def _minmax(cmp):
    def fn(g, a, b):
        if not _is_t(b):
            return E.where(cmp(a, b), g, 0.0) + E.where(E.eq(a, b), g * 0.5, 0.0), None
        if not _is_t(a):
            return None, E.where(cmp(b, a), g, 0.0) + E.where(E.eq(a, b), g * 0.5, 0.0)
        half = E.where(E.eq(a, b), g * 0.5, 0.0)
        return E.where(cmp(a, b), g, 0.0) + half, E.where(cmp(b, a), g, 0.0) + half
    return fn


_binary("maximum", ("self", "other"), _minmax(E.gt))
_binary("minimum", ("self", "other"), _minmax(E.lt))


def _atan2(g, a, b):
    d = a * a + b * b
    return g * b / d, E.neg(g) * a / d


_binary("atan2", ("self", "other"), _atan2)
_binary("hypot", ("self", "other", "result"), lambda g, a, b, result: (g * a / result, g * b / result))
_binary("logaddexp", ("self", "other", "result"),
        lambda g, a, b, result: (g * E.exp(a - result), g * E.exp(b - result)))


def _copysign(g, a, b, result):
    ratio = E.where(E.eq(a, 0), 0.0, result / E.where(E.eq(a, 0), 1.0, a))
    return g * ratio, None


_binary("copysign", ("self", "other", "result"), _copysign)


def _where(g, cond, a, b):
    ga = E.where(cond, g, 0.0) if _is_t(a) else None
    gb = E.where(cond, 0.0, g) if _is_t(b) else None
    return None, ga, gb


def _where_jvp(tans, cond, a, b, result=None):
    _, ta, tb = tans
    if ta is None and tb is None:
        return None
    ta = ta if ta is not None else 0.0
    tb = tb if tb is not None else 0.0
    return E.where(cond, ta, tb)


derivative("where", save=("condition",), jvp=_where_jvp)(_where)


# -- copies -------------------------------------------------------------------------------

def _copy(g, dst, src, non_blocking=False):
    gs = g if src._device is g._device else g.to(src._device)
    return E.mul(g, 0), gs


def _copy_jvp(tans, dst, src, non_blocking=False, result=None):
    ts = tans[1]
    if ts is None:
        return None
    return ts.to(dst._device) if ts._device is not dst._device else ts


derivative("copy_", save=(), jvp=_copy_jvp)(_copy)


def _to_copy(g, x, dtype=None, device=None, non_blocking=False):
    return g.to(x._device) if g._device is not x._device else g


derivative("_to_copy", save=(), linear=("self",))(_to_copy)
derivative("clone", save=(), linear=("self",))(lambda g, x: g)
derivative("contiguous", save=(), linear=("self",))(lambda g, x: g)


def _fill(g, x, value):
    return E.mul(g, 0)


derivative("fill_", save=(), jvp=lambda tans, x, value, result=None: C.zeros_like(x))(_fill)


# -- reductions ---------------------------------------------------------------------------

def _expand_back(g, info, dims, keepdim):
    """A reduced gradient broadcast back over the reduced dims of the input."""
    if not keepdim and dims:
        for d in sorted(dims):
            g = V.unsqueeze(g, d)
    return V.expand(g, info._shape)


def _dims(x, dim):
    if not x.ndim:   # a 0-d input: dim 0 (or -1) names the tensor itself; nothing to broadcast back over
        return ()
    return wrap_dims(dim, x.ndim, "sum") if dim is not None else tuple(range(x.ndim))


def _sum(g, x, dim=None, keepdim=False, dtype=None):
    return _expand_back(g, x, _dims(x, dim), keepdim)


derivative("sum", save=(), linear=("self",))(_sum)


def _prod_others(x, dims):
    """The product of all other elements over dims, for each element (exact with zeros)."""
    nd = x.ndim
    if nd == 0:
        return C.ones_like(x)
    keep = [d for d in range(nd) if d not in dims]
    perm = keep + list(dims)
    xp = V.permute(x, perm)
    kshape = tuple(x._shape[d] for d in keep)
    n = 1
    for d in dims:
        n *= x._shape[d]
    flat = V.reshape(xp, kshape + (n,))
    last = len(kshape)
    one = C.full(kshape + (1,), 1, dtype=x._dtype, device=x._device)
    # exclusive products from the left and from the right
    left = R.cumprod(S.cat_([one, V.narrow(flat, last, 0, n - 1)], last), last) if n > 1 else one
    rflat = S.flip(flat, (last,))
    right = R.cumprod(S.cat_([one, V.narrow(rflat, last, 0, n - 1)], last), last) if n > 1 else one
    others = left * S.flip(right, (last,))
    out = V.reshape(others, tuple(x._shape[d] for d in perm))
    inv = [0] * nd
    for i, p in enumerate(perm):
        inv[p] = i
    return V.permute(out, inv)


def _prod(g, x, dim=None, keepdim=False, dtype=None):
    dims = _dims(x, dim)
    if x.numel() == 0:
        return _zeros(x)
    return _expand_back(g, x, dims, keepdim) * _prod_others(x, dims)


def _prod_jvp(tans, x, dim=None, keepdim=False, dtype=None, result=None):
    t = tans[0]
    dims = _dims(x, dim)
    return R.sum(t * _prod_others(x, dims), list(dims), keepdim, dtype=dtype)


derivative("prod", save=("self",), jvp=_prod_jvp)(_prod)


def _amaxmin(g, x, dim=None, keepdim=False, result=None):
    dims = _dims(x, dim)
    r = _expand_back(result, x, dims, keepdim)
    mask = E.eq(x, r).to(g._dtype)
    count = R.sum(mask, list(dims), True)
    return _expand_back(g, x, dims, keepdim) * mask / count


def _amaxmin_jvp(tans, x, dim=None, keepdim=False, result=None):
    t = tans[0]
    dims = _dims(x, dim)
    r = _expand_back(result, x, dims, keepdim)
    mask = E.eq(x, r).to(t._dtype)
    return R.sum(t * mask, list(dims), keepdim) / R.sum(mask, list(dims), keepdim)


derivative("amax", save=("self", "result"), jvp=_amaxmin_jvp)(_amaxmin)
derivative("amin", save=("self", "result"), jvp=_amaxmin_jvp)(_amaxmin)


def _select_dim(g, x, dim, keepdim=False, result=None):
    """max_dim / min_dim: the values' gradient goes to the one element each index selected (PyTorch's rule;
    amax and amin share it among ties)."""
    gv = g[0]
    if not x._shape:
        return gv
    d = wrap_dim(dim, x.ndim)
    idx = result[1]
    if not keepdim:
        gv, idx = V.unsqueeze(gv, d), V.unsqueeze(idx, d)
    return I.scatter(_zeros(x, gv._dtype), d, idx, gv)


def _select_dim_jvp(tans, x, dim, keepdim=False, result=None):
    t = tans[0]
    if not x._shape:
        return (t, None)
    d = wrap_dim(dim, x.ndim)
    idx = result[1] if keepdim else V.unsqueeze(result[1], d)
    v = I.gather(t, d, idx)
    return (v if keepdim else V.squeeze(v, [d]), None)


derivative("max_dim", save=("result[1]",), jvp=_select_dim_jvp)(_select_dim)
derivative("min_dim", save=("result[1]",), jvp=_select_dim_jvp)(_select_dim)


def _cumsum(g, x, dim, dtype=None):
    if x.ndim == 0:
        return g
    d = wrap_dim(dim, x.ndim)
    return S.flip(R.cumsum(S.flip(g, (d,)), d), (d,))


derivative("cumsum", save=(), linear=("self",))(_cumsum)


def _cumprod(g, x, dim, dtype=None, result=None):
    if x.ndim == 0:
        return g
    d = wrap_dim(dim, x.ndim)
    # sum_{j >= i} g_j * out_j / x_i  (inputs without zeros)
    s = S.flip(R.cumsum(S.flip(g * result, (d,)), d), (d,))
    return s / x


derivative("cumprod", save=("self", "result"))(_cumprod)


# -- linear algebra -------------------------------------------------------------------------

def _bmm(g, a, b):
    return (L.bmm(g, _cj(V.transpose(b, 1, 2))) if _has(b) else None,
            L.bmm(_cj(V.transpose(a, 1, 2)), g) if _has(a) else None)


derivative("bmm", save={"self": ("mat2",), "mat2": ("self",)},
           jvp=lambda t, a, b, result=None: _bilinear(L.bmm, t, a, b))(_bmm)


def _bilinear(f, tans, a, b):
    ta, tb = tans[0], tans[1]
    r = None
    if ta is not None:
        r = f(ta, b)
    if tb is not None:
        r2 = f(a, tb)
        r = r2 if r is None else r + r2
    return r


def _mm(g, a, b):
    return L.mm(g, _cj(V.t(b))) if _has(b) else None, L.mm(_cj(V.t(a)), g) if _has(a) else None


derivative("mm", save={"self": ("mat2",), "mat2": ("self",)}, jvp=lambda t, a, b, result=None: _bilinear(L.mm, t, a, b))(_mm)


def _matmul(g, a, b):
    na, nb = a.ndim, b.ndim
    if na == 1 and nb == 1:
        return (g * _cj(b) if _has(b) else None), (g * _cj(a) if _has(a) else None)
    if na > 2 and nb == 2:
        # (..., n, k) @ (k, p): the rows of every leading index are one matrix, so each gradient is one
        # matrix product (b's sums over the leading dims inside the product instead of after it)
        g2 = V.reshape(g, (-1, g._shape[-1]))
        ga = V.reshape(L.mm(g2, _cj(V.t(b))), a._shape) if _has(b) else None
        gb = L.mm(_cj(V.t(V.reshape(a, (-1, a._shape[-1])))), g2) if _has(a) else None
        return ga, gb
    a2 = V.unsqueeze(a, 0) if na == 1 and _has(a) else a
    b2 = V.unsqueeze(b, 1) if nb == 1 and _has(b) else b
    if not _has(a):
        a2 = a if na != 1 else _InfoShape((1,) + a._shape)
    if not _has(b):
        b2 = b if nb != 1 else _InfoShape(b._shape + (1,))
    g2 = g
    if na == 1:
        g2 = V.unsqueeze(g2, -2)
    if nb == 1:
        g2 = V.unsqueeze(g2, -1)
    from .graph import sum_to
    ga = gb = None
    if _has(b):
        ga = V.reshape(sum_to(L.matmul(g2, _cj(V.transpose(b2, -1, -2))), a2._shape), a._shape)
    if _has(a):
        gb = V.reshape(sum_to(L.matmul(_cj(V.transpose(a2, -1, -2)), g2), b2._shape), b._shape)
    return ga, gb


derivative("matmul", save={"self": ("other",), "other": ("self",)},
           jvp=lambda t, a, b, result=None: _bilinear(L.matmul, t, a, b))(_matmul)


class _InfoShape:
    __slots__ = ("_shape",)

    def __init__(self, shape):
        self._shape = shape


def _dot(g, a, b):
    return (g * b if _has(b) else None), (g * a if _has(a) else None)


derivative("dot", save={"self": ("tensor",), "tensor": ("self",)}, jvp=lambda t, a, b, result=None: _bilinear(L.dot, t, a, b))(_dot)


def _transposed(m):
    """m is the transpose of a contiguous matrix (a Linear layer's weight.t())."""
    s = m._shape
    return len(s) == 2 and s[0] > 1 and s[1] > 1 and m._strides == (1, s[0])


def _addmm(g, x, m1, m2, beta=1, alpha=1):
    gx = g * beta if beta != 1 else g
    gm1 = L.mm(g, V.t(m2)) if _has(m2) else None
    if not _has(m1):
        gm2 = None
    elif _transposed(m2):
        # mat2 is weight.t(): compute the weight's gradient in the weight's own layout, so that t's
        # backward hands the contiguous product itself to the weight's .grad (no copy there).
        gm2 = V.t(L.mm(V.t(g), m1))
    else:
        gm2 = L.mm(V.t(m1), g)
    if alpha != 1:
        gm1 = gm1 * alpha if gm1 is not None else None
        gm2 = gm2 * alpha if gm2 is not None else None
    return (gx if beta != 0 else None), gm1, gm2


def _addmm_jvp(tans, x, m1, m2, beta=1, alpha=1, result=None):
    tx, t1, t2 = tans
    r = _bilinear(L.mm, (t1, t2), m1, m2)
    if r is not None and alpha != 1:
        r = r * alpha
    if tx is not None and beta != 0:
        tx = tx * beta if beta != 1 else tx
        r = tx if r is None else r + tx
    return r


derivative("addmm", save={"mat1": ("mat2",), "mat2": ("mat1",)}, jvp=_addmm_jvp)(_addmm)


# -- views ----------------------------------------------------------------------------------

def _reshape_back(g, x, *args):
    return V.reshape(g, x._shape)


for _n in ("view", "reshape", "flatten", "squeeze", "unsqueeze"):
    derivative(_n, save=(), linear=("self",))(_reshape_back)


def _permute(g, x, dims):
    dims = [wrap_dim(d, x.ndim) for d in (dims if not isinstance(dims, int) else (dims,))]
    inv = [0] * len(dims)
    for i, d in enumerate(dims):
        inv[d] = i
    return V.permute(g, inv)


derivative("permute", save=(), linear=("self",))(_permute)
derivative("transpose", save=(), linear=("self",))(
    lambda g, x, d0, d1: V.transpose(g, d0, d1) if x.ndim else g)
def _t_back(g, x):
    b = g._base
    if (b is not None and g._ag is None and b._ag is None and len(g._shape) == 2
            and b._shape == g._shape[::-1] and b._strides == g._strides[::-1] and b._offset == g._offset
            and b._storage is g._storage):
        return b   # t(t(b)) is b: hand on the tensor itself rather than a view of it
    return V.t(g)


derivative("t", save=(), linear=("self",))(_t_back)
derivative("expand", save=(), linear=("self",))(lambda g, x, size: g)   # the engine sums to x's shape


def _movedim(g, x, source, destination):
    return V.movedim(g, destination, source)


derivative("movedim", save=(), linear=("self",))(_movedim)


def _embed(g, x, view_fn):
    """The gradient of a view: zeros of x's shape with g added where the view reads."""
    n = x.numel()
    pos = V.reshape(C.arange(n, device=g._device), x._shape)
    idx = V.reshape(view_fn(pos), (-1,))
    flat = C.full((n,), 0, dtype=g._dtype, device=g._device)
    return V.reshape(I.scatter_add(flat, 0, idx, V.reshape(g, (-1,))), x._shape)


def _narrow(g, x, dim, start, length):
    d = wrap_dim(dim, x.ndim)
    pieces = []
    n = x._shape[d]
    if start < 0:
        start += n
    if start:
        pieces.append(_zeros_shape(g, x._shape[:d] + (start,) + x._shape[d + 1:]))
    pieces.append(g)
    rest = n - start - length
    if rest:
        pieces.append(_zeros_shape(g, x._shape[:d] + (rest,) + x._shape[d + 1:]))
    return S.cat_(pieces, d) if len(pieces) > 1 else g


def _zeros_shape(g, shape):
    return C.full(shape, 0, dtype=g._dtype, device=g._device)


derivative("narrow", save=(), linear=("self",))(_narrow)
derivative("slice", save=(), linear=("self",))(
    lambda g, x, dim=0, start=None, end=None, step=1: _embed(g, x, lambda p: V.slice_(p, dim, start, end, step)))


def _select(g, x, dim, index):
    d = wrap_dim(dim, x.ndim)
    n = x._shape[d]
    i = index + n if index < 0 else index
    return _narrow(V.unsqueeze(g, d), x, d, i, 1)


derivative("select", save=(), linear=("self",))(_select)
derivative("diagonal", save=(), linear=("self",))(
    lambda g, x, offset=0, dim1=0, dim2=1: _embed(g, x, lambda p: V.diagonal(p, offset, dim1, dim2)))


def _as_strided(g, x, size, stride, storage_offset=None):
    from .graph import _positions_g
    cap = x._cap
    pv = _positions_g(g._device, cap, tuple(size), tuple(stride),
                      x._offset if storage_offset is None else storage_offset)
    pb = _positions_g(g._device, cap, x._shape, x._strides, x._offset)
    flat = C.full((cap,), 0, dtype=g._dtype, device=g._device)
    flat = I.scatter_add(flat, 0, pv, V.reshape(g, (-1,)))
    return V.reshape(I.gather(flat, 0, pb), x._shape)


class _StridedInfo:
    """The geometry as_strided's backward needs (offset, strides, storage size), not the data."""

    __slots__ = ("_shape", "_strides", "_offset", "_dtype", "_device", "_cap", "shape", "dtype", "device")

    def __init__(self, x):
        self._shape = self.shape = x._shape
        self._strides, self._offset = x._strides, x._offset
        self._dtype = self.dtype = x._dtype
        self._device = self.device = x._device
        self._cap = x._backend.runtime.storage_numel(x._storage)


derivative("as_strided", save=("self",), linear=("self",))(
    lambda g, x, size, stride, storage_offset=None: _as_strided(g, _StridedInfo(x), size, stride, storage_offset))


derivative("unbind", save=(), linear=("self",))(lambda g, x, dim=0: R_stack(g, x, dim))


def R_stack(g, x, dim):
    return S.stack_([gi for gi in g], wrap_dim(dim, x.ndim))


derivative("split", save=(), linear=("self",))(
    lambda g, x, split_size_or_sections, dim=0: S.cat_(list(g), wrap_dim(dim, x.ndim)))
derivative("chunk", save=(), linear=("self",))(
    lambda g, x, chunks, dim=0: S.cat_(list(g), wrap_dim(dim, x.ndim)))


# -- shape family -----------------------------------------------------------------------------

def _cat(g, tensors, dim=0):
    parts = [t for t in tensors if t._shape != (0,)]
    if not parts:
        return [None for _ in tensors]
    d = wrap_dim(dim, len(parts[0]._shape))
    out, start = [], 0
    for t in tensors:
        if t._shape == (0,):
            out.append(_zeros(t) if t._dtype.is_floating_point else None)
            continue
        n = t._shape[d]
        out.append(V.narrow(g, d, start, n))
        start += n
    return [out]


derivative("cat", save=(), linear=("tensors",))(_cat)


def _stack(g, tensors, dim=0):
    d = wrap_dim(dim, len(tensors[0]._shape) + 1)
    return [list(V.unbind(g, d))]


derivative("stack", save=(), linear=("tensors",))(_stack)
derivative("flip", save=(), linear=("self",))(lambda g, x, dims: S.flip(g, dims))


def _tri(lower):
    def fn(g, x, diagonal=0):
        return S.tril(g, diagonal) if lower else S.triu(g, diagonal)
    return fn


derivative("tril", save=(), linear=("self",))(_tri(True))
derivative("triu", save=(), linear=("self",))(_tri(False))


# -- indexing ---------------------------------------------------------------------------------

def _gather(g, x, dim, index, sparse_grad=False):
    z = _zeros(x, g._dtype)
    if not x._shape:
        return V.reshape(g, ()), None
    return I.scatter_add(z, dim, index, g), None


derivative("gather", save=("index",), linear=("self",))(_gather)


def _scatter(g, x, dim, index, src=None, value=None, reduce=None):
    if reduce == "add":
        gx = g
    else:
        gx = I.scatter(g, dim, index, value=0)
    gs = I.gather(g, dim, index) if _is_t(src) else None
    if gs is not None and gs._shape != src._shape:
        gs = _embed_block(gs, src._shape)
    return gx, None, gs


def _embed_block(g, shape):
    out = g
    for d, (n, m) in enumerate(zip(g._shape, shape)):
        if n != m:
            out = S.cat_([out, _zeros_shape(out, out._shape[:d] + (m - n,) + out._shape[d + 1:])], d)
    return out


derivative("scatter", save=("index",), linear=("self", "src"))(_scatter)


def _scatter_add(g, x, dim, index, src):
    gs = I.gather(g, dim, index)
    if gs._shape != src._shape:
        gs = _embed_block(gs, src._shape)
    return g, None, gs


derivative("scatter_add", save=("index",), linear=("self", "src"))(_scatter_add)


def _index_select(g, x, dim, index):
    if not x._shape:
        return V.reshape(g, ()), None
    z = _zeros(x, g._dtype)
    return I.index_add(z, dim, index, g), None


derivative("index_select", save=("index",), linear=("self",))(_index_select)


def _index_add(g, x, dim, index, source, alpha=1):
    gs = I.index_select(g, dim, index) if g._shape else g
    if gs._shape != source._shape:
        gs = V.reshape(gs, source._shape)
    return g, None, gs * alpha if alpha != 1 else gs


derivative("index_add", save=("index",), linear=("self", "source"))(_index_add)


def _masked_fill(g, x, mask, value):
    return E.where(mask, 0.0, g), None


derivative("masked_fill", save=("mask",))(_masked_fill)


def _index(g, x, indices):
    from .._indexing import index_put
    z = _zeros(x, g._dtype)
    return index_put(z, list(indices), g, True), [None for _ in indices]


derivative("index", save=("indices",), linear=("self",))(_index)


def _index_put(g, x, indices, values, accumulate=False):
    from .._indexing import index, index_put
    gx = g if accumulate else index_put(g, list(indices), C.full((), 0, dtype=g._dtype, device=g._device))
    gv = index(g, list(indices)) if values._dtype.is_floating_point else None
    return gx, [None for _ in indices], gv


derivative("index_put", save=("indices",))(_index_put)


# -- sorting ------------------------------------------------------------------------------------

def _sort(g, x, dim=-1, descending=False, stable=False, result=None):
    gv = g[0]
    idx = result[1]
    if not x._shape:
        return gv
    d = wrap_dim(dim, x.ndim)
    return I.scatter_add(_zeros(x, gv._dtype), d, idx, gv)


def _sort_jvp(tans, x, dim=-1, descending=False, stable=False, result=None):
    t = tans[0]
    if not x._shape:
        return (t, None)
    return (I.gather(t, wrap_dim(dim, x.ndim), result[1]), None)


derivative("sort", save=("result",), jvp=_sort_jvp)(_sort)


# -- composites given formulas for speed (one node instead of their decompositions' several) -------

def _log_softmax(g, x, dim, dtype=None, result=None):
    d = wrap_dim(dim, x.ndim) if x.ndim else 0
    if not x._shape:
        return E.mul(g, 0)
    return g - E.exp(result) * R.sum(g, [d], True)


def _softmax(g, x, dim, dtype=None, result=None):
    if not x._shape:
        return E.mul(g, 0)
    d = wrap_dim(dim, x.ndim)
    gy = g * result
    return gy - result * R.sum(gy, [d], True)


derivative("log_softmax", save=("result",))(_log_softmax)
derivative("softmax", save=("result",))(_softmax)


def _logsumexp(g, x, dim, keepdim=False, result=None):
    dims = _dims(x, dim)
    r = _expand_back(result, x, dims, keepdim)
    return _expand_back(g, x, dims, keepdim) * E.exp(x - r)


derivative("logsumexp", save=("self", "result"))(_logsumexp)


def _mean(g, x, dim=None, keepdim=False, dtype=None):
    dims = _dims(x, dim)
    n = 1
    for d in dims:
        n *= x._shape[d]
    return _expand_back(g, x, dims, keepdim) / max(n, 1) if n else _expand_back(g, x, dims, keepdim) * float("nan")


derivative("mean", save=(), linear=("self",))(_mean)
