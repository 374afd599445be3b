"""ember.backends.opt_einsum: PyTorch's switches for einsum contraction order, accepted and ignored.

Ember's ``einsum`` contracts its operands from left to right whatever these say. ``is_available()``
reports, as in PyTorch, whether the opt_einsum package is installed.
"""

from __future__ import annotations

import contextlib
import importlib.util

from ..errors import InvalidArgumentError

__all__ = ["is_available", "get_opt_einsum", "set_flags", "flags", "enabled", "strategy"]

STRATEGIES = ("auto", "greedy", "optimal")


def is_available() -> bool:
    """True when the opt_einsum package is installed (it is never imported unless asked for)."""
    return importlib.util.find_spec("opt_einsum") is not None


#: True where opt_einsum is installed, as in PyTorch.
enabled = is_available()
strategy = "auto"


def get_opt_einsum():
    """The opt_einsum package when installed, else None."""
    return importlib.import_module("opt_einsum") if is_available() else None


def set_flags(_enabled=None, _strategy=None):
    """Set ``enabled`` and ``strategy`` (checked as PyTorch checks them); return the previous pair."""
    global enabled, strategy
    orig = (enabled, strategy if is_available() else None)
    if _enabled is not None:
        if _enabled and not is_available():
            raise InvalidArgumentError(f"ember.backends.opt_einsum: enabled={_enabled!r} needs the opt_einsum package; "
                             f"install it (pip install opt-einsum) or leave enabled False")
        enabled = _enabled
    if _strategy is not None:
        if _strategy not in STRATEGIES:
            raise InvalidArgumentError(f"ember.backends.opt_einsum: strategy must be one of {list(STRATEGIES)}, got "
                             f"{_strategy!r}")
        strategy = _strategy
    return orig


@contextlib.contextmanager
def flags(enabled=None, strategy=None):
    """Set the flags inside the block and restore them after."""
    orig = set_flags(enabled, strategy)
    try:
        yield
    finally:
        set_flags(*orig)
