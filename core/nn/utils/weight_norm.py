"""The hook-based weight normalization, torch.nn.utils.weight_norm: parameters ``weight_g`` and ``weight_v``.

A forward pre-hook recomputes ``weight = g * v / ||v||`` before each call, as
PyTorch's older API does (the parametrization form is in parametrizations.py).
"""

from __future__ import annotations

from ..module import _no_grad
from ..parameter import Parameter
from .parametrizations import norm_except_dim, weight_norm_compose
from ...errors import InvalidArgumentError

__all__ = ["WeightNorm", "weight_norm", "remove_weight_norm"]


class WeightNorm:
    """The forward pre-hook that recomputes ``module.<name>`` from ``<name>_g`` and ``<name>_v``."""

    def __init__(self, name, dim):
        self.name = name
        self.dim = -1 if dim is None else dim

    def compute_weight(self, module):
        g = getattr(module, self.name + "_g")
        v = getattr(module, self.name + "_v")
        return weight_norm_compose(v, g, self.dim)

    @staticmethod
    def apply(module, name, dim):
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, WeightNorm) and hook.name == name:
                raise InvalidArgumentError(f"Cannot register two weight_norm hooks on the same parameter {name}")
        if name not in module._parameters or module._parameters[name] is None:
            raise InvalidArgumentError(f"weight_norm(): module {type(module).__name__} has no parameter named {name!r}")
        fn = WeightNorm(name, dim)
        weight = module._parameters[name]
        del module._parameters[name]
        with _no_grad():
            module.register_parameter(name + "_g", Parameter(norm_except_dim(weight.detach(), 2, fn.dim)))
            module.register_parameter(name + "_v", Parameter(weight.detach()))
        object.__setattr__(module, name, fn.compute_weight(module))
        fn.handle = module.register_forward_pre_hook(fn)
        return fn

    def remove(self, module):
        with _no_grad():
            weight = self.compute_weight(module)
        object.__delattr__(module, self.name)
        del module._parameters[self.name + "_g"]
        del module._parameters[self.name + "_v"]
        setattr(module, self.name, Parameter(weight.detach()))

    def __call__(self, module, inputs):
        object.__setattr__(module, self.name, self.compute_weight(module))


def weight_norm(module, name="weight", dim=0):
    """Split ``module.<name>`` into a magnitude ``<name>_g`` and a direction ``<name>_v`` (norm over every dim
    but ``dim``; dim=None normalises the whole tensor)."""
    WeightNorm.apply(module, name, dim)
    return module


def remove_weight_norm(module, name="weight"):
    """Fold ``<name>_g`` and ``<name>_v`` back into one parameter ``<name>``."""
    for k, hook in list(module._forward_pre_hooks.items()):
        if isinstance(hook, WeightNorm) and hook.name == name:
            hook.remove(module)
            del module._forward_pre_hooks[k]
            return module
    raise InvalidArgumentError(f"weight_norm of '{name}' not found in {module}")
