"""numpy references (float64 / int64) for the operators of core/ops/breadth.py and core/ops/special.py:
PyTorch's semantics written out independently of Ember (scipy.special for the special functions)."""

from __future__ import annotations

import math

import numpy as np

from .references import ref


def _sp():
    import scipy.special as sp
    return sp


def _fl(x):
    x = np.asarray(x)
    return x if x.dtype.kind in "fc" else x.astype(np.float64)


@ref("xlogy")
def _xlogy(x, y):
    x, y = _fl(x), _fl(y)
    with np.errstate(all="ignore"):
        return np.where((x == 0) & ~np.isnan(y), 0.0, x * np.log(y))


@ref("logit")
def _logit(x, eps=None):
    x = _fl(x)
    if eps is not None:
        x = np.clip(x, eps, 1 - eps)
    with np.errstate(all="ignore"):
        return np.log(x / (1 - x))


@ref("sinc")
def _sinc(x):
    return np.sinc(_fl(x))


@ref("deg2rad")
def _deg2rad(x):
    return np.deg2rad(_fl(x))


@ref("rad2deg")
def _rad2deg(x):
    return np.rad2deg(_fl(x))


@ref("heaviside")
def _heaviside(x, values):
    out = np.where(x > 0, 1, np.where(x == 0, values, 0))
    return out.astype(np.result_type(x, values))


@ref("gcd")
def _gcd(a, b):
    return np.gcd(a, b)


@ref("lcm")
def _lcm(a, b):
    return np.lcm(a, b)


@ref("float_power")
def _float_power(x, e):
    return np.float_power(_fl(x), _fl(e))


@ref("fmax")
def _fmax(a, b):
    return np.fmax(a, b)


@ref("fmin")
def _fmin(a, b):
    return np.fmin(a, b)


def _axes(dim):
    return None if dim is None or (isinstance(dim, (list, tuple)) and not dim) else tuple(np.atleast_1d(dim))


@ref("nansum")
def _nansum(x, dim=None, keepdim=False, dtype=None):
    return np.nansum(x, axis=_axes(dim), keepdims=keepdim)


@ref("nanmean")
def _nanmean(x, dim=None, keepdim=False, dtype=None):
    with np.errstate(all="ignore"), __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("ignore")
        return np.nanmean(x, axis=_axes(dim), keepdims=keepdim)


@ref("trace")
def _trace(x):
    return np.asarray(np.trace(x))


@ref("diff")
def _diff(x, n=1, dim=-1, prepend=None, append=None):
    kw = {k: v for k, v in (("prepend", prepend), ("append", append)) if v is not None}
    return np.diff(x, n, axis=dim, **kw)


def _vnorm(d, p, axis=None):
    d = np.abs(d)
    if p == np.inf:
        return np.max(d, axis=axis)
    if p == 0:
        return np.sum(d != 0, axis=axis).astype(np.float64)
    return np.sum(d ** p, axis=axis) ** (1.0 / p)


@ref("dist")
def _dist(x, other, p=2):
    return np.asarray(_vnorm(x - other, p))


@ref("cosine_similarity")
def _cosine_similarity(x1, x2, dim=1, eps=1e-8):
    x1, x2 = np.broadcast_arrays(x1, x2)
    n1 = np.maximum(np.sqrt(np.sum(x1 * x1, dim, keepdims=True)), eps)
    n2 = np.maximum(np.sqrt(np.sum(x2 * x2, dim, keepdims=True)), eps)
    return np.sum((x1 / n1) * (x2 / n2), dim)


@ref("pdist")
def _pdist(x, p=2.0):
    n = x.shape[0]
    i, j = np.triu_indices(n, 1)
    return _vnorm(x[i] - x[j], p, axis=-1)


@ref("renorm")
def _renorm(x, p, dim, maxnorm):
    axes = tuple(a for a in range(x.ndim) if a != dim % x.ndim)
    norm = _vnorm(x, p, axis=axes)
    shape = [1] * x.ndim
    shape[dim] = -1
    norm = norm.reshape(shape)
    return x * np.where(norm > maxnorm, maxnorm / (norm + 1e-7), 1.0)


@ref("cov")
def _cov(x, correction=1, fweights=None, aweights=None):
    return np.asarray(np.cov(_fl(x), ddof=correction, fweights=fweights, aweights=aweights))


