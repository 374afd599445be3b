"""Lazy modules: parameters whose shape is learnt from the first input (nn.LazyLinear).

An uninitialised parameter is an empty Parameter carrying a mark (``isinstance(p, UninitializedParameter)``);
``materialize(shape)`` gives it storage in place, so the module's references to it stay valid. The first
call fills in the shapes, runs ``reset_parameters()`` and turns the module into its ordinary class
(LazyLinear becomes Linear), as PyTorch's LazyModuleMixin does. Loading a state dict into a lazy module
takes the shapes from the state dict.
"""

from __future__ import annotations

from ...ops.creation import empty
from ..module import Module, _no_grad
from ..parameter import Parameter, _Marked, _adopt
from .linear import Linear
from ...errors import InvalidArgumentError, UnsupportedError

__all__ = ["UninitializedParameter", "LazyModuleMixin", "LazyLinear"]


class UninitializedParameter(metaclass=_Marked):
    """A parameter without shape or data yet; ``p.materialize(shape)`` allocates it (on the device and dtype
    it was made for) and makes it an ordinary Parameter."""

    _mark = "_uninitialized"

    def __new__(cls, requires_grad=True, device=None, dtype=None):
        p = Parameter(empty((0,), device=device, dtype=dtype), requires_grad)
        p.__dict__["_uninitialized"] = (device, dtype)
        return p


def materialize(p, shape, device=None, dtype=None):
    """Give the uninitialised parameter ``p`` storage of ``shape`` (uninitialised values), in place."""
    made_device, made_dtype = p.__dict__.pop("_uninitialized")
    device = device if device is not None else (made_device if made_device is not None else p.device)
    dtype = dtype if dtype is not None else (made_dtype if made_dtype is not None else p.dtype)
    with _no_grad():
        _adopt(p, empty(tuple(shape), device=device, dtype=dtype))
    return p


def is_lazy(p) -> bool:
    return isinstance(p, UninitializedParameter)


class LazyModuleMixin:
    """Defers ``initialize_parameters(*args)`` to the first call; ``cls_to_become`` is the class the module
    takes afterwards."""

    cls_to_become = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._initialize_hook = self.register_forward_pre_hook(_infer_parameters, with_kwargs=True)

    def has_uninitialized_params(self) -> bool:
        return any(is_lazy(p) for p in self._parameters.values() if p is not None) or any(
            is_lazy(b) for b in self._buffers.values() if b is not None)

    def initialize_parameters(self, *args, **kwargs):
        raise UnsupportedError(f"initialize_parameters is not implemented for {type(self).__name__}")

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        for name, p in list(self._parameters.items()):
            if is_lazy(p) and name in state_dict:
                materialize(p, state_dict[name].shape)
        if not self.has_uninitialized_params():
            self._finish()
        return Module.load_state_dict(self, state_dict, strict, assign)

    def _finish(self):
        self._initialize_hook.remove()
        self.__dict__.pop("_initialize_hook", None)
        if self.cls_to_become is not None:
            self.__class__ = self.cls_to_become


def _infer_parameters(module, args, kwargs):
    with _no_grad():
        module.initialize_parameters(*args, **kwargs)
    if module.has_uninitialized_params():
        raise InvalidArgumentError(f"module {type(module).__name__} has not been fully initialized")
    module._finish()


class LazyLinear(LazyModuleMixin, Linear):
    """A Linear whose ``in_features`` is the last dim of its first input."""

    cls_to_become = Linear

    def __init__(self, out_features: int, bias: bool = True, device=None, dtype=None):
        Module.__init__(self)
        self.in_features, self.out_features = 0, out_features
        self.weight = UninitializedParameter(device=device, dtype=dtype)
        self.bias = UninitializedParameter(device=device, dtype=dtype) if bias else None
        if not bias:
            self.register_parameter("bias", None)
        self._initialize_hook = self.register_forward_pre_hook(_infer_parameters, with_kwargs=True)

    def reset_parameters(self):
        if not self.has_uninitialized_params() and self.in_features != 0:
            super().reset_parameters()

    def initialize_parameters(self, input):
        if self.has_uninitialized_params():
            self.in_features = input.shape[-1]
            materialize(self.weight, (self.out_features, self.in_features))
            if self.bias is not None:
                materialize(self.bias, (self.out_features,))
            self.reset_parameters()
