"""Kernel handles and the launch hot path.

A :class:`Kernel` (ember_kernelgen.argpack, shared with rocm) is one compiled
entry point plus everything a launch needs that does not change between calls:
its argument signature turned into a ``struct`` format with one 8-byte slot per
parameter, one argument buffer packed in place on every launch, and the
``void*[]`` array of pointers into that buffer that ``cuLaunchKernel`` reads. A launch is then one
``struct.pack_into`` and one foreign call, with nothing allocated.

The foreign call goes to ``cuLaunchKernel`` through ``ctypes.PyDLL`` (the GIL
stays held: the call only enqueues work), or through the optional native
extension ``ember_cuda._launch`` when it was built, which also packs.
"""

from __future__ import annotations

import ctypes
import os
import struct

from ember_kernelgen.argpack import Kernel as _Kernel
from ember_kernelgen.argpack import slot_format

from . import driver as _drv

_native = None
_native_tried = False


def native():
    """The native launch module, or None (the plugin works without it)."""
    global _native, _native_tried
    if not _native_tried:
        _native_tried = True
        try:
            from . import _launch  # type: ignore[attr-defined]
            _native = _launch
        except Exception:  # noqa: BLE001  (optional: pure-Python launches are the fallback)
            _native = None
    return _native


def _native_packs_like_python(nat) -> bool:
    """The native packer writes the same bytes as struct.pack_into does (checked once per process)."""
    sig = "pqiIfdq"
    args = (0x7F00_0000_1000, -5, -3, 4_000_000_000, 1.5, -2.25, 1 << 40)
    a = ctypes.create_string_buffer(8 * len(sig))
    b = ctypes.create_string_buffer(8 * len(sig))
    nat.pack(sig, ctypes.addressof(a), args)
    struct.pack_into(slot_format(sig), b, 0, *args)
    return a.raw == b.raw


class Kernel(_Kernel):
    """One entry point on one cuda device with its reusable argument buffer (ember_kernelgen.argpack)."""

    __slots__ = ()
    device_type = "cuda"


class Launcher:
    """Launches kernels on one driver: pure Python (ctypes) or the native extension."""

    def __init__(self, drv):
        self.drv = drv
        lib = ctypes.PyDLL("libcuda.so.1")   # the GIL stays held: the call only enqueues
        fn = lib.cuLaunchKernel
        fn.argtypes = (ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint, ctypes.c_uint, ctypes.c_uint,
                       ctypes.c_uint, ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
                       ctypes.c_void_p)
        fn.restype = ctypes.c_int
        self._fn = fn
        self.fn_addr = ctypes.cast(fn, ctypes.c_void_p).value
        nat = native()
        self.native = None
        if nat is not None and os.environ.get("EMBER_CUDA_NATIVE_LAUNCH", "1") != "0":
            try:
                nat.init(self.fn_addr)
                if _native_packs_like_python(nat):
                    self.native = nat
            except Exception:  # noqa: BLE001
                self.native = None

    def launch(self, k: Kernel, grid, block, args, stream) -> None:
        if not k.func:   # a kernel only recorded (EMBER_CUDA_RECORD_KERNELS): nothing to run
            return
        drv = self.drv
        if drv._tls.device != k.device_index:
            drv.set_device(k.device_index)
        nat = self.native
        if nat is not None:
            err = nat.launch(k.func, k.signature, k.base, k.params_addr, grid[0], grid[1], grid[2],
                             block[0], block[1], block[2], stream or 0, args)
        else:
            with k.lock:
                struct.pack_into(k.fmt, k.buf, 0, *args)
                err = self._fn(k.func, grid[0], grid[1], grid[2], block[0], block[1], block[2], 0,
                               stream or None, k.params_addr, None)
        if err:
            drv.fail(f"cuLaunchKernel({k.name}, grid={tuple(grid)}, block={tuple(block)})", err)

    def launch_python(self, k: Kernel, grid, block, args, stream) -> int:
        """The pure-Python launch (the native one's fallback; also what the tests time)."""
        with k.lock:
            struct.pack_into(k.fmt, k.buf, 0, *args)
            return self._fn(k.func, grid[0], grid[1], grid[2], block[0], block[1], block[2], 0,
                            stream or None, k.params_addr, None)
