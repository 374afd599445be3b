"""F.interpolate (nearest, nearest-exact, linear, bilinear, bicubic, trilinear, area) and the pixel shuffles.

Every mode but 'area' is separable: each spatial dim is resampled in turn by
``index_select`` of its source taps, weighted and summed. The taps and
weights depend only on the sizes, so they are computed on the host with
PyTorch's formulas (in float32 for float32 input, as its CPU kernels do);
autograd gives the gradient (an ``index_add`` of the weighted output).
"""

from __future__ import annotations

import math

import numpy as np

from .. import dtypes as D
from .._factory import tensor as _tensor
from ..errors import ShapeError
from ..ops.elementwise import add, mul
from ..ops.indexing import index_select
from ..ops.nn import adaptive_avg_pool2d
from ..ops.views import permute, reshape
from ._pooling import adaptive_avg_pool1d, adaptive_avg_pool3d
from ..errors import ArgumentTypeError, InvalidArgumentError, UnsupportedError

MODES = ("nearest", "linear", "bilinear", "bicubic", "trilinear", "area", "nearest-exact")
_NEEDS = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}
_CUBIC_A = -0.75
_AREA = {1: adaptive_avg_pool1d, 2: adaptive_avg_pool2d, 3: adaptive_avg_pool3d}


def _scale(n, o, scale_factor, align_corners, dt):
    """PyTorch's area_pixel_compute_scale: the source step per output step."""
    if align_corners:
        return dt((n - 1) / (o - 1)) if o > 1 else dt(0)
    if scale_factor is not None and scale_factor > 0:
        return dt(1.0 / scale_factor)
    return dt(n) / dt(o)


def _taps(mode, n, o, scale_factor, align_corners, dt):
    """[(source indices (o,), weights (o,) or None)] for one dim."""
    dst = np.arange(o).astype(dt)
    if mode in ("nearest", "nearest-exact"):
        sc = _scale(n, o, scale_factor, False, np.float32)
        pos = (dst.astype(np.float32) + np.float32(0.5 if mode == "nearest-exact" else 0)) * sc
        return [(np.minimum(np.floor(pos).astype(np.int64), n - 1), None)]
    sc = _scale(n, o, scale_factor, align_corners, dt)
    cubic = mode == "bicubic"
    src = sc * dst if align_corners else sc * (dst + dt(0.5)) - dt(0.5)
    if not cubic:
        src = np.maximum(src, dt(0)) if not align_corners else src
        i0 = np.minimum(np.floor(src).astype(np.int64), n - 1)
        lam = np.clip(src - i0.astype(dt), 0, 1).astype(dt)
        i1 = np.where(i0 < n - 1, i0 + 1, i0)
        return [(i0, (dt(1) - lam).astype(dt)), (i1, lam)]
    i = np.floor(src).astype(np.int64)
    t = (src - i.astype(dt)).astype(dt)
    A = dt(_CUBIC_A)

    def conv1(x):
        return ((A + 2) * x - (A + 3)) * x * x + 1

    def conv2(x):
        return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A
    ws = (conv2(t + 1), conv1(t), conv1(1 - t), conv2(2 - t))
    return [(np.clip(i - 1 + k, 0, n - 1), ws[k].astype(dt)) for k in range(4)]


def _resample_dim(x, dim, taps):
    out = None
    for idx, w in taps:
        v = index_select(x, dim, _tensor(idx, dtype=D.int64, device=x._device))
        if w is not None:
            v = mul(v, _tensor(w.reshape((-1,) + (1,) * (x.ndim - 1 - dim)), dtype=x._dtype, device=x._device))
        out = v if out is None else add(out, v)
    return out


