"""CUDA C to device code with NVRTC, cached on disk, loaded as driver modules.

``compile_cubin(source, arch, options)`` runs NVRTC (cuda-python's
``cuda.bindings.nvrtc``) and needs no GPU, so it is tested anywhere NVRTC is
installed. Binaries are cached on disk by (dialect, target, options, source)
with ``ember_kernelgen.cache.KernelCache`` when the generator is installed
(the same files the other GPU backends use), else in the same layout here.
``load(device_index, image, names)`` loads a module into the device's
primary context and returns its functions.
"""

from __future__ import annotations

import hashlib
import os
import threading
from ember.errors import BackendLibraryError

BASE_OPTIONS = ("--std=c++17",)


class CompileError(BackendLibraryError):
    """NVRTC rejected a source: the message carries the compiler's log."""


_checked = False


def _nvrtc():
    global _checked
    try:
        from cuda.bindings import nvrtc
    except ImportError as e:
        raise CompileError(f"cuda-python's NVRTC bindings are not installed ({e}); "
                           f"pip install cuda-bindings nvidia-cuda-nvrtc") from None
    if not _checked:
        try:
            nvrtc.nvrtcVersion()
        except Exception:  # noqa: BLE001  (cuda-python did not find libnvrtc: load it from where we know)
            if preload("nvrtc"):
                nvrtc.nvrtcVersion()
        _checked = True
    return nvrtc


def library_candidates(name: str):
    """Paths of lib<name>.so.13/.12 in nvidia wheels on sys.path and in CUDA toolkits, most likely first."""
    import glob
    import sys
    seen = []
    for d in sys.path:
        for sub in ("nvidia/cu13/lib", f"nvidia/cuda_{name}/lib", f"nvidia/{name}/lib", "nvidia/cu12/lib"):
            seen += sorted(glob.glob(os.path.join(d or ".", sub, f"lib{name}.so.1[23]")))
    roots = [os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda",
             *sorted(glob.glob("/usr/local/cuda-*"), reverse=True)]
    for r in roots:
        if r:
            for sub in ("targets/x86_64-linux/lib", "lib64", "lib"):
                seen += sorted(glob.glob(os.path.join(r, sub, f"lib{name}.so.1[23]")))
    out = []
    for p in seen:
        if p not in out and os.path.exists(p):
            out.append(p)
    return out


def preload(name: str) -> str | None:
    """Load lib<name> globally from a known place (so cuda-python finds it already loaded); its path, or None."""
    import ctypes
    for p in library_candidates(name):
        try:
            ctypes.CDLL(p, mode=ctypes.RTLD_GLOBAL)
            return p
        except OSError:
            continue
    return None


def _ok(res, what: str, prog=None):
    err = res[0] if isinstance(res, tuple) else res
    if int(err):
        nv = _nvrtc()
        try:
            name = nv.nvrtcGetErrorString(err)[1].decode()
        except Exception:  # noqa: BLE001
            name = str(err)
        raise CompileError(f"{what} failed: {name}")
    if isinstance(res, tuple):
        return res[1] if len(res) == 2 else res[1:]
    return None


_version = None


def nvrtc_version() -> tuple:
    global _version
    if _version is None:
        v = _ok(_nvrtc().nvrtcVersion(), "nvrtcVersion")
        _version = (int(v[0]), int(v[1]))
    return _version


_archs = None


def supported_archs() -> list:
    """The sm_XY numbers this NVRTC can build cubins for, as ints (90 for sm_90)."""
    global _archs
    if _archs is None:
        nv = _nvrtc()
        n = _ok(nv.nvrtcGetNumSupportedArchs(), "nvrtcGetNumSupportedArchs")
        _archs = [int(a) for a in _ok(nv.nvrtcGetSupportedArchs(), "nvrtcGetSupportedArchs")][:n]
    return _archs


def target_for(arch: str) -> tuple:
    """(architecture option, kind) for a device arch "sm_90": a cubin when NVRTC knows the arch,
    else PTX for the newest virtual arch it knows below it (the driver finishes it)."""
    want = int(arch[3:])
    archs = supported_archs()
    if want in archs:
        return f"--gpu-architecture=sm_{want}", "cubin"
    below = [a for a in archs if a <= want]
    best = max(below) if below else min(archs)
    return f"--gpu-architecture=compute_{best}", "ptx"


