"""Operators: the indexing family (gather, scatter, index_select, index_add, masks, nonzero).

Prims: ``gather``, ``scatter_``, ``scatter_add_`` and ``nonzero``. Everything
else decomposes onto them (and onto where, views and copies), so a backend
that implements four kernels gets the whole family; the cpu backend registers
faster kernels for several composites.

Index bounds: a kernel reports an index outside its range by raising
IndexError with the value and the size (it must never read or write out of
bounds); core re-raises it as ``ember.IndexOutOfRangeError`` naming the
operator. Kernels only see non-empty inputs with at least one dimension:
core reshapes 0-d operands to shape (1,) and answers empty ones itself.

Advanced indexing (``index``, ``index_put_``) and ``Tensor.__getitem__`` /
``__setitem__`` live in ``ember._indexing``.
"""

from __future__ import annotations

from .. import dtypes as D
from .._tensor import Tensor
from ..dispatch import defop
from ..errors import DTypeError, IndexOutOfRangeError, NotImplementedForBackend, ShapeError
from . import creation as C
from . import elementwise as E
from . import views as V
from ._helpers import Spec, broadcast_shapes, check_opmath_scalars, check_scalar, numel, wrap_dim
from ..errors import ArgumentTypeError, InvalidArgumentError

_INDEX_DTYPES = (D.int64, D.int32)


# -- shared checks ----------------------------------------------------------------

def _check_long(opname, index, what="index"):
    if not isinstance(index, Tensor):
        raise ArgumentTypeError(f"{opname}(): {what} must be an int64 tensor, got {type(index).__name__}")
    if index._dtype is not D.int64:
        raise DTypeError(f"{opname}(): expected dtype int64 for {what}, got {index._dtype.name}; "
                         f"convert it with {what}.long()")


def _check_index_dtype(opname, index):
    """index_select and index_add take int64 or int32 indices, as PyTorch does."""
    if not isinstance(index, Tensor):
        raise ArgumentTypeError(f"{opname}(): index must be an int64 or int32 tensor, got {type(index).__name__}")
    if index._dtype not in _INDEX_DTYPES:
        raise DTypeError(f"{opname}(): expected dtype int64 or int32 for index, got {index._dtype.name}; "
                         f"convert it with index.long()")


def _check_vector(opname, index):
    if index.ndim > 1:
        raise ShapeError(f"{opname}(): index must be a vector (0-d or 1-d), got shape {tuple(index._shape)}")


def _same_dtype(opname, self, other, what):
    if other._dtype is not self._dtype:
        raise DTypeError(f"{opname}(): self ({self._dtype.name}) and {what} ({other._dtype.name}) must have "
                         f"the same dtype; convert with {what}.to(self.dtype)")


def _out_of_range(opname, err):
    """Re-raise a kernel's IndexError as Ember's typed error, naming the operator."""
    msg = str(err)
    if msg.startswith(opname + "()"):
        return IndexOutOfRangeError(msg)
    return IndexOutOfRangeError(f"{opname}(): {msg}")


def _rank1(t):
    """A 0-d tensor seen as shape (1,) (a view, so writes reach the original)."""
    return t._view((1,), (1,)) if not t._shape else t


def _not_aliased(self, other):
    """``other`` unless it shares storage with ``self`` (then a copy), so in-place writes read clean data."""
    return C.clone(other) if isinstance(other, Tensor) and other._storage is self._storage else other


def _shape1(t):
    return t._shape if t._shape else (1,)


# -- gather ---------------------------------------------------------------------------

