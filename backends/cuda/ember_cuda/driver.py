"""The CUDA driver, loaded once and lazily: devices, primary contexts, and fast entry points.

Cold calls (initialisation, device queries, contexts, modules, streams,
events, pinned memory, peer access) go through cuda-python's
``cuda.bindings.driver``. The few calls on the per-operator hot path (kernel
launch, memcpy, alloc, event record/wait) go through ctypes straight to the
same ``libcuda.so.1`` that cuda-python loaded, with prototypes declared here:
cuda-python's wrappers cost several microseconds per call, more than a whole
small operator may take.

Nothing here runs at import: ``get()`` loads the driver on first use, and
``probe()`` says why CUDA is unavailable (no driver, no cuda-python, no
device) without raising.
"""

from __future__ import annotations

import ctypes
import os
import threading
from ctypes import POINTER, byref, c_char_p, c_int, c_size_t, c_ubyte, c_uint, c_uint64, c_void_p

from ember.errors import BackendLibraryError, BackendUnavailableError


class CudaError(BackendLibraryError):
    """A CUDA driver call that failed: the call, the error's name and the driver's text."""

    def __init__(self, call: str, code: int, name: str = "", text: str = ""):
        self.call, self.code, self.name = call, code, name
        super().__init__(f"{call} failed with {name or 'CUresult'} ({code}){': ' + text if text else ''}")


CUDA_SUCCESS = 0
CUDA_ERROR_OUT_OF_MEMORY = 2
CUDA_ERROR_NOT_READY = 600
CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED = 704

# The hot entry points: name in libcuda.so.1 -> (attribute here, argument types).
# Versioned names are the ones cuda.h maps the plain names to.
_PROTOTYPES = {
    "cuCtxSetCurrent": ("ctx_set_current", (c_void_p,)),
    "cuCtxSynchronize": ("ctx_synchronize", ()),
    "cuLaunchKernel": ("launch_kernel", (c_void_p, c_uint, c_uint, c_uint, c_uint, c_uint, c_uint, c_uint,
                                         c_void_p, c_void_p, c_void_p)),
    "cuMemAlloc_v2": ("mem_alloc", (POINTER(c_uint64), c_size_t)),
    "cuMemFree_v2": ("mem_free", (c_uint64,)),
    "cuMemcpyHtoDAsync_v2": ("memcpy_htod_async", (c_uint64, c_void_p, c_size_t, c_void_p)),
    "cuMemcpyDtoHAsync_v2": ("memcpy_dtoh_async", (c_void_p, c_uint64, c_size_t, c_void_p)),
    "cuMemcpyDtoDAsync_v2": ("memcpy_dtod_async", (c_uint64, c_uint64, c_size_t, c_void_p)),
    "cuMemcpyPeerAsync": ("memcpy_peer_async", (c_uint64, c_void_p, c_uint64, c_void_p, c_size_t, c_void_p)),
    "cuMemsetD8Async": ("memset_d8_async", (c_uint64, c_ubyte, c_size_t, c_void_p)),
    "cuMemsetD32Async": ("memset_d32_async", (c_uint64, c_uint, c_size_t, c_void_p)),
    "cuStreamSynchronize": ("stream_synchronize", (c_void_p,)),
    "cuStreamQuery": ("stream_query", (c_void_p,)),
    "cuStreamWaitEvent": ("stream_wait_event", (c_void_p, c_void_p, c_uint)),
    "cuEventRecord": ("event_record", (c_void_p, c_void_p)),
    "cuEventQuery": ("event_query", (c_void_p,)),
    "cuEventSynchronize": ("event_synchronize", (c_void_p,)),
    "cuGetErrorName": ("get_error_name", (c_int, POINTER(c_char_p))),
    "cuGetErrorString": ("get_error_string", (c_int, POINTER(c_char_p))),
}


class DeviceInfo:
    """One CUDA device: its handle, primary context, architecture and limits."""

    __slots__ = ("index", "handle", "ctx", "ctx_obj", "name", "cc", "arch", "total_memory",
                 "sm_count", "max_threads_per_block", "max_grid_x", "peers", "uuid")

    def __repr__(self):
        return f"<cuda:{self.index} {self.name} {self.arch}>"


class _Tls(threading.local):
    def __init__(self):
        self.device = -1  # the device whose primary context is current on this thread


