"""Operators: searching, counting and sampling from counts.

searchsorted and bucketize merge the values into the sorted sequence with one
stable sort (any backend with the sort prim runs them); histc, bincount,
unique and unique_consecutive count with scatter_add; multinomial and poisson
draw from Ember's Philox generator, so one seed gives the same samples on every
backend. bincount, unique and unique_consecutive have data-dependent output
shapes: they read one size back to the host, as PyTorch does on a GPU.
"""

from __future__ import annotations

from .. import dtypes as D
from .._tensor import Tensor
from ..dispatch import defop
from ..errors import DTypeError, ShapeError
from ..runtime.copies import read_for_check
from . import creation as C
from . import elementwise as E
from . import indexing as I
from . import reduction as R
from . import shape as S
from . import sorting as SO
from . import views as V
from ._helpers import Spec, numel, wrap_dim
from .indexing import _data_dependent
from ..errors import InvalidArgumentError

# -- searchsorted, bucketize --------------------------------------------------------------

def _side(right, side, opname):
    if side is None:
        return bool(right)
    if side not in ("left", "right"):
        raise InvalidArgumentError(f"{opname}(): side must be 'left' or 'right', got {side!r}")
    if right and side == "left":
        raise InvalidArgumentError(f"{opname}(): side='left' and right=True contradict each other; give one of them")
    return side == "right"


def _searchsorted_meta(seq, x, out_int32=False, right=False, side=None, sorter=None):
    _side(right, side, "searchsorted")
    if seq.ndim == 0:
        raise ShapeError("searchsorted(): sorted_sequence must have at least one dimension, got a 0-d tensor")
    if seq.ndim > 1 and tuple(seq._shape[:-1]) != tuple(x._shape[:-1]):
        raise ShapeError(f"searchsorted(): the leading dims of sorted_sequence {tuple(seq._shape)} and input "
                         f"{tuple(x._shape)} must match (or give a 1-d sorted_sequence)")
    if sorter is not None and (tuple(sorter._shape) != tuple(seq._shape) or sorter._dtype is not D.int64):
        raise ShapeError(f"searchsorted(): sorter must be an int64 tensor of the sequence's shape "
                         f"{tuple(seq._shape)}, got {sorter._dtype.name} {tuple(sorter._shape)}")
    return Spec(x._shape, D.int32 if out_int32 else D.int64)


def _searchsorted(seq, x, out_int32=False, right=False, side=None, sorter=None):
    spec = _searchsorted_meta(seq, x, out_int32, right, side, sorter)
    right = _side(right, side, "searchsorted")
    if sorter is not None:
        seq = I.gather(seq, -1, sorter)
    ct = D.promote_types(seq._dtype, x._dtype)
    seq, vals = seq.to(ct), x.to(ct)
    batch = seq.ndim > 1
    vals = vals if batch else V.reshape(vals, (-1,))
    if vals.ndim == 0:
        vals = V.reshape(vals, (1,))
    n, m = seq._shape[-1], vals._shape[-1]
    if n == 0 or m == 0:
        return C.zeros(spec.shape, dtype=spec.dtype, device=x._device)
    # One stable sort of [seq, vals] (right) or [vals, seq] (left): a value lands after the sequence
    # elements below it (and after the equal ones when right). Its answer is its position in the merged
    # order less the values before it.
    merged = S.cat([seq, vals] if right else [vals, seq], -1)
    perm = SO.argsort(merged, -1, False, True)
    is_val = E.ge(perm, n) if right else E.lt(perm, m)
    below = E.sub(C.arange(0, n + m, device=x._device), R.cumsum(is_val, -1))
    count = E.add(below, 1)                                    # sequence elements before each merged slot
    place = C.zeros(perm._shape, dtype=D.int64, device=x._device)
    place = I.scatter(place, -1, perm, V.expand(C.arange(0, n + m, device=x._device), perm._shape))
    slots = V.narrow(place, -1, n, m) if right else V.narrow(place, -1, 0, m)
    out = I.gather(count, -1, slots.contiguous())
    return V.reshape(out, spec.shape).to(spec.dtype)


searchsorted_op = defop("searchsorted(Tensor sorted_sequence, Tensor input, *, bool out_int32=False, bool right=False, "
                        "str? side=None, Tensor? sorter=None) -> Tensor", meta=_searchsorted_meta,
                        decomposition=_searchsorted, family="counting",
                        doc="Where each input value would go in the sorted last dim of sorted_sequence to keep "
                            "it sorted: the first such index (right: the last).")


