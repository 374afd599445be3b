"""Operators: matrix factorizations and solvers (the heavy part of ``ember.linalg``).

Each operator takes batches of matrices ``(*, m, n)`` of float32 or float64 and is
defined once here, with a decomposition written with ember operators down to the
prims, so every backend has it:

- ``_linalg_cholesky_ex``: Cholesky-Banachiewicz, one column at a time;
- ``_linalg_inv_ex``, ``_linalg_solve_ex``, ``_linalg_slogdet``: Gauss-Jordan
  elimination with partial pivoting (the pivots are LAPACK getrf's);
- ``_linalg_qr``: Householder reflections with LAPACK's sign convention (geqrf);
- ``_linalg_eigh``: cyclic Jacobi rotations;
- ``_linalg_svd``: one-sided Jacobi (Hestenes), then a Householder QR of the
  rotated columns for U (which also completes U when ``full_matrices``).

A backend may register a faster kernel (cpu: numpy.linalg, xla: jax.numpy.linalg);
the adapter checks the input in core, answers empty batches and empty matrices
itself, and calls ``kernel(A, ...)`` only on non-empty float32/float64 batches,
documented on each operator. The ``_ex`` operators return LAPACK's ``info`` (an
int32 per matrix: 0, or the 1-based index where the factorization failed) instead of
raising, so that a kernel never syncs; ``ember.linalg`` reads it and raises
``LinAlgError`` as PyTorch does. Derivatives are in ``ember.autograd.formulas_linalg``.
"""

from __future__ import annotations

import math
from collections import namedtuple

from .. import dtypes as D
from .._tensor import Tensor
from ..dispatch import defop
from ..errors import DTypeError, ShapeError
from . import creation as C
from . import elementwise as E
from . import indexing as I
from . import linalg as L
from . import reduction as R
from . import shape as S
from . import sorting as SO
from . import views as V
from ._helpers import Spec, numel
from ..errors import ArgumentTypeError, InvalidArgumentError

SlogdetResult = namedtuple("linalg_slogdet", ["sign", "logabsdet"])
QRResult = namedtuple("linalg_qr", ["Q", "R"])
EighResult = namedtuple("linalg_eigh", ["eigenvalues", "eigenvectors"])
SVDResult = namedtuple("linalg_svd", ["U", "S", "Vh"])
CholeskyExResult = namedtuple("linalg_cholesky_ex", ["L", "info"])
InvExResult = namedtuple("linalg_inv_ex", ["inverse", "info"])
SolveExResult = namedtuple("linalg_solve_ex", ["result", "info"])
for _t in (SlogdetResult, QRResult, EighResult, SVDResult, CholeskyExResult, InvExResult, SolveExResult):
    _t.__module__ = "ember.return_types"

_FLOATS = (D.float32, D.float64)
_QR_MODES = ("reduced", "complete", "r")


# -- checks (core's, once, before any kernel) -------------------------------------------

def check_matrix(opname, A, square=True, what="A"):
    """A batch of float32/float64 matrices (square ones when ``square``), else a typed error."""
    if not isinstance(A, Tensor):
        raise ArgumentTypeError(f"{opname}(): expected {what} to be a tensor, got {type(A).__name__}")
    if A.ndim < 2:
        raise ShapeError(f"{opname}: The input tensor {what} must have at least 2 dimensions, got shape "
                         f"{tuple(A._shape)}; pass a matrix or a batch of matrices (*, m, n)")
    if square and A._shape[-1] != A._shape[-2]:
        raise ShapeError(f"{opname}: {what} must be batches of square matrices, but they are {A._shape[-2]} by "
                         f"{A._shape[-1]} matrices (shape {tuple(A._shape)})")
    check_float(opname, A, what)


def check_float(opname, A, what="A"):
    if A._dtype not in _FLOATS:
        low = A._dtype in (D.float16, D.bfloat16)
        raise DTypeError(f"{opname}: {what} has dtype {A._dtype.name}, but only float32 and float64 are supported"
                         f"{' (low precision dtypes are not)' if low else ''}; convert it with .to(ember.float32) "
                         f"or .to(ember.float64)")


def _batch(A):
    return tuple(A._shape[:-2])


def _as_batch(A):
    """A (*, m, n) as (b, m, n)."""
    return V.reshape(A, (numel(_batch(A)),) + tuple(A._shape[-2:]))


def _eye(n, A, m=None):
    return C.eye(n, m, dtype=A._dtype, device=A._device)


def _int_info(A, value=0):
    return C.full(_batch(A), value, dtype=D.int32, device=A._device)


def _adapter(empty):
    """Check in core, answer empty inputs with ``empty(A, *rest)``, then let the kernel compute."""
    def adapter(op, kernel, backend):
        meta = op.meta

        def entry(A, *rest):
            meta(A, *rest)
            if A.numel() == 0:
                return empty(A, *rest)
            return kernel(A, *rest)
        return entry
    return adapter


