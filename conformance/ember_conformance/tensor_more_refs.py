"""numpy references (float64 / int64) for the operators of core/ops/tensor_more.py, counting.py,
statistics.py and sampling.py: PyTorch's semantics written out independently of Ember."""

from __future__ import annotations

import numpy as np

from .references import REFERENCES, _no_values, ref


def _f(x):
    return np.asarray(x, dtype=np.float64) if np.asarray(x).dtype == np.bool_ else np.asarray(x)


@ref("diag")
def _diag(x, diagonal=0):
    return np.diag(x, diagonal).copy()


@ref("diag_embed")
def _diag_embed(x, offset=0, dim1=-2, dim2=-1):
    n = x.shape[-1]
    m = n + abs(offset)
    out = np.zeros(x.shape[:-1] + (m, m), x.dtype)
    i = np.arange(n)
    r, c = (i, i + offset) if offset >= 0 else (i - offset, i)
    out[..., r, c] = x
    nd = x.ndim + 1
    return np.moveaxis(out, (-2, -1), (dim1 % nd, dim2 % nd))


@ref("tensordot")
def _tensordot(a, other, dims=2):
    return np.tensordot(a, other, dims if isinstance(dims, int) else (list(dims[0]), list(dims[1])))


@ref("kron")
def _kron(a, b):
    return np.kron(a, b)


@ref("cross")
def _cross(a, b, dim=None):
    shape = np.broadcast_shapes(a.shape, b.shape)
    d = next(i for i, s in enumerate(shape) if s == 3) if dim is None else dim
    a, b = np.broadcast_to(a, shape), np.broadcast_to(b, shape)
    return np.cross(a, b, axis=d)


@ref("rot90")
def _rot90(x, k=1, dims=(0, 1)):
    return np.rot90(x, k, tuple(dims)).copy()


@ref("repeat_interleave")
def _repeat_interleave(x, repeats=None, dim=None, output_size=None):
    if repeats is None:
        return np.repeat(np.arange(x.shape[0] if x.ndim else 1), x.reshape(-1))
    r = repeats.reshape(-1) if isinstance(repeats, np.ndarray) and repeats.size != 1 else int(np.asarray(repeats))
    return np.repeat(x.reshape(1) if x.ndim == 0 and dim is not None else x, r, axis=dim)


@ref("block_diag")
def _block_diag(tensors):
    mats = [t.reshape(1, -1) if t.ndim < 2 else t for t in tensors]
    dt = np.result_type(*mats)
    out = np.zeros((sum(m.shape[0] for m in mats), sum(m.shape[1] for m in mats)), dt)
    r = c = 0
    for m in mats:
        out[r:r + m.shape[0], c:c + m.shape[1]] = m
        r, c = r + m.shape[0], c + m.shape[1]
    return out


@ref("cdist")
def _cdist(x1, x2, p=2.0, compute_mode=None):
    d = np.abs(x1[..., :, None, :] - x2[..., None, :, :])
    if p == 0:
        return np.sum(d != 0, -1).astype(np.float64)
    if p == np.inf:
        return np.max(d, -1)
    return np.sum(d ** p, -1) ** (1.0 / p)


@ref("nan_to_num")
def _nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    if x.dtype.kind != "f":
        return x.copy()
    return np.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)


@ref("searchsorted")
def _searchsorted(seq, x, out_int32=False, right=False, side=None, sorter=None):
    side = side or ("right" if right else "left")
    if sorter is not None:
        seq = np.take_along_axis(seq, sorter, -1)
    if seq.ndim == 1:
        return np.searchsorted(seq, x, side=side)
    rows = [np.searchsorted(s, v, side=side) for s, v in zip(seq.reshape(-1, seq.shape[-1]),
                                                             x.reshape(-1, x.shape[-1]))]
    return np.stack(rows).reshape(x.shape)


@ref("bucketize")
def _bucketize(x, boundaries, out_int32=False, right=False):
    return np.searchsorted(boundaries, x, side="right" if right else "left")


@ref("histc")
def _histc(x, bins=100, min=0, max=0):
    x = x.reshape(-1)
    lo, hi = float(min), float(max)
    if lo == hi and x.size:
        fin = x[np.isfinite(x)]
        lo, hi = float(fin.min()), float(fin.max())
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    keep = (x >= lo) & (x <= hi)
    idx = np.clip(np.floor((x[keep] - lo) / (hi - lo) * bins), 0, bins - 1).astype(np.int64)
    return np.bincount(idx, minlength=bins).astype(np.float64)


@ref("bincount")
def _bincount(x, weights=None, minlength=0):
    return np.bincount(x, weights, minlength)


def _unique_rows(x, dim, order):
    if dim is None:
        rows = x.reshape(-1, 1)
    else:
        rows = np.moveaxis(x, dim, 0).reshape(x.shape[dim], -1)
    keys = [tuple(r) for r in rows.tolist()]
    if order:
        firsts = sorted(set(keys))
        picked = [rows[keys.index(k)] for k in firsts]
    else:
        picked = [rows[i] for i in range(len(keys)) if i == 0 or keys[i] != keys[i - 1]]
    out = np.array(picked, x.dtype).reshape((len(picked),) + (rows.shape[1:] if dim is not None else ()))
    if dim is None:
        return out.reshape(-1)
    rest = np.moveaxis(x, dim, 0).shape[1:]
    return np.moveaxis(out.reshape((len(picked),) + rest), 0, dim)


