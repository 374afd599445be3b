"""The HIP runtime, loaded once and lazily: devices, their facts, and the calls Ember makes.

Device queries go through AMD's hip-python (``hip.hip``), which knows each ROCm
release's ``hipDeviceProp_t`` layout. Every other call (memory, copies, streams,
events, modules, launches) has the same C signature in every ROCm release and
goes through ctypes straight to the ``libamdhip64.so`` hip-python loaded:
hip-python's wrappers cost microseconds per call, more than a small operator.

HIP keeps one primary context per device, made current by ``hipSetDevice``:
``set_device`` calls it only when this thread's current device changes. The
methods below are the device driver ``ember_kernelgen.devrt`` documents; each
raises :class:`HipError` (the call, the error's name and HIP's text) on failure.
Nothing runs at import: ``slot.probe()`` says why ROCm is unavailable (no
library, no hip-python, no device) without raising.
"""

from __future__ import annotations

import ctypes
import threading
from ctypes import POINTER, byref, c_char_p, c_float, c_int, c_size_t, c_uint, c_void_p

from ember.errors import BackendLibraryError, BackendUnavailableError
from ember_kernelgen.devrt import DriverSlot

HIP_SUCCESS = 0
HIP_ERROR_OUT_OF_MEMORY = 2
HIP_ERROR_NO_DEVICE = 100
HIP_ERROR_INVALID_DEVICE = 101
HIP_ERROR_NOT_READY = 600
HIP_STREAM_NON_BLOCKING = 1
HIP_EVENT_DEFAULT, HIP_EVENT_DISABLE_TIMING = 0, 2

_P = POINTER(c_void_p)
# name in libamdhip64 -> argument types (every one returns hipError_t)
PROTOTYPES = {
    "hipSetDevice": (c_int,),
    "hipDeviceSynchronize": (),
    "hipMalloc": (_P, c_size_t),
    "hipFree": (c_void_p,),
    "hipMemGetInfo": (POINTER(c_size_t), POINTER(c_size_t)),
    "hipMemcpyHtoDAsync": (c_void_p, c_void_p, c_size_t, c_void_p),
    "hipMemcpyDtoHAsync": (c_void_p, c_void_p, c_size_t, c_void_p),
    "hipMemcpyDtoDAsync": (c_void_p, c_void_p, c_size_t, c_void_p),
    "hipStreamCreateWithPriority": (_P, c_uint, c_int),
    "hipDeviceGetStreamPriorityRange": (POINTER(c_int), POINTER(c_int)),
    "hipStreamDestroy": (c_void_p,),
    "hipStreamSynchronize": (c_void_p,),
    "hipStreamQuery": (c_void_p,),
    "hipStreamWaitEvent": (c_void_p, c_void_p, c_uint),
    "hipEventCreateWithFlags": (_P, c_uint),
    "hipEventDestroy": (c_void_p,),
    "hipEventRecord": (c_void_p, c_void_p),
    "hipEventQuery": (c_void_p,),
    "hipEventSynchronize": (c_void_p,),
    "hipEventElapsedTime": (POINTER(c_float), c_void_p, c_void_p),
    "hipModuleLoadData": (_P, c_void_p),
    "hipModuleGetFunction": (_P, c_void_p, c_char_p),
    "hipModuleLaunchKernel": (c_void_p, c_uint, c_uint, c_uint, c_uint, c_uint, c_uint, c_uint,
                              c_void_p, c_void_p, c_void_p),
}


class HipError(BackendLibraryError):
    """A HIP call that failed: the call, the error's name and HIP's text."""

    def __init__(self, call: str, code: int, name: str = "", text: str = ""):
        self.call, self.code, self.name = call, code, name
        super().__init__(f"{call} failed with {name or 'hipError_t'} ({code}){': ' + text if text else ''}")


class DeviceInfo:
    """One AMD GPU: name, gfx target, compute units, wavefront size and limits."""

    __slots__ = ("index", "name", "arch", "gfx", "compute_units", "warp", "max_threads_per_block",
                 "shared_mem_per_block", "total_memory", "priorities")

    def __repr__(self):
        return f"<rocm:{self.index} {self.name} {self.arch} wave{self.warp}>"

    def describe(self) -> str:
        """One line for ``ember info``."""
        return (f"{self.name}, {self.arch}, {self.compute_units} CUs, wave{self.warp}, "
                f"{self.total_memory / 2**30:.1f} GiB")


def _text(v) -> str:
    if isinstance(v, (bytes, bytearray)):
        v = bytes(v).split(b"\0", 1)[0].decode(errors="replace")
    return str(v)


class _Tls(threading.local):
    def __init__(self):
        self.device = -1