def _rows(n, A):
    return C.arange(0, n, device=A._device)


# -- cholesky ---------------------------------------------------------------------------

def _cholesky_meta(A, upper=False):
    check_matrix("linalg.cholesky", A)
    return Spec(A._shape, A._dtype), Spec(_batch(A), D.int32)


def _cholesky_empty(A, upper=False):
    return C.clone(A), _int_info(A)


def _cholesky_lower(A):
    """Cholesky-Banachiewicz on (b, n, n), reading the lower triangle: (L, info)."""
    b, n = A._shape[0], A._shape[-1]
    rows = _rows(n, A)
    info = C.full((b,), 0, dtype=D.int32, device=A._device)
    cols = []
    for j in range(n):
        a = V.select(A, -1, j)                                         # (b, n)
        if j:
            Lp = S.stack(cols, -1)                                     # (b, n, j)
            a = E.sub(a, V.squeeze(L.matmul(Lp, V.unsqueeze(V.select(Lp, 1, j), -1)), -1))
        d = V.select(a, -1, j)
        ok = E.gt(d, 0)                                                # NaN is not positive either
        info = E.where(E.logical_and(E.eq(info, 0), E.logical_not(ok)), j + 1, info).to(D.int32)
        ljj = E.sqrt(E.where(ok, d, 1.0))
        col = E.true_divide(a, V.unsqueeze(ljj, -1))
        col = E.where(E.gt(rows, j), col, E.where(E.eq(rows, j), V.unsqueeze(ljj, -1), 0.0))
        cols.append(col)
    return S.stack(cols, -1), info


def _cholesky_ex(A, upper=False):
    _cholesky_meta(A, upper)
    if A.numel() == 0:
        return _cholesky_empty(A, upper)
    Lw, info = _cholesky_lower(_as_batch(A))
    Lw = V.reshape(Lw, A._shape)
    return (C.contiguous(Lw.mT) if upper else Lw), V.reshape(info, _batch(A))


def _cholesky_adapter(op, kernel, backend):
    def entry(A, upper=False):
        _cholesky_meta(A, upper)
        if A.numel() == 0:
            return _cholesky_empty(A, upper)
        Lw, info = kernel(A)
        return (C.contiguous(Lw.mT) if upper else Lw), info
    return entry


_linalg_cholesky_ex = defop(
    "_linalg_cholesky_ex(Tensor self, bool upper=False) -> (Tensor, Tensor)", meta=_cholesky_meta,
    decomposition=_cholesky_ex, adapter=_cholesky_adapter, family="linalg_solvers",
    doc="Cholesky factor of symmetric positive-definite matrices and LAPACK's info (int32 per matrix: 0, or the "
        "order of the first leading minor that is not positive-definite).\n"
        "Kernel: kernel(A) -> (L, info); A is (*, n, n) float32/float64, non-empty, only its lower triangle is "
        "read; L is lower triangular (zeros above); core transposes it for upper=True.")


# -- Gauss-Jordan: inv, solve, slogdet --------------------------------------------------

def _gauss_jordan(A, B):
    """Eliminate [A | B] (b, n, n) and (b, n, k) with partial pivoting: (A^-1 B, pivots (b, n), sign of the
    row permutation (b,), info (b,) int32: 1 + the first zero pivot, or 0)."""
    b, n = A._shape[0], A._shape[-1]
    M = S.cat([A, B], -1)
    rows = _rows(n, A)
    col_rows = V.unsqueeze(rows, -1)                                    # (n, 1)
    sign = C.full((b,), 1, dtype=A._dtype, device=A._device)
    pivots = []
    for k in range(n):
        col = V.select(M, -1, k)                                       # (b, n)
        cand = E.where(E.ge(rows, k), E.abs(col), -1.0)
        p = R.argmax(cand, -1, True)                                   # (b, 1): the first largest, as idamax
        perm = E.where(E.eq(rows, k), p, E.where(E.eq(rows, p), k, rows))
        M = I.gather(M, 1, V.expand(V.unsqueeze(perm, -1), M._shape))
        sign = E.where(E.eq(V.squeeze(p, -1), k), sign, E.neg(sign))
        piv = V.select(V.select(M, 1, k), -1, k)                       # (b,)
        pivots.append(piv)
        rowk = E.true_divide(V.select(M, 1, k), V.unsqueeze(E.where(E.eq(piv, 0), 1.0, piv), -1))
        f = E.where(E.eq(rows, k), 0.0, V.select(M, -1, k))            # (b, n)
        M = E.sub(M, E.mul(V.unsqueeze(f, -1), V.unsqueeze(rowk, 1)))
        M = E.where(E.eq(col_rows, k), V.unsqueeze(rowk, 1), M)
    pv = S.stack(pivots, -1) if pivots else C.full((b, 0), 1, dtype=A._dtype, device=A._device)
    zero = E.eq(pv, 0)
    first = R.argmax(zero.to(D.int32), -1) if n else C.full((b,), 0, dtype=D.int64, device=A._device)
    info = E.where(R.any(zero, [-1]), E.add(first, 1), 0).to(D.int32)
    return V.narrow(M, -1, n, B._shape[-1]), pv, sign, info


