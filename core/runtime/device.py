"""Device selection: the current device per device type, and per-type modules like ``ember.cuda``.

The current device index is per thread and per device type (as in PyTorch):
``ember.set_device("cuda:1")`` makes ``"cuda"`` mean ``cuda:1`` in this
thread; ``with ember.device_guard("cuda:1"):`` does so for a block.

``ember.<type>`` (``ember.cuda``, ``ember.xpu``, ``ember.counting``, ...) is a
:class:`DeviceModule` built on first access for any device type that a plugin
registers, the catalogue lists, or an installed entry point names; core writes
no vendor's name. Its functions answer without raising when the plugin is
missing (``ember.cuda.is_available()`` is False, ``device_count()`` is 0).
"""

from __future__ import annotations

import types

import sys

from ..device import Device, resolve
from ..errors import AttributeNotFoundError, UnsupportedError

_D = sys.modules["ember.device"]   # the module (``ember.device`` the attribute is the Device class)
from ..errors import UnknownDeviceError

__all__ = ["device_count", "current_device", "set_device", "device_guard", "DeviceModule", "device_module",
           "is_available"]


def _get_index(device_type: str) -> int:
    return _D._current_index.__dict__.get(device_type, 0)


def _set_index(device_type: str, index: int) -> None:
    _D._current_index.__dict__[device_type] = index


def _known_type(device_type: str) -> bool:
    """True when ``device_type`` is registered, catalogued, or named by an installed entry point (nothing is imported)."""
    if device_type in _D._backends:
        return True
    from ..plugins import catalogue as _cat, manager as _m
    if device_type in _cat.catalogue():
        return True
    with _m._lock:
        _m._scan()
        return device_type in _m._entry_points or device_type in _m.records


def _backend_or_none(device_type: str):
    """The backend of a type, or None when its plugin is missing, disabled or failed."""
    try:
        return _D.get_backend(device_type)
    except Exception:  # noqa: BLE001  (is_available/device_count must answer, not raise)
        return None


def device_count(device_type: "str | None" = None) -> int:
    """How many devices of ``device_type`` (default: the default device's type) are usable here; 0 if none or not installed."""
    if device_type is None:
        device_type = _D.get_default_device().type
    if isinstance(device_type, Device):
        device_type = device_type.type
    if not _known_type(device_type):
        _unknown(device_type)
    b = _backend_or_none(device_type)
    if b is None:
        return 0
    if not b.indexed:
        return 1
    try:
        return int(b.runtime.device_count()) if b.runtime.is_available() else 0
    except Exception:  # noqa: BLE001
        return 0


def is_available(device_type: str) -> bool:
    """True when the plugin of ``device_type`` is installed, loads, and sees at least one device."""
    return device_count(device_type) > 0


def _unknown(device_type):
    from ..plugins.manager import _missing_backend_error
    raise _missing_backend_error(device_type)


def current_device(device_type: "str | None" = None) -> int:
    """This thread's current device index of ``device_type`` (default: the default device's type)."""
    if device_type is None:
        device_type = _D.get_default_device().type
    if isinstance(device_type, Device):
        device_type = device_type.type
    return _get_index(device_type)


def set_device(device) -> None:
    """Make ``device`` the current device of its type in this thread: ``ember.set_device("cuda:1")``.

    An int is an index of the default device type. Afterwards ``device="cuda"``
    (no index) means ``cuda:1``, and streams, memory stats and generators asked
    for without a device use it.
    """
    if isinstance(device, int) and not isinstance(device, bool):
        device = Device(_D.get_default_device().type, device)
    d = Device(device)
    backend, canon = resolve(d)
    if backend.indexed:
        _set_index(canon.type, canon.index)


