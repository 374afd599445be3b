"""Operators: more of PyTorch's tensor math, as composites over existing operators.

diag, diag_embed, tensordot, kron, cross, rot90, repeat_interleave, block_diag,
cdist and nan_to_num are registered operators: every backend gets them through
these decompositions, and autograd follows the pieces.
``repeat_interleave`` with a tensor of repeats and no ``output_size`` reads the
output length back to the host once, as PyTorch does on a GPU.
"""

from __future__ import annotations

import numpy as np

from .. import dtypes as D
from .._tensor import Tensor
from ..dispatch import defop
from ..errors import DTypeError, ShapeError
from . import creation as C
from . import elementwise as E
from . import linalg as L
from . import reduction as R
from . import shape as S
from . import views as V
from ._helpers import Spec, broadcast_shapes, numel, wrap_dim
from .counting import searchsorted
from ..errors import InvalidArgumentError


def _zero(x):
    return C.zeros((), dtype=x._dtype, device=x._device)


# -- diag, diag_embed -------------------------------------------------------------------

def _diag_embed_meta(x, offset=0, dim1=-2, dim2=-1):
    if x.ndim < 1:
        raise ShapeError("diag_embed(): expects a tensor with at least 1 dimension, got a 0-d tensor")
    nd = x.ndim + 1
    d1, d2 = wrap_dim(dim1, nd, "diag_embed"), wrap_dim(dim2, nd, "diag_embed")
    if d1 == d2:
        raise InvalidArgumentError(f"diag_embed(): dim1 and dim2 must differ, got dim1={dim1}, dim2={dim2}")
    m = x._shape[-1] + abs(offset)
    shape = list(x._shape[:-1])
    for d in sorted((d1, d2)):
        shape.insert(d, m)
    return Spec(tuple(shape), x._dtype, (d1, d2))


def _diag_embed(x, offset=0, dim1=-2, dim2=-1):
    d1, d2 = _diag_embed_meta(x, offset, dim1, dim2).extra
    n = x._shape[-1]
    i = C.arange(0, n, device=x._device)
    eye = E.eq(V.unsqueeze(i, 1), V.unsqueeze(i, 0))
    out = E.where(eye, V.unsqueeze(x, -1), _zero(x))          # (..., n, n): x on the diagonal
    k = abs(offset)
    if k:
        out = _pad(out, [k, 0, 0, k] if offset > 0 else [0, k, k, 0])
    return V.movedim(out, (-2, -1), (d1, d2))


def _pad(x, pad):
    from .nn import constant_pad_nd
    return constant_pad_nd(x, pad, False if x._dtype is D.bool else 0)


diag_embed = defop("diag_embed(Tensor self, int offset=0, int dim1=-2, int dim2=-1) -> Tensor",
                   meta=_diag_embed_meta, decomposition=_diag_embed, family="tensor_more",
                   doc="Matrices whose offset diagonal (in dims dim1, dim2) holds the last dim of self.")


def _diag_meta(x, diagonal=0):
    if x.ndim == 1:
        m = x._shape[0] + abs(diagonal)
        return Spec((m, m), x._dtype)
    if x.ndim == 2:
        r, c = x._shape
        n = max(0, min(r, c - diagonal) if diagonal >= 0 else min(r + diagonal, c))
        return Spec((n,), x._dtype)
    raise ShapeError(f"diag(): expects a 1-d or 2-d tensor, got a {x.ndim}-d tensor of shape {tuple(x._shape)}; "
                     f"use diag_embed() or diagonal() for batches")


def _diag(x, diagonal=0):
    _diag_meta(x, diagonal)
    if x.ndim == 1:
        return _diag_embed(x, diagonal)
    return C.clone(V.diagonal(x, diagonal, 0, 1))


diag = defop("diag(Tensor self, int diagonal=0) -> Tensor", meta=_diag_meta, decomposition=_diag,
             family="tensor_more", doc="A 1-d tensor as a diagonal matrix, or a matrix's diagonal as a 1-d copy.")


# -- tensordot, kron ----------------------------------------------------------------------

