"""Kernels of the cuda backend beyond the generated ones, and its per-call fast paths.

- bmm, mm, matmul, addmm through cuBLAS (float16, bfloat16, float32, float64);
  integer products go to the generator's bmm kernel.
- copy_ between contiguous tensors of one dtype is one cuMemcpyDtoDAsync.
- :class:`Replay`: the elementwise kernels of the generator, remembered per
  (operator, dtypes, shape, alignment) after their first call. The first call
  runs the generator's host code while the launch is recorded; later calls
  with the same key allocate the output, drop the new addresses into the
  recorded argument tuple and launch, skipping the generic host side.
"""

from __future__ import annotations

from ember import Tensor
from ember import dtypes as D

from . import blas
from . import driver as _drv
from .runtime import _contig_strides, _cstrides, current_stream_handle, runtime

_empty = runtime.empty
_empty_s = runtime.empty_and_stream


def _ptr(t: Tensor) -> int:
    return t._storage.ptr + t._offset * t._dtype.itemsize


def _zero(out: Tensor) -> Tensor:
    n = out.numel() * out._dtype.itemsize
    if n:
        drv = _drv.get()
        drv.set_device(out._device.index or 0)
        drv.check(drv.memset_d8_async(_ptr(out), 0, n, current_stream_handle(out._device)), "cuMemsetD8Async")
    return out


# -- matrix products ------------------------------------------------------------------------

_plans: dict = {}


def _contig(t: Tensor) -> Tensor:
    import ember
    return ember.contiguous(t)


def _gemm_into(out, a, b, B, n, k, p, sa_b, sb_b, alpha=1, beta=0):
    """out (B, n, p) contiguous = alpha * a @ b + beta * out, a (B?, n, k) and b (B?, k, p) views (2-D strides
    in a._strides[-2:], b._strides[-2:]); sa_b/sb_b are the batch strides (elements)."""
    key = (n, k, p, a._strides[-2:], b._strides[-2:])
    pl = _plans.get(key)
    if pl is None:
        pl = blas.plan(n, k, p, a._strides[-2:], b._strides[-2:])
        if pl is None:
            return None
        if len(_plans) > 4096:
            _plans.clear()
        _plans[key] = pl
    transa, transb, m, nn, kk, lda, ldb, ldc = pl
    dev = out._device
    idx = dev.index or 0
    blas.library().gemm(idx, current_stream_handle(dev), out._dtype, transa, transb, m, nn, kk, alpha,
                        _ptr(b), lda, sb_b, _ptr(a), ldb, sa_b, beta, _ptr(out), ldc, n * p, B)
    return out


def make_bmm(fallback):
    def bmm(a, b):
        dt = a._dtype
        if not blas.supports(dt):
            return fallback(a, b)
        B, n, k = a._shape
        p = b._shape[2]
        out = _empty((B, n, p), dt, a._device)
        if B == 0 or n == 0 or p == 0:
            return out
        if k == 0:
            return _zero(out)
        sa_b = a._strides[0] if B > 1 else 0
        sb_b = b._strides[0] if B > 1 else 0
        if _gemm_into(out, a, b, B, n, k, p, sa_b, sb_b) is None:
            a2 = a if blas.plan(n, k, p, a._strides[1:], (p, 1)) is not None else _contig(a)
            b2 = b if blas.plan(n, k, p, (k, 1), b._strides[1:]) is not None else _contig(b)
            _gemm_into(out, a2, b2, B, n, k, p, a2._strides[0] if B > 1 else 0, b2._strides[0] if B > 1 else 0)
        return out
    return bmm


def make_mm(fallback_bmm):
    def mm(a, b):
        dt = a._dtype
        if not blas.supports(dt):
            return fallback_bmm(a.unsqueeze(0), b.unsqueeze(0)).select(0, 0)
        n, k = a._shape
        p = b._shape[1]
        out = _empty((n, p), dt, a._device)
        if n == 0 or p == 0:
            return out
        if k == 0:
            return _zero(out)
        if _gemm_into(out, a, b, 1, n, k, p, 0, 0) is None:
            a2 = a if blas.plan(n, k, p, a._strides, (p, 1)) is not None else _contig(a)
            b2 = b if blas.plan(n, k, p, (k, 1), b._strides) is not None else _contig(b)
            _gemm_into(out, a2, b2, 1, n, k, p, 0, 0)
        return out
    return mm


