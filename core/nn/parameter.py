"""Parameter: a tensor that a Module registers as learnable."""

from __future__ import annotations

from .._tensor import Tensor
from ..dispatch.keys import BACKEND_MASK as _BM

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


class Parameter(Tensor):
    """A tensor that is a module's learnable weight: ``Parameter(ember.randn(3, 4))``.

    It shares the data's storage (no copy) and requires grad unless told otherwise.
    """

    def __new__(cls, data=None, requires_grad=True):
        if data is None:
            from ..ops.creation import empty
            data = empty((0,))
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter() expects a Tensor, got {type(data).__name__}; wrap data with "
                            f"ember.tensor(...) first")
        detach = getattr(data, "detach", None)
        src = detach() if detach is not None else data
        p = object.__new__(cls)
        _adopt(p, src)
        _set_requires_grad(p, requires_grad)
        return p

    def __init__(self, data=None, requires_grad=True):
        pass

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, protocol):
        raise TypeError("Ember parameters are not pickled; save a state dict with ember.save (safetensors)")


class Buffer(Tensor):
    """Marks a tensor to be registered as a buffer when assigned to a Module attribute."""

    def __new__(cls, data, persistent=True):
        b = object.__new__(cls)
        _adopt(b, data)
        b.persistent = persistent
        return b

    def __init__(self, data, persistent=True):
        pass
