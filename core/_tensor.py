"""Tensor: a view (offset, shape, strides) of a backend's storage, with a dtype and a device."""

from __future__ import annotations

from . import dtypes as D
from .errors import ArgumentTypeError, InvalidArgumentError

__all__ = ["Tensor", "contiguous_strides"]


#: Contiguous strides by shape tuple; backends read it directly on their hot paths.
_CONTIG: dict = {}
#: Called with a tensor before its values are read on the host (ember.compile's tracer: a graph break).
_host_read_hooks: list = []


def contiguous_strides(shape) -> tuple:
    s = _CONTIG.get(shape) if type(shape) is tuple else None
    if s is None:
        strides, acc = [], 1
        for n in reversed(shape):
            strides.append(acc)
            acc *= n if n > 1 else 1
        s = tuple(reversed(strides))
        if type(shape) is tuple:
            _CONTIG[shape] = s
    return s


class Tensor:
    """An n-dimensional array on one device. Strides and offset count elements, as in PyTorch."""

    __slots__ = ("_storage", "_offset", "_shape", "_strides", "_dtype", "_device", "_backend",
                 "_keys", "_h", "_base", "__weakref__", "__dict__")

    # Tensors are built by backends and by view operators with object.__new__; ember.tensor(),
    # ember.empty() and friends are the constructors. _legacy.install() replaces __new__/__init__
    # with PyTorch's legacy constructor (ember.Tensor(2, 3), ember.Tensor(data)).
    def __init__(self, *args, **kwargs):
        raise ArgumentTypeError("create tensors with ember.tensor(data), ember.empty(shape), ember.zeros(shape), ...")

    @classmethod
    def _make(cls, storage, offset, shape, strides, dtype, device, backend, handle=None, base=None):
        t = object.__new__(cls)
        t._storage = storage
        t._offset = offset
        t._shape = shape
        t._strides = strides
        t._dtype = dtype
        t._device = device
        t._backend = backend
        t._keys = backend.key.bit | dtype.key_bit
        t._h = handle
        t._base = base
        return t

    def _view(self, shape, strides, offset=None):
        """A tensor sharing this one's storage with other geometry."""
        t = object.__new__(Tensor)
        t._storage = self._storage
        t._offset = self._offset if offset is None else offset
        t._shape = shape
        t._strides = strides
        t._dtype = self._dtype
        t._device = self._device
        t._backend = self._backend
        t._keys = self._keys
        t._h = None
        t._base = self if self._base is None else self._base
        return t

    # -- metadata -----------------------------------------------------------
    @property
    def shape(self):
        return Size(self._shape)

    def size(self, dim=None):
        if dim is None:
            return Size(self._shape)
        from .ops._helpers import wrap_dim
        return self._shape[wrap_dim(dim, len(self._shape), "size")]

    def stride(self, dim=None):
        if dim is None:
            return self._strides
        from .ops._helpers import wrap_dim
        return self._strides[wrap_dim(dim, len(self._shape), "stride")]

    def storage_offset(self) -> int:
        return self._offset

    @property
    def dtype(self):
        return self._dtype

    @property
    def device(self):
        return self._device

    @property
    def ndim(self) -> int:
        return len(self._shape)

    def dim(self) -> int:
        return len(self._shape)

    def numel(self) -> int:
        n = 1
        for s in self._shape:
            n *= s
        return n

    nelement = numel

    def element_size(self) -> int:
        return self._dtype.itemsize

    @property
    def itemsize(self) -> int:
        return self._dtype.itemsize

    @property
    def nbytes(self) -> int:
        return self.numel() * self._dtype.itemsize

    @property
    def is_meta(self) -> bool:
        return self._device.type == "meta"

    @property
    def is_cpu(self) -> bool:
        return self._device.type == "cpu"

    def is_floating_point(self) -> bool:
        return self._dtype.is_floating_point

    def is_contiguous(self) -> bool:
        expected = 1
        for n, s in zip(reversed(self._shape), reversed(self._strides)):
            if n != 1 and s != expected:
                return False
            expected *= n
        return True

    def untyped_storage(self):
        return self._storage

    def data_ptr(self) -> int:
        return self._backend.runtime.data_ptr(self)

    def __len__(self):
        if not self._shape:
            raise ArgumentTypeError("len() of a 0-d tensor")
        return self._shape[0]

    def __iter__(self):
        if not self._shape:
            raise ArgumentTypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))

    def __hash__(self):
        return id(self)

    # -- host conversion ----------------------------------------------------
    def numpy(self, *, force: bool = False):
        """A numpy array sharing memory with this cpu tensor (like torch.Tensor.numpy). ``force=True`` gives
        a copy from any device, detached, as PyTorch's does."""
        if _host_read_hooks:
            _host_read_hooks[-1](self)
        if force:
            return self._backend.runtime.to_numpy(self)
        if self.requires_grad:
            raise InvalidArgumentError(
                f"can't call numpy() on a tensor that requires grad (shape {tuple(self._shape)}); "
                f"use tensor.detach().numpy() instead")
        if not self._backend.capabilities.host_memory:
            raise ArgumentTypeError(
                f"can't convert a {self._device} tensor to numpy: its memory is not host memory; "
                f"use tensor.cpu().numpy() (or tensor.to('cpu')) first")
        return self._backend.runtime.as_numpy(self)

    def _to_numpy_copy(self):
        """A numpy copy of this tensor's values, from any device."""
        if _host_read_hooks:
            _host_read_hooks[-1](self)
        return self._backend.runtime.to_numpy(self)

    def item(self):
        if self.numel() != 1:
            raise InvalidArgumentError(
                f"item() needs a tensor with exactly one element, got shape {tuple(self._shape)} "
                f"({self.numel()} elements); index it or reduce it first")
        return self._to_numpy_copy().reshape(()).item()

    def tolist(self):
        arr = self._to_numpy_copy()
        if self._dtype is D.bfloat16 or self._dtype is D.float16:
            arr = arr.astype("float32") if self._dtype is D.bfloat16 else arr
        return arr.tolist()

    def __bool__(self):
        if self.numel() != 1:
            raise InvalidArgumentError(
                f"the truth value of a tensor with {self.numel()} elements is ambiguous; "
                f"use .any() or .all()")
        return bool(self.item())

    def __int__(self):
        return int(self.item())

    def __float__(self):
        return float(self.item())

    def __index__(self):
        if self._dtype.category != 1 or self.numel() != 1:
            raise ArgumentTypeError(f"only integer tensors of a single element can be converted to an index, "
                                    f"got dtype {self._dtype.name} with shape {tuple(self._shape)}")
        return int(self.item())

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        """Export as a DLPack capsule (no copy), for torch.from_dlpack, cupy.from_dlpack, jax.dlpack, numpy."""
        from ._dlpack import to_dlpack
        return to_dlpack(self, stream, max_version, dl_device, copy)

    def __dlpack_device__(self):
        """(DLPack device type code, device index) of this tensor's memory."""
        from ._dlpack import dlpack_device
        return dlpack_device(self)

    def __array__(self, dtype=None, copy=None):
        arr = self._to_numpy_copy()
        return arr if dtype is None else arr.astype(dtype)

    def __repr__(self):
        from ._repr import tensor_repr
        return tensor_repr(self)

    __str__ = __repr__

    def __format__(self, spec):
        if self.numel() == 1 and not self._shape:
            return self.item().__format__(spec)
        return repr(self)

    def __reduce_ex__(self, protocol):
        raise ArgumentTypeError("Ember tensors are not pickled; use ember.save (safetensors) instead")


class Size(tuple):
    """A tensor's shape: a tuple that prints like ``ember.Size([2, 3])``."""

    __slots__ = ()

    def __repr__(self):
        return f"ember.Size({list(self)})"

    def numel(self) -> int:
        n = 1
        for s in self:
            n *= s
        return n
