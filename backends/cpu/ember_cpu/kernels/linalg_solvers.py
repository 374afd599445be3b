"""Factorizations and solvers on LAPACK, for the operators of ember.ops.linalg_solvers.

Core has checked every input (float32 or float64 batches of matrices, square where
needed, nothing empty) before a kernel runs. Two ways to LAPACK, chosen by the matrix
size n (the larger side) against the operator's ``SMALL_N`` (16 for cholesky, inv, eigh
and svd; 32 for solve, slogdet and qr):

- n >= SMALL_N: scipy's LAPACK wrappers (potrf, getrf/getri, gesv, syevd, gesdd,
  geqrf/orgqr), one call per matrix of the batch. Their LAPACK is faster than
  numpy.linalg's (at n = 512 on one thread: 2.4x for solve, 2x for eigh, 2.4x for
  svd), and each call hands back LAPACK's ``info``: the order of the failing minor
  (potrf), 1 + the index of the first zero pivot (getrf), as PyTorch reports them.
- n < SMALL_N: numpy.linalg's batched gufuncs, one call for the whole batch (there the
  Python loop costs more than scipy's faster LAPACK saves; the crossovers were
  measured on batches of 8192 / n float32 matrices on one thread). numpy raises on a singular or
  non-positive-definite matrix without saying which one: the batch is then computed
  again by the per-matrix loop, which gives each info (the error path only).

A matrix ``m`` in C order is ``m.T`` in Fortran order: potrf, syevd and gesdd read
``m.T`` (the other triangle, the transposed problem) to spare a copy. LU and QR
factor A itself, so that pivots, info and QR's signs are LAPACK's on A. Inputs are
numpy views of tensors: they are never overwritten; only the kernels' own copies are.
scipy is imported on the first call, so ``import ember`` does not pay for it.
"""

from __future__ import annotations

import numpy as np

from ..runtime import arr, wrap

#: Per operator, the matrix size from which a loop of scipy calls beats numpy's batched gufunc.
SMALL_N = {"cholesky": 16, "inv": 16, "solve": 32, "slogdet": 32, "qr": 32, "eigh": 16, "svd": 16}

_funcs = {}
_lwork = {}
_LinAlgError = np.linalg.LinAlgError


def _lapack(name, dtype):
    """scipy's wrapper of LAPACK routine ``name`` for float32 ('s') or float64 ('d'), cached."""
    key = (name, dtype.char)
    f = _funcs.get(key)
    if f is None:
        from scipy.linalg import get_lapack_funcs
        f = _funcs[key] = get_lapack_funcs(name, dtype=dtype)
    return f


def _work(name, dtype, *args, **kw):
    """The optimal workspace size(s) of routine ``name`` (its ``*_lwork`` query), cached per problem."""
    key = (name, dtype.char, args, tuple(kw.items()))
    w = _lwork.get(key)
    if w is None:
        from scipy.linalg.lapack import _compute_lwork
        w = _lwork[key] = _compute_lwork(_lapack(name + "_lwork", dtype), *args, **kw)
    return w


def _orgqr_work(dtype, m, n, k):
    """orgqr's optimal workspace for an m x n Q from k reflectors (a workspace query), cached."""
    key = ("orgqr", dtype.char, m, n, k)
    w = _lwork.get(key)
    if w is None:
        _, work, _ = _lapack("orgqr", dtype)(np.zeros((m, n), dtype, order="F"), np.zeros(k, dtype), lwork=-1)
        w = _lwork[key] = max(int(np.ceil(work[0] * (1 + 2 ** -20))), n, 1)
    return w


def _flat(a):
    """a (*, m, n) as (b, m, n) (a view where the strides allow)."""
    return a.reshape((-1,) + a.shape[-2:])


def _nan_where(info, out):
    """out with the matrices whose info is not 0 set to NaN (their results are undefined)."""
    bad = info != 0
    if bad.any():
        out[bad] = np.nan
    return out


def _raise_failed(opname, what, info, i, batched):
    """LinAlgError for a routine that did not converge on matrix i, worded as PyTorch's."""
    from ember.errors import LinAlgError
    where = f"(Batch element {i}): " if batched else ""
    if info < 0:
        raise LinAlgError(f"{opname}: {where}The algorithm failed to converge because the input matrix contained "
                          f"non-finite values; check the input for NaN or inf.")
    raise LinAlgError(f"{opname}: {where}The algorithm failed to converge because the input matrix is "
                      f"ill-conditioned or has too many repeated {what} (error code: {info}).")


