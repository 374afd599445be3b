"""Sparse COO tensors in the dispatcher: the SparseCOO key's entries, and the sparse product operator.

A sparse tensor (``_sparse_tensor.SparseTensor``) carries the SparseCOO
dispatch key. The operators that take one have their sparse implementation
registered there (``SPARSE_ENTRIES``): it computes on the dense indices and
values with ordinary operators (index_select, index_add, ...), so every
backend runs it. Every other operator gets an entry that refuses sparse
tensors with ``NotImplementedForLayout``, naming the operator and
``.to_dense()``. The key sits below Autograd, as in PyTorch: autograd records
the operator's own formula, which then meets sparse gradients through these
same entries.

``_sparse_mm`` is the one operator made for sparse tensors (sparse @ dense
over the COO parts); a backend may register a native kernel for it. A backend
may also register an entry for any operator at the "SparseCOO" key itself.
"""

from __future__ import annotations

from .. import dtypes as D
from .._sparse_tensor import SparseTensor, make_sparse
from .._tensor import Tensor
from ..dispatch import defop, registry
from ..dispatch import operator as _operator
from ..dispatch.keys import SPARSE
from ..errors import DTypeError, NotImplementedForLayout, ShapeError
from . import creation as C
from . import elementwise as E
from . import indexing as I
from . import views as V
from ._helpers import Spec


def is_sparse(x) -> bool:
    return x.__class__ is SparseTensor


def not_supported(opname, hint=""):
    return NotImplementedForLayout(
        f"{opname}() does not support sparse COO tensors (layout=ember.sparse_coo); convert the sparse operand "
        f"with .to_dense() first" + (f", or {hint}" if hint else ""))


# -- the COO parts: linear positions, coalescing, lookups ---------------------------------------------

def linear_positions(indices, sizes):
    """Row-major positions (int64, one per column of ``indices``) in a tensor of shape ``sizes``."""
    nnz = indices._shape[1]
    lin = C.full((nnz,), 0, dtype=D.int64, device=indices._device)
    stride = 1
    for d in range(len(sizes) - 1, -1, -1):
        lin = E.add(lin, E.mul(V.select(indices, 0, d), stride))
        stride *= sizes[d]
    return lin


def unravel(lin, sizes):
    """The (len(sizes), n) coordinates of row-major positions ``lin``."""
    rows, stride = [], 1
    for d in range(len(sizes) - 1, -1, -1):
        rows.append(E.remainder(E.floor_divide(lin, stride), sizes[d]))
        stride *= sizes[d]
    from .shape import stack
    if not rows:
        return C.full((0, lin._shape[0]), 0, dtype=D.int64, device=lin._device)
    return stack(rows[::-1], 0)


def coalesced_parts(indices, values, sizes):
    """(indices, values) with coordinates sorted and unique, duplicates summed."""
    if indices._shape[1] == 0:
        return indices, values
    from .counting import unique_consecutive
    from .sorting import argsort
    lin = linear_positions(indices, sizes)
    order = argsort(lin, stable=True)
    uniq, inverse = unique_consecutive(I.index_select(lin, 0, order), return_inverse=True)
    summed = C.full((uniq._shape[0],) + values._shape[1:], 0, dtype=values._dtype, device=values._device)
    summed = I.index_add(summed, 0, inverse, I.index_select(values, 0, order))
    return unravel(uniq, sizes), summed


def lookup(sorted_lin, values, query):
    """The rows of ``values`` at positions ``query`` of a coalesced tensor whose sorted positions are
    ``sorted_lin``; zeros where a position holds no entry."""
    shape = (query._shape[0],) + values._shape[1:]
    if sorted_lin._shape[0] == 0 or query._shape[0] == 0:
        return C.full(shape, 0, dtype=values._dtype, device=values._device)
    from .counting import searchsorted
    pos = E.clamp(searchsorted(sorted_lin, query), max=sorted_lin._shape[0] - 1)
    found = E.eq(I.index_select(sorted_lin, 0, pos), query)
    rows = I.index_select(values, 0, pos)
    found = V.reshape(found, found._shape + (1,) * (len(shape) - 1))
    return E.mul(rows, found.to(values._dtype))


