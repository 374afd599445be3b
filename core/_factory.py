"""Tensors from host data: ember.tensor, as_tensor, from_numpy."""

from __future__ import annotations

import numpy as np

from . import dtypes as D
from ._tensor import Tensor
from .device import resolve
from .errors import DTypeError
from .ops._helpers import ValueOverflowError, check_scalar, dtype_arg
from .errors import ArgumentTypeError, InvalidArgumentError


def _to_host_array(data):
    if isinstance(data, Tensor):
        return data._to_numpy_copy()
    if isinstance(data, (list, tuple)) and any(isinstance(x, Tensor) for x in _flat(data)):
        data = _tensors_to_lists(data)
    try:
        arr = np.asarray(data)
    except ValueError:
        arr = np.asarray(data, dtype=object)
    if arr.dtype == object:
        raise InvalidArgumentError(f"cannot make a tensor from {type(data).__name__} data of ragged shape or "
                        f"non-numeric elements: {str(data)[:80]}")
    return arr


def _flat(seq):
    for x in seq:
        if isinstance(x, (list, tuple)):
            yield from _flat(x)
        else:
            yield x


def _tensors_to_lists(seq):
    return [(_tensors_to_lists(x) if isinstance(x, (list, tuple)) else
             (x.tolist() if isinstance(x, Tensor) else x)) for x in seq]


def _infer_dtype(data, arr):
    """Python data gets PyTorch's defaults (float -> default float, int -> int64); numpy data keeps its dtype."""
    kind = arr.dtype.kind
    if isinstance(data, (np.ndarray, np.generic)) or isinstance(data, Tensor):
        if kind in "biuf":
            return D.from_numpy_dtype(arr.dtype) if arr.dtype.kind != "V" else D.from_numpy_dtype(arr.dtype)
        return D.from_numpy_dtype(arr.dtype)
    if kind == "b":
        return D.bool
    if kind in "iu":
        return D.int64
    if kind == "f":
        return D.get_default_dtype()
    if kind == "c":  # the default complex dtype follows the default float, as in PyTorch
        return D.to_complex(D.get_default_dtype())
    if arr.dtype.name == "bfloat16":
        return D.bfloat16
    raise DTypeError(f"cannot infer an ember dtype for data of numpy dtype {arr.dtype}")


def _int_overflow(data):
    return ValueOverflowError(f"tensor(): Overflow when unpacking long long: an integer in the data does not fit "
                              f"int64 (range [-2**63, 2**63-1]): {str(data)[:80]}; pass dtype=ember.float64 "
                              f"for such numbers")


def _check_values(data, arr, dt, as_float):
    """Python numbers that do not fit ``dt`` raise, as PyTorch's tensor() does (numpy arrays and tensors
    wrap instead, as there). numpy shows ints past int64 as uint64, float64 or object arrays."""
    if arr.dtype.kind == "u" and arr.dtype.itemsize == 8 and not dt.is_floating_point:
        raise _int_overflow(data)
    if (arr.dtype.kind == "f" and not as_float and arr.size and np.abs(arr).max() >= 2.0**63
            and any(x.__class__ is int and not -2**63 <= x < 2**63 for x in _flat(_as_seq(data)))):
        raise _int_overflow(data)  # numpy made floats of ints past int64
    if dt.is_floating_point or dt is D.bool or arr.size == 0 or arr.dtype.kind == "b":
        return
    check_scalar(arr.min().item(), dt, "tensor")
    check_scalar(arr.max().item(), dt, "tensor")  # min and max are NaN where any element is


def _as_seq(data):
    return data if isinstance(data, (list, tuple)) else [data]


def tensor(data, *, dtype=None, device=None) -> Tensor:
    """A new tensor holding a copy of ``data`` (nested lists, numbers, numpy arrays, tensors)."""
    try:
        arr = _to_host_array(data)
    except ValueError:
        if not any(x.__class__ is int and not -2**63 <= x < 2**63 for x in _flat(_as_seq(data))):
            raise
        if dtype is None or not dtype_arg(dtype, "tensor").is_floating_point:
            raise _int_overflow(data) from None
        arr = np.asarray(data, dtype=np.float64)  # integers past int64 as floats, as PyTorch allows
    dt = dtype_arg(dtype, "tensor") or (data._dtype if isinstance(data, Tensor) else _infer_dtype(data, arr))
    if ((data.__class__ is not float or not dt.is_floating_point) and not isinstance(data, (np.ndarray, Tensor))
            and (arr.dtype != dt.np or arr.dtype.kind == "f")):
        _check_values(data, arr, dt, dtype is not None and dt.is_floating_point)
    if arr.dtype != dt.np:
        with np.errstate(over="ignore"):   # 1e300 to float32 is inf, as PyTorch, without numpy's warning
            arr = arr.astype(dt.np)
    if device is None and isinstance(data, Tensor):
        device = data._device
    backend, dev = resolve(device)
    if dt.is_complex:
        from .ops.complex import check_backend_dtype
        check_backend_dtype(backend, dt, "tensor")
    return backend.runtime.from_numpy(np.array(arr, copy=True, order="C"), dev)


def from_numpy(arr) -> Tensor:
    """A cpu tensor sharing memory with a numpy array (writes through either are seen by both)."""
    if not isinstance(arr, np.ndarray):
        raise ArgumentTypeError(f"from_numpy() expects a numpy.ndarray, got {type(arr).__name__}")
    D.from_numpy_dtype(arr.dtype)
    backend, dev = resolve("cpu")
    return backend.runtime.share_numpy(arr, dev)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like tensor(), but shares memory when data already is a tensor or a cpu-compatible array of that dtype."""
    dt = dtype_arg(dtype, "as_tensor")
    if isinstance(data, Tensor):
        out = data
        if dt is not None and dt is not data._dtype:
            out = out.to(dt)
        if device is not None and resolve(device)[1] is not out._device:
            out = out.to(device)
        return out
    if isinstance(data, np.ndarray) and (dt is None or dt.np == data.dtype):
        backend, dev = resolve(device)
        if backend.capabilities.host_memory and dev.type == "cpu":
            return from_numpy(data)
    return tensor(data, dtype=dt, device=device)


# -- PyTorch's keywords shared by every factory ------------------------------------------------------

class layout:
    """A tensor layout, as torch.layout: strided (dense) tensors, and sparse COO ones (ember.sparse)."""

    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"ember.{self.name}"

    def __reduce__(self):
        return self.name


strided = layout("strided")
sparse_coo = layout("sparse_coo")


def with_factory_keywords(fn):
    """fn, also taking the keywords every PyTorch factory takes: requires_grad, layout and pin_memory.

    ``layout`` must be ``ember.strided`` (or None); ``pin_memory`` is accepted and ignored, since every
    backend's host copies already go through memory it manages."""
    def factory(*args, requires_grad=False, layout=None, pin_memory=False, **kwargs):
        if layout is not None and layout is not strided:
            raise InvalidArgumentError(f"{fn.__name__}(): layout={layout!r} is not supported; Ember's tensors are strided "
                                       f"(pass layout=ember.strided or leave it out)")
        t = fn(*args, **kwargs)
        return t.requires_grad_(True) if requires_grad else t
    factory.__name__ = factory.__qualname__ = fn.__name__
    factory.__doc__ = fn.__doc__
    factory.__wrapped__ = fn
    return factory
