"""Pooling in 1, 2 and 3 dims: max, average, adaptive max/average, power-average and max-unpooling.

1-D pools run the 2-D operators on a height of 1; 3-D pools (and adaptive
max pooling in any dims) read their windows through a strided view or an
``index_select`` of the input and reduce them with Ember operators, so every
backend runs them and autograd gives their gradients. Indices are flat
positions in each input plane/volume, as PyTorch reports them.
"""

from __future__ import annotations

import numpy as np

from .. import dtypes as D
from .._factory import tensor as _tensor
from ..errors import ShapeError
from ..ops import nn as _nn
from ..ops.creation import full
from ..ops.elementwise import abs as _abs, mul, pow as _pow, sign, true_divide
from ..ops.indexing import gather, index_select, scatter
from ..ops.linalg import matmul
from ..ops.reduction import max_dim, sum as _sum
from ..ops.views import expand, movedim, permute, reshape, squeeze, unsqueeze
from ._conv_more import windows_nd
from ..errors import ArgumentTypeError, IndexOutOfRangeError, InvalidArgumentError

_NAMES = {1: "(N, C, L) or (C, L)", 2: "(N, C, H, W) or (C, H, W)", 3: "(N, C, D, H, W) or (C, D, H, W)"}


def _batched(opname, x, nd):
    if x.ndim not in (nd + 1, nd + 2):
        raise ShapeError(f"{opname}(): expected a {nd + 1}-D or {nd + 2}-D input {_NAMES[nd]}, got shape "
                         f"{tuple(x._shape)}")
    return (x, True) if x.ndim == nd + 2 else (unsqueeze(x, 0), False)


def _window_args(opname, x, nd, kernel_size, stride, padding, dilation, ceil_mode):
    k = _nn._tuple_arg(kernel_size, nd, "kernel_size", opname, 1)
    s = _nn._tuple_arg(stride, nd, "stride", opname, 1) if stride not in (None, (), []) else k
    p = _nn._tuple_arg(padding, nd, "padding", opname, 0)
    d = _nn._tuple_arg(dilation, nd, "dilation", opname, 1)
    for i in range(nd):
        if p[i] * 2 > k[i]:
            raise InvalidArgumentError(f"{opname}(): padding {p} must be at most half of kernel_size {k}")
    n = x._shape[-nd:]
    out = tuple(_nn._out_size(opname, n[i], k[i], s[i], p[i], d[i], ceil_mode, f"dim {i} of the spatial")
                for i in range(nd))
    return k, s, p, d, out


def _pad_windows(x, k, s, p, d, out, value):
    """Pad a batched input so that every window (ceil_mode included) lies inside it."""
    nd = len(k)
    pads = []
    for i in reversed(range(nd)):
        n = x._shape[2 + i]
        extra = max(0, (out[i] - 1) * s[i] + d[i] * (k[i] - 1) + 1 - (n + 2 * p[i]))
        pads += [p[i], p[i] + extra]
    return _nn.constant_pad_nd(x, pads, value) if any(pads) else x


def _position_table(per_dim, sizes):
    """(*O, K) host table of flat input positions, from per-dim (O_i, K_i) tables of positions."""
    nd = len(per_dim)
    total = np.zeros((1,) * (2 * nd), dtype=np.int64)
    mult = 1
    for i in reversed(range(nd)):
        shape = [1] * (2 * nd)
        shape[i], shape[nd + i] = per_dim[i].shape
        total = total + per_dim[i].reshape(shape) * mult
        mult *= sizes[i]
    O = tuple(t.shape[0] for t in per_dim)
    return np.broadcast_to(total, O + tuple(t.shape[1] for t in per_dim)).reshape(O + (-1,))


def _argmax_to_index(kidx, table):
    """Map each window's argmax (…, *O) through the (*O, K) position table to flat input positions."""
    t = _tensor(np.ascontiguousarray(table), dtype=D.int64, device=kidx._device)
    t = expand(t, tuple(kidx._shape) + (t._shape[-1],))
    return squeeze(gather(t, -1, unsqueeze(kidx, -1)), -1)


# -- max pooling -------------------------------------------------------------------------

def _max_pool_nd(opname, x, nd, kernel_size, stride, padding, dilation, ceil_mode):
    xb, batched = _batched(opname, x, nd)
    k, s, p, d, out = _window_args(opname, xb, nd, kernel_size, stride, padding, dilation, ceil_mode)
    if x._dtype is D.bool:
        raise ArgumentTypeError(f"{opname}(): bool input is not supported; convert it with .float()")
    N, C = xb._shape[:2]
    xp = _pad_windows(xb, k, s, p, d, out, _nn._lowest(x._dtype))
    K = int(np.prod(k))
    win = reshape(windows_nd(xp, k, d, s, out, "lk"), (N, C) + out + (K,))
    vals, kidx = max_dim(win, -1)
    per_dim = [np.arange(out[i])[:, None] * s[i] - p[i] + np.arange(k[i])[None, :] * d[i] for i in range(nd)]
    idx = _argmax_to_index(kidx, _position_table(per_dim, xb._shape[2:]))
    return (vals, idx) if batched else (squeeze(vals, 0), squeeze(idx, 0))


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    _batched("max_pool1d", input, 1)
    t = _nn._tuple_arg
    args = [(1,) + t(v, 1, w, "max_pool1d") for v, w in ((kernel_size, "kernel_size"), (padding, "padding"),
                                                         (dilation, "dilation"))]
    st = () if stride in (None, (), []) else (1,) + t(stride, 1, "stride", "max_pool1d")
    v, i = _nn.max_pool2d_with_indices(unsqueeze(input, -2), args[0], st, (0,) + args[1][1:], args[2],
                                       ceil_mode)
    v, i = squeeze(v, -2), squeeze(i, -2)
    return (v, i) if return_indices else v


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    v, i = _max_pool_nd("max_pool3d", input, 3, kernel_size, stride, padding, dilation, ceil_mode)
    return (v, i) if return_indices else v