def values_at(g, indices, shape):
    """The entries of ``g`` (dense or sparse, of ``shape``) at the coordinates ``indices``: one row per
    column of ``indices``, as a sparse tensor of that pattern needs them (a gradient's sparse_mask)."""
    s = indices._shape[0]
    lin = linear_positions(indices, shape[:s])
    if not is_sparse(g):
        n = 1
        for k in shape[:s]:
            n *= k
        return I.index_select(V.reshape(g.contiguous(), (n,) + tuple(shape[s:])), 0, lin)
    if g._idx is indices:
        return g._vals
    gi, gv = (g._idx, g._vals) if g._coalesced else coalesced_parts(g._idx, g._vals, shape[:s])
    return lookup(linear_positions(gi, shape[:s]), gv, lin)


def dense_of(x):
    """A sparse tensor's dense value (duplicates summed), computed with index_add."""
    s = x._idx._shape[0]
    n = 1
    for k in x._shape[:s]:
        n *= k
    flat = C.full((n,) + x._shape[s:], 0, dtype=x._dtype, device=x._device)
    flat = I.index_add(flat, 0, linear_positions(x._idx, x._shape[:s]), x._vals)
    return V.reshape(flat, x._shape)


# -- _sparse_mm: sparse @ dense over the COO parts ------------------------------------------------------

def _sparse_mm_meta(indices, values, dense, rows):
    if indices._dtype is not D.int64 or len(indices._shape) != 2 or indices._shape[0] != 2:
        raise ShapeError(f"_sparse_mm(): indices must be an int64 tensor of shape (2, nnz), got {indices._dtype.name} "
                         f"of shape {tuple(indices._shape)}")
    if len(values._shape) != 1 or values._shape[0] != indices._shape[1]:
        raise ShapeError(f"_sparse_mm(): values must have shape ({indices._shape[1]},) to match indices, got "
                         f"{tuple(values._shape)}")
    if len(dense._shape) != 2:
        raise ShapeError(f"_sparse_mm(): the dense operand must be 2-D, got shape {tuple(dense._shape)}")
    if values._dtype is not dense._dtype:
        raise DTypeError(f"_sparse_mm(): the sparse and dense operands must have one dtype, got "
                         f"{values._dtype.name} and {dense._dtype.name}")
    if values._dtype is D.bool:
        raise DTypeError("_sparse_mm(): bool operands are not supported; convert them to a numeric dtype")
    return Spec((rows, dense._shape[1]), values._dtype)


def _sparse_mm(indices, values, dense, rows):
    spec = _sparse_mm_meta(indices, values, dense, rows)
    out = C.full(spec.shape, 0, dtype=spec.dtype, device=dense._device)
    if indices._shape[1] == 0:
        return out
    picked = I.index_select(dense, 0, V.select(indices, 0, 1))
    return I.index_add(out, 0, V.select(indices, 0, 0), E.mul(picked, V.unsqueeze(values, 1)))


sparse_mm_op = defop(
    "_sparse_mm(Tensor indices, Tensor values, Tensor dense, int rows) -> Tensor", meta=_sparse_mm_meta,
    decomposition=_sparse_mm, family="sparse", tags=("sparse",),
    doc="The product of a 2-D sparse COO matrix of `rows` rows, given by its parts, with a dense matrix: "
        "out[indices[0, k]] += values[k] * dense[indices[1, k]]; duplicate coordinates add up.\n"
        "Kernel: kernel(indices, values, dense, rows) -> Tensor\n"
        "Operands: indices is int64 (2, nnz), every row index < rows and column index < dense.shape[0]; "
        "values is (nnz,) of dense's dtype; dense is 2-D, any strides.\n"
        "Out: none; the kernel returns a new (rows, dense.shape[1]) tensor of that dtype.")


def _sparse_mm_grad(g, indices, values, dense, rows):
    gv = gd = None
    if values.requires_grad:
        picked = E.mul(I.index_select(g, 0, V.select(indices, 0, 0)), I.index_select(dense, 0, V.select(indices, 0, 1)))
        from .reduction import sum as _sum
        gv = _sum(picked, [1])
    if dense.requires_grad:
        swapped = I.index_select(indices, 0, C.arange_(1, -1, -1, dtype=D.int64, device=indices._device))
        gd = sparse_mm_op(swapped, values, g, dense._shape[0])
    return None, gv, gd


# -- the SparseCOO key's entries for operators that take sparse tensors -------------------------------

def _scalar_like(x):
    return not isinstance(x, Tensor) or (not is_sparse(x) and not x._shape)


def _same_pattern(x, values):
    return make_sparse(x._idx, values, x._shape, x._coalesced)