@ref("unique")
def _unique(x, sorted=True, return_inverse=False, return_counts=False, dim=None):
    return _unique_rows(x, dim, True)


@ref("unique_consecutive")
def _unique_consecutive(x, return_inverse=False, return_counts=False, dim=None):
    return _unique_rows(x, dim, False)


# -- statistics -----------------------------------------------------------------------------

def _pick(x, dim, keepdim, rank):
    """Values and indices at sorted position rank(slice) along dim (a stable sort, NaN last)."""
    xs = np.moveaxis(x.reshape(1) if x.ndim == 0 else x, dim, -1)
    flat = xs.reshape(-1, xs.shape[-1])
    vals, idxs = [], []
    for row in flat:
        order = np.argsort(row, kind="stable")
        k = rank(row)
        vals.append(row[order[k]])
        idxs.append(order[k])
    shape = xs.shape[:-1]
    v, i = np.array(vals, x.dtype).reshape(shape), np.array(idxs, np.int64).reshape(shape)
    if x.ndim and keepdim:
        v, i = np.expand_dims(v, dim), np.expand_dims(i, dim)
    return v, i


def _median_rank(row):
    nan = np.isnan(row) if row.dtype.kind == "f" else np.zeros(row.shape, bool)
    return int(row.size - nan.sum()) if nan.any() else (row.size - 1) // 2


def _nanmedian_rank(row):
    valid = row.size - int(np.isnan(row).sum()) if row.dtype.kind == "f" else row.size
    return (row.size - 1) // 2 if valid == 0 else (valid - 1) // 2


REFERENCES["median_dim"] = lambda x, dim=-1, keepdim=False: _pick(x, dim, keepdim, _median_rank)
REFERENCES["nanmedian_dim"] = lambda x, dim=-1, keepdim=False: _pick(x, dim, keepdim, _nanmedian_rank)
REFERENCES["median"] = lambda x: _pick(x.reshape(-1), 0, False, _median_rank)[0]
REFERENCES["nanmedian"] = lambda x: _pick(x.reshape(-1), 0, False, _nanmedian_rank)[0]
REFERENCES["kthvalue"] = lambda x, k, dim=-1, keepdim=False: _pick(x, dim, keepdim, lambda r: k - 1)


@ref("mode")
def _mode(x, dim=-1, keepdim=False):
    xs = np.moveaxis(x.reshape(1) if x.ndim == 0 else x, dim, -1)
    vals, idxs = [], []
    for row in xs.reshape(-1, xs.shape[-1]):
        u, c = np.unique(row, return_counts=True)
        v = u[np.argmax(c)]
        vals.append(v)
        idxs.append(int(np.nonzero(row == v)[0][-1]))
    shape = xs.shape[:-1]
    v, i = np.array(vals, x.dtype).reshape(shape), np.array(idxs, np.int64).reshape(shape)
    if x.ndim and keepdim:
        v, i = np.expand_dims(v, dim), np.expand_dims(i, dim)
    return v, i


def _cum(x, dim, largest):
    if x.ndim == 0:
        return x.copy(), np.zeros((), np.int64)
    xs = np.moveaxis(x, dim, -1)
    v, i = np.empty_like(xs), np.zeros(xs.shape, np.int64)
    for idx in np.ndindex(xs.shape[:-1]):
        row, best, at = xs[idx], None, 0
        for j, e in enumerate(row):
            e_nan = row.dtype.kind == "f" and np.isnan(e)
            b_nan = best is not None and row.dtype.kind == "f" and np.isnan(best)
            if best is None or e_nan or (not b_nan and (e >= best if largest else e <= best)):
                best, at = e, j
            v[idx + (j,)], i[idx + (j,)] = best, at
    return np.moveaxis(v, -1, dim), np.moveaxis(i, -1, dim)


REFERENCES["cummax"] = lambda x, dim: _cum(x, dim, True)
REFERENCES["cummin"] = lambda x, dim: _cum(x, dim, False)


@ref("logcumsumexp")
def _logcumsumexp(x, dim):
    return x.copy() if x.ndim == 0 else np.logaddexp.accumulate(x, axis=dim)


def _quantile_ref(fn):
    def r(x, q, dim=None, keepdim=False, interpolation="linear"):
        return fn(x, q, axis=dim, keepdims=keepdim, method=interpolation)
    return r


REFERENCES["quantile"] = _quantile_ref(np.quantile)
REFERENCES["nanquantile"] = _quantile_ref(np.nanquantile)


@ref("aminmax")
def _aminmax(x, dim=None, keepdim=False):
    return np.min(x, axis=dim, keepdims=keepdim), np.max(x, axis=dim, keepdims=keepdim)


@ref("count_nonzero")
def _count_nonzero(x, dim=None):
    return np.count_nonzero(x, axis=tuple(dim) if isinstance(dim, list) else dim)


@ref("isclose")
def _isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    return np.isclose(_f(a), _f(b), rtol, atol, equal_nan)


REFERENCES["poisson"] = _no_values
