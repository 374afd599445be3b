"""gradcheck and gradgradcheck: analytical Jacobians against central finite differences (float64)."""

from __future__ import annotations

import numpy as np

from .._tensor import Tensor

__all__ = ["gradcheck", "gradgradcheck", "GradcheckError", "numerical_jacobian", "analytical_jacobian"]


class GradcheckError(RuntimeError):
    """The analytical and numerical Jacobians differ."""


def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _outputs(func, inputs):
    out = _as_tuple(func(*inputs))
    return [o for o in out if isinstance(o, Tensor) and o._dtype.is_floating_point]


def _diff_inputs(inputs):
    return [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]


def numerical_jacobian(func, inputs, eps=1e-6):
    """Per differentiable input: a list (one per output) of (numel(input), numel(output)) arrays."""
    idx = _diff_inputs(inputs)
    base_out = _outputs(func, inputs)
    jac = []
    for i in idx:
        x = inputs[i]
        arr = x._to_numpy_copy().astype(np.float64)
        cols = [np.zeros((arr.size, o.numel())) for o in base_out]
        flat = arr.reshape(-1)
        for j in range(arr.size):
            vals = []
            for sgn in (1, -1):
                p = flat.copy()
                p[j] += sgn * eps
                xp = _like(x, p.reshape(arr.shape)).requires_grad_(True)
                args = list(inputs)
                args[i] = xp
                vals.append([o._to_numpy_copy().astype(np.float64).reshape(-1) for o in _outputs(func, args)])
            for k in range(len(base_out)):
                cols[k][j] = (vals[0][k] - vals[1][k]) / (2 * eps)
        jac.append(cols)
    return jac


def _like(x, arr):
    from .._factory import tensor
    return tensor(arr, dtype=x._dtype, device=x._device)


def analytical_jacobian(func, inputs):
    from .engine import grad
    from ..ops.creation import zeros_like
    idx = _diff_inputs(inputs)
    outs = _outputs(func, inputs)
    jac = [[np.zeros((inputs[i].numel(), o.numel())) for o in outs] for i in idx]
    diff_in = [inputs[i] for i in idx]
    for k, o in enumerate(outs):
        if o._ag is None or not o._ag.requires_grad:
            continue
        n = o.numel()
        for m in range(n):
            g = np.zeros(n)
            g[m] = 1.0
            gt = _like(o, g.reshape(o._shape))
            gs = grad([o], diff_in, [gt], retain_graph=True, allow_unused=True)
            for a, gi in enumerate(gs):
                if gi is not None:
                    jac[a][k][:, m] = gi._to_numpy_copy().astype(np.float64).reshape(-1)
    return jac, outs


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, **_ignored):
    """True when func's gradients w.r.t. the inputs that require grad match finite differences.

    Inputs should be float64 (finite differences in lower precision are too coarse to check).
    """
    inputs = _as_tuple(inputs)
    for x in inputs:
        if isinstance(x, Tensor) and x.requires_grad and x._dtype.name != "float64":
            import warnings
            warnings.warn(f"gradcheck: input of dtype {x._dtype.name} is not float64; the check may fail from "
                          f"rounding alone", stacklevel=2)
    ana, outs = analytical_jacobian(func, inputs)
    num = numerical_jacobian(func, inputs, eps)
    idx = _diff_inputs(inputs)
    for a, i in enumerate(idx):
        for k in range(len(outs)):
            A, N = ana[a][k], num[a][k]
            if not np.allclose(A, N, rtol=rtol, atol=atol, equal_nan=True):
                bad = np.unravel_index(np.argmax(np.abs(A - N) - rtol * np.abs(N)), A.shape) if A.size else ()
                msg = (f"Jacobian mismatch for output {k} with respect to input {i}:\n"
                       f"numerical: {N.T}\nanalytical: {A.T}\n"
                       f"largest difference at (input element, output element) {tuple(int(b) for b in bad)}")
                if raise_exception:
                    raise GradcheckError(msg)
                return False
    return True


def gradgradcheck(func, inputs, grad_outputs=None, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True,
                  **_ignored):
    """gradcheck of the gradient itself: second derivatives against finite differences of the first."""
    from .engine import grad
    from .._factory import tensor
    inputs = _as_tuple(inputs)
    outs = _outputs(func, inputs)
    if grad_outputs is None:
        rng = np.random.default_rng(0)
        grad_outputs = [tensor(rng.standard_normal(o._shape), dtype=o._dtype, device=o._device,
                               requires_grad=True) for o in outs]
    grad_outputs = list(_as_tuple(grad_outputs))
    n_in = len(inputs)
    idx = _diff_inputs(inputs)

    def first(*args):
        ins, gos = args[:n_in], args[n_in:]
        os = _outputs(func, ins)
        diff = [ins[i] for i in idx]
        live = [(o, g) for o, g in zip(os, gos) if o._ag is not None and o._ag.requires_grad]
        if not live:
            return tuple()
        gs = grad([o for o, _ in live], diff, [g for _, g in live], create_graph=True, allow_unused=True)
        return tuple(g for g in gs if g is not None)

    return gradcheck(first, tuple(inputs) + tuple(grad_outputs), eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)