# -- average pooling ---------------------------------------------------------------------

def _counts(n, k, s, p, out, count_include_pad):
    """Per-dim window sizes for the divisor (PyTorch's rule: padding counts, the ceil overhang never)."""
    c = []
    for o in range(out):
        a = o * s - p
        b = min(a + k, n + p)
        c.append(b - a if count_include_pad else min(b, n) - max(a, 0))
    return np.asarray(c, dtype=np.float64)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    _batched("avg_pool1d", input, 1)
    t = _nn._tuple_arg
    st = () if stride in (None, (), []) else (1,) + t(stride, 1, "stride", "avg_pool1d")
    out = _nn.avg_pool2d(unsqueeze(input, -2), (1,) + t(kernel_size, 1, "kernel_size", "avg_pool1d"), st,
                         (0,) + t(padding, 1, "padding", "avg_pool1d"), ceil_mode, count_include_pad)
    return squeeze(out, -2)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    opname = "avg_pool3d"
    xb, batched = _batched(opname, input, 3)
    _nn._check_float(opname, input)
    if divisor_override is not None and (not isinstance(divisor_override, int) or divisor_override == 0):
        raise InvalidArgumentError(f"{opname}(): divisor_override must be a non-zero int, got {divisor_override!r}")
    k, s, p, d, out = _window_args(opname, xb, 3, kernel_size, stride, padding, 1, ceil_mode)
    ct = _nn._compute_dtype(input._dtype)
    xp = _pad_windows(xb.to(ct), k, s, p, d, out, 0)
    total = _sum(windows_nd(xp, k, d, s, out, "lk"), (5, 6, 7))
    if divisor_override is not None:
        res = true_divide(total, divisor_override)
    else:
        n = xb._shape[2:]
        c = [_counts(n[i], k[i], s[i], p[i], out[i], count_include_pad) for i in range(3)]
        div = c[0][:, None, None] * c[1][None, :, None] * c[2][None, None, :]
        res = true_divide(total, _tensor(div, dtype=ct, device=input._device))
    res = res.to(input._dtype)
    return res if batched else squeeze(res, 0)


# -- adaptive pooling --------------------------------------------------------------------

def _adaptive_sizes(opname, x, nd, output_size):
    os_ = tuple(output_size) if isinstance(output_size, (list, tuple)) else (output_size,) * nd
    if len(os_) != nd:
        raise InvalidArgumentError(f"{opname}(): output_size must be an int or {nd} ints, got {output_size!r}")
    n = x._shape[-nd:]
    out = tuple(n[i] if os_[i] is None else os_[i] for i in range(nd))
    if any(not isinstance(o, int) or o <= 0 for o in out):
        raise InvalidArgumentError(f"{opname}(): output_size must hold positive ints, got {out}")
    return out


def adaptive_avg_pool1d(input, output_size):
    _batched("adaptive_avg_pool1d", input, 1)
    (o,) = _adaptive_sizes("adaptive_avg_pool1d", input, 1, output_size)
    return squeeze(_nn.adaptive_avg_pool2d(unsqueeze(input, -2), (1, o)), -2)


def adaptive_avg_pool3d(input, output_size):
    opname = "adaptive_avg_pool3d"
    _batched(opname, input, 3)
    _nn._check_float(opname, input)
    out = _adaptive_sizes(opname, input, 3, output_size)
    ct = _nn._compute_dtype(input._dtype)
    x = input.to(ct)
    for i in range(3):
        dim = x.ndim - 3 + i
        m = _nn._adaptive_matrix(x._shape[dim], out[i], ct, x._device)
        x = movedim(matmul(movedim(x, dim, -1), m.t()), -1, dim)
    return x.to(input._dtype)


