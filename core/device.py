"""Devices ("cpu", "cuda:1") and the registry of device types that plugins fill."""

from __future__ import annotations

import threading

from .errors import BackendUnavailableError, UnknownDeviceError
from .errors import ArgumentTypeError

__all__ = ["device", "Device"]


class Device:
    """A device type plus an optional index, like ``torch.device``. Interned: compare with ``is`` or ``==``."""

    __slots__ = ("type", "index", "_str", "__weakref__")

    def __new__(cls, type_or_str, index=None):
        if isinstance(type_or_str, Device):
            if index is None:
                return type_or_str
            type_or_str = type_or_str.type
        key = (type_or_str, index)
        d = _interned.get(key)
        if d is not None:
            return d
        if not isinstance(type_or_str, str):
            raise ArgumentTypeError(f"a device is a string like 'cpu' or 'cuda:0', got {type(type_or_str).__name__}: {type_or_str!r}")
        s = type_or_str.strip()
        dtype_, _, idx = s.partition(":")
        if idx:
            if index is not None:
                raise UnknownDeviceError(f"device {s!r} already has an index; do not also pass index={index}")
            if not idx.isdigit():
                raise UnknownDeviceError(f"invalid device string {s!r}: the index after ':' must be a non-negative integer")
            index = int(idx)
        if not dtype_ or not (dtype_.replace("_", "").isalnum()):
            raise UnknownDeviceError(f"invalid device string {s!r}: expected 'type' or 'type:index', e.g. 'cpu' or 'cuda:0'")
        if index is not None and (not isinstance(index, int) or index < 0):
            raise UnknownDeviceError(f"device index must be a non-negative integer, got {index!r}")
        # One object per device however it was spelled ("cuda:1", ("cuda", 1)): devices compare by identity.
        self = _interned.get((dtype_, index))
        if self is None:
            self = object.__new__(cls)
            self.type = dtype_
            self.index = index
            self._str = dtype_ if index is None else f"{dtype_}:{index}"
            _interned[(dtype_, index)] = self
        _interned[key] = self
        _interned[(self._str, None)] = self
        return self

    def __repr__(self):
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __str__(self):
        return self._str

    def __eq__(self, other):
        if isinstance(other, str):
            other = Device(other)
        return self is other

    def __hash__(self):
        return hash(self._str)

    def __reduce__(self):
        return (Device, (self._str,))


_interned: dict = {}
device = Device


# -- the device-type registry, filled by plugins -----------------------------

class Backend:
    """A registered device type: its dispatch key, runtime, capabilities and kernels.

    Built by the plugin manager from what a plugin passes to ``register``.
    """

    __slots__ = ("device_type", "key", "runtime", "capabilities", "distribution", "version",
                 "plugin", "fallback_entry", "indexed", "array_kernels", "array_handle")

    def __init__(self, device_type, key, runtime, capabilities, distribution, version, plugin,
                 fallback_entry=None, indexed=True, array_kernels=None, array_handle=None):
        self.device_type = device_type
        self.key = key
        self.runtime = runtime
        self.capabilities = capabilities
        self.distribution = distribution
        self.version = version
        self.plugin = plugin
        self.fallback_entry = fallback_entry
        self.indexed = indexed
        self.array_kernels = array_kernels or {}
        self.array_handle = array_handle

    def __repr__(self):
        return f"<Backend {self.device_type} from {self.distribution} {self.version}>"

    @property
    def default_index(self) -> int:
        """This thread's current device index of this type (``ember.set_device``); 0 until set."""
        return _current_index.__dict__.get(self.device_type, 0)

    def device(self, index=None) -> Device:
        """The canonical device of a tensor on this backend (cpu has no index, others do)."""
        if not self.indexed:
            return Device(self.device_type)
        return Device(self.device_type, self.default_index if index is None else index)


#: The current device index per device type, per thread (ember.set_device, ember.device_guard).
_current_index = threading.local()
_backends: dict[str, Backend] = {}
_default_device_type = "cpu"


def registered_backends() -> list[Backend]:
    return list(_backends.values())


def add_backend(backend: Backend) -> None:
    _backends[backend.device_type] = backend


def get_backend(device_type: str) -> Backend:
    """The backend of a device type, loading plugins on first use."""
    b = _backends.get(device_type)
    if b is not None:
        return b
    from .plugins import manager  # local: lazy plugin loading happens here, once
    return manager.require_backend(device_type)


def resolve(dev) -> tuple[Backend, Device]:
    """Resolve a device argument (str, Device, or None for the default) to (backend, canonical device)."""
    if dev is None:
        dev = _default_device_type
    d = Device(dev) if not isinstance(dev, Device) else dev
    backend = get_backend(d.type)
    if not backend.indexed:
        if d.index not in (None, 0):
            raise UnknownDeviceError(f"device {d} is out of range: {d.type} has one device (write '{d.type}')")
        return backend, backend.device(d.index)
    n = backend.runtime.device_count()
    if (backend.default_index if d.index is None else d.index) >= n:
        if n == 0:
            raise BackendUnavailableError(
                f"device type {d.type!r} ({backend.distribution} {backend.version}) is installed but "
                f"has no usable device here: {backend.runtime.unavailable_reason() or 'device count is 0'}; "
                f"`ember info` lists the devices that are available")
        raise UnknownDeviceError(
            f"device {d} is out of range: {d.type} has {n} device(s) here (indices 0..{n - 1})")
    return backend, (d if d.index is not None else backend.device())


def device_keys(dev) -> int:
    """The dispatch key bits selected by a ``device=`` argument."""
    return resolve(dev)[0].key.bit


def set_default_device(dev) -> None:
    global _default_device_type
    backend, d = resolve(dev)
    _default_device_type = d.type


def get_default_device() -> Device:
    return resolve(None)[1]
