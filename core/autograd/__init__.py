"""Automatic differentiation: graph nodes, the engine, grad modes, forward AD, gradcheck.

Reverse mode runs at the Autograd dispatch key: an operator on a tensor that
requires grad computes below that key and records a node holding the
operator's derivative formula (``ember.autograd.derivative``). Formulas are
Ember operations, so gradients are differentiable again.
"""

from .registry import FORMULAS, NONDIFFERENTIABLE, derivative, nondifferentiable
from .grad_mode import (enable_grad, inference_mode, is_grad_enabled, is_inference_mode_enabled, no_grad,
                        set_grad_enabled)
from .engine import backward, grad
from .graph import Node
from .function import Function, FunctionCtx, once_differentiable
from ._gradcheck import GradcheckError, gradcheck, gradgradcheck
from . import forward_ad, functional

__all__ = ["derivative", "nondifferentiable", "FORMULAS", "NONDIFFERENTIABLE", "no_grad", "enable_grad", "set_grad_enabled",
           "inference_mode", "is_grad_enabled", "backward", "grad", "Function", "forward_ad", "functional",
           "gradcheck", "gradgradcheck", "Node"]

_installed = False


def _install():
    """Wire autograd into Tensor and the dispatcher (called once by ``import ember``)."""
    global _installed
    if _installed:
        return
    from . import formulas  # noqa: F401  (registers the core operators' formulas)
    from . import formulas_linalg  # noqa: F401  (factorizations and solvers)
    from . import kernels, tensor_api
    tensor_api.install()
    kernels.install()
    _installed = True
