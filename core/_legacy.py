"""PyTorch's legacy constructors and the habits old code keeps: ``ember.Tensor(2, 3)``,
``ember.FloatTensor([1, 2])``, ``x.type(ember.LongTensor)``, ``p.data = other``, ``f"{loss:.3f}"``.

``Tensor(...)`` goes through ``__new__`` only; backends and views keep building tensors with
``object.__new__``, so the hot path pays nothing for it.
"""

from __future__ import annotations

import numbers

from . import dtypes as D
from ._tensor import Size, Tensor
from .errors import ArgumentTypeError, InvalidArgumentError

__all__ = ["FloatTensor", "DoubleTensor", "HalfTensor", "BFloat16Tensor", "LongTensor", "IntTensor",
           "ShortTensor", "CharTensor", "ByteTensor", "BoolTensor"]

_INT_TYPES = (numbers.Integral,)


def _legacy_new(name, dtype, args, kwargs):
    """What ``ember.Tensor(*args)`` or ``ember.<Type>Tensor(*args)`` makes (``dtype`` None: the default dtype).

    No argument: an empty 1-d tensor; ints or an ``ember.Size``: an uninitialized tensor of that shape;
    one sequence: its values; one tensor: an alias of it (typed constructors insist on their dtype)."""
    from ._factory import tensor as _tensor
    from .ops.creation import empty_

    device = kwargs.pop("device", None)
    if kwargs:
        raise ArgumentTypeError(f"{name}(): unexpected keyword argument(s) {', '.join(map(repr, kwargs))}; the legacy "
                                f"constructor takes only device=; use ember.tensor(data, dtype=...) or "
                                f"ember.empty(size, dtype=...) for the rest")
    dt = D.get_default_dtype() if dtype is None else dtype
    if not args:
        return empty_((0,), dtype=dt, device=device)
    if len(args) == 1 and isinstance(args[0], Tensor):
        src = args[0]
        if dtype is not None and src._dtype is not dtype:
            raise ArgumentTypeError(f"{name}(): expected a tensor of dtype {dtype.name}, got {src._dtype.name}; convert "
                                    f"it with .to(ember.{dtype.name}) or .type(ember.{name})")
        if device is not None and src._device != _device(device):
            raise InvalidArgumentError(f"{name}(): the tensor is on {src._device}, not on the requested {device}; "
                                       f"move it with .to(...) first")
        return src.view_as(src)
    if len(args) == 1 and isinstance(args[0], Size):
        args = tuple(args[0])
    if all(isinstance(a, _INT_TYPES) and not isinstance(a, bool) for a in args):
        return empty_(tuple(args), dtype=dt, device=device)
    if len(args) == 1:
        data = args[0]
        if isinstance(data, (str, bytes)):
            raise ArgumentTypeError(f"{name}(): invalid data type {type(data).__name__!r}; pass sizes or a sequence of "
                                    f"numbers")
        if not hasattr(data, "__len__") and not hasattr(data, "__array__"):
            raise ArgumentTypeError(f"{name}(): data must be a sequence (got {type(data).__name__}); for one value use "
                                    f"ember.tensor({data!r})")
        return _tensor(data, dtype=dt, device=device)
    bad = next(a for a in args if not isinstance(a, _INT_TYPES) or isinstance(a, bool))
    raise ArgumentTypeError(f"{name}(): sizes must be ints, got {type(bad).__name__} {bad!r} in {args!r}; pass data as "
                            f"one sequence, e.g. {name}([...])")


def _device(d):
    from .device import resolve
    return resolve(d)[1]


def _tensor_new(cls, *args, **kwargs):
    return _legacy_new("Tensor", None, args, kwargs)


def _tensor_init(self, *args, **kwargs):
    """Everything happens in __new__."""


class _TensorType(type):
    """The type of ``ember.FloatTensor`` and friends: calling one builds a cpu tensor of its dtype (or on
    ``device=``), and ``isinstance(t, ember.FloatTensor)`` holds for cpu float32 tensors, as in PyTorch."""

    def __call__(cls, *args, **kwargs):
        return _legacy_new(cls.__name__, cls.dtype, args, kwargs)

    def __instancecheck__(cls, obj):
        return isinstance(obj, Tensor) and obj._dtype is cls.dtype and obj._device.type == "cpu"

    def __repr__(cls):
        return f"<class 'ember.{cls.__name__}'>"


def _legacy_type(name, dtype):
    return _TensorType(name, (), {"dtype": dtype, "is_sparse": False, "__module__": "ember",
                                  "__doc__": f"The legacy cpu {dtype.name} tensor type: {name}(*sizes) or "
                                             f"{name}(data)."})


