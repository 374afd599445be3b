"""Tensors as host buffers for communication libraries that read and write host memory (MPI).

A tensor in host memory is handed over as a numpy view: no copy. Any other tensor is staged: copied
to host memory before the operation and, where the operation writes it, copied back into the same
tensor afterwards (in place, so views and references held by the caller see the result).
"""

from __future__ import annotations

import numpy as np

from ..autograd import no_grad
from ..errors import InvalidArgumentError


def _check_contiguous(t, what: str) -> None:
    if not t.is_contiguous():
        raise InvalidArgumentError(
            f"{what}: tensors must be contiguous, got one of shape {tuple(t.shape)} with strides "
            f"{tuple(t.stride())}; pass tensor.contiguous() (and copy the result back if you need it in place)")


def read_buffer(t, what: str):
    """A C-contiguous numpy array holding ``t``'s values (a view where ``t`` is in host memory)."""
    _check_contiguous(t, what)
    b = t._backend
    if b.capabilities.host_memory:
        return b.runtime.as_numpy(t)
    return np.ascontiguousarray(b.runtime.to_numpy(t))


def write_buffer(t, what: str, *, keep: bool = True):
    """``(array, post)``: a C-contiguous numpy array the operation may write, and the post that lands
    it in ``t`` (None where the array is a view of ``t``'s host memory). A staged array holds ``t``'s
    values when ``keep``, else is left uninitialised."""
    _check_contiguous(t, what)
    b = t._backend
    if b.capabilities.host_memory:
        return b.runtime.as_numpy(t), None
    if keep:
        arr = np.ascontiguousarray(b.runtime.to_numpy(t))
    else:
        arr = np.empty(tuple(t.shape), dtype=t.dtype.np)
    return arr, (write_back, (t, arr))


def write_back(t, arr) -> None:
    """Copy the host array ``arr`` into the device tensor ``t``, in place, outside autograd."""
    src = t._backend.runtime.from_numpy(arr, t.device)
    with no_grad():
        t.copy_(src)


def copy_into(t, arr) -> None:
    """Write ``arr``'s values into ``t`` (any device), in place: for list outputs (all_gather)."""
    b = t._backend
    if b.capabilities.host_memory and t.is_contiguous():
        np.copyto(b.runtime.as_numpy(t), arr.reshape(tuple(t.shape)), casting="no")
    else:
        write_back(t, np.ascontiguousarray(arr.reshape(tuple(t.shape))))

