"""Tensor methods and Python operators, bound from the operator registry.

Every operator whose first argument is ``Tensor self`` becomes a method of the
same name, so an operator added in core is a method at once.
"""

from __future__ import annotations

from . import dtypes as D
from ._tensor import Tensor
from .device import Device, resolve
from .dispatch import registry
from .ops import creation as C
from .ops import elementwise as E
from .ops._helpers import as_shape, dtype_arg
from .errors import ArgumentTypeError, InvalidArgumentError, UnsupportedError

_NOT_METHODS = {"empty", "full", "arange", "linspace", "eye", "slice"}


def bind_methods() -> None:
    for name, op in registry.items():
        args = op.schema.arguments
        if name.startswith("_") or name in _NOT_METHODS or not args or args[0].name != "self":
            continue
        if name not in Tensor.__dict__:
            setattr(Tensor, name, op.fn)


def _to(self, *args, dtype=None, device=None, non_blocking=False, copy=False):
    for a in args:
        if isinstance(a, D.DType):
            dtype = a
        elif isinstance(a, (str, Device)):
            device = a
        elif isinstance(a, Tensor):
            dtype, device = a._dtype, a._device
        elif isinstance(a, bool):
            non_blocking = a
        else:
            raise ArgumentTypeError(f"to() received an invalid argument {a!r}; expected a device, a dtype or a tensor")
    dtype = dtype_arg(dtype, "to")
    if device is not None:
        device = resolve(device)[1]
    same_dtype = dtype is None or dtype is self._dtype
    same_device = device is None or device is self._device
    if same_dtype and same_device and not copy:
        return self
    return C._to_copy_fn(self, dtype=dtype, device=device, non_blocking=non_blocking)


def _cpu(self):
    return _to(self, "cpu")


#: PyTorch's legacy tensor-type names (``x.type('torch.FloatTensor')``) and their dtypes.
_TYPE_NAMES = {"Float": D.float32, "Double": D.float64, "Half": D.float16, "BFloat16": D.bfloat16,
               "Long": D.int64, "Int": D.int32, "Short": D.int16, "Char": D.int8, "Byte": D.uint8, "Bool": D.bool}


def _type(self, dtype=None, non_blocking=False, **kwargs):
    """x.type() -> the type name ('torch.FloatTensor'); x.type(dtype or name) -> x converted to it."""
    if dtype is None:
        name = next((k for k, v in _TYPE_NAMES.items() if v is self._dtype), self._dtype.name)
        dev = self._device.type
        return f"torch.{name}Tensor" if dev == "cpu" else f"torch.{dev}.{name}Tensor"
    if isinstance(dtype, str):
        parts = dtype.split(".")
        dt = _TYPE_NAMES.get(parts[-1][:-len("Tensor")]) if parts[-1].endswith("Tensor") else None
        if dt is None or parts[0] not in ("torch", "ember") or len(parts) > 3:
            raise InvalidArgumentError(f"type(): invalid type {dtype!r}; expected a name such as 'torch.FloatTensor' or "
                                       f"'torch.cuda.LongTensor', or a dtype")
        return _to(self, dt, parts[1] if len(parts) == 3 else self._device, non_blocking=non_blocking)
    dt = dtype if isinstance(dtype, D.DType) else getattr(dtype, "dtype", None)
    if not isinstance(dt, D.DType):
        raise ArgumentTypeError(f"type(): expected a dtype or a type name such as 'torch.FloatTensor', got {dtype!r}")
    return _to(self, dt, non_blocking=non_blocking)


def _type_as(self, other):
    return _to(self, other._dtype)


def _new_tensor(self, data, dtype=None, device=None):
    from ._factory import tensor
    return tensor(data, dtype=dtype or self._dtype, device=device or self._device)


def _shape_method(op):
    def method(self, *shape):
        return op(self, as_shape(shape, op.__name__))
    method.__name__ = op.__name__
    method.__doc__ = op.__doc__
    return method


def _permute_method(self, *dims):
    from .ops.views import permute
    return permute(self, as_shape(dims, "permute"))


def _rsub(self, other):
    return E.sub(other, self)


def _rdiv(self, other):
    return E.true_divide(other, self)


def _rfloordiv(self, other):
    return E.floor_divide(other, self)


def _rmod(self, other):
    return E.remainder(other, self)


def _rpow(self, other):
    return E.pow(other, self)


def _requires_grad_missing(self, flag=True):
    raise UnsupportedError("autograd is not available in this build of Ember")


