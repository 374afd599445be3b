"""SparseTensor: a sparse COO tensor, as torch's ``layout=torch.sparse_coo``.

It holds two dense tensors on its device: ``indices`` (int64, shape
``(sparse_dim, nnz)``) and ``values`` (shape ``(nnz, *dense_shape)``); the
entry at each column of ``indices`` is the matching row of ``values``, and
duplicate coordinates add up. It carries the SparseCOO dispatch key, so every
operator reaches its sparse implementation in core (ops/sparse.py) or a
refusal that names ``.to_dense()``. Autograd treats it as any tensor: it has
its own ``grad_fn``, and a leaf's ``.grad`` may itself be sparse.
"""

from __future__ import annotations

from . import dtypes as D
from ._tensor import Tensor, contiguous_strides
from .dispatch.keys import AUTOGRAD, SPARSE
from .errors import ArgumentTypeError, InvalidArgumentError

__all__ = ["SparseTensor", "make_sparse"]

_AG = AUTOGRAD.bit


class SparseTensor(Tensor):
    """A sparse COO tensor; ``_idx``/``_vals`` are its dense parts, ``_coalesced`` says whether its
    coordinates are known to be sorted and unique."""

    __slots__ = ("_idx", "_vals", "_coalesced")

    # -- layout -------------------------------------------------------------
    @property
    def layout(self):
        from ._factory import sparse_coo
        return sparse_coo

    is_sparse = True

    def sparse_dim(self) -> int:
        return self._idx._shape[0]

    def dense_dim(self) -> int:
        return len(self._vals._shape) - 1

    def _nnz(self) -> int:
        return self._idx._shape[1]

    def is_coalesced(self) -> bool:
        return self._coalesced

    def stride(self, dim=None):
        raise InvalidArgumentError("sparse tensors do not have strides; use .to_dense() for a strided tensor")

    def is_contiguous(self) -> bool:
        raise InvalidArgumentError("sparse tensors do not have is_contiguous; use .to_dense() for a strided tensor")

    def data_ptr(self) -> int:
        raise InvalidArgumentError("sparse tensors do not have a data pointer; read .values() or .indices() instead")

    # -- host conversion: refused, as in PyTorch ------------------------------
    def _to_numpy_copy(self):
        raise ArgumentTypeError("can't convert Sparse layout tensor to numpy. Use Tensor.to_dense() first.")

    def numpy(self):
        return self._to_numpy_copy()

    # -- autograd -----------------------------------------------------------
    def _view(self, shape, strides, offset=None):
        raise InvalidArgumentError("sparse tensors have no strided views; use .to_dense() first")

    def detach(self):
        """The same sparse tensor cut off from the graph (sharing indices and values)."""
        return make_sparse(self._idx, self._vals, self._shape, self._coalesced)

    def __repr__(self):
        return sparse_repr(self)

    __str__ = __repr__


def make_sparse(indices, values, shape, coalesced=False) -> SparseTensor:
    """A SparseTensor over ``indices`` and ``values`` (dense tensors on one device, trusted as they are)."""
    t = object.__new__(SparseTensor)
    t._idx = indices
    t._vals = values
    t._coalesced = bool(coalesced)
    t._storage = None
    t._offset = 0
    t._shape = tuple(shape)
    t._strides = contiguous_strides(t._shape)
    t._dtype = values._dtype
    t._device = values._device
    t._backend = values._backend
    t._keys = (values._keys & ~_AG) | SPARSE.bit
    t._h = None
    t._base = None
    return t


def _indent(text: str, n: int) -> str:
    return text.replace("\n", "\n" + " " * n)


def _body(t) -> str:
    """A dense part as PyTorch prints it inside a sparse tensor: tensor(...) with no dtype or device."""
    from ._repr import tensor_repr
    t = t.detach()
    if t.numel() == 0:
        return f"tensor([], size={tuple(t._shape)})"
    text = tensor_repr(t.to(device="cpu"))
    cut = max(text.rfind(", dtype="), text.rfind(",\n       dtype="))
    return text[:cut] + ")" if cut > 0 else text


def sparse_repr(t) -> str:
    """PyTorch's form: tensor(indices=..., values=..., size=(...), nnz=N, layout=ember.sparse_coo)."""
    from ._repr import get_printoptions
    text = (f"tensor(indices={_indent(_body(t._idx), 15)},\n"
            f"       values={_indent(_body(t._vals), 14)}")
    suffixes = [f"size={tuple(t._shape)}", f"nnz={t._nnz()}"]
    if t._device.type != "cpu":
        suffixes.insert(0, f"device='{t._device}'")
    if t._dtype is not D.get_default_dtype():
        suffixes.append(f"dtype={t._dtype!r}")
    suffixes.append("layout=ember.sparse_coo")
    if getattr(t, "requires_grad", False):
        gf = t.grad_fn
        suffixes.append(f"grad_fn=<{type(gf).__name__}>" if gf is not None else "requires_grad=True")
    width, newline = get_printoptions()["linewidth"], True
    last = len(text) - text.rfind("\n") + 1
    for s in suffixes:  # the first on a new line, then as many on a line as the width allows
        if newline or last + len(s) + 2 > width:
            text += ",\n       " + s
            last, newline = 7 + len(s), False
        else:
            text += ", " + s
            last += len(s) + 2
    return text + ")"