def _inv_meta(A):
    check_matrix("linalg.inv", A)
    return Spec(A._shape, A._dtype), Spec(_batch(A), D.int32)


def _inv_empty(A):
    return C.clone(A), _int_info(A)


def _inv_ex(A):
    _inv_meta(A)
    if A.numel() == 0:
        return _inv_empty(A)
    Ab = _as_batch(A)
    n = A._shape[-1]
    X, _, _, info = _gauss_jordan(Ab, V.expand(_eye(n, A), Ab._shape))
    return V.reshape(X, A._shape), V.reshape(info, _batch(A))


_linalg_inv_ex = defop(
    "_linalg_inv_ex(Tensor self) -> (Tensor, Tensor)", meta=_inv_meta, decomposition=_inv_ex,
    adapter=_adapter(_inv_empty), family="linalg_solvers",
    doc="Inverses of square matrices and LAPACK getrf's info (int32 per matrix: 0, or the 1-based index of the "
        "first zero pivot of the LU factorization with partial pivoting; the inverse is then undefined).\n"
        "Kernel: kernel(A) -> (inverse, info); A is (*, n, n) float32/float64, non-empty.")


def _solve_meta(A, B, left=True):
    check_matrix("linalg.solve", A)
    if not isinstance(B, Tensor):
        raise ArgumentTypeError(f"linalg.solve(): expected B to be a tensor, got {type(B).__name__}")
    if B._dtype is not A._dtype:
        raise DTypeError(f"linalg.solve: Expected A and B to have the same dtype, but found A of type "
                         f"{A._dtype.name} and B of type {B._dtype.name}; convert one of them with .to()")
    if B.ndim < 2:
        raise ShapeError(f"linalg.solve: B must be a batch of matrices here, got shape {tuple(B._shape)}")
    n = A._shape[-1]
    rows, cols = B._shape[-2:]
    if (rows if left else cols) != n:
        eq = "AX = B" if left else "XA = B"
        raise ShapeError(f"linalg.solve: Incompatible shapes of A and B for the equation {eq} "
                         f"({A._shape[-2]}x{n} and {rows}x{cols})")
    from ._helpers import broadcast_shapes
    try:
        batch = broadcast_shapes(_batch(A), _batch(B))
    except ShapeError:
        raise ShapeError(f"linalg.solve: the batch dimensions of A {tuple(A._shape)} and B {tuple(B._shape)} "
                         f"cannot be broadcast together") from None
    return Spec(batch + (rows, cols), A._dtype, batch), Spec(_batch(A), D.int32)


def _info_of_A(info, A, batch):
    """The per-matrix info of the broadcast batch cut down to A's own batch (PyTorch's shape: info
    describes A's factorization; A's broadcast copies share it)."""
    a = _batch(A)
    if tuple(batch) == tuple(a):
        return info
    lead = len(batch) - len(a)
    info = V.reshape(info, batch)
    for d in range(lead):
        info = V.select(info, 0, 0)
    for d, n in enumerate(a):
        if n == 1 and info._shape[d] != 1:
            info = V.narrow(info, d, 0, 1)
    return C.contiguous(info)


def _solve_operands(A, B, left, batch):
    """A and B broadcast to one batch, the equation written as A X = B."""
    n = A._shape[-1]
    if not left:
        A, B = A.mT, B.mT
    A = V.expand(A, batch + (n, n)) if _batch(A) != batch else A
    B = V.expand(B, batch + tuple(B._shape[-2:])) if _batch(B) != batch else B
    return A, B


def _solve_empty(A, B, left, spec):
    X = C.full(spec[0].shape, 0, dtype=A._dtype, device=A._device)
    return X, C.full(spec[1].shape, 0, dtype=D.int32, device=A._device)


def _solve_ex(A, B, left=True):
    spec = _solve_meta(A, B, left)
    batch = spec[0].extra
    if numel(spec[0].shape) == 0 or A._shape[-1] == 0:
        return _solve_empty(A, B, left, spec)
    A2, B2 = _solve_operands(A, B, left, batch)
    X, _, _, info = _gauss_jordan(_as_batch(A2), _as_batch(B2))
    X = V.reshape(X, batch + tuple(B2._shape[-2:]))
    return (C.contiguous(X.mT) if not left else X), _info_of_A(V.reshape(info, batch), A, batch)


