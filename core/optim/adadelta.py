"""Adadelta: per-coordinate steps from running averages of squared gradients and squared updates."""

from __future__ import annotations

from ..ops.creation import full, zeros_like
from .optimizer import Optimizer, _scalar_dtype
from ..errors import InvalidArgumentError


def _check_nonneg(cls, **values):
    """Raise PyTorch's ValueError for the first hyperparameter that is negative, naming it and its value."""
    for name, v in values.items():
        if not 0.0 <= v:
            raise InvalidArgumentError(f"{cls}: invalid {name} {v}; it must be >= 0")


class Adadelta(Optimizer):
    """PyTorch's Adadelta (lr=1.0, rho=0.9, eps=1e-6). ``foreach``, ``capturable`` and ``differentiable`` are
    accepted and have no effect: Ember runs one update path."""

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *, capturable=False,
                 maximize=False, differentiable=False):
        _check_nonneg("Adadelta", lr=lr, eps=eps, weight_decay=weight_decay)
        if not 0.0 <= rho <= 1.0:
            raise InvalidArgumentError(f"Adadelta: invalid rho {rho}; it must be in [0, 1]")
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize,
                                      capturable=capturable, foreach=foreach, differentiable=differentiable))

    def _update(self, p, grad, group, state):
        lr, rho, eps, wd = group["lr"], group["rho"], group["eps"], group["weight_decay"]
        if not state:
            state["step"] = full((), 0.0, dtype=_scalar_dtype())
            state["square_avg"] = zeros_like(p)
            state["acc_delta"] = zeros_like(p)
        state["step"].add_(1)
        if wd != 0:
            grad = grad + p * wd
        sq, acc = state["square_avg"], state["acc_delta"]
        sq.mul_(rho).add_(grad * (1 - rho) * grad)
        std = (sq + eps).sqrt()
        delta = (acc + eps).sqrt() / std * grad
        acc.mul_(rho).add_(delta * (1 - rho) * delta)
        p.sub_(delta * lr)
