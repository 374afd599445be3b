"""Autocast state: per thread, per device type, as in PyTorch.

A device type's region is on when ``enabled`` says so; ``active`` maps each
enabled type to (its lower-precision dtype, the operator list it follows), which
is all the Autocast kernels read. While any type is on, the Autocast dispatch
key is among the dispatcher's thread-local included keys; when none is, no
operator reaches an Autocast kernel, so autocast costs nothing.
"""

from __future__ import annotations

import threading

from .. import dtypes as D
from ..dispatch.keys import AUTOCAST
from ..dispatch.operator import state as _dispatch
from ..errors import InvalidArgumentError
from .tables import LISTS

__all__ = ["is_autocast_enabled", "set_autocast_enabled", "get_autocast_dtype", "set_autocast_dtype",
           "is_autocast_available", "is_autocast_cache_enabled", "set_autocast_cache_enabled",
           "clear_autocast_cache", "autocast_increment_nesting", "autocast_decrement_nesting"]

_AC = AUTOCAST.bit
#: PyTorch's ``is_autocast_enabled()`` and ``set_autocast_enabled(bool)`` without a device type mean cuda.
_DEFAULT_TYPE = "cuda"


class _State(threading.local):
    def __init__(self):
        self.enabled: dict = {}       # device type -> bool
        self.dtype: dict = {}         # device type -> DType chosen by set_autocast_dtype
        self.active: dict = {}        # enabled device type -> (lower dtype, {name: policy})
        self.nesting = 0
        self.cache_enabled = True
        self.cache: dict = {}         # id(source) -> (weakref to source, its cast)


S = _State()


def _backend(device_type: str):
    from ..device import get_backend  # local: loads plugins on first use
    return get_backend(device_type)


def _type(device_type) -> str:
    if not isinstance(device_type, str):
        raise InvalidArgumentError(f"autocast: expected device_type of type str (e.g. 'cpu'), got "
                                   f"{type(device_type).__name__} {device_type!r}; pass device.type")
    return device_type


def declared_dtypes(device_type: str) -> tuple:
    """The lower-precision dtypes the backend of ``device_type`` declares for autocast (may be empty)."""
    return tuple(getattr(_backend(device_type).capabilities, "autocast_dtypes", ()))


def is_autocast_available(device_type: str) -> bool:
    """True when ``device_type``'s backend is installed and declares at least one autocast dtype."""
    try:
        return bool(declared_dtypes(_type(device_type)))
    except Exception:  # noqa: BLE001  (an unknown or uninstalled device type: not available)
        return False


def is_autocast_enabled(device_type: str | None = None) -> bool:
    """Whether autocast is on for ``device_type`` in this thread (no argument: cuda, as in PyTorch)."""
    return bool(S.enabled.get(_DEFAULT_TYPE if device_type is None else _type(device_type), False))


def get_autocast_dtype(device_type: str) -> D.DType:
    """The dtype autocast regions of ``device_type`` run in: set_autocast_dtype's, else the backend's
    default (the first dtype its plugin declares)."""
    device_type = _type(device_type)
    dt = S.dtype.get(device_type)
    if dt is not None:
        return dt
    declared = declared_dtypes(device_type)
    if not declared:
        raise InvalidArgumentError(
            f"autocast: device type {device_type!r} declares no lower-precision dtype (its plugin's "
            f"Capabilities.autocast_dtypes is empty), so it has no autocast; run without autocast there")
    return declared[0]


def check_dtype(device_type: str, dtype) -> None:
    """Raise unless the backend of ``device_type`` declares ``dtype`` for autocast."""
    declared = declared_dtypes(device_type)
    if dtype not in declared:
        names = ", ".join(f"ember.{d.name}" for d in declared) or "none"
        raise InvalidArgumentError(
            f"autocast: dtype {dtype!r} is not supported on device type {device_type!r}, which declares "
            f"{names}; pass one of those as dtype=")


def set_autocast_dtype(device_type: str, dtype) -> None:
    device_type = _type(device_type)
    if not isinstance(dtype, D.DType):
        raise InvalidArgumentError(f"set_autocast_dtype(): dtype must be an ember dtype, got {dtype!r}")
    S.dtype[device_type] = dtype
    _refresh(device_type)


def set_autocast_enabled(device_type, enabled=None) -> None:
    """``set_autocast_enabled("cpu", True)``; ``set_autocast_enabled(True)`` means cuda, as in PyTorch."""
    if enabled is None:
        device_type, enabled = _DEFAULT_TYPE, device_type
    S.enabled[_type(device_type)] = bool(enabled)
    _refresh(device_type)


def _refresh(device_type: str) -> None:
    if S.enabled.get(device_type):
        family = getattr(_backend(device_type).capabilities, "autocast_lists", "cuda")
        S.active[device_type] = (get_autocast_dtype(device_type), LISTS[family])
    else:
        S.active.pop(device_type, None)
    if S.active:
        _dispatch.included |= _AC
    else:
        _dispatch.included &= ~_AC


def is_autocast_cache_enabled() -> bool:
    return S.cache_enabled


def set_autocast_cache_enabled(enabled: bool) -> None:
    S.cache_enabled = bool(enabled)


def clear_autocast_cache() -> None:
    """Drop the cached lower-precision casts of weights (the outermost region's exit does this)."""
    S.cache.clear()


def autocast_increment_nesting() -> int:
    S.nesting += 1
    return S.nesting


def autocast_decrement_nesting() -> int:
    S.nesting -= 1
    return S.nesting