def _tensordot_dims(a, b, dims):
    if isinstance(dims, Tensor):
        dims = dims.tolist()
    if isinstance(dims, int):
        if dims < 0 or dims > min(a.ndim, b.ndim):
            raise InvalidArgumentError(f"tensordot(): dims={dims} must be in [0, {min(a.ndim, b.ndim)}] for tensors with "
                                       f"{a.ndim} and {b.ndim} dimensions")
        return list(range(a.ndim - dims, a.ndim)), list(range(dims))
    da, db = ([d] if isinstance(d, int) else list(d) for d in dims)
    if len(da) != len(db):
        raise InvalidArgumentError(f"tensordot(): both dim lists must have one length, got {da} and {db}")
    da = [wrap_dim(d, a.ndim, "tensordot") for d in da]
    db = [wrap_dim(d, b.ndim, "tensordot") for d in db]
    for i, j in zip(da, db):
        if a._shape[i] != b._shape[j]:
            raise ShapeError(f"tensordot(): contracted dimensions must match, but dim {i} of a has size "
                             f"{a._shape[i]} and dim {j} of b has size {b._shape[j]}")
    return da, db


def _tensordot_meta(a, b, dims=2):
    da, db = _tensordot_dims(a, b, dims)
    shape = tuple(s for i, s in enumerate(a._shape) if i not in da) + tuple(
        s for i, s in enumerate(b._shape) if i not in db)
    return Spec(shape, D.promote_types(a._dtype, b._dtype), (da, db))


def _tensordot(a, b, dims=2):
    spec = _tensordot_meta(a, b, dims)
    da, db = spec.extra
    fa = [i for i in range(a.ndim) if i not in da]
    fb = [i for i in range(b.ndim) if i not in db]
    k = numel([a._shape[i] for i in da])
    am = V.reshape(V.permute(a, tuple(fa + da)), (-1, k))
    bm = V.reshape(V.permute(b, tuple(db + fb)), (k, -1))
    if a._dtype is not spec.dtype:
        am = am.to(spec.dtype)
    if b._dtype is not spec.dtype:
        bm = bm.to(spec.dtype)
    return V.reshape(L.mm(am, bm), spec.shape)


_tensordot_op = defop("tensordot(Tensor a, Tensor other, Any dims=2) -> Tensor", meta=_tensordot_meta,
                      decomposition=_tensordot, family="tensor_more",
                      doc="Sum over the paired dims of a and other (the last dims of a and first of other for "
                          "an int).")


def tensordot(a, b, dims=2):
    """Contract ``a`` and ``b`` over ``dims``: an int (a's last and b's first dims) or two lists of dims."""
    return _tensordot_op(a, b, dims)


def _kron_meta(a, b):
    nd = max(a.ndim, b.ndim)
    sa = (1,) * (nd - a.ndim) + tuple(a._shape)
    sb = (1,) * (nd - b.ndim) + tuple(b._shape)
    return Spec(tuple(x * y for x, y in zip(sa, sb)), D.promote_types(a._dtype, b._dtype), (sa, sb))


def _kron(a, b):
    spec = _kron_meta(a, b)
    sa, sb = spec.extra
    ia = tuple(v for s in sa for v in (s, 1))
    ib = tuple(v for s in sb for v in (1, s))
    return V.reshape(E.mul(V.reshape(a, ia), V.reshape(b, ib)), spec.shape)


kron = defop("kron(Tensor self, Tensor other) -> Tensor", meta=_kron_meta, decomposition=_kron,
             family="tensor_more", doc="The Kronecker product of self and other.")


# -- cross, rot90 -------------------------------------------------------------------------

def _cross_meta(x, other, dim=None):
    if x.ndim != other.ndim:
        raise ShapeError(f"cross(): inputs must have the same number of dimensions, got {x.ndim} and {other.ndim}")
    shape = broadcast_shapes(x._shape, other._shape)
    if dim is None:
        d = next((i for i, s in enumerate(shape) if s == 3), None)
        if d is None:
            raise ShapeError(f"cross(): no dimension of size 3 in shape {shape}")
    else:
        d = wrap_dim(dim, len(shape), "cross")
        if shape[d] != 3:
            raise ShapeError(f"cross(): dimension {dim} has size {shape[d]}, expected 3")
    return Spec(shape, D.promote_types(x._dtype, other._dtype), d)