def compile_source(source: str, arch: str, options=(), name: str = "ember_kernels.cu") -> bytes:
    """NVRTC: ``source`` to a cubin (or PTX, see target_for) for ``arch`` like "sm_90"."""
    nv = _nvrtc()
    arch_opt, kind = target_for(arch)
    opts = [arch_opt, *BASE_OPTIONS, *options]
    prog = _ok(nv.nvrtcCreateProgram(source.encode(), name.encode(), 0, [], []), "nvrtcCreateProgram")
    try:
        res = nv.nvrtcCompileProgram(prog, len(opts), [o.encode() for o in opts])
        err = res[0] if isinstance(res, tuple) else res
        if int(err):
            size = _ok(nv.nvrtcGetProgramLogSize(prog), "nvrtcGetProgramLogSize")
            log = b" " * size
            nv.nvrtcGetProgramLog(prog, log)
            text = log.rstrip(b"\0 ").decode(errors="replace")
            lines = source.splitlines()
            raise CompileError(f"NVRTC could not compile {name} for {arch} (options {' '.join(opts)}):\n{text}\n"
                               f"-- source ({len(lines)} lines) --\n" + "\n".join(
                                   f"{i + 1:4d} {ln}" for i, ln in enumerate(lines[:400])))
        if kind == "cubin":
            size = _ok(nv.nvrtcGetCUBINSize(prog), "nvrtcGetCUBINSize")
            buf = b" " * size
            _ok(nv.nvrtcGetCUBIN(prog, buf), "nvrtcGetCUBIN")
        else:
            size = _ok(nv.nvrtcGetPTXSize(prog), "nvrtcGetPTXSize")
            buf = b" " * size
            _ok(nv.nvrtcGetPTX(prog, buf), "nvrtcGetPTX")
        return bytes(buf)
    finally:
        nv.nvrtcDestroyProgram(prog)


# -- the disk cache ---------------------------------------------------------------------

_cache = None


def cache():
    """The disk cache of compiled kernels, shared with every kernelgen backend (ember_kernelgen.cache)."""
    global _cache
    if _cache is None:
        from ember_kernelgen.cache import KernelCache
        _cache = KernelCache()
    return _cache


stats = {"compiled": 0, "cache_hits": 0}


def cache_target(arch: str) -> str:
    """The cache's target name: the architecture and the NVRTC that built for it."""
    return f"{arch}/nvrtc{'.'.join(map(str, nvrtc_version()))}"


def cached_binary(source: str, arch: str, options=()) -> bytes:
    """The device code of ``source`` for ``arch``: from the disk cache, else compiled and stored."""
    options = tuple(options)
    return cache().fetch("cuda", cache_target(arch), source, options,
                         lambda: compile_source(source, arch, options), stats)


# -- modules -----------------------------------------------------------------------------

_modules_lock = threading.Lock()
_modules: dict = {}   # (device index, sha of image) -> CUmodule (kept loaded for the process)


def load(drv, device_index: int, image: bytes, names) -> dict:
    """Load ``image`` into ``device_index``'s primary context; {name: CUfunction handle (int)}."""
    import ctypes
    key = (device_index, hashlib.sha256(image).hexdigest())
    with _modules_lock:
        mod = _modules.get(key)
        if mod is None:
            drv.set_device(device_index)
            data = image if image.endswith(b"\0") else image + b"\0"  # PTX must be NUL-terminated
            buf = ctypes.create_string_buffer(data, len(data))
            try:
                mod = drv._call("cuModuleLoadData", ctypes.addressof(buf))
            except TypeError:   # a cuda-python that wants a buffer object, not an address
                mod = drv._call("cuModuleLoadData", data)
            _modules[key] = mod
    out = {}
    for n in names:
        f = drv._call("cuModuleGetFunction", mod, n.encode())
        out[n] = int(f)
    return out
