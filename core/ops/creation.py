"""Allocation, filling, copying and the factory functions (empty, zeros, arange, eye, ...)."""

from __future__ import annotations

import math

from .. import dtypes as D
from .._tensor import Tensor
from ..device import resolve
from ..dispatch import defop
from ..errors import DTypeError, ShapeError, SizeError
from ._helpers import Spec, as_shape, broadcast_shapes, check_scalar, check_size, dtype_arg
from ..errors import ArgumentTypeError, InvalidArgumentError


def _empty_meta(size, dtype=None, device=None):
    dt = dtype_arg(dtype, "empty") or D.get_default_dtype()
    return Spec(check_size(as_shape(size, "empty"), "empty", dt), dt)


def _empty(size, dtype=None, device=None):
    spec = _empty_meta(size, dtype, device)
    backend, dev = resolve(device)
    if spec.dtype.is_complex:
        from .complex import check_backend_dtype
        check_backend_dtype(backend, spec.dtype, "empty")
    return backend.runtime.empty(spec.shape, spec.dtype, dev)


empty = defop("empty(int[] size, *, ScalarType? dtype=None, Device? device=None) -> Tensor",
              meta=_empty_meta, decomposition=_empty, family="creation",
              doc="Uninitialized memory from the backend's runtime (runtime.empty).")


def _fill_meta(x, value):
    if isinstance(value, Tensor) and value.numel() != 1:
        raise ShapeError(f"fill_(): the value must be a number or a 1-element tensor, got shape {tuple(value._shape)}")
    return Spec(x._shape, x._dtype)


def _fill_adapter(op, kernel, backend):
    from .elementwise import _scalar_as

    def entry(x, value):
        if isinstance(value, Tensor):  # a tensor's value wraps, as PyTorch's does
            _fill_meta(x, value)
            value = value.item()
        else:
            check_scalar(value, x._dtype, "fill_")
        return kernel(x, _scalar_as(value, x._dtype))
    return entry


fill_ = defop("fill_(Tensor self, Scalar value) -> Tensor", meta=_fill_meta, prim=True, family="creation",
              adapter=_fill_adapter, doc="kernel(self, value): write one value into every element of self.")


def _copy_meta(dst, src, non_blocking=False):
    if broadcast_shapes(src._shape, dst._shape) != dst._shape:
        raise ShapeError(f"copy_(): source of shape {tuple(src._shape)} cannot be broadcast to the "
                         f"destination's shape {tuple(dst._shape)}")
    return Spec(dst._shape, dst._dtype)


def _copy_adapter(op, kernel, backend):
    from ._helpers import broadcast_strides
    from ..runtime.copies import cross_device_copy

    def entry(dst, src, non_blocking=False):
        if not isinstance(src, Tensor):
            raise ArgumentTypeError(f"copy_(): src must be a tensor, got {type(src).__name__}")
        if src._shape != dst._shape:
            _copy_meta(dst, src)
            src = src._view(dst._shape, broadcast_strides(src._shape, src._strides, dst._shape))
        if src._device is not dst._device:
            # Across devices: stream-ordered when the backends can (ember.runtime.copies), else via host memory.
            return cross_device_copy(kernel, dst, src, non_blocking)
        if dst._dtype in _NARROW_INT and src._dtype.is_floating_point:
            src = entry(empty(src._shape, dtype=D.int32, device=src._device), src)
        return kernel(dst, src)
    return entry


#: Float -> integer casts narrower than 32 bits go through int32 first, as PyTorch's do: truncate
#: toward zero, then wrap to the width (-36.0 -> uint8 gives 220, 300.5 -> int8 gives 44), the same on
#: every backend instead of whatever one C library's direct cast does. Values whose truncation does
#: not fit int32 (and NaN, inf) have no defined result, as in PyTorch.
_NARROW_INT = (D.uint8, D.int8, D.int16)


_COPY_DOC = (
    "Copy src into self, converting the dtype; src broadcasts to self's shape.\n"
    "Kernel: kernel(dst, src) -> dst\n"
    "Operands: dst and src are tensors of one shape on one device (core has broadcast src, possibly to "
    "stride-0 views, and handled copies across devices); either may be a non-contiguous or overlapping view; "
    "the dtypes may differ.\n"
    "Out: dst is written in place and returned; nothing is allocated.\n"
    "Result: dst's dtype. A cast rounds floats to nearest even, converts bool to 0/1 and a number to bool as "
    "x != 0 (NaN is true), and converts a float to an integer of 32 or 64 bits by truncation toward zero.\n"
    "Edges: float -> int8/uint8/int16 never reaches the kernel directly: core converts to int32 first, then "
    "the kernel wraps int32 to the narrow width (two's complement), as PyTorch; a float whose truncation does "
    "not fit the integer type (NaN, inf) has no defined result. Integer -> narrower integer wraps.")


