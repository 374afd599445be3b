"""The xpu plugin: registers device type "xpu" (OpenCL through pyopencl) through Ember's plugin hooks."""

from __future__ import annotations

import os

from ember.plugins import API_VERSION, Capabilities, hookimpl
from ember import dtypes as D

from . import __version__, runtime as _rt


def _kernel_table():
    """(kernel table, note): ember_kernelgen's kernels rendered in OpenCL C, or none and why."""
    try:
        from .kernels import build
        return build(), None
    except ImportError as e:
        return {}, f"no kernels: {e} (pip install ember-kernelgen)"
    except Exception as e:  # noqa: BLE001  (the device still holds and copies tensors)
        return {}, f"no kernels: building the kernel table failed: {type(e).__name__}: {e}"


@hookimpl
def ember_register_backends(register):
    rt = _rt.runtime
    if not rt.initialised:
        rt.init()
    kernels, note = _kernel_table()
    notes = tuple(d.describe() for d in rt.devices) + ((note,) if note else ())
    _rt.backend = register(
        "xpu", api_version=API_VERSION, runtime=rt, kernels=kernels,
        capabilities=Capabilities(dtypes=rt.dtypes(), managed_memory=_rt._core_allocate is not None,
                                  streams=True, notes=notes,
                                  autocast_dtypes=tuple(d for d in (D.float16, D.bfloat16) if d in rt.dtypes())),
    )
    _rt._KEY = _rt.backend.key.bit


@hookimpl
def ember_info():
    rt = _rt.runtime
    info = {"ember-xpu": __version__}
    if _rt.cl is None:
        info["pyopencl"] = f"not importable: {_rt._IMPORT_ERROR}"
    else:
        info["pyopencl"] = _rt.cl.VERSION_TEXT
    info[_rt.PLATFORM_ENV] = os.environ.get(_rt.PLATFORM_ENV) or "(unset: Intel GPUs only)"
    for d in rt.devices:
        info[f"xpu:{d.index}"] = d.describe(full=True)
        info[f"xpu:{d.index} memory"] = (f"{d.total >> 20} MiB, largest buffer {d.max_alloc >> 20} MiB, "
                                         f"cl_khr_fp64 {'yes' if d.fp64 else 'no (no float64)'}, "
                                         f"cl_khr_fp16 {'yes' if d.fp16 else 'no'} (float16 computes in float32)")
    if not rt.devices:
        info["unavailable"] = rt.reason
    try:
        from .kernels import _pyclblast, gemm_engine
        cb = _pyclblast()
        engine = gemm_engine()
        info["GEMM"] = ("CLBlast through pyclblast (float32, float64)" if engine == "clblast" else
                        "the generator's kernels, their tile measured per device at its first bmm"
                        + ("; EMBER_XPU_GEMM=clblast runs CLBlast" if cb else ""))
    except Exception:  # noqa: BLE001  (must not raise)
        pass
    try:
        from ember_kernelgen import cache_dir
        info["kernel cache"] = str(cache_dir())
    except Exception:  # noqa: BLE001  (must not raise)
        pass
    return info


def rebind(platform=None):
    """Select the OpenCL devices again (``platform``: as EMBER_XPU_PLATFORM; None reads it).

    For tests and interactive sessions that set the platform after the plugin
    loaded; call it before any xpu tensor exists. Returns the runtime.
    """
    from dataclasses import replace
    rt = _rt.runtime.init(platform)
    if _rt.backend is not None:
        _rt.backend.capabilities = replace(
            _rt.backend.capabilities, dtypes=rt.dtypes(),
            notes=tuple(d.describe() for d in rt.devices) + tuple(
                n for n in _rt.backend.capabilities.notes if n.startswith("no kernels")))
    return rt