class Driver:
    """The loaded driver. One per process, made by ``get()``."""

    def __init__(self):
        try:
            self.lib = ctypes.CDLL("libcuda.so.1")
        except OSError as e:
            raise BackendUnavailableError(f"no NVIDIA driver (libcuda.so.1 not found: {e})") from None
        try:
            from cuda.bindings import driver as cu
        except ImportError as e:
            raise BackendUnavailableError(
                f"cuda-python is not installed ({e}); install it with: pip install cuda-bindings") from None
        self.cu = cu
        for cname, (attr, argtypes) in _PROTOTYPES.items():
            fn = getattr(self.lib, cname)
            fn.argtypes = argtypes
            fn.restype = c_int
            setattr(self, attr, fn)
        err = self.lib.cuInit(0)
        if err:
            raise BackendUnavailableError(f"the NVIDIA driver is installed but cuInit failed: "
                                          f"{self.error_name(err)} ({err}): {self.error_text(err)}")
        self.version = self._call("cuDriverGetVersion")
        self.count = self._call("cuDeviceGetCount")
        self.devices: list = [None] * self.count
        self._lock = threading.RLock()
        self._tls = _Tls()

    # -- errors ----------------------------------------------------------------
    def error_name(self, code: int) -> str:
        s = c_char_p()
        if self.lib.cuGetErrorName(code, byref(s)) == 0 and s.value:
            return s.value.decode()
        return "CUresult"

    def error_text(self, code: int) -> str:
        s = c_char_p()
        if self.lib.cuGetErrorString(code, byref(s)) == 0 and s.value:
            return s.value.decode()
        return ""

    def fail(self, call: str, code: int):
        raise CudaError(call, int(code), self.error_name(int(code)), self.error_text(int(code)))

    def check(self, code: int, call: str) -> None:
        if code:
            self.fail(call, code)

    def _call(self, name: str, *args):
        """Call a cuda-python driver function; raise CudaError on failure; return its results."""
        res = getattr(self.cu, name)(*args)
        err = res[0] if isinstance(res, tuple) else res
        if int(err):
            self.fail(name, int(err))
        if isinstance(res, tuple):
            return res[1] if len(res) == 2 else res[1:]
        return None

    # -- devices and contexts -------------------------------------------------------
    def device(self, index: int) -> DeviceInfo:
        d = self.devices[index]
        if d is None:
            with self._lock:
                d = self.devices[index]
                if d is None:
                    d = self.devices[index] = self._open(index)
        return d

    def _open(self, index: int) -> DeviceInfo:
        cu = self.cu
        A = cu.CUdevice_attribute
        d = DeviceInfo()
        d.index = index
        d.handle = self._call("cuDeviceGet", index)
        d.name = self._call("cuDeviceGetName", 256, d.handle).split(b"\0", 1)[0].decode(errors="replace")
        major = self._call("cuDeviceGetAttribute", A.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, d.handle)
        minor = self._call("cuDeviceGetAttribute", A.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, d.handle)
        d.cc = (int(major), int(minor))
        d.arch = f"sm_{major}{minor}"
        d.sm_count = int(self._call("cuDeviceGetAttribute", A.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, d.handle))
        d.max_threads_per_block = int(self._call("cuDeviceGetAttribute",
                                                 A.CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK, d.handle))
        d.max_grid_x = int(self._call("cuDeviceGetAttribute", A.CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X, d.handle))
        d.total_memory = int(self._call("cuDeviceTotalMem", d.handle))
        d.ctx_obj = self._call("cuDevicePrimaryCtxRetain", d.handle)
        d.ctx = int(d.ctx_obj)
        d.peers = set()
        d.uuid = None
        return d

    def set_device(self, index: int) -> DeviceInfo:
        """Make ``index``'s primary context current on this thread (cheap when it already is)."""
        d = self.devices[index] or self.device(index)
        tls = self._tls
        if tls.device != index:
            self.check(self.ctx_set_current(d.ctx), "cuCtxSetCurrent")
            tls.device = index
        return d

    def enable_peer_access(self, index: int, peer: int) -> bool:
        """Let ``index``'s context reach ``peer``'s memory; False when the hardware cannot."""
        d = self.device(index)
        if peer in d.peers:
            return True
        p = self.device(peer)
        can = self._call("cuDeviceCanAccessPeer", d.handle, p.handle)
        if not can:
            return False
        self.set_device(index)
        err = self.cu.cuCtxEnablePeerAccess(p.ctx_obj, 0)
        err = int(err[0] if isinstance(err, tuple) else err)
        if err not in (CUDA_SUCCESS, CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED):
            self.fail("cuCtxEnablePeerAccess", err)
        d.peers.add(peer)
        return True

    def fn_address(self, attr: str) -> int:
        """The address of a hot entry point (for the native launch extension)."""
        return ctypes.cast(getattr(self, attr), c_void_p).value


_lock = threading.Lock()
_driver: Driver | None = None
_reason: str | None = None
_probed = False


def probe() -> tuple:
    """(driver or None, reason or None): loads the driver once; never raises."""
    global _driver, _reason, _probed
    if _probed:
        return _driver, _reason
    with _lock:
        if not _probed:
            if os.environ.get("EMBER_CUDA_DISABLE", "").strip() not in ("", "0"):
                _reason = "disabled by EMBER_CUDA_DISABLE"
            else:
                try:
                    drv = Driver()
                    if drv.count == 0:
                        _reason = "the NVIDIA driver is installed but reports no CUDA device"
                    _driver = drv
                except BackendUnavailableError as e:
                    _reason = str(e)
                except Exception as e:  # noqa: BLE001  (any failure to start the driver is a reason)
                    _reason = f"the CUDA driver could not be started: {type(e).__name__}: {e}"
            _probed = True
    return _driver, _reason


def get() -> Driver:
    """The loaded driver, or BackendUnavailableError saying why there is none."""
    drv = _driver
    if drv is not None:
        return drv
    drv, reason = probe()
    if drv is None:
        raise BackendUnavailableError(f"CUDA is unavailable: {reason}")
    return drv