# -- cholesky ---------------------------------------------------------------------------

def _cholesky_lapack(a):
    potrf = _lapack("potrf", a.dtype)
    flat = _flat(a)
    out = np.empty(flat.shape, a.dtype)
    info = np.empty(flat.shape[0], np.int32)
    for i, m in enumerate(flat):
        c, info[i] = potrf(m.T, lower=0, clean=1)      # upper U of m.T is L^T (m's lower triangle)
        out[i] = c.T
    return _nan_where(info, out).reshape(a.shape), info.reshape(a.shape[:-2])


def cholesky(A):
    a = arr(A)
    if a.shape[-1] < SMALL_N["cholesky"]:
        try:
            return wrap(np.linalg.cholesky(a)), wrap(np.zeros(a.shape[:-2], np.int32))
        except _LinAlgError:
            pass
    Lw, info = _cholesky_lapack(a)
    return wrap(Lw), wrap(info)


# -- inv, solve, slogdet: LU with partial pivoting ----------------------------------------

def _inv_lapack(a):
    getrf, getri = _lapack("getrf", a.dtype), _lapack("getri", a.dtype)
    n = a.shape[-1]
    lwork = _work("getri", a.dtype, n)
    flat = _flat(a)
    out = np.empty(flat.shape, a.dtype)
    info = np.empty(flat.shape[0], np.int32)
    for i, m in enumerate(flat):
        lu, piv, info[i] = getrf(m)
        if info[i] == 0:
            out[i], _ = getri(lu, piv, lwork=lwork, overwrite_lu=1)
    return _nan_where(info, out).reshape(a.shape), info.reshape(a.shape[:-2])


def inv(A):
    a = arr(A)
    if a.shape[-1] < SMALL_N["inv"]:
        try:
            return wrap(np.linalg.inv(a)), wrap(np.zeros(a.shape[:-2], np.int32))
        except _LinAlgError:
            pass
    r, info = _inv_lapack(a)
    return wrap(r), wrap(info)


def _solve_lapack(a, b):
    gesv = _lapack("gesv", a.dtype)
    fa, fb = _flat(a), _flat(b)
    out = np.empty(fb.shape, b.dtype)
    info = np.empty(fa.shape[0], np.int32)
    for i in range(fa.shape[0]):
        _, _, out[i], info[i] = gesv(fa[i], fb[i])
    return _nan_where(info, out).reshape(b.shape), info.reshape(a.shape[:-2])


def solve(A, B):
    a, b = arr(A), arr(B)
    if a.shape[-1] < SMALL_N["solve"]:
        try:
            return wrap(np.linalg.solve(a, b)), wrap(np.zeros(a.shape[:-2], np.int32))
        except _LinAlgError:
            pass
    r, info = _solve_lapack(a, b)
    return wrap(r), wrap(info)


def slogdet(A):
    a = arr(A)
    if a.shape[-1] < SMALL_N["slogdet"]:
        sign, logabs = np.linalg.slogdet(a)
        return wrap(np.asarray(sign, a.dtype)), wrap(np.asarray(logabs, a.dtype))
    getrf = _lapack("getrf", a.dtype)
    flat = _flat(a)
    n = a.shape[-1]
    d = np.empty(flat.shape[:-1], a.dtype)             # U's diagonals, (b, n)
    piv = np.empty(flat.shape[:-1], np.int32)           # the row swapped with each row (0-based)
    for i, m in enumerate(flat):
        lu, piv[i], _ = getrf(m)
        d[i] = np.diagonal(lu)
    flips = np.count_nonzero(piv != np.arange(n, dtype=np.int32), -1) + np.count_nonzero(d < 0, -1)
    sign = np.where((d == 0).any(-1), 0, np.where(flips & 1, -1, 1)).astype(a.dtype)
    with np.errstate(divide="ignore"):
        logabs = np.log(np.abs(d)).sum(-1)
    return wrap(sign.reshape(a.shape[:-2])), wrap(logabs.reshape(a.shape[:-2]))


# -- qr ---------------------------------------------------------------------------------

