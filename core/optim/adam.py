"""Adam and AdamW (decoupled weight decay), with optional AMSGrad: PyTorch's update rules."""

from __future__ import annotations

from ..ops.creation import full, zeros_like
from ..ops.nn import adam_step_
from .optimizer import Optimizer, _scalar_dtype
from ..errors import InvalidArgumentError


class Adam(Optimizer):
    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        # foreach, capturable, differentiable and fused are accepted for PyTorch compatibility and have no effect.
        if lr < 0.0:
            raise InvalidArgumentError(f"{type(self).__name__}: invalid learning rate {lr}")
        if eps < 0.0:
            raise InvalidArgumentError(f"{type(self).__name__}: invalid epsilon {eps}")
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise InvalidArgumentError(f"{type(self).__name__}: invalid betas {tuple(betas)}; each must be in [0, 1)")
        if weight_decay < 0.0:
            raise InvalidArgumentError(f"{type(self).__name__}: invalid weight_decay {weight_decay}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize, foreach=foreach, capturable=capturable,
                                      differentiable=differentiable, fused=fused,
                                      decoupled_weight_decay=decoupled_weight_decay or self._decoupled))

    def _update(self, p, grad, group, state):
        lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        if grad.is_sparse:
            raise InvalidArgumentError("Adam does not support sparse gradients, please consider SparseAdam instead")
        if not state:
            state["step"] = full((), 0.0, dtype=_scalar_dtype())
            state["exp_avg"] = zeros_like(p)
            state["exp_avg_sq"] = zeros_like(p)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = zeros_like(p)
        state["step"].add_(1)
        step = float(state["step"].item())
        adam_step_(p, grad, state["exp_avg"], state["exp_avg_sq"], state.get("max_exp_avg_sq"), lr, b1, b2, eps,
                   wd, step, group.get("decoupled_weight_decay", self._decoupled))


class AdamW(Adam):
    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False, foreach=None, capturable=False, differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize, foreach=foreach,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)
