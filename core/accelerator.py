"""ember.accelerator: PyTorch's device-generic API (``torch.accelerator``) over the best accelerator here.

The rule, written once (``examples/_device.py`` and ``DataLoader(pin_memory=True)`` use it too):
the accelerator is the first device type, in the order of Ember's backend catalogue (plugins.toml:
cuda, rocm, xpu, mps, xla; then any other installed type by name), whose plugin loads, whose runtime
sees at least one device, and whose tensors do not live in host memory. cpu and meta never count,
nor does a backend that computes on the host (xla on XLA's CPU client, whose tensors report the
DLPack device kDLCPU). An OpenCL device the xpu plugin was pointed at (pocl's CPU device through
``EMBER_XPU_PLATFORM``) counts: its buffers are OpenCL memory, as on a GPU.

Where no accelerator is available, ``current_accelerator()`` still names the first installed
accelerator plugin (a torch CUDA build on a machine without a GPU reports ``cuda`` the same way);
``current_accelerator(check_available=True)`` and ``is_available()`` then say there is none. With
only the cpu plugin installed it is None, as torch's CPU build reports.

ROCm: PyTorch reports AMD GPUs as ``cuda``; Ember's rocm plugin registers its own device type, so the
accelerator is ``ember.device("rocm")`` there and ``x.to(current_accelerator())`` reaches it.
"""

from __future__ import annotations

import warnings

from .device import Device, registered_backends
from .errors import ArgumentTypeError, BackendUnavailableError, InvalidArgumentError, UnknownDeviceError
from .runtime import device as _rd

__all__ = ["current_accelerator", "device_count", "is_available", "current_device_index", "set_device_index",
           "current_device_idx", "set_device_idx", "device_index", "synchronize", "current_stream", "set_stream",
           "empty_cache", "get_memory_info", "memory_allocated", "max_memory_allocated", "memory_reserved",
           "max_memory_reserved", "memory_stats", "reset_peak_memory_stats", "get_device_module",
           "is_accelerator", "runs_on_host"]

_NOT_ACCELERATORS = frozenset(("cpu", "meta"))   # meta has shapes and dtypes but no data
_KDLCPU = 1                                      # DLPack's device type code for host memory

_host: dict = {}          # backend object id -> whether its tensors live in host memory (probed once)
_order: list = [None, []]  # [registered device types when sorted, backends in catalogue order]
_loaded = [False]


def runs_on_host(backend) -> bool:
    """True where the backend computes in host memory: its capabilities or its runtime's optional
    ``runs_on_host(device_index)`` say so, or its tensors' DLPack device is the cpu."""
    if backend.capabilities.host_memory:
        return True
    known = _host.get(id(backend))
    if known is None:
        says = getattr(backend.runtime, "runs_on_host", None)
        try:
            if says is not None:
                known = bool(says(0))
            else:
                from .ops.creation import zeros
                known = zeros(1, device=backend.device(0)).__dlpack_device__()[0] == _KDLCPU
        except Exception:  # noqa: BLE001  (no DLPack export: nothing says it is on the host)
            known = False
        _host[id(backend)] = known
    return known


def _sees_devices(backend) -> bool:
    try:
        return bool(backend.runtime.is_available()) and backend.runtime.device_count() >= 1
    except Exception:  # noqa: BLE001  (a runtime that cannot even answer is not usable)
        return False


def is_accelerator(backend) -> bool:
    """True for an available device type that is no host device (the rule in this module's doc)."""
    return backend.device_type not in _NOT_ACCELERATORS and _sees_devices(backend) and not runs_on_host(backend)


def _ordered() -> list:
    """Every registered backend that could be an accelerator, in catalogue order (plugins loaded once)."""
    if not _loaded[0]:
        from .plugins import load_all
        load_all()
        _loaded[0] = True
    types = tuple(_rd._D._backends)
    if _order[0] != types:
        from .plugins.catalogue import catalogue
        rank = {t: i for i, t in enumerate(catalogue())}
        bs = [b for b in registered_backends()
              if b.device_type not in _NOT_ACCELERATORS and not b.capabilities.host_memory]
        _order[1] = sorted(bs, key=lambda b: (rank.get(b.device_type, len(rank)), b.device_type))
        _order[0] = types
    return _order[1]


def current_accelerator(check_available: bool = False) -> "Device | None":
    """The accelerator's device type as an index-less ``ember.device``, or None (see the module doc).

    ``check_available=True``: None unless it is also available now."""
    built = None
    for b in _ordered():
        if _sees_devices(b):
            if not runs_on_host(b):
                return Device(b.device_type)
        elif built is None:
            built = b
    return None if check_available or built is None else Device(built.device_type)


def is_available() -> bool:
    """True when an accelerator is installed, loads and sees at least one device."""
    return current_accelerator(check_available=True) is not None


def device_count() -> int:
    """How many devices the accelerator has; 0 when there is none."""
    acc = current_accelerator()
    return 0 if acc is None else _rd.device_count(acc.type)


def _require(what: str) -> str:
    acc = current_accelerator(check_available=True)
    if acc is None:
        from .plugins.catalogue import catalogue
        raise BackendUnavailableError(
            f"ember.accelerator.{what}: no accelerator is available here (cpu only); install and configure a "
            f"device plugin ({', '.join(t for t in catalogue() if t != 'cpu')}) or run on 'cpu'; "
            f"`ember info` says why each installed one is unusable")
    return acc.type