def _cross(x, other, dim=None):
    spec = _cross_meta(x, other, dim)
    d = spec.extra
    a = [V.narrow(x, d, i, 1) for i in range(3)]
    b = [V.narrow(other, d, i, 1) for i in range(3)]
    parts = [E.sub(E.mul(a[(i + 1) % 3], b[(i + 2) % 3]), E.mul(a[(i + 2) % 3], b[(i + 1) % 3])) for i in range(3)]
    return S.cat(parts, d)


cross = defop("cross(Tensor self, Tensor other, int? dim=None) -> Tensor", meta=_cross_meta,
              decomposition=_cross, family="tensor_more",
              doc="The 3-vector cross product along dim (default: the first dim of size 3).")


def _rot90_meta(x, k=1, dims=(0, 1)):
    dims = tuple(dims)
    if len(dims) != 2:
        raise InvalidArgumentError(f"rot90(): dims must name two dimensions, got {list(dims)}")
    if x.ndim < 2:
        raise ShapeError(f"rot90(): expects a tensor with at least 2 dimensions, got {x.ndim}")
    d0, d1 = wrap_dim(dims[0], x.ndim, "rot90"), wrap_dim(dims[1], x.ndim, "rot90")
    if d0 == d1:
        raise InvalidArgumentError(f"rot90(): the two dims must differ, got {list(dims)}")
    shape = list(x._shape)
    if k % 2:
        shape[d0], shape[d1] = shape[d1], shape[d0]
    return Spec(tuple(shape), x._dtype, (d0, d1))


def _rot90(x, k=1, dims=(0, 1)):
    d0, d1 = _rot90_meta(x, k, dims).extra
    k %= 4
    if k == 1:
        return V.transpose(S.flip(x, [d1]), d0, d1)
    if k == 2:
        return S.flip(x, [d0, d1])
    if k == 3:
        return V.transpose(S.flip(x, [d0]), d0, d1)
    return C.clone(x)


rot90 = defop("rot90(Tensor self, int k=1, int[] dims=[0, 1]) -> Tensor", meta=_rot90_meta,
              decomposition=_rot90, family="tensor_more",
              doc="Rotate by k * 90 degrees in the plane of dims, from the first dim towards the second.")


# -- repeat_interleave ------------------------------------------------------------------------

def _ri_prep(x, repeats, dim):
    if dim is None:
        return V.reshape(x, (-1,)), 0
    d = wrap_dim(dim, x.ndim, "repeat_interleave")
    return (V.reshape(x, (1,)), 0) if x.ndim == 0 else (x, d)


def _ri_meta(x, repeats=None, dim=None, output_size=None):
    if repeats is None:   # repeat_interleave(repeats): the indices of repeats' entries
        repeats, x = x, None
    if isinstance(repeats, Tensor):
        if repeats._dtype.category != 1 or repeats.ndim > 1:
            raise DTypeError(f"repeat_interleave(): repeats must be a 0-d or 1-d integer tensor, got "
                             f"{repeats.ndim}-d {repeats._dtype.name}")
        if x is not None:
            xs, d = _ri_prep(x, repeats, dim)
            if repeats.ndim == 1 and repeats._shape[0] not in (1, xs._shape[d]):
                raise ShapeError(f"repeat_interleave(): repeats has {repeats._shape[0]} entries, but dim {d} of "
                                 f"the input has size {xs._shape[d]}")
        if output_size is None:
            from .indexing import _data_dependent
            raise _data_dependent("repeat_interleave", "with a tensor of repeats its output length is their sum")
        if x is None:
            return Spec((output_size,), repeats._dtype)
        xs, d = _ri_prep(x, repeats, dim)
        return Spec(xs._shape[:d] + (output_size,) + xs._shape[d + 1:], x._dtype)
    xs, d = _ri_prep(x, repeats, dim)
    return _ri_int_meta(xs, d, repeats)


