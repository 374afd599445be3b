"""Adagrad: steps scaled by the root of each coordinate's summed squared gradients, with lr decay."""

from __future__ import annotations

from ..ops.creation import full, full_like
from .adadelta import _check_nonneg
from .optimizer import Optimizer, _scalar_dtype
from ..errors import InvalidArgumentError


class Adagrad(Optimizer):
    """PyTorch's Adagrad (lr=1e-2, eps=1e-10). Its state exists from construction, as in PyTorch.
    ``foreach``, ``fused`` and ``differentiable`` are accepted and have no effect."""

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                 foreach=None, *, maximize=False, differentiable=False, fused=None):
        _check_nonneg("Adagrad", lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                      initial_accumulator_value=initial_accumulator_value, eps=eps)
        if fused and differentiable:
            raise InvalidArgumentError("Adagrad: `fused` does not support `differentiable`")
        if fused and foreach:
            raise InvalidArgumentError("Adagrad: `fused` and `foreach` cannot be `True` together")
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable, fused=fused))
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, self.state.setdefault(p, {}))

    def _init_state(self, p, state):
        state["step"] = full((), 0.0, dtype=_scalar_dtype())
        state["sum"] = full_like(p, self.defaults["initial_accumulator_value"])

    def _update(self, p, grad, group, state):
        if not state:
            self._init_state(p, state)
        state["step"].add_(1)
        step = state["step"].item()
        if group["weight_decay"] != 0:
            grad = grad + p * group["weight_decay"]
        clr = group["lr"] / (1 + (step - 1) * group["lr_decay"])
        s = state["sum"]
        s.add_(grad * grad)
        std = s.sqrt() + group["eps"]
        p.sub_(grad / std * clr)