def _mul(a, b):
    if is_sparse(a) and _scalar_like(b):
        return _same_pattern(a, E.mul(a._vals, b))
    if is_sparse(b) and _scalar_like(a):
        return _same_pattern(b, E.mul(a, b._vals))
    raise not_supported("mul", "multiply by a Python number or a 0-d tensor")


def _mul_(a, b):
    if is_sparse(a) and _scalar_like(b):
        E.mul_(a._vals, b)
        return a
    raise not_supported("mul_", "multiply by a Python number or a 0-d tensor")


def _true_divide(a, b):
    if is_sparse(a) and _scalar_like(b):
        return _same_pattern(a, E.true_divide(a._vals, b))
    raise not_supported("true_divide", "divide by a Python number or a 0-d tensor")


def _div(a, b, rounding_mode=None):
    if is_sparse(a) and _scalar_like(b):
        return _same_pattern(a, E.div(a._vals, b, rounding_mode=rounding_mode))
    raise not_supported("div", "divide by a Python number or a 0-d tensor")


def _neg(a):
    return _same_pattern(a, E.neg(a._vals))


def _add(a, b):
    if is_sparse(a) and is_sparse(b):
        if a._shape != b._shape or a._idx._shape[0] != b._idx._shape[0]:
            raise ShapeError(f"add(): sparse tensors of shapes {tuple(a._shape)} and {tuple(b._shape)} (sparse dims "
                             f"{a._idx._shape[0]} and {b._idx._shape[0]}) cannot be added; they must match")
        from .shape import cat
        dt = D.promote_types(a._dtype, b._dtype)
        return make_sparse(cat([a._idx, b._idx], 1), cat([a._vals.to(dt), b._vals.to(dt)], 0), a._shape)
    if is_sparse(b) and isinstance(a, Tensor):
        return E.add(a, dense_of(b))
    raise NotImplementedForLayout("add(sparse, dense) is not supported. Use add(dense, sparse) instead, or convert "
                                  "with .to_dense()")


def _add_(a, b):
    """In place: a dense tensor plus a sparse one (each entry added at its coordinates), or a sparse tensor
    extended by another's entries."""
    if not is_sparse(b):
        raise NotImplementedForLayout("add_(sparse, dense) is not supported. Use dense.add_(sparse) instead, or "
                                      "convert with .to_dense()")
    if a._shape != b._shape:
        raise ShapeError(f"add_(): the sparse tensor of shape {tuple(b._shape)} does not match the tensor of shape "
                         f"{tuple(a._shape)} it is added to; they must have one shape")
    if is_sparse(a):
        from .shape import cat
        a._idx, a._vals, a._coalesced = cat([a._idx, b._idx], 1), cat([a._vals, b._vals.to(a._dtype)], 0), False
        return a
    s, values = b._idx._shape[0], b._vals.to(a._dtype)
    if s == 1:
        return I.index_add_(a, 0, V.select(b._idx, 0, 0), values)
    if a.is_contiguous():  # a flat view of the sparse dims: the entries land in a's own storage
        I.index_add_(V.reshape(a, (-1,) + tuple(a._shape[s:])), 0, linear_positions(b._idx, a._shape[:s]), values)
        return a
    return E.add_(a, dense_of(b))


def _fill_(a, value):
    """zero_(): a sparse tensor with no entries (the only fill a sparse tensor takes, as in PyTorch)."""
    if value != 0:
        raise not_supported("fill_", "fill its values with x.values().fill_(v) on a coalesced tensor")
    s = a._idx._shape[0]
    a._idx = C.full((s, 0), 0, dtype=D.int64, device=a._device)
    a._vals = C.full((0,) + tuple(a._vals._shape[1:]), 0, dtype=a._dtype, device=a._device)
    a._coalesced = True
    return a


def _sub(a, b):
    if is_sparse(b):
        return _add(a, _neg(b))
    raise NotImplementedForLayout("sub(sparse, dense) is not supported; convert the sparse tensor with .to_dense()")


def _clone(a):
    return make_sparse(C.clone(a._idx), C.clone(a._vals), a._shape, a._coalesced)


def _to_copy(a, dtype=None, device=None, non_blocking=False):
    values = C._to_copy_fn(a._vals, dtype=dtype, device=device, non_blocking=non_blocking)
    indices = a._idx if device is None else C._to_copy_fn(a._idx, device=device)
    return make_sparse(indices, values, a._shape, a._coalesced)


