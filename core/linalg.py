"""ember.linalg: PyTorch's torch.linalg, for float32 and float64 batches of matrices ``(*, m, n)``.

The factorizations and solvers (cholesky, inv, solve, slogdet, qr, eigh, svd) are
operators (``ember.ops.linalg_solvers``): defined once with decompositions that every
backend runs, and native kernels where a backend has them. What is here is written
with them and other ember operators: norms, det, pinv, matrix_rank, lstsq,
matrix_power, cross, multi_dot. Results with names are named tuples, as in PyTorch.
"""

from __future__ import annotations

import math
from collections import namedtuple

from . import dtypes as D
from ._tensor import Tensor
from .errors import DTypeError, LinAlgError, ShapeError
from .ops import creation as C
from .ops import elementwise as E
from .ops import linalg as L
from .ops import reduction as R
from .ops import tensor_more as TM
from .ops import views as V
from .ops._helpers import dtype_arg, wrap_dim
from .ops.linalg_solvers import (check_float, check_matrix, cholesky, cholesky_ex, det, eigh, inv, inv_ex,
                                 matrix_power, qr, slogdet, solve, solve_ex, svd)
from .ops import linalg_solvers as _LS
from .errors import ArgumentTypeError, InvalidArgumentError

__all__ = ["norm", "vector_norm", "matrix_norm", "inv", "inv_ex", "det", "slogdet", "solve", "solve_ex", "lstsq",
           "cholesky", "cholesky_ex", "qr", "svd", "svdvals", "eigh", "eigvalsh", "pinv", "matrix_rank",
           "matrix_power", "cross", "multi_dot", "LinAlgError"]

LstsqResult = namedtuple("linalg_lstsq", ["solution", "residuals", "rank", "singular_values"])
LstsqResult.__module__ = "ember.return_types"

_EPS = {D.float32: 1.1920928955078125e-07, D.float64: 2.220446049250313e-16}


# -- norms ------------------------------------------------------------------------------

def _norm_input(opname, x, dtype):
    if not isinstance(x, Tensor):
        raise ArgumentTypeError(f"{opname}(): expected a tensor, got {type(x).__name__}")
    if not x._dtype.is_floating_point:
        raise DTypeError(f"{opname}: Expected a floating point tensor as input, got {x._dtype.name}; convert it "
                         f"with .to(ember.float32)")
    dtype = dtype_arg(dtype, opname)
    if dtype is None or dtype is x._dtype:
        return x
    if D.promote_types(x._dtype, dtype) is not dtype:
        raise DTypeError(f"{opname}: the dtype of the input ({x._dtype.name}) should be convertible without "
                         f"narrowing to the specified dtype ({dtype.name}); pass a wider dtype or convert the input")
    return x.to(dtype)


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None):
    """The ord-norm of x over dim (all elements when None): sum(|x|^ord)^(1/ord); inf: max |x|,
    -inf: min |x|, 0: the number of non-zeros."""
    x = _norm_input("linalg.vector_norm", x, dtype)
    if isinstance(dim, int):
        dim = [dim]
    dims = None if dim is None else list(dim)
    a = E.abs(x)
    if ord == math.inf:
        return R.amax(a, dims if dims is not None else None, keepdim)
    if ord == -math.inf:
        return R.amin(a, dims, keepdim)
    if ord == 0:
        return R.sum(E.ne(x, 0), dims, keepdim).to(x._dtype)
    if ord == 1:
        return R.sum(a, dims, keepdim)
    if ord == 2:
        return E.sqrt(R.sum(E.mul(x, x), dims, keepdim))
    return E.pow(R.sum(E.pow(a, float(ord)), dims, keepdim), 1.0 / ord)


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None):
    """Frobenius ('fro'), nuclear ('nuc'), spectral (2, -2), max/min column (1, -1) or row (inf, -inf)
    sum norms of the matrices in dims ``dim``."""
    A = _norm_input("linalg.matrix_norm", A, dtype)
    if A.ndim < 2:
        raise ShapeError(f"linalg.matrix_norm: The input tensor A must have at least 2 dimensions, got shape "
                         f"{tuple(A._shape)}")
    d0, d1 = (wrap_dim(d, A.ndim, "linalg.matrix_norm") for d in dim)
    if d0 == d1:
        raise InvalidArgumentError(f"linalg.matrix_norm: dims must be different, got {tuple(dim)}")
    if ord == "fro":
        return vector_norm(A, 2, (d0, d1), keepdim)
    if ord in ("nuc", 2, -2):
        check_float("linalg.matrix_norm", A)
        sv = svdvals(V.movedim(A, (d0, d1), (-2, -1)))
        r = R.sum(sv, [-1]) if ord == "nuc" else R.amax(sv, [-1]) if ord == 2 else R.amin(sv, [-1])
        if keepdim:
            r = V.unsqueeze(V.unsqueeze(r, -1), -1)
            r = V.movedim(r, (-2, -1), (d0, d1))
        return r
    if ord in (1, -1, math.inf, -math.inf):
        sum_dim, red_dim = (d0, d1) if ord in (1, -1) else (d1, d0)
        s = R.sum(E.abs(A), [sum_dim], True)
        r = R.amax(s, [red_dim], True) if ord > 0 else R.amin(s, [red_dim], True)
        return r if keepdim else V.squeeze(r, [d0, d1])
    raise InvalidArgumentError(f"linalg.matrix_norm: Order {ord!r} not supported; use 'fro', 'nuc', inf, -inf, 1, -1, 2 or -2")


