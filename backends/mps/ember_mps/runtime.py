"""The mps runtime: storage is a mutable cell holding a flat MLX array.

MLX arrays are immutable and lazily evaluated, like JAX's: an in-place write puts a
new, functionally updated flat array in the cell (ember-arraycell), and every view
reads through the cell. A view is read with ``mx.as_strided`` over the flat array
and written back with ``mx.slice_update`` (one dense block) or a scatter by computed
indices. A cell made by ``empty`` holds no array until it is read (then zeros) or
written whole. Arrays stay lazy until read; an in-place write starts evaluating the
new array (``mx.async_eval``) so that a training loop never builds an endless graph.
"""

from __future__ import annotations

import os

import ember_arraycell as _ac
import mlx.core as mx
import numpy as np

from ember import Tensor
from ember import dtypes as D
from ember.device import Device
from ember.errors import InvalidArgumentError

backend = None   # set when the plugin registers
_KEY = 0         # its dispatch key bit

METAL = mx.metal.is_available()
_new = object.__new__
_geo = _ac._geo
_shape_info = _ac.shape_info
geom = _ac.geom
_plan = _ac.view_plan

#: Ember dtype -> MLX dtype. float64 exists on MLX's CPU device only.
MX = {D.bool: mx.bool_, D.uint8: mx.uint8, D.int8: mx.int8, D.int16: mx.int16, D.int32: mx.int32,
      D.int64: mx.int64, D.float16: mx.float16, D.bfloat16: mx.bfloat16, D.float32: mx.float32}
if not METAL:
    MX[D.float64] = mx.float64
DTYPES = tuple(d for d in D.all_dtypes if d in MX)
_np_to_ember = {d.np: d for d in DTYPES if d is not D.bfloat16}


class Cell(_ac.Cell):
    """A tensor's storage: ``a`` is a flat mx.array of ``n`` elements (or None before the first write)."""

    __slots__ = ()
    device_type = "mps"


_DEV = Device("mps", 0)


def wrap(a, shape, dtype) -> Tensor:
    """A new tensor owning the MLX array ``a`` (any shape with ``numel(shape)`` elements)."""
    strides, n = _geo.get(shape) or _shape_info(shape)
    if a.ndim != 1:
        a = a.reshape(-1)
    return _tensor(Cell(a, n, dtype, 0), shape, strides, dtype)


def _tensor(cell, shape, strides, dtype) -> Tensor:
    """A contiguous tensor over the storage cell ``cell``."""
    t = _new(Tensor)
    t._storage = cell
    t._offset = 0
    t._shape = shape
    t._strides = strides
    t._dtype = dtype
    t._device = _DEV
    t._backend = backend
    t._keys = _KEY | dtype.key_bit
    t._h = shape
    t._base = None
    return t


def flat(c):
    """The cell's flat array (zeros on the first read of an ``empty`` storage)."""
    a = c.a
    if a is None:
        a = c.a = mx.zeros((c.n,), MX[c.dtype])
    return a


def val(t):
    """The MLX array of exactly tensor ``t``'s elements, in its shape."""
    c = t._storage
    a = c.a
    if a is None:
        a = flat(c)
    g = t._h
    if g is None:
        g = geom(t)
    if g.__class__ is tuple and (not g or g[0] != "v"):
        return a.reshape(g)
    return mx.as_strided(mx.contiguous(a), g[1], g[2], g[3])


def set_val(t, v):
    """Write the array ``v`` (of t's shape, any dtype) into tensor ``t``'s elements: an in-place write."""
    c = t._storage
    if v.dtype != MX[c.dtype]:
        v = cast(v, c.dtype)
    g = t._h
    if g is None:
        g = geom(t)
    if not g or g[0] != "v":
        a = v.reshape(-1)
    else:
        a = _write(flat(c), g, v)
    c.a = a
    mx.async_eval(a)


def _write(a, g, v):
    _, shape, strides, off = g
    p = _plan(shape, strides, off)
    if p[0] == "empty":
        return a
    if p[0] == "dense" and not p[5]:
        _, sizes, perm, mid, span, _b = p
        vb = v.reshape([m for m in mid if m != 1] or ())
        if perm != tuple(range(len(perm))):
            vb = vb.transpose([perm.index(i) for i in range(len(perm))])
        return mx.slice_update(a, vb.reshape(-1), mx.array([off]), (0,))
    a = mx.contiguous(a)
    idx = mx.as_strided(mx.arange(a.shape[0], dtype=mx.int32 if a.shape[0] < 2**31 else mx.int64),
                        shape, strides, off)
    return mx.put_along_axis(a, idx.reshape(-1), mx.broadcast_to(v, shape).reshape(-1), axis=0)


