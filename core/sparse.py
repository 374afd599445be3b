"""ember.sparse and the sparse COO tensor API, as torch.sparse: sparse_coo_tensor, to_sparse, to_dense,
coalesce, indices/values, sparse.mm (spmm) and sparse.sum.

A sparse tensor's own autograd steps (building it from values, reading its
values, densifying, coalescing, summing) are autograd Functions here; their
gradients are sparse tensors with the input's pattern, as in PyTorch. The
arithmetic runs through the dispatcher's SparseCOO entries (ops/sparse.py).
"""

from __future__ import annotations

from . import dtypes as D
from ._factory import sparse_coo
from ._sparse_tensor import SparseTensor, make_sparse
from ._tensor import Tensor
from .autograd.function import Function
from .errors import DTypeError, IndexOutOfRangeError, InvalidArgumentError, ShapeError
from .ops import creation as C
from .ops import elementwise as E
from .ops import sparse as S
from .ops import views as V

__all__ = ["mm", "sum", "spmm", "sparse_coo_tensor", "SparseTensor"]


# -- autograd steps -----------------------------------------------------------------------------------

class SparseCooTensorWithDimsAndTensors(Function):
    """A sparse tensor from its parts; the values' gradient is the incoming gradient at the indices."""

    @staticmethod
    def forward(ctx, indices, values, size, coalesced):
        ctx.indices, ctx.size = indices, size
        return make_sparse(indices, values.detach(), size, coalesced)

    @staticmethod
    def backward(ctx, g):
        return None, S.values_at(g, ctx.indices, ctx.size), None, None


class Values(Function):
    """A sparse tensor's values; their gradient comes back as a sparse tensor of the same pattern."""

    @staticmethod
    def forward(ctx, x):
        ctx.x = x.detach()
        v = x._vals
        return v._view(v._shape, v._strides, v._offset)

    @staticmethod
    def backward(ctx, g):
        x = ctx.x
        return make_sparse(x._idx, g, x._shape, x._coalesced)


