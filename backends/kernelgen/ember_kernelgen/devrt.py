"""The runtime of a GPU whose memory is addressed by pointers (rocm; the model cuda's runtime follows).

A backend gives a small *device driver* (below) and gets the whole plugin runtime contract
(``ember.plugins.hookspecs``): storage over core's caching allocator, host <-> device copies on the
current stream, streams with priorities, events, synchronisation and device facts. The driver's
methods are the few the HIP runtime API and the CUDA driver API both have, named neutrally; each
raises its backend's error on failure, and they act on the device made current by ``set_device``:

    count                                   devices present
    set_device(index)                       make index current on this thread (cheap when it is)
    device(index)                           facts: .name, .arch, .total_memory, .compute_units, .warp
    mem_alloc(nbytes) -> ptr | None         None when the device is out of memory
    mem_free(ptr);  mem_get_info() -> (free, total)
    memcpy_htod(dst, host, n, stream);  memcpy_dtoh(host, src, n, stream);  memcpy_dtod(dst, src, n, stream)
    device_synchronize()
    stream_create(priority) -> handle;  stream_destroy(h);  stream_synchronize(h);  stream_query(h) -> bool
    event_create(timing) -> handle;  event_destroy(e);  event_record(e, stream);  event_query(e) -> bool
    event_synchronize(e);  event_elapsed_ms(start, end) -> float;  stream_wait_event(stream, e)

A stream handle of 0 is the device's default (null) stream, as in CUDA and HIP. ``DriverSlot`` loads
the driver lazily and remembers why it could not (no library, no device), so ``ember info`` and
``is_available()`` answer without raising.
"""

from __future__ import annotations

import os
import threading

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ember import Tensor
from ember import dtypes as D
from ember._tensor import _CONTIG as _cstrides
from ember._tensor import contiguous_strides as _contig_strides
from ember.device import Device
from ember.errors import BackendUnavailableError
from ember.runtime.allocator import allocate as _allocate
from ember.runtime.streams import _current_stream_of

__all__ = ["DeviceStorage", "DriverSlot", "PointerRuntime", "span", "is_contiguous", "current_stream_handle"]

_new = object.__new__


def current_stream_handle(device) -> int:
    """The handle of the stream work on ``device`` goes to now (0: the default stream)."""
    return _current_stream_of(device).handle or 0


class DeviceStorage:
    """Device memory behind one or more tensors: ``ptr`` is element 0's address."""

    __slots__ = ("ptr", "nbytes", "itemsize", "device", "allocation", "__weakref__")

    def __init__(self, ptr, nbytes, itemsize, device, allocation):
        self.ptr = ptr
        self.nbytes = nbytes
        self.itemsize = itemsize
        self.device = device
        self.allocation = allocation   # keeps the memory alive (core's Allocation, a DLPack owner, ...)

    def __repr__(self):
        return f"<{type(self).__name__} {self.nbytes} bytes at {self.ptr:#x} on {self.device}>"


def span(t: Tensor) -> int:
    """Elements of storage from the tensor's first element to its last one, inclusive."""
    n = 1
    for size, stride in zip(t._shape, t._strides):
        if size == 0:
            return 0
        n += (size - 1) * stride
    return n


def is_contiguous(t: Tensor) -> bool:
    expected = 1
    for n, s in zip(reversed(t._shape), reversed(t._strides)):
        if n != 1 and s != expected:
            return False
        expected *= n
    return True


class DriverSlot:
    """One lazily loaded driver per process: ``probe()`` never raises, ``get()`` raises with the reason.

    ``factory()`` builds the driver or raises BackendUnavailableError; ``disable_env`` set to anything
    but "" or "0" disables the backend; ``what`` names it in messages ("ROCm")."""

    def __init__(self, factory, disable_env: str, what: str, no_device: str):
        self.factory, self.disable_env, self.what, self.no_device = factory, disable_env, what, no_device
        self._lock = threading.Lock()
        self.reset()

    def reset(self, driver=None, reason=None, probed=False) -> None:
        """Forget (or set, for stand-in drivers in tests) what the probe found."""
        self.driver, self.reason, self.probed = driver, reason, probed

    def probe(self) -> tuple:
        """(driver or None, reason or None), loading the driver once."""
        if self.probed:
            return self.driver, self.reason
        with self._lock:
            if not self.probed:
                if os.environ.get(self.disable_env, "").strip() not in ("", "0"):
                    self.reason = f"disabled by {self.disable_env}"
                else:
                    try:
                        drv = self.factory()
                        if drv.count == 0:
                            self.reason = self.no_device
                        else:
                            self.driver = drv
                    except BackendUnavailableError as e:
                        self.reason = str(e)
                    except Exception as e:  # noqa: BLE001  (any failure to start is a reason)
                        self.reason = f"the {self.what} runtime could not be started: {type(e).__name__}: {e}"
                self.probed = True
        return self.driver, self.reason

    def get(self):
        drv = self.driver
        if drv is not None:
            return drv
        drv, reason = self.probe()
        if drv is None:
            raise BackendUnavailableError(f"{self.what} is unavailable: {reason}")
        return drv