def _gather_meta(x, dim, index, sparse_grad=False):
    _check_long("gather", index)
    d = wrap_dim(dim, x.ndim, "gather")
    xs, is_ = _shape1(x), _shape1(index)
    if len(xs) != len(is_):
        raise ShapeError(f"gather(): index must have as many dimensions as self, got index of shape "
                         f"{tuple(index._shape)} and self of shape {tuple(x._shape)}")
    for i, (n, m) in enumerate(zip(xs, is_)):
        if i != d and m > n:
            raise ShapeError(f"gather(): index of shape {tuple(index._shape)} is larger than self of shape "
                             f"{tuple(x._shape)} at dimension {i}; only dimension {d} (dim) may be larger")
    return Spec(index._shape, x._dtype, d)


def _gather_adapter(op, kernel, backend):
    def entry(x, dim, index, sparse_grad=False):
        spec = _gather_meta(x, dim, index)
        if numel(index._shape) == 0:
            return C.empty(index._shape, dtype=x._dtype, device=x._device)
        try:
            out = kernel(_rank1(x), spec.extra, _rank1(index))
        except IndexError as e:
            raise _out_of_range("gather", e) from None
        return out if index._shape else V.reshape(out, ())
    return entry


gather = defop("gather(Tensor self, int dim, Tensor index, *, bool sparse_grad=False) -> Tensor",
               meta=_gather_meta, prim=True, adapter=_gather_adapter, family="indexing",
               doc="Values of self along dim at the positions index gives.\n"
                   "Kernel: kernel(x, dim, index) -> Tensor\n"
                   "Operands: x (any dtype) and index (int64) are tensors of the same ndim >= 1, any strides; "
                   "index is non-empty and no larger than x outside dim; dim is a non-negative int.\n"
                   "Out: none; the kernel allocates and returns a new tensor of index's shape.\n"
                   "Result: x's dtype; out[p] = x[p with p[dim] = index[p]] for every p in index's shape.\n"
                   "Edges: IndexError, naming the bad value, for an index outside [0, x.shape[dim]); "
                   "negative indices are not wrapped.")


# -- scatter, scatter_add -----------------------------------------------------------------

def _scatter_src(opname, src, value):
    if src is None and value is None:
        raise ArgumentTypeError(f"{opname}(): give src (a tensor) or value (a number)")
    if src is not None and value is not None:
        raise ArgumentTypeError(f"{opname}(): give either src or value, not both")
    if src is not None and not isinstance(src, Tensor):
        return None, src      # scatter(dim, index, 1.5): a number passed positionally
    return src, value


def _scatter_check(opname, self, dim, index, src):
    _check_long(opname, index)
    d = wrap_dim(dim, self.ndim, opname)
    ss, is_ = _shape1(self), _shape1(index)
    if src is not None:
        _same_dtype(opname, self, src, "src")
    if numel(index._shape) == 0:
        return d
    srcs = _shape1(src) if src is not None else None
    if len(is_) != len(ss) or (srcs is not None and len(srcs) != len(ss)):
        raise ShapeError(f"{opname}(): index, self and src must have the same number of dimensions, got "
                         f"index {tuple(index._shape)}, self {tuple(self._shape)}"
                         + (f", src {tuple(src._shape)}" if src is not None else ""))
    for i, m in enumerate(is_):
        if (i != d and m > ss[i]) or (srcs is not None and m > srcs[i]):
            raise ShapeError(
                f"{opname}(): index of shape {tuple(index._shape)} must be no larger than self "
                f"{tuple(self._shape)} outside dimension {d} and no larger than src "
                f"{tuple(src._shape) if src is not None else '(a number)'} in every dimension")
    return d


def _reduce_arg(opname, reduce):
    if reduce not in (None, "add"):
        raise InvalidArgumentError(f"{opname}(): reduce={reduce!r} is not supported; use reduce=None or 'add' "
                                   f"(or scatter_add)")


def _scatter_meta(self, dim, index, src=None, value=None, reduce=None):
    src, value = _scatter_src("scatter", src, value)
    _reduce_arg("scatter", reduce)
    return Spec(self._shape, self._dtype, _scatter_check("scatter", self, dim, index, src))


