"""Operators: quantile and nanquantile, interpolating between sorted neighbours.

One sort along the reduced dim, then a gather of the two neighbours of each
rank q * (n - 1) and PyTorch's interpolation between them ('linear', 'lower',
'higher', 'midpoint', 'nearest'). A NaN in a slice makes quantile NaN there;
nanquantile ranks among the slice's other values.
"""

from __future__ import annotations

from .. import dtypes as D
from .._tensor import Tensor
from ..dispatch import defop
from ..errors import DTypeError, IndexOutOfRangeError
from . import creation as C
from . import elementwise as E
from . import indexing as I
from . import reduction as R
from . import shape as S
from . import sorting as SO
from . import views as V
from ._helpers import Spec, wrap_dim
from .statistics import _reduced
from ..errors import InvalidArgumentError

# -- quantile, nanquantile ---------------------------------------------------------------------

_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile_meta_for(opname):
    def meta(x, q, dim=None, keepdim=False, interpolation="linear"):
        if x._dtype not in (D.float32, D.float64):
            raise DTypeError(f"{opname}(): input tensor must be either float or double dtype, got {x._dtype.name}")
        if interpolation not in _INTERPOLATIONS:
            raise InvalidArgumentError(f"{opname}(): interpolation must be one of {', '.join(_INTERPOLATIONS)}, "
                                       f"got {interpolation!r}")
        if isinstance(q, Tensor):
            if q.ndim > 1 or q._dtype is not x._dtype:
                raise DTypeError(f"{opname}(): q must be a 0-d or 1-d tensor of the input's dtype {x._dtype.name}, "
                                 f"got a {q.ndim}-d {q._dtype.name} tensor")
            lead = tuple(q._shape)
        else:
            if not 0 <= q <= 1:
                raise InvalidArgumentError(f"{opname}(): q must be in the range [0, 1], got {q}")
            lead = ()
        if x.numel() == 0:
            raise IndexOutOfRangeError(f"{opname}(): input tensor must be non-empty")
        if dim is None:
            rest = (1,) * x.ndim if keepdim else ()
            return Spec(lead + rest, x._dtype, None)
        d = wrap_dim(dim, x.ndim, opname)
        return Spec(lead + _reduced(x, d, keepdim), x._dtype, d)
    return meta


def _quantile_for(opname, nan_skip):
    meta = _quantile_meta_for(opname)

    def fn(x, q, dim=None, keepdim=False, interpolation="linear"):
        spec = meta(x, q, dim, keepdim, interpolation)
        d = spec.extra
        xs = V.reshape(x, (-1,)) if d is None else V.movedim(x, d, -1) if x.ndim else V.reshape(x, (1,))
        qt = q if isinstance(q, Tensor) else C.full((), q, dtype=x._dtype, device=x._device)
        if isinstance(q, Tensor) and q.numel():
            lo, hi = S.stack([R.amin(q), R.amax(q)], 0).tolist()     # PyTorch checks q's values too
            if lo < 0 or hi > 1:
                raise InvalidArgumentError(f"{opname}(): q values must be in the range [0, 1], got {lo} to {hi}")
        qf = V.reshape(qt, (-1,))                                        # (Q,)
        n = xs._shape[-1]
        vals = SO.sort(xs, -1, False, True)[0]
        valid = E.sub(n, R.sum(E.isnan(xs), [-1], True)).to(x._dtype)   # (..., 1)
        if nan_skip:
            rank = E.mul(qf, E.clamp(E.sub(valid, 1), 0, None))
        else:
            rank = E.where(E.lt(valid, n), C.full((), n - 1, dtype=x._dtype, device=x._device), E.mul(qf, n - 1))
            rank = V.expand(rank, valid._shape[:-1] + qf._shape)
        if interpolation == "nearest":
            rank = E.round(rank)
        below = E.floor(rank).to(D.int64)
        above = E.ceil(rank).to(D.int64)
        if interpolation in ("lower", "nearest"):
            out = I.gather(vals, -1, below)
        elif interpolation == "higher":
            out = I.gather(vals, -1, above)
        else:
            w = E.sub(rank, E.floor(rank)) if interpolation == "linear" else E.mul(E.ne(below, above), 0.5)
            out = E.lerp(I.gather(vals, -1, below), I.gather(vals, -1, above), w.to(x._dtype))
        out = V.movedim(out, -1, 0)                                        # (Q, ...)
        return V.reshape(out, spec.shape)
    return fn


def _quantile_op(opname, nan_skip):
    return defop(f"{opname}(Tensor self, Any q, int? dim=None, bool keepdim=False, *, str interpolation='linear') "
                 f"-> Tensor", meta=_quantile_meta_for(opname), decomposition=_quantile_for(opname, nan_skip),
                 family="statistics",
                 doc="The q-th quantiles along dim (all elements when dim is None), interpolating between sorted "
                     "neighbours" + (", ignoring NaN." if nan_skip else "; NaN if the slice has a NaN."))


quantile = _quantile_op("quantile", False)
nanquantile = _quantile_op("nanquantile", True)
