"""The cuda runtime: device memory from core's caching allocator, copies, streams and events.

A tensor's storage is a :class:`CudaStorage`: the device address of element 0
of the storage (``ptr``), its size, and the object that owns the memory (core's
``Allocation``, a DLPack producer, or a fallback block). Kernels address a
tensor as ``ptr + offset * itemsize``.

Streams: the device's default stream is CUDA's legacy default stream (handle
0), as in PyTorch; ``ember.Stream("cuda")`` makes a non-blocking stream. Work
is queued on ``ember.current_stream(device).handle``.
"""

from __future__ import annotations

import threading

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ember import Tensor
from ember import dtypes as D
from ember.device import Device
from ember.errors import BackendUnavailableError, OutOfMemoryError

from ember_kernelgen.devrt import DeviceStorage, is_contiguous, span

from . import driver as _drv

backend = None   # set when the plugin registers
_KEY = 0         # its dispatch key bit, likewise
_new = object.__new__

# -- core services, when this ember-core has them -------------------------------------
try:  # the caching allocator (ember.runtime.allocator.allocate)
    from ember.runtime.allocator import allocate as _core_allocate
except Exception:  # noqa: BLE001  (an older core: this backend allocates by itself)
    _core_allocate = None
try:  # the current stream of a canonical device (hot path of allocation and launch)
    from ember.runtime.streams import _current_stream_of
except Exception:  # noqa: BLE001
    try:
        from ember.runtime.streams import current_stream as _current_stream_of
    except Exception:  # noqa: BLE001
        _current_stream_of = None


def current_stream_handle(device) -> int:
    """The handle of the stream work on ``device`` goes to now (0: the legacy default stream)."""
    if _current_stream_of is None:
        return 0
    h = _current_stream_of(device).handle
    return h or 0


class CudaStorage(DeviceStorage):
    """Device memory behind one or more tensors: ``ptr`` is element 0's address (ember_kernelgen.devrt)."""

    __slots__ = ()


class _OwnBlock:
    """Memory from cuMemAlloc freed when collected (used when core has no caching allocator)."""

    __slots__ = ("handle", "offset", "nbytes", "device")

    def __init__(self, handle, nbytes, device):
        self.handle, self.offset, self.nbytes, self.device = handle, 0, nbytes, device

    def __del__(self):
        try:
            runtime.raw_free(self.handle, self.device.index or 0)
        except Exception:  # noqa: BLE001  (a finalizer must not raise; interpreter shutdown)
            pass


# -- pinned host memory ----------------------------------------------------------------

