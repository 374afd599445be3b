"""The meta device: every operator runs on it and returns shapes and dtypes with no data.

It is registered through the same plugin hook as every other backend. Its
kernels are the operators' meta functions: no operator needs a meta kernel of
its own.
"""

from __future__ import annotations

from . import dtypes as D
from ._tensor import Tensor, contiguous_strides
from .device import Device
from .errors import BackendUnavailableError
from .plugins import API_VERSION, Capabilities, hookimpl


class MetaStorage:
    __slots__ = ("numel",)

    def __init__(self, numel):
        self.numel = numel


class MetaRuntime:
    backend = None

    def device_count(self):
        return 1

    def is_available(self):
        return True

    def unavailable_reason(self):
        return None

    def empty(self, shape, dtype, device):
        n = 1
        for s in shape:
            n *= s
        return Tensor._make(MetaStorage(n), 0, shape, contiguous_strides(shape), dtype, _META, self.backend)

    def storage_numel(self, storage):
        return storage.numel

    def from_numpy(self, array, device):
        return self.empty(tuple(array.shape), D.from_numpy_dtype(array.dtype), device)

    def to_numpy(self, tensor):
        raise BackendUnavailableError(
            "meta tensors have shapes and dtypes but no data; move real data with .to(device) "
            "from a tensor created on a real device instead")

    def synchronize(self, device=None):
        pass

    def data_ptr(self, tensor):
        return 0


_META = Device("meta")
runtime = MetaRuntime()


def _alloc(spec):
    if isinstance(spec, tuple):
        return tuple(_alloc(s) for s in spec)
    return runtime.empty(tuple(spec.shape), spec.dtype, _META)


def meta_entry(op):
    """The table entry of ``op`` on the meta device: run its meta function, allocate nothing."""
    meta = op.meta
    if op.name.endswith("_"):
        def entry(self, *args):
            meta(self, *args)
            return self
        return entry

    def entry(*args):
        return _alloc(meta(*args))
    return entry


@hookimpl
def ember_register_backends(register):
    runtime.backend = register("meta", api_version=API_VERSION, runtime=runtime, kernels={},
                               capabilities=Capabilities(dtypes=D.all_dtypes + D.complex_dtypes,
                                                         notes=("shapes and dtypes only",)),
                               indexed=False, fallback_entry=meta_entry)
