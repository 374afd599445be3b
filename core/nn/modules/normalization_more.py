"""InstanceNorm1d/2d/3d, BatchNorm3d, LocalResponseNorm and RMSNorm, with their functional forms.

Each is composed of existing operators (batch_norm, reductions, elementwise), so
every backend runs it and autograd comes from those operators.
"""

from __future__ import annotations

from ... import dtypes as D
from ...errors import ShapeError
from ...ops import reduction as _red
from ...ops.creation import full
from .. import functional as F
from ..module import Module
from ..parameter import Parameter
from .normalization import _BatchNorm
from ...errors import InvalidArgumentError

# torch.finfo(dtype).eps: rms_norm's default eps
_FINFO_EPS = {D.float64: 2.220446049250313e-16, D.float32: 1.1920928955078125e-07,
              D.float16: 0.0009765625, D.bfloat16: 0.0078125}


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    """Normalise each (sample, channel) plane by its own statistics, as torch.nn.functional.instance_norm.

    The input is folded to (1, N*C, ...) and run through batch_norm; running stats, when given, are
    updated with the mean over the batch of the per-instance statistics (PyTorch's rule)."""
    if input.ndim < 3:
        raise ShapeError(f"instance_norm(): expected an input of at least 3 dims (N, C, ...), got shape "
                         f"{tuple(input.shape)}; add a batch dim with input.unsqueeze(0)")
    N, C = input.shape[0], input.shape[1]
    spatial = 1
    for s in input.shape[2:]:
        spatial *= s
    if use_input_stats and spatial <= 1:
        raise InvalidArgumentError(f"instance_norm(): expected more than 1 spatial element when training, got input "
                                   f"of shape {tuple(input.shape)}")
    folded = input.reshape((1, N * C) + tuple(input.shape[2:]))
    rm = None if running_mean is None else running_mean.repeat(N)
    rv = None if running_var is None else running_var.repeat(N)
    w = None if weight is None else weight.repeat(N)
    b = None if bias is None else bias.repeat(N)
    out = F.batch_norm(folded, rm, rv, w, b, use_input_stats, momentum, eps)
    if use_input_stats:
        for buf, rep in ((running_mean, rm), (running_var, rv)):
            if buf is not None:
                buf.copy_(_red.mean(rep.detach().reshape((N, C)), 0))
    return out.reshape(input.shape)


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """x / (k + alpha/size * sum of x^2 over a window of ``size`` neighbouring channels)^beta."""
    if input.ndim < 3:
        raise InvalidArgumentError(f"local_response_norm(): expected a 3D or higher dimensional input (N, C, ...), got "
                                   f"{input.ndim} dimensions")
    if input.numel() == 0:
        return input
    C = input.shape[1]
    sq = input * input
    # channels zero-padded by size//2 before and (size-1)//2 after, then a sliding window sum (avg_pool's
    # count_include_pad=True divides by size everywhere)
    padded = F.pad(sq.movedim(1, -1), (size // 2, (size - 1) // 2)).movedim(-1, 1)
    div = padded.narrow(1, 0, C)
    for j in range(1, size):
        div = div + padded.narrow(1, j, C)
    div = (div * (alpha / size) + k).pow(beta)
    return input / div


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """x * rsqrt(mean(x^2 over the last len(normalized_shape) dims) + eps) * weight."""
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    normalized_shape = tuple(normalized_shape)
    n = len(normalized_shape)
    if n == 0 or tuple(input.shape[input.ndim - n:]) != normalized_shape or input.ndim < n:
        raise ShapeError(f"rms_norm(): normalized_shape {list(normalized_shape)} does not match the trailing "
                         f"dims of the input of shape {tuple(input.shape)}")
    if weight is not None and tuple(weight.shape) != normalized_shape:
        raise ShapeError(f"rms_norm(): weight of shape {tuple(weight.shape)} must have the normalized_shape "
                         f"{normalized_shape}")
    if eps is None:
        eps = _FINFO_EPS.get(input.dtype, _FINFO_EPS[D.float32])
    dims = tuple(range(input.ndim - n, input.ndim))
    ct = D.float64 if input.dtype is D.float64 else D.float32
    x = input.to(ct)
    out = x * (_red.mean(x * x, dims, True) + eps).rsqrt()
    out = out.to(input.dtype)
    return out * weight if weight is not None else out


class BatchNorm3d(_BatchNorm):
    """Batch normalization over a 5-D input (N, C, D, H, W)."""
    _dims = (5,)


class _InstanceNorm(_BatchNorm):
    """The base of InstanceNorm1d/2d/3d: per-sample, per-channel statistics; optional running stats."""
    _batched = 3

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False, track_running_stats=False,
                 device=None, dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)

    def _check_input(self, input):
        b = self._batched
        if input.ndim not in (b - 1, b):
            raise ShapeError(f"{type(self).__name__}: expected a {b - 1}-D (unbatched) or {b}-D (batched) input, "
                             f"got shape {tuple(input.shape)}")
        ch = input.shape[0 if input.ndim == b - 1 else 1]
        if self.affine and ch != self.num_features:
            raise ShapeError(f"{type(self).__name__}: expected input's size at dim={input.ndim - b + 1} to match "
                             f"num_features ({self.num_features}), but got: {ch}.")

    def forward(self, input):
        self._check_input(input)
        unbatched = input.ndim == self._batched - 1
        x = input.unsqueeze(0) if unbatched else input
        out = instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            self.training or not self.track_running_stats,
                            self.momentum if self.momentum is not None else 0.0, self.eps)
        return out.squeeze(0) if unbatched else out


class InstanceNorm1d(_InstanceNorm):
    """Instance normalization over (N, C, L) or unbatched (C, L)."""
    _batched = 3


class InstanceNorm2d(_InstanceNorm):
    """Instance normalization over (N, C, H, W) or unbatched (C, H, W)."""
    _batched = 4


class InstanceNorm3d(_InstanceNorm):
    """Instance normalization over (N, C, D, H, W) or unbatched (C, D, H, W)."""
    _batched = 5


class LocalResponseNorm(Module):
    """Normalises each element by the energy of its neighbouring channels (AlexNet's LRN)."""

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, input):
        return local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class RMSNorm(Module):
    """Root-mean-square layer normalization over the trailing ``normalized_shape`` dims (no centring)."""

    def __init__(self, normalized_shape, eps=None, elementwise_affine=True, device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(full(self.normalized_shape, 1.0, device=device, dtype=dtype))
        else:
            self.register_parameter("weight", None)

    def reset_parameters(self):
        if self.weight is not None:
            self.weight.detach().fill_(1.0)

    def forward(self, input):
        return rms_norm(input, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
