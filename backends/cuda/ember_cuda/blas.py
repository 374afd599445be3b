"""Matrix products through cuBLAS, loaded with ctypes (no build against CUDA headers).

cuBLAS is row-major-agnostic: it sees column-major matrices. A row-major
product C = A @ B is computed as C^T = B^T @ A^T, which is the same memory;
each operand is passed as it lies in memory (transposed views cost nothing)
whenever one of its strides is 1, else it is made contiguous first.

float16 and bfloat16 accumulate in float32 (CUBLAS_COMPUTE_32F); float32 uses
TF32 tensor cores only when ``ember.backends.cuda.matmul.allow_tf32`` is True
(``ember.set_float32_matmul_precision("high")``; off by default, as in PyTorch);
float64 computes in float64. Setting ``allow_fp16_reduced_precision_reduction``
(or the bf16 one) False forbids cuBLAS's reduced-precision split-K reductions for
that dtype, as PyTorch does. Integer products go to the generator's bmm kernel.

The library is found in this order: $EMBER_CUBLAS (a path), the
nvidia-cublas wheel (through cuda-pathfinder), the loader's search path
(libcublas.so.13, .so.12), and the CUDA toolkit under $CUDA_HOME or
/usr/local/cuda*.
"""

from __future__ import annotations

import ctypes
import os
import threading
from ctypes import POINTER, byref, c_double, c_float, c_int, c_int64, c_void_p

from ember import dtypes as D
from ember.errors import BackendLibraryError
from ember.backends.cuda import matmul  # PyTorch's switches (torch.backends.cuda.matmul), owned by core

from . import driver as _drv

CUBLAS_OP_N, CUBLAS_OP_T = 0, 1
CUDA_R_32F, CUDA_R_64F, CUDA_R_16F, CUDA_R_16BF = 0, 1, 2, 14
CUBLAS_COMPUTE_32F, CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_COMPUTE_64F = 68, 77, 70
CUBLAS_DEFAULT_MATH, CUBLAS_TF32_TENSOR_OP_MATH = 0, 3
CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION = 16
CUBLAS_GEMM_DEFAULT = -1

_STATUS = {0: "CUBLAS_STATUS_SUCCESS", 1: "CUBLAS_STATUS_NOT_INITIALIZED", 3: "CUBLAS_STATUS_ALLOC_FAILED",
           7: "CUBLAS_STATUS_INVALID_VALUE", 8: "CUBLAS_STATUS_ARCH_MISMATCH", 11: "CUBLAS_STATUS_MAPPING_ERROR",
           13: "CUBLAS_STATUS_EXECUTION_FAILED", 14: "CUBLAS_STATUS_INTERNAL_ERROR",
           15: "CUBLAS_STATUS_NOT_SUPPORTED", 16: "CUBLAS_STATUS_LICENSE_ERROR"}




def math_mode(dtype) -> int:
    """The cublasSetMathMode value for a product of ``dtype``, from ``ember.backends.cuda.matmul``."""
    mode = CUBLAS_TF32_TENSOR_OP_MATH if matmul.allow_tf32 else CUBLAS_DEFAULT_MATH
    if ((dtype is D.float16 and not matmul.allow_fp16_reduced_precision_reduction)
            or (dtype is D.bfloat16 and not matmul.allow_bf16_reduced_precision_reduction)):
        mode |= CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION
    return mode


def compute_type(dtype) -> int:
    """The cublasComputeType_t of a product of ``dtype``: float32 on TF32 tensor cores where allowed."""
    compute = _TYPES[dtype][1]
    if dtype is D.float32 and matmul.allow_tf32:
        return CUBLAS_COMPUTE_32F_FAST_TF32
    return compute

#: dtype -> (cudaDataType of A, B and C, compute type, scalar ctype)
_TYPES = {
    D.float32: (CUDA_R_32F, CUBLAS_COMPUTE_32F, c_float),
    D.float64: (CUDA_R_64F, CUBLAS_COMPUTE_64F, c_double),
    D.float16: (CUDA_R_16F, CUBLAS_COMPUTE_32F, c_float),
    D.bfloat16: (CUDA_R_16BF, CUBLAS_COMPUTE_32F, c_float),
}


def supports(dtype) -> bool:
    return dtype in _TYPES


