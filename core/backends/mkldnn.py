"""ember.backends.mkldnn: PyTorch's oneDNN switches, accepted and ignored (no Ember kernel uses oneDNN)."""

from __future__ import annotations

import contextlib

__all__ = ["is_available", "set_flags", "flags", "enabled", "deterministic"]

enabled = True
deterministic = False


def is_available() -> bool:
    """False: Ember's cpu kernels are numpy and its own pybind11 code, not oneDNN."""
    return False


def set_flags(_enabled=None, _deterministic=None):
    """Set the given flags; return the previous (enabled, deterministic)."""
    global enabled, deterministic
    orig = (enabled, deterministic)
    if _enabled is not None:
        enabled = _enabled
    if _deterministic is not None:
        deterministic = _deterministic
    return orig


@contextlib.contextmanager
def flags(enabled=False, deterministic=False):
    """Set the flags inside the block and restore them after (torch.backends.mkldnn.flags)."""
    orig = set_flags(enabled, deterministic)
    try:
        yield
    finally:
        set_flags(*orig)
