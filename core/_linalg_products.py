"""ember.linalg.matrix_exp and ember.linalg.householder_product, written with matmul and elementwise
operators so every backend runs them and autograd differentiates them.

matrix_exp scales A by 2**-s until its 1-norm is at most 1, sums the Taylor series to a degree whose
remainder is below the dtype's epsilon (18 terms for float64, 10 for float32, in Horner form), then
squares s times (Higham, "The scaling and squaring method for the matrix exponential revisited").
householder_product multiplies the reflectors H_i = I - tau_i v_i v_i^H that geqrf leaves in a matrix
(v_i: column i below the diagonal, with a unit on it), applied to the first n columns of the identity.
"""

from __future__ import annotations

import math

from . import dtypes as D
from ._tensor import Tensor
from .errors import ShapeError
from .ops import creation as C
from .ops import elementwise as E
from .ops import linalg as L
from .ops import reduction as R
from .ops.linalg_solvers import check_float, check_matrix
from .errors import ArgumentTypeError

__all__ = ["matrix_exp", "householder_product"]

#: Taylor degree per dtype: 1/(m+1)! is below the dtype's epsilon for a 1-norm of at most 1.
_DEGREE = {D.float32: 10, D.float64: 18}


def matrix_exp(A):
    """exp(A) = sum_k A^k / k! for square matrices (*, n, n)."""
    check_matrix("linalg.matrix_exp", A)
    n = A._shape[-1]
    if A.numel() == 0:
        return A.clone()
    eye = C.eye(n, dtype=A._dtype, device=A._device)
    if n == 1:
        return A.exp()
    norm = float(R.amax(R.sum(A.detach().abs(), [-2]), None))   # the largest 1-norm in the batch
    if not math.isfinite(norm):
        s = 0
    else:
        s = max(0, math.ceil(math.log2(norm))) if norm > 1 else 0
    X = A * (2.0 ** -s) if s else A
    m = _DEGREE[A._dtype]
    # Horner: I + X/1 (I + X/2 (I + ... (I + X/m)))
    P = eye + X / m
    for k in range(m - 1, 0, -1):
        P = eye + L.matmul(X, P) / k
    for _ in range(s):
        P = L.matmul(P, P)
    return P


def householder_product(A, tau):
    """The first n columns of H_1 H_2 ... H_k, H_i = I - tau_i v_i v_i^H, from A (*, m, n) and tau (*, k)."""
    check_matrix("linalg.householder_product", A, square=False, what="input")
    if not isinstance(tau, Tensor):
        raise ArgumentTypeError(f"linalg.householder_product(): expected tau to be a tensor, got {type(tau).__name__}")
    check_float("linalg.householder_product", tau, "tau")
    m, n = A._shape[-2], A._shape[-1]
    k = tau._shape[-1] if tau.ndim else 0
    if m < n:
        raise ShapeError(f"torch.linalg.householder_product: input.shape[-2] must be greater than or equal to "
                         f"input.shape[-1] (got {m} < {n})")
    if tau.ndim != A.ndim - 1:
        raise ShapeError(f"torch.linalg.householder_product: input.dim() - tau.dim() must be equal to 1, but got "
                         f"input.dim() = {A.ndim} and tau.dim() = {tau.ndim}")
    if n < k:
        raise ShapeError(f"torch.linalg.householder_product: input.shape[-1] must be greater than or equal to "
                         f"tau.shape[-1] (got {n} < {k})")
    if tuple(tau._shape[:-1]) != tuple(A._shape[:-2]):
        raise ShapeError(f"torch.linalg.householder_product: Expected batch dimensions of tau to be equal to "
                         f"input.shape[:-2], but got {tuple(tau._shape[:-1])} and {tuple(A._shape[:-2])}")
    if tau._dtype is not A._dtype:
        raise ShapeError(f"torch.linalg.householder_product: tau dtype {tau._dtype.name} does not match input dtype "
                         f"{A._dtype.name}")
    rows = C.arange(m, device=A._device).reshape(m, 1)
    Q = C.eye(m, n, dtype=A._dtype, device=A._device).expand(tuple(A._shape[:-2]) + (m, n))
    if k == 0 and A.requires_grad:   # the identity, still a (constant) function of A, as PyTorch's
        Q = E.where(C.ones((), dtype=D.bool, device=A._device), Q, A)
    for i in range(k - 1, -1, -1):
        v = A[..., :, i:i + 1]
        v = v * (rows > i).to(A._dtype) + (rows == i).to(A._dtype)            # (*, m, 1)
        vh = v.conj().transpose(-2, -1) if A._dtype.is_complex else v.transpose(-2, -1)
        t = tau[..., i].reshape(tuple(tau._shape[:-1]) + (1, 1))
        Q = Q - L.matmul(v * t, L.matmul(vh, Q))
    return Q