def _scatter_adapter(op, kernel, backend):
    def entry(self, dim, index, src=None, value=None, reduce=None):
        src, value = _scatter_src("scatter_", src, value)
        _reduce_arg("scatter_", reduce)
        d = _scatter_check("scatter_", self, dim, index, src)
        if src is None:
            src = V.expand(C.full((), value, dtype=self._dtype, device=self._device), index._shape)
        if reduce == "add":
            return scatter_add_(self, d, index, src)
        if numel(index._shape) == 0:
            return self
        try:
            kernel(_rank1(self), d, _rank1(index), _rank1(_not_aliased(self, src)))
        except IndexError as e:
            raise _out_of_range("scatter_", e) from None
        return self
    return entry


scatter_ = defop("scatter_(Tensor self, int dim, Tensor index, Tensor? src=None, *, Scalar? value=None, "
                 "str? reduce=None) -> Tensor", meta=_scatter_meta, prim=True, adapter=_scatter_adapter,
                 family="indexing",
                 doc="Write src into self along dim at the positions index gives.\n"
                     "Kernel: kernel(self, dim, index, src) -> None\n"
                     "Operands: self, index (int64) and src are tensors of one ndim >= 1, any strides; src has "
                     "self's dtype (a number arrives as an expanded 0-d tensor, stride 0) and is at least "
                     "index's size in every dim; index is non-empty and no larger than self outside dim.\n"
                     "Out: self, written in place (possibly a strided view); the return value is ignored.\n"
                     "Result: self[p with p[dim] = index[p]] = src[p] for every p in index's shape.\n"
                     "Edges: IndexError, before any write, for an index outside [0, self.shape[dim]); with "
                     "repeated indices one of the written values wins.")


def _scatter(self, dim, index, src=None, value=None, reduce=None):
    _scatter_meta(self, dim, index, src, value, reduce)
    return scatter_(C.clone(self), dim, index, src, value=value, reduce=reduce)


scatter = defop("scatter(Tensor self, int dim, Tensor index, Tensor? src=None, *, Scalar? value=None, "
                "str? reduce=None) -> Tensor", meta=_scatter_meta, decomposition=_scatter, family="indexing")


def _scatter_add_meta(self, dim, index, src):
    if not isinstance(src, Tensor):
        raise ArgumentTypeError(f"scatter_add(): src must be a tensor, got {type(src).__name__}")
    return Spec(self._shape, self._dtype, _scatter_check("scatter_add", self, dim, index, src))


def _scatter_add_adapter(op, kernel, backend):
    def entry(self, dim, index, src):
        d = _scatter_add_meta(self, dim, index, src).extra
        if numel(index._shape) == 0:
            return self
        try:
            kernel(_rank1(self), d, _rank1(index), _rank1(_not_aliased(self, src)))
        except IndexError as e:
            raise _out_of_range("scatter_add_", e) from None
        return self
    return entry


scatter_add_ = defop("scatter_add_(Tensor self, int dim, Tensor index, Tensor src) -> Tensor",
                     meta=_scatter_add_meta, prim=True, adapter=_scatter_add_adapter, family="indexing",
                     doc="Add src into self along dim at the positions index gives.\n"
                         "Kernel: kernel(self, dim, index, src) -> None\n"
                         "Operands: as for scatter_: self, index (int64) and src of one ndim >= 1, src of "
                         "self's dtype and at least index's size in every dim.\n"
                         "Out: self, written in place (possibly a strided view); the return value is ignored.\n"
                         "Result: self[p with p[dim] = index[p]] += src[p] for every p in index's shape.\n"
                         "Edges: repeated indices accumulate (every addend counts); IndexError, before any "
                         "write, for an index out of range; integers wrap.")


def _scatter_add(self, dim, index, src):
    _scatter_add_meta(self, dim, index, src)
    return scatter_add_(C.clone(self), dim, index, src)


