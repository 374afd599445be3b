"""SGD with momentum, dampening, Nesterov momentum and weight decay (PyTorch's update rule)."""

from __future__ import annotations

from ..ops.creation import zeros_like
from ..ops.nn import sgd_step_
from .optimizer import Optimizer, _no_grad, required
from ..errors import InvalidArgumentError, UnsupportedError


class SGD(Optimizer):
    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        # foreach, differentiable and fused are accepted for PyTorch compatibility and have no effect.
        if lr is not required and lr < 0.0:
            raise InvalidArgumentError(f"SGD: invalid learning rate {lr}")
        if momentum < 0.0:
            raise InvalidArgumentError(f"SGD: invalid momentum {momentum}")
        if weight_decay < 0.0:
            raise InvalidArgumentError(f"SGD: invalid weight_decay {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise InvalidArgumentError(f"SGD: Nesterov momentum requires momentum > 0 and dampening = 0, got momentum="
                                       f"{momentum}, dampening={dampening}")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize, foreach=foreach,
                                      differentiable=differentiable, fused=fused))

    def step(self, closure=None):
        if closure is not None:
            return super().step(closure)
        # The per-parameter loop of Optimizer.step with the group's hyperparameters read once per group.
        state = self.state
        with _no_grad():
            for group in self.param_groups:
                lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
                weight_decay, nesterov, maximize = group["weight_decay"], group["nesterov"], group.get("maximize")
                for p in group["params"]:
                    m = p._ag
                    grad = m.grad if m is not None else None
                    if grad is None:
                        continue
                    if maximize:
                        grad = -grad
                    if grad.is_sparse:
                        _sparse_step(p, grad, lr, momentum, weight_decay)
                        continue
                    st = state.get(p)
                    if st is None:
                        st = state[p] = {}
                    buf, first = None, False
                    if momentum:
                        buf = st.get("momentum_buffer")
                        if buf is None:
                            buf = st["momentum_buffer"] = zeros_like(p)
                            first = True
                    sgd_step_(p, grad, buf, lr, momentum, dampening, weight_decay, nesterov, first)
        return None

    def _update(self, p, grad, group, state):
        momentum = group["momentum"]
        if grad.is_sparse:
            return _sparse_step(p, grad, group["lr"], momentum, group["weight_decay"])
        buf, first = None, False
        if momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = zeros_like(p)
                first = True
        sgd_step_(p, grad, buf, group["lr"], momentum, group["dampening"], group["weight_decay"], group["nesterov"],
                  first)


def _sparse_step(p, grad, lr, momentum, weight_decay):
    """p -= lr * grad for a sparse gradient (nn.Embedding(sparse=True)): only the rows it holds move."""
    if weight_decay:
        raise UnsupportedError(f"SGD: weight_decay={weight_decay} is not supported with sparse gradients (it "
                                  f"adds the dense parameter to the gradient); use weight_decay=0")
    if momentum:
        raise UnsupportedError(f"SGD: momentum={momentum} is not supported with sparse gradients in Ember; use "
                                  f"momentum=0, optim.SparseAdam, or a dense gradient (nn.Embedding(sparse=False))")
    p.add_(grad, alpha=-lr)