def _ri_int_meta(xs, d, r):
    if r is not None and (not isinstance(r, int) or r < 0):
        raise InvalidArgumentError(f"repeat_interleave(): repeats must be a non-negative int or a tensor, got {r!r}")
    n = xs._shape[d] * r if r is not None else None
    return Spec(xs._shape[:d] + ((n,) if n is not None else ()) + xs._shape[d + 1:], xs._dtype)


def _repeat_interleave(x, repeats=None, dim=None, output_size=None):
    if repeats is None:
        r = x
        idx = C.arange(0, r._shape[0] if r.ndim else 1, device=r._device)
        return _ri_tensor(idx, V.reshape(r, (-1,)), 0, output_size).to(r._dtype)
    xs, d = _ri_prep(x, repeats, dim)
    if isinstance(repeats, Tensor):
        if repeats.ndim == 0 or repeats._shape[0] == 1:
            repeats = int(repeats.reshape(()).item())
        else:
            return _ri_tensor(xs, repeats, d, output_size)
    _ri_int_meta(xs, d, repeats)
    shape = xs._shape[:d + 1] + (repeats,) + xs._shape[d + 1:]
    out = V.expand(V.unsqueeze(xs, d + 1), shape)
    return V.reshape(out, xs._shape[:d] + (xs._shape[d] * repeats,) + xs._shape[d + 1:])


def _ri_tensor(xs, repeats, d, output_size):
    ends = R.cumsum(repeats, 0)
    if output_size is None:
        total, low = S.stack([ends[-1], R.amin(repeats)], 0).tolist() if repeats._shape[0] else (0, 0)
        if low < 0:
            raise InvalidArgumentError(f"repeat_interleave(): repeats can not be negative, got a minimum of {low}")
        output_size = total
    pos = C.arange(0, output_size, device=xs._device)
    idx = searchsorted(ends, pos, right=True)
    return xs.index_select(d, idx)


repeat_interleave = defop("repeat_interleave(Tensor self, Any repeats=None, int? dim=None, *, "
                          "int? output_size=None) -> Tensor", meta=_ri_meta, decomposition=_repeat_interleave,
                          family="tensor_more",
                          doc="Each element (or slice along dim) repeated: an int, or per element from a tensor.")


# -- block_diag, cdist, nan_to_num ----------------------------------------------------------------

def _block_diag_meta(tensors):
    rows = cols = 0
    dt = None
    for i, t in enumerate(tensors):
        if t.ndim > 2:
            raise ShapeError(f"block_diag(): input tensors must have 2 or fewer dimensions, input {i} has {t.ndim}")
        r, c = (1, 1) if t.ndim == 0 else (1, t._shape[0]) if t.ndim == 1 else t._shape
        rows, cols = rows + r, cols + c
        dt = t._dtype if dt is None else D.promote_types(dt, t._dtype)
    return Spec((rows, cols), dt or D.get_default_dtype())


def _block_diag(tensors):
    spec = _block_diag_meta(tensors)
    mats = [V.reshape(t, (1, -1) if t.ndim < 2 else t._shape).to(spec.dtype) for t in tensors]
    left, parts = 0, []
    for m in mats:
        c = m._shape[1]
        parts.append(_pad(m, [left, spec.shape[1] - left - c, 0, 0]))
        left += c
    return S.cat(parts, 0)


_block_diag_op = defop("block_diag(Tensor[] tensors) -> Tensor", meta=_block_diag_meta, decomposition=_block_diag,
                       family="tensor_more", doc="The tensors (0-d, 1-d or 2-d) as blocks on a diagonal.")


def block_diag(*tensors):
    """A block diagonal matrix of the tensors (each 0-d, 1-d or 2-d), zeros elsewhere."""
    return _block_diag_op(list(tensors))