class HipDriver:
    """The loaded runtime: ``lib`` is libamdhip64 (ctypes), ``hip`` is hip-python's ``hip.hip``."""

    def __init__(self, lib, hip):
        self.lib, self.hip = lib, hip
        if isinstance(lib, ctypes.CDLL):   # a stand-in library (tests) takes Python values as they are
            for name, argtypes in PROTOTYPES.items():
                fn = getattr(lib, name)
                fn.argtypes = argtypes
                fn.restype = c_int
            lib.hipGetErrorName.argtypes = lib.hipGetErrorString.argtypes = (c_int,)
            lib.hipGetErrorName.restype = lib.hipGetErrorString.restype = c_char_p
        self._launch = lib.hipModuleLaunchKernel
        self._tls = _Tls()
        self._lock = threading.Lock()
        err = _code(hip.hipInit(0))
        if err in (HIP_ERROR_NO_DEVICE, HIP_ERROR_INVALID_DEVICE):
            raise BackendUnavailableError(f"no AMD GPU: hipInit answered {self.error_name(err)} ({err}); "
                                          f"the ROCm runtime is installed but sees no device")
        if err:
            self.fail("hipInit", err)
        self.count = int(self._call("hipGetDeviceCount"))
        self.version = int(self._call("hipRuntimeGetVersion"))
        self.devices: list = [None] * self.count

    # -- errors ----------------------------------------------------------------
    def error_name(self, code: int) -> str:
        try:
            return _text(self.lib.hipGetErrorName(code) or b"hipError_t")
        except Exception:  # noqa: BLE001
            return "hipError_t"

    def fail(self, call: str, code: int):
        try:
            text = _text(self.lib.hipGetErrorString(code) or b"")
        except Exception:  # noqa: BLE001
            text = ""
        raise HipError(call, int(code), self.error_name(int(code)), text)

    def check(self, code: int, call: str) -> None:
        if code:
            self.fail(call, code)

    def _call(self, name: str, *args):
        """Call a hip-python function; raise HipError on failure; return its results."""
        res = getattr(self.hip, name)(*args)
        err = _code(res)
        if err:
            self.fail(name, err)
        if isinstance(res, tuple):
            return res[1] if len(res) == 2 else (res[1:] or None)
        return None

    # -- devices ------------------------------------------------------------------
    def device(self, index: int) -> DeviceInfo:
        d = self.devices[index]
        if d is None:
            with self._lock:
                d = self.devices[index]
                if d is None:
                    d = self.devices[index] = self._open(index)
        return d

    def _open(self, index: int) -> DeviceInfo:
        p = self.hip.hipDeviceProp_t()
        self._call("hipGetDeviceProperties", p, index)
        d = DeviceInfo()
        d.index = index
        d.name = _text(p.name)
        d.arch = _text(p.gcnArchName)          # e.g. gfx90a:sramecc+:xnack-, what hiprtc targets
        d.gfx = d.arch.split(":", 1)[0]
        d.compute_units = int(p.multiProcessorCount)
        d.warp = int(p.warpSize)               # 64 on CDNA (wave64), 32 on RDNA (wave32)
        d.max_threads_per_block = int(p.maxThreadsPerBlock)
        d.shared_mem_per_block = int(p.sharedMemPerBlock)
        d.total_memory = int(p.totalGlobalMem)
        self.set_device(index)
        lo, hi = c_int(0), c_int(0)
        self.check(self.lib.hipDeviceGetStreamPriorityRange(byref(lo), byref(hi)), "hipDeviceGetStreamPriorityRange")
        d.priorities = (lo.value, hi.value)
        return d

    def set_device(self, index: int) -> None:
        if self._tls.device != index:
            self.check(self.lib.hipSetDevice(index), "hipSetDevice")
            self._tls.device = index

    # -- memory ---------------------------------------------------------------------------
    def mem_alloc(self, nbytes: int):
        p = c_void_p(0)
        err = self.lib.hipMalloc(byref(p), nbytes)
        if err == HIP_ERROR_OUT_OF_MEMORY:
            return None
        self.check(err, "hipMalloc")
        return p.value

    def mem_free(self, ptr) -> None:
        self.check(self.lib.hipFree(ptr), "hipFree")

    def mem_get_info(self) -> tuple:
        free, total = c_size_t(0), c_size_t(0)
        self.check(self.lib.hipMemGetInfo(byref(free), byref(total)), "hipMemGetInfo")
        return free.value, total.value

    def memcpy_htod(self, dst, host, n, stream) -> None:
        self.check(self.lib.hipMemcpyHtoDAsync(dst, host, n, stream or None), "hipMemcpyHtoDAsync")

    def memcpy_dtoh(self, host, src, n, stream) -> None:
        self.check(self.lib.hipMemcpyDtoHAsync(host, src, n, stream or None), "hipMemcpyDtoHAsync")

    def memcpy_dtod(self, dst, src, n, stream) -> None:
        self.check(self.lib.hipMemcpyDtoDAsync(dst, src, n, stream or None), "hipMemcpyDtoDAsync")

    def device_synchronize(self) -> None:
        self.check(self.lib.hipDeviceSynchronize(), "hipDeviceSynchronize")

    # -- streams and events ---------------------------------------------------------------
    def stream_create(self, priority: int = 0) -> int:
        """A non-blocking stream; HIP clamps ``priority`` to the device's range (lower: more urgent)."""
        h = c_void_p(0)
        self.check(self.lib.hipStreamCreateWithPriority(byref(h), HIP_STREAM_NON_BLOCKING, priority),
                   "hipStreamCreateWithPriority")
        return h.value

    def stream_destroy(self, h) -> None:
        self.check(self.lib.hipStreamDestroy(h), "hipStreamDestroy")

    def stream_synchronize(self, h) -> None:
        self.check(self.lib.hipStreamSynchronize(h or None), "hipStreamSynchronize")

    def stream_query(self, h) -> bool:
        return self._ready(self.lib.hipStreamQuery(h or None), "hipStreamQuery")

    def stream_wait_event(self, stream, event) -> None:
        self.check(self.lib.hipStreamWaitEvent(stream or None, event, 0), "hipStreamWaitEvent")

    def event_create(self, timing: bool) -> int:
        h = c_void_p(0)
        flags = HIP_EVENT_DEFAULT if timing else HIP_EVENT_DISABLE_TIMING
        self.check(self.lib.hipEventCreateWithFlags(byref(h), flags), "hipEventCreateWithFlags")
        return h.value

    def event_destroy(self, e) -> None:
        self.check(self.lib.hipEventDestroy(e), "hipEventDestroy")

    def event_record(self, e, stream) -> None:
        self.check(self.lib.hipEventRecord(e, stream or None), "hipEventRecord")

    def event_query(self, e) -> bool:
        return self._ready(self.lib.hipEventQuery(e), "hipEventQuery")

    def event_synchronize(self, e) -> None:
        self.check(self.lib.hipEventSynchronize(e), "hipEventSynchronize")

    def event_elapsed_ms(self, start, end) -> float:
        ms = c_float(0)
        self.check(self.lib.hipEventElapsedTime(byref(ms), start, end), "hipEventElapsedTime")
        return ms.value

    def _ready(self, err, call) -> bool:
        if err == HIP_ERROR_NOT_READY:
            return False
        self.check(err, call)
        return True

    # -- modules and launches ----------------------------------------------------------------
    def module_load(self, image: bytes) -> int:
        m = c_void_p(0)
        buf = ctypes.create_string_buffer(image, len(image))
        self.check(self.lib.hipModuleLoadData(byref(m), buf), "hipModuleLoadData")
        return m.value

    def module_function(self, module, name: str) -> int:
        f = c_void_p(0)
        self.check(self.lib.hipModuleGetFunction(byref(f), module, name.encode()), f"hipModuleGetFunction({name})")
        return f.value

    def launch(self, k, grid, block, stream) -> None:
        """Launch kernel ``k`` (ember_kernelgen.argpack.Kernel, arguments packed) on ``stream``."""
        err = self._launch(k.func, grid[0], grid[1], grid[2], block[0], block[1], block[2], 0,
                           stream or None, k.params_addr, None)
        if err:
            self.fail(f"hipModuleLaunchKernel({k.name}, grid={tuple(grid)}, block={tuple(block)})", err)


def _code(res) -> int:
    return int(res[0] if isinstance(res, tuple) else res)


def load() -> HipDriver:
    """The real runtime: hip-python's bindings and the libamdhip64 they load."""
    try:
        from hip import hip
    except ImportError as e:
        raise BackendUnavailableError(
            f"hip-python is not installed ({e}); install it with: pip install hip-python") from None
    errors = []
    for name in LIBRARIES:
        try:
            return HipDriver(ctypes.CDLL(name), hip)
        except OSError as e:
            errors.append(str(e))
    raise BackendUnavailableError(f"no ROCm runtime (libamdhip64 not found: {'; '.join(errors)}); install "
                                  f"ROCm's HIP runtime (Debian/Ubuntu: apt-get install libamdhip64-dev)")


#: the HIP runtime library, unversioned first (the name hip-python opens), then by ROCm release
LIBRARIES = ("libamdhip64.so", "libamdhip64.so.7", "libamdhip64.so.6", "libamdhip64.so.5")


slot = DriverSlot(load, "EMBER_ROCM_DISABLE", "ROCm", "the ROCm runtime is installed but reports no AMD GPU")
probe = slot.probe
get = slot.get