def make_matmul(mm):
    from ember.dispatch import get
    decomposition = get("matmul").decomposition

    def matmul(a, b):
        if len(a._shape) == 2 and len(b._shape) == 2:
            return mm(a, b)
        return decomposition(a, b)
    return matmul


def make_addmm(mm):
    from ember.dispatch import get
    op = get("addmm")
    meta, decomposition = op.meta, op.decomposition

    def addmm(x, m1, m2, beta=1, alpha=1):
        meta(x, m1, m2, beta, alpha)
        dt = m1._dtype
        if not blas.supports(dt):
            return decomposition(x, m1, m2, beta, alpha)
        n, k = m1._shape
        p = m2._shape[1]
        if n == 0 or p == 0 or k == 0 or beta == 0:
            r = mm(m1, m2)
            if alpha != 1 and k:
                r = r * alpha
            if beta == 0:
                return r
            return r + (x if beta == 1 else x * beta)
        out = _empty((n, p), dt, m1._device)
        out.copy_(x)   # beta * x is folded into the product (C = alpha A B + beta C)
        if _gemm_into(out, m1, m2, 1, n, k, p, 0, 0, alpha, beta) is None:
            return decomposition(x, m1, m2, beta, alpha)
        return out
    return addmm


# -- copies -----------------------------------------------------------------------------------

def _is_contig(t: Tensor) -> bool:
    expected = 1
    for n, s in zip(reversed(t._shape), reversed(t._strides)):
        if n != 1 and s != expected:
            return False
        expected *= n
    return True


def make_copy(fallback):
    def copy_(dst, src):
        if (dst._dtype is src._dtype and dst._device is src._device and _is_contig(dst) and _is_contig(src)):
            n = dst.numel() * dst._dtype.itemsize
            if n:
                drv = _drv.get()
                dev = dst._device
                idx = dev.index or 0
                if drv._tls.device != idx:
                    drv.set_device(idx)
                drv.check(drv.memcpy_dtod_async(_ptr(dst), _ptr(src), n, current_stream_handle(dev)),
                          "cuMemcpyDtoDAsync")
            return dst
        return fallback(dst, src)
    return copy_


# -- replayed elementwise launches ---------------------------------------------------------------

from .kgdriver import recorder  # noqa: E402


class Replay:
    """Fast path for elementwise kernels kernel(a, b, out) / kernel(a, out) on contiguous tensors.

    Key: (dtypes, shape, device, 16-byte alignment of each operand). Entry: the recorded launch
    (kernel, grid, block, args) and, per argument slot, which tensor's (address, byte offset)
    goes there; or False when the first call did not launch exactly one kernel over those
    tensors (then the generic kernel always runs).
    """

    def __init__(self, name, kernel, launcher_of, arity):
        self.fast: dict = {}
        self.name = name
        self.kernel = kernel
        self.launcher_of = launcher_of
        self.arity = arity
        self.cache: dict = {}

    def learn(self, key, tensors, call):
        if len(self.cache) > _MAX_LEARNED:   # many shapes: start over rather than grow without bound
            self.cache.clear()
            self.fast.clear()
        rec = []
        recorder.launches = rec
        try:
            out = call()
        finally:
            recorder.launches = None
        if len(rec) != 1 or not isinstance(out, Tensor):
            self.cache[key] = False
            return out
        k, grid, block, args, stream = rec[0]
        everyone = tuple(tensors) + (out,)
        addrs = [(t._storage.ptr, t._offset * t._dtype.itemsize) for t in everyone]
        if len(set(addrs)) != len(addrs):
            return out   # aliased operands (x + x): learn from a later call
        slots = []
        sig = k.signature
        if len(sig) != len(args):
            self.cache[key] = False
            return out
        for i, c in enumerate(sig):
            if c == "p":
                want = (args[i], args[i + 1])
                for j, t in enumerate(everyone):
                    if (t._storage.ptr, t._offset * t._dtype.itemsize) == want:
                        slots.append((i, j))
                        break
                else:
                    self.cache[key] = False
                    return out
        if not any(j == len(everyone) - 1 for _, j in slots):
            self.cache[key] = False
            return out
        self.cache[key] = (k, tuple(grid), tuple(block), list(args), tuple(slots), out._shape, out._dtype)
        return out


