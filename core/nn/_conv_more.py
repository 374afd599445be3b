"""conv3d and the transposed convolutions, composed of Ember operators.

conv3d reads its windows through an ``as_strided`` view of the padded input
(im2col in three dims) and multiplies them with the weight. A transposed
convolution is the gradient of a convolution with respect to its input: in one
and two dims it is the conv_transpose2d operator (core/ops/nn.py: a backend may
compute it natively; its decomposition is a matmul and col2im); in three dims,
one matmul of the weight with the input's columns, then an ``index_add`` over
flat positions into the full output, cropped by the padding. Autograd
differentiates conv3d and conv_transpose3d through those operators.
"""

from __future__ import annotations

import builtins as _b

import numpy as np

from .. import dtypes as D
from .._factory import tensor as _tensor
from ..ops import nn as _nn
from ..ops.creation import full
from ..ops.elementwise import add
from ..ops.indexing import index_add
from ..ops.linalg import matmul
from ..ops.views import as_strided, narrow, permute, reshape, squeeze, unsqueeze
from .functional import _conv_padding

_conv3d_meta = _nn._conv_meta_for("conv3d", 3)


def _prod(xs):
    r = 1
    for x in xs:
        r *= x
    return r


def windows_nd(xp, k, d, s, out, order="kl"):
    """A strided view of the windows of a padded (N, C, *spatial) tensor.

    order "kl": (N, C, *K, *O); "lk": (N, C, *O, *K)."""
    xp = xp.contiguous()
    st = xp._strides
    sp = st[2:]
    kst = tuple(d[i] * sp[i] for i in range(len(k)))
    ost = tuple(s[i] * sp[i] for i in range(len(k)))
    if order == "kl":
        return as_strided(xp, xp._shape[:2] + tuple(k) + tuple(out), st[:2] + kst + ost, xp._offset)
    return as_strided(xp, xp._shape[:2] + tuple(out) + tuple(k), st[:2] + ost + kst, xp._offset)


def col2im_nd(cols, full_size, k, d, s, out):
    """The adjoint of windows_nd "kl" with no padding: (N, C*prod(K), prod(O)) summed into (N, C, *full_size)."""
    n = len(k)
    N = cols._shape[0]
    C = cols._shape[1] // _prod(k)
    pos = np.zeros(tuple(k) + tuple(out), dtype=np.int64)
    stride = 1
    for i in reversed(range(n)):
        shape = [1] * (2 * n)
        shape[i], shape[n + i] = k[i], 1
        kk = np.arange(k[i]).reshape(shape) * d[i]
        shape[i], shape[n + i] = 1, out[i]
        oo = np.arange(out[i]).reshape(shape) * s[i]
        pos = pos + (kk + oo) * stride
        stride *= full_size[i]
    idx = _tensor(pos.reshape(-1), dtype=D.int64, device=cols._device)
    res = full((N, C, _prod(full_size)), 0, dtype=cols._dtype, device=cols._device)
    res = index_add(res, 2, idx, reshape(cols, (N, C, -1)))
    return reshape(res, (N, C) + tuple(full_size))


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Cross-correlation over the last three dims, as torch.nn.functional.conv3d."""
    input, padding = _conv_padding("conv3d", input, weight, stride, padding, dilation, 3)
    spec = _conv3d_meta(input, weight, bias, stride, padding, dilation, groups)
    s, p, dl, batched = spec.extra
    x = input if batched else unsqueeze(input, 0)
    if any(p):
        x = _nn.constant_pad_nd(x, (p[2], p[2], p[1], p[1], p[0], p[0]))
    N, C = x._shape[:2]
    O, Cg = weight._shape[:2]
    k = tuple(weight._shape[2:])
    out = tuple(spec.shape[-3:])
    K, L = _prod(k), _prod(out)
    cols = reshape(windows_nd(x, k, dl, s, out), (N, groups, Cg * K, L))
    res = reshape(matmul(reshape(weight, (groups, O // groups, Cg * K)), cols), (N, O) + out)
    if bias is not None:
        res = add(res, reshape(bias, (O, 1, 1, 1)))
    return res if batched else squeeze(res, 0)


_transpose_args = _nn._conv_transpose_args


def _conv_transpose(opname, nd, x, weight, bias, stride, padding, output_padding, groups, dilation):
    s, p, op, dl, size = _transpose_args(opname, nd, x, weight, bias, stride, padding, output_padding, groups,
                                         dilation)
    batched = x.ndim == nd + 2
    if not batched:
        x = unsqueeze(x, 0)
    N, C = x._shape[:2]
    ins = tuple(x._shape[2:])
    Og, k = weight._shape[1], tuple(weight._shape[2:])
    G, K, L = groups, _prod(k), _prod(ins)
    # columns of the output: (G, Og*K, C/G) @ (G, C/G, N*L), one product per group over the whole batch
    xg = reshape(permute(reshape(x, (N, G, C // G, L)), (1, 2, 0, 3)), (G, C // G, N * L))
    wt = reshape(weight, (G, C // G, Og * K)).transpose(1, 2)
    cols = reshape(permute(reshape(matmul(wt, xg), (G, Og * K, N, L)), (2, 0, 1, 3)), (N, G * Og * K, L))
    full_size = tuple((ins[i] - 1) * s[i] + dl[i] * (k[i] - 1) + 1 for i in range(nd))
    res = col2im_nd(cols, full_size, k, dl, s, ins)
    # crop the padding; output_padding may reach past the full size: those positions get only the bias
    extra = []
    for i in range(nd):
        keep = _b.min(size[i], full_size[i] - p[i])
        res = narrow(res, 2 + i, p[i], keep)
        extra.append(size[i] - keep)
    if any(extra):
        pads = []
        for e in reversed(extra):
            pads += [0, e]
        res = _nn.constant_pad_nd(res, pads)
    if bias is not None:
        res = add(res, reshape(bias, (G * Og,) + (1,) * nd))
    return res if batched else squeeze(res, 0)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """The transposed 1-D convolution, computed as a 2-D one with a height of 1."""
    _transpose_args("conv_transpose1d", 1, input, weight, bias, stride, padding, output_padding, groups, dilation)
    t = _nn._tuple_arg
    res = _nn.conv_transpose2d(unsqueeze(input, -2), unsqueeze(weight, -2), bias,
                               (1,) + t(stride, 1, "stride", "conv_transpose1d"),
                               (0,) + t(padding, 1, "padding", "conv_transpose1d"),
                               (0,) + t(output_padding, 1, "output_padding", "conv_transpose1d"), groups,
                               (1,) + t(dilation, 1, "dilation", "conv_transpose1d"))
    return squeeze(res, -2)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """The gradient of conv2d with respect to its input, as torch.nn.functional.conv_transpose2d (the
    conv_transpose2d operator)."""
    return _nn.conv_transpose2d(input, weight, bias, stride, padding, output_padding, groups, dilation)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """The gradient of conv3d with respect to its input, as torch.nn.functional.conv_transpose3d."""
    return _conv_transpose("conv_transpose3d", 3, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)