def _output_size(opname, x, dim, size, scale_factor):
    if size is not None and scale_factor is not None:
        raise InvalidArgumentError(f"{opname}(): only one of size or scale_factor should be defined")
    spatial = tuple(x._shape[2:])
    if size is not None:
        size = tuple(size) if isinstance(size, (list, tuple)) else (size,) * dim
        if len(size) != dim:
            raise InvalidArgumentError(f"{opname}(): input and output must have the same number of spatial dims, but got "
                                       f"input with spatial dims {list(spatial)} and output size {list(size)}; give the "
                                       f"input as (N, C, d1, ..., dK) and the size as (o1, ..., oK)")
        return size, None
    if scale_factor is None:
        raise InvalidArgumentError(f"{opname}(): either size or scale_factor should be defined")
    sf = tuple(scale_factor) if isinstance(scale_factor, (list, tuple)) else (scale_factor,) * dim
    if len(sf) != dim:
        raise InvalidArgumentError(f"{opname}(): scale_factor {scale_factor!r} must be a float or {dim} floats for an "
                                   f"input with spatial dims {list(spatial)}")
    return tuple(math.floor(float(spatial[i]) * sf[i]) for i in range(dim)), tuple(float(v) for v in sf)


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resizes the spatial dims of a (N, C, *spatial) input, as torch.nn.functional.interpolate."""
    opname = "interpolate"
    if mode not in MODES:
        raise UnsupportedError(f"{opname}(): mode {mode!r} is not supported; use one of {MODES}")
    if align_corners is not None and mode not in _NEEDS:
        raise InvalidArgumentError(f"{opname}(): align_corners can only be set with the interpolating modes: linear | "
                                   f"bilinear | bicubic | trilinear (got mode {mode!r})")
    align_corners = bool(align_corners)
    if antialias:
        raise UnsupportedError(f"{opname}(): antialias=True is not supported; resize without it")
    dim = input.ndim - 2
    if dim not in (1, 2, 3):
        raise UnsupportedError(f"{opname}(): input must be 3-D, 4-D or 5-D (N, C, *spatial), got shape "
                                  f"{tuple(input._shape)}")
    if mode in _NEEDS and _NEEDS[mode] != dim:
        raise UnsupportedError(f"{opname}(): got a {input.ndim}-D input, but {mode} mode needs a "
                                  f"{_NEEDS[mode] + 2}-D input")
    if recompute_scale_factor and size is not None:
        raise InvalidArgumentError(f"{opname}(): recompute_scale_factor is not meaningful with an explicit size")
    out, sf = _output_size(opname, input, dim, size, scale_factor)
    if any(o <= 0 for o in out):
        raise ShapeError(f"{opname}(): the output size {out} must be positive (input shape "
                         f"{tuple(input._shape)})")
    if recompute_scale_factor:
        sf = None
    if mode == "area":
        return _AREA[dim](input, out)
    if mode not in ("nearest", "nearest-exact") and not input._dtype.is_floating_point:
        raise ArgumentTypeError(f"{opname}(): {mode} mode needs a floating input, got {input._dtype.name}; convert it "
                                f"with .float()")
    dt = np.float64 if input._dtype is D.float64 else np.float32
    x = input
    for i in range(dim):
        n = x._shape[2 + i]
        taps = _taps(mode, n, out[i], None if sf is None else sf[i], align_corners, dt)
        x = _resample_dim(x, 2 + i, taps)
    return x


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """The older name of interpolate."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


def _shuffle_check(opname, x, factor, what):
    if not isinstance(factor, int) or factor <= 0:
        raise InvalidArgumentError(f"{opname}(): {what} must be a positive int, got {factor!r}")
    if x.ndim < 3:
        raise ShapeError(f"{opname}(): expected an input of at least 3 dims (*, C, H, W), got shape "
                         f"{tuple(x._shape)}")


def pixel_shuffle(input, upscale_factor):
    """(*, C*r*r, H, W) -> (*, C, H*r, W*r)."""
    r = upscale_factor
    _shuffle_check("pixel_shuffle", input, r, "upscale_factor")
    *lead, C, H, W = input._shape
    if C % (r * r):
        raise ShapeError(f"pixel_shuffle(): the channel dim (size {C}) of input shape {tuple(input._shape)} "
                         f"must be divisible by upscale_factor**2 = {r * r}")
    n = len(lead)
    x = reshape(input, tuple(lead) + (C // (r * r), r, r, H, W))
    x = permute(x, tuple(range(n)) + (n, n + 3, n + 1, n + 4, n + 2))
    return reshape(x, tuple(lead) + (C // (r * r), H * r, W * r))


def pixel_unshuffle(input, downscale_factor):
    """(*, C, H*r, W*r) -> (*, C*r*r, H, W)."""
    r = downscale_factor
    _shuffle_check("pixel_unshuffle", input, r, "downscale_factor")
    *lead, C, H, W = input._shape
    if H % r or W % r:
        raise ShapeError(f"pixel_unshuffle(): height {H} and width {W} of input shape {tuple(input._shape)} "
                         f"must be divisible by downscale_factor {r}")
    n = len(lead)
    x = reshape(input, tuple(lead) + (C, H // r, r, W // r, r))
    x = permute(x, tuple(range(n)) + (n, n + 2, n + 4, n + 1, n + 3))
    return reshape(x, tuple(lead) + (C * r * r, H // r, W // r))
