"""Parametrizations: a module's tensor recomputed on access as f(original), as torch.nn.utils.parametrize.

``register_parametrization(m, "weight", P())`` moves ``m.weight`` to
``m.parametrizations.weight.original`` (``original0``, ``original1``, ... when
P.right_inverse returns several tensors) and swaps the module's class for a
subclass with a ``weight`` property that evaluates the chain of
parametrizations, so state-dict names and behaviour match PyTorch.
"""

from __future__ import annotations

import contextlib

from ..._tensor import Tensor
from ..module import _no_grad
from ..modules.container import ModuleDict, ModuleList
from ..parameter import Parameter, _adopt
from ...errors import InvalidArgumentError

__all__ = ["ParametrizationList", "cached", "is_parametrized", "register_parametrization",
           "remove_parametrizations", "type_before_parametrizations", "transfer_parametrizations_and_params"]

_cache_enabled = 0
_cache: dict = {}


@contextlib.contextmanager
def cached():
    """Within this context each parametrized tensor is computed once (on first access) and reused."""
    global _cache_enabled
    _cache_enabled += 1
    try:
        yield
    finally:
        _cache_enabled -= 1
        if not _cache_enabled:
            _cache.clear()


def _set_tensor(dst, src):
    """dst takes src's data, keeping dst's identity (optimizers hold it): Tensor.set_ in PyTorch."""
    _adopt(dst, src.detach())


def _register_parameter_or_buffer(module, name, x):
    if isinstance(x, Parameter):
        module.register_parameter(name, x)
    else:
        module.register_buffer(name, x)


class ParametrizationList(ModuleList):
    """The chain of parametrizations of one tensor, holding its unparametrized ``original`` tensor(s)."""

    def __init__(self, modules, original, unsafe=False):
        if len(modules) == 0:
            raise InvalidArgumentError("ParametrizationList requires one or more modules")
        super().__init__(modules)
        self.unsafe = unsafe
        original_shape, original_dtype = tuple(original.shape), original.dtype
        with _no_grad():
            new = original
            for module in reversed(self):
                if hasattr(module, "right_inverse"):
                    try:
                        new = module.right_inverse(new)
                    except NotImplementedError:   # as PyTorch: the original is kept as it is
                        pass
        if not isinstance(new, Tensor) and not isinstance(new, (list, tuple)):
            raise InvalidArgumentError(f"'right_inverse' must return a Tensor or a Sequence of tensors (list, tuple...), "
                                       f"got {type(new).__name__}")
        self.is_tensor = isinstance(new, Tensor)
        self.ntensors = 1 if self.is_tensor else len(new)
        if self.is_tensor:
            if original.dtype != new.dtype:
                raise InvalidArgumentError(f"When `right_inverse` outputs one tensor, it may not change the dtype.\n"
                                           f"original.dtype: {original.dtype}\nright_inverse(original).dtype: {new.dtype}")
            with _no_grad():
                _set_tensor(original, new)
            _register_parameter_or_buffer(self, "original", original)
        else:
            for i, originali in enumerate(new):
                if not isinstance(originali, Tensor):
                    raise InvalidArgumentError(f"'right_inverse' must return a Tensor or a Sequence of tensors; element "
                                               f"{i} is a {type(originali).__name__}")
                if isinstance(original, Parameter):
                    originali = Parameter(originali.detach(), original.requires_grad)
                _register_parameter_or_buffer(self, f"original{i}", originali)
        if not self.unsafe:
            z = self()
            if not isinstance(z, Tensor):
                raise InvalidArgumentError(f"A parametrization must return a tensor. Got {type(z).__name__}.")
            if z.dtype != original_dtype:
                raise InvalidArgumentError(f"Registering a parametrization may not change the dtype of the tensor, unless "
                                           f"`unsafe` flag is enabled.\nunparametrized dtype: {original_dtype}\n"
                                           f"parametrized dtype: {z.dtype}")
            if tuple(z.shape) != original_shape:
                raise InvalidArgumentError(f"Registering a parametrization may not change the shape of the tensor, unless "
                                           f"`unsafe` flag is enabled.\nunparametrized shape: {original_shape}\n"
                                           f"parametrized shape: {tuple(z.shape)}")

    def right_inverse(self, value):
        """Set the original tensor(s) so that the parametrized tensor becomes ``value``."""
        with _no_grad():
            for module in reversed(self):
                if hasattr(module, "right_inverse"):
                    value = module.right_inverse(value)
                else:
                    raise InvalidArgumentError(f"parametrization {type(module).__name__} does not implement "
                                               f"right_inverse; the parametrized tensor cannot be assigned")
            if self.is_tensor:
                if not isinstance(value, Tensor):
                    raise InvalidArgumentError(f"`right_inverse` should return a tensor. Got {type(value).__name__}")
                if value.dtype != self.original.dtype:
                    raise InvalidArgumentError(f"The tensor returned by `right_inverse` has dtype {value.dtype} while "
                                               f"`original` has dtype {self.original.dtype}")
                _set_tensor(self.original, value)
            else:
                if not isinstance(value, (list, tuple)) or len(value) != self.ntensors:
                    raise InvalidArgumentError(f"'right_inverse' must return a sequence of {self.ntensors} tensors")
                for i, tensor in enumerate(value):
                    _set_tensor(getattr(self, f"original{i}"), tensor)

    def forward(self):
        if self.is_tensor:
            x = self[0](self.original)
        else:
            x = self[0](*(getattr(self, f"original{i}") for i in range(self.ntensors)))
        for i in range(1, len(self)):
            x = self[i](x)
        return x


def _inject_new_class(module):
    cls = module.__class__

    def getstate(self):
        raise InvalidArgumentError("Serialization of parametrized modules is only supported through state_dict()")

    module.__class__ = type(f"Parametrized{cls.__name__}", (cls,), {"__getstate__": getstate})


