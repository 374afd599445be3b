"""DLPack: zero-copy exchange of tensors with PyTorch, CuPy, JAX, numpy and any other DLPack library.

``Tensor.__dlpack__`` / ``__dlpack_device__`` export a tensor; ``ember.from_dlpack(obj)``
imports any object that has them (or a raw capsule). Memory is shared both ways:
no copy is made, and the producer's memory stays alive until the consumer is
done with it.

Core does the DLPack structures (both the versioned 1.x capsule and the
legacy one) with ctypes; a backend says where its memory is:

- host-memory backends (cpu) need nothing: core uses ``data_ptr`` and
  ``share_numpy``;
- device backends give ``runtime.dlpack_device(tensor) -> (DLPack device type
  code, device index)``, optionally ``runtime.dlpack_sync(tensor, stream)``
  (make the consumer's ``stream`` wait for the producer's queued work), and
  ``runtime.from_dlpack_pointer(ptr, nbytes, shape, strides, dtype,
  device_index, owner, stream_handle_fn)`` returning a Tensor that keeps
  ``owner`` alive; optionally ``runtime.dlpack_stream(device)``, the stream
  argument to hand a producer (the consumer's current stream).
"""

from __future__ import annotations

import ctypes
import threading
from ctypes import POINTER, c_char_p, c_int, c_int32, c_int64, c_uint8, c_uint16, c_uint32, c_uint64, c_void_p

from . import dtypes as D
from .errors import DLPackError

# DLDeviceType codes
kDLCPU, kDLCUDA, kDLCUDAHost, kDLOpenCL, kDLVulkan, kDLMetal = 1, 2, 3, 4, 7, 8
kDLROCM, kDLROCMHost, kDLCUDAManaged, kDLOneAPI = 10, 11, 13, 14

#: DLPack device code -> Ember device type (host-pinned memory is host memory)
DEVICE_TYPES = {kDLCPU: "cpu", kDLCUDA: "cuda", kDLCUDAHost: "cpu", kDLCUDAManaged: "cuda", kDLROCM: "rocm",
                kDLROCMHost: "cpu", kDLOneAPI: "xpu", kDLMetal: "mps", kDLOpenCL: "xpu"}

# DLDataTypeCode
kDLInt, kDLUInt, kDLFloat, kDLBfloat, kDLComplex, kDLBool = 0, 1, 2, 4, 5, 6

_TO_DL = {D.bool: (kDLBool, 8), D.uint8: (kDLUInt, 8), D.int8: (kDLInt, 8), D.int16: (kDLInt, 16),
          D.int32: (kDLInt, 32), D.int64: (kDLInt, 64), D.float16: (kDLFloat, 16),
          D.bfloat16: (kDLBfloat, 16), D.float32: (kDLFloat, 32), D.float64: (kDLFloat, 64),
          D.complex64: (kDLComplex, 64), D.complex128: (kDLComplex, 128)}
_FROM_DL = {v: k for k, v in _TO_DL.items()}

DLPACK_FLAG_BITMASK_READ_ONLY = 1