def _qr_lapack(a, mode):
    geqrf, orgqr = _lapack("geqrf", a.dtype), _lapack("orgqr", a.dtype)
    m, n = a.shape[-2:]
    k = min(m, n)
    qcols = m if mode == "complete" else k
    rrows = m if mode == "complete" else k
    lwork = _work("geqrf", a.dtype, m, n)
    qwork = _orgqr_work(a.dtype, m, qcols, k)
    flat = _flat(a)
    R = np.zeros((flat.shape[0], rrows, n), a.dtype)
    Q = np.empty((flat.shape[0], m, qcols), a.dtype) if mode != "r" else None
    for i, x in enumerate(flat):
        f, tau, _, _ = geqrf(x, lwork=lwork)
        R[i] = np.triu(f[:rrows])
        if Q is None:
            continue
        if qcols > n:                                   # complete Q of a tall matrix: m columns to fill
            g = np.zeros((m, qcols), a.dtype, order="F")
            g[:, :n] = f
            f = g
        Q[i], _, _ = orgqr(f[:, :qcols], tau, lwork=qwork, overwrite_a=1)
    R = R.reshape(a.shape[:-2] + R.shape[1:])
    Q = np.zeros((0,), a.dtype) if Q is None else Q.reshape(a.shape[:-2] + Q.shape[1:])
    return Q, R


def qr(A, mode):
    a = arr(A)
    if max(a.shape[-2:]) >= SMALL_N["qr"]:
        q, r = _qr_lapack(a, mode)
        return wrap(q), wrap(r)
    if mode == "r":
        return wrap(np.zeros((0,), a.dtype)), wrap(np.ascontiguousarray(np.linalg.qr(a, mode="r")))
    q, r = np.linalg.qr(a, mode=mode)
    return wrap(np.ascontiguousarray(q)), wrap(np.ascontiguousarray(r))


# -- eigh and svd -----------------------------------------------------------------------

def _eigh_lapack(a, UPLO):
    syevd = _lapack("syevd", a.dtype)
    n = a.shape[-1]
    lwork, liwork = _work("syevd", a.dtype, n, compute_v=1)
    lower = int(UPLO == "U")                            # m's UPLO triangle is the other one of m.T
    flat = _flat(a)
    w = np.empty(flat.shape[:-1], a.dtype)
    v = np.empty(flat.shape, a.dtype)
    for i, m in enumerate(flat):
        w[i], v[i], info = syevd(m.T, compute_v=1, lower=lower, lwork=lwork, liwork=liwork)
        if info:
            _raise_failed("linalg.eigh", "eigenvalues", int(info), i, a.ndim > 2)
    return w.reshape(a.shape[:-1]), v.reshape(a.shape)


def eigh(A, UPLO):
    a = arr(A)
    if a.shape[-1] < SMALL_N["eigh"]:
        try:
            w, v = np.linalg.eigh(a, UPLO=UPLO)
            return wrap(w), wrap(np.ascontiguousarray(v))
        except _LinAlgError:
            pass
    w, v = _eigh_lapack(a, UPLO)
    return wrap(w), wrap(v)


def _svd_lapack(a, full_matrices):
    gesdd = _lapack("gesdd", a.dtype)
    m, n = a.shape[-2:]
    k = min(m, n)
    fm = int(bool(full_matrices))
    lwork = _work("gesdd", a.dtype, n, m, compute_uv=1, full_matrices=fm)
    flat = _flat(a)
    b = flat.shape[0]
    U = np.empty((b, m, m if fm else k), a.dtype)
    S = np.empty((b, k), a.dtype)
    Vh = np.empty((b, n if fm else k, n), a.dtype)
    for i, x in enumerate(flat):
        # m.T = U' S Vt' is the SVD of A^T, so A = Vt'^T S U'^T
        u, S[i], vt, info = gesdd(x.T, compute_uv=1, full_matrices=fm, lwork=lwork)
        if info:
            _raise_failed("linalg.svd", "singular values", int(info), i, a.ndim > 2)
        U[i], Vh[i] = vt.T, u.T
    batch = a.shape[:-2]
    return U.reshape(batch + U.shape[1:]), S.reshape(batch + (k,)), Vh.reshape(batch + Vh.shape[1:])


def svd(A, full_matrices):
    a = arr(A)
    if max(a.shape[-2:]) < SMALL_N["svd"]:
        try:
            u, s, vh = np.linalg.svd(a, full_matrices=full_matrices)
            return wrap(np.ascontiguousarray(u)), wrap(s), wrap(np.ascontiguousarray(vh))
        except _LinAlgError:
            pass
    u, s, vh = _svd_lapack(a, full_matrices)
    return wrap(u), wrap(s), wrap(vh)


KERNELS = {"_linalg_cholesky_ex": cholesky, "_linalg_inv_ex": inv, "_linalg_solve_ex": solve,
           "_linalg_slogdet": slogdet, "_linalg_qr": qr, "_linalg_eigh": eigh, "_linalg_svd": svd}