def install() -> None:
    from .ops import views as V
    bind_methods()
    T = Tensor
    T.to = _to
    T.cpu = _cpu
    T.type = _type
    from . import _tensor_device
    _tensor_device.install()   # cuda()/xpu(), is_cuda/is_xpu/is_mps/is_xla, pin_memory()/is_pinned()
    T.type_as = _type_as
    T.new_tensor = _new_tensor
    T.view = _shape_method(V.view)
    T.reshape = _shape_method(V.reshape)
    T.expand = _shape_method(V.expand)
    T.permute = _permute_method
    T.view_as = lambda self, other: V.view(self, other._shape)
    T.reshape_as = lambda self, other: V.reshape(self, other._shape)
    T.expand_as = lambda self, other: V.expand(self, other._shape)
    T.swapaxes = T.swapdims = V.transpose
    T.T = property(lambda self: V.permute(self, tuple(range(self.ndim - 1, -1, -1))))
    T.mT = property(lambda self: V.transpose(self, -2, -1))
    T.new_empty = lambda self, *size, dtype=None, device=None: C.empty(
        as_shape(size, "new_empty"), dtype=dtype or self._dtype, device=device or self._device)
    T.new_zeros = lambda self, *size, dtype=None, device=None: C.full(
        as_shape(size, "new_zeros"), 0, dtype=dtype or self._dtype, device=device or self._device)
    T.new_ones = lambda self, *size, dtype=None, device=None: C.full(
        as_shape(size, "new_ones"), 1, dtype=dtype or self._dtype, device=device or self._device)
    T.new_full = lambda self, size, fill_value, dtype=None, device=None: C.full(
        as_shape((size,), "new_full"), fill_value, dtype=dtype or self._dtype, device=device or self._device)
    T.zero_ = lambda self: C.fill_(self, 0)
    T.float = lambda self: _to(self, D.float32)
    T.double = lambda self: _to(self, D.float64)
    T.half = lambda self: _to(self, D.float16)
    T.bfloat16 = lambda self: _to(self, D.bfloat16)
    T.int = lambda self: _to(self, D.int32)
    T.long = lambda self: _to(self, D.int64)
    T.bool = lambda self: _to(self, D.bool)
    T.short = lambda self: _to(self, D.int16)
    T.byte = lambda self: _to(self, D.uint8)
    T.char = lambda self: _to(self, D.int8)
    T.div = E.div
    T.div_ = lambda self, other, rounding_mode=None: self.copy_(E.div(self, other, rounding_mode=rounding_mode))
    T.divide = E.div
    T.multiply = E.mul
    T.subtract = E.sub
    T.true_divide = E.true_divide
    T.clip = E.clamp
    T.__add__ = T.__radd__ = E.add
    T.__iadd__ = E.add_
    T.__sub__ = E.sub
    T.__rsub__ = _rsub
    T.__isub__ = E.sub_
    T.__mul__ = T.__rmul__ = E.mul
    T.__imul__ = E.mul_
    T.__truediv__ = E.true_divide
    T.__rtruediv__ = _rdiv
    T.__itruediv__ = E.true_divide_
    T.__floordiv__ = E.floor_divide
    T.__rfloordiv__ = _rfloordiv
    T.__ifloordiv__ = E.floor_divide_
    T.__mod__ = E.remainder
    T.__rmod__ = _rmod
    T.__imod__ = E.remainder_
    T.__pow__ = E.pow
    T.__rpow__ = _rpow
    T.__ipow__ = E.pow_
    T.__neg__ = E.neg
    T.__pos__ = lambda self: self
    T.__abs__ = E.abs
    T.__invert__ = E.bitwise_not
    T.__and__ = T.__rand__ = E.bitwise_and
    T.__or__ = T.__ror__ = E.bitwise_or
    T.__xor__ = T.__rxor__ = E.bitwise_xor
    T.__iand__ = E.bitwise_and_
    T.__ior__ = E.bitwise_or_
    T.__ixor__ = E.bitwise_xor_
    T.__lshift__ = E.bitwise_left_shift
    T.__rshift__ = E.bitwise_right_shift
    T.__eq__ = E.eq
    T.__ne__ = E.ne
    T.__lt__ = E.lt
    T.__le__ = E.le
    T.__gt__ = E.gt
    T.__ge__ = E.ge
    T.__hash__ = object.__hash__
    # Families may add methods that need Python-level argument handling
    # (varargs such as x.repeat(2, 3)): a module-level METHODS dict.
    from . import ops
    for fam in ops.FAMILIES:
        for name, fn in getattr(fam, "METHODS", {}).items():
            setattr(T, name, fn)
