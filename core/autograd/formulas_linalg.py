"""Derivative formulas of the factorizations and solvers (ember.ops.linalg_solvers), real case.

The standard results (Giles 2008, Murray 2016, Townsend 2016), in the form PyTorch's
FunctionsManual gives them, so that gradients agree with PyTorch's: the gradients of
cholesky and eigh are symmetric (the input is taken to be symmetric), and singular
vectors of a full_matrices SVD contribute through their first min(m, n) columns only.
Written with ember operators, so they differentiate again.
"""

from __future__ import annotations

from ..ops import creation as C
from ..ops import elementwise as E
from ..ops import linalg as L
from ..ops import linalg_solvers as LS
from ..ops import reduction as R
from ..ops import shape as S
from ..ops import views as V
from .registry import derivative
from ..errors import InvalidArgumentError


def _eye(n, like):
    return C.eye(n, dtype=like._dtype, device=like._device)


def _sym(X):
    return E.mul(E.add(X, X.mT), 0.5)


def _inv(X):
    return LS._linalg_inv_ex(X)[0]


def _solve_right(Y, A):
    """Y A^-1: the X with X A = Y."""
    return LS._linalg_solve_ex(A, Y, False)[0]


def _used(g):
    """Whether an output's gradient carries anything (the engine passes zeros for unused outputs); one
    that requires grad (a double backward, forward mode) always counts."""
    return g.requires_grad or bool(R.any(E.ne(g, 0)))


# -- inv, solve, slogdet --------------------------------------------------------------------

def _inv_backward(g, A, result=None):
    X = result[0]
    return E.neg(L.matmul(L.matmul(X.mT, g[0]), X.mT))


derivative("_linalg_inv_ex", save=("result",))(_inv_backward)


def _solve_backward(g, A, B, left=True, result=None):
    X, gX = result[0], g[0]
    if left:
        gB = LS._linalg_solve_ex(A.mT, gX, True)[0]
        gA = E.neg(L.matmul(gB, X.mT))
    else:
        gB = LS._linalg_solve_ex(A.mT, gX, False)[0]
        gA = E.neg(L.matmul(X.mT, gB))
    return gA, gB


derivative("_linalg_solve_ex", save=("A", "result"))(_solve_backward)


def _slogdet_backward(g, A):
    return E.mul(V.unsqueeze(V.unsqueeze(g[1], -1), -1), _inv(A).mT)


derivative("_linalg_slogdet", save=("self",))(_slogdet_backward)


# -- cholesky -----------------------------------------------------------------------------

def _cholesky_backward(g, A, upper=False, result=None):
    Lw, gL = result[0], g[0]
    if upper:
        Lw, gL = Lw.mT, gL.mT
    n = Lw._shape[-1]
    phi = S.tril(L.matmul(Lw.mT, gL))
    phi = E.sub(phi, E.mul(E.mul(phi, _eye(n, Lw)), 0.5))      # the diagonal halved
    Linv = _inv(Lw)
    return _sym(L.matmul(L.matmul(Linv.mT, phi), Linv))


derivative("_linalg_cholesky_ex", save=("result",))(_cholesky_backward)


# -- qr -------------------------------------------------------------------------------------

def _qr_square_backward(gQ, gR, Q, Rw):
    """A = Q R with Q (m, n) and R (n, n): (gQ + Q copyltu(M)) R^-T, M = gR R^T - Q^T gQ."""
    M = E.sub(L.matmul(gR, Rw.mT), L.matmul(Q.mT, gQ))
    K = E.add(S.triu(M), S.triu(M, 1).mT)
    return _solve_right(E.add(gQ, L.matmul(Q, K)), Rw.mT)