def _adaptive_max(opname, x, nd, output_size, return_indices):
    xb, batched = _batched(opname, x, nd)
    out = _adaptive_sizes(opname, xb, nd, output_size)
    n = xb._shape[2:]
    N, C = xb._shape[:2]
    offs = []
    for i in range(nd):
        a = [(o * n[i]) // out[i] for o in range(out[i])]
        b = [-(-((o + 1) * n[i]) // out[i]) for o in range(out[i])]
        kmax = max(b[o] - a[o] for o in range(out[i]))
        # windows differ in size: the shorter ones repeat their last element, which never changes the max
        # and never wins the first-maximum index
        rows = [[min(a[o] + j, b[o] - 1) for j in range(kmax)] for o in range(out[i])]
        offs.append(rows)
        idx = _tensor([v for r in rows for v in r], dtype=D.int64, device=x._device)
        xb = index_select(xb, 2 + 2 * i, idx)
        xb = reshape(xb, xb._shape[:2 + 2 * i] + (out[i], kmax) + xb._shape[3 + 2 * i:])
    perm = (0, 1) + tuple(2 + 2 * i for i in range(nd)) + tuple(3 + 2 * i for i in range(nd))
    win = reshape(permute(xb, perm), (N, C) + out + (-1,))
    vals, kidx = max_dim(win, -1)
    if not return_indices:
        return vals if batched else squeeze(vals, 0)
    table = _position_table([np.asarray(r, dtype=np.int64) for r in offs], n)
    idx = _argmax_to_index(kidx, table)
    return (vals, idx) if batched else (squeeze(vals, 0), squeeze(idx, 0))


def adaptive_max_pool1d(input, output_size, return_indices=False):
    return _adaptive_max("adaptive_max_pool1d", input, 1, output_size, return_indices)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    return _adaptive_max("adaptive_max_pool2d", input, 2, output_size, return_indices)


def adaptive_max_pool3d(input, output_size, return_indices=False):
    return _adaptive_max("adaptive_max_pool3d", input, 3, output_size, return_indices)


# -- power-average pooling ---------------------------------------------------------------

def _lp_pool(nd, input, norm_type, kernel_size, stride, ceil_mode):
    k = _nn._tuple_arg(kernel_size, nd, "kernel_size", f"lp_pool{nd}d", 1)
    avg = {1: avg_pool1d, 2: _avg_pool2d, 3: avg_pool3d}[nd]
    out = avg(_pow(input, norm_type), kernel_size, stride, 0, ceil_mode)
    return _pow(mul(mul(sign(out), _nn.relu(_abs(out))), int(np.prod(k))), 1.0 / norm_type)


def _avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False):
    return _nn.avg_pool2d(input, kernel_size, () if stride is None else stride, padding, ceil_mode)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """(sum over each window of x**p) ** (1/p), as PyTorch computes it (through an average pool)."""
    return _lp_pool(1, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    return _lp_pool(2, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    return _lp_pool(3, input, norm_type, kernel_size, stride, ceil_mode)


# -- max unpooling -----------------------------------------------------------------------

def _unpool_size(opname, x, nd, k, s, p, output_size):
    n = x._shape[-nd:]
    default = tuple((n[i] - 1) * s[i] - 2 * p[i] + k[i] for i in range(nd))
    if output_size is None:
        return default
    size = tuple(output_size)[-nd:] if len(tuple(output_size)) in (nd + 1, nd + 2) else tuple(output_size)
    if len(size) != nd:
        raise InvalidArgumentError(f"{opname}(): output_size must have {nd} (or {nd + 2}) elements, got {output_size!r}")
    for i in range(nd):
        if not default[i] - s[i] < size[i] < default[i] + s[i]:
            raise InvalidArgumentError(f"{opname}(): invalid output_size {size} (dim {i} must be between "
                                       f"{default[i] - s[i] + 1} and {default[i] + s[i] - 1})")
    return size


def _max_unpool(opname, nd, input, indices, kernel_size, stride, padding, output_size):
    k = _nn._tuple_arg(kernel_size, nd, "kernel_size", opname, 1)
    s = _nn._tuple_arg(stride, nd, "stride", opname, 1) if stride not in (None, (), []) else k
    p = _nn._tuple_arg(padding, nd, "padding", opname, 0)
    xb, batched = _batched(opname, input, nd)
    if tuple(indices._shape) != tuple(input._shape):
        raise ShapeError(f"{opname}(): indices of shape {tuple(indices._shape)} must have the input's shape "
                         f"{tuple(input._shape)}")
    size = _unpool_size(opname, xb, nd, k, s, p, output_size)
    ib = indices if batched else unsqueeze(indices, 0)
    N, C = xb._shape[:2]
    total = int(np.prod(size))
    flat_i = reshape(ib, (N, C, -1))
    if flat_i.numel() and (int(flat_i.max().item()) >= total or int(flat_i.min().item()) < 0):
        raise IndexOutOfRangeError(f"{opname}(): found an index outside the output size {size} ({total} positions)")
    res = full((N, C, total), 0, dtype=input._dtype, device=input._device)
    res = reshape(scatter(res, 2, flat_i, reshape(xb, (N, C, -1))), (N, C) + size)
    return res if batched else squeeze(res, 0)


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Places each value at its index in a zero output: the partial inverse of max_pool1d."""
    return _max_unpool("max_unpool1d", 1, input, indices, kernel_size, stride, padding, output_size)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    return _max_unpool("max_unpool2d", 2, input, indices, kernel_size, stride, padding, output_size)


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    return _max_unpool("max_unpool3d", 3, input, indices, kernel_size, stride, padding, output_size)
