"""The small dense linear algebra MultivariateNormal needs (Cholesky factor, triangular solve), written with
Ember's matmul and elementwise operators. Both loop over the n rows or columns of an n x n matrix in Python and
are vectorised over batch dimensions: meant for event sizes up to a few hundred, differentiable by autograd."""

from __future__ import annotations

import ember
from ..errors import InvalidArgumentError

__all__ = ["cholesky", "solve_triangular", "cholesky_inverse_lower"]


def cholesky(a):
    """Lower Cholesky factor L of symmetric positive-definite a (..., n, n), a = L L^T. Where a is not positive
    definite the factor holds NaN (callers that validate check for it)."""
    if a.dim() < 2 or a.shape[-1] != a.shape[-2]:
        raise InvalidArgumentError(f"cholesky: expected a batch of square matrices (..., n, n), got shape {tuple(a.shape)}")
    n = a.shape[-1]
    a = 0.5 * (a + a.mT)        # read both triangles, so the gradient is symmetric as PyTorch's
    rows = ember.arange(n, device=a.device)
    cols = []
    for j in range(n):
        v = a[..., :, j]
        if j:
            prev = ember.stack(cols, -1)                       # (..., n, j)
            v = v - (prev @ prev[..., j, :].unsqueeze(-1)).squeeze(-1)
        d = ember.sqrt(v[..., j:j + 1])
        col = ember.where(rows >= j, v / d, 0.0)
        cols.append(col)
    return ember.stack(cols, -1)


def solve_triangular(a, b, *, upper=False):
    """The solution x of a x = b for triangular a (..., n, n) and b (..., n, k), by substitution row by row."""
    n = a.shape[-1]
    if b.shape[-2] != n:
        raise InvalidArgumentError(f"solve_triangular: a is {tuple(a.shape)} but b is {tuple(b.shape)}; "
                                   f"b must have {n} rows")
    order = range(n - 1, -1, -1) if upper else range(n)
    xs = {}
    for i in order:
        r = b[..., i, :]
        done = sorted(xs)
        if done:
            coeffs = a[..., i, done[0]:done[-1] + 1]            # the solved indices are contiguous
            solved = ember.stack([xs[k] for k in done], -2)     # (..., len(done), k)
            r = r - (coeffs.unsqueeze(-2) @ solved).squeeze(-2)
        xs[i] = r / a[..., i, i:i + 1]
    return ember.stack([xs[i] for i in range(n)], -2)


def cholesky_inverse_lower(lower):
    """L^{-1} for a lower-triangular L."""
    n = lower.shape[-1]
    eye = ember.eye(n, dtype=lower.dtype, device=lower.device)
    return solve_triangular(lower, eye.expand(tuple(lower.shape)))