def norm(A, ord=None, dim=None, keepdim=False, *, dtype=None):
    """vector_norm or matrix_norm, chosen as torch.linalg.norm does (by ord, dim and A's rank)."""
    if isinstance(dim, int):
        dim = (dim,)
    if dim is not None and len(dim) == 2 or dim is None and ord is not None and getattr(A, "ndim", 0) == 2:
        return matrix_norm(A, "fro" if ord is None else ord, (-2, -1) if dim is None else dim, keepdim, dtype=dtype)
    if dim is None and ord is not None and getattr(A, "ndim", 1) != 1:
        raise ShapeError(f"linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. Got "
                         f"{A.ndim}D")
    return vector_norm(A, 2 if ord is None else ord, dim, keepdim, dtype=dtype)


# -- spectra: svdvals, eigvalsh, pinv, matrix_rank --------------------------------------

def svdvals(A, *, driver=None):
    """The singular values of A, descending."""
    return _LS._linalg_svd(A, False)[1]


def eigvalsh(A, UPLO="L"):
    """The eigenvalues of symmetric matrices, ascending."""
    return _LS._linalg_eigh(A, UPLO)[0]


def _tolerance(opname, A, sv_max, atol, rtol):
    """max(atol, rtol * largest singular value), with PyTorch's defaults: rtol = eps * max(m, n) when
    neither is given, 0 when only atol is."""
    if rtol is None:
        rtol = 0.0 if atol is not None else _EPS[A._dtype] * max(A._shape[-2:])
    tol = E.mul(sv_max, rtol) if not isinstance(rtol, Tensor) else E.mul(sv_max, rtol)
    if atol is not None:
        tol = E.maximum(tol, atol if isinstance(atol, Tensor) else C.full((), atol, dtype=A._dtype, device=A._device))
    return tol


def pinv(A, *, atol=None, rtol=None, hermitian=False):
    """The Moore-Penrose pseudo-inverse, from the SVD (or, hermitian=True, the eigendecomposition),
    dropping singular values at or below max(atol, rtol * largest)."""
    check_matrix("linalg.pinv", A, square=hermitian)
    m, n = A._shape[-2:]
    if A.numel() == 0:
        return C.full(A._shape[:-2] + (n, m), 0, dtype=A._dtype, device=A._device)
    if hermitian:
        w, Q = eigh(A)
        tol = V.unsqueeze(_tolerance("linalg.pinv", A, R.amax(E.abs(w), [-1]), atol, rtol), -1)
        keep = E.gt(E.abs(w), tol)
        winv = E.where(keep, E.reciprocal(E.where(keep, w, 1.0)), 0.0)
        return L.matmul(E.mul(Q, V.unsqueeze(winv, -2)), Q.mT)
    U, sv, Vh = _LS._linalg_svd(A, False)
    tol = V.unsqueeze(_tolerance("linalg.pinv", A, R.amax(sv, [-1]), atol, rtol), -1)
    keep = E.gt(sv, tol)
    sinv = E.where(keep, E.reciprocal(E.where(keep, sv, 1.0)), 0.0)
    return L.matmul(E.mul(Vh.mT, V.unsqueeze(sinv, -2)), U.mT)


