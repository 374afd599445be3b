"""ember_kernelgen's Driver for OpenCL: compile (cached on disk), launch, buffers, queues.

kernelgen renders every kernel in OpenCL C and does the host side (argument
packing, launch sizes, fast paths); this module is the small part that talks
to pyopencl.
"""

from __future__ import annotations

import numpy as np

from . import runtime as _rt
from ember.errors import InvalidArgumentError

cl = _rt.cl

#: signature character -> numpy scalar type (None: a cl.Buffer)
_ARG_DTYPES = {"p": None, "q": np.int64, "i": np.int32, "I": np.uint32, "f": np.float32, "d": np.float64}


def _limits_type():
    from ember_kernelgen.driver import DeviceLimits
    return DeviceLimits


class OpenCLDriver:
    """The Driver protocol of ember_kernelgen.driver, on pyopencl."""

    dialect = "opencl"
    #: OpenCL runtimes pay mostly per program (pocl: ~0.2 s to build one, ~2.5 ms more per kernel
    #: in it), so kernelgen compiles each kernel's family of variants in one program
    bundle = True

    def __init__(self, rt=None):
        self.rt = rt or _rt.runtime
        self._cache = None
        self._own_cache: dict = {}   # device index -> whether the runtime caches source builds itself

    # -- facts -----------------------------------------------------------------
    def limits(self, device):
        d = self.rt.dev(device.index)
        c = d.cl
        max_block = 1
        while max_block * 2 <= min(int(c.max_work_group_size), 256):
            max_block *= 2
        cpu = d.cpu
        warp = 1 if cpu else 16 if "intel" in c.vendor.lower() else 32
        units = int(c.max_compute_units)
        if cpu:
            # A CPU OpenCL runtime (pocl) runs each work-group as a vectorized loop over its
            # work-items, and a loop inside a work-item defeats that. So 1-D launches cover their
            # elements in one pass (one_pass), and the launches still sized by compute_units (the
            # reductions' passes) ask for 64x more groups: the work-groups, not the hardware threads,
            # are the units (on pocl, add over 2**24 float32 took ~400 ms with 128 groups, ~38 ms
            # with 4096 and 12 ms in one pass).
            units *= 64
        return _limits_type()(max_block=max_block, warp=warp, local_mem=int(c.local_mem_size),
                              compute_units=units, fp64=d.fp64, one_pass=cpu)

    def target(self, d):
        """What a compiled binary depends on besides source and options."""
        c = d.cl
        return f"{d.platform.name.strip()}|{d.platform.version.strip()}|{c.name.strip()}|{c.driver_version.strip()}"

    def tune_key(self, device) -> str:
        """The name kernelgen stores this device's measured GEMM tile and reduction kernels under
        (ember_kernelgen.gemm, ember_kernelgen.reduction)."""
        return self.target(self.rt.dev(device.index))

    def caches_builds(self, d) -> bool:
        """Whether d's runtime caches programs built from source itself (pyopencl's verdict: pocl,
        NVIDIA). Then Ember keeps no binaries of its own: on pocl, asking for a program's binary
        generates the machine code of every kernel in it, where a launch generates only its own."""
        own = self._own_cache.get(d.index)
        if own is None:
            from pyopencl.characterize import has_src_build_cache
            own = self._own_cache[d.index] = bool(has_src_build_cache(d.cl))
        return own

    # -- programs ----------------------------------------------------------------
    def compile(self, source, signatures, options, device):
        d = self.rt.dev(device.index)
        options = tuple(options)
        if self.caches_builds(d):
            try:
                prg = cl.Program(d.ctx, source).build(options=list(options))
            except cl.Error as e:
                raise InvalidArgumentError(f"OpenCL compilation failed on {d.name}:\n{e}") from None
            return self._kernels(prg, signatures)
        if self._cache is None:
            from ember_kernelgen.cache import KernelCache
            self._cache = KernelCache()
        target = self.target(d)
        prg = None
        binary = self._cache.get("opencl", target, source, options)
        if binary is not None:
            try:
                prg = cl.Program(d.ctx, [d.cl], [binary]).build(options=list(options))
            except Exception:  # noqa: BLE001  (a stale or foreign binary: rebuild from source)
                prg = None
        if prg is None:
            try:
                prg = cl.Program(d.ctx, source).build(options=list(options))
            except cl.Error as e:
                raise InvalidArgumentError(f"OpenCL compilation failed on {d.name}:\n{e}") from None
            try:
                binaries = prg.get_info(cl.program_info.BINARIES)
                if binaries and binaries[0]:
                    self._cache.put("opencl", target, source, options, bytes(binaries[0]))
            except Exception:  # noqa: BLE001  (the cache is an optimisation only)
                pass
        return self._kernels(prg, signatures)

    @staticmethod
    def _kernels(prg, signatures):
        kernels = {}
        for name, sig in signatures.items():
            k = cl.Kernel(prg, name)
            k.set_scalar_arg_dtypes([_ARG_DTYPES[ch] for ch in sig])
            kernels[name] = k
        return kernels

    def launch(self, kernel, grid, block, args, stream):
        stream.last = kernel(stream.q, (grid[0] * block[0], grid[1] * block[1], grid[2] * block[2]), block, *args)

    # -- memory and queues ---------------------------------------------------------
    def stream(self, device):
        cs = _rt._current_stream
        if cs is not None:
            return cs(device).handle
        return self.rt.dev(device.index).stream

    def buffer(self, tensor):
        st = tensor._storage
        return st.buf, st.base + tensor._offset * tensor._dtype.itemsize

    def empty(self, shape, dtype, device):
        return self.rt.empty(tuple(shape), dtype, device)

    def to_host(self, tensor):
        # kernelgen reads back only flags, bounds and counts (one element): see XpuRuntime.read_small
        return self.rt.read_small(tensor)


driver = OpenCLDriver()