def _solve_adapter(op, kernel, backend):
    def entry(A, B, left=True):
        spec = _solve_meta(A, B, left)
        batch = spec[0].extra
        if numel(spec[0].shape) == 0 or A._shape[-1] == 0:
            return _solve_empty(A, B, left, spec)
        A2, B2 = _solve_operands(A, B, left, batch)
        X, info = kernel(A2, B2)
        return (C.contiguous(X.mT) if not left else X), _info_of_A(info, A, batch)
    return entry


_linalg_solve_ex = defop(
    "_linalg_solve_ex(Tensor A, Tensor B, bool left=True) -> (Tensor, Tensor)", meta=_solve_meta,
    decomposition=_solve_ex, adapter=_solve_adapter, family="linalg_solvers",
    doc="The solution X of A X = B (left) or X A = B, for a batch of matrices B, and LAPACK getrf's info "
        "(int32 per matrix, as in _linalg_inv_ex). Batch dims broadcast.\n"
        "Kernel: kernel(A, B) -> (X, info); A is (*, n, n), B is (*, n, k) with the same batch (possibly "
        "expanded, stride 0), one float dtype, non-empty; core transposes for left=False.")


def _slogdet_meta(A):
    check_matrix("linalg.slogdet", A)
    return Spec(_batch(A), A._dtype), Spec(_batch(A), A._dtype)


def _slogdet_empty(A):
    return (C.full(_batch(A), 1, dtype=A._dtype, device=A._device),
            C.full(_batch(A), 0, dtype=A._dtype, device=A._device))


def _slogdet(A):
    _slogdet_meta(A)
    if A.numel() == 0:
        return _slogdet_empty(A)
    Ab = _as_batch(A)
    empty = C.full(Ab._shape[:-1] + (0,), 0, dtype=A._dtype, device=A._device)
    _, piv, sign, _ = _gauss_jordan(Ab, empty)
    sign = E.mul(sign, R.prod(E.sign(piv), [-1]))
    logabs = R.sum(E.log(E.abs(piv)), [-1])
    return V.reshape(sign, _batch(A)), V.reshape(logabs, _batch(A))


_linalg_slogdet_op = defop(
    "_linalg_slogdet(Tensor self) -> (Tensor, Tensor)", meta=_slogdet_meta, decomposition=_slogdet,
    adapter=_adapter(_slogdet_empty), family="linalg_solvers",
    doc="Sign and log of the absolute value of the determinants of square matrices (sign 0 and -inf for a "
        "singular matrix; 1 and 0 for a 0x0 one).\n"
        "Kernel: kernel(A) -> (sign, logabsdet); A is (*, n, n) float32/float64, non-empty.")


# -- QR ---------------------------------------------------------------------------------

def _qr_meta(A, mode="reduced"):
    if mode not in _QR_MODES:
        raise InvalidArgumentError(f"qr received unrecognized mode {mode!r} but expected one of 'reduced' (default), 'r', "
                                   f"or 'complete'")
    check_matrix("linalg.qr", A, square=False)
    m, n = A._shape[-2:]
    k = min(m, n)
    b = _batch(A)
    if mode == "r":
        return Spec((0,), A._dtype), Spec(b + (k, n), A._dtype)
    if mode == "complete":
        return Spec(b + (m, m), A._dtype), Spec(b + (m, n), A._dtype)
    return Spec(b + (m, k), A._dtype), Spec(b + (k, n), A._dtype)


def _qr_empty(A, mode="reduced"):
    q, r = _qr_meta(A, mode)
    Q = C.full(q.shape, 0, dtype=A._dtype, device=A._device)
    if mode == "complete" and numel(q.shape):
        Q = C.contiguous(V.expand(_eye(q.shape[-1], A), q.shape))
    return Q, C.full(r.shape, 0, dtype=A._dtype, device=A._device)


def _householder(A):
    """Householder QR of (b, m, n) with LAPACK geqrf's reflectors: (Q (b, m, m), R (b, m, n))."""
    b, m, n = A._shape
    rows = _rows(m, A)
    Rw = A
    Q = V.expand(_eye(m, A), (b, m, m))
    for k in range(min(m, n)):
        x = V.select(Rw, -1, k)                                        # (b, m)
        below = E.gt(rows, k)
        alpha = V.select(x, -1, k)
        xnorm = E.sqrt(R.sum(E.where(below, E.mul(x, x), 0.0), [-1]))
        nz = E.ne(xnorm, 0)
        beta = E.neg(E.copysign(E.sqrt(E.add(E.mul(alpha, alpha), E.mul(xnorm, xnorm))), alpha))
        beta = E.where(nz, beta, alpha)
        tau = E.where(nz, E.true_divide(E.sub(beta, alpha), E.where(nz, beta, 1.0)), 0.0)
        scale = E.where(nz, E.sub(alpha, beta), 1.0)
        v = E.where(below, E.true_divide(x, V.unsqueeze(scale, -1)), E.where(E.eq(rows, k), 1.0, 0.0))
        tv = E.mul(V.unsqueeze(tau, -1), v)                             # tau v, (b, m)
        Rw = E.sub(Rw, E.mul(V.unsqueeze(tv, -1), L.matmul(V.unsqueeze(v, 1), Rw)))
        Q = E.sub(Q, E.mul(L.matmul(Q, V.unsqueeze(v, -1)), V.unsqueeze(tv, 1)))
    return Q, S.triu(Rw)