def _candidates():
    env = os.environ.get("EMBER_CUBLAS")
    if env:
        yield env
    try:
        from cuda.pathfinder import load_nvidia_dynamic_lib
        lib = load_nvidia_dynamic_lib("cublas")
        path = getattr(lib, "abs_path", None)
        if path:
            yield path
    except Exception:  # noqa: BLE001  (pathfinder is one way among several)
        pass
    yield "libcublas.so.13"
    yield "libcublas.so.12"
    from .compiler import library_candidates
    yield from library_candidates("cublas")


class CublasError(BackendLibraryError):
    """A cuBLAS call that failed, or cuBLAS missing."""


class Cublas:
    """The loaded library and one handle per (device, thread)."""

    def __init__(self):
        errors = []
        self.lib = None
        for cand in _candidates():
            try:
                self.lib = ctypes.CDLL(cand)
                self.path = cand
                break
            except OSError as e:
                errors.append(f"{cand}: {e}")
        if self.lib is None:
            raise CublasError("cuBLAS was not found; install the nvidia-cublas wheel, or set EMBER_CUBLAS to "
                              "the path of libcublas.so. Tried: " + "; ".join(errors[:6]))
        L = self.lib
        L.cublasCreate_v2.argtypes = (POINTER(c_void_p),)
        L.cublasSetStream_v2.argtypes = (c_void_p, c_void_p)
        L.cublasSetMathMode.argtypes = (c_void_p, c_int)

        L.cublasGemmEx.argtypes = (c_void_p, c_int, c_int, c_int, c_int, c_int, c_void_p,
                                   c_void_p, c_int, c_int, c_void_p, c_int, c_int, c_void_p,
                                   c_void_p, c_int, c_int, c_int, c_int)
        L.cublasGemmStridedBatchedEx.argtypes = (c_void_p, c_int, c_int, c_int, c_int, c_int, c_void_p,
                                                 c_void_p, c_int, c_int, c_int64,
                                                 c_void_p, c_int, c_int, c_int64, c_void_p,
                                                 c_void_p, c_int, c_int, c_int64, c_int, c_int, c_int)
        for f in (L.cublasCreate_v2, L.cublasSetStream_v2, L.cublasSetMathMode, L.cublasGemmEx,
                  L.cublasGemmStridedBatchedEx):
            f.restype = c_int
        self._gemm = L.cublasGemmEx
        self._gemm_batched = L.cublasGemmStridedBatchedEx
        self._set_stream = L.cublasSetStream_v2
        self._tls = threading.local()
        # alpha/beta scalars, one pair per ctype, reused (host pointer mode)
        self._scal = {c_float: (c_float(1.0), c_float(0.0)), c_double: (c_double(1.0), c_double(0.0))}
        self._scal_lock = threading.Lock()

    def check(self, status: int, what: str):
        if status:
            raise CublasError(f"{what} failed with {_STATUS.get(status, 'cublasStatus')} ({status})")

    def handle(self, device_index: int, stream: int, dtype=D.float32):
        """This thread's handle on ``device_index`` bound to ``stream``, in the math mode for ``dtype``."""
        hs = getattr(self._tls, "handles", None)
        if hs is None:
            hs = self._tls.handles = {}
        entry = hs.get(device_index)
        if entry is None:
            _drv.get().set_device(device_index)
            h = c_void_p()
            self.check(self.lib.cublasCreate_v2(byref(h)), "cublasCreate")
            entry = hs[device_index] = [h.value, None, None]
        if entry[1] != stream:
            self.check(self._set_stream(entry[0], stream or None), "cublasSetStream")
            entry[1] = stream
        mode = math_mode(dtype)
        if entry[2] != mode:
            self.check(self.lib.cublasSetMathMode(entry[0], mode), "cublasSetMathMode")
            entry[2] = mode
        return entry[0]

    def version(self) -> int:
        f = getattr(self.lib, "cublasGetProperty", None)   # (MAJOR_VERSION=0, MINOR=1, PATCH=2)
        if f is None:
            return -1
        parts = []
        for which in (0, 1, 2):
            v = c_int()
            f.argtypes = (c_int, POINTER(c_int))
            f.restype = c_int
            if f(which, byref(v)):
                return -1
            parts.append(v.value)
        return parts[0] * 10000 + parts[1] * 100 + parts[2]

    def gemm(self, device_index, stream, dtype, transa, transb, m, n, k, alpha, a, lda, sa, b, ldb, sb,
             beta, c, ldc, sc, batch):
        """Column-major C[m,n] = alpha * op(A) op(B) + beta * C, batched with strides sa, sb, sc (elements)."""
        dt, _, ctype = _TYPES[dtype]
        compute = compute_type(dtype)
        h = self.handle(device_index, stream, dtype)
        one, zero = self._scal[ctype]
        if alpha == 1 and beta in (0, 1):
            pa = ctypes.addressof(one)
            pb = ctypes.addressof(zero if beta == 0 else one)
            keep = None
        else:
            keep = (ctype(alpha), ctype(beta))
            pa, pb = ctypes.addressof(keep[0]), ctypes.addressof(keep[1])
        if batch == 1:
            st = self._gemm(h, transa, transb, m, n, k, pa, a, dt, lda, b, dt, ldb, pb, c, dt, ldc,
                            compute, CUBLAS_GEMM_DEFAULT)
            what = "cublasGemmEx"
        else:
            st = self._gemm_batched(h, transa, transb, m, n, k, pa, a, dt, lda, sa, b, dt, ldb, sb, pb,
                                    c, dt, ldc, sc, batch, compute, CUBLAS_GEMM_DEFAULT)
            what = "cublasGemmStridedBatchedEx"
        del keep
        if st:
            self.check(st, f"{what}(m={m}, n={n}, k={k}, batch={batch}, lda={lda}, ldb={ldb}, ldc={ldc}, "
                           f"{dtype.name})")


