"""Flatten parameters into one vector and back (for second-order methods and parameter averaging)."""

from __future__ import annotations

from ..._tensor import Tensor
from ...errors import ArgumentTypeError

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def _check_param_device(param, old):
    if old is not None and param._device != old:
        raise ArgumentTypeError(f"Found two parameters on different devices ({old} and {param._device}), this is "
                                f"currently not supported; move the module to one device first")
    return param._device


def parameters_to_vector(parameters):
    """One 1-D tensor holding every parameter's values, in iteration order."""
    import ember
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    device = None
    vec = []
    for p in parameters:
        device = _check_param_device(p, device)
        vec.append(p.reshape(-1))
    return ember.cat(vec)


def vector_to_parameters(vec, parameters):
    """Point each parameter's data at its slice of ``vec`` (the inverse of parameters_to_vector)."""
    if not isinstance(vec, Tensor):
        raise ArgumentTypeError(f"expected ember.Tensor, but got: {type(vec).__module__}.{type(vec).__qualname__}")
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    device = None
    pointer = 0
    for p in parameters:
        device = _check_param_device(p, device)
        n = p.numel()
        p.data = vec[pointer:pointer + n].view(p._shape).data
        pointer += n