def _qr(A, mode="reduced"):
    specs = _qr_meta(A, mode)
    if A.numel() == 0:
        return _qr_empty(A, mode)
    m, n = A._shape[-2:]
    k = min(m, n)
    Q, Rw = _householder(_as_batch(A))
    b = _batch(A)
    if mode == "complete":
        return V.reshape(Q, b + (m, m)), V.reshape(Rw, b + (m, n))
    Rk = V.reshape(C.contiguous(V.narrow(Rw, 1, 0, k)), b + (k, n))
    if mode == "r":
        return C.full(specs[0].shape, 0, dtype=A._dtype, device=A._device), Rk
    return V.reshape(C.contiguous(V.narrow(Q, -1, 0, k)), b + (m, k)), Rk


_linalg_qr = defop(
    "_linalg_qr(Tensor self, str mode='reduced') -> (Tensor, Tensor)", meta=_qr_meta, decomposition=_qr,
    adapter=_adapter(_qr_empty), family="linalg_solvers",
    doc="QR factorization A = Q R with LAPACK geqrf's Householder reflectors (so R's diagonal signs are "
        "LAPACK's, as numpy.linalg.qr and PyTorch give). mode='reduced': Q (*, m, k), R (*, k, n); "
        "'complete': Q (*, m, m), R (*, m, n); 'r': Q empty (0,), R (*, k, n); k = min(m, n).\n"
        "Kernel: kernel(A, mode) -> (Q, R); A is (*, m, n) float32/float64, non-empty; mode already checked.")


# -- Jacobi rotations: eigh and svd ----------------------------------------------------

def _tol(A):
    return 4.0 * (2.220446049250313e-16 if A._dtype is D.float64 else 1.1920928955078125e-07)


def _givens(t):
    """cos and sin of the rotation whose tangent is t."""
    c = E.rsqrt(E.add(E.mul(t, t), 1.0))
    return c, E.mul(t, c)


def _tangent(diff, twice_off):
    """tan of the angle that zeroes an off-diagonal entry (Golub & Van Loan's symSchur2): with
    theta = diff / twice_off, t = sign(theta) / (|theta| + sqrt(theta^2 + 1)); 0 where twice_off is 0."""
    nz = E.ne(twice_off, 0)
    theta = E.true_divide(diff, E.where(nz, twice_off, 1.0))
    sgn = E.where(E.ge(theta, 0), 1.0, -1.0)
    t = E.true_divide(sgn, E.add(E.abs(theta), E.sqrt(E.add(E.mul(theta, theta), 1.0))))
    return E.where(nz, t, 0.0)


def _rotation(n, p, q, c, s, A):
    """The (b, n, n) identity with [[c, s], [-s, c]] in rows and columns p, q."""
    idx = _rows(n, A)
    r, k = V.unsqueeze(idx, -1), V.unsqueeze(idx, 0)
    on_pq = E.logical_or(E.logical_and(E.eq(r, p), E.eq(k, p)), E.logical_and(E.eq(r, q), E.eq(k, q)))
    eye = _eye(n, A)
    c3, s3 = V.unsqueeze(V.unsqueeze(c, -1), -1), V.unsqueeze(V.unsqueeze(s, -1), -1)
    J = E.where(on_pq, c3, eye)
    J = E.where(E.logical_and(E.eq(r, p), E.eq(k, q)), s3, J)
    return E.where(E.logical_and(E.eq(r, q), E.eq(k, p)), E.neg(s3), J)


def _off_ratio(M):
    """max over the batch of |M_ij| / sqrt(M_ii M_jj) off the diagonal (a host number)."""
    n = M._shape[-1]
    d = E.sqrt(E.abs(V.diagonal(M, 0, -2, -1)))
    den = E.mul(V.unsqueeze(d, -1), V.unsqueeze(d, -2))
    off = E.where(E.eq(_eye(n, M), 1), 0.0, E.abs(M))
    ratio = E.true_divide(off, E.where(E.eq(den, 0), 1.0, den))
    return float(R.amax(E.where(E.eq(den, 0), E.where(E.eq(off, 0), 0.0, math.inf), ratio)))


_MAX_SWEEPS = 40


