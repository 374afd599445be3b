"""The xpu runtime: OpenCL devices, buffers, host copies, command queues and events.

Device selection: without ``EMBER_XPU_PLATFORM``, every GPU device of an Intel
OpenCL platform; with it, every device of the platforms whose name contains
that text (case-insensitive), e.g. ``EMBER_XPU_PLATFORM="Portable Computing
Language"`` for pocl's CPU device. Discovery runs once, when the plugin
registers; when nothing usable is found the plugin still registers and
``unavailable_reason()`` says why.

Memory: a tensor's storage is an :class:`XpuStorage` -- a ``cl.Buffer`` plus a
byte offset into it (core's caching allocator splits one raw buffer into many
blocks; kernels take (buffer, byte offset), so no sub-buffers are needed).
Queues are streams (in-order, profiling enabled so that events can be timed);
OpenCL marker events are events.
"""

from __future__ import annotations

import mmap
import os
import threading
import weakref

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ember import Tensor
from ember import dtypes as D
from ember.device import Device
from ember.errors import BackendUnavailableError
from ember.errors import InvalidArgumentError

try:  # the plugin must import (and say why it is unusable) without pyopencl
    import pyopencl as cl
    _IMPORT_ERROR = None
except Exception as _e:  # noqa: BLE001  (ImportError, or a broken ICD loader)
    cl = None
    _IMPORT_ERROR = f"{type(_e).__name__}: {_e}"

try:  # core's caching allocator and stream API (ember.runtime), when this ember-core has them
    from ember import runtime as _core_runtime
    _core_allocate = getattr(_core_runtime, "allocate", None)
except Exception:  # noqa: BLE001
    _core_runtime, _core_allocate = None, None

PLATFORM_ENV = "EMBER_XPU_PLATFORM"

backend = None  # the Backend that register() returned
_KEY = 0        # its dispatch key bit

# OpenCL error codes that mean "the device has no room": core frees its cache and retries.
_OOM_CODES = (-4, -5)  # CL_MEM_OBJECT_ALLOCATION_FAILURE, CL_OUT_OF_RESOURCES

#: dtypes every OpenCL device handles: bool as uchar; float16 and bfloat16 as 16-bit words that
#: kernels widen to float and round back (vload_half/vstore_half are core OpenCL, so float16 needs
#: no cl_khr_fp16: that extension only adds half arithmetic, which the kernels do not use).
#: float64 needs cl_khr_fp64.
_BASE_DTYPES = (D.bool, D.uint8, D.int8, D.int16, D.int32, D.int64, D.float16, D.bfloat16, D.float32)


def _contig(shape):
    strides, acc = [], 1
    for n in reversed(shape):
        strides.append(acc)
        acc *= n if n > 1 else 1
    return tuple(reversed(strides))


class XpuStorage:
    """``nbytes`` bytes at byte ``base`` of the OpenCL buffer ``buf`` on ``device``.

    ``allocation`` is the caching allocator's Allocation that keeps the memory
    alive (its block returns to the pool when this storage is collected; core
    finds it as ``ember.runtime.allocation_of(t)``). ``own`` is used instead
    with an ember-core that has no caching allocator: a buffer of its own.
    """

    __slots__ = ("buf", "base", "nbytes", "itemsize", "device", "allocation", "own", "__weakref__")

    def __init__(self, buf, base, nbytes, itemsize, device, allocation=None, own=None):
        self.buf = buf
        self.base = base
        self.nbytes = nbytes
        self.itemsize = itemsize
        self.device = device
        self.allocation = allocation
        self.own = own

    def __repr__(self):
        return f"<XpuStorage {self.nbytes} bytes at +{self.base} on {self.device}>"


class XpuEvent:
    """An event handle: the OpenCL marker of its last record (None before the first)."""

    __slots__ = ("ev", "timing", "device_index")

    def __init__(self, device_index, timing):
        self.ev = None
        self.timing = timing
        self.device_index = device_index


class XpuStream:
    """A stream handle: an in-order OpenCL command queue (``q``) of one device.

    ``last`` is the event of the latest command Ember queued on it: the queue is
    in order, so when that one has completed, everything before it has.
    """

    __slots__ = ("q", "device_index", "last", "__weakref__")

    def __init__(self, q, device_index):
        self.q = q
        self.device_index = device_index
        self.last = None

    def __repr__(self):
        return f"<XpuStream queue {self.q.int_ptr:#x} on xpu:{self.device_index}>"


