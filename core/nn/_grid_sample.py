"""F.affine_grid and F.grid_sample: the two halves of a spatial transformer network.

grid_sample reads the input at the grid's (x, y[, z]) positions, normalised to [-1, 1]. Each output
point is a weighted sum of the input at the corners around it (2**nd of them for 'bilinear', one for
'nearest'): a ``gather`` of the flattened input at the corner's index, times a weight that is a product
of per-axis distances. Autograd through that composition gives both gradients: to the input a
scatter-add of the weighted output gradient (gather's backward), to the grid through the weights.
Coordinates follow PyTorch's grid_sampler_compute_source_index, padding modes included.
"""

from __future__ import annotations

import warnings

from ..autograd.function import Function
from ..errors import InvalidArgumentError
from ..ops.creation import linspace, ones, zeros_like
from ..ops.elementwise import logical_and, where
from ..ops.linalg import bmm
from ..ops.shape import stack
from ..errors import UnsupportedError

_MODES = ("bilinear", "nearest", "bicubic")
_PADDING = ("zeros", "border", "reflection")
_ALIGN_WARNING = ("Default grid_sample and affine_grid behavior has changed to align_corners=False since 1.3.0. "
                  "Please specify align_corners=True if the old behavior is desired. See the documentation of "
                  "grid_sample for details.")


def _base_coords(n, align_corners, like):
    """PyTorch's linspace_from_neg_one: n points over [-1, 1], pulled in by (n-1)/n without align_corners."""
    if n <= 1:
        return zeros_like(like).reshape(-1)[:1].expand(max(n, 1)).reshape(max(n, 1))
    r = linspace(-1.0, 1.0, n, dtype=like.dtype, device=like.device)
    return r if align_corners else r * ((n - 1) / n)


def affine_grid(theta, size, align_corners=None):
    """The sampling grid (N, H, W, 2) (or (N, D, H, W, 3)) of the affine maps ``theta`` (N, 2, 3) (or (N, 3, 4))
    applied to the normalised output coordinates of ``size``."""
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING, stacklevel=2)
        align_corners = False
    if not theta.dtype.is_floating_point:
        raise InvalidArgumentError(f"Expected theta to have floating point type, but got {theta.dtype}")
    size = tuple(int(s) for s in size)
    if len(size) == 4:
        if theta.ndim != 3 or tuple(theta.shape[-2:]) != (2, 3):
            raise InvalidArgumentError(f"Expected a batch of 2D affine matrices of shape Nx2x3 for size {size}. "
                                       f"Got {tuple(theta.shape)}.")
        spatial = size[-2:]
    elif len(size) == 5:
        if theta.ndim != 3 or tuple(theta.shape[-2:]) != (3, 4):
            raise InvalidArgumentError(f"Expected a batch of 3D affine matrices of shape Nx3x4 for size {size}. "
                                       f"Got {tuple(theta.shape)}.")
        spatial = size[-3:]
    else:
        raise UnsupportedError(f"affine_grid only supports 4D and 5D sizes, for 2D and 3D affine transforms, "
                                  f"respectively. Got size {size}.")
    if align_corners and min(spatial) == 1:
        warnings.warn("Since version 1.3.0, affine_grid behavior has changed for unit-size grids when "
                      "align_corners=True. This is not an intended use case of affine_grid. See the documentation "
                      "of affine_grid for details.", stacklevel=2)
    elif min(size) <= 0:
        raise InvalidArgumentError(f"Expected non-zero, positive output size. Got {size}")
    n, nd = size[0], len(spatial)
    # base[..., k] is the coordinate along spatial axis nd-1-k (x first), then a column of ones
    axes = []
    for k in range(nd):
        axis = nd - 1 - k
        c = _base_coords(spatial[axis], align_corners, theta)
        shape = [1] * nd
        shape[axis] = spatial[axis]
        axes.append(c.reshape(shape).expand(spatial))
    axes.append(ones(spatial, dtype=theta.dtype, device=theta.device))
    base = stack(axes, -1).reshape(1, -1, nd + 1).expand(n, -1, nd + 1)
    grid = bmm(base, theta.transpose(1, 2))
    return grid.reshape((n,) + spatial + (nd,))


def _unnormalize(g, size, align_corners):
    if align_corners:
        return (g + 1) * ((size - 1) / 2)
    return ((g + 1) * size - 1) / 2


def _reflect(x, twice_low, twice_high):
    """PyTorch's reflect_coordinates: fold x into [twice_low/2, twice_high/2] by mirroring at its ends."""
    if twice_low == twice_high:
        return x * 0
    lo = twice_low / 2
    span = (twice_high - twice_low) / 2
    a = (x - lo).abs()
    flips = (a / span).floor()
    extra = a - flips * span   # fmod(a, span) with d/da = 1
    even = (flips - (flips / 2).floor() * 2) == 0
    return where(even, extra + lo, (span + lo) - extra)


