"""Helpers the distributions share: broadcasting parameters, probs <-> logits, dtype limits, lazy properties."""

from __future__ import annotations

import numbers

import ember
from ..errors import InvalidArgumentError

__all__ = ["broadcast_all", "broadcast_shapes", "logits_to_probs", "probs_to_logits", "clamp_probs",
           "lazy_property", "finfo_eps", "finfo_tiny", "sum_rightmost"]

_EPS = {"float16": 2.0 ** -10, "bfloat16": 2.0 ** -7, "float32": 2.0 ** -23, "float64": 2.0 ** -52}
_TINY = {"float16": 2.0 ** -14, "bfloat16": 2.0 ** -126, "float32": 2.0 ** -126, "float64": 2.0 ** -1022}


def _dtype_name(dtype) -> str:
    return str(dtype).rsplit(".", 1)[-1]


def finfo_eps(dtype) -> float:
    """Machine epsilon of a floating dtype (PyTorch's ``torch.finfo(dtype).eps``)."""
    return _EPS[_dtype_name(dtype)]


def finfo_tiny(dtype) -> float:
    """The smallest positive normal number of a floating dtype (``torch.finfo(dtype).tiny``)."""
    return _TINY[_dtype_name(dtype)]


def broadcast_shapes(*shapes) -> ember.Size:
    """The shape the given shapes broadcast to, by NumPy's rules; ValueError names them when they do not."""
    ndim = max((len(s) for s in shapes), default=0)
    out = [1] * ndim
    for s in shapes:
        for i, n in enumerate(s, ndim - len(s)):
            if n != 1 and out[i] != 1 and n != out[i]:
                raise InvalidArgumentError(f"shape mismatch: objects cannot be broadcast to a single shape: "
                                           f"{[tuple(x) for x in shapes]}")
            if n != 1:
                out[i] = n
    return ember.Size(out)


def broadcast_all(*values):
    """Tensors broadcast to one shape; numbers become tensors of the tensors' dtype and device
    (the default dtype when every value is a number), as PyTorch's ``broadcast_all``."""
    tensors = [v for v in values if isinstance(v, ember.Tensor)]
    for v in values:
        if not isinstance(v, (ember.Tensor, numbers.Number)):
            raise InvalidArgumentError(f"Input arguments must all be instances of numbers.Number or Tensor, "
                                       f"got {type(v).__name__}")
    if tensors:
        dtype = tensors[0].dtype
        for t in tensors[1:]:
            dtype = ember.promote_types(dtype, t.dtype)
        if not dtype.is_floating_point and any(isinstance(v, float) for v in values):
            dtype = ember.get_default_dtype()
        device = tensors[0].device
    else:
        dtype, device = ember.get_default_dtype(), None
    vals = [v if isinstance(v, ember.Tensor) else ember.tensor(v, dtype=dtype, device=device) for v in values]
    shape = broadcast_shapes(*[v.shape for v in vals])
    return tuple(v if tuple(v.shape) == tuple(shape) else v.expand(shape) for v in vals)


def clamp_probs(probs):
    """Probabilities pulled into [eps, 1 - eps] so their logs stay finite."""
    eps = finfo_eps(probs.dtype)
    return probs.clamp(min=eps, max=1 - eps)


def logits_to_probs(logits, is_binary=False):
    """Sigmoid of logits (binary) or softmax over the last dimension (categorical)."""
    if is_binary:
        return ember.sigmoid(logits)
    return ember.softmax(logits, -1)


def probs_to_logits(probs, is_binary=False):
    """Logits of probabilities: log(p) - log(1 - p) when binary, else log(p), with p clamped."""
    ps = clamp_probs(probs)
    if is_binary:
        return ember.log(ps) - ember.log1p(-ps)
    return ember.log(ps)


def sum_rightmost(value, dim: int):
    """``value`` summed over its rightmost ``dim`` dimensions."""
    if dim == 0:
        return value
    return value.reshape(tuple(value.shape[:value.dim() - dim]) + (-1,)).sum(-1)


class lazy_property:
    """A property computed once on first access and then stored on the instance."""

    def __init__(self, wrapped):
        self.wrapped = wrapped
        self.__doc__ = wrapped.__doc__
        self.__name__ = wrapped.__name__

    def __get__(self, instance, obj_type=None):
        if instance is None:
            return self
        value = self.wrapped(instance)
        setattr(instance, self.wrapped.__name__, value)
        return value