def _inject_property(module, tensor_name):
    def get_parametrized(self):
        parametrization = self.parametrizations[tensor_name]
        if _cache_enabled:
            key = (id(self), tensor_name)
            tensor = _cache.get(key)
            if tensor is None:
                tensor = _cache[key] = parametrization()
            return tensor
        return parametrization()

    def set_original(self, value):
        self.parametrizations[tensor_name].right_inverse(value)

    setattr(module.__class__, tensor_name, property(get_parametrized, set_original))


def is_parametrized(module, tensor_name=None):
    """Whether ``module`` has any parametrization, or one on ``tensor_name``."""
    parametrizations = module.__dict__.get("_modules", {}).get("parametrizations")
    if parametrizations is None or not isinstance(parametrizations, ModuleDict):
        return False
    if tensor_name is None:
        return len(parametrizations) > 0
    return tensor_name in parametrizations


def register_parametrization(module, tensor_name, parametrization, *, unsafe=False):
    """Make ``module.<tensor_name>`` be ``parametrization(original)``; a second call chains another one."""
    parametrization.train(module.training)
    if is_parametrized(module, tensor_name):
        if not unsafe:
            y = getattr(module, tensor_name)
            x = parametrization(y)
            if not isinstance(x, Tensor):
                raise InvalidArgumentError(f"A parametrization must return a tensor. Got {type(x).__name__}.")
            if x.dtype != y.dtype or tuple(x.shape) != tuple(y.shape):
                raise InvalidArgumentError(f"Registering a parametrization may not change the dtype or shape of the tensor "
                                           f"({y.dtype}, {tuple(y.shape)}) -> ({x.dtype}, {tuple(x.shape)}), unless the "
                                           f"`unsafe` flag is enabled")
            if hasattr(parametrization, "right_inverse"):
                z = parametrization.right_inverse(x)
                if not isinstance(z, Tensor) or z.dtype != y.dtype or tuple(z.shape) != tuple(y.shape):
                    raise InvalidArgumentError("parametrization.right_inverse must return a tensor of the dtype and shape "
                                               "of the tensor it inverts")
        module.parametrizations[tensor_name].append(parametrization)
        module.parametrizations[tensor_name].unsafe |= unsafe
    elif tensor_name in module._buffers or tensor_name in module._parameters:
        original = getattr(module, tensor_name)
        parametrizations = ParametrizationList([parametrization], original, unsafe=unsafe)
        delattr(module, tensor_name)
        if not is_parametrized(module):
            _inject_new_class(module)
            module.parametrizations = ModuleDict()
        _inject_property(module, tensor_name)
        module.parametrizations[tensor_name] = parametrizations
    else:
        raise InvalidArgumentError(f"Module '{module}' does not have a parameter, a buffer, or a parametrized element with "
                                   f"name '{tensor_name}'")
    return module


def remove_parametrizations(module, tensor_name, leave_parametrized=True):
    """Undo register_parametrization: ``tensor_name`` becomes a plain parameter (or buffer) again, holding the
    parametrized value if ``leave_parametrized`` else the original."""
    if not is_parametrized(module, tensor_name):
        raise InvalidArgumentError(f"Module {module} does not have a parametrization on {tensor_name}")
    parametrizations = module.parametrizations[tensor_name]
    if parametrizations.is_tensor:
        original = parametrizations.original
        if leave_parametrized:
            with _no_grad():
                t = getattr(module, tensor_name)
            with _no_grad():
                if tuple(t.shape) == tuple(original.shape) and t.dtype == original.dtype:
                    _set_tensor(original, t)
                else:
                    raise InvalidArgumentError(f"the parametrized tensor ({t.dtype}, {tuple(t.shape)}) does not fit the "
                                               f"original ({original.dtype}, {tuple(original.shape)}); pass "
                                               f"leave_parametrized=False")
    else:
        if not leave_parametrized:
            raise InvalidArgumentError("Cannot leave unparametrized (`leave_parametrized=False`) a tensor that is "
                                       "parametrized in terms of a sequence of tensors.")
        with _no_grad():
            t = getattr(module, tensor_name)
        if isinstance(parametrizations.original0, Parameter):
            original = Parameter(t.detach(), parametrizations.original0.requires_grad)
        else:
            original = t.detach()
    delattr(module.__class__, tensor_name)
    del module.parametrizations[tensor_name]
    _register_parameter_or_buffer(module, tensor_name, original)
    if not is_parametrized(module):
        delattr(module, "parametrizations")
        module.__class__ = module.__class__.__bases__[0]
    return module


def type_before_parametrizations(module):
    """The module's class before any parametrization was registered."""
    return module.__class__.__bases__[0] if is_parametrized(module) else type(module)


def transfer_parametrizations_and_params(from_module, to_module, tensor_name=None):
    """Register ``from_module``'s parametrizations (and their originals' values) on ``to_module``."""
    if not is_parametrized(from_module):
        raise InvalidArgumentError(f"Module {from_module} has no parametrizations to transfer")
    names = list(from_module.parametrizations.keys()) if tensor_name is None else [tensor_name]
    for name in names:
        if not hasattr(to_module, name):
            setattr(to_module, name, Parameter(getattr(from_module, name).detach()))
        for p in from_module.parametrizations[name]:
            register_parametrization(to_module, name, p)
        src, dst = from_module.parametrizations[name], to_module.parametrizations[name]
        with _no_grad():
            if src.is_tensor:
                dst.original.copy_(src.original)
            else:
                for i in range(src.ntensors):
                    getattr(dst, f"original{i}").copy_(getattr(src, f"original{i}"))
    return to_module
