"""The kernel generator's Driver protocol for HIP (see ember_kernelgen.driver).

ember_kernelgen renders each kernel in HIP C and does the host side (launch
sizes, packing shapes and strides, fast paths); this driver compiles with
hiprtc for the device's gfx target at first use, a family of variants per
program (cached on disk), loads the
code object as a HIP module and launches with ``hipModuleLaunchKernel``. The
wavefront size comes from the device (64 on CDNA, 32 on RDNA), never assumed.
"""

from __future__ import annotations

from ember_kernelgen import DeviceLimits
from ember_kernelgen.argpack import Kernel

from . import compiler
from . import driver as _drv
from .runtime import current_stream_handle, runtime

#: threads per block kernelgen may use: four wave64 wavefronts or eight wave32 ones
BLOCK = 256


class HipKernel(Kernel):
    """One entry point on one rocm device with its reusable argument buffer."""

    __slots__ = ()
    device_type = "rocm"


def limits_of(d) -> DeviceLimits:
    """kernelgen's limits for a device's facts (driver.DeviceInfo)."""
    return DeviceLimits(max_block=min(BLOCK, d.max_threads_per_block), warp=d.warp,
                        local_mem=d.shared_mem_per_block, compute_units=d.compute_units, fp64=True)


class RocmDriver:
    dialect = "hip"
    #: hiprtc pays mostly per program (clang and the device libraries' link), little per kernel: the first
    #: kernel an operator needs brings its family (other operand modes, ranks, passes) in the same program
    bundle = True

    def __init__(self, build=None):
        self.build = build          # tests: replaces hiprtc (see compiler.cached_binary)
        self._limits: dict = {}

    def limits(self, device):
        idx = device.index or 0
        lim = self._limits.get(idx)
        if lim is None:
            lim = self._limits[idx] = limits_of(_drv.get().device(idx))
        return lim

    def compile(self, source, signatures, options, device):
        drv = _drv.get()
        idx = device.index or 0
        image = compiler.cached_binary(source, drv.device(idx).arch, tuple(options), self.build)
        funcs = compiler.load(drv, idx, image, list(signatures))
        return {name: HipKernel(name, signatures[name], funcs[name], idx) for name in signatures}

    def launch(self, kernel, grid, block, args, stream):
        drv = _drv.get()
        drv.set_device(kernel.device_index)
        with kernel.lock:
            kernel.pack(args)
            drv.launch(kernel, grid, block, stream)

    def stream(self, device):
        return current_stream_handle(device)

    def buffer(self, tensor):
        return tensor._storage.ptr, tensor._offset * tensor._dtype.itemsize

    def empty(self, shape, dtype, device):
        return runtime.empty(tuple(shape), dtype, device)

    def to_host(self, tensor):
        return runtime.read(tensor)


driver = RocmDriver()