_MAX_LEARNED = 2048


def _aligned(t: Tensor) -> bool:
    return (t._offset * t._dtype.itemsize) % 16 == 0


def _entry(e):
    """A learned launch as the fast path uses it: (kernel, grid, block, template args, index of the
    output's address, of operand 0's, of operand 1's (or -1), output shape, output dtype)."""
    k, grid, block, args, slots, oshape, odt = e
    where = {j: i for i, j in slots}
    n_in = max(where) if where else 0
    io = where.get(n_in, -1)
    ia = where.get(0, -1)
    ib = where.get(1, -1) if n_in == 2 else -1
    return (k, grid, block, args, io, ia, ib, oshape, odt)


def _learn_binary(rp, key, a, b, out, scalar, inplace):
    """Run the generic kernel once while recording; return (result, fast entry or None).

    The entry: (kernel, grid, block, template args, slots, scalar slot or -1, new output shape and dtype
    or None for in place), where slots are (argument index, 0 = a / 1 = b / 2 = the new output)."""
    cache = rp.cache
    if len(cache) > _MAX_LEARNED:
        cache.clear()
        rp.fast.clear()
    rec = []
    recorder.launches = rec
    try:
        res = rp.kernel(a, b, out)
    finally:
        recorder.launches = None
    if len(rec) != 1 or not isinstance(res, Tensor) or (inplace and res is not a):
        cache[key] = False
        return res, None
    k, grid, block, args, _ = rec[0]
    sig = k.signature
    tensors = [a] if scalar else [a, b]
    if not inplace:
        tensors.append(res)
    pairs = [(t._storage.ptr, t._offset * t._dtype.itemsize) for t in tensors]
    if len(set(pairs)) != len(pairs):
        return res, None          # aliased operands (x + x): learn from a later call
    if len(sig) != len(args):
        cache[key] = False
        return res, None
    roles = [0] + ([] if scalar else [1]) + ([] if inplace else [2])   # pairs[j] is a, b or the new output
    slots = []
    for i, c in enumerate(sig):
        if c == "p":
            try:
                j = pairs.index((args[i], args[i + 1]))
            except ValueError:
                cache[key] = False
                return res, None
            slots.append((i, roles[j]))
    s_at = -1
    if scalar:
        # the generator passes operands after the output's (address, offset): a's pair, then the scalar
        want = float(b) if a._dtype.is_floating_point else int(b)
        if len(args) <= 4 or sig[4] not in "fdqiI" or args[4] != want:
            cache[key] = False
            return res, None
        s_at = 4
    have = {j for _, j in slots}
    if 0 not in have or (not scalar and 1 not in have) or (not inplace and 2 not in have):
        cache[key] = False
        return res, None
    entry = (k, tuple(grid), tuple(block), list(args), tuple(slots), s_at,
             None if inplace else (res._shape, res._dtype))
    cache[key] = True
    rp.fast[key] = entry
    return res, entry


