"""gradcheck and gradgradcheck: analytical Jacobians against central finite differences (float64).

Complex tensors are checked as PyTorch's gradcheck checks them: a complex input is perturbed along its
real and its imaginary part, and a complex output counts as two real functions, its real and its
imaginary part. The Jacobians are real throughout: a complex tensor of n elements has 2n coordinates,
the n real parts, then the n imaginary parts. The analytical side follows PyTorch's convention: backward
with grad_output g computes the gradient of the real loss Re(sum(conj(g) * out)), whose gradient for a
complex input is dL/dRe + i dL/dIm; so g = 1 at an element checks its real part, g = 1j its imaginary part.
"""

from __future__ import annotations

import numpy as np

from .._tensor import Tensor
from ..errors import EmberError

__all__ = ["gradcheck", "gradgradcheck", "GradcheckError", "numerical_jacobian", "analytical_jacobian"]


class GradcheckError(EmberError, RuntimeError):
    """The analytical and numerical Jacobians differ."""


def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _outputs(func, inputs):
    out = _as_tuple(func(*inputs))
    return [o for o in out if isinstance(o, Tensor) and (o._dtype.is_floating_point or o._dtype.is_complex)]


def _coords(t):
    """How many real coordinates a tensor has: its numel, twice that for a complex tensor."""
    return t.numel() * (2 if t._dtype.is_complex else 1)


def _real_coords(a):
    """A numpy array as its real coordinates (flat; the real parts, then the imaginary parts when complex)."""
    a = np.asarray(a).reshape(-1)
    if a.dtype.kind == "c":
        return np.concatenate([a.real, a.imag]).astype(np.float64)
    return a.astype(np.float64)


def _directions(x):
    """(element, step) per real coordinate of x: a complex element is moved along 1, then along 1j."""
    n = x.numel()
    steps = (1.0, 1j) if x._dtype.is_complex else (1.0,)
    return [(j, step) for step in steps for j in range(n)]


def _diff_inputs(inputs):
    return [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]


def numerical_jacobian(func, inputs, eps=1e-6):
    """Per differentiable input: a list (one per output) of (coords(input), coords(output)) arrays, where
    a tensor's coords are its numel, doubled for a complex tensor (real parts, then imaginary parts)."""
    idx = _diff_inputs(inputs)
    base_out = _outputs(func, inputs)
    jac = []
    for i in idx:
        x = inputs[i]
        arr = x._to_numpy_copy()
        arr = arr.astype(np.complex128 if arr.dtype.kind == "c" else np.float64)
        cols = [np.zeros((_coords(x), _coords(o))) for o in base_out]
        flat = arr.reshape(-1)
        for r, (j, step) in enumerate(_directions(x)):
            vals = []
            for sgn in (1, -1):
                p = flat.copy()
                p[j] += sgn * eps * step
                xp = _like(x, p.reshape(arr.shape)).requires_grad_(True)
                args = list(inputs)
                args[i] = xp
                vals.append([_real_coords(o._to_numpy_copy()) for o in _outputs(func, args)])
            for k in range(len(base_out)):
                cols[k][r] = (vals[0][k] - vals[1][k]) / (2 * eps)
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
    jac = [[np.zeros((_coords(inputs[i]), _coords(o))) for o in outs] for i in idx]
    diff_in = [inputs[i] for i in idx]
    for k, o in enumerate(outs):
        if o._ag is None or not o._ag.requires_grad:
            continue
        n = o.numel()
        for c, (m, step) in enumerate(_directions(o)):
            g = np.zeros(n, dtype=np.complex128 if o._dtype.is_complex else np.float64)
            g[m] = step
            gt = _like(o, g.reshape(o._shape))
            gs = grad([o], diff_in, [gt], retain_graph=True, allow_unused=True)
            for a, gi in enumerate(gs):
                if gi is not None:
                    jac[a][k][:, c] = _real_coords(gi._to_numpy_copy())
    return jac, outs


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, **_ignored):
    """True when func's gradients w.r.t. the inputs that require grad match finite differences.

    Inputs should be float64 or complex128 (finite differences in lower precision are too coarse to
    check); complex inputs and outputs are checked part by part, as PyTorch's gradcheck does.
    """
    inputs = _as_tuple(inputs)
    for x in inputs:
        if isinstance(x, Tensor) and x.requires_grad and x._dtype.name not in ("float64", "complex128"):
            import warnings
            warnings.warn(f"gradcheck: input of dtype {x._dtype.name} is not float64 or complex128; the check "
                          f"may fail from rounding alone", stacklevel=2)
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
                       f"largest difference at (input element, output element) {tuple(int(b) for b in bad)} "
                       f"(a complex tensor's elements count as its real parts, then its imaginary parts)")
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
        grad_outputs = [tensor(rng.standard_normal(o._shape) + (1j * rng.standard_normal(o._shape)
                                                                 if o._dtype.is_complex else 0),
                               dtype=o._dtype, device=o._device).requires_grad_(True) for o in outs]
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
