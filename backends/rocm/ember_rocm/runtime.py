"""The rocm runtime: ember_kernelgen.devrt's pointer runtime over the HIP driver.

A tensor's storage is a :class:`RocmStorage`: the device address of element 0
(``ptr``), its size and the owner of the memory (core's ``Allocation``: device
memory comes from core's caching allocator over ``hipMalloc``). Streams: the
device's default stream is HIP's null stream (handle 0), ``ember.Stream("rocm",
priority=...)`` makes a non-blocking stream with that priority.
"""

from __future__ import annotations

from ember_kernelgen.devrt import DeviceStorage, PointerRuntime, current_stream_handle  # noqa: F401

from . import driver as _drv


class RocmStorage(DeviceStorage):
    """Device memory behind one or more rocm tensors."""

    __slots__ = ()


class RocmRuntime(PointerRuntime):
    """The plugin contract's runtime for device type "rocm" (see ember.plugins.hookspecs)."""

    storage_class = RocmStorage

    def dlpack_device(self, tensor) -> tuple:
        return (10, tensor._device.index or 0)   # kDLROCM

    def device_facts(self, index: int = 0):
        """The device's DeviceInfo (gfx target, CUs, wavefront size, memory)."""
        return self.slot.get().device(index)


runtime = RocmRuntime(_drv.slot)
