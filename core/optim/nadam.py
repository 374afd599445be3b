"""NAdam: Adam with Nesterov momentum and a warming momentum schedule (mu_t), optionally decoupled decay."""

from __future__ import annotations

from ..ops.creation import full, zeros_like
from .adadelta import _check_nonneg
from .adamax import _check_betas
from .optimizer import Optimizer, _lerp_, _scalar_dtype


class NAdam(Optimizer):
    """PyTorch's NAdam (lr=2e-3, momentum_decay=4e-3); ``decoupled_weight_decay=True`` is NAdamW.
    ``foreach``, ``capturable`` and ``differentiable`` have no effect."""

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False):
        _check_nonneg("NAdam", lr=lr, eps=eps, weight_decay=weight_decay, momentum_decay=momentum_decay)
        _check_betas("NAdam", betas)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      momentum_decay=momentum_decay, decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize, foreach=foreach, capturable=capturable,
                                      differentiable=differentiable))

    def _update(self, p, grad, group, state):
        lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        md = group["momentum_decay"]
        if not state:
            state["step"] = full((), 0.0, dtype=_scalar_dtype())
            state["mu_product"] = full((), 1.0, dtype=_scalar_dtype())
            state["exp_avg"] = zeros_like(p)
            state["exp_avg_sq"] = zeros_like(p)
        state["step"].add_(1)
        step = state["step"].item()
        bc2 = 1 - b2 ** step
        if wd != 0:
            if group["decoupled_weight_decay"]:
                p.mul_(1 - lr * wd)
            else:
                grad = grad + p * wd
        mu = b1 * (1.0 - 0.5 * 0.96 ** (step * md))
        mu_next = b1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * md))
        # mu_product is a scalar tensor, so the running product rounds in its dtype as PyTorch's does.
        mu_product = state["mu_product"].mul_(mu).item()
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        _lerp_(exp_avg, grad, 1 - b1)
        exp_avg_sq.mul_(b2).add_(grad * (1 - b2) * grad)
        denom = (exp_avg_sq / bc2).sqrt() + eps
        p.sub_(grad / denom * (lr * (1.0 - mu) / (1.0 - mu_product)))
        p.sub_(exp_avg / denom * (lr * mu_next / (1.0 - mu_product * mu_next)))
