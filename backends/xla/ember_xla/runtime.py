"""The xla runtime: storage is a mutable cell holding a flat jax.Array.

An in-place write replaces the cell's array with a functionally updated one;
views share the cell and read through it, so every view sees the write. A cell
made by ``empty`` holds no array until it is read (then zeros) or written whole,
so ``empty`` + a whole write (clone, ``to``, ``full``) runs one XLA call.
"""

from __future__ import annotations

import ember_arraycell as _arraycell
import jax
import numpy as np

from ember import Tensor
from ember import dtypes as D
from ember.errors import DLPackError
from ember.device import Device

from . import _engine as E
from . import _state as S

backend = None   # set when the plugin registers
_KEY = 0         # its dispatch key bit

_ArrayImpl = type(jax.numpy.zeros(0))
_Ref = S.Ref
_new = object.__new__
_np_to_ember = {d.np: d for d in D.all_dtypes + D.complex_dtypes}


class Cell(_arraycell.Cell):
    """A tensor's storage: ``a`` is a flat jax.Array of ``n`` elements (or None before the first
    write, or a lazy Ref), of ``dtype``, on jax device ``dev``."""

    __slots__ = ()
    device_type = "xla"


_geo = _arraycell._geo                 # shape -> (contiguous strides, numel)
_shape_info = _arraycell.shape_info
geom = _arraycell.geom


_DEVS: list = []


def device_of(i: int) -> Device:
    while len(_DEVS) <= i:
        _DEVS.append(Device("xla", len(_DEVS)))
    return _DEVS[i]


def wrap(a, shape, dtype, dev) -> Tensor:
    """A new tensor owning the flat array (or lazy Ref) ``a`` of ``shape`` and ``dtype`` on device ``dev``."""
    strides, n = _geo.get(shape) or _shape_info(shape)
    c = Cell(a, n, dtype, dev)
    if a.__class__ is _Ref:
        S.track(c)
    t = _new(Tensor)
    t._storage = c
    t._offset = 0
    t._shape = shape
    t._strides = strides
    t._dtype = dtype
    t._device = _DEVS[dev] if dev < len(_DEVS) else device_of(dev)
    t._backend = backend
    t._keys = _KEY | dtype.key_bit
    t._h = shape
    t._base = None
    return t


def val(t):
    """The value to pass for tensor ``t``'s storage: its jax array (or, in lazy mode, a Ref)."""
    a = t._storage.a
    if a.__class__ is _ArrayImpl:
        return a
    return _slow_val(t._storage)


def _slow_val(c):
    a = c.a
    if a is None:
        from .kernels.creation import zeros_key
        a = E.run(zeros_key(c.n, c.dtype, c.dev), (), c.dev)[0]
        c.a = a
        if a.__class__ is _Ref:
            S.track(c)
        return a
    if a.__class__ is _Ref and S.graphs is None:
        S.sync(a.graph)
        return c.a
    return a


def concrete(c):
    """The cell's jax array, running pending lazy work first (a sync point)."""
    a = c.a
    if a.__class__ is _ArrayImpl:
        return a
    if a.__class__ is _Ref:
        S.sync(a.graph)
        return c.a
    if a is None:
        from .kernels.creation import zeros_key
        with_graphs, S.graphs = S.graphs, None
        try:
            c.a = E.run(zeros_key(c.n, c.dtype, c.dev), (), c.dev)[0]
        finally:
            S.graphs = with_graphs
        return c.a
    return a


def set_val(c, a):
    """Give cell ``c`` a new array (an in-place write)."""
    c.a = a
    if a.__class__ is _Ref:
        S.track(c)


def host_view(t):
    """The jax array holding exactly tensor ``t``'s elements, in its shape (runs pending lazy work)."""
    a = concrete(t._storage)
    g = geom(t)
    if E.is_whole(g):
        return a.reshape(g) if a.ndim != len(g) or a.shape != g else a
    from .kernels.creation import read_key
    with_graphs, S.graphs = S.graphs, None
    try:
        return E.run(read_key(g), (a,), t._storage.dev)[0]
    finally:
        S.graphs = with_graphs


class XlaRuntime:
    """Devices are JAX's (every PJRT device jax.devices() returns); memory is jax.Arrays."""

    @property
    def module_attributes(self) -> dict:
        """What ``ember.xla`` offers beyond the functions every device type has."""
        return {"lazy": S.lazy, "mark_step": S.mark_step, "is_lazy": S.is_lazy}

    def device_count(self) -> int:
        try:
            return len(E.jax_devices())
        except Exception:  # noqa: BLE001  (no usable PJRT backend: reported by unavailable_reason)
            return 0

    def is_available(self) -> bool:
        return self.device_count() > 0

    def unavailable_reason(self):
        try:
            E.jax_devices()
        except Exception as e:  # noqa: BLE001
            return f"jax found no usable device: {type(e).__name__}: {e}"
        return None

    def empty(self, shape, dtype, device) -> Tensor:
        strides, n = _shape_info(tuple(shape))
        return _wrap_cell(Cell(None, n, dtype, device.index or 0), tuple(shape))

    def from_numpy(self, array, device) -> Tensor:
        dev = device.index or 0
        dt = _np_to_ember[array.dtype]
        flat = np.array(array, copy=True, order="C").reshape(-1)
        with E._x64(True):
            # On CPU, device_put aliases a numpy buffer (may_alias=False notwithstanding): the
            # copy above keeps the caller's array the caller's.
            a = jax.device_put(flat, E.jax_devices()[dev])
        return wrap(a, tuple(array.shape), dt, dev)

    def to_numpy(self, tensor) -> np.ndarray:
        a = host_view(tensor)
        return np.array(a, copy=True)

    def storage_numel(self, storage) -> int:
        return storage.n

    def synchronize(self, device=None) -> None:
        S.mark_step()
        dev = None if device is None or device.index is None else E.jax_devices()[device.index]
        for a in jax.live_arrays():
            if dev is None or dev in a.devices():
                a.block_until_ready()

    def dlpack_device(self, tensor) -> tuple:
        """(DLPack device type code, index): kDLCPU for XLA's CPU, kDLCUDA / kDLROCM for GPUs."""
        d = E.jax_devices()[tensor._storage.dev]
        code = {"cpu": 1, "gpu": 2, "cuda": 2, "rocm": 10}.get(d.platform)
        if code is None:
            raise DLPackError(f"xla device {d} ({d.platform}) has no DLPack device type")
        return code, (0 if code == 1 else getattr(d, "local_hardware_id", d.id) or 0)

    def dlpack_sync(self, tensor, stream) -> None:
        """Before an export: the array is computed, and stays alive while the exported tensor does
        (an in-place write gives the cell a new array; the consumer keeps reading the old one)."""
        c = tensor._storage
        a = concrete(c)
        a.block_until_ready()
        if c.pins is None:
            c.pins = [a]
        elif c.pins[-1] is not a:
            c.pins.append(a)

    def data_ptr(self, tensor) -> int:
        a = concrete(tensor._storage)
        return a.unsafe_buffer_pointer() + tensor._offset * tensor._dtype.itemsize


def _wrap_cell(c, shape):
    strides, n = _shape_info(shape)
    t = _new(Tensor)
    t._storage = c
    t._offset = 0
    t._shape = shape
    t._strides = strides
    t._dtype = c.dtype
    t._device = device_of(c.dev)
    t._backend = backend
    t._keys = _KEY | c.dtype.key_bit
    t._h = shape
    t._base = None
    return t


runtime = XlaRuntime()