def pinverse(input, rcond=1e-15):
    """torch.pinverse: pinv with rtol=rcond."""
    return pinv(input, rtol=rcond)


def matrix_rank(A, *, atol=None, rtol=None, hermitian=False):
    """The number of singular values (|eigenvalues| when hermitian) above max(atol, rtol * largest),
    int64."""
    check_matrix("linalg.matrix_rank", A, square=hermitian)
    if A.numel() == 0:
        return C.full(A._shape[:-2], 0, dtype=D.int64, device=A._device)
    s = E.abs(eigvalsh(A)) if hermitian else svdvals(A)
    tol = V.unsqueeze(_tolerance("linalg.matrix_rank", A, R.amax(s, [-1]), atol, rtol), -1)
    return R.sum(E.gt(s, tol), [-1])


# -- lstsq --------------------------------------------------------------------------------

_DRIVERS = ("gels", "gelsy", "gelsd", "gelss")


def lstsq(A, B, rcond=None, *, driver=None):
    """Least-squares solutions of A X = B as torch.linalg.lstsq on cpu: (solution, residuals, rank,
    singular_values). The solution is the minimum-norm one, pinv(A, rtol=rcond) @ B; rank is computed
    by the drivers that compute it (gelsy, the default, gelsd, gelss), singular values by gelsd and
    gelss, residuals (squared, per column of B) by the drivers other than gelsy when m > n and every
    matrix has full rank."""
    check_matrix("linalg.lstsq", A, square=False)
    if not isinstance(B, Tensor):
        raise ArgumentTypeError(f"linalg.lstsq(): expected B to be a tensor, got {type(B).__name__}")
    if B._dtype is not A._dtype:
        raise DTypeError(f"linalg.lstsq: Expected B to have the dtype {A._dtype.name} of A, but got "
                         f"{B._dtype.name}; convert it with .to({A._dtype.name})")
    driver = "gelsy" if driver is None else driver
    if driver not in _DRIVERS:
        raise InvalidArgumentError(f"linalg.lstsq: parameter `driver` should be one of {_DRIVERS}, got {driver!r}")
    m, n = A._shape[-2:]
    vector = B.ndim == A.ndim - 1
    Bm = V.unsqueeze(B, -1) if vector else B
    if Bm.ndim < 2 or Bm._shape[-2] != m:
        raise ShapeError(f"linalg.lstsq: A {tuple(A._shape)} and B {tuple(B._shape)} have incompatible shapes: B "
                         f"must have {m} rows (B.size(-2) == A.size(-2)), or be a vector of A's batch and {m}")
    rtol = _EPS[A._dtype] * max(m, n) if rcond is None or rcond < 0 else rcond
    batch = A._shape[:-2]
    if A.numel() == 0:
        X = C.full(batch + (n,) + Bm._shape[-1:], 0, dtype=A._dtype, device=A._device)
        sv = C.full(batch + (min(m, n),), 0, dtype=A._dtype, device=A._device)
        rank = C.full(batch, 0, dtype=D.int64, device=A._device)
    else:
        U, sv, Vh = _LS._linalg_svd(A, False)
        tol = V.unsqueeze(E.mul(R.amax(sv, [-1]), rtol), -1)
        keep = E.gt(sv, tol)
        sinv = E.where(keep, E.reciprocal(E.where(keep, sv, 1.0)), 0.0)
        X = L.matmul(E.mul(Vh.mT, V.unsqueeze(sinv, -2)), L.matmul(U.mT, Bm))
        rank = R.sum(keep, [-1])
    empty = C.full((0,), 0, dtype=A._dtype, device=A._device)
    residuals = empty
    if driver != "gelsy" and m > n and A.numel() and bool(R.all(E.eq(rank, n))):
        residuals = R.sum(E.square(E.sub(L.matmul(A, X), Bm)), [-2])
        if vector:
            residuals = V.squeeze(residuals, [-1])
    if vector:
        X = V.squeeze(X, [-1])
    return LstsqResult(X, residuals, rank if driver != "gels" else C.full((0,), 0, dtype=D.int64, device=A._device),
                       sv if driver in ("gelsd", "gelss") else empty)


