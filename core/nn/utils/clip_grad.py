"""Gradient clipping: rescale gradients by their total norm, or clamp them elementwise.

The total norm stays a tensor on the gradients' device (PyTorch returns it the same way), so clipping
costs no host round trip unless ``error_if_nonfinite`` asks for a check.
"""

from __future__ import annotations

import functools
import math
import types
import warnings

from ..._tensor import Tensor
from ...errors import ArgumentTypeError, InvalidArgumentError

__all__ = ["clip_grad_norm_", "clip_grad_norm", "clip_grad_value_", "get_total_norm", "clip_grads_with_norm_"]


def _no_grad(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import ember
        with ember.no_grad():
            return fn(*args, **kwargs)
    return wrapper


def _as_list(tensors):
    return [tensors] if isinstance(tensors, Tensor) else list(tensors)


def _vector_norm(t, p):
    """The p-norm of t's elements as a 0-d tensor (p may be inf, -inf or 0, as linalg.vector_norm)."""
    a = t.abs()
    if p == 2.0:
        return (a * a).sum().sqrt()
    if p == 1.0:
        return a.sum()
    if p == math.inf:
        return a.amax() if t.numel() else a.sum()
    if p == -math.inf:
        return a.amin()
    if p == 0.0:
        return (a != 0).to(t._dtype).sum()
    return (a ** p).sum() ** (1.0 / p)


def _check_foreach(foreach):
    if foreach not in (None, True, False):
        raise ArgumentTypeError(f"foreach must be None, True or False, got {foreach!r}")


@_no_grad
def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """The norm of all ``tensors`` together, as if concatenated into one vector (a 0-d tensor)."""
    import ember
    _check_foreach(foreach)
    tensors = [t for t in _as_list(tensors) if t is not None]
    norm_type = float(norm_type)
    if not tensors:
        return ember.tensor(0.0)
    first = tensors[0]._device
    norms = [_vector_norm(t, norm_type) for t in tensors]
    norms = [n if n._device == first else n.to(first) for n in norms]
    total = _vector_norm(ember.stack(norms), norm_type)
    if error_if_nonfinite and bool((total.isnan() | total.isinf()).item()):
        raise InvalidArgumentError(f"The total norm of order {norm_type} for gradients from `parameters` is "
                                   f"non-finite, so it cannot be clipped. To disable this error and scale the "
                                   f"gradients by the non-finite norm anyway, set `error_if_nonfinite=False`")
    return total


@_no_grad
def clip_grads_with_norm_(parameters, max_norm, total_norm, foreach=None):
    """Scale each gradient by ``min(1, max_norm / (total_norm + 1e-6))``, in place."""
    _check_foreach(foreach)
    grads = [p.grad for p in _as_list(parameters) if p.grad is not None]
    if not grads:
        return
    coef = (float(max_norm) / (total_norm + 1e-6)).clamp(max=1.0)
    per_device = {}
    for g in grads:
        c = per_device.get(g._device)
        if c is None:
            c = per_device[g._device] = coef if coef._device == g._device else coef.to(g._device)
        g.mul_(c)


@_no_grad
def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Rescale the gradients of ``parameters`` so that their total ``norm_type`` norm is at most
    ``max_norm``; returns the total norm from before clipping (a 0-d tensor)."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    else:
        is_generator = isinstance(parameters, types.GeneratorType)
        parameters = list(parameters)
        if is_generator and not parameters:
            warnings.warn("`parameters` is an empty generator, no gradient clipping will occur.", stacklevel=3)
    grads = [p.grad for p in parameters if p.grad is not None]
    total = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(parameters, max_norm, total, foreach)
    return total


def clip_grad_norm(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Deprecated spelling of clip_grad_norm_."""
    warnings.warn("`torch.nn.utils.clip_grad_norm` is now deprecated in favor of "
                  "`torch.nn.utils.clip_grad_norm_`.", FutureWarning, stacklevel=2)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


@_no_grad
def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient of ``parameters`` into ``[-clip_value, clip_value]``, in place."""
    _check_foreach(foreach)
    clip_value = float(clip_value)
    for p in _as_list(parameters):
        if p.grad is not None:
            p.grad.clamp_(-clip_value, clip_value)
