"""HIP C to AMD GPU code objects with hiprtc, cached on disk, loaded as HIP modules.

``compile_source(source, arch)`` runs hiprtc (hip-python's ``hip.hiprtc``) for a
gfx target such as ``gfx90a:sramecc+:xnack-`` (the device's ``gcnArchName``)
and needs no GPU. Code objects are cached by (dialect, target, options, source)
in ``ember_kernelgen.cache.KernelCache``, the same directory the cuda backend's
cubins use, under the target ``<gcnArchName>/hiprtc<version>``.
"""

from __future__ import annotations

import hashlib
import threading

from ember_kernelgen.cache import KernelCache
from ember.errors import BackendLibraryError

BASE_OPTIONS = ("-O3", "-std=c++17")


class CompileError(BackendLibraryError):
    """hiprtc rejected a source: the message carries the compiler's log."""


def _hiprtc():
    try:
        from hip import hiprtc
    except ImportError as e:
        raise CompileError(f"hip-python's hiprtc bindings are not installed ({e}); pip install hip-python") from None
    return hiprtc


def _ok(res, what: str):
    err = res[0] if isinstance(res, tuple) else res
    if int(err):
        raise CompileError(f"{what} failed: {err}")
    if isinstance(res, tuple) and len(res) > 1:
        return res[1] if len(res) == 2 else res[1:]
    return None


_version = None


def hiprtc_version() -> tuple:
    global _version
    if _version is None:
        v = _ok(_hiprtc().hiprtcVersion(), "hiprtcVersion")
        _version = (int(v[0]), int(v[1]))
    return _version


def compile_source(source: str, arch: str, options=(), name: str = "ember_kernels.hip") -> bytes:
    """hiprtc: ``source`` to a code object for ``arch`` (a gfx target, features allowed)."""
    rtc = _hiprtc()
    opts = [f"--offload-arch={arch}", *BASE_OPTIONS, *options]
    prog = _ok(rtc.hiprtcCreateProgram(source.encode(), name.encode(), 0, [], []), "hiprtcCreateProgram")
    try:
        res = rtc.hiprtcCompileProgram(prog, len(opts), [o.encode() for o in opts])
        if int(res[0] if isinstance(res, tuple) else res):
            n = _ok(rtc.hiprtcGetProgramLogSize(prog), "hiprtcGetProgramLogSize")
            log = bytearray(n)
            rtc.hiprtcGetProgramLog(prog, log)
            lines = source.splitlines()
            raise CompileError(
                f"hiprtc could not compile {name} for {arch} (options {' '.join(opts)}):\n"
                f"{bytes(log).rstrip(b' ').rstrip(bytes(1)).decode(errors='replace')}\n"
                f"-- source ({len(lines)} lines) --\n"
                + "\n".join(f"{i + 1:4d} {ln}" for i, ln in enumerate(lines[:400])))
        n = _ok(rtc.hiprtcGetCodeSize(prog), "hiprtcGetCodeSize")
        code = bytearray(n)
        _ok(rtc.hiprtcGetCode(prog, code), "hiprtcGetCode")
        return bytes(code)
    finally:
        rtc.hiprtcDestroyProgram(prog)


_cache = None
stats = {"compiled": 0, "cache_hits": 0}


def cache() -> KernelCache:
    global _cache
    if _cache is None:
        _cache = KernelCache()
    return _cache


def cached_binary(source: str, arch: str, options=(), build=None) -> bytes:
    """The code object of ``source`` for ``arch``: from the disk cache, else compiled and stored.

    ``build`` (tests) replaces hiprtc: ``build(source, arch, options) -> bytes``."""
    options = tuple(options)
    build = build or compile_source
    target = f"{arch}/hiprtc{'.'.join(map(str, hiprtc_version()))}" if build is compile_source else arch
    return cache().fetch("hip", target, source, options, lambda: build(source, arch, options), stats)


_modules_lock = threading.Lock()
_modules: dict = {}   # (device index, sha of image) -> hipModule_t (loaded for the life of the process)


def load(drv, device_index: int, image: bytes, names) -> dict:
    """Load ``image`` on ``device_index``; {name: hipFunction_t address}."""
    key = (device_index, hashlib.sha256(image).hexdigest())
    with _modules_lock:
        mod = _modules.get(key)
        if mod is None:
            drv.set_device(device_index)
            mod = _modules[key] = drv.module_load(image)
    return {n: drv.module_function(mod, n) for n in names}