def searchsorted(sorted_sequence, input, *, out_int32=False, right=False, side=None, sorter=None):
    """Insertion indices of ``input`` (a tensor or a number) in ``sorted_sequence``'s last dim."""
    if not isinstance(input, Tensor):
        input = C.full((), input, dtype=D.scalar_dtype(input), device=sorted_sequence._device)
    return searchsorted_op(sorted_sequence, input, out_int32=out_int32, right=right, side=side, sorter=sorter)


def _bucketize_meta(x, boundaries, out_int32=False, right=False):
    if boundaries.ndim != 1:
        raise ShapeError(f"bucketize(): boundaries must be a 1-d tensor, got shape {tuple(boundaries._shape)}")
    return Spec(x._shape, D.int32 if out_int32 else D.int64)


def _bucketize(x, boundaries, out_int32=False, right=False):
    _bucketize_meta(x, boundaries, out_int32, right)
    return searchsorted_op(boundaries, x, out_int32=out_int32, right=right)


bucketize = defop("bucketize(Tensor self, Tensor boundaries, *, bool out_int32=False, bool right=False) -> Tensor",
                  meta=_bucketize_meta, decomposition=_bucketize, family="counting",
                  doc="The bucket of each element among 1-d sorted boundaries (searchsorted on them).")


# -- histc, bincount ----------------------------------------------------------------------------

def _histc_meta(x, bins=100, min=0, max=0):
    if not x._dtype.is_floating_point:
        raise DTypeError(f"histc(): expects a floating point tensor, got {x._dtype.name}")
    if bins <= 0:
        raise InvalidArgumentError(f"histc(): bins must be > 0, got {bins}")
    if min > max:
        raise InvalidArgumentError(f"histc(): max must be larger than min, got min={min}, max={max}")
    return Spec((bins,), x._dtype)


def _histc(x, bins=100, min=0, max=0):
    spec = _histc_meta(x, bins, min, max)
    flat = V.reshape(x, (-1,))
    full = lambda v: C.full((), v, dtype=x._dtype, device=x._device)  # noqa: E731
    if min == max and numel(x._shape):
        if not read_for_check(R.all(E.isfinite(flat))):  # the data's range is the bins' range: it must be finite
            raise InvalidArgumentError(f"histc(): range of [{read_for_check(R.amin(flat))}, "
                                       f"{read_for_check(R.amax(flat))}] is not finite (the data holds NaN or inf); "
                                       f"pass min and max, or drop the non-finite values")
        lo, hi = R.amin(flat), R.amax(flat)
    else:
        lo, hi = full(min), full(max)
    same = E.eq(lo, hi)
    lo, hi = E.where(same, E.sub(lo, 1), lo), E.where(same, E.add(hi, 1), hi)
    keep = E.logical_and(E.ge(flat, lo), E.le(flat, hi))
    pos = E.floor(E.mul(E.true_divide(E.sub(flat, lo), E.sub(hi, lo)), bins))
    pos = E.where(E.eq(flat, hi), bins - 1, pos)  # max goes to the last bin, also where hi - lo rounds to 0
    idx = E.clamp(E.where(keep, pos, full(0)), 0, bins - 1).to(D.int64)
    return I.scatter_add(C.zeros((bins,), dtype=spec.dtype, device=x._device), 0, idx, keep.to(spec.dtype))


histc = defop("histc(Tensor self, int bins=100, Scalar min=0, Scalar max=0) -> Tensor", meta=_histc_meta,
              decomposition=_histc, family="counting",
              doc="A histogram of bins equal-width bins over [min, max] (the data's range when min == max).")


def _bincount_check(x, weights, minlength):
    if x.ndim != 1 or x._dtype.category != 1:
        raise DTypeError(f"bincount(): expects a 1-d tensor of non-negative integers, got a {x.ndim}-d "
                         f"{x._dtype.name} tensor")
    if weights is not None and tuple(weights._shape) != tuple(x._shape):
        raise ShapeError(f"bincount(): weights must have the input's shape {tuple(x._shape)}, got "
                         f"{tuple(weights._shape)}")
    if minlength < 0:
        raise InvalidArgumentError(f"bincount(): minlength must be non-negative, got {minlength}")
    if weights is None:
        return D.int64
    return weights._dtype if weights._dtype.is_floating_point else D.float64


def _bincount_meta(x, weights=None, minlength=0):
    _bincount_check(x, weights, minlength)
    raise _data_dependent("bincount", "its output length is the largest input value plus one")


