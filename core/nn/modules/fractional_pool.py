"""nn.FractionalMaxPool2d and F.fractional_max_pool2d (Graham, "Fractional Max-Pooling").

Each plane's pooling windows start at pseudo-random offsets made from two samples u in [0, 1) per
(batch, channel), with PyTorch's formula: start_i = int((i + u) * alpha) - int(u * alpha), alpha =
(input - pool) / (output - 1), the last window flush with the end. The samples come from Ember's
generator unless ``_random_samples`` (N, C, 2) is given, in which case the windows are PyTorch's own.
The starts are computed on the host from the samples; the maximum is a ``gather`` of every window's
elements and a max along them, so autograd routes the gradient to each window's maximum.
"""

from __future__ import annotations

import numpy as np

from ..._factory import tensor as _tensor
from ...errors import InvalidArgumentError
from ...ops.random import rand
from ..module import Module

__all__ = ["FractionalMaxPool2d", "fractional_max_pool2d", "fractional_max_pool2d_with_indices"]


def _pair(x):
    return (x, x) if not isinstance(x, (tuple, list)) else tuple(x)


def _intervals(samples, in_size, out_size, pool, np_dtype):
    """(P, out_size) window starts for P samples (PyTorch's generate_intervals, in the input's precision)."""
    u = samples.astype(np_dtype)
    seq = np.empty((u.shape[0], out_size), dtype=np.int64)
    if out_size > 1:
        alpha = np_dtype(in_size - pool) / np_dtype(out_size - 1)
        i = np.arange(out_size - 1, dtype=np_dtype)
        seq[:, :-1] = ((i[None, :] + u[:, None]) * alpha).astype(np.int64) - (u * alpha).astype(np.int64)[:, None]
    seq[:, -1] = in_size - pool
    return seq


def fractional_max_pool2d_with_indices(input, kernel_size, output_size=None, output_ratio=None,
                                       return_indices=False, _random_samples=None):
    """(values, indices): indices are flat positions h * W + w in each input plane, as max_pool2d's."""
    if output_size is None and output_ratio is None:
        raise InvalidArgumentError("fractional_max_pool2d requires specifying either an output_size or an output_ratio")
    if input.ndim not in (3, 4):
        raise InvalidArgumentError(f"fractional_max_pool2d(): Expected 3D or 4D tensor, but got: "
                                   f"{list(input.shape)}")
    kh, kw = _pair(kernel_size)
    if output_size is None:
        ratio = _pair(output_ratio)
        output_size = (int(input.shape[-2] * ratio[0]), int(input.shape[-1] * ratio[1]))
    oh, ow = _pair(output_size)
    batched = input.ndim == 4
    x = input if batched else input.unsqueeze(0)
    n, c, h, w = x.shape
    if oh + kh - 1 > h:
        raise InvalidArgumentError(f"fractional_max_pool2d(): pool height {kh} too large relative to input height {h}")
    if ow + kw - 1 > w:
        raise InvalidArgumentError(f"fractional_max_pool2d(): pool width {kw} too large relative to input width {w}")
    if _random_samples is None:
        _random_samples = rand((n, c, 2), dtype=input.dtype, device=input.device)
    elif tuple(_random_samples.shape) != (n, c, 2):
        raise InvalidArgumentError(f"fractional_max_pool2d(): _random_samples must have shape ({n}, {c}, 2), got "
                                   f"{tuple(_random_samples.shape)}")
    np_dtype = np.float64 if input.dtype.np == np.float64 else np.float32
    samples = _random_samples.detach().to("cpu").numpy().reshape(n * c, 2).astype(np.float64)
    cols = _intervals(samples[:, 0], w, ow, kw, np_dtype)         # (P, ow) starts along W
    rows = _intervals(samples[:, 1], h, oh, kh, np_dtype)         # (P, oh) starts along H
    # flat input position of every element of every window: (P, oh, ow, kh, kw)
    r = rows[:, :, None, None, None] + np.arange(kh)[None, None, None, :, None]
    q = cols[:, None, :, None, None] + np.arange(kw)[None, None, None, None, :]
    pos = (r * w + q).reshape(n, c, oh * ow * kh * kw)
    idx = _tensor(pos, device=input.device)
    vals = x.reshape(n, c, h * w).gather(2, idx).reshape(n, c, oh, ow, kh * kw)
    out, arg = vals.max(-1)
    indices = idx.reshape(n, c, oh, ow, kh * kw).gather(4, arg.unsqueeze(-1)).squeeze(-1)
    if not batched:
        out, indices = out.squeeze(0), indices.squeeze(0)
    return out, indices


def fractional_max_pool2d(input, kernel_size, output_size=None, output_ratio=None, return_indices=False,
                          _random_samples=None):
    """Fractional max pooling over (N, C, H, W) or (C, H, W); ``output_size`` or ``output_ratio`` fixes the
    output's size."""
    out, indices = fractional_max_pool2d_with_indices(input, kernel_size, output_size, output_ratio,
                                                      return_indices, _random_samples)
    return (out, indices) if return_indices else out


class FractionalMaxPool2d(Module):
    """Max pooling over windows of ``kernel_size`` at pseudo-random, overlapping-free strides that shrink
    the input to ``output_size`` (or by ``output_ratio``, in (0, 1))."""

    def __init__(self, kernel_size, output_size=None, output_ratio=None, return_indices=False,
                 _random_samples=None) -> None:
        super().__init__()
        self.kernel_size = _pair(kernel_size)
        self.return_indices = return_indices
        self.register_buffer("_random_samples", _random_samples)
        self.output_size = _pair(output_size) if output_size is not None else None
        self.output_ratio = _pair(output_ratio) if output_ratio is not None else None
        if output_size is None and output_ratio is None:
            raise InvalidArgumentError("FractionalMaxPool2d requires specifying either an output size, or a pooling ratio")
        if output_size is not None and output_ratio is not None:
            raise InvalidArgumentError("only one of output_size and output_ratio may be specified")
        if self.output_ratio is not None and not (0 < self.output_ratio[0] < 1 and 0 < self.output_ratio[1] < 1):
            raise InvalidArgumentError(f"output_ratio must be between 0 and 1 (got {output_ratio})")

    def forward(self, input):
        return fractional_max_pool2d(input, self.kernel_size, self.output_size, self.output_ratio,
                                     return_indices=self.return_indices, _random_samples=self._random_samples)