def _jacobi_eigh(A):
    """Cyclic Jacobi on symmetric (b, n, n): (eigenvalues ascending (b, n), eigenvectors (b, n, n))."""
    b, n = A._shape[0], A._shape[-1]
    W = V.expand(_eye(n, A), (b, n, n))
    tol = _tol(A)
    for _ in range(_MAX_SWEEPS):
        if _off_ratio(A) <= tol:
            break
        for p in range(n - 1):
            for q in range(p + 1, n):
                app = V.select(V.select(A, 1, p), -1, p)
                aqq = V.select(V.select(A, 1, q), -1, q)
                apq = V.select(V.select(A, 1, p), -1, q)
                c, s = _givens(_tangent(E.sub(aqq, app), E.mul(apq, 2.0)))
                J = _rotation(n, p, q, c, s, A)
                A = L.matmul(L.matmul(J.mT, A), J)
                W = L.matmul(W, J)
    w, order = SO.sort(V.diagonal(A, 0, -2, -1), -1)
    return w, I.gather(W, -1, V.expand(V.unsqueeze(order, 1), W._shape))


def _symmetric(A, UPLO):
    """The symmetric matrix that A's lower (UPLO='L') or upper triangle describes."""
    T = S.tril(A) if UPLO == "L" else S.triu(A)
    return E.sub(E.add(T, T.mT), E.mul(T, _eye(A._shape[-1], A)))


def _eigh_meta(A, UPLO="L"):
    if UPLO not in ("L", "U"):
        raise InvalidArgumentError(f"linalg.eigh: Expected UPLO argument to be 'L' or 'U', but got {UPLO!r}")
    check_matrix("linalg.eigh", A)
    return Spec(A._shape[:-1], A._dtype), Spec(A._shape, A._dtype)


def _eigh_empty(A, UPLO="L"):
    return C.full(A._shape[:-1], 0, dtype=A._dtype, device=A._device), C.clone(A)


def _eigh(A, UPLO="L"):
    _eigh_meta(A, UPLO)
    if A.numel() == 0:
        return _eigh_empty(A, UPLO)
    w, W = _jacobi_eigh(_symmetric(_as_batch(A), UPLO))
    return V.reshape(w, A._shape[:-1]), V.reshape(W, A._shape)


_linalg_eigh = defop(
    "_linalg_eigh(Tensor self, str UPLO='L') -> (Tensor, Tensor)", meta=_eigh_meta, decomposition=_eigh,
    adapter=_adapter(_eigh_empty), family="linalg_solvers",
    doc="Eigenvalues (ascending) and orthonormal eigenvectors (columns) of symmetric matrices, read from the "
        "lower (UPLO='L') or upper triangle. Each eigenvector's sign is free.\n"
        "Kernel: kernel(A, UPLO) -> (eigenvalues, eigenvectors); A is (*, n, n) float32/float64, non-empty; "
        "only the UPLO triangle may be read.")


def _one_sided_jacobi(A):
    """Hestenes' one-sided Jacobi on (b, m, n), m >= n: (A V with orthogonal columns, V)."""
    b, m, n = A._shape
    W = A
    Vm = V.expand(_eye(n, A), (b, n, n))
    tol = _tol(A)
    for _ in range(_MAX_SWEEPS):
        if n < 2 or _off_ratio(L.matmul(W.mT, W)) <= tol:
            break
        for p in range(n - 1):
            for q in range(p + 1, n):
                wp, wq = V.select(W, -1, p), V.select(W, -1, q)
                alpha = R.sum(E.mul(wp, wp), [-1])
                beta = R.sum(E.mul(wq, wq), [-1])
                gamma = R.sum(E.mul(wp, wq), [-1])
                c, s = _givens(_tangent(E.sub(beta, alpha), E.mul(gamma, 2.0)))
                J = _rotation(n, p, q, c, s, A)
                W = L.matmul(W, J)
                Vm = L.matmul(Vm, J)
    return W, Vm


def _svd_tall(A, full_matrices):
    """SVD of (b, m, n), m >= n: (U, S, V) with U (b, m, m) or (b, m, n), V (b, n, n)."""
    b, m, n = A._shape
    W, Vm = _one_sided_jacobi(A)
    sv, order = SO.sort(E.sqrt(R.sum(E.mul(W, W), [-2])), -1, True)
    W = I.gather(W, -1, V.expand(V.unsqueeze(order, 1), W._shape))
    Vm = I.gather(Vm, -1, V.expand(V.unsqueeze(order, 1), Vm._shape))
    Q, Rw = _householder(W)
    d = V.diagonal(Rw, 0, -2, -1)                                     # (b, n): +-S
    sgn = E.where(E.lt(d, 0), -1.0, 1.0)
    if m > n:
        sgn = S.cat([sgn, C.full((b, m - n), 1, dtype=A._dtype, device=A._device)], -1)
    U = E.mul(Q, V.unsqueeze(sgn, 1))
    if not full_matrices:
        U = C.contiguous(V.narrow(U, -1, 0, n))
    return U, sv, Vm