class XpuDevice:
    """One OpenCL device Ember uses: its context, default queue and facts."""

    def __init__(self, index, cl_device):
        self.index = index
        self.cl = cl_device
        self.platform = cl_device.platform
        self.ctx = cl.Context([cl_device])
        self.queue = self.new_queue()
        self.stream = XpuStream(self.queue, index)
        self.extensions = set(cl_device.extensions.split())
        self.fp64 = "cl_khr_fp64" in self.extensions
        self.fp16 = "cl_khr_fp16" in self.extensions
        self.total = int(cl_device.global_mem_size)
        self.max_alloc = int(cl_device.max_mem_alloc_size)
        self.raw_bytes = 0           # bytes held in raw buffers (what raw_alloc handed out)
        self.cpu = bool(cl_device.type & cl.device_type.CPU)
        self.host_pages = {}         # buffer int_ptr -> the host memory a CPU device's large buffer uses
        self.lock = threading.Lock()
        self.pending = []            # (event, host array) of non-blocking copies in flight
        self._empty = None           # a small buffer that zero-element tensors point at
        self.name = cl_device.name.strip()
        self.device = Device("xpu", index)

    def new_queue(self):
        return cl.CommandQueue(self.ctx, self.cl,
                               properties=cl.command_queue_properties.PROFILING_ENABLE)

    @property
    def dtypes(self):
        dts = list(_BASE_DTYPES)
        if self.fp64:
            dts.append(D.float64)
        return tuple(dts)

    def empty_buffer(self):
        if self._empty is None:
            self._empty = cl.Buffer(self.ctx, cl.mem_flags.READ_WRITE, 64)
        return self._empty

    def describe(self, full=False):
        pv = self.platform.version.strip()
        if not full:
            pv = " ".join(pv.split()[:3])
        return (f"{self.name} ({_kind(self.cl)}) on {self.platform.name.strip()} ({pv}), "
                f"driver {self.cl.driver_version.strip()}")


def _kind(d):
    t = d.type
    for bit, name in ((cl.device_type.GPU, "GPU"), (cl.device_type.CPU, "CPU"),
                      (cl.device_type.ACCELERATOR, "accelerator")):
        if t & bit:
            return name
    return "other"


def _platform_summary(platforms):
    parts = []
    for p in platforms:
        try:
            devs = ", ".join(f"{d.name.strip()} ({_kind(d)})" for d in p.get_devices())
        except Exception:  # noqa: BLE001
            devs = "no devices"
        parts.append(f"{p.name.strip()!r}: {devs}")
    return "; ".join(parts)


def discover(platform=None):
    """([cl.Device], reason): the devices Ember's xpu uses, or none and a sentence saying why.

    ``platform`` is the EMBER_XPU_PLATFORM text (None: read the environment).
    """
    if cl is None:
        return [], (f"pyopencl cannot be imported ({_IMPORT_ERROR}); install it with "
                    f"`pip install pyopencl` and an OpenCL runtime (Intel's compute-runtime, or pocl)")
    if platform is None:
        platform = os.environ.get(PLATFORM_ENV, "").strip()
    try:
        platforms = cl.get_platforms()
    except Exception as e:  # noqa: BLE001  (CL_PLATFORM_NOT_FOUND_KHR when no ICD is installed)
        platforms, err = [], f"{type(e).__name__}: {e}"
    else:
        err = None
    if not platforms:
        asked = f"{PLATFORM_ENV}={platform!r} matches no OpenCL platform: " if platform else ""
        return [], (asked + "no OpenCL platform is installed" + (f" ({err})" if err else "") +
                    "; install Intel's GPU runtime (intel-opencl-icd), or pocl (apt-get install "
                    "pocl-opencl-icd) and set EMBER_XPU_PLATFORM='Portable Computing Language'")
    if platform:
        chosen = [p for p in platforms if platform.lower() in p.name.lower()]
        if not chosen:
            return [], (f"{PLATFORM_ENV}={platform!r} matches no OpenCL platform; the platforms here "
                        f"are {_platform_summary(platforms)}")
        devices = []
        for p in chosen:
            try:
                devices.extend(p.get_devices())
            except Exception:  # noqa: BLE001  (CL_DEVICE_NOT_FOUND)
                pass
        if not devices:
            return [], f"{PLATFORM_ENV}={platform!r} selects {_platform_summary(chosen)}, which has no devices"
        return devices, None
    devices = []
    for p in platforms:
        try:
            gpus = p.get_devices(device_type=cl.device_type.GPU)
        except Exception:  # noqa: BLE001
            continue
        devices.extend(d for d in gpus if "intel" in (d.vendor + " " + p.name + " " + p.vendor).lower())
    if not devices:
        return [], ("no Intel GPU OpenCL device found; the platforms here are "
                    f"{_platform_summary(platforms)}; set {PLATFORM_ENV} to part of a platform's name "
                    "(e.g. 'Portable Computing Language') to run xpu on it")
    return devices, None


