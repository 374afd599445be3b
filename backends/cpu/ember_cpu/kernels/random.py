"""The Philox random prim on cpu: pybind11 native code, with a vectorised numpy path as a fallback."""

from __future__ import annotations

import numpy as np

from ..runtime import arr

_U64 = (1 << 64) - 1
_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_W0, _W1 = np.uint64(0x9E3779B9), np.uint64(0xBB67AE85)
_LO = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)

try:
    from .._native import philox_fill as _native_fill
except ImportError:  # an ember_cpu built before the native Philox existed
    _native_fill = None


def philox_numpy(n: int, seed: int, offset: int) -> np.ndarray:
    """Words 0..n-1 of Philox4x32-10 at (seed, offset), as int64 (uint64 lanes hold 32-bit words)."""
    blocks = (n + 3) // 4
    lo0 = offset & _U64
    with np.errstate(over="ignore"):
        lo = np.arange(blocks, dtype=np.uint64) + np.uint64(lo0)
    hi = np.full(blocks, (offset >> 64) & _U64, dtype=np.uint64)
    hi += (lo < np.uint64(lo0))
    c0, c1, c2, c3 = lo & _LO, lo >> _S32, hi & _LO, hi >> _S32
    k0, k1 = np.uint64(seed & 0xFFFFFFFF), np.uint64((seed >> 32) & 0xFFFFFFFF)
    for r in range(10):
        if r:
            k0 = (k0 + _W0) & _LO
            k1 = (k1 + _W1) & _LO
        p0 = c0 * _M0
        p1 = c2 * _M1
        c0, c1, c2, c3 = (p1 >> _S32) ^ c1 ^ k0, p1 & _LO, (p0 >> _S32) ^ c3 ^ k1, p0 & _LO
    out = np.empty((blocks, 4), np.int64)
    out[:, 0], out[:, 1], out[:, 2], out[:, 3] = c0, c1, c2, c3
    return out.reshape(-1)[:n]


def philox_random(out, seed, offset):
    a = arr(out).reshape(-1)
    if _native_fill is not None:
        _native_fill(a, seed, offset & _U64, offset >> 64)
    else:
        a[...] = philox_numpy(a.size, seed, offset)
    return out


KERNELS = {"philox_random": philox_random}