def _index(device, what: str, optional: bool) -> int:
    """PyTorch's device argument: an int index, or a device of the accelerator's type; None -> current."""
    if isinstance(device, bool) or not isinstance(device, (int, str, Device, type(None))):
        raise ArgumentTypeError(f"ember.accelerator.{what}: expected a device, a device string or an int index, "
                                f"got {type(device).__name__}: {device!r}")
    if isinstance(device, int):
        return device
    idx = None
    if device is not None:
        d = Device(device)
        acc = _require(what)
        if d.type != acc:
            raise InvalidArgumentError(f"ember.accelerator.{what}: device {str(d)!r} does not match the current "
                                       f"accelerator {acc!r}; pass an index or an {acc} device")
        idx = d.index
    if idx is None:
        if not optional:
            raise InvalidArgumentError(f"ember.accelerator.{what}: expected a device with an index or an int, got "
                                       f"{device!r}; e.g. {what.split('(')[0]}(0)")
        return current_device_index()
    return idx


def current_device_index() -> int:
    """This thread's current device index of the accelerator."""
    return _rd.current_device(_require("current_device_index()"))


def set_device_index(device, /) -> None:
    """Make ``device`` (an index, or a device of the accelerator's type) current; a negative index does nothing."""
    i = _index(device, "set_device_index()", optional=False)
    if i >= 0:
        _rd.set_device(Device(_require("set_device_index()"), i))


def current_device_idx() -> int:
    """Deprecated alias of :func:`current_device_index` (as in PyTorch)."""
    warnings.warn("Use `current_device_index` instead.", FutureWarning, stacklevel=2)
    return current_device_index()


def set_device_idx(device, /) -> None:
    """Deprecated alias of :func:`set_device_index` (as in PyTorch)."""
    warnings.warn("Use `set_device_index` instead.", FutureWarning, stacklevel=2)
    set_device_index(device)


class device_index:
    """``with ember.accelerator.device_index(i):`` makes accelerator device ``i`` current for the block,
    then restores the previous one; ``None`` changes nothing."""

    __slots__ = ("idx", "prev_idx")

    def __init__(self, device, /) -> None:
        self.idx = device
        self.prev_idx = -1

    def __enter__(self) -> None:
        if self.idx is not None:
            self.prev_idx = current_device_index()
            set_device_index(self.idx)

    def __exit__(self, *exc) -> None:
        if self.idx is not None:
            set_device_index(self.prev_idx)


def _device(device, what: str) -> Device:
    return Device(_require(what), _index(device, what, optional=True))


def synchronize(device=None, /) -> None:
    """Wait for all work queued on every stream of the accelerator device (default: the current one)."""
    from .runtime.streams import synchronize as sync
    sync(_device(device, "synchronize()"))


def current_stream(device=None, /):
    """The current ``ember.Stream`` of the accelerator device (default: the current one)."""
    from .runtime.streams import current_stream as cs
    return cs(_device(device, "current_stream()"))


def set_stream(stream) -> None:
    """Make ``stream`` (of the accelerator's type) current for its device, and its device current."""
    from .runtime.streams import set_stream as ss
    acc = _require("set_stream()")
    if stream.device.type != acc:
        raise InvalidArgumentError(f"ember.accelerator.set_stream(): the stream is on {stream.device}, not on the "
                                   f"accelerator {acc!r}")
    _rd.set_device(stream.device)
    ss(stream)


def empty_cache() -> None:
    """Return the accelerator's cached, unused memory to its backend (nothing without an accelerator)."""
    if is_available():
        get_device_module().empty_cache()


def _memory(fn_name: str):
    def fn(device_index=None, /):
        return getattr(get_device_module(), fn_name)(_device(device_index, f"{fn_name}()"))
    fn.__name__ = fn_name
    fn.__doc__ = f"``ember.<accelerator>.{fn_name}`` of the accelerator device (default: the current one)."
    return fn


memory_allocated = _memory("memory_allocated")
max_memory_allocated = _memory("max_memory_allocated")
memory_reserved = _memory("memory_reserved")
max_memory_reserved = _memory("max_memory_reserved")
memory_stats = _memory("memory_stats")
reset_peak_memory_stats = _memory("reset_peak_memory_stats")
get_memory_info = _memory("mem_get_info")
get_memory_info.__name__ = "get_memory_info"


def get_device_module(device=None):
    """``ember.<type>`` for a device, a device string or a type; None: the accelerator's, else ``ember.cpu``."""
    if device is None:
        acc = current_accelerator()
        name = "cpu" if acc is None else acc.type
    elif isinstance(device, (str, Device)):
        name = Device(device).type
    else:
        raise InvalidArgumentError(f"get_device_module(): invalid device {device!r}; expected an ember.device, "
                                   f"a string such as 'cuda:0', or None")
    m = None if name == "meta" else _rd.device_module(name)
    if m is None:
        raise UnknownDeviceError(f"get_device_module(): device type {name!r} has no module 'ember.{name}'; "
                                 f"`ember info` lists the installed device types")
    return m