def _qr_backward(g, A, mode="reduced", result=None):
    Q, Rw = result
    gQ, gR = g
    m, n = A._shape[-2:]
    if mode == "r":
        raise InvalidArgumentError("The derivative of linalg.qr depends on Q, which is not computed when mode='r'. "
                                   "Please use linalg.qr(A, mode='reduced') if you are going to differentiate through "
                                   "linalg.qr.")
    if mode == "complete" and m > n:
        raise InvalidArgumentError("The QR decomposition is not differentiable when mode='complete' and nrows > ncols.")
    if m >= n:
        return _qr_square_backward(gQ, gR, Q, Rw)
    # A = Q [R1 R2]: X = A[:, :m] = Q R1 is square, R2 = Q^T Y depends on Q too
    Y = V.narrow(A, -1, m, n - m)
    gR1, gR2 = V.narrow(gR, -1, 0, m), V.narrow(gR, -1, m, n - m)
    gX = _qr_square_backward(E.add(gQ, L.matmul(Y, gR2.mT)), gR1, Q, V.narrow(Rw, -1, 0, m))
    return S.cat([gX, L.matmul(Q, gR2)], -1)


derivative("_linalg_qr", save=("self", "result"))(_qr_backward)


# -- eigh, svd --------------------------------------------------------------------------------

def _eigh_backward(g, A, UPLO="L", result=None):
    w, Vv = result
    gw, gV = g
    n = w._shape[-1]
    eye = _eye(n, w)
    X = L.matmul(Vv.mT, gV)
    skew = E.mul(E.sub(X, X.mT), 0.5)
    Ew = E.sub(V.unsqueeze(w, -2), V.unsqueeze(w, -1))             # w_j - w_i
    inner = E.true_divide(skew, E.where(E.eq(eye, 1), 1.0, Ew))
    inner = E.add(inner, E.mul(V.unsqueeze(gw, -1), eye))
    return L.matmul(L.matmul(Vv, inner), Vv.mT)


derivative("_linalg_eigh", save=("result",))(_eigh_backward)


def _svd_backward(g, A, full_matrices=True, result=None):
    U, sv, Vh = result
    gU, gS, gVh = g
    m, n = A._shape[-2:]
    k = min(m, n)
    if full_matrices:
        U, gU = V.narrow(U, -1, 0, k), V.narrow(gU, -1, 0, k)
        Vh, gVh = V.narrow(Vh, -2, 0, k), V.narrow(gVh, -2, 0, k)
    use_u, use_v = _used(gU), _used(gVh)
    inner = E.mul(V.unsqueeze(gS, -1), _eye(k, sv))
    if not use_u and not use_v:
        return L.matmul(L.matmul(U, inner), Vh)
    Vm, gV = Vh.mT, gVh.mT
    s2 = E.mul(sv, sv)
    eye = _eye(k, sv)
    Es = E.where(E.eq(eye, 1), 1.0, E.sub(V.unsqueeze(s2, -2), V.unsqueeze(s2, -1)))   # s_j^2 - s_i^2
    off = None
    if use_u:
        UtgU = L.matmul(U.mT, gU)
        off = E.mul(E.sub(UtgU, UtgU.mT), V.unsqueeze(sv, -2))
    if use_v:
        VtgV = L.matmul(Vm.mT, gV)
        t = E.mul(V.unsqueeze(sv, -1), E.sub(VtgV, VtgV.mT))
        off = t if off is None else E.add(off, t)
    inner = E.add(inner, E.true_divide(off, Es))
    if m > n and use_u:
        gUS = E.true_divide(gU, V.unsqueeze(sv, -2))
        gA = E.add(L.matmul(U, inner), E.sub(gUS, L.matmul(U, L.matmul(U.mT, gUS))))
        return L.matmul(gA, Vh)
    if m < n and use_v:
        SgVh = E.true_divide(gVh, V.unsqueeze(sv, -1))
        gA = E.add(L.matmul(inner, Vh), E.sub(SgVh, L.matmul(L.matmul(SgVh, Vm), Vh)))
        return L.matmul(U, gA)
    return L.matmul(L.matmul(U, inner), Vh)


derivative("_linalg_svd", save=("self", "result"))(_svd_backward)