@ref("corrcoef")
def _corrcoef(x):
    return np.asarray(np.corrcoef(_fl(x)))


def _scaled(x, prod, beta, alpha):
    return alpha * prod if beta == 0 else beta * x + alpha * prod


@ref("addmv")
def _addmv(x, mat, vec, beta=1, alpha=1):
    return _scaled(x, mat @ vec, beta, alpha)


@ref("addr")
def _addr(x, v1, v2, beta=1, alpha=1):
    return np.broadcast_to(_scaled(x, np.outer(v1, v2), beta, alpha), (v1.shape[0], v2.shape[0]))


@ref("baddbmm")
def _baddbmm(x, b1, b2, beta=1, alpha=1):
    return np.broadcast_to(_scaled(x, b1 @ b2, beta, alpha), (b1.shape[0], b1.shape[1], b2.shape[2]))


@ref("addbmm")
def _addbmm(x, b1, b2, beta=1, alpha=1):
    return np.broadcast_to(_scaled(x, (b1 @ b2).sum(0), beta, alpha), (b1.shape[1], b2.shape[2]))


@ref("take")
def _take(x, index):
    return np.take(x.reshape(-1), index)


@ref("take_along_dim")
def _take_along_dim(x, indices, dim=None):
    if dim is None:
        return x.reshape(-1)[indices.reshape(-1)]
    sx, si = list(x.shape), list(indices.shape)
    sx[dim] = si[dim] = 1
    b = list(np.broadcast_shapes(tuple(sx), tuple(si)))
    bx, bi = list(b), list(b)
    bx[dim], bi[dim] = x.shape[dim], indices.shape[dim]
    return np.take_along_axis(np.broadcast_to(x, bx), np.broadcast_to(indices, bi), dim)


@ref("scatter_reduce")
def _scatter_reduce(x, dim, index, src, reduce, include_self=True):
    out = x.copy()
    groups = {}
    for pos in np.ndindex(*index.shape):
        tgt = list(pos)
        tgt[dim] = index[pos]
        groups.setdefault(tuple(tgt), []).append(src[pos])
    for tgt, vals in groups.items():
        vals = ([x[tgt]] if include_self else []) + vals
        if reduce == "sum":
            v = np.sum(vals)
        elif reduce == "prod":
            v = np.prod(vals)
        elif reduce == "amax":
            v = np.max(vals)
        elif reduce == "amin":
            v = np.min(vals)
        else:
            v = np.sum(vals) / len(vals) if x.dtype.kind == "f" else np.sum(vals) // len(vals)
        out[tgt] = v
    return out


@ref("index_copy")
def _index_copy(x, dim, index, source):
    out = x.copy()
    sl = [slice(None)] * x.ndim
    for k, i in enumerate(np.atleast_1d(index)):
        sl[dim] = i
        src = [slice(None)] * x.ndim
        src[dim] = k
        out[tuple(sl)] = source[tuple(src)]
    return out


@ref("index_fill")
def _index_fill(x, dim, index, value):
    out = x.copy()
    sl = [slice(None)] * x.ndim
    sl[dim] = np.atleast_1d(index)
    out[tuple(sl)] = value
    return out


@ref("masked_scatter")
def _masked_scatter(x, mask, source):
    shape = np.broadcast_shapes(x.shape, mask.shape)
    out = np.broadcast_to(x, shape).copy()
    m = np.broadcast_to(mask, shape)
    out[m] = source.reshape(-1)[:int(m.sum())]
    return out


@ref("lgamma")
def _lgamma(x):
    return _sp().gammaln(_fl(x))


@ref("digamma")
def _digamma(x):
    x = _fl(x)
    out = _sp().psi(x)
    return np.where(x == 0, np.where(np.signbit(x), np.inf, -np.inf), out)


@ref("polygamma")
def _polygamma(n, x):
    return _sp().polygamma(n, _fl(x)) if n else _digamma(x)


@ref("mvlgamma")
def _mvlgamma(x, p):
    return _sp().multigammaln(x, p) if np.all(x > (p - 1) / 2) else \
        p * (p - 1) / 4 * math.log(math.pi) + sum(_sp().gammaln(x - j / 2) for j in range(p))


@ref("i0")
def _i0(x):
    return _sp().i0(_fl(x))


@ref("_special_ndtri")
def _ndtri(x):
    return _sp().ndtri(_fl(x))
