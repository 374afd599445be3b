"""Automatic differentiation: graph nodes, the engine, grad modes, forward AD, gradcheck.

Reverse mode runs at the Autograd dispatch key: an operator on a tensor that
requires grad computes below that key and records a node holding the
operator's derivative formula (``ember.autograd.derivative``). Formulas are
Ember operations, so gradients are differentiable again.
"""

from .registry import FORMULAS, NONDIFFERENTIABLE, derivative
from .grad_mode import (enable_grad, inference_mode, is_grad_enabled, is_inference_mode_enabled, no_grad,
                        set_grad_enabled)
from .engine import backward, grad
from .graph import Node

__all__ = ["derivative", "FORMULAS", "NONDIFFERENTIABLE", "no_grad", "enable_grad", "set_grad_enabled",
           "inference_mode", "is_grad_enabled", "backward", "grad", "Function", "forward_ad", "functional",
           "gradcheck", "gradgradcheck", "Node"]

_installed = False


def _install():
    """Wire autograd into Tensor and the dispatcher (called once by ``import ember``)."""
    global _installed
    if _installed:
        return
    from . import formulas  # noqa: F401  (registers the core operators' formulas)
    from . import kernels, tensor_api
    tensor_api.install()
    kernels.install()
    _installed = True


def __getattr__(name):
    if name in ("forward_ad", "functional"):
        import importlib
        return importlib.import_module(f"{__name__}.{name}")
    if name == "Function":
        from .function import Function
        return Function
    if name in ("gradcheck", "gradgradcheck"):
        from . import gradcheck as G
        return getattr(G, name)
    raise AttributeError(f"module 'ember.autograd' has no attribute {name!r}")
