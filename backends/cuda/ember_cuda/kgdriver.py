"""The kernel generator's Driver protocol for CUDA (see ember_kernelgen.driver).

ember_kernelgen renders each kernel in CUDA C and does the host side (launch
sizes, packing shapes and strides, fast paths); this driver compiles with
NVRTC for the device's architecture (cached on disk), loads modules into the
device's primary context and launches through :mod:`ember_cuda.launch`.
"""

from __future__ import annotations

import json
import os

from . import compiler
from . import driver as _drv
from .graphs import is_current_stream_capturing
from .launch import Kernel, Launcher
from .runtime import current_stream_handle, runtime


class _Recorder:
    """While ``launches`` is a list, every launch is appended to it (see ops.Replay)."""

    __slots__ = ("launches",)

    def __init__(self):
        self.launches = None


recorder = _Recorder()


#: EMBER_CUDA_RECORD_KERNELS=DIR: compile nothing and launch nothing; append each kernel source asked for to
#: DIR/<pid>.jsonl, so that ``python -m ember_cuda.warm --sources DIR`` can compile them all ahead, in batches
#: and in parallel. Results computed in this mode are meaningless (the GPU check's first pass only).
_RECORD = os.environ.get("EMBER_CUDA_RECORD_KERNELS") or None
_recorded: set = set()


def _record(source, options) -> None:
    key = (source, tuple(options))
    if key in _recorded:
        return
    _recorded.add(key)
    try:
        os.makedirs(_RECORD, exist_ok=True)
        with open(os.path.join(_RECORD, f"{os.getpid()}.jsonl"), "a") as f:
            f.write(json.dumps({"source": source, "options": list(options)}) + "\n")
    except OSError:
        pass


class CudaDriver:
    dialect = "cuda"

    def __init__(self):
        self._launcher = None
        self._limits = {}

    # -- the protocol --------------------------------------------------------------------
    def limits(self, device):
        from ember_kernelgen import DeviceLimits
        idx = device.index or 0
        lim = self._limits.get(idx)
        if lim is None:
            d = _drv.get().device(idx)
            lim = self._limits[idx] = DeviceLimits(max_block=256, warp=32, local_mem=48 * 1024,
                                                   compute_units=d.sm_count, fp64=True)
        return lim

    def compile(self, source, signatures, options, device):
        if _RECORD:
            _record(source, options)
            idx = device.index or 0
            return {name: Kernel(name, signatures[name], 0, idx) for name in signatures}   # launches are skipped
        drv = _drv.get()
        idx = device.index or 0
        arch = drv.device(idx).arch
        image = compiler.cached_binary(source, arch, tuple(options))
        funcs = compiler.load(drv, idx, image, list(signatures))
        return {name: Kernel(name, signatures[name], funcs[name], idx) for name in signatures}

    def launch(self, kernel, grid, block, args, stream):
        rec = recorder.launches
        if rec is not None:
            rec.append((kernel, grid, block, tuple(args), stream))
        la = self._launcher
        if la is None:
            la = self._launcher = Launcher(_drv.get())
        la.launch(kernel, grid, block, args, stream)

    def stream(self, device):
        return current_stream_handle(device)

    def buffer(self, tensor):
        return tensor._storage.ptr, tensor._offset * tensor._dtype.itemsize

    def empty(self, shape, dtype, device):
        return runtime.empty(tuple(shape), dtype, device)

    def to_host(self, tensor):
        return runtime.read(tensor)

    def capturing(self) -> bool:
        """Whether the current stream is capturing a CUDA graph (host reads are not allowed then)."""
        return is_current_stream_capturing()

    # -- for ember_cuda itself ---------------------------------------------------------------
    @property
    def launcher(self) -> Launcher:
        la = self._launcher
        if la is None:
            la = self._launcher = Launcher(_drv.get())
        return la


driver = CudaDriver()
