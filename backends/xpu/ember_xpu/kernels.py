"""The xpu kernel table: ember_kernelgen's kernels rendered in OpenCL C, on the OpenCL driver.

Reductions: the generator's GPU-shaped kernels (trees in local memory) or its CPU-shaped ones (long
runs per work-item, then a pass over the partial results), whichever kernelgen measured faster on the
device at its first reduction (ember_kernelgen.reduction; EMBER_KERNEL_REDUCE overrides). On pocl
the CPU-shaped ones run a sum of 2**24 float32 about as fast as numpy, the trees about 5x slower.

GEMM: the generator's kernels, whose kernel and tile kernelgen measures per device at the first
bmm there and keeps on disk (ember_kernelgen.gemm; the driver's ``tune_key`` names the device).
``EMBER_XPU_GEMM=clblast`` runs float32/float64 through CLBlast (pyclblast: ``pip install
ember-xpu[clblast]``) instead; other dtypes, empty operands and any case CLBlast refuses stay on the
generator's kernels. The generator's kernels are the default because they measure faster: on pocl
(one AVX-512 core), 1024x1024 float32 takes about 27 ms through them and 170-240 ms through
CLBlast 1.5.3 (bench/xpu_ops.py prints both).
"""

from __future__ import annotations

import os

from ember import dtypes as D

from . import runtime as _rt

GEMM_ENV = "EMBER_XPU_GEMM"
#: the engine used when EMBER_XPU_GEMM is unset (measured with bench/xpu_ops.py)
DEFAULT_GEMM = "kernelgen"

_table: dict = {}
_gen: dict = {}   # the generator's own GEMM kernels, kept for the benchmark's side-by-side


def build():
    from ember_kernelgen import build_kernels
    from .driver import driver
    table = dict(build_kernels(driver))
    _gen.clear()
    _gen.update({k: table[k] for k in ("bmm", "mm", "matmul") if k in table})
    if gemm_engine() == "clblast" and "bmm" in table:
        table["bmm"] = _clblast_bmm(table["bmm"])
        for k in ("mm", "matmul"):  # let them reach bmm through their decompositions
            table.pop(k, None)
    _table.clear()
    _table.update(table)
    return table


def _pyclblast():
    try:
        import pyclblast
        return pyclblast
    except Exception:  # noqa: BLE001  (not installed, or libclblast missing)
        return None


def gemm_engine() -> str:
    want = os.environ.get(GEMM_ENV, "").strip().lower() or DEFAULT_GEMM
    if want == "clblast" and _pyclblast() is None:
        return "kernelgen"
    return "clblast" if want == "clblast" else "kernelgen"


def gemm_alternatives() -> dict:
    """{engine name: fn(a, b) -> a @ b} for the 2-D case, each engine that can run here."""
    import ember
    out = {}
    if "bmm" in _gen or "mm" in _gen:
        gen_bmm = _gen.get("bmm")
        if gen_bmm is not None:
            out["kernelgen"] = lambda a, b: gen_bmm(a.unsqueeze(0), b.unsqueeze(0)).squeeze(0)
            if hasattr(gen_bmm, "using"):   # the GPU-shaped kernel too, for comparison
                tiled = gen_bmm.using(("tiled",))
                out["kernelgen tiled"] = lambda a, b: tiled(a.unsqueeze(0), b.unsqueeze(0)).squeeze(0)
        else:
            out["kernelgen"] = _gen["mm"]
    if _pyclblast() is not None:
        cb = _clblast_bmm(_gen.get("bmm"))
        out["clblast"] = lambda a, b: cb(a.unsqueeze(0), b.unsqueeze(0)).squeeze(0)
    if gemm_engine() not in out:
        out[gemm_engine()] = lambda a, b: ember.matmul(a, b)
    return out


def gemm_choice(device) -> str:
    """Which of the generator's GEMM kernels and tiles ``device`` (an ember.Device) runs, in words
    (measured on first use, see ember_kernelgen.gemm)."""
    gen_bmm = _gen.get("bmm")
    if gen_bmm is None or not hasattr(gen_bmm, "choice"):
        return "unknown"
    from ember_kernelgen.gemm import describe
    return describe(gen_bmm.choice(device))


def reduce_choice(device) -> str:
    """Which of the generator's reduction kernels ``device`` (an ember.Device) runs, in words: "tree"
    (GPU-shaped) or "UxBLOCK" (CPU-shaped; measured on first use, see ember_kernelgen.reduction)."""
    total = _table.get("sum")
    if total is None or not hasattr(total, "choice"):
        return "unknown"
    from ember_kernelgen.reduction import describe
    return describe(total.choice(device))


def _layout(t, rows, cols):
    """(transposed, leading dimension) of the matrices of t (strides of its last two dims), or None."""
    s_r, s_c = t._strides[-2], t._strides[-1]
    if (s_c == 1 or cols == 1) and (s_r >= cols or rows == 1):
        return False, max(s_r if rows > 1 else cols, cols, 1)
    if (s_r == 1 or rows == 1) and (s_c >= rows or cols == 1):
        return True, max(s_c if cols > 1 else rows, rows, 1)
    return None


def _clblast_bmm(fallback):
    """bmm through CLBlast's GEMM for float32 (and float64); other cases go to ``fallback``."""
    import numpy as np
    pyclblast = _pyclblast()
    rt = _rt.runtime
    np_of = {D.float32: np.float32, D.float64: np.float64}

    def kernel(a, b):
        dt = a._dtype
        B, n, k = a._shape
        p = b._shape[2]
        if dt not in np_of or not (B and n and k and p) or (dt is D.float64 and not rt.dev(a._device.index).fp64):
            return fallback(a, b)
        la, lb = _layout(a, n, k), _layout(b, k, p)
        if la is None:
            a, la = a.contiguous(), (False, k)
        if lb is None:
            b, lb = b.contiguous(), (False, p)
        dev = rt.dev(a._device.index)
        out = rt.empty((B, n, p), dt, a._device)
        stream = rt._stream(dev)
        q = stream.q
        isz = dt.itemsize
        arrs = []
        for t in (a, b, out):
            st = t._storage
            arrs.append((_as_cl_array(q, st, np_of[dt]), st.base // isz + t._offset))
        (A, ao), (Bm, bo), (C, co) = arrs
        try:
            if B == 1:
                stream.last = pyclblast.gemm(q, n, p, k, A, Bm, C, la[1], lb[1], p, a_transp=la[0],
                                             b_transp=lb[0], a_offset=ao, b_offset=bo, c_offset=co)
            else:
                stream.last = pyclblast.gemmStridedBatched(
                    q, n, p, k, B, A, Bm, C, la[1], lb[1], p, a._strides[0], b._strides[0], n * p,
                    a_transp=la[0], b_transp=lb[0], a_offset=ao, b_offset=bo, c_offset=co)
        except RuntimeError:  # CLBlast refused (a device or size it does not handle): the generator's kernel
            if fallback is None:
                raise
            return fallback(a, b)
        return out
    return kernel


def _as_cl_array(q, storage, np_dtype):
    """A 2-D pyopencl Array over a whole raw buffer (pyclblast wants Arrays; offsets go separately)."""
    import numpy as np
    import pyopencl.array as cla
    n = storage.buf.size // np.dtype(np_dtype).itemsize
    return cla.Array(q, (n, 1), np_dtype, data=storage.buf)