def _source_index(g, size, padding_mode, align_corners):
    x = _unnormalize(g, size, align_corners)
    if padding_mode == "border":
        x = x.clamp(0, size - 1)
    elif padding_mode == "reflection":
        x = _reflect(x, 0, 2 * (size - 1)) if align_corners else _reflect(x, -1, 2 * size - 1)
        x = x.clamp(0, size - 1)
    return x


class _ZeroGradTo(Function):
    """Returns ``out`` and sends the grid a zero gradient: 'nearest' output is piecewise constant in the grid."""

    @staticmethod
    def forward(ctx, out, grid):
        ctx.grid_meta = (tuple(grid.shape), grid.dtype, grid.device)
        return out.clone()

    @staticmethod
    def backward(ctx, g):
        from ..ops.creation import zeros
        shape, dtype, device = ctx.grid_meta
        return g, zeros(shape, dtype=dtype, device=device)


def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=None):
    """Sample ``input`` (N, C, H, W) or (N, C, D, H, W) at ``grid`` (N, Ho, Wo, 2) or (N, Do, Ho, Wo, 3), whose last
    dim holds (x, y[, z]) in [-1, 1]; PyTorch's modes 'bilinear' and 'nearest' and its three padding modes."""
    if mode not in _MODES:
        raise InvalidArgumentError(f"nn.functional.grid_sample(): expected mode to be 'bilinear', 'nearest' or 'bicubic', "
                                   f"but got: '{mode}'")
    if padding_mode not in _PADDING:
        raise InvalidArgumentError(f"nn.functional.grid_sample(): expected padding_mode to be 'zeros', 'border', or "
                                   f"'reflection', but got: '{padding_mode}'")
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING, stacklevel=2)
        align_corners = False
    if input.ndim not in (4, 5) or grid.ndim != input.ndim:
        raise InvalidArgumentError(f"grid_sampler(): expected 4D or 5D input and grid with same number of "
                                   f"dimensions, but got input with sizes {list(input.shape)} and grid with sizes "
                                   f"{list(grid.shape)}")
    nd = input.ndim - 2
    if grid.shape[0] != input.shape[0] or grid.shape[-1] != nd:
        raise InvalidArgumentError(f"grid_sampler(): expected grid of shape (N, ..., {nd}) with N = "
                                   f"{input.shape[0]} to match input of shape {list(input.shape)}, but got grid "
                                   f"with sizes {list(grid.shape)}")
    if any(s == 0 for s in input.shape[2:]):
        raise InvalidArgumentError(f"grid_sampler(): expected input to have non-empty spatial dimensions, but "
                                   f"input has sizes {list(input.shape)}")
    if mode == "bicubic":
        raise UnsupportedError("grid_sample(): mode='bicubic' is not implemented in Ember yet; use 'bilinear' "
                                  "or 'nearest'")
    if not input.dtype.is_floating_point or input.dtype != grid.dtype:
        raise InvalidArgumentError(f"grid_sampler(): expected input and grid to have the same floating dtype, but "
                                   f"input has {input.dtype} and grid has {grid.dtype}; convert one with .to()")
    n, c = input.shape[0], input.shape[1]
    sizes = tuple(input.shape[2:])                 # (D,) H, W
    out_spatial = tuple(grid.shape[1:-1])
    flat_in = input.reshape(n, c, -1)
    g = grid.reshape(n, -1, nd)
    # per spatial axis (outermost first): the source coordinate of every output point, shape (N, P)
    coords = [_source_index(g[:, :, nd - 1 - axis], sizes[axis], padding_mode, align_corners)
              for axis in range(nd)]
    strides = [1] * nd
    for axis in range(nd - 2, -1, -1):
        strides[axis] = strides[axis + 1] * sizes[axis + 1]
    if mode == "nearest":
        corners = [[(x.detach().round(), None)] for x in coords]
    else:
        corners = []
        for x in coords:
            x0 = x.detach().floor()
            w1 = x - x0
            corners.append([(x0, 1 - w1), (x0 + 1, w1)])
    out = None
    for choice in _product([len(cs) for cs in corners]):
        valid, flat, weight = None, None, None
        for axis, j in enumerate(choice):
            idx, w = corners[axis][j]
            ok = logical_and(idx >= 0, idx <= sizes[axis] - 1)
            valid = ok if valid is None else logical_and(valid, ok)
            term = where(ok, idx, 0).long() * strides[axis]
            flat = term if flat is None else flat + term
            if w is not None:
                weight = w if weight is None else weight * w
        index = flat.unsqueeze(1).expand(n, c, flat.shape[-1])
        vals = flat_in.gather(2, index)
        mask = valid.to(input.dtype)
        weight = mask if weight is None else where(valid, weight, 0)
        term = vals * weight.unsqueeze(1)
        out = term if out is None else out + term
    out = out.reshape((n, c) + out_spatial)
    if mode == "nearest" and grid.requires_grad:
        out = _ZeroGradTo.apply(out, grid)
    return out


def _product(counts):
    """Every tuple (j0, j1, ...) with 0 <= jk < counts[k], last index fastest."""
    res = [()]
    for k in counts:
        res = [r + (j,) for r in res for j in range(k)]
    return res