scatter_add = defop("scatter_add(Tensor self, int dim, Tensor index, Tensor src) -> Tensor",
                    meta=_scatter_add_meta, decomposition=_scatter_add, family="indexing")


# -- index_select, index_add ------------------------------------------------------------

def _index_select_meta(x, dim, index):
    _check_index_dtype("index_select", index)
    _check_vector("index_select", index)
    d = wrap_dim(dim, x.ndim, "index_select")
    n = numel(index._shape)
    if not x._shape:
        if n != 1:
            raise ShapeError(f"index_select(): a 0-d self takes exactly one index, got {n}")
        return Spec((), x._dtype, d)
    return Spec(x._shape[:d] + (n,) + x._shape[d + 1:], x._dtype, d)


def _as_long_vector(index):
    index = index if index._dtype is D.int64 else index.to(D.int64)
    return index if index._shape and len(index._shape) == 1 else V.reshape(index, (-1,))


def _index_select(x, dim, index):
    spec = _index_select_meta(x, dim, index)
    d = spec.extra
    idx = _as_long_vector(index)
    x1 = _rank1(x)
    view = [1] * len(x1._shape)
    view[d] = idx._shape[0]
    out_shape = x1._shape[:d] + (idx._shape[0],) + x1._shape[d + 1:]
    try:
        out = gather(x1, d, V.expand(V.reshape(idx, tuple(view)), out_shape))
    except IndexOutOfRangeError as e:
        raise IndexOutOfRangeError(str(e).replace("gather()", "index_select()", 1)) from None
    return out if x._shape else V.reshape(out, ())


def _index_select_adapter(op, kernel, backend):
    def entry(x, dim, index):
        spec = _index_select_meta(x, dim, index)
        if numel(spec.shape) == 0 and numel(index._shape) == 0:
            return C.empty(spec.shape, dtype=x._dtype, device=x._device)
        try:
            out = kernel(_rank1(x), spec.extra, _as_long_vector(index))
        except IndexError as e:
            raise _out_of_range("index_select", e) from None
        return out if x._shape else V.reshape(out, ())
    return entry


index_select = defop("index_select(Tensor self, int dim, Tensor index) -> Tensor", meta=_index_select_meta,
                     decomposition=_index_select, adapter=_index_select_adapter, family="indexing",
                     doc="kernel(x, dim, index) -> Tensor: x with dim replaced by index's length, "
                         "out.select(dim, i) = x.select(dim, index[i]); x has ndim >= 1, index is a 1-d "
                         "int64 vector. IndexError for an index outside [0, x.shape[dim]).")


def _index_add_meta(self, dim, index, source, alpha=1):
    _check_index_dtype("index_add", index)
    _check_vector("index_add", index)
    if not isinstance(source, Tensor):
        raise ArgumentTypeError(f"index_add(): source must be a tensor, got {type(source).__name__}")
    _same_dtype("index_add", self, source, "source")
    d = wrap_dim(dim, self.ndim, "index_add")
    ss, src = _shape1(self), _shape1(source)
    want = ss[:d] + (numel(index._shape),) + ss[d + 1:]
    if src != want:
        raise ShapeError(f"index_add(): source of shape {tuple(source._shape)} must have self's shape "
                         f"{tuple(self._shape)} with dimension {d} replaced by the index's length "
                         f"{numel(index._shape)}, i.e. {want}")
    check_opmath_scalars("index_add", self._dtype, alpha)
    return Spec(self._shape, self._dtype, d)


def _scaled(source, alpha, dtype):
    if alpha is None or alpha == 1:
        return source
    a = E._scalar_as(alpha, dtype)
    return E.mul(source, a) if dtype is not D.bool else E.logical_and(source, a)


