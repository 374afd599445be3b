"""Channel dropout (Dropout1d/2d/3d) and SELU's alpha dropout, with their functional forms.

Masks come from Ember's Philox generator (``ember.rand``), so one seed gives the
same masks on every backend. ``nn.Dropout`` itself lives in activation.py.
"""

from __future__ import annotations

import math
import warnings

from .. import _random
from ..module import Module
from ...errors import InvalidArgumentError

# SELU's negative saturation value -scale*alpha: alpha dropout sets dropped units to it
_SELU_SAT = 1.7580993408473766


def _check_p(p, name):
    if not 0.0 <= p <= 1.0:
        raise InvalidArgumentError(f"{name}(): dropout probability has to be between 0 and 1, but got {p}")


def _dropout_impl(input, p, training, inplace, feature, alpha):
    """ATen's _dropout_impl: a Bernoulli(1-p) keep mask per element, or per (sample, channel) when
    ``feature``; plain dropout scales by 1/(1-p), alpha dropout maps dropped units to the SELU saturation
    and rescales so that a zero-mean unit-variance input keeps those moments."""
    if p == 0.0 or not training or input.numel() == 0:
        return input
    if p == 1.0:
        return input.mul_(0.0) if inplace else input * 0.0
    if feature:
        if input.ndim < 2:
            raise InvalidArgumentError(f"feature dropout needs an input of at least 2 dims (N, C, ...), got shape "
                                       f"{tuple(input.shape)}")
        shape = tuple(input.shape[:2]) + (1,) * (input.ndim - 2)
    else:
        shape = tuple(input.shape)
    dt = input.dtype if input.dtype.is_floating_point else None
    keep = (_random.rand(shape, dtype=dt, device=input.device) < 1.0 - p).to(input.dtype)
    if not alpha:
        noise = keep * (1.0 / (1.0 - p))
        return input.mul_(noise) if inplace else input * noise
    a = 1.0 / math.sqrt((_SELU_SAT * _SELU_SAT * p + 1) * (1 - p))
    b = (keep - 1.0) * (_SELU_SAT * a) + _SELU_SAT * a * p
    noise = keep * a
    if inplace:
        return input.mul_(noise).add_(b)
    return input * noise + b


def _channelwise(name, input, p, training, inplace, batched_ndim, strict):
    """dropout1d/2d/3d: channel dropout on batched input, an unbatched input gets a batch dim added."""
    _check_p(p, name)
    nd = input.ndim
    if nd not in (batched_ndim - 1, batched_ndim):
        msg = (f"{name}: Expected {batched_ndim - 1}D or {batched_ndim}D input, but received a {nd}D input; "
               f"{name} zeroes whole channels of inputs with {batched_ndim - 2} spatial dims, a channel dim and "
               f"an optional batch dim")
        if strict:
            raise InvalidArgumentError(msg)
        warnings.warn(msg + "; use dropout for other shapes", stacklevel=3)
    unbatched = nd == batched_ndim - 1
    x = input.unsqueeze(0) if unbatched else input
    out = _dropout_impl(x, p, training, False, True, False)
    if unbatched:
        out = out.squeeze(0)
    return input.copy_(out) if inplace and out is not input else out


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, L) or (C, L) with probability p; scale the rest by 1/(1-p)."""
    return _channelwise("dropout1d", input, p, training, inplace, 3, True)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, H, W) with probability p. As PyTorch, a 3-D input is read as (N, C, L)
    (with a warning), not as an unbatched image."""
    _check_p(p, "dropout2d")
    nd = input.ndim
    if nd not in (3, 4):
        warnings.warn(f"dropout2d: received a {nd}-D input; dropout2d zeroes channels of 3-D or 4-D inputs, use "
                      f"dropout for other shapes", stacklevel=2)
    if nd == 3:
        warnings.warn("dropout2d: received a 3-D input and assuming channel-wise 1-D dropout, input read as "
                      "(N, C, L); use dropout1d for this behaviour", stacklevel=2)
    out = _dropout_impl(input, p, training, False, True, False)
    return input.copy_(out) if inplace and out is not input else out


def dropout3d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, D, H, W) or (C, D, H, W) with probability p."""
    return _channelwise("dropout3d", input, p, training, inplace, 5, False)


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    """Dropout for SELU networks: dropped units take SELU's saturation value, moments are kept."""
    _check_p(p, "alpha_dropout")
    return _dropout_impl(input, p, training, inplace, False, True)


def feature_alpha_dropout(input, p=0.5, training=False, inplace=False):
    """Alpha dropout of whole channels."""
    _check_p(p, "feature_alpha_dropout")
    return _dropout_impl(input, p, training, inplace, True, True)


class _DropoutNd(Module):
    _fn = None

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise InvalidArgumentError(f"{type(self).__name__}: dropout probability has to be between 0 and 1, but got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, input):
        return type(self)._fn(input, self.p, self.training, self.inplace)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class Dropout1d(_DropoutNd):
    """Zeroes whole channels of (N, C, L) or (C, L) when training."""
    _fn = staticmethod(dropout1d)


class Dropout2d(_DropoutNd):
    """Zeroes whole channels of (N, C, H, W) when training."""
    _fn = staticmethod(dropout2d)


class Dropout3d(_DropoutNd):
    """Zeroes whole channels of (N, C, D, H, W) or (C, D, H, W) when training."""
    _fn = staticmethod(dropout3d)


class AlphaDropout(_DropoutNd):
    """Alpha dropout (for SELU networks) when training."""
    _fn = staticmethod(alpha_dropout)


class FeatureAlphaDropout(_DropoutNd):
    """Alpha dropout of whole channels when training."""
    _fn = staticmethod(feature_alpha_dropout)
