"""ember.backends.cudnn: PyTorch's cuDNN switches, kept as attributes (no Ember backend uses cuDNN).

``benchmark``, ``deterministic``, ``enabled`` and ``allow_tf32`` have PyTorch's defaults and can be set
and read back; ``flags()`` sets them for a ``with`` block and restores them after, as torch's does.
"""

from __future__ import annotations

import contextlib

__all__ = ["is_available", "version", "is_acceptable", "set_flags", "flags", "enabled", "benchmark",
           "benchmark_limit", "deterministic", "allow_tf32"]

enabled = True
benchmark = False
deterministic = False
allow_tf32 = True
#: None, as torch reports it where cuDNN is not available.
benchmark_limit = None


def is_available() -> bool:
    """False: no Ember backend runs cuDNN."""
    return False


def version():
    """None, as torch reports without cuDNN."""
    return None


def is_acceptable(tensor) -> bool:
    """Whether cuDNN could take ``tensor``: never, as nothing here runs it."""
    return False


def set_flags(_enabled=None, _benchmark=None, _benchmark_limit=None, _deterministic=None, _allow_tf32=None):
    """Set the given flags; return the previous (enabled, benchmark, benchmark_limit, deterministic,
    allow_tf32)."""
    global enabled, benchmark, deterministic, allow_tf32
    orig = (enabled, benchmark, benchmark_limit, deterministic, allow_tf32)
    if _enabled is not None:
        enabled = _enabled
    if _benchmark is not None:
        benchmark = _benchmark
    if _deterministic is not None:
        deterministic = _deterministic
    if _allow_tf32 is not None:
        allow_tf32 = _allow_tf32
    return orig


@contextlib.contextmanager
def flags(enabled=False, benchmark=False, benchmark_limit=10, deterministic=False, allow_tf32=True):
    """Set the flags inside the block, restore them after (torch.backends.cudnn.flags)."""
    orig = set_flags(enabled, benchmark, benchmark_limit, deterministic, allow_tf32)
    try:
        yield
    finally:
        set_flags(orig[0], orig[1], orig[2], orig[3], orig[4])
