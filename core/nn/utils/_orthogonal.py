"""nn.utils.parametrizations.orthogonal: a matrix (or batch) kept orthogonal, as PyTorch's.

Q is the matrix exponential or the Cayley transform of a skew-symmetric A made from the lower triangle
of the original, or a product of Householder reflectors stored below its diagonal. With
``use_trivialization`` (default) the result is multiplied by a stored orthogonal ``base``: assigning to
the weight sets ``base`` and resets the original to the point that maps to the identity.
"""

from __future__ import annotations

from ... import dtypes as D
from ..._tensor import Tensor
from ...ops.creation import eye, zeros_like
from ...ops.elementwise import where
from ...ops.linalg import matmul
from ...ops.random import randn
from ...ops.shape import cat
from ..module import Module, _no_grad
from . import parametrize
from ...errors import InvalidArgumentError, UnsupportedError

__all__ = ["orthogonal"]

_MAPS = ("matrix_exp", "cayley", "householder")


def _mH(x):
    x = x.transpose(-2, -1)
    return x.conj() if x.dtype.is_complex else x


def _is_orthogonal(Q):
    import ember
    n, k = Q.shape[-2], Q.shape[-1]
    Id = eye(k, dtype=Q.dtype, device=Q.device)
    eps = 10.0 * n * {D.float32: 1.1920928955078125e-07, D.float64: 2.220446049250313e-16}.get(Q.dtype, 1e-7)
    return bool(ember.allclose(matmul(_mH(Q), Q), Id, atol=eps))


def _make_orthogonal(A):
    """Q of A = QR (A tall) with diag(R) >= 0: unique, whatever sign convention the QR uses."""
    import ember
    Q, R = ember.linalg.qr(A)
    return Q * R.diagonal(0, -2, -1).sign().unsqueeze(-2)


def _geqrf(A):
    """LAPACK's geqrf (dlarfg conventions): (reflectors below the diagonal and R on and above it, tau)."""
    A = A.clone()
    m, n = A.shape[-2], A.shape[-1]
    taus = []
    for j in range(min(m, n)):
        x = A[..., j:, j]
        alpha = x[..., 0]
        xnorm = (x[..., 1:] * x[..., 1:]).sum(-1).sqrt()
        beta = -where(alpha >= 0, 1.0, -1.0) * (alpha * alpha + xnorm * xnorm).sqrt()
        trivial = xnorm == 0
        beta = where(trivial, alpha, beta)
        safe = where(trivial, 1.0, beta)
        tau = where(trivial, 0.0, (beta - alpha) / safe)
        v = x[..., 1:] / where(trivial, 1.0, alpha - beta).unsqueeze(-1)
        v = where(trivial.unsqueeze(-1), 0.0, v)
        full = cat([x[..., :1] * 0 + 1, v], -1)                              # (*, m - j)
        if j + 1 < n:
            rest = A[..., j:, j + 1:]
            w = (full.unsqueeze(-1) * rest).sum(-2)                           # v^T rest
            A[..., j:, j + 1:] = rest - tau.unsqueeze(-1).unsqueeze(-1) * full.unsqueeze(-1) * w.unsqueeze(-2)
        A[..., j, j] = beta
        A[..., j + 1:, j] = v
        taus.append(tau)
    return A, (taus[0].unsqueeze(-1) if len(taus) == 1 else cat([t.unsqueeze(-1) for t in taus], -1))