def _svd_meta(A, full_matrices=True):
    check_matrix("linalg.svd", A, square=False)
    m, n = A._shape[-2:]
    k = min(m, n)
    b = _batch(A)
    if full_matrices:
        return Spec(b + (m, m), A._dtype), Spec(b + (k,), A._dtype), Spec(b + (n, n), A._dtype)
    return Spec(b + (m, k), A._dtype), Spec(b + (k,), A._dtype), Spec(b + (k, n), A._dtype)


def _svd_empty(A, full_matrices=True):
    out = []
    for spec in _svd_meta(A, full_matrices):
        t = C.full(spec.shape, 0, dtype=A._dtype, device=A._device)
        if spec.shape[-1:] != spec.shape[-2:-1] or not numel(spec.shape) or len(spec.shape) < len(A._shape):
            out.append(t)
        else:  # full_matrices: the empty side's partner is an identity, as in PyTorch
            out.append(C.contiguous(V.expand(_eye(spec.shape[-1], A), spec.shape)))
    return tuple(out)


def _svd(A, full_matrices=True):
    _svd_meta(A, full_matrices)
    if A.numel() == 0:
        return _svd_empty(A, full_matrices)
    m, n = A._shape[-2:]
    b = _batch(A)
    k = min(m, n)
    Ab = _as_batch(A)
    if m >= n:
        U, sv, Vm = _svd_tall(Ab, full_matrices)
        Vh = Vm.mT
    else:
        U2, sv, Vm = _svd_tall(C.contiguous(Ab.mT), full_matrices)
        U, Vh = Vm, U2.mT
    return (V.reshape(C.contiguous(U), b + tuple(U._shape[-2:])), V.reshape(sv, b + (k,)),
            V.reshape(C.contiguous(Vh), b + tuple(Vh._shape[-2:])))


_linalg_svd = defop(
    "_linalg_svd(Tensor self, bool full_matrices=True) -> (Tensor, Tensor, Tensor)", meta=_svd_meta,
    decomposition=_svd, adapter=_adapter(_svd_empty), family="linalg_solvers",
    doc="Singular value decomposition A = U diag(S) Vh, singular values descending; singular vectors are "
        "determined up to sign (and within repeated singular values). full_matrices: U (*, m, m), Vh (*, n, n); "
        "else U (*, m, k), Vh (*, k, n), k = min(m, n).\n"
        "Kernel: kernel(A, full_matrices) -> (U, S, Vh); A is (*, m, n) float32/float64, non-empty.")


# -- the public forms that ember's top level and Tensor methods share -------------------

def _raise_info(opname, info, message):
    """LinAlgError for the first matrix whose info is not 0, naming its batch element as PyTorch does."""
    from ..errors import LinAlgError
    flat = info.reshape(-1).tolist() if info.numel() else []
    for i, v in enumerate(flat):
        if v:
            where = f"(Batch element {i}): " if info.ndim else ""
            raise LinAlgError(f"{opname}: {where}{message(v)}")


def cholesky_ex(A, *, upper=False, check_errors=False):
    """Cholesky factor and LAPACK's info, as torch.linalg.cholesky_ex."""
    res = CholeskyExResult(*_linalg_cholesky_ex(A, upper))
    if check_errors:
        _raise_info("linalg.cholesky_ex", res.info, _not_pd)
    return res


def _not_pd(v):
    return (f"The factorization could not be completed because the input is not positive-definite "
            f"(the leading minor of order {v} is not positive-definite).")


def _singular_inv(v):
    return (f"The diagonal element {v} is zero, the inversion could not be completed because the input "
            f"matrix is singular.")


def cholesky(A, *, upper=False):
    """The Cholesky factor L (A = L L^T), or upper=True: U (A = U^T U); LinAlgError if A is not
    positive-definite."""
    Lw, info = _linalg_cholesky_ex(A, upper)
    _raise_info("linalg.cholesky", info, _not_pd)
    return Lw


def cholesky_legacy(input, upper=False):
    """torch.cholesky(input, upper=False): linalg.cholesky with upper positional."""
    return cholesky(input, upper=upper)


def inv_ex(A, *, check_errors=False):
    """Inverse and LAPACK's info, as torch.linalg.inv_ex."""
    res = InvExResult(*_linalg_inv_ex(A))
    if check_errors:
        _raise_info("linalg.inv_ex", res.info, _singular_inv)
    return res


def inv(A):
    """The inverse of square matrices; LinAlgError for a singular one (an exactly zero LU pivot)."""
    X, info = _linalg_inv_ex(A)
    _raise_info("linalg.inv", info, _singular_inv)
    return X


def slogdet(A):
    """(sign, logabsdet): the sign and log |det| of square matrices, a named tuple."""
    return SlogdetResult(*_linalg_slogdet_op(A))


def det(A):
    """Determinants of square matrices, sign * exp(logabsdet) (0 for a singular matrix)."""
    check_matrix("linalg.det", A)
    sign, logabs = _linalg_slogdet_op(A)
    return E.mul(sign, E.exp(logabs))


