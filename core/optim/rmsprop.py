"""RMSprop, centered or not, with momentum and weight decay (PyTorch's update rule)."""

from __future__ import annotations

from ..ops.creation import full, zeros_like
from .optimizer import Optimizer, _scalar_dtype
from ..errors import InvalidArgumentError


class RMSprop(Optimizer):
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        # capturable, foreach and differentiable are accepted for PyTorch compatibility and have no effect.
        for name, v in (("lr", lr), ("alpha", alpha), ("eps", eps), ("weight_decay", weight_decay),
                        ("momentum", momentum)):
            if v < 0.0:
                raise InvalidArgumentError(f"RMSprop: invalid {name} {v}")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered, maximize=maximize, capturable=capturable,
                                      foreach=foreach, differentiable=differentiable))

    def _update(self, p, grad, group, state):
        lr, alpha, eps, wd, mom = group["lr"], group["alpha"], group["eps"], group["weight_decay"], group["momentum"]
        if not state:
            state["step"] = full((), 0.0, dtype=_scalar_dtype())
            state["square_avg"] = zeros_like(p)
            if mom > 0:
                state["momentum_buffer"] = zeros_like(p)
            if group["centered"]:
                state["grad_avg"] = zeros_like(p)
        state["step"].add_(1)
        if wd:
            grad = grad + p * wd
        sq = state["square_avg"]
        sq.mul_(alpha).add_(grad * grad * (1 - alpha))
        if group["centered"]:
            ga = state["grad_avg"]
            ga.mul_(alpha).add_(grad * (1 - alpha))
            avg = (sq - ga * ga).sqrt() + eps
        else:
            avg = sq.sqrt() + eps
        if mom > 0:
            buf = state["momentum_buffer"]
            buf.mul_(mom).add_(grad / avg)
            p.sub_(buf * lr)
        else:
            p.sub_(grad / avg * lr)
