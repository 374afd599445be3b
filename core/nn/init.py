"""ember.nn.init: fill parameters in place, drawing from Ember's generator (PyTorch's formulas)."""

from __future__ import annotations

import math

from . import _random
from .module import _no_grad

__all__ = ["calculate_gain", "uniform_", "normal_", "constant_", "zeros_", "ones_", "xavier_uniform_",
           "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "trunc_normal_", "eye_"]

_GAINS = {"linear": 1.0, "conv1d": 1.0, "conv2d": 1.0, "conv3d": 1.0, "conv_transpose1d": 1.0,
          "conv_transpose2d": 1.0, "conv_transpose3d": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3,
          "relu": math.sqrt(2.0), "selu": 3.0 / 4}


def calculate_gain(nonlinearity, param=None):
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope ** 2))
    try:
        return _GAINS[nonlinearity]
    except KeyError:
        raise ValueError(f"calculate_gain(): unsupported nonlinearity {nonlinearity!r}; known: "
                         f"{', '.join(sorted(_GAINS))}, leaky_relu") from None


def _fans(t):
    if t.ndim < 2:
        raise ValueError(f"fan in and fan out cannot be computed for a tensor with fewer than 2 dims "
                         f"(shape {tuple(t._shape)})")
    recept = 1
    for s in t._shape[2:]:
        recept *= s
    return t._shape[1] * recept, t._shape[0] * recept


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    with _no_grad():
        r = _random.rand(tensor._shape, dtype=tensor._dtype, device=tensor._device, generator=generator)
        return tensor.copy_(r * (b - a) + a)


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    with _no_grad():
        r = _random.randn(tensor._shape, dtype=tensor._dtype, device=tensor._device, generator=generator)
        return tensor.copy_(r * std + mean)


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    with _no_grad():
        r = _random.randn(tensor._shape, dtype=tensor._dtype, device=tensor._device, generator=generator)
        return tensor.copy_((r * std + mean).clamp(a, b))


def constant_(tensor, val):
    with _no_grad():
        return tensor.fill_(val)


def zeros_(tensor):
    return constant_(tensor, 0)


def ones_(tensor):
    return constant_(tensor, 1)


def eye_(tensor):
    if tensor.ndim != 2:
        raise ValueError(f"eye_(): only 2-D tensors are supported, got shape {tuple(tensor._shape)}")
    import ember
    with _no_grad():
        return tensor.copy_(ember.eye(*tensor._shape, dtype=tensor._dtype, device=tensor._device))


def xavier_uniform_(tensor, gain=1.0, generator=None):
    fan_in, fan_out = _fans(tensor)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    fan_in, fan_out = _fans(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


def _kaiming_std(tensor, a, mode, nonlinearity):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"kaiming init: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _fans(tensor)
    fan = fan_in if mode == "fan_in" else fan_out
    if fan == 0:
        return 0.0
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity), generator)


def _calculate_fan_in_and_fan_out(tensor):
    return _fans(tensor)
