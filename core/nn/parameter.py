"""Parameter: a tensor that a Module registers as learnable.

A Parameter is an ordinary Tensor object marked as a parameter (``isinstance(t,
Parameter)`` reads the mark), not a subclass: kernels and the dispatcher keep
their exact-type fast paths, and a parameter costs nothing extra in a step.
"""

from __future__ import annotations

from .._tensor import Tensor
from ..dispatch.keys import BACKEND_MASK as _BM
from ..errors import ArgumentTypeError

_FIELDS = ("_storage", "_offset", "_shape", "_strides", "_dtype", "_device", "_backend", "_keys", "_h", "_base")


def _adopt(dst: Tensor, src: Tensor) -> None:
    """Make ``dst`` view what ``src`` views (same storage and geometry), keeping dst's identity.

    dst keeps its own functionality key bits (requires-grad), taking src's backend bit."""
    old = getattr(dst, "_keys", None)
    for f in _FIELDS:
        object.__setattr__(dst, f, getattr(src, f))
    if old is not None:
        dst._keys = (src._keys & _BM) | (old & ~_BM)


def _set_requires_grad(t, flag):
    fn = getattr(type(t), "requires_grad_", None)
    try:
        if fn is not None:
            fn(t, flag)
    except NotImplementedError:  # a core without autograd: parameters are plain tensors
        pass


def _fresh_view(data: Tensor) -> Tensor:
    detach = getattr(data, "detach", None)
    src = detach() if detach is not None else data
    t = object.__new__(Tensor)
    _adopt(t, src)
    return t


class _Marked(type):
    """isinstance(t, Parameter) is true for tensors that carry the class's mark."""

    def __instancecheck__(cls, obj):
        return isinstance(obj, Tensor) and cls._mark in getattr(obj, "__dict__", ())


class Parameter(metaclass=_Marked):
    """A module's learnable weight: ``Parameter(ember.randn(3, 4))`` shares the data's storage (no copy)
    and requires grad unless told otherwise."""

    _mark = "_is_param"

    def __new__(cls, data=None, requires_grad=True):
        if data is None:
            from ..ops.creation import empty
            data = empty((0,))
        if not isinstance(data, Tensor):
            raise ArgumentTypeError(f"Parameter() expects a Tensor, got {type(data).__name__}; wrap data with "
                                    f"ember.tensor(...) first")
        p = _fresh_view(data)
        p.__dict__["_is_param"] = True
        _set_requires_grad(p, requires_grad)
        return p


class Buffer(metaclass=_Marked):
    """Marks a tensor to be registered as a buffer when assigned to a Module attribute."""

    _mark = "_buffer_persistent"

    def __new__(cls, data, persistent=True):
        if not isinstance(data, Tensor):
            raise ArgumentTypeError(f"Buffer() expects a Tensor, got {type(data).__name__}")
        b = _fresh_view(data)
        b.__dict__["_buffer_persistent"] = persistent
        return b