# -- cross, multi_dot -----------------------------------------------------------------------

def cross(input, other, *, dim=-1):
    """The cross product of 3-vectors along dim (default the last), broadcasting the other dims."""
    if not isinstance(input, Tensor) or not isinstance(other, Tensor):
        raise ArgumentTypeError("linalg.cross(): expected two tensors")
    if input.ndim != other.ndim:
        raise ShapeError(f"linalg.cross: inputs must have the same number of dimensions, got shapes "
                         f"{tuple(input._shape)} and {tuple(other._shape)}")
    d = wrap_dim(dim, input.ndim, "linalg.cross")
    if input._shape[d] != 3 or other._shape[d] != 3:
        raise ShapeError(f"linalg.cross: inputs dimension {dim} must have length 3. Got {input._shape[d]} and "
                         f"{other._shape[d]}")
    return TM.cross(input, other, d)


def multi_dot(tensors):
    """The product of a chain of matrices (the first may be a row vector, the last a column vector),
    multiplied in the order that needs the fewest scalar multiplications."""
    tensors = list(tensors)
    if len(tensors) < 2:
        raise InvalidArgumentError(f"multi_dot(): expected at least 2 tensors but got {len(tensors)}")
    for i, t in enumerate(tensors):
        nd = t.ndim
        ok = nd == 2 or (nd == 1 and i in (0, len(tensors) - 1))
        if not ok:
            raise ShapeError(f"multi_dot(): tensor {i} must be 2D{' or 1D' if i in (0, len(tensors) - 1) else ''} "
                             f"but got {nd}D")
    first_vec, last_vec = tensors[0].ndim == 1, tensors[-1].ndim == 1
    mats = list(tensors)
    if first_vec:
        mats[0] = V.unsqueeze(mats[0], 0)
    if last_vec:
        mats[-1] = V.unsqueeze(mats[-1], -1)
    for i in range(len(mats) - 1):
        if mats[i]._shape[1] != mats[i + 1]._shape[0]:
            raise ShapeError(f"multi_dot(): tensors {i} and {i + 1} with shapes {tuple(tensors[i]._shape)} and "
                             f"{tuple(tensors[i + 1]._shape)} cannot be multiplied")
    out = _chain(mats)
    if first_vec and last_vec:
        return V.reshape(out, ())
    if first_vec:
        return V.squeeze(out, [0])
    if last_vec:
        return V.squeeze(out, [-1])
    return out


def _chain(mats):
    """Matrix-chain order by dynamic programming (Cormen et al.), then the products."""
    n = len(mats)
    dims = [mats[0]._shape[0]] + [m._shape[1] for m in mats]
    cost = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            cost[i][j] = math.inf
            for k in range(i, j):
                c = cost[i][k] + cost[k + 1][j] + dims[i] * dims[k + 1] * dims[j + 1]
                if c < cost[i][j]:
                    cost[i][j], split[i][j] = c, k

    def product(i, j):
        if i == j:
            return mats[i]
        k = split[i][j]
        return L.mm(product(i, k), product(k + 1, j))
    return product(0, n - 1)


from ._linalg_products import householder_product, matrix_exp  # noqa: E402

__all__ += ["matrix_exp", "householder_product"]


from .amp.kernels import wrap_functions as _amp_wrap  # noqa: E402  (autocast: these run in float32 on cpu)
_amp_wrap(globals(), "linalg.")
