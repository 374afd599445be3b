"""The mps plugin: registers device type "mps" through Ember's plugin hooks."""

from __future__ import annotations

import ember
from ember.plugins import API_VERSION, Capabilities, hookimpl

from . import __version__

_MISSING = None   # why MLX could not be imported, or None


class _NoMlxRuntime:
    """The runtime where MLX is missing: no devices, and the reason."""

    def device_count(self) -> int:
        return 0

    def is_available(self) -> bool:
        return False

    def unavailable_reason(self):
        return _MISSING


def _mlx_missing_reason(e) -> str:
    return (f"MLX is not installed or failed to import ({type(e).__name__}: {e}); install it with "
            f"pip install mlx (macOS on Apple silicon) or pip install 'mlx[cpu]' (Linux x86-64)")


@hookimpl
def ember_register_backends(register):
    global _MISSING
    try:
        import mlx.core as mx
    except ImportError as e:
        _MISSING = _mlx_missing_reason(e)
        register("mps", api_version=API_VERSION, runtime=_NoMlxRuntime(), kernels={},
                 capabilities=Capabilities(dtypes=(), notes=("MLX missing",)))
        return
    from . import runtime as _rt
    from .kernels import KERNELS
    where = "Metal" if _rt.METAL else "MLX's CPU build (no Metal)"
    _rt.backend = register(
        "mps", api_version=API_VERSION, runtime=_rt.runtime, kernels=KERNELS,
        capabilities=Capabilities(
            dtypes=_rt.DTYPES, autocast_dtypes=(ember.float16, ember.bfloat16),
            notes=(f"mlx {mx.__version__} on {where}",
                   "float64 on MLX's CPU only" if not _rt.METAL else "no float64 (Metal has none)")),
    )
    _rt._KEY = _rt.backend.key.bit


@hookimpl
def ember_info():
    try:
        import mlx.core as mx
    except ImportError as e:
        return {"mlx": f"unavailable: {_mlx_missing_reason(e)}", "ember-mps": __version__}
    try:
        metal = mx.metal.is_available()
        name = mx.device_info().get("device_name", "?")
        runs_on = f"Metal ({name})" if metal else f"MLX's CPU build, no Metal ({name})"
        return {"mlx": mx.__version__, "runs on": runs_on, "ember-mps": __version__}
    except Exception as e:  # noqa: BLE001  (ember info must not raise)
        return {"mlx": f"{getattr(mx, '__version__', '?')}: {type(e).__name__}: {e}", "ember-mps": __version__}
