"""The host-side contract between ember_kernelgen and a GPU backend.

A backend (cuda, rocm, xpu) implements one small ``Driver``; kernelgen does the
rest once for all of them: it renders kernel sources in the driver's dialect,
packs shapes, strides and offsets, picks contiguous fast paths, computes launch
sizes, and returns the kernel table {operator name: kernel} through
``ember_kernelgen.build_kernels(driver)``.

Arguments
---------
Every kernel's parameter list is described by a *signature*: a string with one
character per parameter, in order:

    'p'  a device buffer: the handle ``Driver.buffer(tensor)`` returned (a CUdeviceptr
         int, a hipDeviceptr, a pyopencl.Buffer ...); always followed by a 'q' parameter,
         the byte offset of the tensor's first element in that buffer (kernelgen adds it
         in the kernel, so sub-allocated blocks and views need no sub-buffers)
    'q'  int64          'i'  int32          'I'  uint32
    'f'  float32        'd'  float64

``launch`` receives ``args`` as a tuple of plain Python values (ints, floats, and
the opaque buffer handles) matching the signature given to ``compile`` for that
kernel; the driver converts them (pyopencl: ``kernel.set_scalar_arg_dtypes`` with
None for 'p'; cuda-python: ctypes per character, or a cached argument buffer).
float16 and bfloat16 tensors live in buffers as 16-bit words; their scalars are
passed as 'f' (float32), bool and integer scalars as 'q'.

Launch sizes
------------
``grid`` is the number of blocks (work-groups) per dimension, ``block`` the
threads (work-items) per block, both 3-tuples: CUDA/HIP pass them as they are;
OpenCL's global size is grid[i] * block[i]. kernelgen never asks for more than
``limits.max_block`` threads per block, nor a grid y or z above 65535, and uses
only static shared (``__local``) memory, at most ``limits.local_mem`` bytes.

Programs
--------
``compile(source, signatures, options, device)`` compiles one source holding one or
more ``__global__``/``__kernel`` entry points (``extern "C"`` in CUDA/HIP, so names
are not mangled) and returns a mapping name -> kernel handle for ``launch``. The
driver adds what its toolchain needs (CUDA: ``--gpu-architecture``; OpenCL: nothing
beyond ``options``) and caches compiled binaries on disk by source hash with
``ember_kernelgen.cache.KernelCache`` (key: dialect, target, source, options).
kernelgen caches the returned handles in memory per (device, kernel name), so compile
is called once per distinct kernel per process.

A driver whose class sets ``bundle = True`` (optional; false when absent) is asked
for each kernel's *family* instead (``families.py``: the other operand modes, ranks
and passes of the same operator and dtypes), all in one source, the first time any
member is needed: for runtimes that pay mostly per program (pocl builds a program in
about 0.2 s, plus about 2.5 ms per kernel in it). If that source does not compile,
its kernels are compiled one by one. Without it (cuda: ``ember_cuda.warm`` batches
NVRTC ahead of time, under each kernel's own source) every kernel is one program
whose source is ``render(desc, dialect)``.

Tuning
------
A driver may also define ``tune_key(device) -> str``: a name for the device (with its runtime and
driver versions) under which measurements of it are stored. kernelgen then chooses the device's
GEMM kernel and tile by timing a few candidates the first time a bmm runs there, and its reduction
kernels (GPU- or CPU-shaped) the first time a reduction runs there, and keeps the choices on disk
(``gemm.py``, ``reduction.py``). It times them through ``launch`` and ``to_host`` alone. Without it,
bmm runs the GPU-shaped tiled kernel and reductions the GPU-shaped trees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

__all__ = ["Driver", "DeviceLimits", "DIALECTS", "SIGNATURE_CODES"]

DIALECTS = ("cuda", "hip", "opencl")

#: signature character -> numpy dtype name of the scalar (None: a buffer handle)
SIGNATURE_CODES = {"p": None, "q": "int64", "i": "int32", "I": "uint32", "f": "float32", "d": "float64"}


@dataclass(frozen=True)
class DeviceLimits:
    """What kernelgen needs to know about one device to size its launches.

    max_block:     threads per block (work-items per work-group) kernelgen may use; a power of two
    warp:          SIMD width, the device's (CUDA warp 32; AMD wavefront 64 on CDNA, 32 on RDNA; an OpenCL
                   sub-group, 1 on pocl); no kernel depends on it (see the README)
    local_mem:     bytes of static shared/local memory one block may use
    compute_units: SMs / CUs; sizes grid-stride loops and the first pass of large reductions
    fp64:          float64 kernels may be compiled (False: kernelgen raises DTypeError for them)
    one_pass:      1-D launches cover their elements in one pass, as many groups as that takes, where
                   other devices loop grid-stride over about compute_units * 64 groups: a CPU OpenCL
                   runtime (pocl) runs each work-group as a vectorized loop over its work-items, which a
                   loop inside a work-item defeats, and walks the groups in order, so that one pass reads
                   memory front to back where a grid-stride loop jumps (add over 2**24 float32 on pocl,
                   one thread: 12 ms in one pass, 18 ms grid-stride, numpy 14 ms)
    """

    max_block: int = 256
    warp: int = 32
    local_mem: int = 48 * 1024
    compute_units: int = 1
    fp64: bool = True
    one_pass: bool = False


@runtime_checkable
class Driver(Protocol):
    """What a GPU backend gives kernelgen. Every method may be called on the hot path except compile."""

    #: "cuda" | "hip" | "opencl": which rendering of the kernels compile() receives
    dialect: str

    def limits(self, device) -> DeviceLimits:
        """The limits of ``device`` (an ember.Device); called once per device and cached."""

    def compile(self, source: str, signatures: Mapping[str, str], options: Sequence[str],
                device) -> Mapping[str, Any]:
        """Compile ``source`` for ``device``; return {kernel name: handle} for each name in signatures.

        signatures maps each entry point to its argument signature (see the module docstring).
        Raise RuntimeError with the compiler's log when compilation fails.
        """

    def launch(self, kernel, grid: tuple, block: tuple, args: tuple, stream) -> None:
        """Enqueue ``kernel`` on ``stream`` (asynchronously); args match its signature."""

    def stream(self, device) -> Any:
        """The stream (queue) kernels for ``device`` must be launched on now (ember.current_stream)."""

    def buffer(self, tensor) -> tuple:
        """(buffer handle, byte offset of tensor's element 0) for a tensor of this backend.

        The byte offset includes the allocation's offset into its block and
        tensor._offset * itemsize; it is a multiple of the itemsize.
        """

    def empty(self, shape: tuple, dtype, device):
        """A new contiguous tensor of this backend (uninitialised)."""

    def to_host(self, tensor):
        """A numpy copy of a (small) tensor, after the work queued before it: used for index
        bounds checks and for output sizes that depend on data (nonzero)."""
