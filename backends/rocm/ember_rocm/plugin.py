"""The rocm plugin: registers device type "rocm" through Ember's plugin hooks.

The plugin registers even where ROCm cannot run, so that ``ember info`` says
why (no hip-python, no HIP runtime, no AMD GPU) and asking for a rocm device
raises an error carrying that reason. Nothing here touches HIP at import.
"""

from __future__ import annotations

import ember
from ember.plugins import API_VERSION, Capabilities, hookimpl

from . import __version__
from .runtime import runtime as _rt

#: Why the generated kernels are missing, when they are (shown by ember info).
generator_error = None


def build_kernels() -> dict:
    """The kernel table: the generator's kernels for every prim, with bmm through hipBLAS."""
    global generator_error
    from ember.dispatch import registry

    from . import blas
    from .kgdriver import driver
    table: dict = {}
    try:
        import ember_kernelgen
        table = dict(ember_kernelgen.build_kernels(driver))
    except Exception as e:  # noqa: BLE001  (the backend still registers; ember info shows why)
        generator_error = f"{type(e).__name__}: {e}"
    if "bmm" in table:
        table["bmm"] = blas.make_bmm(table["bmm"])
    return {k: v for k, v in table.items() if k in registry}


@hookimpl
def ember_register_backends(register):
    _rt.backend = register(
        "rocm", api_version=API_VERSION, runtime=_rt, kernels=build_kernels(),
        capabilities=Capabilities(dtypes=ember.dtypes.all_dtypes, host_memory=False, managed_memory=True,
                                  streams=True, autocast_dtypes=(ember.dtypes.float16, ember.dtypes.bfloat16),
                                  notes=("hip-python (HIP runtime, hiprtc), hipBLAS",)),
    )
    _rt.key = _rt.backend.key.bit


@hookimpl
def ember_info():
    from . import driver as _drv
    facts = {"ember-rocm": __version__}
    try:
        from importlib import metadata
        facts["hip-python"] = metadata.version("hip-python")
    except Exception:  # noqa: BLE001
        facts["hip-python"] = "not installed (pip install hip-python)"
    drv, reason = _drv.probe()
    if drv is None:
        facts["rocm"] = f"unavailable: {reason}"
    else:
        v = drv.version
        facts["runtime"] = f"HIP {v // 10_000_000}.{v // 100_000 % 100}.{v % 100_000}"
        for i in range(drv.count):
            try:
                facts[f"rocm:{i}"] = drv.device(i).describe()
            except Exception as e:  # noqa: BLE001
                facts[f"rocm:{i}"] = f"error: {e}"
    from . import blas
    why = blas.available() if drv is not None else "not loaded (no device)"
    facts["hipblas"] = "loaded" if why is None else why
    facts["generated kernels"] = "ember-kernelgen" if generator_error is None else f"missing: {generator_error}"
    return facts