class XpuRuntime:
    """OpenCL devices through pyopencl. Every method is the plugin contract's (ember.plugins.hookspecs)."""

    def __init__(self):
        self.devices = []
        self.reason = "not initialised"
        self.initialised = False

    # -- discovery ---------------------------------------------------------
    def init(self, platform=None):
        found, reason = discover(platform)
        devices = []
        for d in found:
            try:
                devices.append(XpuDevice(len(devices), d))
            except Exception as e:  # noqa: BLE001  (a device whose context cannot be created)
                reason = f"cannot create an OpenCL context on {d.name.strip()}: {type(e).__name__}: {e}"
        self.devices = devices
        self.reason = None if devices else (reason or "no usable OpenCL device")
        self.initialised = True
        return self

    def dtypes(self):
        """The dtypes every selected device supports (the base set when there is none)."""
        if not self.devices:
            return _BASE_DTYPES
        common = [dt for dt in self.devices[0].dtypes if all(dt in d.dtypes for d in self.devices)]
        return tuple(dt for dt in D.all_dtypes if dt in common)

    def dev(self, index):
        try:
            return self.devices[index or 0]
        except IndexError:
            if not self.devices:
                raise BackendUnavailableError(f"xpu has no usable device: {self.reason}") from None
            raise

    # -- the basic contract -------------------------------------------------
    def device_count(self):
        return len(self.devices)

    def is_available(self):
        return bool(self.devices)

    def unavailable_reason(self):
        return None if self.devices else self.reason

    def _stream(self, d):
        """The stream work on device ``d`` goes to now: core's current stream, else the default one."""
        if _current_stream is not None:
            return _current_stream(d.device).handle
        return d.stream

    def alloc_storage(self, nbytes, itemsize, d):
        if _core_allocate is not None:
            a = _core_allocate(d.device, nbytes)
            return XpuStorage(a.handle, a.offset, nbytes, itemsize, d.device, a)
        if nbytes == 0:
            return XpuStorage(d.empty_buffer(), 0, 0, itemsize, d.device)
        buf = self.raw_alloc(nbytes, d.index)
        if buf is None:
            raise _oom(d, nbytes)
        return XpuStorage(buf, 0, nbytes, itemsize, d.device, None, _RawBlock(self, buf, nbytes, d.index))

    def empty(self, shape, dtype, device):
        d = self.dev(device.index)
        n = 1
        for s in shape:
            n *= s
        shape = tuple(shape)
        st = self.alloc_storage(n * dtype.itemsize, dtype.itemsize, d)
        return Tensor._make(st, 0, shape, _contig(shape), dtype, d.device, backend)

    def from_numpy(self, array, device, non_blocking=False):
        d = self.dev(device.index)
        dtype = D.from_numpy_dtype(array.dtype)
        a = array if array.flags.c_contiguous else np.array(array, order="C")
        shape = tuple(a.shape)
        st = self.alloc_storage(a.nbytes, dtype.itemsize, d)
        if a.nbytes:
            self._write(d, st.buf, st.base, a, non_blocking)
        return Tensor._make(st, 0, shape, _contig(shape), dtype, d.device, backend)

    def _write(self, d, buf, byte_offset, host, non_blocking):
        s = self._stream(d)
        ev = s.last = cl.enqueue_copy(s.q, buf, host, dst_offset=byte_offset, is_blocking=not non_blocking)
        if non_blocking:
            self._keep(d, ev, host)
            s.q.flush()
        return ev

    def _keep(self, d, ev, host):
        """Keep ``host`` alive until ``ev`` completes (a non-blocking copy reads or writes it)."""
        with d.lock:
            pending = d.pending
            if len(pending) >= 32:
                pending[:] = [(e, h) for e, h in pending if not _done(e)]
            pending.append((ev, host))

    def _span(self, t):
        """(first byte, bytes) of the part of its buffer that tensor ``t`` reads."""
        isz = t._dtype.itemsize
        hi = 0
        for n, s in zip(t._shape, t._strides):
            if n == 0:
                return t._storage.base + t._offset * isz, 0
            hi += (n - 1) * s
        return t._storage.base + t._offset * isz, (hi + 1) * isz

    def read_into(self, t, out, non_blocking=False):
        """Copy tensor ``t`` into the contiguous numpy array ``out`` (same shape and dtype)."""
        d = self.dev(t._device.index)
        start, nbytes = self._span(t)
        if nbytes == 0:
            return None
        s = self._stream(d)
        if t.is_contiguous():
            ev = s.last = cl.enqueue_copy(s.q, out, t._storage.buf, src_offset=start, is_blocking=not non_blocking)
            if non_blocking:
                self._keep(d, ev, out)
                s.q.flush()
            return ev
        host = np.empty(nbytes // t._dtype.itemsize, t._dtype.np)
        s.last = cl.enqueue_copy(s.q, host, t._storage.buf, src_offset=start, is_blocking=True)
        isz = t._dtype.itemsize
        np.copyto(out, as_strided(host, t._shape, tuple(s * isz for s in t._strides)))
        return None

    def copy_to_host(self, src, out, non_blocking=False):
        """Queue a copy of the xpu tensor ``src`` into the C-contiguous numpy array ``out``."""
        self.read_into(src, out, non_blocking)

    def to_numpy(self, tensor):
        out = np.empty(tensor._shape, tensor._dtype.np)
        self.read_into(tensor, out)
        return out

    def read_small(self, tensor):
        """A numpy copy of a small tensor the kernels themselves need on the host: an error flag,
        an index bound, the count behind a data-dependent output size. Never an operand: this is
        not how data leaves the device (that is ``to_numpy``, which the conformance suite's strict
        mode watches)."""
        out = np.empty(tensor._shape, tensor._dtype.np)
        self.read_into(tensor, out)
        return out

    def copy_from_host(self, dst, array, non_blocking=False):
        """Queue a copy of the numpy ``array`` (dst's shape and dtype) into the contiguous xpu tensor
        ``dst`` on the current stream; a non-blocking copy keeps ``array`` alive until it has run."""
        d = self.dev(dst._device.index)
        a = np.asarray(array, dtype=dst._dtype.np)
        if not a.flags.c_contiguous:
            a = np.array(a, order="C")
        if a.nbytes:
            self._write(d, dst._storage.buf, dst._storage.base + dst._offset * dst._dtype.itemsize,
                        a, non_blocking)
        return dst

    def storage_numel(self, storage):
        return storage.nbytes // storage.itemsize

    def data_ptr(self, tensor):
        st = tensor._storage
        return st.buf.int_ptr + st.base + tensor._offset * tensor._dtype.itemsize

    def synchronize(self, device=None):
        index = getattr(device, "index", None) if device is not None else None
        devs = self.devices if index is None else [self.dev(index)]
        for d in devs:
            for s in _all_streams(d):
                s.q.finish()
                s.last = None
            with d.lock:
                d.pending.clear()

    # -- managed memory: raw allocations for core's caching allocator ------------
    def raw_alloc(self, nbytes, device_index):
        d = self.dev(device_index)
        if nbytes > d.max_alloc:  # no freeing can help: say so at once
            raise _oom(d, nbytes, f"one OpenCL buffer holds at most {d.max_alloc} bytes on this device "
                                  f"(CL_DEVICE_MAX_MEM_ALLOC_SIZE); split the tensor into smaller ones")
        with d.lock:
            if d.raw_bytes + nbytes > d.total:
                return None
            d.raw_bytes += nbytes
        try:
            if d.cpu and nbytes >= _HUGE_PAGE and hasattr(mmap, "MAP_PRIVATE"):   # POSIX mmap
                return _host_page_buffer(d, nbytes)
            return cl.Buffer(d.ctx, cl.mem_flags.READ_WRITE, nbytes)
        except (cl.Error, OSError, MemoryError) as e:
            with d.lock:
                d.raw_bytes -= nbytes
            if not isinstance(e, cl.Error) or getattr(e, "code", None) in _OOM_CODES:
                return None   # out of memory (the host's, for a mapping): the allocator frees and retries
            raise

    def raw_free(self, handle, device_index):
        d = self.dev(device_index)
        with d.lock:
            d.raw_bytes -= handle.size
            host = d.host_pages.pop(handle.int_ptr, None)
        if host is not None:
            # commands queued on the buffer compute on this host memory: it must outlive them (releasing
            # the buffer does not wait for them)
            for st in _all_streams(d):
                st.q.finish()
        handle.release()

    def mem_get_info(self, device_index):
        d = self.dev(device_index)
        return max(0, d.total - d.raw_bytes), d.total

    # -- streams and events --------------------------------------------------
    def stream_create(self, device_index):
        d = self.dev(device_index)
        s = XpuStream(d.new_queue(), d.index)
        _extra_queues.setdefault(d.index, weakref.WeakSet()).add(s)
        return s

    def stream_default(self, device_index):
        return self.dev(device_index).stream

    def stream_synchronize(self, handle):
        handle.q.finish()
        handle.last = None

    def stream_query(self, handle):
        ev = handle.last
        if ev is None or _done(ev):
            return True
        handle.q.flush()
        return False

    def event_create(self, device_index, enable_timing=False):
        return XpuEvent(device_index, enable_timing)

    def event_record(self, event, stream):
        event.ev = stream.last = cl.enqueue_marker(stream.q)
        stream.q.flush()

    def event_query(self, event):
        return event.ev is None or _done(event.ev)

    def event_synchronize(self, event):
        if event.ev is not None:
            event.ev.wait()

    def event_elapsed_ms(self, start, end):
        for name, e in (("start", start), ("end", end)):
            if not e.timing:
                raise InvalidArgumentError(f"elapsed_time(): the {name} event was created without "
                                           f"enable_timing=True; create both events with enable_timing=True")
            if e.ev is None:
                raise InvalidArgumentError(f"elapsed_time(): the {name} event was never recorded; record both first")
        start.ev.wait()
        end.ev.wait()
        return (end.ev.profile.end - start.ev.profile.end) / 1e6

    def stream_wait_event(self, stream, event):
        if event.ev is not None:
            stream.last = cl.enqueue_barrier(stream.q, wait_for=[event.ev])


class _RawBlock:
    """A buffer of its own (used when core's caching allocator is not there): freed when collected."""

    __slots__ = ("rt", "buf", "nbytes", "index")

    def __init__(self, rt, buf, nbytes, index):
        self.rt, self.buf, self.nbytes, self.index = rt, buf, nbytes, index

    def __del__(self):
        try:
            self.rt.raw_free(self.buf, self.index)
        except Exception:  # noqa: BLE001  (interpreter shutdown)
            pass


def _done(ev):
    try:
        return ev.command_execution_status <= 0  # CL_COMPLETE (0), or an error (negative)
    except Exception:  # noqa: BLE001
        return True


_extra_queues: dict = {}  # device index -> WeakSet of the streams stream_create made (synchronize waits on them)


def _all_streams(d):
    return [d.stream, *list(_extra_queues.get(d.index, ()))]


_HUGE_PAGE = 2 << 20   # bytes: the transparent huge page of x86-64 and arm64 Linux


def _host_page_buffer(d, nbytes):
    """A CPU device's buffer of nbytes in host memory of its own, aligned to huge pages and advised to use
    them (MADV_HUGEPAGE), the buffer made on it with CL_MEM_USE_HOST_PTR (a CPU runtime computes on that
    memory itself). numpy does the same for its large arrays: with 4 KiB pages a pass over 64 MiB spends a
    third of its time in page walks. The mapping is unmapped when the buffer and this device's reference
    (dropped by raw_free) are gone."""
    # private: transparent huge pages back private anonymous memory (shared memory has its own setting, off)
    pages = mmap.mmap(-1, nbytes + _HUGE_PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    view = memoryview(pages)
    start = (-np.frombuffer(view, np.uint8, 1).ctypes.data) % _HUGE_PAGE
    if hasattr(mmap, "MADV_HUGEPAGE"):
        try:
            pages.madvise(mmap.MADV_HUGEPAGE, start, nbytes)
        except OSError:   # no transparent huge pages here: 4 KiB pages, as without this
            pass
    host = np.frombuffer(view, np.uint8, nbytes, start)
    buf = cl.Buffer(d.ctx, cl.mem_flags.READ_WRITE | cl.mem_flags.USE_HOST_PTR, hostbuf=host)
    with d.lock:
        d.host_pages[buf.int_ptr] = host
    return buf


def _oom(d, nbytes, why=None):
    from ember import errors
    cls = getattr(errors, "OutOfMemoryError", MemoryError)
    return cls(f"xpu: out of memory on {d.name}: asked for {nbytes} bytes with {d.raw_bytes} of "
               f"{d.total} bytes in use; " + (why or "free tensors (del) and retry"))


def _find_current_stream():
    try:
        from ember.runtime.streams import _current_stream_of  # the hot-path form (canonical Device)
        return _current_stream_of
    except ImportError:
        return getattr(_core_runtime, "current_stream", None) if _core_runtime is not None else None


_current_stream = _find_current_stream()

runtime = XpuRuntime()