def _index_add_(self, dim, index, source, alpha=1):
    d = _index_add_meta(self, dim, index, source, alpha).extra
    idx = _as_long_vector(index)
    src = _rank1(_scaled(_not_aliased(self, source), alpha, self._dtype))
    view = [1] * len(src._shape)
    view[d] = idx._shape[0]
    try:
        scatter_add_(_rank1(self), d, V.expand(V.reshape(idx, tuple(view)), src._shape), src)
    except IndexOutOfRangeError as e:
        raise IndexOutOfRangeError(str(e).replace("scatter_add_()", "index_add_()", 1)) from None
    return self


def _index_add_adapter(op, kernel, backend):
    def entry(self, dim, index, source, alpha=1):
        d = _index_add_meta(self, dim, index, source, alpha).extra
        if numel(source._shape) == 0:
            return self
        src = _scaled(_not_aliased(self, source), alpha, self._dtype)
        try:
            kernel(_rank1(self), d, _as_long_vector(index), _rank1(src))
        except IndexError as e:
            raise _out_of_range("index_add_", e) from None
        return self
    return entry


index_add_ = defop("index_add_(Tensor self, int dim, Tensor index, Tensor source, *, Scalar alpha=1) -> Tensor",
                   meta=_index_add_meta, decomposition=_index_add_, adapter=_index_add_adapter,
                   family="indexing",
                   doc="kernel(self, dim, index, source): self.select(dim, index[i]) += source.select(dim, i) "
                       "in place; alpha is already applied, index is a 1-d int64 vector, self and source "
                       "have one dtype and ndim >= 1. IndexError, before any write, for a bad index.")


def _index_add(self, dim, index, source, alpha=1):
    _index_add_meta(self, dim, index, source, alpha)
    return index_add_(C.clone(self), dim, index, source, alpha=alpha)


index_add = defop("index_add(Tensor self, int dim, Tensor index, Tensor source, *, Scalar alpha=1) -> Tensor",
                  meta=_index_add_meta, decomposition=_index_add, family="indexing")


# -- masks ------------------------------------------------------------------------------------

def _check_mask(opname, mask):
    if not isinstance(mask, Tensor):
        raise ArgumentTypeError(f"{opname}(): mask must be a bool tensor, got {type(mask).__name__}")
    if mask._dtype is not D.bool:
        raise DTypeError(f"{opname}(): mask must have dtype bool, got {mask._dtype.name}; "
                         f"use mask.bool() or a comparison such as mask != 0")


def _fill_value(opname, value, dtype):
    if isinstance(value, Tensor):
        if value._shape:
            raise ShapeError(f"{opname}(): value must be a number or a 0-d tensor, got a tensor of shape "
                             f"{tuple(value._shape)}")
    elif not isinstance(value, (bool, int, float)) and not hasattr(value, "__float__"):
        raise ArgumentTypeError(f"{opname}(): value must be a number or a 0-d tensor, got {type(value).__name__}")
    else:  # as PyTorch: a number that does not fit self's dtype (inf into int64) is refused, not wrapped
        check_scalar(value, dtype, opname)


def _masked_fill_meta(x, mask, value):
    _check_mask("masked_fill", mask)
    _fill_value("masked_fill", value, x._dtype)
    return Spec(broadcast_shapes(x._shape, mask._shape), x._dtype)


def _masked_fill_inplace_meta(x, mask, value):
    _check_mask("masked_fill_", mask)
    _fill_value("masked_fill_", value, x._dtype)
    shape = broadcast_shapes(x._shape, mask._shape)
    if shape != x._shape:
        raise ShapeError(f"masked_fill_(): mask of shape {tuple(mask._shape)} broadcasts self of shape "
                         f"{tuple(x._shape)} to {shape}; an in-place fill cannot change self's shape")
    return Spec(x._shape, x._dtype)


def _value_tensor(x, value):
    if isinstance(value, Tensor):
        if value._device is not x._device:
            value = value.to(x._device)
        return value if value._dtype is x._dtype else value.to(x._dtype)
    return C.full((), value, dtype=x._dtype, device=x._device)


def _masked_fill(x, mask, value):
    _masked_fill_meta(x, mask, value)
    return E.where(mask, _value_tensor(x, value), x)


