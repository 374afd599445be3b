"""RAdam: Adam whose adaptive step is switched on only once the variance of its estimate is tractable."""

from __future__ import annotations

from ..ops.creation import full, zeros_like
from .adadelta import _check_nonneg
from .adamax import _check_betas
from .optimizer import Optimizer, _lerp_, _scalar_dtype


class RAdam(Optimizer):
    """PyTorch's RAdam (lr=1e-3); ``decoupled_weight_decay=True`` is RAdamW. ``foreach``, ``capturable`` and
    ``differentiable`` have no effect."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, decoupled_weight_decay=False,
                 *, foreach=None, maximize=False, capturable=False, differentiable=False):
        _check_nonneg("RAdam", lr=lr, eps=eps, weight_decay=weight_decay)
        _check_betas("RAdam", betas)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      maximize=maximize, foreach=foreach, capturable=capturable,
                                      decoupled_weight_decay=decoupled_weight_decay, differentiable=differentiable))

    def _update(self, p, grad, group, state):
        lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        if not state:
            state["step"] = full((), 0.0, dtype=_scalar_dtype())
            state["exp_avg"] = zeros_like(p)
            state["exp_avg_sq"] = zeros_like(p)
        state["step"].add_(1)
        step = state["step"].item()
        if wd != 0:
            if group["decoupled_weight_decay"]:
                p.mul_(1 - lr * wd)
            else:
                grad = grad + p * wd
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        _lerp_(exp_avg, grad, 1 - b1)
        exp_avg_sq.mul_(b2).add_(grad * (1 - b2) * grad)
        bc1, bc2 = 1 - b1 ** step, 1 - b2 ** step
        corrected = exp_avg / bc1
        rho_inf = 2 / (1 - b2) - 1
        rho_t = rho_inf - 2 * step * (b2 ** step) / bc2
        if rho_t > 5.0:
            rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
            adaptive = (exp_avg_sq.sqrt() + eps).reciprocal() * (bc2 ** 0.5)
            p.sub_(corrected * lr * adaptive * rect)
        else:
            p.sub_(corrected * lr)
