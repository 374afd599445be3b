"""``ember.autocast``: a region where listed operators run in lower precision (a context manager and
a decorator), and the per-device-type ``ember.<type>.amp`` modules.

Differs from PyTorch on purpose in one place: a dtype the device type's plugin does not declare is an
error (PyTorch warns and disables the region on CPU), so a mistyped dtype is not silently float32.
"""

from __future__ import annotations

import copy
import functools
import types
import warnings

from .. import dtypes as D
from ..errors import BackendNotInstalledError, InvalidArgumentError
from . import state as St

__all__ = ["autocast", "device_amp"]


def _available(device_type: str) -> "str | None":
    """Why a region on ``device_type`` cannot run here (None when it can)."""
    from ..device import get_backend
    try:
        b = get_backend(device_type)
    except BackendNotInstalledError as e:
        return str(e)
    rt = b.runtime
    try:
        ok = rt.is_available() if hasattr(rt, "is_available") else True
    except Exception as e:  # noqa: BLE001  (a runtime that cannot even answer is unavailable)
        return f"{type(e).__name__}: {e}"
    return None if ok else f"the {device_type!r} backend sees no device"


class autocast:  # noqa: N801  (PyTorch's name)
    """``with ember.autocast("cpu"):`` runs the operators of PyTorch's autocast lists in ``dtype``
    (default: the backend's, bfloat16 on cpu), others in float32 or the widest input type.

    ``enabled=False`` turns autocast off for the block (inside an enabled region too);
    ``cache_enabled`` (default: the current setting, True) keeps one lower-precision copy of each leaf
    float32 tensor that requires grad (a weight) for the whole outermost region.
    """

    def __init__(self, device_type: str, dtype=None, enabled: bool = True, cache_enabled: "bool | None" = None):
        if not isinstance(device_type, str):
            raise InvalidArgumentError(f"autocast(): expected device_type of type str, got "
                                       f"{type(device_type).__name__} {device_type!r}; pass device.type, e.g. 'cpu'")
        if dtype is not None and not isinstance(dtype, D.DType):
            raise InvalidArgumentError(f"autocast(): dtype must be an ember dtype such as ember.bfloat16, "
                                       f"got {dtype!r}")
        self.device = device_type
        self._cache_enabled = St.is_autocast_cache_enabled() if cache_enabled is None else bool(cache_enabled)
        self.fast_dtype = dtype
        why = _available(device_type) if enabled else None
        if why is not None:
            warnings.warn(f"autocast(): device type {device_type!r} is not available ({why}); "
                          f"disabling autocast", stacklevel=2)
            enabled = False
        elif enabled and dtype is not None:
            St.check_dtype(device_type, dtype)
        if dtype is None and (enabled or St.is_autocast_available(device_type)):
            self.fast_dtype = St.get_autocast_dtype(device_type)
        self._enabled = bool(enabled)

    def __repr__(self):
        return (f"ember.autocast({self.device!r}, dtype={self.fast_dtype!r}, enabled={self._enabled}, "
                f"cache_enabled={self._cache_enabled})")

    def __enter__(self):
        s, dev = St.S, self.device
        self._prev_cache = s.cache_enabled
        self._prev = s.enabled.get(dev, False)
        self._prev_dtype = s.dtype.get(dev)
        if self.fast_dtype is not None:
            s.dtype[dev] = self.fast_dtype
        St.set_autocast_enabled(dev, self._enabled)
        s.nesting += 1
        s.cache_enabled = self._cache_enabled
        return self

    def __exit__(self, *exc):
        s, dev = St.S, self.device
        s.nesting -= 1
        if s.nesting == 0:  # leaving the outermost region: the cached weight casts go
            s.cache.clear()
        if self._prev_dtype is None:
            s.dtype.pop(dev, None)
        else:
            s.dtype[dev] = self._prev_dtype
        St.set_autocast_enabled(dev, self._prev)
        s.cache_enabled = self._prev_cache
        return False

    def __call__(self, fn):
        """Decorate ``fn`` so that each call runs in a region like this one (a copy: calls may nest)."""
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with copy.copy(self):
                return fn(*args, **kwargs)
        return wrapper


_device_modules: dict = {}


def device_amp(device_type: str) -> types.ModuleType:
    """``ember.<type>.amp``: ``autocast``, ``GradScaler``, ``custom_fwd``/``custom_bwd`` bound to one device
    type (PyTorch's
    ``torch.cpu.amp`` / ``torch.cuda.amp``, deprecated there in favour of ``ember.amp``: they warn
    likewise)."""
    m = _device_modules.get(device_type)
    if m is not None:
        return m
    from .grad_scaler import GradScaler

    def deprecated(what):
        warnings.warn(f"`ember.{device_type}.amp.{what}(args...)` is deprecated. Please use "
                      f"`ember.amp.{what}({device_type!r}, args...)` instead.", FutureWarning, stacklevel=3)

    class DeviceAutocast(autocast):
        __doc__ = f"``ember.autocast({device_type!r}, ...)`` with PyTorch's per-device signature."

        def __init__(self, enabled: bool = True, dtype=None, cache_enabled: bool = True):
            deprecated("autocast")
            super().__init__(device_type, dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)

    class DeviceGradScaler(GradScaler):
        __doc__ = f"``ember.amp.GradScaler({device_type!r}, ...)``."

        def __init__(self, init_scale: float = 2.0 ** 16, growth_factor: float = 2.0, backoff_factor: float = 0.5,
                     growth_interval: int = 2000, enabled: bool = True):
            deprecated("GradScaler")
            super().__init__(device_type, init_scale, growth_factor, backoff_factor, growth_interval, enabled)

    for cls, name in ((DeviceAutocast, "autocast"), (DeviceGradScaler, "GradScaler")):
        cls.__name__ = cls.__qualname__ = name
        cls.__module__ = f"ember.{device_type}.amp"
    from .custom import custom_bwd, custom_fwd

    def device_custom_fwd(fwd=None, *, cast_inputs=None):
        deprecated("custom_fwd")
        return custom_fwd(fwd, device_type=device_type, cast_inputs=cast_inputs)

    def device_custom_bwd(bwd):
        deprecated("custom_bwd")
        return custom_bwd(bwd, device_type=device_type)

    m = types.ModuleType(f"ember.{device_type}.amp", f"Mixed precision on device type {device_type!r}.")
    m.autocast, m.GradScaler = DeviceAutocast, DeviceGradScaler
    m.custom_fwd, m.custom_bwd = device_custom_fwd, device_custom_bwd
    _device_modules[device_type] = m
    return m