def logdet(A):
    """log det A: NaN where the determinant is negative, -inf where it is 0 (torch.logdet)."""
    check_matrix("logdet", A)
    sign, logabs = _linalg_slogdet_op(A)
    return E.where(E.lt(sign, 0), math.nan, logabs)


def matrix_power(A, n):
    """A to the integer power n by repeated squaring (n < 0: of the inverse; n == 0: the identity)."""
    if not isinstance(A, Tensor):
        raise ArgumentTypeError(f"linalg.matrix_power(): expected a tensor, got {type(A).__name__}")
    if A.ndim < 2:
        raise ShapeError(f"linalg.matrix_power: The input tensor A must have at least 2 dimensions, got shape "
                         f"{tuple(A._shape)}")
    if A._shape[-1] != A._shape[-2]:
        raise ShapeError(f"linalg.matrix_power: A must be batches of square matrices, but they are "
                         f"{A._shape[-2]} by {A._shape[-1]} matrices")
    if not isinstance(n, int) or isinstance(n, bool):
        raise ArgumentTypeError(f"linalg.matrix_power(): n must be an int, got {type(n).__name__}: {n!r}")
    if n == 0:
        return C.contiguous(V.expand(_eye(A._shape[-1], A), A._shape))
    if n < 0:
        A, n = inv(A), -n
    result, base = None, A
    while n:
        if n & 1:
            result = base if result is None else L.matmul(result, base)
        n >>= 1
        if n:
            base = L.matmul(base, base)
    return C.clone(result) if result is A else result


def qr(A, mode="reduced"):
    """A = Q R as torch.linalg.qr: (Q, R), a named tuple."""
    return QRResult(*_linalg_qr(A, mode))


def qr_legacy(input, some=True):
    """torch.qr(input, some=True): linalg.qr with mode 'reduced' (some) or 'complete'."""
    return QRResult(*_linalg_qr(input, "reduced" if some else "complete"))


def svd(A, full_matrices=True, *, driver=None):
    """A = U diag(S) Vh as torch.linalg.svd: (U, S, Vh), a named tuple."""
    return SVDResult(*_linalg_svd(A, full_matrices))


_SVDLegacy = namedtuple("svd", ["U", "S", "V"])
_SVDLegacy.__module__ = "ember.return_types"


def svd_legacy(input, some=True, compute_uv=True):
    """torch.svd: (U, S, V) with V (not Vh); some=False gives the full U and V; compute_uv=False gives
    zero-filled U and V."""
    U, sv, Vh = _linalg_svd(input, not some)
    if not compute_uv:
        return _SVDLegacy(E.mul(U, 0.0), sv, E.mul(Vh, 0.0).mT)
    return _SVDLegacy(U, sv, Vh.mT)


def eigh(A, UPLO="L"):
    """Eigenvalues (ascending) and eigenvectors of symmetric matrices: (eigenvalues, eigenvectors)."""
    return EighResult(*_linalg_eigh(A, UPLO))


def solve_ex(A, B, *, left=True, check_errors=False):
    """Solution and LAPACK's info, as torch.linalg.solve_ex."""
    X, info = _solve_any(A, B, left)
    if check_errors:
        _raise_info("torch.linalg.solve_ex", info, lambda v: "The solver failed because the input matrix is singular.")
    return SolveExResult(X, info)


def _solve_any(A, B, left):
    """B may be a vector (1-D, or A's batch plus n), as in PyTorch."""
    check_matrix("linalg.solve", A)
    if not isinstance(B, Tensor):
        raise ArgumentTypeError(f"linalg.solve(): expected B to be a tensor, got {type(B).__name__}")
    vector = B.ndim == 1 or (B.ndim == A.ndim - 1 and tuple(B._shape) == tuple(A._shape[:-1]))
    if vector:
        X, info = _linalg_solve_ex(A, V.unsqueeze(B, -1 if left else -2), left)
        return V.squeeze(X, [-1 if left else -2]), info
    return _linalg_solve_ex(A, B, left)


def solve(A, B, *, left=True):
    """The solution of A X = B (left=True) or X A = B; B may be a vector or a batch of matrices,
    batch dims broadcast. LinAlgError for a singular A."""
    X, info = _solve_any(A, B, left)
    _raise_info("torch.linalg.solve", info, lambda v: "The solver failed because the input matrix is singular.")
    return X


FUNCTIONS = {"det": det, "logdet": logdet, "slogdet": slogdet, "inverse": inv, "cholesky": cholesky_legacy,
             "matrix_power": matrix_power, "qr": qr_legacy, "svd": svd_legacy}
METHODS = {"det": det, "logdet": logdet, "slogdet": slogdet, "inverse": inv, "cholesky": cholesky_legacy,
           "matrix_power": matrix_power, "qr": qr_legacy, "svd": svd_legacy}