class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", c_int32), ("device_id", c_int32)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", c_uint8), ("bits", c_uint8), ("lanes", c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [("data", c_void_p), ("device", DLDevice), ("ndim", c_int32), ("dtype", DLDataType),
                ("shape", POINTER(c_int64)), ("strides", POINTER(c_int64)), ("byte_offset", c_uint64)]


_Deleter = ctypes.CFUNCTYPE(None, c_void_p)


class DLManagedTensor(ctypes.Structure):
    _fields_ = [("dl_tensor", DLTensor), ("manager_ctx", c_void_p), ("deleter", _Deleter)]


class DLPackVersion(ctypes.Structure):
    _fields_ = [("major", c_uint32), ("minor", c_uint32)]


class DLManagedTensorVersioned(ctypes.Structure):
    _fields_ = [("version", DLPackVersion), ("manager_ctx", c_void_p), ("deleter", _Deleter),
                ("flags", c_uint64), ("dl_tensor", DLTensor)]


# -- the Python C API used on capsules ------------------------------------------------------

_api = ctypes.pythonapi
_api.PyCapsule_New.restype = ctypes.py_object
_api.PyCapsule_New.argtypes = (c_void_p, c_char_p, c_void_p)
_api.PyCapsule_IsValid.restype = c_int
_api.PyCapsule_IsValid.argtypes = (ctypes.py_object, c_char_p)
_api.PyCapsule_GetPointer.restype = c_void_p
_api.PyCapsule_GetPointer.argtypes = (ctypes.py_object, c_char_p)
_api.PyCapsule_SetName.restype = c_int
_api.PyCapsule_SetName.argtypes = (ctypes.py_object, c_char_p)
# The destructor sees a capsule whose reference count is zero: only raw pointers touch it.
_IsValidRaw = ctypes.PYFUNCTYPE(c_int, c_void_p, c_char_p)(("PyCapsule_IsValid", _api))
_GetPointerRaw = ctypes.PYFUNCTYPE(c_void_p, c_void_p, c_char_p)(("PyCapsule_GetPointer", _api))

# Capsule names must outlive the capsules: module constants.
_NAME = b"dltensor"
_USED = b"used_dltensor"
_NAME_V = b"dltensor_versioned"
_USED_V = b"used_dltensor_versioned"

_live: dict = {}            # address of an exported managed tensor -> what keeps its memory alive
_live_lock = threading.Lock()


@_Deleter
def _deleter(addr):
    with _live_lock:
        _live.pop(addr, None)


_CapsuleDestructor = ctypes.CFUNCTYPE(None, c_void_p)


@_CapsuleDestructor
def _capsule_destructor(capsule):
    # A capsule nobody consumed still owns its tensor: free it. A consumed one was renamed.
    try:
        if _IsValidRaw(capsule, _NAME):
            _deleter(_GetPointerRaw(capsule, _NAME))
        elif _IsValidRaw(capsule, _NAME_V):
            _deleter(_GetPointerRaw(capsule, _NAME_V))
    except Exception:  # noqa: BLE001  (never raise from a destructor)
        pass


_DESTRUCTOR_ADDR = ctypes.cast(_capsule_destructor, c_void_p).value
_DELETER_ADDR = ctypes.cast(_deleter, c_void_p).value


class _Export:
    """What one exported capsule keeps alive: the tensor, the struct, shape and strides arrays."""

    __slots__ = ("tensor", "managed", "shape", "strides")


def dlpack_device(t) -> tuple:
    rt = t._backend.runtime
    f = getattr(rt, "dlpack_device", None)
    if f is not None:
        return tuple(f(t))
    if t._backend.capabilities.host_memory:
        return (kDLCPU, 0)
    raise DLPackError(f"tensors on {t._device} cannot be exported with DLPack: their backend "
                      f"({t._backend.distribution}) has no runtime.dlpack_device")


def to_dlpack(t, stream=None, max_version=None, dl_device=None, copy=None):
    """The capsule of ``Tensor.__dlpack__`` (versioned when the consumer asks for max_version >= 1)."""
    dev = dlpack_device(t)
    if dl_device is not None and tuple(dl_device) != dev:
        raise DLPackError(f"__dlpack__: this tensor is on DLPack device {dev}, the consumer asked for "
                          f"{tuple(dl_device)}; move it with .to() first")
    if copy:
        t = t.clone()
    sync = getattr(t._backend.runtime, "dlpack_sync", None)
    if sync is not None and stream != -1:
        sync(t, stream)
    versioned = max_version is not None and int(max_version[0]) >= 1
    ex = _Export()
    ex.tensor = t
    nd = len(t._shape)
    ex.shape = (c_int64 * max(nd, 1))(*t._shape)
    ex.strides = (c_int64 * max(nd, 1))(*t._strides)
    m = DLManagedTensorVersioned() if versioned else DLManagedTensor()
    ex.managed = m
    dl = m.dl_tensor
    dl.data = t.data_ptr() if t.numel() else (t._backend.runtime.data_ptr(t) or None)
    dl.device = DLDevice(dev[0], dev[1])
    dl.ndim = nd
    code, bits = _TO_DL[t._dtype]
    dl.dtype = DLDataType(code, bits, 1)
    dl.shape = ctypes.cast(ex.shape, POINTER(c_int64))
    dl.strides = ctypes.cast(ex.strides, POINTER(c_int64))
    dl.byte_offset = 0
    m.manager_ctx = None
    m.deleter = _deleter
    if versioned:
        m.version = DLPackVersion(1, 0)
        m.flags = 0
    addr = ctypes.addressof(m)
    with _live_lock:
        _live[addr] = ex
    return _api.PyCapsule_New(addr, _NAME_V if versioned else _NAME, _DESTRUCTOR_ADDR)


class _Owner:
    """Keeps an imported DLPack tensor alive; calls the producer's deleter when collected."""

    __slots__ = ("addr", "deleter", "capsule", "__weakref__")

    def __init__(self, addr, deleter, capsule):
        self.addr = addr
        self.deleter = deleter
        self.capsule = capsule   # the consumed capsule (harmless to keep; some producers expect it)

    def __del__(self):
        d = self.deleter
        if d:
            self.deleter = None
            try:
                _Deleter(d)(self.addr)
            except Exception:  # noqa: BLE001
                pass


def _parse(capsule):
    """(DLTensor, owner, readonly) from a capsule, which is marked consumed."""
    if _api.PyCapsule_IsValid(capsule, _NAME_V):
        addr = _api.PyCapsule_GetPointer(capsule, _NAME_V)
        m = DLManagedTensorVersioned.from_address(addr)
        if m.version.major > 1:
            raise DLPackError(f"from_dlpack(): DLPack version {m.version.major}.{m.version.minor} is newer "
                              f"than the 1.x Ember reads")
        _api.PyCapsule_SetName(capsule, _USED_V)
        dele = ctypes.cast(m.deleter, c_void_p).value
        return m.dl_tensor, _Owner(addr, dele, capsule), bool(m.flags & DLPACK_FLAG_BITMASK_READ_ONLY)
    if _api.PyCapsule_IsValid(capsule, _NAME):
        addr = _api.PyCapsule_GetPointer(capsule, _NAME)
        m = DLManagedTensor.from_address(addr)
        _api.PyCapsule_SetName(capsule, _USED)
        dele = ctypes.cast(m.deleter, c_void_p).value
        return m.dl_tensor, _Owner(addr, dele, capsule), False
    raise DLPackError("from_dlpack(): expected a DLPack capsule named 'dltensor' or 'dltensor_versioned' "
                      "that has not been consumed yet")


def _capsule_of(obj, device_type: str | None):
    if not hasattr(obj, "__dlpack__"):
        return obj  # a raw capsule
    stream = None
    if device_type is not None:
        try:
            from .device import get_backend
            rt = get_backend(device_type).runtime
            f = getattr(rt, "dlpack_stream", None)
            if f is not None:
                stream = f()
        except Exception:  # noqa: BLE001  (no backend: from_dlpack raises below with the reason)
            stream = None
    kwargs = {} if stream is None else {"stream": stream}
    try:
        return obj.__dlpack__(max_version=(1, 0), **kwargs)
    except TypeError:
        return obj.__dlpack__(**kwargs)


def from_dlpack(obj):
    """A tensor sharing memory with ``obj`` (anything with ``__dlpack__``, or a DLPack capsule)."""
    device_type = None
    if hasattr(obj, "__dlpack_device__"):
        code, _ = obj.__dlpack_device__()
        device_type = DEVICE_TYPES.get(int(code))
        if device_type is None:
            raise DLPackError(f"from_dlpack(): DLPack device type {int(code)} has no Ember device type")
    capsule = _capsule_of(obj, device_type)
    dl, owner, readonly = _parse(capsule)
    # A producer that cannot say so in a legacy capsule: a numpy array (or memmap) over read-only memory.
    readonly = readonly or getattr(getattr(obj, "flags", None), "writeable", True) is False
    code = int(dl.device.device_type)
    dtype = _FROM_DL.get((int(dl.dtype.code), int(dl.dtype.bits)))
    if dtype is None and (int(dl.dtype.code), int(dl.dtype.bits)) == (kDLUInt, 1):
        dtype = D.bool
    if dtype is None or int(dl.dtype.lanes) != 1:
        raise DLPackError(f"from_dlpack(): DLPack dtype (code {dl.dtype.code}, {dl.dtype.bits} bits, "
                          f"{dl.dtype.lanes} lanes) has no Ember dtype")
    nd = int(dl.ndim)
    shape = tuple(int(dl.shape[i]) for i in range(nd))
    if dl.strides:
        strides = tuple(int(dl.strides[i]) for i in range(nd))
    else:
        from ._tensor import contiguous_strides
        strides = contiguous_strides(shape)
    if any(s < 0 for s in strides):
        raise DLPackError(f"from_dlpack(): negative strides {strides} are not supported; pass a copy")
    isz = dtype.itemsize
    base = (dl.data or 0) + int(dl.byte_offset)
    numel = 1
    for s in shape:
        numel *= s
    span = 0 if numel == 0 else 1 + sum((n - 1) * s for n, s in zip(shape, strides))
    dev_type = DEVICE_TYPES.get(code)
    from .device import resolve
    if dev_type == "cpu":
        import numpy as np
        backend, dev = resolve("cpu")
        if span == 0:
            arr = np.empty(shape, dtype.np)
        else:
            raw = (ctypes.c_uint8 * (span * isz)).from_address(base)
            raw._ember_dlpack_owner = owner   # the numpy array's base chain keeps the producer's memory alive
            flat = np.frombuffer(raw, dtype=dtype.np, count=span)
            arr = np.lib.stride_tricks.as_strided(flat, shape=shape, strides=tuple(s * isz for s in strides),
                                                  writeable=not readonly)
        if readonly:
            # As from_numpy over a read-only array: in-place writes then raise instead of writing
            # into memory the producer promised would not change (a bytes object, a read-only map).
            arr.flags.writeable = False
        return backend.runtime.share_numpy(arr, dev)
    if dev_type is None:
        raise DLPackError(f"from_dlpack(): DLPack device type {code} has no Ember device type")
    backend, dev = resolve(f"{dev_type}:{int(dl.device.device_id)}")
    f = getattr(backend.runtime, "from_dlpack_pointer", None)
    if f is None:
        raise DLPackError(f"from_dlpack(): the {dev_type} backend ({backend.distribution}) cannot import "
                          f"DLPack memory (its runtime has no from_dlpack_pointer)")
    return f(base, span * isz, shape, strides, dtype, dev, owner)