def make_binary(name, kernel, launcher_of):
    """kernel(a, b, out) with a fast path for contiguous a, and b a tensor of a's shape or a Python number,
    out None (a new result) or a itself (in place)."""
    rp = Replay(name, kernel, launcher_of, 2)
    cache = rp.cache
    fast = rp.fast
    launch = None

    def binary(a, b, out):
        nonlocal launch
        inplace = out is a
        if out is None or inplace:
            shape = a._shape
            cs = _cstrides.get(shape) or _contig_strides(shape)
            if a._strides == cs:
                bc = b.__class__
                oa = a._offset
                if bc is Tensor:
                    if b._strides != cs or b._shape != shape:
                        return kernel(a, b, out)
                    ob = b._offset
                    key = (a._dtype, b._dtype, shape, a._device, inplace,
                           oa == 0 or (oa * a._dtype.itemsize) & 15 == 0, ob == 0 or (ob * b._dtype.itemsize) & 15 == 0)
                elif bc is float or bc is int:
                    key = (a._dtype, bc, shape, a._device, inplace, oa == 0 or (oa * a._dtype.itemsize) & 15 == 0)
                else:
                    return kernel(a, b, out)
                e = fast.get(key)
                if e is not None:
                    k, grid, block, args, slots, s_at, new = e
                    if new is None:
                        o = a
                        stream = current_stream_handle(a._device)
                    else:
                        o, stream = _empty_s(new[0], new[1], a._device)
                    args = args[:]
                    for i, j in slots:
                        t = a if j == 0 else (b if j == 1 else o)
                        args[i] = t._storage.ptr
                        args[i + 1] = t._offset * t._dtype.itemsize
                    if s_at >= 0:
                        args[s_at] = float(b) if a._dtype.is_floating_point else int(b)
                    if launch is None:
                        launch = launcher_of().launch
                    launch(k, grid, block, args, stream)
                    return o
                if key not in cache:
                    return _learn_binary(rp, key, a, b, out, bc is not Tensor, inplace)[0]
        return kernel(a, b, out)
    binary.__name__ = name
    binary.replay = rp
    binary.fast = fast
    return binary


def make_unary(name, kernel, launcher_of):
    rp = Replay(name, kernel, launcher_of, 1)
    cache = rp.cache
    fast = rp.fast
    launch = None

    def unary(a, out):
        nonlocal launch
        if out is None:
            shape = a._shape
            cs = _cstrides.get(shape) or _contig_strides(shape)
            if a._strides == cs:
                oa = a._offset
                key = (a._dtype, shape, a._device, oa == 0 or (oa * a._dtype.itemsize) & 15 == 0)
                e = fast.get(key)
                if e is not None:
                    k, grid, block, args, io, ia, ib, oshape, odt = e
                    o, stream = _empty_s(oshape, odt, a._device)
                    args = args[:]
                    args[io] = o._storage.ptr
                    args[ia] = a._storage.ptr
                    args[ia + 1] = oa * a._dtype.itemsize
                    if launch is None:
                        launch = launcher_of().launch
                    launch(k, grid, block, args, stream)
                    return o
                if key not in cache:
                    r = rp.learn(key, (a,), lambda: kernel(a, None))
                    learned = cache.get(key)
                    if learned:
                        e = _entry(learned)
                        if e[4] >= 0 and e[5] >= 0:
                            fast[key] = e
                    return r
        return kernel(a, out)
    unary.__name__ = name
    unary.replay = rp
    unary.fast = fast
    return unary


# -- host fallback for products cuBLAS does not do, when the generator is absent -------------------

def host_bmm(a, b):
    import numpy as np
    x, y = runtime.to_numpy(a), runtime.to_numpy(b)
    r = np.matmul(x, y).astype(a._dtype.np, copy=False)
    return runtime.from_numpy(np.ascontiguousarray(r), a._device)


def build(generated: dict, launcher_of, fast_paths: bool = True) -> dict:
    """The cuda kernel table: the generated kernels, wrapped with this backend's fast paths, plus cuBLAS."""
    from ember.ops.elementwise import BINARY, UNARY
    table = dict(generated)
    if fast_paths:
        for name in BINARY:
            if name in table:
                table[name] = make_binary(name, table[name], launcher_of)
        for name in UNARY:
            if name in table:
                table[name] = make_unary(name, table[name], launcher_of)
    if "copy_" in table:
        table["copy_"] = make_copy(table["copy_"])
    fallback_bmm = table.get("bmm", host_bmm)
    table["bmm"] = make_bmm(fallback_bmm)
    table["mm"] = make_mm(fallback_bmm)
    table["matmul"] = make_matmul(table["mm"])
    table["addmm"] = make_addmm(table["mm"])
    return table
