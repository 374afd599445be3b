"""ASGD: SGD with a decaying step size and a running (Polyak) average of the iterates in state 'ax'."""

from __future__ import annotations

from ..dtypes import get_default_dtype
from ..ops.creation import full, zeros_like
from .adadelta import _check_nonneg
from .optimizer import Optimizer, _scalar_dtype


class ASGD(Optimizer):
    """PyTorch's averaged SGD (lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6); the average is ``state[p]['ax']``.
    ``foreach``, ``capturable`` and ``differentiable`` have no effect."""

    def __init__(self, params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0, foreach=None,
                 maximize=False, differentiable=False, capturable=False):
        _check_nonneg("ASGD", lr=lr, weight_decay=weight_decay)
        super().__init__(params, dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay,
                                      foreach=foreach, maximize=maximize, differentiable=differentiable,
                                      capturable=capturable))

    def _update(self, p, grad, group, state):
        lr, lambd, alpha, t0 = group["lr"], group["lambd"], group["alpha"], group["t0"]
        if not state:
            # eta and mu are scalar tensors: eta rounds to their dtype exactly as PyTorch's state does.
            state["step"] = full((), 0.0, dtype=_scalar_dtype(), device=p.device)
            state["eta"] = full((), lr, dtype=_scalar_dtype(), device=p.device)
            state["mu"] = full((), 1.0, dtype=_scalar_dtype(), device=p.device)
            state["ax"] = zeros_like(p)
        state["step"].add_(1)
        if group["weight_decay"] != 0:
            grad = grad + p * group["weight_decay"]
        eta = state["eta"].item()
        p.mul_(1 - lambd * eta)
        p.sub_(grad * eta)
        ax, mu = state["ax"], state["mu"]
        if mu.item() != 1:
            ax.add_((p - ax).mul_(mu.to(p.dtype)))
        else:
            ax.copy_(p)
        step = state["step"].item()
        # PyTorch builds the new values as default-dtype tensors before copying them in; round the same way.
        state["eta"].copy_(full((), lr / ((1 + lambd * lr * step) ** alpha), dtype=get_default_dtype()))
        state["mu"].copy_(full((), 1 / max(1, step - t0), dtype=get_default_dtype()))