class PinnedPool:
    """Page-locked host buffers for non_blocking copies, reused once the copy that used them is done.

    ``get(nbytes)`` returns a numpy uint8 array over pinned memory; ``release(arr, stream)`` hands
    it back after the copy queued on ``stream`` (an event marks when it may be reused).
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._free: dict = {}        # size class -> [(ptr, array)]
        self._busy: list = []        # (event handle, size class, ptr, array)
        self._ranges: dict = {}      # ptr -> nbytes of every pinned block (is_pinned)

    @staticmethod
    def _class(nbytes: int) -> int:
        return max(4096, 1 << (max(nbytes, 1) - 1).bit_length())

    def get(self, nbytes: int):
        size = self._class(nbytes)
        with self._lock:
            self._reap()
            lst = self._free.get(size)
            if lst:
                return lst.pop()[1]
        drv = _drv.get()
        ptr = int(drv._call("cuMemHostAlloc", size, int(drv.cu.CU_MEMHOSTALLOC_PORTABLE)))
        import ctypes
        arr = np.ctypeslib.as_array((ctypes.c_ubyte * size).from_address(ptr))
        with self._lock:
            self._ranges[ptr] = size
        return arr

    def release(self, arr, stream: int, device_index: int) -> None:
        drv = _drv.get()
        size = arr.nbytes
        ptr = arr.ctypes.data
        drv.set_device(device_index)
        ev = int(drv._call("cuEventCreate", int(drv.cu.CUevent_flags.CU_EVENT_DISABLE_TIMING)))
        drv.check(drv.event_record(ev, stream), "cuEventRecord")
        with self._lock:
            self._busy.append((ev, size, ptr, arr))

    def _reap(self) -> None:
        if not self._busy:
            return
        drv = _drv.get()
        keep = []
        for item in self._busy:
            err = drv.event_query(item[0])
            if err == 0:
                drv.cu.cuEventDestroy(drv.cu.CUevent(item[0]))
                self._free.setdefault(item[1], []).append((item[2], item[3]))
            else:
                keep.append(item)
        self._busy = keep

    def is_pinned(self, ptr: int, nbytes: int) -> bool:
        for p, n in list(self._ranges.items()):
            if p <= ptr and ptr + nbytes <= p + n:
                return True
        return False

    def track(self, ptr: int, nbytes: int) -> None:
        with self._lock:
            self._ranges[ptr] = nbytes

    def untrack(self, ptr: int) -> None:
        with self._lock:
            self._ranges.pop(ptr, None)


pinned = PinnedPool()


def _free_host(ptr: int) -> None:
    pinned.untrack(ptr)
    try:
        _drv.get()._call("cuMemFreeHost", ptr)
    except Exception:  # noqa: BLE001  (at interpreter exit the driver may already be gone)
        pass


def host_alloc_pinned(nbytes: int) -> np.ndarray:
    """A uint8 array of ``nbytes`` over its own page-locked block (``Tensor.pin_memory``), given back with
    cuMemFreeHost when the array and every view of it are gone."""
    import ctypes
    import weakref
    size = max(int(nbytes), 1)
    drv = _drv.get()
    ptr = int(drv._call("cuMemHostAlloc", size, int(drv.cu.CU_MEMHOSTALLOC_PORTABLE)))
    block = (ctypes.c_ubyte * size).from_address(ptr)
    pinned.track(ptr, size)
    weakref.finalize(block, _free_host, ptr)
    return np.ctypeslib.as_array(block)[:nbytes]


def pin_memory(array: np.ndarray) -> np.ndarray:
    """A copy of ``array`` in page-locked host memory (for non_blocking copies to the device)."""
    buf = pinned.get(array.nbytes)
    out = buf[: array.nbytes].view(array.dtype).reshape(array.shape)
    np.copyto(out, array)
    return out


# storage layout helpers shared with rocm (ember_kernelgen.devrt)
_span = span
_contiguous = is_contiguous


from ember._tensor import _CONTIG as _cstrides  # noqa: E402  (contiguous strides by shape, cached in core)
from ember._tensor import contiguous_strides as _contig_strides  # noqa: E402


class CudaRuntime:
    """The plugin contract's runtime for device type "cuda" (see ember.plugins.hookspecs)."""

    def __init__(self):
        self._devices: dict = {}

    # -- availability -----------------------------------------------------------------
    def device_count(self) -> int:
        drv, _ = _drv.probe()
        return drv.count if drv is not None else 0

    def is_available(self) -> bool:
        return self.device_count() > 0

    def unavailable_reason(self):
        drv, reason = _drv.probe()
        return reason

    # -- pinned host memory (Tensor.pin_memory / is_pinned) ------------------------------
    def host_alloc_pinned(self, nbytes: int) -> np.ndarray:
        return host_alloc_pinned(nbytes)

    def is_pinned_host(self, ptr: int, nbytes: int) -> bool:
        return pinned.is_pinned(ptr, nbytes)

    def supports_native_bf16(self, device_index: int) -> bool:
        """bfloat16 tensor-core math: compute capability 8.0 (Ampere) and later."""
        return _drv.get().device(device_index).cc >= (8, 0)

    # -- memory -----------------------------------------------------------------------
    def raw_alloc(self, nbytes: int, device_index: int):
        drv = _drv.get()
        drv.set_device(device_index)
        import ctypes
        p = ctypes.c_uint64(0)
        err = drv.mem_alloc(ctypes.byref(p), max(int(nbytes), 1))
        if err == _drv.CUDA_ERROR_OUT_OF_MEMORY:
            return None
        drv.check(err, "cuMemAlloc")
        return p.value

    def raw_free(self, handle, device_index: int) -> None:
        drv = _drv.get()
        drv.set_device(device_index)
        drv.check(drv.mem_free(handle), "cuMemFree")

    def mem_get_info(self, device_index: int) -> tuple:
        drv = _drv.get()
        drv.set_device(device_index)
        free, total = drv._call("cuMemGetInfo")
        return int(free), int(total)

    def _alloc(self, nbytes: int, device: Device):
        """(ptr, owner) of fresh device memory on ``device`` (owner keeps it alive)."""
        if _core_allocate is not None:
            a = _core_allocate(device, nbytes)
            return a.handle + a.offset, a
        h = self.raw_alloc(nbytes, device.index or 0)
        if h is None:
            raise OutOfMemoryError(f"cuda out of memory allocating {nbytes} bytes on {device}; free tensors you no "
                                   f"longer need or use smaller sizes")
        return h, _OwnBlock(h, nbytes, device)

    def empty(self, shape, dtype, device) -> Tensor:
        n = 1
        for s in shape:
            n *= s
        isz = dtype.itemsize
        nbytes = n * isz
        if nbytes:
            ptr, owner = self._alloc(nbytes, device)
        else:
            ptr, owner = 0, None
        t = _new(Tensor)
        t._storage = CudaStorage(ptr, nbytes, isz, device, owner)
        t._offset = 0
        t._shape = shape
        t._strides = _cstrides.get(shape) or _contig_strides(shape)
        t._dtype = dtype
        t._device = device
        t._backend = backend
        t._keys = _KEY
        t._h = None
        t._base = None
        return t

    def empty_and_stream(self, shape, dtype, device):
        """(new contiguous tensor, handle of the current stream it was allocated on): the fast paths'
        empty(), which looks the current stream up once for the allocation and the launch."""
        s = _current_stream_of(device) if _current_stream_of is not None else None
        n = 1
        for d in shape:
            n *= d
        isz = dtype.itemsize
        nbytes = n * isz
        if nbytes == 0:
            ptr, owner = 0, None
        elif _core_allocate is not None:
            owner = _core_allocate(device, nbytes, s)
            ptr = owner.handle + owner.offset
        else:
            ptr, owner = self._alloc(nbytes, device)
        st = _new(CudaStorage)
        st.ptr = ptr
        st.nbytes = nbytes
        st.itemsize = isz
        st.device = device
        st.allocation = owner
        t = _new(Tensor)
        t._storage = st
        t._offset = 0
        t._shape = shape
        t._strides = _cstrides.get(shape) or _contig_strides(shape)
        t._dtype = dtype
        t._device = device
        t._backend = backend
        t._keys = _KEY
        t._h = None
        t._base = None
        return t, ((s.handle or 0) if s is not None else 0)

    def wrap_pointer(self, ptr: int, nbytes: int, shape, strides, dtype, device, owner, offset=0) -> Tensor:
        """A tensor over memory owned elsewhere (DLPack): ``owner`` is kept alive by the storage."""
        isz = dtype.itemsize
        # Keep the storage's address 256-byte aligned (as allocations are) and move the rest into the
        # element offset: generated kernels pick vector loads from the offset, assuming an aligned base.
        delta = ptr & 255
        if delta % isz == 0:
            ptr -= delta
            nbytes += delta
            offset += delta // isz
        st = CudaStorage(ptr, nbytes, isz, device, owner)
        return Tensor._make(st, offset, tuple(shape), tuple(strides), dtype, device, backend)

    def storage_numel(self, storage) -> int:
        return storage.nbytes // storage.itemsize

    def data_ptr(self, tensor) -> int:
        return tensor._storage.ptr + tensor._offset * tensor._dtype.itemsize

    # -- host <-> device ---------------------------------------------------------------
    def from_numpy(self, array, device) -> Tensor:
        if not array.flags.c_contiguous:
            array = np.ascontiguousarray(array)
        dt = D.from_numpy_dtype(array.dtype)
        t = self.empty(tuple(array.shape), dt, device)
        if array.nbytes:
            drv = _drv.get()
            drv.set_device(device.index or 0)
            # Pageable source: the call returns once the bytes are staged, so `array` may go.
            drv.check(drv.memcpy_htod_async(t._storage.ptr, array.ctypes.data, array.nbytes,
                                            current_stream_handle(device)), "cuMemcpyHtoDAsync")
        return t

    def to_numpy(self, tensor) -> np.ndarray:
        return self.read(tensor)

    def read(self, tensor) -> np.ndarray:
        """A numpy copy of ``tensor`` after the work queued on the current stream (what to_numpy does; kernels
        use this one for their small readbacks: index bounds, data-dependent sizes)."""
        dt = tensor._dtype
        shape = tensor._shape
        n = 1
        for s in shape:
            n *= s
        if n == 0:
            return np.empty(shape, dt.np)
        drv = _drv.get()
        dev = tensor._device
        drv.set_device(dev.index or 0)
        stream = current_stream_handle(dev)
        isz = dt.itemsize
        src = tensor._storage.ptr + tensor._offset * isz
        if _contiguous(tensor):
            out = np.empty(shape, dt.np)
            drv.check(drv.memcpy_dtoh_async(out.ctypes.data, src, n * isz, stream), "cuMemcpyDtoHAsync")
            drv.check(drv.stream_synchronize(stream), "cuStreamSynchronize")
            return out
        span = _span(tensor)
        if span > 4 * n and span * isz > (16 << 20):
            # A sparse view of a big storage: gather it on the device first.
            return self.read(_device_contiguous(tensor))
        flat = np.empty(span, dt.np)
        drv.check(drv.memcpy_dtoh_async(flat.ctypes.data, src, span * isz, stream), "cuMemcpyDtoHAsync")
        drv.check(drv.stream_synchronize(stream), "cuStreamSynchronize")
        view = as_strided(flat, shape=shape, strides=tuple(s * isz for s in tensor._strides))
        return np.array(view, copy=True)

    def copy_from_host(self, dst: Tensor, array: np.ndarray, non_blocking: bool = False) -> None:
        """Queue a copy of the C-contiguous ``array`` into the contiguous ``dst`` on its current stream.

        Pageable memory is staged by the driver before the call returns; with ``non_blocking`` the
        bytes go through a pinned buffer instead, so the host does not wait for the transfer."""
        nbytes = array.nbytes
        if nbytes == 0:
            return
        drv = _drv.get()
        dev = dst._device
        idx = dev.index or 0
        drv.set_device(idx)
        stream = current_stream_handle(dev)
        hp = array.ctypes.data
        if non_blocking and not pinned.is_pinned(hp, nbytes):
            staged = pinned.get(nbytes)
            np.copyto(staged[:nbytes], array.reshape(-1).view(np.uint8))
            drv.check(drv.memcpy_htod_async(self.data_ptr(dst), staged.ctypes.data, nbytes, stream),
                      "cuMemcpyHtoDAsync")
            pinned.release(staged, stream, idx)
            return
        drv.check(drv.memcpy_htod_async(self.data_ptr(dst), hp, nbytes, stream), "cuMemcpyHtoDAsync")
        if not non_blocking:
            drv.check(drv.stream_synchronize(stream), "cuStreamSynchronize")

    def copy_to_host(self, src: Tensor, out: np.ndarray, non_blocking: bool = False) -> None:
        """Queue a copy of the contiguous ``src`` into the C-contiguous ``out`` on the current stream; wait
        for it unless ``non_blocking`` (then ``out`` holds the values once that stream is synchronized)."""
        nbytes = out.nbytes
        if nbytes == 0:
            return
        drv = _drv.get()
        dev = src._device
        drv.set_device(dev.index or 0)
        stream = current_stream_handle(dev)
        drv.check(drv.memcpy_dtoh_async(out.ctypes.data, self.data_ptr(src), nbytes, stream), "cuMemcpyDtoHAsync")
        if not non_blocking:
            drv.check(drv.stream_synchronize(stream), "cuStreamSynchronize")

    def copy_peer(self, dst: Tensor, src: Tensor, non_blocking: bool = False):
        """Copy between two cuda devices without the host (contiguous, one dtype), or None to decline."""
        if dst._dtype is not src._dtype or not _contiguous(dst) or not _contiguous(src):
            return None
        nbytes = dst.numel() * dst._dtype.itemsize
        if nbytes == 0:
            return dst
        drv = _drv.get()
        di, si = dst._device.index or 0, src._device.index or 0
        # Order after the source's producers: its device's current stream finishes first.
        drv.set_device(si)
        drv.check(drv.stream_synchronize(current_stream_handle(src._device)), "cuStreamSynchronize")
        drv.set_device(di)
        drv.enable_peer_access(di, si)   # cuMemcpyPeer works without it, through the host, when it cannot
        stream = current_stream_handle(dst._device)
        drv.check(drv.memcpy_peer_async(self.data_ptr(dst), drv.device(di).ctx, self.data_ptr(src),
                                        drv.device(si).ctx, nbytes, stream), "cuMemcpyPeerAsync")
        if not non_blocking:
            drv.check(drv.stream_synchronize(stream), "cuStreamSynchronize")
        return dst

    def synchronize(self, device=None) -> None:
        drv = _drv.get()
        idx = 0 if device is None else (Device(device).index or 0)
        drv.set_device(idx)
        drv.check(drv.ctx_synchronize(), "cuCtxSynchronize")

    # -- streams and events ---------------------------------------------------------------
    def stream_default(self, device_index: int):
        return 0

    def stream_create(self, device_index: int, priority: int = 0):
        """A non-blocking stream; ``priority`` (lower is more urgent) is clamped by the driver to the
        device's range, as torch.cuda.Stream's is."""
        drv = _drv.get()
        drv.set_device(device_index)
        flags = int(drv.cu.CUstream_flags.CU_STREAM_NON_BLOCKING)
        if priority:
            return int(drv._call("cuStreamCreateWithPriority", flags, int(priority)))
        return int(drv._call("cuStreamCreate", flags))

    def stream_destroy(self, handle) -> None:
        if handle:
            drv = _drv.get()
            drv.cu.cuStreamDestroy(drv.cu.CUstream(handle))

    def stream_synchronize(self, handle) -> None:
        drv = _drv.get()
        drv.check(drv.stream_synchronize(handle or 0), "cuStreamSynchronize")

    def stream_query(self, handle) -> bool:
        drv = _drv.get()
        err = drv.stream_query(handle or 0)
        if err == _drv.CUDA_ERROR_NOT_READY:
            return False
        drv.check(err, "cuStreamQuery")
        return True

    def event_create(self, device_index: int, enable_timing: bool = False):
        drv = _drv.get()
        drv.set_device(device_index)
        F = drv.cu.CUevent_flags
        flags = F.CU_EVENT_DEFAULT if enable_timing else F.CU_EVENT_DISABLE_TIMING
        return int(drv._call("cuEventCreate", int(flags)))

    def event_destroy(self, handle) -> None:
        drv = _drv.get()
        drv.cu.cuEventDestroy(drv.cu.CUevent(handle))

    def event_record(self, event, stream) -> None:
        drv = _drv.get()
        drv.check(drv.event_record(event, stream or 0), "cuEventRecord")

    def event_query(self, event) -> bool:
        drv = _drv.get()
        err = drv.event_query(event)
        if err == _drv.CUDA_ERROR_NOT_READY:
            return False
        drv.check(err, "cuEventQuery")
        return True

    def event_synchronize(self, event) -> None:
        drv = _drv.get()
        drv.check(drv.event_synchronize(event), "cuEventSynchronize")

    def event_elapsed_ms(self, start, end) -> float:
        drv = _drv.get()
        return float(drv._call("cuEventElapsedTime", drv.cu.CUevent(start), drv.cu.CUevent(end)))

    def stream_wait_event(self, stream, event) -> None:
        drv = _drv.get()
        drv.check(drv.stream_wait_event(stream or 0, event, 0), "cuStreamWaitEvent")

    # -- DLPack (see ember._dlpack) ----------------------------------------------------------
    def dlpack_device(self, tensor) -> tuple:
        return (2, tensor._device.index or 0)   # kDLCUDA

    def dlpack_stream(self):
        """The stream argument for a producer: this thread's current stream (1: the legacy default)."""
        dev = backend.device()
        h = current_stream_handle(dev)
        return h if h else 1

    def dlpack_sync(self, tensor, stream) -> None:
        """Make the consumer's ``stream`` (DLPack's convention: None or 1 legacy default, 2 per-thread
        default, else a CUstream) wait for the work queued on this tensor's current stream."""
        ours = current_stream_handle(tensor._device)
        theirs = 0 if stream is None or stream == 1 else int(stream)
        if ours == theirs or (ours in (0, 1) and theirs in (0, 1)):
            return
        drv = _drv.get()
        idx = tensor._device.index or 0
        drv.set_device(idx)
        F = drv.cu.CUevent_flags
        ev = drv._call("cuEventCreate", int(F.CU_EVENT_DISABLE_TIMING))
        try:
            drv.check(drv.event_record(int(ev), ours), "cuEventRecord")
            drv.check(drv.stream_wait_event(theirs, int(ev), 0), "cuStreamWaitEvent")
        finally:
            drv.cu.cuEventDestroy(ev)

    def from_dlpack_pointer(self, ptr, nbytes, shape, strides, dtype, device, owner) -> Tensor:
        return self.wrap_pointer(ptr, nbytes, shape, strides, dtype, device, owner)

    # -- facts ----------------------------------------------------------------------------
    def device_name(self, index: int = 0) -> str:
        return _drv.get().device(index).name

    def arch(self, index: int = 0) -> str:
        return _drv.get().device(index).arch


def _device_contiguous(t: Tensor) -> Tensor:
    import ember
    return ember.contiguous(t)


runtime = CudaRuntime()


def require(device_index: int = 0):
    """The driver with ``device_index`` current, or BackendUnavailableError."""
    drv = _drv.get()
    if device_index >= drv.count:
        raise BackendUnavailableError(f"cuda:{device_index} does not exist: {drv.count} device(s) here")
    drv.set_device(device_index)
    return drv