_lib = None
_lib_error = None
_lib_lock = threading.Lock()


def library() -> Cublas:
    global _lib, _lib_error
    if _lib is None:
        with _lib_lock:
            if _lib is None:
                if _lib_error is not None:
                    raise CublasError(_lib_error)
                try:
                    _lib = Cublas()
                except CublasError as e:
                    _lib_error = str(e)
                    raise
    return _lib


def find_library() -> str | None:
    """The path cuBLAS would be loaded from, or None (for ember info; loads nothing new)."""
    try:
        return library().path
    except Exception:  # noqa: BLE001
        return None


# -- operand layout -------------------------------------------------------------------------

def layout(rows: int, cols: int, s0: int, s1: int):
    """How a row-major (rows x cols) matrix with element strides (s0, s1) lies for cuBLAS.

    Returns ("row", ld) when each row is contiguous (s1 == 1), ("col", ld) when each column
    is (s0 == 1), or None when neither: the caller copies it first. ld is a valid leading
    dimension (at least the contiguous extent, at least 1).
    """
    if (cols <= 1 or s1 == 1) and (rows <= 1 or s0 >= max(cols, 1)):
        return "row", (s0 if rows > 1 else max(cols, 1))
    if (rows <= 1 or s0 == 1) and (cols <= 1 or s1 >= max(rows, 1)):
        return "col", (s1 if cols > 1 else max(rows, 1))
    return None


def plan(n: int, k: int, p: int, a_strides, b_strides):
    """cuBLAS arguments for row-major C(n,p) = A(n,k) @ B(k,p), as C^T = B^T A^T in column-major.

    Returns (transa, transb, m, nn, kk, lda, ldb, ldc), where cuBLAS's A is our B and its B is our A,
    or None when an operand needs a copy first (see layout()).
    """
    lb = layout(k, p, b_strides[0], b_strides[1])
    la = layout(n, k, a_strides[0], a_strides[1])
    if lb is None or la is None:
        return None
    # cuBLAS A' = B^T (p x k): row-major B is B^T in column-major (op N); column-major B needs op T.
    transa = CUBLAS_OP_N if lb[0] == "row" else CUBLAS_OP_T
    # cuBLAS B' = A^T (k x n): row-major A is A^T in column-major (op N); column-major A needs op T.
    transb = CUBLAS_OP_N if la[0] == "row" else CUBLAS_OP_T
    lda = lb[1]
    ldb = la[1]
    # leading dimensions must cover the stored rows of each operand as cuBLAS sees it
    lda = max(lda, p if transa == CUBLAS_OP_N else k, 1)
    ldb = max(ldb, k if transb == CUBLAS_OP_N else n, 1)
    return transa, transb, p, n, k, lda, ldb, max(p, 1)