class _Orthogonal(Module):
    def __init__(self, weight, orthogonal_map, *, use_trivialization=True) -> None:
        super().__init__()
        if weight.dtype.is_complex and orthogonal_map == "householder":
            raise InvalidArgumentError("The householder parametrization does not support complex tensors.")
        self.shape = weight.shape
        self.orthogonal_map = orthogonal_map
        if use_trivialization:
            self.register_buffer("base", None)

    def forward(self, X):
        import ember
        n, k = X.shape[-2], X.shape[-1]
        transposed = n < k
        if transposed:
            X = X.transpose(-2, -1)
            n, k = k, n
        if self.orthogonal_map in ("matrix_exp", "cayley"):
            X = X.tril()
            if n != k:
                X = cat([X, X.new_zeros((n, n - k)).expand(tuple(X.shape[:-2]) + (n, n - k))], -1)
            A = X - _mH(X)
            if self.orthogonal_map == "matrix_exp":
                Q = ember.linalg.matrix_exp(A)
            else:
                Id = eye(n, dtype=A.dtype, device=A.device)
                Q = ember.linalg.solve(Id - 0.5 * A, Id + 0.5 * A)
            if n != k:
                Q = Q[..., :k]
        else:
            A = X.tril(-1)
            tau = 2.0 / (1.0 + (A * A).sum(-2))
            Q = ember.linalg.householder_product(A, tau)
            Q = Q * X.diagonal(0, -2, -1).to(ember.int32).unsqueeze(-2)
        if "base" in self._buffers:
            Q = matmul(self.base, Q)
        if transposed:
            Q = Q.transpose(-2, -1)
        return Q

    def right_inverse(self, Q):
        with _no_grad():
            return self._right_inverse(Q)

    def _right_inverse(self, Q):
        if tuple(Q.shape) != tuple(self.shape):
            raise InvalidArgumentError(f"Expected a matrix or batch of matrices of shape {self.shape}. Got a tensor of shape "
                                       f"{Q.shape}.")
        Q_init = Q
        n, k = Q.shape[-2], Q.shape[-1]
        transpose = n < k
        if transpose:
            Q = Q.transpose(-2, -1)
            n, k = k, n
        if "base" not in self._buffers:
            if self.orthogonal_map in ("cayley", "matrix_exp"):
                raise UnsupportedError("It is not possible to assign to the matrix exponential or the Cayley "
                                          "parametrizations when use_trivialization=False.")
            A, tau = _geqrf(Q)
            d = A.diagonal(0, -2, -1)
            sign = d.sign()
            sign = where(tau == 0.0, -sign, sign)
            A = _set_diag(A, sign)
            return A.transpose(-2, -1) if transpose else A
        if n == k:
            Q = _make_orthogonal(Q) if not _is_orthogonal(Q) else Q.clone()
        else:
            N = randn(tuple(Q.shape[:-2]) + (n, n - k), dtype=Q.dtype, device=Q.device)
            Q = _make_orthogonal(cat([Q, N], -1))
        self.base = Q
        rows, cols = Q_init.shape[-2], Q_init.shape[-1]
        return (-eye(rows, cols, dtype=Q_init.dtype, device=Q_init.device)).expand(tuple(Q_init.shape)).clone()


def _set_diag(A, d):
    """A with its main diagonal (of the last two dims) replaced by d."""
    m, n = A.shape[-2], A.shape[-1]
    r = min(m, n)
    mask = eye(m, n, dtype=D.bool, device=A.device)
    full = zeros_like(A)
    full[..., :r, :r] = d.diag_embed()
    return where(mask, full, A)


def orthogonal(module, name="weight", orthogonal_map=None, *, use_trivialization=True):
    """Make ``module.<name>`` orthogonal (orthonormal columns when tall, rows when wide) through
    ``orthogonal_map``: "matrix_exp" (default for square or complex), "cayley" or "householder" (default
    otherwise)."""
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise InvalidArgumentError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if weight.ndim < 2:
        raise InvalidArgumentError(f"Expected a matrix or batch of matrices. Got a tensor of {weight.ndim} dimensions.")
    if orthogonal_map is None:
        orthogonal_map = ("matrix_exp" if weight.shape[-2] == weight.shape[-1] or weight.dtype.is_complex
                          else "householder")
    if orthogonal_map not in _MAPS:
        raise InvalidArgumentError(f'orthogonal_map has to be one of "matrix_exp", "cayley", "householder". '
                                   f"Got: {orthogonal_map}")
    orth = _Orthogonal(weight, orthogonal_map, use_trivialization=use_trivialization)
    parametrize.register_parametrization(module, name, orth, unsafe=True)
    return module