def _bincount(x, weights=None, minlength=0):
    dt = _bincount_check(x, weights, minlength)
    n = minlength
    if x._shape[0]:
        low, high = S.stack([R.amin(x), R.amax(x)], 0).tolist()      # one read back to the host
        if low < 0:
            raise InvalidArgumentError(f"bincount(): input must be non-negative, got a minimum of {low}")
        n = n if n > high else high + 1
    src = C.ones(x._shape, dtype=dt, device=x._device) if weights is None else weights.to(dt)
    return I.scatter_add(C.zeros((n,), dtype=dt, device=x._device), 0, x.to(D.int64), src)


bincount = defop("bincount(Tensor self, Tensor? weights=None, int minlength=0) -> Tensor", meta=_bincount_meta,
                 decomposition=_bincount, family="counting",
                 doc="How often each value 0..max occurs in a 1-d non-negative integer tensor (or the sum of "
                     "its weights).")


# -- unique, unique_consecutive ------------------------------------------------------------------

def _unique_meta(x, sorted=True, return_inverse=False, return_counts=False, dim=None):
    if dim is not None:
        wrap_dim(dim, x.ndim, "unique")
    raise _data_dependent("unique", "its output length is the number of distinct values")


def _rows(x, dim):
    """x as (n, rest) rows along dim, and a function that shapes k rows back."""
    if dim is None:
        return V.reshape(x, (-1, 1)), lambda r: V.reshape(r, (-1,))
    d = wrap_dim(dim, x.ndim, "unique")
    moved = V.movedim(x, d, 0)
    rest = moved._shape[1:]
    return V.reshape(moved, (moved._shape[0], -1)), lambda r: V.movedim(V.reshape(r, (r._shape[0],) + rest), 0, d)


def _groups(x, dim, order):
    """(rows in group order, group start flags, the permutation): order sorts rows lexicographically."""
    rows, back = _rows(x, dim)
    n, w = rows._shape
    perm = C.arange(0, n, device=x._device)
    if order:
        for c in range(w - 1, -1, -1):   # least significant column first: stable sorts compose
            key = I.index_select(V.select(rows, 1, c), 0, perm)
            perm = I.index_select(perm, 0, SO.argsort(key, 0, False, True))
        rows = I.index_select(rows, 0, perm)
    if n == 0:
        return rows, C.zeros((0,), dtype=D.bool, device=x._device), perm, back
    diff = R.any(E.ne(V.narrow(rows, 0, 1, n - 1), V.narrow(rows, 0, 0, n - 1)), [1]) if w else \
        C.zeros((n - 1,), dtype=D.bool, device=x._device)
    start = S.cat([C.ones((1,), dtype=D.bool, device=x._device), diff], 0)
    return rows, start, perm, back


def _unique_impl(x, order, return_inverse, return_counts, dim):
    rows, start, perm, back = _groups(x, dim, order)
    pos = V.reshape(I.nonzero(start), (-1,))            # reads the number of groups back to the host
    values = back(I.index_select(rows, 0, pos))
    out = [values]
    if return_inverse or return_counts:
        gid = E.sub(R.cumsum(start, 0), 1)
    if return_inverse:
        inv = I.scatter(C.zeros(perm._shape, dtype=D.int64, device=x._device), 0, perm, gid)
        out.append(V.reshape(inv, x._shape) if dim is None else inv)
    if return_counts:
        k = pos._shape[0]
        out.append(I.scatter_add(C.zeros((k,), dtype=D.int64, device=x._device), 0, gid,
                                 C.ones(gid._shape, dtype=D.int64, device=x._device)))
    return out[0] if len(out) == 1 else tuple(out)


def _unique(x, sorted=True, return_inverse=False, return_counts=False, dim=None):
    return _unique_impl(x, True, return_inverse, return_counts, dim)


unique = defop("unique(Tensor self, bool sorted=True, bool return_inverse=False, bool return_counts=False, "
               "int? dim=None) -> Tensor", meta=_unique_meta, decomposition=_unique, family="counting",
               doc="The distinct values (or slices along dim), sorted; with the inverse indices and counts "
                   "when asked: a tuple.")


def _unique_consecutive_meta(x, return_inverse=False, return_counts=False, dim=None):
    if dim is not None:
        wrap_dim(dim, x.ndim, "unique_consecutive")
    raise _data_dependent("unique_consecutive", "its output length is the number of runs")


def _unique_consecutive(x, return_inverse=False, return_counts=False, dim=None):
    return _unique_impl(x, False, return_inverse, return_counts, dim)


unique_consecutive = defop("unique_consecutive(Tensor self, bool return_inverse=False, bool return_counts=False, "
                           "int? dim=None) -> Tensor", meta=_unique_consecutive_meta,
                           decomposition=_unique_consecutive, family="counting",
                           doc="The first value (or slice along dim) of each run of equal ones.")


FUNCTIONS = {"searchsorted": searchsorted}