copy_ = defop("copy_(Tensor self, Tensor src, bool non_blocking=False) -> Tensor", meta=_copy_meta, prim=True,
              family="copy", adapter=_copy_adapter, tags=("cross_device",),
              doc=_COPY_DOC)


def _to_copy_meta(x, dtype=None, device=None, non_blocking=False):
    return Spec(x._shape, dtype_arg(dtype, "to") or x._dtype)


def _to_copy(x, dtype=None, device=None, non_blocking=False):
    spec = _to_copy_meta(x, dtype, device)
    out = empty(spec.shape, dtype=spec.dtype, device=x._device if device is None else device)
    return copy_(out, x, non_blocking)


_to_copy_fn = defop("_to_copy(Tensor self, *, ScalarType? dtype=None, Device? device=None, "
                    "bool non_blocking=False) -> Tensor", meta=_to_copy_meta, decomposition=_to_copy,
                    family="copy", tags=("cross_device",))


def _clone_meta(x):
    return Spec(x._shape, x._dtype)


def _clone(x):
    return copy_(empty(x._shape, dtype=x._dtype, device=x._device), x)


clone = defop("clone(Tensor self) -> Tensor", meta=_clone_meta, decomposition=_clone, family="copy")


def _contiguous(x):
    return x if x.is_contiguous() else clone(x)


contiguous = defop("contiguous(Tensor self) -> Tensor", meta=_clone_meta, decomposition=_contiguous,
                   family="copy")


