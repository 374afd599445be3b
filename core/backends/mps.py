"""ember.backends.mps: whether an 'mps' device (Apple GPUs, the MLX plugin) is usable here."""

from __future__ import annotations

__all__ = ["is_available", "is_built"]


def is_built() -> bool:
    """True when an 'mps' plugin is registered or installed (nothing is imported to find out)."""
    from ..runtime.device import _known_type
    return _known_type("mps")


def is_available() -> bool:
    """True when the 'mps' plugin is installed, loads, and sees a device: Ember's device registry decides."""
    from ..runtime.device import is_available as _is_available
    return is_built() and _is_available("mps")
