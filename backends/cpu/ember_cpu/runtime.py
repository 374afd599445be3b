"""The cpu runtime: storage is a numpy array, so memory is host memory."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ember import Tensor
from ember import dtypes as D
from ember._tensor import _CONTIG as _cstrides, contiguous_strides as _contig
from ember.errors import InvalidArgumentError

backend = None  # set when the plugin registers
_KEY = 0        # its dispatch key bit, likewise



class _EmberDTypes(dict):
    """numpy dtype -> Ember dtype; bfloat16's entry is added when its numpy dtype first appears."""

    def __missing__(self, npdtype):
        d = self[npdtype] = D.from_numpy_dtype(npdtype)
        return d


_np_to_ember = _EmberDTypes((d.np, d) for d in D.all_dtypes + D.complex_dtypes if d is not D.bfloat16)


def is_half(dt) -> bool:
    """float16 or bfloat16, told by kind and size so that the test never loads ml_dtypes
    (numpy gives extension dtypes such as bfloat16 kind 'V')."""
    return dt.itemsize == 2 and dt.kind in "fV"


def is_bfloat16(dt) -> bool:
    """bfloat16: the one Ember dtype that numpy sees as an extension type (kind 'V')."""
    return dt.kind == "V"
_make = Tensor._make
_new = object.__new__


def wrap(a: np.ndarray) -> Tensor:
    """A tensor owning a freshly computed numpy array (no copy)."""
    if not a.flags.c_contiguous:
        return _wrap_strided(a)
    shape = a.shape
    strides = _cstrides.get(shape)
    if strides is None:
        strides = _contig(shape)
    t = _new(Tensor)
    t._storage = a
    t._offset = 0
    t._shape = shape
    t._strides = strides
    dt = t._dtype = _np_to_ember[a.dtype]
    t._device = _DEV
    t._backend = backend
    t._keys = _KEY | dt.key_bit
    t._h = a
    t._base = None
    return t


def _wrap_strided(a: np.ndarray, owner=True) -> Tensor:
    isz = a.itemsize
    if any(s % isz for s in a.strides):
        a = np.ascontiguousarray(a)
        return wrap(a)
    if any(s < 0 for s in a.strides):
        # Ember strides are non-negative, as in PyTorch: copy a reversed view.
        return wrap(np.ascontiguousarray(a))
    strides = tuple(s // isz for s in a.strides)
    span = 1 + sum((n - 1) * s for n, s in zip(a.shape, strides)) if a.size else 0
    storage = as_strided(a, shape=(span,), strides=(isz,)) if a.size else np.empty(0, a.dtype)
    return _make(storage, 0, a.shape, strides, _np_to_ember[a.dtype], _DEV, backend, a)


def arr(t: Tensor) -> np.ndarray:
    """The numpy view of a cpu tensor (cached on the tensor)."""
    h = t._h
    if h is None:
        st = t._storage
        isz = st.itemsize
        shape = t._shape
        if t._offset == 0 and shape == st.shape and t._strides == _contig(shape):
            h = st
        elif 0 in shape:
            h = np.empty(shape, st.dtype)
        else:
            h = np.ndarray(shape, st.dtype, st, t._offset * isz, tuple(s * isz for s in t._strides))
        t._h = h
    return h


from ember.device import Device  # noqa: E402

_DEV = Device("cpu")


class CpuRuntime:
    """Host memory through numpy. Every method is the plugin contract's (see ember.plugins.hookspecs)."""

    def device_count(self) -> int:
        return 1

    def is_available(self) -> bool:
        return True

    def unavailable_reason(self):
        return None

    def empty(self, shape, dtype, device) -> Tensor:
        try:
            return wrap(np.empty(shape, dtype.np))
        except (MemoryError, ValueError) as e:
            if not isinstance(e, MemoryError) and "too big" not in str(e):
                raise
            raise _out_of_memory(shape, dtype) from None

    def from_numpy(self, array, device) -> Tensor:
        if not array.flags.c_contiguous:
            array = np.ascontiguousarray(array)
        return wrap(array)

    def share_numpy(self, array, device) -> Tensor:
        if array.flags.c_contiguous:
            return wrap(array)
        if any(s < 0 for s in array.strides):
            raise InvalidArgumentError("from_numpy(): numpy arrays with negative strides are not supported; "
                                       "pass array.copy() instead")
        return _wrap_strided(array)

    def to_numpy(self, tensor) -> np.ndarray:
        return np.array(arr(tensor), copy=True)

    def as_numpy(self, tensor) -> np.ndarray:
        return arr(tensor)

    def storage_numel(self, storage) -> int:
        return storage.size

    def synchronize(self, device=None) -> None:
        pass

    def data_ptr(self, tensor) -> int:
        return tensor._storage.ctypes.data + tensor._offset * tensor._dtype.itemsize


def _out_of_memory(shape, dtype):
    """Ember's OutOfMemoryError for a host allocation numpy refused (instead of numpy's own error)."""
    from ember.errors import OutOfMemoryError

    nbytes = dtype.itemsize
    for n in shape:
        nbytes *= n
    err = OutOfMemoryError(f"cpu is out of memory: tried to allocate {nbytes} bytes ({nbytes / 2**30:.1f} GiB) "
                           f"for a tensor of shape {tuple(shape)} and dtype {dtype.name}. Free tensors you no "
                           f"longer need (del x) or use smaller sizes.")
    err.requested, err.allocated, err.reserved, err.free, err.total = nbytes, None, None, None, None
    err.device = _DEV
    return err


runtime = CpuRuntime()
