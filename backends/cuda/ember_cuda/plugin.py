"""The cuda plugin: registers device type "cuda" through Ember's plugin hooks.

The plugin registers even where CUDA cannot run, so that ``ember info`` says
why (no driver, no device, no cuda-python) and asking for a cuda device raises
an error carrying that reason. Nothing here touches the driver at import.
"""

from __future__ import annotations

import ember
from ember.plugins import API_VERSION, Capabilities, hookimpl

from . import __version__, runtime as _rt

#: Why the generated kernels are missing, when they are (shown by ember info).
generator_error = None


def build_kernels() -> dict:
    """The kernel table: the generator's kernels for every prim, this backend's fast paths, cuBLAS."""
    global generator_error
    from . import ops
    from .kgdriver import driver
    generated: dict = {}
    try:
        import ember_kernelgen
        generated = dict(ember_kernelgen.build_kernels(driver))
    except Exception as e:  # noqa: BLE001  (the backend still registers; ember info shows why)
        generator_error = f"{type(e).__name__}: {e}"
    table = ops.build(generated, lambda: driver.launcher)
    from ember.dispatch import registry
    return {k: v for k, v in table.items() if k in registry}


@hookimpl
def ember_register_backends(register):
    kernels = build_kernels()
    _rt.backend = register(
        "cuda", api_version=API_VERSION, runtime=_rt.runtime, kernels=kernels,
        capabilities=Capabilities(dtypes=ember.dtypes.all_dtypes, host_memory=False, managed_memory=True,
                                  streams=True, autocast_dtypes=(ember.float16, ember.bfloat16),
                                  notes=("cuda-python driver API, NVRTC, cuBLAS",)),
    )
    _rt._KEY = _rt.backend.key.bit
    _rt.runtime.module_attributes = _GraphNames()


class _GraphNames:
    """``ember.cuda``'s graph API (ember_cuda.graphs), imported on the first lookup."""

    names = ("CUDAGraph", "graph", "graph_pool_handle", "make_graphed_callables", "is_current_stream_capturing")

    def __contains__(self, name):
        return name in self.names

    def __getitem__(self, name):
        from . import graphs
        return getattr(graphs, name)


@hookimpl
def ember_register_graph_lowerings(register):
    """"cudagraphs": a compiled graph captured into one CUDA graph (ember.compile(mode="reduce-overhead"))."""
    from .graph_lowering import lower_cudagraphs
    register("cuda", "cudagraphs", lower_cudagraphs)


@hookimpl
def ember_info():
    from . import driver as _drv
    facts = {"ember-cuda": __version__}
    try:
        from importlib import metadata
        facts["cuda-python"] = metadata.version("cuda-bindings")
    except Exception:  # noqa: BLE001
        facts["cuda-python"] = "not installed (pip install cuda-bindings)"
    drv, reason = _drv.probe()
    if drv is None:
        facts["cuda"] = f"unavailable: {reason}"
    else:
        v = drv.version
        facts["driver"] = f"CUDA {v // 1000}.{v % 1000 // 10}"
        for i in range(drv.count):
            try:
                d = drv.device(i)
                facts[f"cuda:{i}"] = f"{d.name}, {d.arch}, {d.sm_count} SMs, {d.total_memory / 2**30:.1f} GiB"
            except Exception as e:  # noqa: BLE001
                facts[f"cuda:{i}"] = f"error: {e}"
    try:
        from . import compiler
        facts["nvrtc"] = ".".join(map(str, compiler.nvrtc_version()))
    except Exception as e:  # noqa: BLE001
        facts["nvrtc"] = f"unavailable: {e}"
    facts["generated kernels"] = "ember-kernelgen" if generator_error is None else f"missing: {generator_error}"
    from .launch import native
    facts["launch path"] = "native extension" if native() is not None else "ctypes (pure Python)"
    return facts
