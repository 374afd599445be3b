"""numpy references (float64) for the factorizations and solvers of core/ops/linalg_solvers.py.

Outputs that are not unique (eigenvectors, singular vectors: each one's sign is free) are
not compared by value (None): their shapes and dtypes still are, and tests/test_linalg.py
checks them through invariants (reconstruction, orthogonality) against PyTorch. Q and R of
a QR factorization are unique once R's diagonal signs are fixed, and the references use
LAPACK's convention (numpy.linalg.qr), which the operator specifies.
"""

from __future__ import annotations

import numpy as np

from .references import ref


def _info(a):
    return np.zeros(a.shape[:-2], np.int32)


@ref("_linalg_cholesky_ex")
def _cholesky_ex(a, upper=False):
    low = np.linalg.cholesky(a) if a.size else np.zeros(a.shape)
    return (np.swapaxes(low, -1, -2) if upper else low), _info(a)


@ref("_linalg_inv_ex")
def _inv_ex(a):
    return (np.linalg.inv(a) if a.size else np.zeros(a.shape)), _info(a)


@ref("_linalg_solve_ex")
def _solve_ex(a, b, left=True):
    if not left:
        a, b = np.swapaxes(a, -1, -2), np.swapaxes(b, -1, -2)
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    info = np.zeros(a.shape[:-2], np.int32)  # info describes A's factorization: A's own batch (PyTorch)
    a = np.broadcast_to(a, batch + a.shape[-2:])
    b = np.broadcast_to(b, batch + b.shape[-2:])
    x = np.linalg.solve(a, b) if b.size else np.zeros(b.shape)
    return (np.swapaxes(x, -1, -2) if not left else x), info


@ref("_linalg_slogdet")
def _slogdet(a):
    sign, logabs = np.linalg.slogdet(a)
    return np.asarray(sign, np.float64), np.asarray(logabs, np.float64)


@ref("_linalg_qr")
def _qr(a, mode="reduced"):
    m, n = a.shape[-2:]
    k = min(m, n)
    if a.size == 0:
        q = np.zeros(a.shape[:-2] + ((m, m) if mode == "complete" else (m, k)))
        if mode == "complete":
            q = q + np.eye(m)
        r = np.zeros(a.shape[:-2] + ((m, n) if mode == "complete" else (k, n)))
    elif mode == "r":
        q, r = None, np.linalg.qr(a, mode="r")
    else:
        q, r = np.linalg.qr(a, mode=mode)
    if mode == "r":
        return np.zeros((0,)), r
    return q, r


@ref("_linalg_eigh")
def _eigh(a, UPLO="L"):
    w = np.linalg.eigvalsh(a, UPLO=UPLO) if a.size else np.zeros(a.shape[:-1])
    return w, None


@ref("_linalg_svd")
def _svd(a, full_matrices=True):
    s = np.linalg.svd(a, compute_uv=False) if a.size else np.zeros(a.shape[:-2] + (min(a.shape[-2:]),))
    return None, s, None