class device_guard:
    """Context manager: make ``device`` the current device of its type for the block, then restore.

    ``with ember.device_guard("cuda:1"): ...``. ``None`` does nothing.
    """

    __slots__ = ("device", "_prev")

    def __init__(self, device):
        if isinstance(device, int) and not isinstance(device, bool):
            device = Device(_D.get_default_device().type, device)
        self.device = None if device is None else resolve(Device(device))[1]

    def __enter__(self):
        d = self.device
        if d is not None and d.index is not None:
            self._prev = _get_index(d.type)
            _set_index(d.type, d.index)
        return d

    def __exit__(self, *exc):
        d = self.device
        if d is not None and d.index is not None:
            _set_index(d.type, self._prev)
        return False


class DeviceModule(types.ModuleType):
    """``ember.<type>``: the runtime functions of one device type, like ``torch.cuda``.

    Built from the registered plugins; every device type gets the same functions.
    """

    def __init__(self, device_type: str):
        super().__init__(f"ember.{device_type}", f"Runtime functions of device type {device_type!r}.")
        self.device_type = device_type

    def __repr__(self):
        return f"<ember device module {self.device_type!r}>"

    def __getattr__(self, name):
        # Only for names the class does not define: what the plugin's runtime adds to its module
        # (``module_attributes``, e.g. ember.xla.lazy), found by loading the plugin on first use.
        if name.startswith("__"):
            raise AttributeNotFoundError(name)
        backend = _backend_or_none(self.device_type)
        extra = getattr(getattr(backend, "runtime", None), "module_attributes", None) or {}
        if name in extra:
            value = extra[name]
            setattr(self, name, value)
            return value
        why = "" if backend is not None else f" (the {self.device_type!r} plugin is not installed or failed to load)"
        raise AttributeNotFoundError(f"module 'ember.{self.device_type}' has no attribute {name!r}{why}")

    def _dev(self, device=None) -> Device:
        t = self.device_type
        if device is None:
            return resolve(t)[1]
        if isinstance(device, int) and not isinstance(device, bool):
            return resolve(Device(t, device))[1]
        d = resolve(device)[1]
        if d.type != t:
            raise UnknownDeviceError(f"ember.{t} functions take {t} devices, got {d}")
        return d

    @property
    def amp(self):
        """``autocast`` and ``GradScaler`` bound to this device type (``ember.cuda.amp``, as ``torch.cuda.amp``)."""
        from ..amp import device_amp  # local: amp is imported on first use
        return device_amp(self.device_type)

    # -- devices --------------------------------------------------------------
    def is_available(self) -> bool:
        """True when this device type's plugin is installed and sees at least one device."""
        return device_count(self.device_type) > 0

    def device_count(self) -> int:
        """Usable devices of this type (0 when the plugin is missing or sees none)."""
        return device_count(self.device_type)

    def current_device(self) -> int:
        return _get_index(self.device_type)

    def set_device(self, device) -> None:
        set_device(self._dev(device))

    def device(self, device) -> device_guard:
        """Context manager making ``device`` (an index or a device) current for the block."""
        return device_guard(self._dev(device))

    def synchronize(self, device=None) -> None:
        from .streams import synchronize
        synchronize(self._dev(device))

    def is_bf16_supported(self, including_emulation: bool = True) -> bool:
        """True when this type is available and its backend takes bfloat16 tensors; with
        ``including_emulation=False``, only where the current device computes bfloat16 natively (the
        runtime's optional ``supports_native_bf16(index)``; assumed where it lacks one)."""
        if not self.is_available():
            return False
        backend = _backend_or_none(self.device_type)
        from ..dtypes import bfloat16
        if backend is None or bfloat16 not in backend.capabilities.dtypes:
            return False
        native = getattr(backend.runtime, "supports_native_bf16", None)
        return including_emulation or native is None or bool(native(self._dev().index or 0))

    def get_device_name(self, device=None) -> str:
        """The device's name from the backend's optional ``device_name(index)``, else ``"<type>:<index>"``."""
        d = self._dev(device)
        rt = resolve(d)[0].runtime
        name = getattr(rt, "device_name", None)
        return str(name(d.index or 0)) if name is not None else str(d)

    # -- streams --------------------------------------------------------------
    def Stream(self, device=None, priority: int = 0):  # noqa: N802  (mirrors torch.cuda.Stream)
        from .streams import Stream
        return Stream(self._dev(device), priority)

    @property
    def Event(self):  # noqa: N802
        from .streams import Event
        return Event

    def current_stream(self, device=None):
        from .streams import current_stream
        return current_stream(self._dev(device))

    def default_stream(self, device=None):
        from .streams import default_stream
        return default_stream(self._dev(device))

    def stream(self, s):
        from .streams import stream
        return stream(s)

    def set_stream(self, s):
        from .streams import set_stream
        set_stream(s)

    # -- memory ---------------------------------------------------------------
    def memory_stats(self, device=None) -> dict:
        from .allocator import memory_stats
        return memory_stats(self._dev(device))

    def memory_allocated(self, device=None) -> int:
        from .allocator import memory_allocated
        return memory_allocated(self._dev(device))

    def max_memory_allocated(self, device=None) -> int:
        from .allocator import max_memory_allocated
        return max_memory_allocated(self._dev(device))

    def memory_reserved(self, device=None) -> int:
        from .allocator import memory_reserved
        return memory_reserved(self._dev(device))

    def max_memory_reserved(self, device=None) -> int:
        from .allocator import max_memory_reserved
        return max_memory_reserved(self._dev(device))

    def reset_peak_memory_stats(self, device=None) -> None:
        from .allocator import reset_peak_memory_stats
        reset_peak_memory_stats(self._dev(device))

    def empty_cache(self) -> None:
        """Return every cached, unused block of every device of this type to the backend, then let a
        backend with a cache of its own (the runtime's optional ``empty_cache()``, e.g. MLX's) release it."""
        from .allocator import empty_cache
        for i in range(self.device_count()):
            empty_cache(self._dev(i))
        release = getattr(getattr(_backend_or_none(self.device_type), "runtime", None), "empty_cache", None)
        if release is not None and self.device_count():
            release()

    def mem_get_info(self, device=None) -> tuple:
        """(free bytes, total bytes) of the device, from the backend's ``mem_get_info``."""
        d = self._dev(device)
        rt = resolve(d)[0].runtime
        if not hasattr(rt, "mem_get_info"):
            raise UnsupportedError(f"the {self.device_type} backend does not report free memory "
                                      f"(its runtime has no mem_get_info)")
        return tuple(rt.mem_get_info(d.index or 0))

    # -- random numbers -------------------------------------------------------
    def manual_seed(self, seed: int) -> None:
        """Seed the default generator of the current device of this type."""
        from .random import default_generator
        default_generator(self._dev()).manual_seed(seed)

    def manual_seed_all(self, seed: int) -> None:
        """Seed the default generators of every device of this type."""
        from .random import default_generator
        for i in range(self.device_count()):
            default_generator(self._dev(i)).manual_seed(seed)

    def seed(self) -> int:
        from .random import default_generator
        return default_generator(self._dev()).seed()

    def initial_seed(self) -> int:
        from .random import default_generator
        return default_generator(self._dev()).initial_seed()

    def get_rng_state(self, device=None):
        from .random import default_generator
        return default_generator(self._dev(device)).get_state()

    def set_rng_state(self, state, device=None) -> None:
        from .random import default_generator
        default_generator(self._dev(device)).set_state(state)

    def default_generator(self, device=None):
        from .random import default_generator
        return default_generator(self._dev(device))


_modules: dict = {}


def device_module(name: str) -> "DeviceModule | None":
    """``ember.<name>`` for a device type, or None when ``name`` is no device type known here."""
    m = _modules.get(name)
    if m is not None:
        return m
    if name.startswith("_") or not name.isidentifier() or not _known_type(name):
        return None
    m = _modules[name] = DeviceModule(name)
    return m
