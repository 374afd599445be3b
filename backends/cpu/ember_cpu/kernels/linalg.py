"""Matrix products on numpy.matmul (BLAS for float32/float64).

Core checks shapes and dtypes before a kernel runs: both operands share one
dtype, never bool. float16 and bfloat16 are multiplied in float32 and rounded
once, as PyTorch's cpu kernels accumulate; integers wrap as in PyTorch.
"""

from __future__ import annotations

import operator

import numpy as np

from ember import dtypes as D


from ..runtime import arr, is_half, wrap

_F32 = np.dtype(np.float32)


def matmul(a, b):
    x, y = arr(a), arr(b)
    if x.ndim > 2 and y.ndim == 2:
        # (..., n, k) @ (k, p): one GEMM over all rows, not one per leading index as numpy.matmul loops
        return wrap(_matmul(x.reshape(-1, x.shape[-1]), y).reshape(x.shape[:-1] + y.shape[1:]))
    return wrap(_matmul(x, y))


def _matmul(x, y):
    dt = x.dtype
    if is_half(dt):
        r = np.matmul(x.astype(_F32), y.astype(_F32)).astype(dt)
    else:
        r = np.matmul(x, y)
    return r if r.__class__ is np.ndarray else np.asarray(r, dtype=dt)


# One numpy call serves all four: numpy.matmul's rules are PyTorch's matmul rules,
# and bmm, mm and dot are its special cases.
KERNELS = {"bmm": matmul, "mm": matmul, "matmul": matmul, "dot": matmul}

# Array kernels: float32/float64 matrix products are numpy.matmul on the operands' arrays, and a matrix's
# transpose (t, a view) is the array's .T.
ARRAY_KERNELS = {"matmul": (np.matmul, (D.float32, D.float64)), "mm": (np.matmul, (D.float32, D.float64)),
                 "t": (operator.attrgetter("T"), tuple(D.all_dtypes))}