FloatTensor = _legacy_type("FloatTensor", D.float32)
DoubleTensor = _legacy_type("DoubleTensor", D.float64)
HalfTensor = _legacy_type("HalfTensor", D.float16)
BFloat16Tensor = _legacy_type("BFloat16Tensor", D.bfloat16)
LongTensor = _legacy_type("LongTensor", D.int64)
IntTensor = _legacy_type("IntTensor", D.int32)
ShortTensor = _legacy_type("ShortTensor", D.int16)
CharTensor = _legacy_type("CharTensor", D.int8)
ByteTensor = _legacy_type("ByteTensor", D.uint8)
BoolTensor = _legacy_type("BoolTensor", D.bool)


def _format(self, spec):
    """format(t, spec): a 0-d tensor formats as its Python number (``f"{loss:.3f}"``); others as repr,
    and only with an empty spec, as in PyTorch."""
    if not self._shape and self._device.type != "meta":
        return self.detach().item().__format__(spec)
    return object.__format__(self, spec)


def _set_data(self, value):
    """``t.data = other``: t now views other's storage, shape, dtype and device, keeping its identity
    (and its requires_grad), as PyTorch's; the autograd history of ``other`` is not taken."""
    if not isinstance(value, Tensor):
        raise ArgumentTypeError(f"Tensor.data has to be set to a tensor, but got {type(value).__name__}")
    from .dispatch.keys import BACKEND_MASK
    self._storage, self._offset = value._storage, value._offset
    self._shape, self._strides = value._shape, value._strides
    self._dtype, self._device, self._backend, self._h = value._dtype, value._device, value._backend, value._h
    self._keys = (value._keys & BACKEND_MASK) | (self._keys & ~BACKEND_MASK)
    self._base = value._base if value._base is not None else value


def _new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False):
    """A tensor of ``size`` filled with ``fill_value``, with this tensor's dtype and device unless given."""
    from .ops._helpers import as_shape
    from .ops.creation import full
    t = full(as_shape((size,), "new_full"), fill_value, dtype=dtype or self._dtype, device=device or self._device)
    return t.requires_grad_() if requires_grad else t


def _new_filled(name, fill_value):
    def method(self, *size, dtype=None, device=None, requires_grad=False):
        from .ops._helpers import as_shape
        from .ops.creation import empty_, full
        shape = as_shape(size, name)
        dt, dev = dtype or self._dtype, device or self._device
        t = empty_(shape, dtype=dt, device=dev) if fill_value is None else full(shape, fill_value, dtype=dt,
                                                                                  device=dev)
        return t.requires_grad_() if requires_grad else t
    method.__name__ = name
    method.__doc__ = f"Tensor.{name}(*size): a new tensor with this tensor's dtype and device unless given."
    return method


def install() -> None:
    """Give Tensor its legacy constructor, format, .data setter and the legacy type names in x.type()."""
    from . import _tensor_methods as M
    T = Tensor
    T.__new__ = staticmethod(_tensor_new)
    T.__init__ = _tensor_init
    T.__format__ = _format
    getter = T.__dict__["data"].fget if isinstance(T.__dict__.get("data"), property) else (lambda self: self.detach())
    T.data = property(getter, _set_data)
    T.new_full = _new_full
    T.new_empty = _new_filled("new_empty", None)
    T.new_zeros = _new_filled("new_zeros", 0)
    T.new_ones = _new_filled("new_ones", 1)
    plain_type = M._type

    def _type(self, dtype=None, non_blocking=False, **kwargs):
        if isinstance(dtype, _TensorType):
            return M._to(self, dtype.dtype, "cpu", non_blocking=non_blocking)
        return plain_type(self, dtype, non_blocking, **kwargs)

    _type.__doc__ = plain_type.__doc__
    T.type = _type


def _keep(t, location):
    return t


def split_map_location(map_location):
    """ember.load's ``map_location`` as PyTorch takes it -> (device to load onto, remap(tensor, location)).

    A device or device string is the target; a dict maps saved locations to targets; a callable gets
    each tensor on the cpu with its saved location and returns the tensor to use (None: keep it).
    Ember's files do not record where a tensor lived, so the saved location is always ``"cpu"``."""
    from .device import Device
    if map_location is None or isinstance(map_location, (str, Device)):
        return map_location, _keep
    if isinstance(map_location, dict):
        return map_location.get("cpu"), _keep
    if callable(map_location):
        def remap(t, location):
            out = map_location(t, location)
            if out is None:
                return t
            if not isinstance(out, Tensor):
                raise ArgumentTypeError(f"ember.load(): map_location returned {type(out).__name__}; it must return a "
                                        f"tensor (or None to keep the one it was given)")
            return out
        return "cpu", remap
    raise ArgumentTypeError(f"ember.load(): map_location must be a device, a device string, a dict or a callable, "
                            f"got {type(map_location).__name__}")
