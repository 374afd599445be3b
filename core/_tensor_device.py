"""Tensor device helpers: ``x.cuda()``, ``x.xpu()``, ``x.is_cuda``/``is_xpu``/``is_mps``, ``x.pin_memory()``,
``x.is_pinned()``.

Pinned (page-locked) host memory comes from the accelerator's backend when its runtime offers
``host_alloc_pinned`` (the cuda plugin: cuMemHostAlloc); copies from it to the device can then run
without blocking the host. As in PyTorch, pinning without an available accelerator raises.
"""

from __future__ import annotations

import numpy as np

from ._tensor import Tensor
from .device import Device, registered_backends, resolve
from .errors import ArgumentTypeError, BackendUnavailableError, InvalidArgumentError, UnsupportedError

#: The device types with a ``Tensor.<type>()`` method (PyTorch has no ``Tensor.mps()``).
MOVE_METHODS = ("cuda", "xpu")
#: The device types with a ``Tensor.is_<type>`` property.
IS_PROPERTIES = ("cuda", "xpu", "mps", "xla")


def _mover(device_type: str):
    def move(self, device=None, non_blocking=False, memory_format=None):
        if device is None:
            device = device_type
        elif isinstance(device, int) and not isinstance(device, bool):
            device = Device(device_type, device)
        elif not isinstance(device, (str, Device)):
            raise ArgumentTypeError(f"{device_type}(): expected a device index, a device or a string, got "
                                    f"{type(device).__name__}: {device!r}")
        dev = resolve(device)[1]
        if dev.type != device_type:
            raise InvalidArgumentError(f"{device_type}(): expected a {device_type} device, got {str(dev)!r}; "
                                       f"use .to({str(dev)!r}) to move elsewhere")
        return self.to(dev, non_blocking=non_blocking)
    move.__name__ = device_type
    move.__doc__ = (f"A copy on a {device_type} device (the current one by default; this tensor if already "
                    f"there); raises as ``.to('{device_type}')`` when no {device_type} backend serves.")
    return move


def _is_type(device_type: str):
    return property(lambda self: self._device.type == device_type,
                    doc=f"True when the tensor is on a {device_type} device.")


def _pinning_runtimes():
    for b in registered_backends():
        if hasattr(b.runtime, "is_pinned_host"):
            yield b.runtime


def is_pinned(self, device=None) -> bool:
    """True when this cpu tensor's memory is page-locked memory an accelerator backend handed out."""
    if self._device.type != "cpu" or self.numel() == 0:
        return False
    ptr, nbytes = self.data_ptr(), self.nbytes
    return any(rt.is_pinned_host(ptr, nbytes) for rt in _pinning_runtimes())


def pin_memory(self, device=None) -> Tensor:
    """A copy of this cpu tensor in page-locked host memory of the current accelerator (self if already).

    ``device`` is deprecated in PyTorch and ignored here. Raises where no accelerator is available, or
    where the accelerator's backend has no pinned host memory."""
    from . import accelerator
    if self._device.type != "cpu":
        raise InvalidArgumentError(f"pin_memory(): cannot pin a tensor on {self._device}; only dense cpu tensors "
                                   f"can be pinned (pin before moving it)")
    if is_pinned(self):
        return self
    acc = accelerator.current_accelerator(check_available=True)
    if acc is None:
        raise BackendUnavailableError("pin_memory(): no accelerator is available here, so there is no pinned "
                                      "host memory; drop pin_memory=True (or .pin_memory()) on a cpu-only machine")
    backend = resolve(acc)[0]
    alloc = getattr(backend.runtime, "host_alloc_pinned", None)
    if alloc is None:
        raise UnsupportedError(f"pin_memory(): the {acc.type} backend ({backend.distribution}) offers no pinned "
                               f"host memory; copy to {acc.type} without pinning")
    host = self._backend.runtime.as_numpy(self)
    buf = alloc(host.nbytes)
    out = buf[:host.nbytes].view(host.dtype).reshape(host.shape)
    np.copyto(out, host)
    return resolve(self._device)[0].runtime.share_numpy(out, self._device)


def install() -> None:
    """Bind the helpers to Tensor (called once by ``_tensor_methods.install``)."""
    for t in MOVE_METHODS:
        setattr(Tensor, t, _mover(t))
    for t in IS_PROPERTIES:
        setattr(Tensor, f"is_{t}", _is_type(t))
    Tensor.pin_memory = pin_memory
    Tensor.is_pinned = is_pinned
