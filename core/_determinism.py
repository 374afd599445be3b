"""ember.use_deterministic_algorithms and its getters, as torch's.

Ember's kernels are deterministic except where a backend documents otherwise, so the setting is
recorded for programs that read it back (and for backends that consult it) rather than switching kernels.
"""

from __future__ import annotations
from .errors import ArgumentTypeError, InvalidArgumentError

__all__ = ["use_deterministic_algorithms", "are_deterministic_algorithms_enabled",
           "is_deterministic_algorithms_warn_only_enabled", "set_deterministic_debug_mode",
           "get_deterministic_debug_mode"]

_state = {"enabled": False, "warn_only": False}
_MODES = {"default": 0, "warn": 1, "error": 2}


def use_deterministic_algorithms(mode, *, warn_only=False) -> None:
    """Ask for deterministic algorithms (``mode=True``); ``warn_only`` makes a nondeterministic one warn
    instead of raise."""
    if not isinstance(mode, bool):
        raise ArgumentTypeError(f"use_deterministic_algorithms(): argument 'mode' must be bool, not {type(mode).__name__}")
    if not isinstance(warn_only, bool):
        raise ArgumentTypeError(f"use_deterministic_algorithms(): argument 'warn_only' must be bool, not "
                                f"{type(warn_only).__name__}")
    _state["enabled"] = mode
    _state["warn_only"] = warn_only if mode else False


def are_deterministic_algorithms_enabled() -> bool:
    return _state["enabled"]


def is_deterministic_algorithms_warn_only_enabled() -> bool:
    return _state["warn_only"]


def set_deterministic_debug_mode(debug_mode) -> None:
    """0 or "default": off; 1 or "warn": on, warn only; 2 or "error": on."""
    if isinstance(debug_mode, str):
        if debug_mode not in _MODES:
            raise InvalidArgumentError(f"invalid value of debug_mode, expected one of `default`, `warn`, `error`, but "
                                       f"got {debug_mode}")
        debug_mode = _MODES[debug_mode]
    if not isinstance(debug_mode, int) or isinstance(debug_mode, bool):
        raise ArgumentTypeError(f"debug_mode must be str or int, but got {type(debug_mode)}")
    if debug_mode not in (0, 1, 2):
        raise InvalidArgumentError(f"invalid value of debug_mode, expected 0, 1, or 2, but got {debug_mode}")
    use_deterministic_algorithms(debug_mode != 0, warn_only=debug_mode == 1)


def get_deterministic_debug_mode() -> int:
    if not _state["enabled"]:
        return 0
    return 1 if _state["warn_only"] else 2