class PointerRuntime:
    """The plugin contract's runtime over a device driver (see the module docstring).

    A backend subclasses it with ``storage_class`` and hands it its DriverSlot; ``backend`` and
    ``key`` are set when the plugin registers."""

    storage_class = DeviceStorage

    def __init__(self, slot: DriverSlot):
        self.slot = slot
        self.backend = None
        self.key = 0

    def drv(self, index: int):
        """The driver with device ``index`` current."""
        d = self.slot.get()
        d.set_device(index)
        return d

    # -- availability -----------------------------------------------------------------
    def device_count(self) -> int:
        drv, _ = self.slot.probe()
        return drv.count if drv is not None else 0

    def is_available(self) -> bool:
        return self.device_count() > 0

    def unavailable_reason(self):
        return self.slot.probe()[1]

    # -- memory -----------------------------------------------------------------------
    def raw_alloc(self, nbytes: int, device_index: int):
        return self.drv(device_index).mem_alloc(max(int(nbytes), 1))

    def raw_free(self, handle, device_index: int) -> None:
        self.drv(device_index).mem_free(handle)

    def mem_get_info(self, device_index: int) -> tuple:
        return tuple(self.drv(device_index).mem_get_info())

    def empty(self, shape, dtype, device) -> Tensor:
        return self.empty_and_stream(shape, dtype, device)[0]

    def empty_and_stream(self, shape, dtype, device):
        """(new contiguous tensor, handle of the current stream it was allocated on)."""
        s = _current_stream_of(device)
        n = 1
        for d in shape:
            n *= d
        isz = dtype.itemsize
        nbytes = n * isz
        if nbytes:
            owner = _allocate(device, nbytes, s)
            ptr = owner.handle + owner.offset
        else:
            ptr, owner = 0, None
        st = _new(self.storage_class)
        st.ptr, st.nbytes, st.itemsize, st.device, st.allocation = ptr, nbytes, isz, device, owner
        t = _new(Tensor)
        t._storage = st
        t._offset = 0
        t._shape = shape
        t._strides = _cstrides.get(shape) or _contig_strides(shape)
        t._dtype = dtype
        t._device = device
        t._backend = self.backend
        t._keys = self.key
        t._h = None
        t._base = None
        return t, s.handle or 0

    def wrap_pointer(self, ptr: int, nbytes: int, shape, strides, dtype, device, owner, offset=0) -> Tensor:
        """A tensor over memory owned elsewhere (DLPack); ``owner`` is kept alive by the storage.

        The storage's address is kept 256-byte aligned, as allocations are, and the rest moves into the
        element offset: generated kernels choose vector loads from the offset, assuming an aligned base."""
        isz = dtype.itemsize
        delta = ptr & 255
        if delta % isz == 0:
            ptr, nbytes, offset = ptr - delta, nbytes + delta, offset + delta // isz
        st = self.storage_class(ptr, nbytes, isz, device, owner)
        return Tensor._make(st, offset, tuple(shape), tuple(strides), dtype, device, self.backend)

    def from_dlpack_pointer(self, ptr, nbytes, shape, strides, dtype, device, owner) -> Tensor:
        return self.wrap_pointer(ptr, nbytes, shape, strides, dtype, device, owner)

    def storage_numel(self, storage) -> int:
        return storage.nbytes // storage.itemsize

    def data_ptr(self, tensor) -> int:
        return tensor._storage.ptr + tensor._offset * tensor._dtype.itemsize

    # -- host <-> device ---------------------------------------------------------------
    def from_numpy(self, array, device) -> Tensor:
        array = np.ascontiguousarray(array)
        t = self.empty(tuple(array.shape), D.from_numpy_dtype(array.dtype), device)
        self.copy_from_host(t, array)
        return t

    def to_numpy(self, tensor) -> np.ndarray:
        return self.read(tensor)

    def read(self, tensor) -> np.ndarray:
        """A numpy copy of ``tensor`` after the work queued on its device's current stream."""
        dt, shape = tensor._dtype, tensor._shape
        n = 1
        for s in shape:
            n *= s
        if n == 0:
            return np.empty(shape, dt.np)
        dev = tensor._device
        drv = self.drv(dev.index or 0)
        stream = current_stream_handle(dev)
        isz = dt.itemsize
        src = self.data_ptr(tensor)
        if is_contiguous(tensor):
            out = np.empty(shape, dt.np)
            drv.memcpy_dtoh(out.ctypes.data, src, n * isz, stream)
            drv.stream_synchronize(stream)
            return out
        m = span(tensor)
        if m > 4 * n and m * isz > (16 << 20):
            import ember   # a sparse view of a big storage: gather it on the device first (rare)
            return self.read(ember.contiguous(tensor))
        flat = np.empty(m, dt.np)
        drv.memcpy_dtoh(flat.ctypes.data, src, m * isz, stream)
        drv.stream_synchronize(stream)
        return np.array(as_strided(flat, shape=shape, strides=tuple(s * isz for s in tensor._strides)))

    def copy_from_host(self, dst: Tensor, array: np.ndarray, non_blocking: bool = False) -> None:
        """Copy the C-contiguous ``array`` into the contiguous ``dst`` on its current stream.

        The host waits for the copy even when ``non_blocking``: from pageable memory the runtime may
        read ``array`` after the call returns, and this runtime has no pinned staging pool."""
        if array.nbytes:
            dev = dst._device
            drv = self.drv(dev.index or 0)
            stream = current_stream_handle(dev)
            drv.memcpy_htod(self.data_ptr(dst), array.ctypes.data, array.nbytes, stream)
            drv.stream_synchronize(stream)

    def copy_to_host(self, src: Tensor, out: np.ndarray, non_blocking: bool = False) -> None:
        if out.nbytes:
            dev = src._device
            drv = self.drv(dev.index or 0)
            stream = current_stream_handle(dev)
            drv.memcpy_dtoh(out.ctypes.data, self.data_ptr(src), out.nbytes, stream)
            if not non_blocking:
                drv.stream_synchronize(stream)

    def synchronize(self, device=None) -> None:
        self.drv(0 if device is None else (Device(device).index or 0)).device_synchronize()

    # -- streams and events ---------------------------------------------------------------
    def stream_default(self, device_index: int):
        return 0

    def stream_create(self, device_index: int, priority: int = 0):
        """A non-blocking stream; ``priority`` (lower is more urgent) is clamped to the device's range."""
        return self.drv(device_index).stream_create(int(priority))

    def stream_destroy(self, handle) -> None:
        if handle:
            self.slot.get().stream_destroy(handle)

    def stream_synchronize(self, handle) -> None:
        self.slot.get().stream_synchronize(handle or 0)

    def stream_query(self, handle) -> bool:
        return self.slot.get().stream_query(handle or 0)

    def event_create(self, device_index: int, enable_timing: bool = False):
        return self.drv(device_index).event_create(bool(enable_timing))

    def event_destroy(self, handle) -> None:
        self.slot.get().event_destroy(handle)

    def event_record(self, event, stream) -> None:
        self.slot.get().event_record(event, stream or 0)

    def event_query(self, event) -> bool:
        return self.slot.get().event_query(event)

    def event_synchronize(self, event) -> None:
        self.slot.get().event_synchronize(event)

    def event_elapsed_ms(self, start, end) -> float:
        return float(self.slot.get().event_elapsed_ms(start, end))

    def stream_wait_event(self, stream, event) -> None:
        self.slot.get().stream_wait_event(stream or 0, event)

    # -- facts ----------------------------------------------------------------------------
    def device_name(self, index: int = 0) -> str:
        return self.slot.get().device(index).name

    def arch(self, index: int = 0) -> str:
        return self.slot.get().device(index).arch