def _arange_meta(start, end, step=1, dtype=None, device=None):
    for name, v in (("start", start), ("end", end), ("step", step)):
        if isinstance(v, Tensor):
            v = v.item()
        if isinstance(v, float) and not math.isfinite(v):
            raise InvalidArgumentError(f"arange(): {name} must be finite, got {v}")
    dt = dtype_arg(dtype, "arange")
    if dt is None:
        dt = D.int64 if all(isinstance(v, int) for v in (start, end, step)) else D.get_default_dtype()
    if dt == D.int64:  # as PyTorch: int64 truncates start, end and step first, then counts
        start, end, step = (int(v.item() if isinstance(v, Tensor) else v) for v in (start, end, step))
    if step == 0:
        raise InvalidArgumentError(f"arange(): step must be nonzero, got {step}; pass a non-zero step "
                                   f"(for int64, |step| >= 1)")
    if (end - start) * step < 0:
        raise InvalidArgumentError(f"arange(): upper bound and larger bound inconsistent with step sign "
                                   f"(start={start}, end={end}, step={step})")
    if all(isinstance(v, int) for v in (start, end, step)):
        n = max(0, -((start - end) // step))
    else:  # other dtypes count on the float values; narrower integers then truncate start and step
        n = max(0, math.ceil((end - start) / step))
    return Spec((n,), dt)


def _arange_adapter(op, kernel, backend):
    def entry(start, end, step=1, dtype=None, device=None):
        spec = _arange_meta(start, end, step, dtype, device)
        if not spec.dtype.is_floating_point:
            start, step = (int(v.item() if isinstance(v, Tensor) else v) for v in (start, step))
            if step == 0 and spec.shape[0]:  # a sub-unit step truncated to 0 repeats start, as PyTorch
                one = kernel(start, 1, 1, spec.dtype, resolve(device)[1])
                return one.expand(spec.shape[0]).contiguous()
        return kernel(start, step, spec.shape[0], spec.dtype, resolve(device)[1])
    return entry


arange_ = defop("arange(Scalar start, Scalar end, Scalar step=1, *, ScalarType? dtype=None, "
                "Device? device=None) -> Tensor", meta=_arange_meta, prim=True, family="creation",
                adapter=_arange_adapter,
                doc="Values from start, step apart, up to (not including) end.\n"
                    "Kernel: kernel(start, step, n, dtype, device) -> Tensor\n"
                    "Operands: start and step are Python numbers (finite; step non-zero), n >= 0 is the length "
                    "core computed, dtype an ember dtype and device the ember.device to allocate on.\n"
                    "Out: none; the kernel allocates and returns a new contiguous 1-D tensor of n elements.\n"
                    "Result: dtype. Element i is start + i*step, computed in float64 for floating dtypes "
                    "and in int64 for integers, then converted to dtype.\n"
                    "Edges: n == 0 gives an empty tensor; integer results wrap to dtype's width.")


def arange(start, end=None, step=1, *, dtype=None, device=None):
    if end is None:
        start, end = 0, start
    return arange_(start, end, step, dtype=dtype, device=device)


arange.__doc__ = "arange(start=0, end, step=1, *, dtype=None, device=None): like torch.arange.\n\n" + arange_.__doc__


def _full_meta(size, fill_value, dtype=None, device=None):
    dt = dtype_arg(dtype, "full") or D.scalar_dtype(fill_value)
    return Spec(check_size(as_shape(size, "full"), "full", dt), dt)


def _full(size, fill_value, dtype=None, device=None):
    spec = _full_meta(size, fill_value, dtype, device)
    if not isinstance(fill_value, Tensor):
        check_scalar(fill_value, spec.dtype, "full")
    return fill_(empty(spec.shape, dtype=spec.dtype, device=device), fill_value)


full = defop("full(int[] size, Scalar fill_value, *, ScalarType? dtype=None, Device? device=None) -> Tensor",
             meta=_full_meta, decomposition=_full, family="creation")


def _linspace_meta(start, end, steps, dtype=None, device=None):
    if steps < 0:
        raise InvalidArgumentError(f"linspace(): number of steps must be non-negative, got {steps}")
    dt = dtype_arg(dtype, "linspace") or D.get_default_dtype()
    return Spec((steps,), dt)


def _linspace(start, end, steps, dtype=None, device=None):
    spec = _linspace_meta(start, end, steps, dtype, device)
    if steps == 1:
        return full((1,), start, dtype=spec.dtype, device=device)
    step = (end - start) / max(steps - 1, 1)
    i = arange_(0, steps, 1, dtype=D.float64, device=device)
    # Fill from both ends, as PyTorch does, so that the last value is exactly ``end``.
    from .elementwise import add, lt, mul, sub, where
    lo = add(mul(i, step), start)
    hi = sub(end, mul(sub(steps - 1, i), step))
    return where(lt(i, steps // 2), lo, hi).to(spec.dtype)


linspace = defop("linspace(Scalar start, Scalar end, int steps, *, ScalarType? dtype=None, "
                 "Device? device=None) -> Tensor", meta=_linspace_meta, decomposition=_linspace,
                 family="creation")


def _eye_meta(n, m=None, dtype=None, device=None):
    m = n if m is None else m
    if n < 0 or m < 0:
        raise SizeError(f"eye(): n and m must be non-negative, got n={n}, m={m}")
    dt = dtype_arg(dtype, "eye") or D.get_default_dtype()
    return Spec(check_size((n, m), "eye", dt), dt)


def _eye(n, m=None, dtype=None, device=None):
    spec = _eye_meta(n, m, dtype, device)
    out = fill_(empty(spec.shape, dtype=spec.dtype, device=device), 0)
    fill_(out.diagonal(), 1)
    return out


eye = defop("eye(int n, int? m=None, *, ScalarType? dtype=None, Device? device=None) -> Tensor",
            meta=_eye_meta, decomposition=_eye, family="creation")


# PyTorch's factory keywords (requires_grad, layout, pin_memory) are added once, for every public factory,
# by ember._factory.with_factory_keywords.

def zeros(*size, dtype=None, device=None):
    return full(as_shape(size, "zeros"), 0, dtype=dtype or D.get_default_dtype(), device=device)


def ones(*size, dtype=None, device=None):
    return full(as_shape(size, "ones"), 1, dtype=dtype or D.get_default_dtype(), device=device)


def empty_(*size, dtype=None, device=None):
    return empty(as_shape(size, "empty"), dtype=dtype, device=device)


def empty_like(x, *, dtype=None, device=None):
    return empty(x._shape, dtype=dtype or x._dtype, device=device or x._device)


def zeros_like(x, *, dtype=None, device=None):
    return full(x._shape, 0, dtype=dtype or x._dtype, device=device or x._device)


def ones_like(x, *, dtype=None, device=None):
    return full(x._shape, 1, dtype=dtype or x._dtype, device=device or x._device)


def full_like(x, fill_value, *, dtype=None, device=None):
    return full(x._shape, fill_value, dtype=dtype or x._dtype, device=device or x._device)
