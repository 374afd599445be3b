"""The xla plugin: registers device type "xla" through Ember's plugin hooks."""

from __future__ import annotations

import ember
from ember.plugins import API_VERSION, Capabilities, hookimpl

from . import __version__
from . import runtime as _rt


@hookimpl
def ember_register_backends(register):
    import jax

    from .kernels import KERNELS
    _rt.backend = register(
        "xla", api_version=API_VERSION, runtime=_rt.runtime, kernels=KERNELS,
        capabilities=Capabilities(
            dtypes=ember.dtypes.all_dtypes + ember.dtypes.complex_dtypes,
            autocast_dtypes=(ember.bfloat16, ember.float16),
            notes=(f"jax {jax.__version__}", "int64/float64/complex128 through a per-call x64 scope",
                   "eager, or lazy with ember_xla.lazy()")),
    )
    _rt._KEY = _rt.backend.key.bit


@hookimpl
def ember_register_graph_lowerings(register):
    from .compile import lower_jit
    register("xla", "jit", lower_jit)


@hookimpl
def ember_info():
    try:
        import jax
        import jaxlib
        devs = ", ".join(f"{d.platform}:{d.id}" for d in jax.devices())
        return {"jax": jax.__version__, "jaxlib": jaxlib.__version__, "PJRT devices": devs,
                "ember-xla": __version__}
    except Exception as e:  # noqa: BLE001  (ember info must not raise)
        return {"jax": f"unavailable: {type(e).__name__}: {e}", "ember-xla": __version__}
