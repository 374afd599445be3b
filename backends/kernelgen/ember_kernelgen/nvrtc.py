"""Compile CUDA-dialect sources with NVRTC (cuda-bindings + nvidia-cuda-nvrtc; no GPU needed).

Used by the tests to check every kernel the generator emits, and usable by the cuda backend.
"""

from __future__ import annotations
from ember.errors import InvalidArgumentError


def available() -> str | None:
    """None when NVRTC can be used, else the reason."""
    try:
        from cuda.bindings import nvrtc
        err, *_ = nvrtc.nvrtcVersion()
        if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
            return f"nvrtcVersion failed: {err}"
    except Exception as e:  # ImportError, or the library not found
        return f"NVRTC unavailable ({type(e).__name__}: {e}); pip install cuda-bindings nvidia-cuda-nvrtc"
    return None


def compile_ptx(source: str, arch: str = "compute_90", options=(), name: str = "kernels.cu") -> bytes:
    """PTX for ``source``; RuntimeError with NVRTC's log when it does not compile."""
    from cuda.bindings import nvrtc
    err, prog = nvrtc.nvrtcCreateProgram(source.encode(), name.encode(), 0, [], [])
    _check(nvrtc, err, "nvrtcCreateProgram")
    try:
        opts = [f"--gpu-architecture={arch}".encode(), b"-default-device"] + [o.encode() for o in options]
        (res,) = nvrtc.nvrtcCompileProgram(prog, len(opts), opts)
        if res != nvrtc.nvrtcResult.NVRTC_SUCCESS:
            err, n = nvrtc.nvrtcGetProgramLogSize(prog)
            log = b" " * n
            nvrtc.nvrtcGetProgramLog(prog, log)
            raise InvalidArgumentError(f"NVRTC could not compile {name}:\n{log.decode(errors='replace')}")
        err, n = nvrtc.nvrtcGetPTXSize(prog)
        _check(nvrtc, err, "nvrtcGetPTXSize")
        ptx = b" " * n
        (err,) = nvrtc.nvrtcGetPTX(prog, ptx)
        _check(nvrtc, err, "nvrtcGetPTX")
        return ptx
    finally:
        nvrtc.nvrtcDestroyProgram(prog)


def _check(nvrtc, err, what):
    if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
        raise InvalidArgumentError(f"{what} failed: {err}")
