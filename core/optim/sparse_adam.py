"""SparseAdam: Adam on the rows a sparse gradient holds (nn.Embedding(sparse=True)); PyTorch's update rule."""

from __future__ import annotations

import math

from ..ops.creation import zeros_like
from .optimizer import Optimizer
from ..errors import InvalidArgumentError


class SparseAdam(Optimizer):
    """PyTorch's SparseAdam (lr=1e-3, betas=(0.9, 0.999), eps=1e-8): for dense parameters with sparse COO
    gradients. Only the entries the coalesced gradient holds update exp_avg, exp_avg_sq and the parameter;
    the bias correction uses the parameter's own step count (a Python int in the state, as PyTorch's)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, maximize=False):
        if not 0.0 < lr:
            raise InvalidArgumentError(f"Invalid learning rate: {lr}")
        if not 0.0 < eps:
            raise InvalidArgumentError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise InvalidArgumentError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise InvalidArgumentError(f"Invalid beta parameter at index 1: {betas[1]}")
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, maximize=maximize))
        sparse_params, complex_params = [], []
        for index, group in enumerate(self.param_groups):
            for d_index, p in enumerate(group["params"]):
                if p.is_sparse:
                    sparse_params.append([index, d_index])
                if p.dtype.is_complex:
                    complex_params.append([index, d_index])
        if sparse_params:
            raise InvalidArgumentError(f"Sparse params at indices {sparse_params}: SparseAdam requires dense parameter tensors")
        if complex_params:
            raise InvalidArgumentError(f"Complex params at indices {complex_params}: SparseAdam does not support complex "
                                       f"parameters")

    def step(self, closure=None):
        import ember
        loss = None
        if closure is not None:
            with ember.enable_grad():
                loss = closure()
        with ember.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    grad = p.grad
                    if grad is None:
                        continue
                    if not grad.is_sparse:
                        raise InvalidArgumentError("SparseAdam does not support dense gradients, please consider Adam "
                                                   "instead")
                    state = self.state.setdefault(p, {})
                    if not state:
                        state["step"] = 0
                        state["exp_avg"] = zeros_like(p)
                        state["exp_avg_sq"] = zeros_like(p)
                    state["step"] += 1
                    self._update(p, -grad if group["maximize"] else grad, group, state)
        return loss

    def _update(self, p, grad, group, state):
        from .._sparse_tensor import make_sparse as _make_sparse
        from ..ops.sparse import values_at
        grad = grad.coalesce()  # the update is not linear in the gradient: one entry per coordinate
        indices, values = grad._indices(), grad._values()
        if values.numel() == 0:
            return
        beta1, beta2 = group["betas"]
        exp_avg, exp_avg_sq, step = state["exp_avg"], state["exp_avg_sq"], state["step"]

        def make_sparse(v):
            return _make_sparse(indices, v, grad.shape, coalesced=True)

        # old <- b * old + (1 - b) * new, as old += (1 - b) * (new - old) on the gradient's entries
        old_exp_avg = values_at(exp_avg, indices, exp_avg.shape)
        exp_avg_update = (values - old_exp_avg) * (1 - beta1)
        exp_avg.add_(make_sparse(exp_avg_update))
        old_exp_avg_sq = values_at(exp_avg_sq, indices, exp_avg_sq.shape)
        exp_avg_sq_update = (values * values - old_exp_avg_sq) * (1 - beta2)
        exp_avg_sq.add_(make_sparse(exp_avg_sq_update))

        numer = exp_avg_update + old_exp_avg
        denom = (exp_avg_sq_update + old_exp_avg_sq).sqrt() + group["eps"]
        bias_correction1 = 1 - beta1 ** step
        bias_correction2 = 1 - beta2 ** step
        step_size = group["lr"] * math.sqrt(bias_correction2) / bias_correction1
        p.add_(make_sparse((numer / denom) * -step_size))
