"""Shared meta-function helpers: dims, shapes, broadcasting, output specs."""

from __future__ import annotations

import numpy as np

from .. import dtypes as D
from ..errors import DTypeError, IndexOutOfRangeError, ShapeError
from ..errors import SizeError, ValueOverflowError  # noqa: F401  (defined here before; still importable)
from ..errors import ArgumentTypeError, InvalidArgumentError

_int = int


class Spec:
    """What a meta function computes for one output: shape and dtype (plus extras a family needs)."""

    __slots__ = ("shape", "dtype", "extra")

    def __init__(self, shape, dtype, extra=None):
        self.shape = shape
        self.dtype = dtype
        self.extra = extra

    def __repr__(self):
        return f"Spec(shape={self.shape}, dtype={self.dtype.name})"


def wrap_dim(dim, ndim: int, opname: str = "") -> int:
    if not isinstance(dim, _int) or isinstance(dim, bool):
        try:
            dim = dim.__index__()
        except AttributeError:
            raise ArgumentTypeError(f"{opname}(): dim must be an integer, got {type(dim).__name__}: {dim!r}") from None
    n = ndim if ndim > 0 else 1
    if dim < -n or dim >= n:
        raise IndexOutOfRangeError(
            f"{opname}(): dimension {dim} is out of range for a tensor with {ndim} dimension(s) "
            f"(expected a dim in [{-n}, {n - 1}])")
    return dim + n if dim < 0 else dim


def wrap_dims(dims, ndim: int, opname: str = "") -> tuple:
    """Normalize a dim, a sequence of dims, or None (all dims) to a sorted tuple; repeats are an error."""
    if dims is None:
        return tuple(range(ndim))
    if isinstance(dims, _int):
        dims = (dims,)
    out = tuple(sorted(wrap_dim(d, ndim, opname) for d in dims))
    if len(set(out)) != len(out):
        raise InvalidArgumentError(f"{opname}(): dim {tuple(dims)} names a dimension more than once")
    return out


def as_shape(shape, opname: str = "") -> tuple:
    """Accept f(2, 3), f((2, 3)), f([2, 3]) or f(ember.Size) and return a tuple of ints."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    out = []
    for s in shape:
        try:
            s = s.__index__()
        except AttributeError:
            raise ArgumentTypeError(f"{opname}(): a shape is a sequence of ints, got {type(s).__name__}: {s!r}") from None
        out.append(s)
    return tuple(out)


_MAX_BYTES = (1 << 63) - 1
_np_bool = np.bool_


def check_size(shape, opname="", dtype=None):
    """Refuse negative sizes and shapes that overflow a signed 64-bit size, before any backend sees them, as
    PyTorch: the running product of the sizes, the largest stride and the bytes must all fit, so
    (2, 0, 2**62) is fine but (2**62, 2**62, 0) and (0, 2**62, 2**62) are not."""
    n = 1 if dtype is None else dtype.itemsize
    for s in shape:
        if s < 0:
            raise SizeError(f"{opname}(): Trying to create tensor with negative dimension {s}: "
                            f"{list(shape)}; sizes must be >= 0")
        n *= s
    if 0 < n <= _MAX_BYTES or (n == 0 and _zero_sized_fits(shape)):
        return shape
    what = f"sizes={list(shape)}" + ("" if dtype is None else f" and dtype {dtype.name}")
    raise SizeError(f"{opname}(): Storage size calculation overflowed with {what}; a tensor holds at most "
                    f"2**63-1 bytes and elements")


def _zero_sized_fits(shape) -> bool:
    """A shape with a zero size: the sizes before the first zero, and the first dim's stride, must fit."""
    n = 1
    for s in shape:
        if s == 0:
            break
        n *= s
    stride = 1
    for s in shape[1:]:
        stride *= s or 1
    return n <= _MAX_BYTES and stride <= _MAX_BYTES


def _float_max(dt):
    return 3.3895313892515355e38 if dt.name == "bfloat16" else float(np.finfo(dt.np).max)


#: dtype -> (lowest, highest) a Python number may have to be written into it, as PyTorch's checked
#: conversion: an unsigned type takes ints down to -max (they wrap) but no negative float; float64 takes all.
_SCALAR_LIMITS = {d: ((-(1 << (8 * d.itemsize - 1)), (1 << (8 * d.itemsize - 1)) - 1) if d.is_signed
                      else (0, (1 << (8 * d.itemsize)) - 1)) for d in D.integral_dtypes}