def _cdist_meta(x1, x2, p=2.0, compute_mode=None):
    if x1.ndim < 2 or x2.ndim < 2:
        raise ShapeError(f"cdist(): expects tensors with at least 2 dimensions, got {x1.ndim} and {x2.ndim}")
    if x1._shape[-1] != x2._shape[-1]:
        raise ShapeError(f"cdist(): x1 and x2 must have the same number of columns, got {x1._shape[-1]} and "
                         f"{x2._shape[-1]}")
    if not x1._dtype.is_floating_point or x1._dtype is not x2._dtype:
        raise DTypeError(f"cdist(): expects two floating point tensors of one dtype, got {x1._dtype.name} and "
                         f"{x2._dtype.name}")
    if p < 0:
        raise InvalidArgumentError(f"cdist(): p must be non-negative, got {p}")
    batch = broadcast_shapes(x1._shape[:-2], x2._shape[:-2])
    return Spec(batch + (x1._shape[-2], x2._shape[-2]), x1._dtype)


def _safe_root(s, inv_p):
    """s ** inv_p with a zero gradient (not NaN) where s is 0, as PyTorch's cdist backward; a NaN sum stays
    NaN (a point with a NaN coordinate is at NaN distance)."""
    zero = E.eq(s, 0)
    return E.where(zero, _zero(s), E.pow(E.where(zero, E.add(_zero(s), 1), s), inv_p))


def _cdist(x1, x2, p=2.0, compute_mode=None):
    spec = _cdist_meta(x1, x2, p, compute_mode)
    P, Rn = x1._shape[-2], x2._shape[-2]
    mm = compute_mode == "use_mm_for_euclid_dist" or (compute_mode in (None, "use_mm_for_euclid_dist_if_necessary")
                                                       and (P > 25 or Rn > 25))
    if p == 2 and mm:
        n1 = R.sum(E.mul(x1, x1), [-1], True)
        n2 = R.sum(E.mul(x2, x2), [-1], True)
        d2 = E.add(E.sub(n1, E.mul(L.matmul(x1, V.transpose(x2, -1, -2)), 2)), V.transpose(n2, -1, -2))
        return V.expand(E.sqrt(E.clamp(d2, 0)), spec.shape).contiguous()
    diff = E.abs(E.sub(V.unsqueeze(x1, -2), V.unsqueeze(x2, -3)))      # (..., P, R, M)
    if p == 0:
        out = R.sum(E.ne(diff, 0), [-1]).to(spec.dtype)
    elif p == float("inf"):
        out = R.amax(diff, [-1]) if diff._shape[-1] else R.sum(diff, [-1])
    elif p == 1:
        out = R.sum(diff, [-1])
    else:
        out = _safe_root(R.sum(E.pow(diff, p), [-1]), 1.0 / p)
    return V.expand(out, spec.shape).contiguous() if out._shape != spec.shape else out


cdist = defop("cdist(Tensor x1, Tensor x2, float p=2.0, str? compute_mode=None) -> Tensor", meta=_cdist_meta,
              decomposition=_cdist, family="tensor_more",
              doc="The p-norm distance between each row of x1 and each row of x2 (batched).")


def _finfo(dt):
    if dt is D.bfloat16:   # an extension type: ml_dtypes is loaded only when bfloat16 is used
        import ml_dtypes
        return ml_dtypes.finfo(dt.np)
    return np.finfo(dt.np)


def _nan_to_num_meta(x, nan=0.0, posinf=None, neginf=None):
    return Spec(x._shape, x._dtype)


def _nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    if not x._dtype.is_floating_point:
        return C.clone(x)
    info = _finfo(x._dtype)
    big = float(info.max) if posinf is None else posinf
    small = float(info.min) if neginf is None else neginf
    fill = lambda v: C.full((), v, dtype=x._dtype, device=x._device)  # noqa: E731
    out = E.where(E.isnan(x), fill(0.0 if nan is None else nan), x)
    out = E.where(E.eq(x, float("inf")), fill(big), out)
    return E.where(E.eq(x, float("-inf")), fill(small), out)


nan_to_num = defop("nan_to_num(Tensor self, float? nan=0.0, float? posinf=None, float? neginf=None) -> Tensor",
                   meta=_nan_to_num_meta, decomposition=_nan_to_num, family="tensor_more",
                   doc="NaN, +inf and -inf replaced by nan, posinf and neginf (defaults: 0 and the dtype's "
                       "largest and lowest finite values).")


FUNCTIONS = {"tensordot": tensordot, "block_diag": block_diag}