def cast(v, dtype):
    """``v`` converted to Ember dtype ``dtype`` as numpy and PyTorch on x86 convert: floats to
    integers narrower than 64 bits go through int64 and wrap (never saturate)."""
    m = MX[dtype]
    if v.dtype == m:
        return v
    if dtype.category == 1 and dtype.itemsize < 8 and mx.issubdtype(v.dtype, mx.floating):
        v = v.astype(mx.int64)
    return v.astype(m)


def to_host(a) -> np.ndarray:
    """A numpy copy of the MLX array ``a`` (bfloat16 through its bits: numpy has no buffer format for it)."""
    if a.dtype == mx.bfloat16:
        return np.array(a.view(mx.uint16), copy=True).view(D.bfloat16.np)
    return np.array(a, copy=True)


def _total_memory() -> int:
    if METAL:
        info = mx.device_info()
        return int(info.get("max_recommended_working_set_size") or info.get("memory_size") or 0)
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def current_allocated_memory() -> int:
    """Bytes held by live MLX arrays (``mx.get_active_memory``), as ``torch.mps.current_allocated_memory``."""
    return int(mx.get_active_memory())


def driver_allocated_memory() -> int:
    """Bytes MLX holds from the system: live arrays plus its buffer cache."""
    return int(mx.get_active_memory() + mx.get_cache_memory())


def recommended_max_memory() -> int:
    """Metal's recommended working set size, or the machine's physical memory on MLX's CPU build."""
    return _total_memory()


def set_per_process_memory_fraction(fraction, device=None) -> None:
    """Limit MLX's memory to ``fraction`` of :func:`recommended_max_memory` (0 to 2, as in PyTorch;
    0 means no limit). MLX's limit is soft: past it, MLX frees its cache and waits for pending work."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction <= 2:
        raise InvalidArgumentError(f"set_per_process_memory_fraction(): fraction must be a number in [0, 2], got "
                                   f"{fraction!r}; pass e.g. 0.5 for half of recommended_max_memory()")
    total = _total_memory()
    mx.set_memory_limit(total * 2 if fraction == 0 else int(total * fraction))


class MpsRuntime:
    """One device, MLX's default (Metal's GPU, or the CPU on MLX's CPU build); memory is MLX's."""

    module_attributes = {
        "current_allocated_memory": current_allocated_memory, "driver_allocated_memory": driver_allocated_memory,
        "recommended_max_memory": recommended_max_memory,
        "set_per_process_memory_fraction": set_per_process_memory_fraction,
    }

    def device_count(self) -> int:
        return 1

    def is_available(self) -> bool:
        return True

    def unavailable_reason(self):
        return None

    def runs_on_host(self, index) -> bool:
        """MLX's CPU build computes on the host CPU: ember.accelerator then passes mps over (ask for it by
        name); on Metal it is the Apple GPU."""
        return not METAL

    def device_name(self, index) -> str:
        name = mx.device_info().get("device_name", "")
        return f"{name} (Metal)" if METAL else f"MLX CPU ({name})" if name else "MLX CPU"

    def empty(self, shape, dtype, device) -> Tensor:
        if dtype not in MX:
            raise InvalidArgumentError(f"mps has no {dtype.name} tensors here (MLX on "
                                       f"{'Metal' if METAL else 'CPU'} supports {', '.join(d.name for d in DTYPES)}); "
                                       f"convert first, e.g. .to(ember.float32)")
        shape = tuple(shape)
        strides, n = _shape_info(shape)
        return _tensor(Cell(None, n, dtype, 0), shape, strides, dtype)

    def from_numpy(self, array, device) -> Tensor:
        dt = _np_to_ember.get(array.dtype) or D.from_numpy_dtype(array.dtype)
        a = mx.array(np.array(array, copy=True, order="C").reshape(-1), MX[dt])
        return wrap(a, tuple(array.shape), dt)

    def to_numpy(self, tensor) -> np.ndarray:
        return to_host(val(tensor)).reshape(tensor._shape)

    def storage_numel(self, storage) -> int:
        return storage.n

    def synchronize(self, device=None) -> None:
        mx.synchronize()

    def empty_cache(self) -> None:
        """Give MLX's cached buffers back to the system (``mx.clear_cache``)."""
        mx.clear_cache()

    def data_ptr(self, tensor) -> int:
        raise InvalidArgumentError("data_ptr(): mps storage is an MLX array, which exposes no device pointer; "
                                   "copy the tensor to cpu first (t.cpu().data_ptr())")


runtime = MpsRuntime()