_SCALAR_LIMITS.update({d: (-_float_max(d), _float_max(d)) for d in D.all_dtypes
                       if d.is_floating_point and d is not D.float64})


_INT_LO, _INT_HI = -(1 << 63), (1 << 64) - 1


def check_int(value, opname=""):
    """Return ``value``, or raise ValueOverflowError for a Python int no 64-bit integer holds, which PyTorch
    refuses wherever it takes a number ("int too big to convert"), whatever the dtype."""
    if value.__class__ is _int and not _INT_LO <= value <= _INT_HI:
        shown = repr(value) if value.bit_length() < 128 else f"an int of {value.bit_length()} bits"
        raise ValueOverflowError(f"{opname + '(): ' if opname else ''}int too big to convert: {shown} is outside "
                                 f"[-2**63, 2**64 - 1], the integers a number argument can hold; pass a float "
                                 f"(where the value fits one) or a tensor")
    return value


def check_scalar(value, dtype, opname=""):
    """Return ``value`` (a Python or numpy number) unchanged, or raise ValueOverflowError where PyTorch's
    checked conversion to ``dtype`` refuses it: out of range, or NaN/inf into an integer type."""
    check_int(value, opname)
    lim = _SCALAR_LIMITS.get(dtype)
    if lim is None or value.__class__ is bool or value.__class__ is _np_bool:
        return value
    lo, hi = lim
    if isinstance(value, _int) or hasattr(value, "__index__"):
        v = value.__index__()
        if dtype.is_floating_point:
            bad = v < lo or v > hi
        else:
            bad = v > hi or (v < lo and (dtype.is_signed or v < -hi))
    else:
        v = float(value)
        if dtype.is_floating_point:
            bad = (v < lo or v > hi) and v - v == 0.0  # inf and NaN are kept; finite values must fit
        else:
            bad = not (lo <= v <= float(hi))  # in doubles, as PyTorch; NaN fails every comparison
    if bad:
        raise ValueOverflowError(f"{opname}(): value cannot be converted to type {dtype.name} without "
                                 f"overflow: {value!r} (the {dtype.name} range is [{lo}, {hi}]); use a wider dtype")
    return value


def check_opmath_scalars(opname, dtype, *values):
    """check_scalar for the Scalar arguments (alpha, beta, value) of an operator computing in ``dtype``:
    PyTorch converts them to the type it computes in, float32 for float16/bfloat16."""
    dt = D.float32 if dtype is D.float16 or dtype is D.bfloat16 else dtype
    for v in values:
        check_scalar(v, dt, opname)


_bcast_cache: dict = {}


def broadcast_shapes(*shapes) -> tuple:
    """NumPy/PyTorch broadcasting of shapes; ShapeError names both shapes and the dim."""
    key = shapes
    r = _bcast_cache.get(key)
    if r is not None:
        return r
    ndim = max(len(s) for s in shapes)
    out = [1] * ndim
    for s in shapes:
        off = ndim - len(s)
        for i, n in enumerate(s):
            j = off + i
            if n == out[j] or n == 1:
                continue
            if out[j] == 1:
                out[j] = n
            else:
                raise ShapeError(
                    f"shapes {' and '.join(str(tuple(x)) for x in shapes)} cannot be broadcast together: "
                    f"dimension {j - ndim} is {out[j]} in one and {n} in another (sizes must match or be 1)")
    r = tuple(out)
    if len(_bcast_cache) < 4096:
        _bcast_cache[key] = r
    return r


def broadcast_strides(shape, strides, out_shape) -> tuple:
    """Strides that read a tensor of ``shape`` as ``out_shape`` (0 along broadcast dims)."""
    off = len(out_shape) - len(shape)
    res = [0] * len(out_shape)
    for i, (n, s) in enumerate(zip(shape, strides)):
        res[off + i] = s if n == out_shape[off + i] else 0
    return tuple(res)


def numel(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def check_dtypes(opname: str, dtype, allowed, what="input") -> None:
    if dtype not in allowed:
        raise DTypeError(
            f"{opname}() does not support dtype {dtype.name} for {what}; "
            f"supported: {', '.join(d.name for d in allowed)}")


def dtype_arg(dtype, opname=""):
    if dtype is None or isinstance(dtype, D.DType):
        return dtype
    if isinstance(dtype, str):
        return D.dtype_from_name(dtype)
    try:
        return D.from_numpy_dtype(dtype)
    except TypeError:
        raise DTypeError(f"{opname}(): dtype must be an ember dtype such as ember.float32, got {dtype!r}") from None
