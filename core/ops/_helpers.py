"""Shared meta-function helpers: dims, shapes, broadcasting, output specs."""

from __future__ import annotations

from .. import dtypes as D
from ..errors import DTypeError, IndexOutOfRangeError, ShapeError

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
            raise TypeError(f"{opname}(): dim must be an integer, got {type(dim).__name__}: {dim!r}") from None
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
        raise ValueError(f"{opname}(): dim {tuple(dims)} names a dimension more than once")
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
            raise TypeError(f"{opname}(): a shape is a sequence of ints, got {type(s).__name__}: {s!r}") from None
        out.append(s)
    return tuple(out)


def check_size(shape, opname=""):
    for s in shape:
        if s < 0:
            raise ShapeError(f"{opname}(): negative dimension {s} in shape {tuple(shape)}")
    return shape


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
