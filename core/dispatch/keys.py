"""Dispatch keys. A key set is a plain int bitmask; higher bits run first.

Meta is bit 0; backend keys take bits 1..47 in the order plugins register
device types; functionality keys sit above every backend key.
"""

from __future__ import annotations

from ..errors import RegistrationError

__all__ = ["DispatchKey", "META", "SPARSE", "COMPLEX", "AUTOGRAD", "AUTOCAST", "PYTHON", "backend_key",
           "new_backend_key", "keyset_names", "FUNCTIONALITY_MASK", "BACKEND_MASK"]

_MAX_BACKEND_BIT = 47


class DispatchKey:
    __slots__ = ("name", "index", "bit", "device_type")

    def __init__(self, name: str, index: int, device_type: str | None = None):
        self.name = name
        self.index = index
        self.bit = 1 << index
        self.device_type = device_type

    def __repr__(self):
        return f"DispatchKey.{self.name}"

    @property
    def is_backend(self) -> bool:
        return self.device_type is not None


META = DispatchKey("Meta", 0, "meta")
# Complex: carried by tensors of a complex dtype. Operators that do not take complex register the
# refusal there (ops/complex.py); the others have no entry, so the key costs them nothing.
COMPLEX = DispatchKey("Complex", 59)
# SparseCOO: carried by sparse COO tensors (ember.sparse_coo_tensor). The operators that take them have
# their sparse implementation there (ops/sparse.py); the others register a refusal naming .to_dense().
SPARSE = DispatchKey("SparseCOO", 58)
AUTOGRAD = DispatchKey("Autograd", 60)
AUTOCAST = DispatchKey("Autocast", 61)
PYTHON = DispatchKey("Python", 62)
FUNCTIONALITY_KEYS = (SPARSE, COMPLEX, AUTOGRAD, AUTOCAST, PYTHON)
FUNCTIONALITY_MASK = SPARSE.bit | COMPLEX.bit | AUTOGRAD.bit | AUTOCAST.bit | PYTHON.bit

_keys_by_index: dict[int, DispatchKey] = {k.index: k for k in (META, *FUNCTIONALITY_KEYS)}


def _mark_complex_dtypes():
    from .. import dtypes as D
    for d in D.complex_dtypes:
        d.key_bit = COMPLEX.bit


_mark_complex_dtypes()
_backend_keys: dict[str, DispatchKey] = {"meta": META}
BACKEND_MASK = (1 << (_MAX_BACKEND_BIT + 1)) - 1


def new_backend_key(device_type: str) -> DispatchKey:
    """Create the dispatch key of a newly registered device type."""
    if device_type in _backend_keys:
        raise RegistrationError(f"device type {device_type!r} already has dispatch key {_backend_keys[device_type]!r}")
    index = len(_backend_keys)  # meta holds bit 0
    if index > _MAX_BACKEND_BIT:
        raise RegistrationError(f"too many device types registered (the limit is {_MAX_BACKEND_BIT})")
    key = DispatchKey(device_type.upper() if len(device_type) <= 4 else device_type.capitalize(), index, device_type)
    _backend_keys[device_type] = key
    _keys_by_index[index] = key
    return key


def backend_key(device_type: str) -> DispatchKey | None:
    return _backend_keys.get(device_type)


def key_for_index(index: int) -> DispatchKey | None:
    return _keys_by_index.get(index)


def all_keys() -> list[DispatchKey]:
    return [_keys_by_index[i] for i in sorted(_keys_by_index, reverse=True)]


def keyset_names(ks: int) -> list[str]:
    """The names of the keys in a key set, highest priority first."""
    return [k.name for k in all_keys() if ks & k.bit]