class ToDense(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.x = x.detach()
        return S.dense_of(x)

    @staticmethod
    def backward(ctx, g):
        # on the coalesced pattern: a gradient with duplicate coordinates would count them twice
        x = ctx.x
        indices = x._idx if x._coalesced else S.coalesced_parts(x._idx, x._vals, x._shape[:x._idx._shape[0]])[0]
        return make_sparse(indices, S.values_at(g, indices, x._shape), x._shape, True)


class ToSparse(Function):
    @staticmethod
    def forward(ctx, x, sparse_dim):
        from .ops.indexing import nonzero
        from .ops.reduction import any as _any
        flat_dense = V.reshape(x, x._shape[:sparse_dim] + (-1,)) if sparse_dim < len(x._shape) else x
        mask = E.ne(flat_dense, 0)
        if sparse_dim < len(x._shape):
            mask = _any(mask, [sparse_dim])
        indices = V.t(nonzero(mask)).contiguous() if sparse_dim else C.full((0, 1), 0, dtype=D.int64,
                                                                              device=x._device)
        lin = S.linear_positions(indices, x._shape[:sparse_dim])
        n = 1
        for k in x._shape[:sparse_dim]:
            n *= k
        from .ops.indexing import index_select
        values = index_select(V.reshape(x.contiguous(), (n,) + tuple(x._shape[sparse_dim:])), 0, lin)
        return make_sparse(indices, values, x._shape, True)

    @staticmethod
    def backward(ctx, g):
        return (S.dense_of(g) if S.is_sparse(g) else g), None


class Coalesce(Function):
    @staticmethod
    def forward(ctx, x):
        indices, values = S.coalesced_parts(x._idx, x._vals, x._shape[:x._idx._shape[0]])
        return make_sparse(indices, values, x._shape, True)

    @staticmethod
    def backward(ctx, g):
        return g  # the same tensor, stored otherwise: its gradient is the incoming one


class SparseSum(Function):
    @staticmethod
    def forward(ctx, x, dims):
        from .ops.reduction import sum as _sum
        ctx.x = x.detach()
        s = x._idx._shape[0]
        sparse_dims = [d for d in dims if d < s]
        dense_dims = [d - s + 1 for d in dims if d >= s]
        ctx.dense_dims = dense_dims
        values = _sum(x._vals, dense_dims) if dense_dims else x._vals
        if len(sparse_dims) == s:
            return _sum(values, [0])
        keep = [d for d in range(s) if d not in sparse_dims]
        ctx.keep = keep
        from .ops.indexing import index_select
        from ._factory import tensor
        indices = index_select(x._idx, 0, tensor(keep, dtype=D.int64, device=x._device))
        shape = tuple(n for d, n in enumerate(x._shape) if d not in dims)
        indices, values = S.coalesced_parts(indices, values, shape[:len(keep)])
        return make_sparse(indices, values, shape, True)

    @staticmethod
    def backward(ctx, g):
        x = ctx.x
        nnz = x._idx._shape[1]
        if S.is_sparse(g):
            from .ops.indexing import index_select
            from ._factory import tensor
            kept = index_select(x._idx, 0, tensor(ctx.keep, dtype=D.int64, device=x._device))
            rows = S.values_at(g, kept, g._shape)
        else:
            rows = V.expand(V.unsqueeze(g, 0), (nnz,) + g._shape)
        for d in sorted(ctx.dense_dims):
            rows = V.unsqueeze(rows, d)
        rows = V.expand(rows, x._vals._shape).contiguous()
        return make_sparse(x._idx, rows, x._shape, x._coalesced), None


# -- construction and the Tensor methods ----------------------------------------------------------------

def _as_indices(indices, device):
    from ._factory import tensor
    if not isinstance(indices, Tensor):
        indices = tensor(indices, dtype=D.int64, device=device)
    if indices._dtype.is_floating_point or indices._dtype.is_complex or indices._dtype is D.bool:
        raise DTypeError(f"sparse_coo_tensor(): indices must be an int64 tensor, got {indices._dtype.name}")
    if len(indices._shape) != 2:
        raise ShapeError(f"sparse_coo_tensor(): indices must be 2-D (sparse_dim, nnz), got shape "
                         f"{tuple(indices._shape)}")
    return indices.to(D.int64) if indices._dtype is not D.int64 else indices


def sparse_coo_tensor(indices, values, size=None, *, dtype=None, device=None, pin_memory=False,
                      requires_grad=False, check_invariants=None, is_coalesced=None):
    """A sparse COO tensor with ``values[k]`` at coordinates ``indices[:, k]`` (duplicates add up), as
    torch.sparse_coo_tensor. Without ``size`` each sparse size is the largest index plus one."""
    from ._factory import tensor
    if not isinstance(values, Tensor):
        values = tensor(values, dtype=dtype, device=device)
    if dtype is not None and dtype is not values._dtype:
        values = values.to(dtype)
    if device is not None:
        values = values.to(device)
    indices = _as_indices(indices, values._device)
    if indices._device is not values._device:
        indices = indices.to(values._device)
    s, nnz = indices._shape
    if not values._shape or values._shape[0] != nnz:
        raise ShapeError(f"sparse_coo_tensor(): indices have {nnz} columns but values have shape "
                         f"{tuple(values._shape)}; values need one row per column of indices")
    low = indices.amin(1).tolist() if nnz else [0] * s
    high = indices.amax(1).tolist() if nnz else [-1] * s
    if any(v < 0 for v in low):
        raise IndexOutOfRangeError(f"sparse_coo_tensor(): found negative index {min(low)}; indices must be >= 0")
    if size is None:
        size = tuple(h + 1 for h in high) + tuple(values._shape[1:])
    size = tuple(int(n) for n in size)
    if len(size) != s + len(values._shape) - 1:
        raise ShapeError(f"sparse_coo_tensor(): number of dimensions must be sparse_dim ({s}) + dense_dim "
                         f"({len(values._shape) - 1}), but got {len(size)} (size={size})")
    if size[s:] != tuple(values._shape[1:]):
        raise ShapeError(f"sparse_coo_tensor(): the dense sizes {size[s:]} do not match values of shape "
                         f"{tuple(values._shape)}")
    for d, (h, n) in enumerate(zip(high, size)):
        if h >= n:
            raise IndexOutOfRangeError(f"sparse_coo_tensor(): size is inconsistent with indices: for dim {d}, "
                                       f"size is {n} but found index {h}")
    coalesced = bool(is_coalesced) or nnz <= 1
    if requires_grad:
        out = make_sparse(indices.detach(), values.detach(), size, coalesced)
        return out.requires_grad_(True)
    return SparseCooTensorWithDimsAndTensors.apply(indices.detach(), values, size, coalesced)


def _sparse_only(x, name):
    if not S.is_sparse(x):
        raise InvalidArgumentError(f"{name}() expected a sparse COO tensor (layout=ember.sparse_coo), got a strided "
                                   f"one; make it with .to_sparse() or ember.sparse_coo_tensor()")


def _need_coalesced(x, name):
    _sparse_only(x, name)
    if not x._coalesced:
        raise InvalidArgumentError(f"Cannot get {name} on an uncoalesced tensor, please call .coalesce() first")


def indices(x):
    """The coordinates (int64, (sparse_dim, nnz)) of a coalesced sparse tensor (an alias)."""
    _need_coalesced(x, "indices")
    i = x._idx
    return i._view(i._shape, i._strides, i._offset)


def values(x):
    """The values ((nnz, *dense sizes)) of a coalesced sparse tensor; differentiable."""
    _need_coalesced(x, "values")
    return Values.apply(x)


def _indices(x):
    _sparse_only(x, "_indices")
    i = x._idx
    return i._view(i._shape, i._strides, i._offset)


def _values(x):
    _sparse_only(x, "_values")
    v = x._vals
    return v._view(v._shape, v._strides, v._offset)


def coalesce(x):
    """The same tensor with sorted, unique coordinates (duplicates summed); itself when already so."""
    _sparse_only(x, "coalesce")
    return x if x._coalesced else Coalesce.apply(x)


def to_dense(x, dtype=None, *, masked_grad=True):
    """A strided tensor of the same value; a strided tensor is returned as it is."""
    out = ToDense.apply(x) if S.is_sparse(x) else x
    return out if dtype is None else out.to(dtype)


def to_sparse(x, sparse_dim=None, *, layout=None, blocksize=None, dense_dim=None):
    """A sparse COO tensor of the same value, its first ``sparse_dim`` dims sparse (all by default)."""
    if layout is not None and layout is not sparse_coo:
        raise InvalidArgumentError(f"to_sparse(): layout={layout!r} is not supported; Ember has ember.sparse_coo")
    if S.is_sparse(x):
        return x
    sd = len(x._shape) if sparse_dim is None else int(sparse_dim)
    if not 0 <= sd <= len(x._shape):
        raise InvalidArgumentError(f"to_sparse(): sparse_dim must be in [0, {len(x._shape)}], got {sparse_dim}")
    return ToSparse.apply(x, sd)


def is_coalesced(x):
    _sparse_only(x, "is_coalesced")
    return x._coalesced


def mm(mat1, mat2):
    """mat1 @ mat2 for a 2-D sparse COO ``mat1`` and a dense ``mat2`` (torch.sparse.mm): a dense result; the
    gradient of ``mat1`` is sparse, on its coalesced pattern."""
    if not S.is_sparse(mat1) or S.is_sparse(mat2):
        raise S.not_supported("sparse.mm", "pass a sparse COO matrix first and a dense matrix second")
    a = coalesce(mat1)
    if len(a._shape) != 2 or a._idx._shape[0] != 2 or len(mat2._shape) != 2:
        raise ShapeError(f"sparse.mm(): expected a 2-D sparse matrix (2 sparse dims) and a 2-D dense matrix, got "
                         f"shapes {tuple(a._shape)} and {tuple(mat2._shape)}")
    if a._shape[1] != mat2._shape[0]:
        raise ShapeError(f"sparse.mm(): mat1 and mat2 shapes cannot be multiplied ({a._shape[0]}x{a._shape[1]} and "
                         f"{mat2._shape[0]}x{mat2._shape[1]})")
    return S.sparse_mm_op(a._idx, Values.apply(a), mat2, a._shape[0])


def spmm(input, mat2):
    """input @ mat2 for a sparse COO ``input`` (torch.spmm): as ember.mm, so the sparse operand's gradient is
    dense, where ember.sparse.mm gives a sparse one."""
    from .ops.linalg import mm as _mm
    return _mm(input, mat2)


def sum(input, dim=None, dtype=None):
    """Sum of a sparse tensor's values (torch.sparse.sum): over every dim a dense 0-d tensor; over some dims
    a sparse tensor, or a dense one once every sparse dim is summed."""
    from .ops._helpers import wrap_dim
    _sparse_only(input, "sparse.sum")
    x = input if dtype is None else input.to(dtype)
    n = len(x._shape)
    if dim is None:
        dims = list(range(n))
    else:
        dims = sorted({wrap_dim(d, n, "sparse.sum") for d in (dim if isinstance(dim, (list, tuple)) else (dim,))})
    return SparseSum.apply(coalesce(x), dims)  # coalesced: its gradient's pattern has no duplicates


#: Functions exported as ember.<name>, and methods of every Tensor (dense tensors answer as strided ones).
FUNCTIONS = {"sparse_coo_tensor": sparse_coo_tensor, "spmm": spmm}
METHODS = {"to_sparse": to_sparse, "to_dense": to_dense, "coalesce": coalesce, "indices": indices,
           "values": values, "_indices": _indices, "_values": _values, "is_coalesced": is_coalesced,
           "is_sparse": False}


def install():
    for name, fn in METHODS.items():
        setattr(Tensor, name, fn)
    Tensor.sparse_dim = lambda self: 0
    Tensor.dense_dim = lambda self: len(self._shape)
    Tensor._nnz = lambda self: _sparse_only(self, "_nnz")
    SparseTensor.is_sparse = True


install()
