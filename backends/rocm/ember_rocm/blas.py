"""bmm through hipBLAS (float32, float64), loaded with ctypes; other dtypes use the generator's kernel.

hipBLAS sees column-major matrices, so a row-major product C = A @ B is computed
as C^T = B^T @ A^T, which is the same memory. Each operand goes as it lies when
one of its two strides is 1 (a transposed view costs nothing); otherwise it is
made contiguous first. float16 and bfloat16 go to kernelgen's bmm, which
accumulates in float32 as PyTorch does (hipblasHgemm would accumulate in half).
One hipBLAS handle per device, bound to the current stream before each call.
"""

from __future__ import annotations

import ctypes
import os
import threading
from ctypes import POINTER, byref, c_double, c_float, c_int, c_longlong, c_void_p

from ember import dtypes as D
from ember.errors import BackendLibraryError, BackendUnavailableError

from . import driver as _drv
from .runtime import current_stream_handle, runtime

HIPBLAS_OP_N, HIPBLAS_OP_T = 111, 112
#: dtype -> (entry point, C scalar type of alpha and beta)
GEMMS = {D.float32: ("hipblasSgemmStridedBatched", c_float), D.float64: ("hipblasDgemmStridedBatched", c_double)}
LIBRARIES = ("libhipblas.so", "libhipblas.so.3", "libhipblas.so.2", "libhipblas.so.0")


def operand(rows: int, cols: int, strides) -> tuple | None:
    """(op, ld) that passes a row-major-indexed (rows, cols) view with ``strides`` to column-major BLAS
    as its transpose, or None when neither stride is 1 (then copy it contiguous)."""
    s0, s1 = strides
    if s1 == 1 or cols == 1:
        ld = s0 if rows > 1 else cols
        return (HIPBLAS_OP_N, max(ld, cols, 1)) if ld >= cols else None
    if s0 == 1 or rows == 1:
        ld = s1 if cols > 1 else rows
        return (HIPBLAS_OP_T, max(ld, rows, 1)) if ld >= rows else None
    return None


class Library:
    """libhipblas with its handles (one per device)."""

    def __init__(self, lib):
        self.lib = lib
        self._handles: dict = {}
        self._lock = threading.Lock()
        if isinstance(lib, ctypes.CDLL):   # a stand-in library (tests) takes Python values as they are
            lib.hipblasCreate.argtypes = (POINTER(c_void_p),)
            lib.hipblasSetStream.argtypes = (c_void_p, c_void_p)
            for name, scalar in GEMMS.values():
                getattr(lib, name).argtypes = (
                    c_void_p, c_int, c_int, c_int, c_int, c_int, POINTER(scalar), c_void_p, c_int, c_longlong,
                    c_void_p, c_int, c_longlong, POINTER(scalar), c_void_p, c_int, c_longlong, c_int)
            for fn in (lib.hipblasCreate, lib.hipblasSetStream, *(getattr(lib, n) for n, _ in GEMMS.values())):
                fn.restype = c_int

    def handle(self, index: int):
        h = self._handles.get(index)
        if h is None:
            with self._lock:
                h = self._handles.get(index)
                if h is None:
                    _drv.get().set_device(index)
                    p = c_void_p(0)
                    _check(self.lib.hipblasCreate(byref(p)), "hipblasCreate")
                    h = self._handles[index] = p.value
        return h

    def gemm(self, index, stream, dtype, opa, opb, m, n, k, A, lda, sa, B, ldb, sb, C, ldc, sc, batch):
        name, scalar = GEMMS[dtype]
        h = self.handle(index)
        _check(self.lib.hipblasSetStream(h, stream or None), "hipblasSetStream")
        one, zero = scalar(1), scalar(0)
        _check(getattr(self.lib, name)(h, opa, opb, m, n, k, byref(one), A, lda, sa, B, ldb, sb, byref(zero),
                                       C, ldc, sc, batch), name)


def _check(status: int, call: str) -> None:
    if status:
        raise BackendLibraryError(f"{call} failed with hipblasStatus_t {status}")


_lib = None
_reason = None


def library() -> Library:
    """hipBLAS, loaded once: $EMBER_HIPBLAS (a path), else the loader's search path."""
    global _lib, _reason
    if _lib is None:
        if _reason is not None:
            raise BackendUnavailableError(_reason)
        names = [os.environ["EMBER_HIPBLAS"]] if os.environ.get("EMBER_HIPBLAS") else list(LIBRARIES)
        errors = []
        for n in names:
            try:
                _lib = Library(ctypes.CDLL(n))
                break
            except (OSError, AttributeError) as e:
                errors.append(f"{n}: {e}")
        else:
            _reason = f"hipBLAS not found ({'; '.join(errors)}); install ROCm's hipblas or set EMBER_HIPBLAS"
            raise BackendUnavailableError(_reason)
    return _lib


def available() -> str | None:
    """None when hipBLAS loads, else why not."""
    try:
        library()
    except BackendUnavailableError as e:
        return str(e)
    return None


def _contiguous(t):
    import ember
    return ember.contiguous(t)


def make_bmm(fallback):
    """bmm(a, b) -> (B, n, p): hipBLAS for float32/float64 when it loads, else ``fallback`` (kernelgen)."""
    def bmm(a, b):
        dt = a._dtype
        if dt not in GEMMS or available() is not None:
            return fallback(a, b)
        B, n, k = a._shape
        p = b._shape[2]
        if B == 0 or n == 0 or p == 0 or k == 0:
            return fallback(a, b)          # nothing to multiply: the generator's kernel fills zeros
        pa, pb = operand(n, k, a._strides[1:]), operand(k, p, b._strides[1:])
        if pa is None:
            a = _contiguous(a)
            pa = operand(n, k, a._strides[1:])
        if pb is None:
            b = _contiguous(b)
            pb = operand(k, p, b._strides[1:])
        out = runtime.empty((B, n, p), dt, a._device)
        dev = a._device
        sa, sb = (a._strides[0], b._strides[0]) if B > 1 else (0, 0)
        # C^T (p x n) = B^T (p x k) @ A^T (k x n)
        library().gemm(dev.index or 0, current_stream_handle(dev), dt, pb[0], pa[0], p, n, k,
                       runtime.data_ptr(b), pb[1], sb, runtime.data_ptr(a), pa[1], sa,
                       runtime.data_ptr(out), p, n * p, B)
        return out
    return bmm
