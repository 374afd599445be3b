"""Grad mode: thread-local, carried by the dispatcher's mask of allowed keys.

Disabling grad removes the Autograd key from ``dispatch.state.allowed``, so
operators on tensors that require grad run straight to their backend kernels
and record nothing.
"""

from __future__ import annotations

import functools

from ..dispatch.keys import AUTOGRAD
from ..dispatch.operator import state

__all__ = ["no_grad", "enable_grad", "set_grad_enabled", "inference_mode", "is_grad_enabled",
           "is_inference_mode_enabled"]

_AG = AUTOGRAD.bit


def is_grad_enabled() -> bool:
    return bool(state.allowed & _AG)


def _set(enabled: bool) -> None:
    if enabled:
        state.allowed |= _AG
        state.inplace_keys = 0
    else:
        state.allowed &= ~_AG
        state.inplace_keys = _AG   # in-place ops still reach Autograd, to bump version counters


class _Mode:
    """Base of the grad-mode context managers; instances also decorate functions."""

    enabled = True

    def __enter__(self):
        self._prev = is_grad_enabled()
        _set(self.enabled)
        return self

    def __exit__(self, *exc):
        _set(self._prev)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_Mode):
    """Operators inside record no graph (``with ember.no_grad():`` or ``@ember.no_grad()``)."""
    enabled = False


class enable_grad(_Mode):
    """Turn grad recording back on inside a no_grad block."""
    enabled = True


class set_grad_enabled(_Mode):
    """Set grad mode to ``mode`` (a function call takes effect at once; also a context manager)."""

    def __init__(self, mode: bool):
        self.enabled = bool(mode)
        self._prev = is_grad_enabled()
        _set(self.enabled)

    def __enter__(self):
        return self

    def __call__(self, fn):
        _set(self._prev)
        mode = self.enabled

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)
        return wrapper


_inference = [0]


def is_inference_mode_enabled() -> bool:
    return _inference[0] > 0


class inference_mode(_Mode):
    """Like no_grad, for code that only runs the model (``inference_mode(False)`` is a no-op)."""

    def __init__(self, mode: bool = True):
        self.mode = bool(mode)
        self.enabled = not self.mode

    def __enter__(self):
        self._prev = is_grad_enabled()
        if self.mode:
            _set(False)
            _inference[0] += 1
        return self

    def __exit__(self, *exc):
        if self.mode:
            _inference[0] -= 1
        _set(self._prev)
        return False

    def __call__(self, fn):
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with inference_mode(mode):
                return fn(*args, **kwargs)
        return wrapper
