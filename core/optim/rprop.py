"""Rprop: per-coordinate step sizes grown or shrunk by the sign agreement of successive gradients."""

from __future__ import annotations

from ..ops.creation import full, full_like, zeros_like
from .optimizer import Optimizer, _scalar_dtype
from ..errors import InvalidArgumentError


class Rprop(Optimizer):
    """PyTorch's resilient backpropagation (lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50)).
    ``foreach``, ``capturable`` and ``differentiable`` have no effect."""

    def __init__(self, params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *, capturable=False, foreach=None,
                 maximize=False, differentiable=False):
        if not 0.0 <= lr:
            raise InvalidArgumentError(f"Rprop: invalid learning rate {lr}; it must be >= 0")
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise InvalidArgumentError(f"Rprop: invalid eta values {etas[0]}, {etas[1]}; they need 0 < etaminus < 1 < etaplus")
        super().__init__(params, dict(lr=lr, etas=tuple(etas), step_sizes=tuple(step_sizes), foreach=foreach,
                                      maximize=maximize, differentiable=differentiable, capturable=capturable))

    def _update(self, p, grad, group, state):
        etaminus, etaplus = group["etas"]
        lo, hi = group["step_sizes"]
        if not state:
            state["step"] = full((), 0.0, dtype=_scalar_dtype())
            state["prev"] = zeros_like(p)
            state["step_size"] = full_like(grad, group["lr"])
        state["step"].add_(1)
        prev, step_size = state["prev"], state["step_size"]
        s = (grad * prev).sign()
        neg = s < 0
        factor = full_like(s, 1.0).masked_fill(s > 0, etaplus).masked_fill(neg, etaminus)
        step_size.mul_(factor).clamp_(lo, hi)
        grad = grad.masked_fill(neg, 0.0)
        p.sub_(grad.sign() * step_size)
        prev.copy_(grad)
