"""Ember's xla backend: device type "xla" on JAX and XLA (PJRT).

``ember_xla.lazy()`` records operations and runs them as one compiled
computation at sync points; ``mark_step()`` is an explicit sync point.
``to_jax``/``from_jax`` and ``to_dlpack``/``from_dlpack`` exchange arrays with
JAX and other DLPack libraries without copies where JAX allows it.
"""

__version__ = "0.1.0"

from ._state import is_lazy, lazy, mark_step  # noqa: E402
from .interop import from_dlpack, from_jax, to_dlpack, to_jax  # noqa: E402
from ._engine import stats  # noqa: E402

__all__ = ["lazy", "mark_step", "is_lazy", "to_jax", "from_jax", "to_dlpack", "from_dlpack", "stats"]
