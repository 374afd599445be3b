"""A minimal pyopencl Driver for testing ember_kernelgen on a real OpenCL runtime (pocl in CI).

Tensors here are small stand-ins with the attributes kernels read (_storage, _offset, _shape,
_strides, _dtype, _device); the real backend (ember-xpu) uses ember Tensors and core's allocator.
"""

from __future__ import annotations

import numpy as np

from ember import dtypes as D
from ember_kernelgen import DeviceLimits, KernelCache
from ember_kernelgen.driver import SIGNATURE_CODES

cl = None


def _cl():
    global cl
    if cl is None:
        import pyopencl
        cl = pyopencl
    return cl


def _contig(shape):
    acc, out = 1, []
    for n in reversed(shape):
        out.append(acc)
        acc *= n if n > 1 else 1
    return tuple(reversed(out))


class Storage:
    __slots__ = ("buf", "nbytes")

    def __init__(self, buf, nbytes):
        self.buf, self.nbytes = buf, nbytes


class T:
    """A device tensor stand-in."""

    def __init__(self, storage, offset, shape, strides, dtype, device="cl:0"):
        self._storage, self._offset, self._shape = storage, offset, tuple(shape)
        self._strides, self._dtype, self._device = tuple(strides), dtype, device

    def _view(self, shape, strides, offset=None):
        return T(self._storage, self._offset if offset is None else offset, shape, strides, self._dtype, self._device)

    @property
    def shape(self):
        return self._shape


class CLDriver:
    dialect = "opencl"
    bundle = True     # families in one program, as ember-xpu compiles them

    def __init__(self):
        c = _cl()
        plat = c.get_platforms()[0]
        self.device = plat.get_devices()[0]
        self.ctx = c.Context([self.device])
        self.queue = c.CommandQueue(self.ctx)
        self.cache = KernelCache()
        self.compiles = 0
        from pyopencl.characterize import has_src_build_cache
        self.runtime_caches = bool(has_src_build_cache(self.device))   # pocl: no binaries of our own

    def limits(self, device):
        d = self.device
        return DeviceLimits(max_block=min(256, d.max_work_group_size), warp=1,
                            local_mem=d.local_mem_size, compute_units=d.max_compute_units,
                            fp64="cl_khr_fp64" in d.extensions)

    def compile(self, source, signatures, options, device):
        c = _cl()
        self.compiles += 1
        target = self.device.name
        binary = None if self.runtime_caches else self.cache.get("opencl", target, source, options)
        prog = None
        if binary is not None:
            try:
                prog = c.Program(self.ctx, [self.device], [binary]).build(options=list(options))
            except Exception:
                prog = None
        if prog is None:
            prog = c.Program(self.ctx, source).build(options=list(options))
            if not self.runtime_caches:
                self.cache.put("opencl", target, source, options, prog.get_info(c.program_info.BINARIES)[0])
        out = {}
        for name, sig in signatures.items():
            k = getattr(prog, name)
            k.set_scalar_arg_dtypes([None if ch == "p" else np.dtype(SIGNATURE_CODES[ch]) for ch in sig])
            out[name] = k
        return out

    def launch(self, kernel, grid, block, args, stream):
        gsize = tuple(g * b for g, b in zip(grid, block))
        kernel(stream, gsize, tuple(block), *args)

    def stream(self, device):
        return self.queue

    def buffer(self, t):
        return t._storage.buf, t._offset * t._dtype.itemsize

    def empty(self, shape, dtype, device):
        n = 1
        for s in shape:
            n *= s
        nbytes = max(n * dtype.itemsize, 1)
        buf = _cl().Buffer(self.ctx, _cl().mem_flags.READ_WRITE, nbytes)
        return T(Storage(buf, nbytes), 0, shape, _contig(shape), dtype, device)

    def to_host(self, t):
        st = t._storage
        raw = np.empty(st.nbytes // t._dtype.itemsize, t._dtype.np)
        _cl().enqueue_copy(self.queue, raw, st.buf)
        if not t._shape:
            return raw[t._offset:t._offset + 1].reshape(()).copy()
        if 0 in t._shape:
            return np.empty(t._shape, t._dtype.np)
        isz = t._dtype.itemsize
        return np.lib.stride_tricks.as_strided(raw[t._offset:], t._shape, [s * isz for s in t._strides]).copy()

    # test helpers
    def tensor(self, a, pad=0):
        """A device tensor holding numpy array a (contiguous, optionally at an element offset pad)."""
        a = np.array(a, order="C", copy=True)
        dt = D.from_numpy_dtype(a.dtype)
        flat = np.concatenate([np.zeros(pad, a.dtype), a.reshape(-1)]) if pad else a.reshape(-1)
        nbytes = max(flat.nbytes, 1)
        c = _cl()
        buf = c.Buffer(self.ctx, c.mem_flags.READ_WRITE, nbytes)
        if flat.nbytes:
            c.enqueue_copy(self.queue, buf, flat)
        return T(Storage(buf, nbytes), pad, a.shape, _contig(a.shape), dt, "cl:0")
