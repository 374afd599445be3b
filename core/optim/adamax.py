"""Adamax: Adam with the infinity norm of past gradients in place of their root mean square."""

from __future__ import annotations

from ..ops.creation import full, zeros_like
from .adadelta import _check_nonneg
from .optimizer import Optimizer, _lerp_, _scalar_dtype
from ..errors import InvalidArgumentError


def _check_betas(cls, betas):
    for i, b in enumerate(betas):
        if not 0.0 <= b < 1.0:
            raise InvalidArgumentError(f"{cls}: invalid beta parameter at index {i}: {b}; betas must be in [0, 1)")


class Adamax(Optimizer):
    """PyTorch's Adamax (lr=2e-3). ``foreach``, ``capturable`` and ``differentiable`` have no effect."""

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, foreach=None, *,
                 maximize=False, differentiable=False, capturable=False):
        _check_nonneg("Adamax", lr=lr, eps=eps, weight_decay=weight_decay)
        _check_betas("Adamax", betas)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      foreach=foreach, maximize=maximize, differentiable=differentiable,
                                      capturable=capturable))

    def _update(self, p, grad, group, state):
        (b1, b2), eps = group["betas"], group["eps"]
        if not state:
            state["step"] = full((), 0.0, dtype=_scalar_dtype())
            state["exp_avg"] = zeros_like(p)
            state["exp_inf"] = zeros_like(p)
        state["step"].add_(1)
        if group["weight_decay"] != 0:
            grad = grad + p * group["weight_decay"]
        exp_avg, exp_inf = state["exp_avg"], state["exp_inf"]
        _lerp_(exp_avg, grad, 1 - b1)
        exp_inf.copy_(exp_inf.mul_(b2).maximum(grad.abs() + eps))
        clr = group["lr"] / (1 - b1 ** state["step"].item())
        p.sub_(exp_avg / exp_inf * clr)
