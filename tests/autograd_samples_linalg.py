"""Gradient-check samples for the factorizations and solvers of core/ops/linalg_solvers.py (the
same form as autograd_samples.py, which merges them into its table).

cholesky and eigh read one triangle but, as in PyTorch, return the gradient with respect to a
symmetric input; ``SYMMETRIC_INPUT`` names them, and the sweeps symmetrize their first
argument, (A + A^T) / 2, before the call (PyTorch's tests wrap them the same way)."""

from __future__ import annotations

import numpy as np

SYMMETRIC_INPUT = {"_linalg_cholesky_ex", "_linalg_eigh"}


def _general(r, shape):
    n = shape[-1]
    return r.uniform(-1, 1, shape) + n * np.eye(n)


def _spd(r, shape):
    x = r.uniform(-1, 1, shape)
    return x @ np.swapaxes(x, -1, -2) + shape[-1] * np.eye(shape[-1])


def _separated(r, shape):
    """Symmetric, eigenvalues one apart (finite differences need no near-degenerate pair)."""
    q, _ = np.linalg.qr(r.standard_normal(shape))
    return (q * np.arange(1, shape[-1] + 1)) @ np.swapaxes(q, -1, -2)


def _distinct_sv(r, shape):
    """A matrix with singular values 1, 2, ...: well separated and non-zero."""
    m, n = shape[-2:]
    k = min(m, n)
    u, _ = np.linalg.qr(r.standard_normal(shape[:-2] + (m, m)))
    v, _ = np.linalg.qr(r.standard_normal(shape[:-2] + (n, n)))
    return (u[..., :, :k] * np.arange(1, k + 1)) @ np.swapaxes(v[..., :, :k], -1, -2)


def samples(r):
    from autograd_samples import _S, _u
    t = {}
    t["_linalg_cholesky_ex"] = [_S("3x3", _spd(r, (3, 3))), _S("batched_upper", _spd(r, (2, 3, 3)), True)]
    t["_linalg_inv_ex"] = [_S("3x3", _general(r, (3, 3))), _S("batched", _general(r, (2, 2, 2)))]
    t["_linalg_solve_ex"] = [_S("left", _general(r, (3, 3)), _u(r, (3, 2))),
                             _S("right_broadcast", _general(r, (3, 3)), _u(r, (2, 2, 3)), False)]
    t["_linalg_slogdet"] = [_S("3x3", _general(r, (3, 3))), _S("batched", _general(r, (2, 2, 2)))]
    t["_linalg_qr"] = [_S("tall", _u(r, (4, 3))), _S("wide", _u(r, (2, 4))), _S("square_complete", _u(r, (3, 3)), "complete")]
    t["_linalg_eigh"] = [_S("3x3", _separated(r, (3, 3))), _S("upper", _separated(r, (2, 3, 3)), "U")]
    t["_linalg_svd"] = [_S("tall_thin", _distinct_sv(r, (4, 3)), False), _S("wide_thin", _distinct_sv(r, (2, 4)), False),
                        _S("square", _distinct_sv(r, (3, 3)))]
    return t