def _transpose(a, dim0, dim1):
    from ._helpers import wrap_dim
    n, s = len(a._shape), a._idx._shape[0]
    d0, d1 = wrap_dim(dim0, n, "transpose"), wrap_dim(dim1, n, "transpose")
    if d0 >= s or d1 >= s:
        raise not_supported("transpose", "transpose sparse dimensions only")
    order = list(range(s))
    order[d0], order[d1] = d1, d0
    shape = list(a._shape)
    shape[d0], shape[d1] = shape[d1], shape[d0]
    from .._factory import tensor
    perm = tensor(order, dtype=D.int64, device=a._idx._device)
    return make_sparse(I.index_select(a._idx, 0, perm), a._vals, tuple(shape), d0 == d1 and a._coalesced)


def _t(a):
    if len(a._shape) > 2:
        raise ShapeError(f"t() expects a tensor with <= 2 dimensions, but self is {len(a._shape)}D")
    return _transpose(a, 0, 1) if len(a._shape) == 2 else a


def _mm_parts(opname, a, b):
    if not is_sparse(a) or is_sparse(b):
        raise not_supported(opname, "use ember.sparse.mm(sparse, dense) with the sparse operand first")
    if len(a._shape) != 2 or a._idx._shape[0] != 2 or len(b._shape) != 2:
        raise ShapeError(f"{opname}(): expected a 2-D sparse matrix (2 sparse dims) and a 2-D dense matrix, got "
                         f"shapes {tuple(a._shape)} and {tuple(b._shape)}")
    if a._shape[1] != b._shape[0]:
        raise ShapeError(f"{opname}(): mat1 and mat2 shapes cannot be multiplied ({a._shape[0]}x{a._shape[1]} and "
                         f"{b._shape[0]}x{b._shape[1]})")
    return sparse_mm_op(a._idx, a._vals, b, a._shape[0])


def _mm(a, b):
    return _mm_parts("mm", a, b)


def _matmul(a, b):
    if is_sparse(a) and isinstance(b, Tensor) and not is_sparse(b) and len(b._shape) == 1:
        return V.reshape(_mm_parts("matmul", a, V.unsqueeze(b, 1)), (a._shape[0],))
    return _mm_parts("matmul", a, b)


def _sum(a, dim=None, keepdim=False, dtype=None):
    if dim is not None:
        raise not_supported("sum(dim=...)", "use ember.sparse.sum(x, dim) for a sum along dims")
    from .reduction import sum as _dense_sum
    return _dense_sum(a._vals, dtype=dtype)


#: The sparse implementation of each operator that takes sparse COO tensors.
SPARSE_ENTRIES = {"mul": _mul, "mul_": _mul_, "true_divide": _true_divide, "div": _div, "neg": _neg, "add": _add,
                  "add_": _add_, "fill_": _fill_, "sub": _sub, "clone": _clone, "_to_copy": _to_copy,
                  "transpose": _transpose, "t": _t, "mm": _mm, "matmul": _matmul, "sum": _sum}


def _refusal(op):
    name = op.name

    def refuse(*args, **kwargs):
        raise not_supported(name)
    refuse.__name__ = f"sparse_refusal_{name}"
    return refuse


def _install_for(op):
    if op.has_kernel(SPARSE):
        return
    if op.name in SPARSE_ENTRIES:
        op.register(SPARSE, SPARSE_ENTRIES[op.name])
    elif "sparse" not in op.tags and any(a.is_tensor for a in op.schema.arguments):
        op.register(SPARSE, _refusal(op))


def install():
    """Give every operator its SparseCOO entry, now and for each operator defined later."""
    for op in list(registry.values()):
        _install_for(op)
    _operator._define_hooks.append(_install_for)


def _sparse_mm_jvp(tangents, indices, values, dense, rows, result=None):
    """Bilinear in (values, dense): the product of each tangent with the other operand, summed."""
    _, tv, td = tangents
    r = None if tv is None else sparse_mm_op(indices, tv, dense, rows)
    if td is not None:
        r2 = sparse_mm_op(indices, values, td, rows)
        r = r2 if r is None else r + r2
    return r


def _register_derivatives(derivative):
    derivative("_sparse_mm", save=("indices", "values", "dense"), jvp=_sparse_mm_jvp)(_sparse_mm_grad)


try:
    from ..autograd.registry import derivative as _derivative
except ImportError:  # a core without autograd
    _derivative = None
if _derivative is not None:
    _register_derivatives(_derivative)
