"""Operators: the sorting family (sort, argsort, topk).

``sort`` is the prim; argsort and topk are composites on it. Order follows
PyTorch: NaN sorts as the largest value (last ascending, first descending),
and a stable sort keeps equal elements in their input order in both
directions. ``ember.sort`` and ``ember.topk`` return named tuples
``(values, indices)``.
"""

from __future__ import annotations

from collections import namedtuple

from .. import dtypes as D
from ..dispatch import defop
from ..errors import IndexOutOfRangeError
from . import creation as C
from . import views as V
from ._helpers import Spec, numel, wrap_dim
from ..errors import ArgumentTypeError

SortResult = namedtuple("sort", ["values", "indices"])
TopkResult = namedtuple("topk", ["values", "indices"])
SortResult.__module__ = TopkResult.__module__ = "ember.return_types"


def _sort_meta(x, dim=-1, descending=False, stable=False):
    d = wrap_dim(dim, x.ndim, "sort")
    return Spec(x._shape, x._dtype, d), Spec(x._shape, D.int64)


def _sort_adapter(op, kernel, backend):
    def entry(x, dim=-1, descending=False, stable=False):
        d = _sort_meta(x, dim)[0].extra
        if numel(x._shape) <= 1:   # nothing to order: 0-d, empty or one element
            return C.clone(x), C.zeros(x._shape, dtype=D.int64, device=x._device)
        return kernel(x, d, bool(descending), bool(stable))
    return entry


_sort = defop("sort(Tensor self, int dim=-1, bool descending=False, bool? stable=False) -> (Tensor, Tensor)",
              meta=_sort_meta, prim=True, adapter=_sort_adapter, family="sorting",
              doc="kernel(x, dim, descending, stable) -> (values, int64 indices): x (ndim >= 1, at least "
                  "two elements) ordered along dim, NaN as the largest value; a kernel may always sort "
                  "stably (equal values keep their input order, in both directions).")


def sort(input, dim=-1, descending=False, stable=False):
    """Values and indices of ``input`` ordered along ``dim``: ``(values, indices)``, a named tuple."""
    return SortResult(*_sort(input, dim, descending, stable))


def _argsort_meta(x, dim=-1, descending=False, stable=False):
    return _sort_meta(x, dim)[1]


def _argsort(x, dim=-1, descending=False, stable=False):
    return _sort(x, dim, descending, stable)[1]


argsort = defop("argsort(Tensor self, int dim=-1, bool descending=False, bool stable=False) -> Tensor",
                meta=_argsort_meta, decomposition=_argsort, family="sorting")


def _topk_meta(x, k, dim=-1, largest=True, sorted=True):
    d = wrap_dim(dim, x.ndim, "topk")
    n = x._shape[d] if x._shape else 1
    if not isinstance(k, int) or isinstance(k, bool):
        raise ArgumentTypeError(f"topk(): k must be an int, got {type(k).__name__}: {k!r}")
    if k < 0 or k > n:
        raise IndexOutOfRangeError(f"topk(): k={k} is out of range for dimension {d} of size {n} "
                                   f"(expected 0 <= k <= {n})")
    shape = x._shape[:d] + (k,) + x._shape[d + 1:] if x._shape else ()
    return Spec(shape, x._dtype, d), Spec(shape, D.int64)


def _topk(x, k, dim=-1, largest=True, sorted=True):
    d = _topk_meta(x, k, dim)[0].extra
    values, indices = _sort(x, d, largest, True)
    if not x._shape or k == x._shape[d]:
        return values, indices
    return V.narrow(values, d, 0, k).contiguous(), V.narrow(indices, d, 0, k).contiguous()


_topk_op = defop("topk(Tensor self, int k, int dim=-1, bool largest=True, bool sorted=True) -> (Tensor, Tensor)",
                 meta=_topk_meta, decomposition=_topk, family="sorting",
                 doc="The k largest (or smallest) elements along dim and their indices; always sorted, "
                     "NaN counting as the largest value.")


def topk(input, k, dim=-1, largest=True, sorted=True):
    """The k largest (``largest=False``: smallest) elements along ``dim``: ``(values, indices)``, a named tuple."""
    return TopkResult(*_topk_op(input, k, dim, largest, sorted))


FUNCTIONS = {"sort": sort, "topk": topk}
METHODS = {"sort": sort, "topk": topk}