masked_fill = defop("masked_fill(Tensor self, Tensor mask, Scalar value) -> Tensor", meta=_masked_fill_meta,
                    decomposition=_masked_fill, family="indexing",
                    doc="self where mask is False, value where it is True (value cast to self's dtype).")


def _masked_fill_(x, mask, value):
    _masked_fill_inplace_meta(x, mask, value)
    return C.copy_(x, E.where(mask, _value_tensor(x, value), x))


def _masked_fill_adapter(op, kernel, backend):
    def entry(x, mask, value):
        _masked_fill_inplace_meta(x, mask, value)
        if isinstance(value, Tensor):
            value = value.item()
        return kernel(x, mask, E._scalar_as(value, x._dtype))
    return entry


masked_fill_ = defop("masked_fill_(Tensor self, Tensor mask, Scalar value) -> Tensor",
                     meta=_masked_fill_inplace_meta, decomposition=_masked_fill_, adapter=_masked_fill_adapter,
                     family="indexing",
                     doc="kernel(self, mask, value): self[mask] = value in place; mask is bool and "
                         "broadcasts to self, value a Python number of self's dtype.")


def _data_dependent(opname, what="its output shape depends on the values of its input"):
    return NotImplementedForBackend(
        f"{opname}(): {what}, which the meta device cannot know (meta tensors carry no data); "
        f"run it on a device with data, such as 'cpu'")


def _nonzero_meta(x, as_tuple=False):
    raise _data_dependent("nonzero")


def _nonzero_adapter(op, kernel, backend):
    def entry(x, as_tuple=False):
        if as_tuple:
            if not x._shape:
                return (V.select(kernel(_rank1(x)), 1, 0),)
            return V.unbind(kernel(x), 1)
        return kernel(x)
    return entry


nonzero = defop("nonzero(Tensor self, *, bool as_tuple=False) -> Tensor", meta=_nonzero_meta, prim=True,
                adapter=_nonzero_adapter, family="indexing",
                doc="kernel(x) -> int64 Tensor of shape (n, x.ndim): the coordinates of the n nonzero "
                    "elements (NaN counts as nonzero) in row-major order; x may be 0-d or empty.")


def _argwhere(x):
    return nonzero(x)


argwhere = defop("argwhere(Tensor self) -> Tensor", meta=_nonzero_meta, decomposition=_argwhere,
                 family="indexing")


def _masked_select_prep(x, mask):
    _check_mask("masked_select", mask)
    shape = broadcast_shapes(x._shape, mask._shape)
    if not shape:
        shape = (1,)
    return V.expand(x, shape) if x._shape != shape else x, V.expand(mask, shape) if mask._shape != shape else mask


def _masked_select_meta(x, mask):
    _masked_select_prep(x, mask)
    raise _data_dependent("masked_select", "its output length is the number of True elements in mask")


def _masked_select(x, mask):
    xb, mb = _masked_select_prep(x, mask)
    pos = V.reshape(nonzero(V.reshape(mb, (-1,))), (-1,))
    return index_select(V.reshape(xb, (-1,)), 0, pos)


def _masked_select_adapter(op, kernel, backend):
    def entry(x, mask):
        xb, mb = _masked_select_prep(x, mask)
        return kernel(xb, mb)
    return entry


masked_select = defop("masked_select(Tensor self, Tensor mask) -> Tensor", meta=_masked_select_meta,
                      decomposition=_masked_select, adapter=_masked_select_adapter, family="indexing",
                      doc="kernel(x, mask) -> 1-d Tensor of the elements of x where mask is True, in "
                          "row-major order; x and mask have one shape (ndim >= 1), mask is bool.")


from .. import _indexing  # noqa: E402  (advanced indexing, built on the operators above)

METHODS = {"__getitem__": _indexing.getitem, "__setitem__": _indexing.setitem}
