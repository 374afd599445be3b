"""Operators: the neural-network family (convolution, pooling, normalization, activations, losses, attention).

Every operator here is a composite: its decomposition is written only with
Ember operators, so every backend (meta included) has it. Windows are read
through ``as_strided`` views of a padded input (im2col) and reduced with
``matmul``/``sum``/``max_dim``; their inverse (col2im) is one ``index_add``.
A backend may register faster kernels (see each op's ``doc`` for the kernel's
arguments): the cpu backend computes conv2d, conv_transpose2d and their
gradients, batch norm (its running statistics included), max pooling and
relu's gradient (threshold_backward) natively.
"""

from __future__ import annotations

import builtins as _b
import math

from .. import dtypes as D
from .._tensor import Tensor
from ..dispatch import defop
from ..errors import DTypeError, IndexOutOfRangeError, ShapeError
from ._helpers import Spec, check_scalar, numel
from .creation import arange, copy_, full
from .._factory import tensor as _tensor
from ._helpers import broadcast_shapes
from .elementwise import (abs, add, eq, erf, exp, floor_divide, gt, le, log, log1p, logical_and, logical_not,
                          logical_or, lt, maximum, mul, ne, neg, rsqrt, sigmoid, sqrt, sub, tanh, true_divide, where)
from .indexing import gather, index_add, index_select, masked_fill, scatter_add
from .linalg import matmul
from .random import check_probabilities, dropout as _dropout
from .reduction import log_softmax, max_dim, mean, softmax, sum, var_mean
from .views import as_strided, expand, movedim, narrow, permute, reshape, squeeze, unsqueeze
from ..errors import ArgumentTypeError, InvalidArgumentError

_int, _float = _b.int, _b.float
_HALF = (D.float16, D.bfloat16)
REDUCTIONS = ("none", "mean", "sum")


# -- argument helpers ----------------------------------------------------------------

def _tuple_arg(v, n, what, opname, minimum=None):
    """An int or a sequence of n ints as a tuple of n ints; the error names the value."""
    if isinstance(v, (list, tuple)):
        if len(v) == 1:
            v = tuple(v) * n
        if len(v) != n:
            raise InvalidArgumentError(f"{opname}(): {what} must be an int or a sequence of {n} ints, got {tuple(v)}")
        out = tuple(v)
    else:
        out = (v,) * n
    for x in out:
        if not isinstance(x, _int) or isinstance(x, bool):
            raise ArgumentTypeError(f"{opname}(): {what} must hold ints, got {x!r} in {out}")
        if minimum is not None and x < minimum:
            raise InvalidArgumentError(f"{opname}(): {what} must be >= {minimum} in every dim, got {out}")
    return out


def _check_float(opname, *ts, what=("input",)):
    for t, w in zip(ts, what):
        if t is not None and not t._dtype.is_floating_point:
            raise DTypeError(f"{opname}(): {w} must have a floating dtype, got {t._dtype.name}; "
                             f"convert it with .float()")


def _same_dtype(opname, x, others):
    for name, t in others:
        if t is not None and t._dtype is not x._dtype:
            raise DTypeError(f"{opname}(): {name} has dtype {t._dtype.name} but the input has {x._dtype.name}; "
                             f"convert one of them with .to(...)")


def _out_size(opname, n, k, s, p, d, ceil_mode=False, what="input"):
    eff = d * (k - 1) + 1
    span = n + 2 * p - eff
    if span < 0:
        raise ShapeError(f"{opname}(): the {what} size {n} (padded by {p} on each side) is smaller than the "
                         f"kernel's extent {eff} (kernel {k}, dilation {d}); use a smaller kernel or more padding")
    o = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (o - 1) * s >= n + p:  # the last window must start inside the input or left padding
        o -= 1
    return o


def _reduction_arg(opname, reduction):
    if reduction not in REDUCTIONS:
        raise InvalidArgumentError(f"{opname}(): reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
    return reduction


def _reduce(loss, reduction):
    if reduction == "mean":
        return mean(loss)
    if reduction == "sum":
        return sum(loss)
    return loss


def _compute_dtype(dt):
    return D.float32 if dt in _HALF else dt


def _checked_adapter(op, kernel, backend):
    """Core checks the arguments with the op's meta function, then the kernel computes (same arguments)."""
    meta = op.meta

    def entry(*args):
        meta(*args)
        return kernel(*args)
    return entry


# -- padding -------------------------------------------------------------------------

def _pad_meta(x, pad, value=0):
    pad = tuple(pad)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise InvalidArgumentError(f"constant_pad_nd(): pad must have an even length of at most 2 * ndim = {2 * x.ndim}, "
                                   f"got {pad} for an input of shape {tuple(x._shape)}")
    shape = list(x._shape)
    for i in range(len(pad) // 2):
        d = x.ndim - 1 - i
        n = shape[d] + pad[2 * i] + pad[2 * i + 1]
        if shape[d] + _b.min(pad[2 * i], 0) + _b.min(pad[2 * i + 1], 0) < 0:  # crops more than the dim holds
            raise ShapeError(f"constant_pad_nd(): padding {pad} crops more than dim {d} of shape {tuple(x._shape)} "
                             f"holds; negative pads may remove at most the whole dim")
        if n < 0:
            raise ShapeError(f"constant_pad_nd(): padding {pad} makes dim {d} of shape {tuple(x._shape)} "
                             f"negative ({n})")
        shape[d] = n
    return Spec(tuple(shape), x._dtype, pad)


def _constant_pad_nd(x, pad, value=0):
    """The result allocated once and filled with value, then x's kept part copied into its place: a pad
    too large for memory fails at that one allocation, before any work (as PyTorch)."""
    spec = _pad_meta(x, pad, value)
    pad = spec.extra
    out = full(spec.shape, value, dtype=x._dtype, device=x._device)
    src, dst = x, out
    for i in range(len(pad) // 2):
        d = x.ndim - 1 - i
        lo, hi = pad[2 * i], pad[2 * i + 1]
        start = _b.min(-lo, src._shape[d]) if lo < 0 else 0  # negative pads crop x
        n = _b.max(src._shape[d] - start + (hi if hi < 0 else 0), 0)
        src = narrow(src, d, start, n)
        dst = narrow(dst, d, lo if lo > 0 else 0, n)
    copy_(dst, src)
    return out


constant_pad_nd = defop("constant_pad_nd(Tensor self, int[] pad, Scalar value=0) -> Tensor", meta=_pad_meta,
                        decomposition=_constant_pad_nd, family="nn",
                        doc="Pads the last dims (pad lists (left, right) pairs from the last dim backwards) "
                            "with value; negative pads crop.")


# -- im2col / col2im -----------------------------------------------------------------

def _window_args(opname, kernel_size, dilation, padding, stride):
    k = _tuple_arg(kernel_size, 2, "kernel_size", opname, 1)
    d = _tuple_arg(dilation, 2, "dilation", opname, 1)
    p = _tuple_arg(padding, 2, "padding", opname, 0)
    s = _tuple_arg(stride, 2, "stride", opname, 1)
    return k, d, p, s


def _im2col_meta(x, kernel_size, dilation=1, padding=0, stride=1):
    k, d, p, s = _window_args("im2col", kernel_size, dilation, padding, stride)
    if x.ndim != 4:
        raise ShapeError(f"im2col(): expected a 4-D input (N, C, H, W), got shape {tuple(x._shape)}")
    N, C, H, W = x._shape
    if 0 in (C, H, W):  # as PyTorch: only the batch may be empty
        raise ShapeError(f"im2col(): expected a 4-D (batch mode) tensor with possibly 0 batch size and other "
                         f"non-zero dimensions for input, but got: {list(x._shape)}")
    oh = _out_size("im2col", H, k[0], s[0], p[0], d[0], what="height")
    ow = _out_size("im2col", W, k[1], s[1], p[1], d[1], what="width")
    return Spec((N, C * k[0] * k[1], oh * ow), x._dtype, (k, d, p, s, oh, ow))


def _windows(xp, k, d, s, oh, ow, order="kl"):
    """A strided view of the windows of a padded (N, C, Hp, Wp) tensor.

    order "kl": (N, C, KH, KW, OH, OW); "lk": (N, C, OH, OW, KH, KW)."""
    xp = xp.contiguous()
    N, C = xp._shape[:2]
    sn, sc, sh, sw = xp._strides
    if order == "kl":
        return as_strided(xp, (N, C, k[0], k[1], oh, ow), (sn, sc, d[0] * sh, d[1] * sw, s[0] * sh, s[1] * sw),
                          xp._offset)
    return as_strided(xp, (N, C, oh, ow, k[0], k[1]), (sn, sc, s[0] * sh, s[1] * sw, d[0] * sh, d[1] * sw),
                      xp._offset)


def _im2col(x, kernel_size, dilation=1, padding=0, stride=1):
    spec = _im2col_meta(x, kernel_size, dilation, padding, stride)
    k, d, p, s, oh, ow = spec.extra
    xp = constant_pad_nd(x, (p[1], p[1], p[0], p[0])) if p != (0, 0) else x
    return reshape(_windows(xp, k, d, s, oh, ow), spec.shape)


def _im2col_adapter(op, kernel, backend):
    def entry(x, kernel_size, dilation=1, padding=0, stride=1):
        spec = _im2col_meta(x, kernel_size, dilation, padding, stride)
        k, d, p, s, oh, ow = spec.extra
        return kernel(x, k, d, p, s, (oh, ow))
    return entry


im2col = defop("im2col(Tensor self, int[] kernel_size, int[] dilation=1, int[] padding=0, int[] stride=1) -> Tensor",
               meta=_im2col_meta, decomposition=_im2col, adapter=_im2col_adapter, family="nn",
               doc="torch's unfold: (N, C, H, W) -> (N, C*KH*KW, L), columns ordered (C, KH, KW). "
                   "kernel(x, k, d, p, s, (OH, OW)) -> Tensor: all pairs normalized and checked.")


def _col2im_meta(x, output_size, kernel_size, dilation=1, padding=0, stride=1):
    k, d, p, s = _window_args("col2im", kernel_size, dilation, padding, stride)
    H, W = _tuple_arg(output_size, 2, "output_size", "col2im", 0)
    if x.ndim != 3:
        raise ShapeError(f"col2im(): expected a 3-D input (N, C*KH*KW, L), got shape {tuple(x._shape)}")
    N, CK, L = x._shape
    if CK % (k[0] * k[1]):
        raise ShapeError(f"col2im(): dim 1 of the input ({CK}) must be divisible by the kernel's "
                         f"{k[0]}*{k[1]} = {k[0] * k[1]} positions")
    oh = _out_size("col2im", H, k[0], s[0], p[0], d[0], what="height")
    ow = _out_size("col2im", W, k[1], s[1], p[1], d[1], what="width")
    if oh * ow != L:
        raise ShapeError(f"col2im(): the input has {L} columns but output_size {(H, W)} with kernel {k}, "
                         f"dilation {d}, padding {p}, stride {s} gives {oh}*{ow} = {oh * ow} windows")
    return Spec((N, CK // (k[0] * k[1]), H, W), x._dtype, (k, d, p, s, oh, ow, H, W))


def _col_index(k, d, s, oh, ow, wp, device):
    """Flat positions in a padded (Hp, Wp) plane of every (kh, kw, oh, ow) window element."""
    hi = add(mul(arange(k[0], device=device), d[0]).unsqueeze(1), mul(arange(oh, device=device), s[0]))
    wi = add(mul(arange(k[1], device=device), d[1]).unsqueeze(1), mul(arange(ow, device=device), s[1]))
    idx = add(mul(reshape(hi, (k[0], 1, oh, 1)), wp), reshape(wi, (1, k[1], 1, ow)))
    return reshape(idx, (-1,))


def _col2im(x, output_size, kernel_size, dilation=1, padding=0, stride=1):
    spec = _col2im_meta(x, output_size, kernel_size, dilation, padding, stride)
    k, d, p, s, oh, ow, H, W = spec.extra
    N, C = spec.shape[:2]
    hp = _b.max(H + 2 * p[0], (oh - 1) * s[0] + d[0] * (k[0] - 1) + 1)
    wp = _b.max(W + 2 * p[1], (ow - 1) * s[1] + d[1] * (k[1] - 1) + 1)
    idx = _col_index(k, d, s, oh, ow, wp, x._device)
    # overlapping windows are summed: float16/bfloat16 accumulate in float32 and round once, as PyTorch does
    dt = x._dtype
    ct = _compute_dtype(dt)
    out = full((N, C, hp * wp), 0, dtype=ct, device=x._device)
    out = index_add(out, 2, idx, reshape(x if ct is dt else x.to(ct), (N, C, -1)))
    out = reshape(out, (N, C, hp, wp))
    out = narrow(narrow(out, 2, p[0], H), 3, p[1], W)
    return out if ct is dt else out.to(dt)


def _col2im_adapter(op, kernel, backend):
    def entry(x, output_size, kernel_size, dilation=1, padding=0, stride=1):
        spec = _col2im_meta(x, output_size, kernel_size, dilation, padding, stride)
        k, d, p, s, oh, ow, H, W = spec.extra
        return kernel(x, (H, W), k, d, p, s, (oh, ow))
    return entry


col2im = defop("col2im(Tensor self, int[] output_size, int[] kernel_size, int[] dilation=1, int[] padding=0, "
               "int[] stride=1) -> Tensor",
               meta=_col2im_meta, decomposition=_col2im, adapter=_col2im_adapter, family="nn",
               doc="torch's fold, the adjoint of im2col: sums overlapping window elements. "
                   "kernel(x, (H, W), k, d, p, s, (OH, OW)) -> (N, C, H, W) Tensor.")


# -- convolution ---------------------------------------------------------------------

def _check_conv_operands(opname, nd, x, weight, bias, groups, weight_layout):
    """The checks every convolution makes of its operands: tensors of one floating dtype, a weight of nd + 2
    dims (``weight_layout`` names them), a batched or unbatched input, a positive int groups."""
    if not isinstance(x, Tensor) or not isinstance(weight, Tensor):
        raise ArgumentTypeError(f"{opname}(): input and weight must be tensors")
    _check_float(opname, x, weight, bias, what=("input", "weight", "bias"))
    _same_dtype(opname, x, (("weight", weight), ("bias", bias)))
    if weight.ndim != nd + 2:
        raise ShapeError(f"{opname}(): weight must be {nd + 2}-D ({weight_layout}), got shape {tuple(weight._shape)}")
    if x.ndim not in (nd + 1, nd + 2):
        raise ShapeError(f"{opname}(): expected a {nd + 1}-D (unbatched) or {nd + 2}-D (batched) input, "
                         f"got shape {tuple(x._shape)}")
    if not isinstance(groups, _int) or groups < 1:
        raise InvalidArgumentError(f"{opname}(): groups must be a positive int, got {groups!r}")


def _conv_meta_for(opname, nd):
    def meta(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        s = _tuple_arg(stride, nd, "stride", opname, 1)
        p = _tuple_arg(padding, nd, "padding", opname, 0)
        dl = _tuple_arg(dilation, nd, "dilation", opname, 1)
        _check_conv_operands(opname, nd, x, weight, bias, groups,
                             f"out_channels, in_channels/groups, {'kW' if nd == 1 else 'kH, kW'}")
        batched = x.ndim == nd + 2
        xs = x._shape if batched else (1,) + x._shape
        O, Cg = weight._shape[:2]
        C = xs[1]
        if C != Cg * groups:
            raise ShapeError(f"{opname}(): input of shape {tuple(x._shape)} has {C} channels, but weight of "
                             f"shape {tuple(weight._shape)} with groups={groups} expects {Cg * groups} "
                             f"(= in_channels/groups {Cg} * groups {groups})")
        if O % groups:
            raise ShapeError(f"{opname}(): out_channels {O} (weight shape {tuple(weight._shape)}) must be "
                             f"divisible by groups={groups}")
        if bias is not None and tuple(bias._shape) != (O,):
            raise ShapeError(f"{opname}(): bias must have shape ({O},) to match weight {tuple(weight._shape)}, "
                             f"got {tuple(bias._shape)}")
        out = tuple(_out_size(opname, xs[2 + i], weight._shape[2 + i], s[i], p[i], dl[i],
                              what=("depth", "height", "width")[3 - nd + i]) for i in range(nd))
        shape = (xs[0], O) + out
        return Spec(shape if batched else shape[1:], x._dtype, (s, p, dl, batched))
    return meta


_conv2d_meta = _conv_meta_for("conv2d", 2)
_conv1d_meta = _conv_meta_for("conv1d", 1)


def _conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    spec = _conv2d_meta(x, weight, bias, stride, padding, dilation, groups)
    s, p, dl, batched = spec.extra
    if not batched:
        x = unsqueeze(x, 0)
    N = x._shape[0]
    O, Cg, KH, KW = weight._shape
    oh, ow = spec.shape[-2:]
    cols = im2col(x, (KH, KW), dl, p, s)  # (N, C*KH*KW, L)
    if groups == 1:
        out = matmul(reshape(weight, (O, Cg * KH * KW)), cols)
    else:
        cols = reshape(cols, (N, groups, Cg * KH * KW, oh * ow))
        out = matmul(reshape(weight, (groups, O // groups, Cg * KH * KW)), cols)
    out = reshape(out, (N, O, oh, ow))
    if bias is not None:
        out = add(out, reshape(bias, (O, 1, 1)))
    return out if batched else squeeze(out, 0)


def _conv_adapter(meta):
    def adapter(op, kernel, backend):
        def entry(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
            s, p, dl, batched = meta(x, weight, bias, stride, padding, dilation, groups).extra
            if not batched:
                return squeeze(kernel(unsqueeze(x, 0), weight, bias, s, p, dl, groups), 0)
            return kernel(x, weight, bias, s, p, dl, groups)
        return entry
    return adapter


_CONV_DOC = ("Cross-correlation as in torch.nn.functional.{name}; an unbatched input drops the batch dim. "
             "kernel(x, weight, bias, stride, padding, dilation, groups) -> Tensor: x batched, pairs normalized "
             "to tuples, shapes and dtypes (floating, all one dtype) checked.")

conv2d = defop("conv2d(Tensor input, Tensor weight, Tensor? bias=None, int[] stride=1, int[] padding=0, "
               "int[] dilation=1, int groups=1) -> Tensor", meta=_conv2d_meta, decomposition=_conv2d,
               adapter=_conv_adapter(_conv2d_meta), family="nn", doc=_CONV_DOC.format(name="conv2d"))


def _conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    spec = _conv1d_meta(x, weight, bias, stride, padding, dilation, groups)
    s, p, dl, batched = spec.extra
    out = conv2d(unsqueeze(x, -2), unsqueeze(weight, -2), bias, (1,) + s, (0,) + p, (1,) + dl, groups)
    return squeeze(out, -2)


conv1d = defop("conv1d(Tensor input, Tensor weight, Tensor? bias=None, int[] stride=1, int[] padding=0, "
               "int[] dilation=1, int groups=1) -> Tensor", meta=_conv1d_meta, decomposition=_conv1d,
               family="nn", doc="Cross-correlation over the last dim, through conv2d with a height of 1.")


def conv2d_input_grad(grad, input_shape, weight, stride, padding, dilation, groups):
    """The gradient of conv2d with respect to its (batched) input, in Ember operators.

    One product per group over the whole batch: (Cg*K, O/G) @ (O/G, N*L), then col2im."""
    N, C, H, W = input_shape
    O, Cg, KH, KW = weight._shape
    G, K = groups, KH * KW
    L = grad._shape[2] * grad._shape[3]
    g = reshape(permute(reshape(grad, (N, G, O // G, L)), (1, 2, 0, 3)), (G, O // G, N * L))
    wt = reshape(weight, (G, O // G, Cg * K)).transpose(1, 2)             # (G, Cg*K, O/G)
    cols = matmul(wt, g)                                                   # (G, Cg*K, N*L)
    cols = reshape(permute(reshape(cols, (G, Cg * K, N, L)), (2, 0, 1, 3)), (N, C * K, L))
    return col2im(cols, (H, W), (KH, KW), dilation, padding, stride)


def conv2d_weight_grad(grad, input, weight_shape, stride, padding, dilation, groups):
    """The gradient of conv2d with respect to its weight, in Ember operators.

    One product per group over the whole batch: (O/G, N*L) @ (N*L, Cg*K)."""
    O, Cg, KH, KW = weight_shape
    N = input._shape[0]
    G, K = groups, KH * KW
    L = grad._shape[2] * grad._shape[3]
    cols = im2col(input, (KH, KW), dilation, padding, stride)             # (N, C*K, L)
    cols = reshape(permute(reshape(cols, (N, G, Cg * K, L)), (1, 0, 3, 2)), (G, N * L, Cg * K))
    g = reshape(permute(reshape(grad, (N, G, O // G, L)), (1, 2, 0, 3)), (G, O // G, N * L))
    return reshape(matmul(g, cols), weight_shape)


def _conv2d_backward_meta(grad, input, weight, stride=1, padding=0, dilation=1, groups=1):
    spec = _conv2d_meta(input, weight, None, stride, padding, dilation, groups)
    s, p, dl, batched = spec.extra
    if not batched:
        raise ShapeError(f"conv2d_backward(): expected a batched (4-D) input, got shape {tuple(input._shape)}")
    if tuple(grad._shape) != tuple(spec.shape):
        raise ShapeError(f"conv2d_backward(): grad_output has shape {tuple(grad._shape)} but the convolution's "
                         f"output has shape {tuple(spec.shape)}")
    return (Spec(input._shape, input._dtype), Spec(weight._shape, weight._dtype),
            Spec((weight._shape[0],), weight._dtype, (s, p, dl)))


def _conv2d_backward(grad, input, weight, stride=1, padding=0, dilation=1, groups=1):
    s, p, dl = _conv2d_backward_meta(grad, input, weight, stride, padding, dilation, groups)[2].extra
    dt = input._dtype
    ct = _compute_dtype(dt)
    if ct is not dt:
        # float16/bfloat16: every product and sum (col2im's overlaps, the batch sums) in float32, each
        # gradient rounded once, as PyTorch does
        r = _conv2d_backward(grad.to(ct), input.to(ct), weight.to(ct), s, p, dl, groups)
        return tuple(g.to(dt) for g in r)
    return (conv2d_input_grad(grad, input._shape, weight, s, p, dl, groups),
            conv2d_weight_grad(grad, input, weight._shape, s, p, dl, groups), sum(grad, (0, 2, 3)))


def _conv2d_backward_adapter(op, kernel, backend):
    def entry(grad, input, weight, stride=1, padding=0, dilation=1, groups=1):
        s, p, dl = _conv2d_backward_meta(grad, input, weight, stride, padding, dilation, groups)[2].extra
        return kernel(grad, input, weight, s, p, dl, groups)
    return entry


conv2d_backward = defop("conv2d_backward(Tensor grad_output, Tensor input, Tensor weight, int[] stride=1, "
                        "int[] padding=0, int[] dilation=1, int groups=1) -> (Tensor, Tensor, Tensor)",
                        meta=_conv2d_backward_meta, decomposition=_conv2d_backward,
                        adapter=_conv2d_backward_adapter, family="nn",
                        doc="(grad_input, grad_weight, grad_bias) of a batched conv2d. kernel(grad, input, weight, "
                            "stride, padding, dilation, groups) with the pairs normalized to tuples.")


# -- transposed convolution ----------------------------------------------------------

def _conv_transpose_args(opname, nd, x, weight, bias, stride, padding, output_padding, groups, dilation):
    """The checked (stride, padding, output_padding, dilation) tuples and the output's spatial size of an
    nd-dimensional transposed convolution (weight (in_channels, out_channels/groups, *kernel))."""
    s = _tuple_arg(stride, nd, "stride", opname, 1)
    p = _tuple_arg(padding, nd, "padding", opname, 0)
    op = _tuple_arg(output_padding, nd, "output_padding", opname, 0)
    dl = _tuple_arg(dilation, nd, "dilation", opname, 1)
    _check_conv_operands(opname, nd, x, weight, bias, groups, "in_channels, out_channels/groups, *kernel")
    C = x._shape[-nd - 1]
    if C != weight._shape[0] or C % groups:
        raise ShapeError(f"{opname}(): input of shape {tuple(x._shape)} has {C} channels, but weight of shape "
                         f"{tuple(weight._shape)} expects {weight._shape[0]} (divisible by groups={groups})")
    O = weight._shape[1] * groups
    if bias is not None and tuple(bias._shape) != (O,):
        raise ShapeError(f"{opname}(): bias must have shape ({O},), got {tuple(bias._shape)}")
    for i in range(nd):
        if op[i] >= s[i] and op[i] >= dl[i]:
            raise InvalidArgumentError(f"{opname}(): output_padding {op} must be smaller than either stride {s} or "
                                       f"dilation {dl} in every dim")
    size = tuple((x._shape[-nd + i] - 1) * s[i] - 2 * p[i] + dl[i] * (weight._shape[2 + i] - 1) + op[i] + 1
                 for i in range(nd))
    if any(v <= 0 for v in size):
        raise ShapeError(f"{opname}(): the output size {size} computed from input shape {tuple(x._shape)}, "
                         f"kernel {tuple(weight._shape[2:])}, stride {s}, padding {p}, output_padding {op}, "
                         f"dilation {dl} is not positive")
    return s, p, op, dl, size


def _conv_transpose2d_meta(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    s, p, op, dl, size = _conv_transpose_args("conv_transpose2d", 2, x, weight, bias, stride, padding,
                                              output_padding, groups, dilation)
    batched = x.ndim == 4
    shape = ((x._shape[0],) if batched else ()) + (weight._shape[1] * groups,) + size
    return Spec(shape, x._dtype, (s, p, op, dl, batched))


def _conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    spec = _conv_transpose2d_meta(x, weight, bias, stride, padding, output_padding, groups, dilation)
    s, p, op, dl, batched = spec.extra
    size = spec.shape[-2:]
    if not batched:
        x = unsqueeze(x, 0)
    N, C, H, W = x._shape
    Og, KH, KW = weight._shape[1:]
    G, K, L = groups, KH * KW, H * W
    # columns of the output: (G, Og*K, C/G) @ (G, C/G, N*L), one product per group over the whole batch
    xg = reshape(permute(reshape(x, (N, G, C // G, L)), (1, 2, 0, 3)), (G, C // G, N * L))
    wt = reshape(weight, (G, C // G, Og * K)).transpose(1, 2)
    cols = reshape(permute(reshape(matmul(wt, xg), (G, Og * K, N, L)), (2, 0, 1, 3)), (N, G * Og * K, L))
    full_size = ((H - 1) * s[0] + dl[0] * (KH - 1) + 1, (W - 1) * s[1] + dl[1] * (KW - 1) + 1)
    res = col2im(cols, full_size, (KH, KW), dl, 0, s)
    # crop the padding; output_padding may reach past the full size: those positions get only the bias
    extra = []
    for i in range(2):
        keep = _b.min(size[i], full_size[i] - p[i])
        res = narrow(res, 2 + i, p[i], keep)
        extra.append(size[i] - keep)
    if any(extra):
        res = constant_pad_nd(res, (0, extra[1], 0, extra[0]))
    if bias is not None:
        res = add(res, reshape(bias, (G * Og, 1, 1)))
    return res if batched else squeeze(res, 0)


def _conv_transpose2d_adapter(op, kernel, backend):
    def entry(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
        s, p, opad, dl, batched = _conv_transpose2d_meta(x, weight, bias, stride, padding, output_padding, groups,
                                                         dilation).extra
        if not batched:
            return squeeze(kernel(unsqueeze(x, 0), weight, bias, s, p, opad, dl, groups), 0)
        return kernel(x, weight, bias, s, p, opad, dl, groups)
    return entry


conv_transpose2d = defop(
    "conv_transpose2d(Tensor input, Tensor weight, Tensor? bias=None, int[] stride=1, int[] padding=0, "
    "int[] output_padding=0, int groups=1, int[] dilation=1) -> Tensor",
    meta=_conv_transpose2d_meta, decomposition=_conv_transpose2d, adapter=_conv_transpose2d_adapter, family="nn",
    doc="The transposed 2-D convolution (the gradient of conv2d with respect to its input), as "
        "torch.nn.functional.conv_transpose2d; weight is (in_channels, out_channels/groups, KH, KW); an unbatched "
        "input drops the batch dim; output_padding adds rows and columns that get only the bias. "
        "kernel(x, weight, bias, stride, padding, output_padding, dilation, groups) -> Tensor: x batched, pairs "
        "normalized to tuples, shapes and dtypes (floating, all one dtype) checked.")


def _conv_transpose2d_backward_meta(grad, input, weight, stride=1, padding=0, output_padding=0, groups=1,
                                    dilation=1):
    spec = _conv_transpose2d_meta(input, weight, None, stride, padding, output_padding, groups, dilation)
    s, p, op, dl, batched = spec.extra
    if not batched:
        raise ShapeError(f"conv_transpose2d_backward(): expected a batched (4-D) input, got shape "
                         f"{tuple(input._shape)}")
    if not isinstance(grad, Tensor) or tuple(grad._shape) != tuple(spec.shape):
        got = tuple(grad._shape) if isinstance(grad, Tensor) else type(grad).__name__
        raise ShapeError(f"conv_transpose2d_backward(): grad_output has shape {got} but the transposed "
                         f"convolution's output has shape {tuple(spec.shape)}")
    return (Spec(input._shape, input._dtype), Spec(weight._shape, weight._dtype),
            Spec((spec.shape[1],), weight._dtype, (s, p, op, dl)))


def _conv_transpose2d_backward(grad, input, weight, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """The input gradient is conv2d(grad, weight); the weight gradient is conv2d's weight gradient with grad as
    the convolution's input and input as its output's gradient."""
    s, p, op, dl = _conv_transpose2d_backward_meta(grad, input, weight, stride, padding, output_padding, groups,
                                                   dilation)[2].extra
    dt = input._dtype
    ct = _compute_dtype(dt)
    if ct is not dt:  # float16/bfloat16: computed in float32, each gradient rounded once
        r = _conv_transpose2d_backward(grad.to(ct), input.to(ct), weight.to(ct), s, p, op, groups, dl)
        return tuple(g.to(dt) for g in r)
    H, W = input._shape[2:]
    gi = conv2d(grad, weight, None, s, p, dl, groups)
    # an output_padding of at least the stride (allowed below the dilation) leaves rows and columns past the
    # last window: conv2d sees more outputs than the input has, and the input's gradient there is 0
    oh, ow = gi._shape[2:]
    x = input
    if (oh, ow) != (H, W):
        gi = narrow(narrow(gi, 2, 0, H), 3, 0, W)
        x = constant_pad_nd(input, (0, ow - W, 0, oh - H))
    gw = conv2d_weight_grad(x, grad, weight._shape, s, p, dl, groups)
    return gi, gw, sum(grad, (0, 2, 3))


def _conv_transpose2d_backward_adapter(op, kernel, backend):
    def entry(grad, input, weight, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
        s, p, opad, dl = _conv_transpose2d_backward_meta(grad, input, weight, stride, padding, output_padding,
                                                         groups, dilation)[2].extra
        return kernel(grad, input, weight, s, p, opad, dl, groups)
    return entry


conv_transpose2d_backward = defop(
    "conv_transpose2d_backward(Tensor grad_output, Tensor input, Tensor weight, int[] stride=1, int[] padding=0, "
    "int[] output_padding=0, int groups=1, int[] dilation=1) -> (Tensor, Tensor, Tensor)",
    meta=_conv_transpose2d_backward_meta, decomposition=_conv_transpose2d_backward,
    adapter=_conv_transpose2d_backward_adapter, family="nn",
    doc="(grad_input, grad_weight, grad_bias) of a batched conv_transpose2d: grad_input is conv2d(grad_output, "
        "weight) and grad_weight conv2d's weight gradient with the two swapped. kernel(grad, input, weight, "
        "stride, padding, output_padding, dilation, groups) with the pairs normalized to tuples.")


# -- pooling -------------------------------------------------------------------------

def _pool_args(opname, x, kernel_size, stride, padding, dilation, ceil_mode):
    k = _tuple_arg(kernel_size, 2, "kernel_size", opname, 1)
    s = _tuple_arg(stride, 2, "stride", opname, 1) if stride not in (None, (), []) else k
    p = _tuple_arg(padding, 2, "padding", opname, 0)
    d = _tuple_arg(dilation, 2, "dilation", opname, 1)
    for i in range(2):
        if p[i] * 2 > k[i]:
            raise InvalidArgumentError(f"{opname}(): padding {p} must be at most half of kernel_size {k}")
    if x.ndim not in (3, 4):
        raise ShapeError(f"{opname}(): expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape "
                         f"{tuple(x._shape)}")
    H, W = x._shape[-2:]
    oh = _out_size(opname, H, k[0], s[0], p[0], d[0], ceil_mode, "height")
    ow = _out_size(opname, W, k[1], s[1], p[1], d[1], ceil_mode, "width")
    return k, s, p, d, oh, ow


def _pool_pad(x, k, s, p, d, oh, ow, value):
    """Pad a 4-D input so that every window (ceil_mode included) lies inside it."""
    H, W = x._shape[-2:]
    eh = _b.max(0, (oh - 1) * s[0] + d[0] * (k[0] - 1) + 1 - (H + 2 * p[0]))
    ew = _b.max(0, (ow - 1) * s[1] + d[1] * (k[1] - 1) + 1 - (W + 2 * p[1]))
    if p == (0, 0) and eh == 0 and ew == 0:
        return x
    return constant_pad_nd(x, (p[1], p[1] + ew, p[0], p[0] + eh), value)


def _maxpool_meta(x, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    k, s, p, d, oh, ow = _pool_args("max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode)
    if x._dtype is D.bool:
        raise DTypeError("max_pool2d(): bool input is not supported; convert it with .float()")
    shape = x._shape[:-2] + (oh, ow)
    return (Spec(shape, x._dtype, (k, s, p, d, oh, ow)), Spec(shape, D.int64))


_LOWEST = {D.uint8: 0, D.int8: -2 ** 7, D.int16: -2 ** 15, D.int32: -2 ** 31, D.int64: -2 ** 63}


def _lowest(dt):
    return -math.inf if dt.is_floating_point else _LOWEST[dt]


def _max_pool2d_with_indices(x, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    k, s, p, d, oh, ow = _maxpool_meta(x, kernel_size, stride, padding, dilation, ceil_mode)[0].extra
    batched = x.ndim == 4
    x4 = x if batched else unsqueeze(x, 0)
    N, C, H, W = x4._shape
    xp = _pool_pad(x4, k, s, p, d, oh, ow, _lowest(x._dtype))
    win = reshape(_windows(xp, k, d, s, oh, ow, "lk"), (N, C, oh, ow, k[0] * k[1]))
    vals, kidx = max_dim(win, -1)
    # window position -> flat index into the unpadded H*W plane, as PyTorch reports it
    kh = floor_divide(kidx, k[1])
    kw = sub(kidx, mul(kh, k[1]))
    h = add(mul(kh, d[0]), reshape(sub(mul(arange(oh, device=x._device), s[0]), p[0]), (oh, 1)))
    w = add(mul(kw, d[1]), sub(mul(arange(ow, device=x._device), s[1]), p[1]))
    idx = add(mul(h, W), w)
    if not batched:
        vals, idx = squeeze(vals, 0), squeeze(idx, 0)
    return vals, idx


def _maxpool_adapter(op, kernel, backend):
    def entry(x, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
        k, s, p, d, oh, ow = _maxpool_meta(x, kernel_size, stride, padding, dilation, ceil_mode)[0].extra
        if x.ndim == 3:
            v, i = kernel(unsqueeze(x, 0), k, s, p, d, (oh, ow))
            return squeeze(v, 0), squeeze(i, 0)
        return kernel(x, k, s, p, d, (oh, ow))
    return entry


max_pool2d_with_indices = defop(
    "max_pool2d_with_indices(Tensor self, int[] kernel_size, int[] stride=(), int[] padding=0, int[] dilation=1, "
    "bool ceil_mode=False) -> (Tensor, Tensor)",
    meta=_maxpool_meta, decomposition=_max_pool2d_with_indices, adapter=_maxpool_adapter, family="nn",
    doc="(values, indices): indices are flat positions in each input H*W plane (first maximum wins; NaN "
        "propagates). kernel(x, k, s, p, d, (OH, OW)) -> (values, int64 indices); x is 4-D.")


def _maxpool_values_meta(x, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    return _maxpool_meta(x, kernel_size, stride, padding, dilation, ceil_mode)[0]


def _max_pool2d(x, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    return max_pool2d_with_indices(x, kernel_size, stride, padding, dilation, ceil_mode)[0]


max_pool2d = defop("max_pool2d(Tensor self, int[] kernel_size, int[] stride=(), int[] padding=0, "
                   "int[] dilation=1, bool ceil_mode=False) -> Tensor",
                   meta=_maxpool_values_meta, decomposition=_max_pool2d, family="nn",
                   doc="The values of max_pool2d_with_indices.")


def max_pool2d_backward(grad, x_shape, indices):
    """Scatter-add the gradient of max_pool2d to the positions its indices name."""
    H, W = x_shape[-2:]
    lead = x_shape[:-2]
    g = reshape(grad, lead + (-1,))
    i = reshape(indices, lead + (-1,))
    out = full(lead + (H * W,), 0, dtype=grad._dtype, device=grad._device)
    return reshape(scatter_add(out, -1, i, g), x_shape)


def _avgpool_meta(x, kernel_size, stride=(), padding=0, ceil_mode=False, count_include_pad=True,
                  divisor_override=None):
    k, s, p, d, oh, ow = _pool_args("avg_pool2d", x, kernel_size, stride, padding, 1, ceil_mode)
    _check_float("avg_pool2d", x)
    if divisor_override is not None and (not isinstance(divisor_override, _int) or divisor_override == 0):
        raise InvalidArgumentError(f"avg_pool2d(): divisor_override must be a non-zero int, got {divisor_override!r}")
    return Spec(x._shape[:-2] + (oh, ow), x._dtype, (k, s, p, oh, ow))


def _avg_divisor(H, W, k, s, p, oh, ow, count_include_pad, divisor_override):
    """PyTorch's per-window divisor, as a nested list (it depends only on shapes)."""
    if divisor_override is not None:
        return None
    rows = []
    for i in range(oh):
        hs = i * s[0] - p[0]
        he = _b.min(hs + k[0], H + p[0])
        ph = he - hs
        hs, he = _b.max(hs, 0), _b.min(he, H)
        row = []
        for j in range(ow):
            ws = j * s[1] - p[1]
            we = _b.min(ws + k[1], W + p[1])
            pw = we - ws
            ws, we = _b.max(ws, 0), _b.min(we, W)
            row.append(ph * pw if count_include_pad else (he - hs) * (we - ws))
        rows.append(row)
    return rows


def _avg_pool2d(x, kernel_size, stride=(), padding=0, ceil_mode=False, count_include_pad=True,
                divisor_override=None):
    spec = _avgpool_meta(x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
    k, s, p, oh, ow = spec.extra
    batched = x.ndim == 4
    x4 = x if batched else unsqueeze(x, 0)
    H, W = x4._shape[-2:]
    ct = _compute_dtype(x._dtype)
    xp = _pool_pad(x4.to(ct), k, s, p, (1, 1), oh, ow, 0)
    total = sum(_windows(xp, k, (1, 1), s, oh, ow, "lk"), (4, 5))
    div = _avg_divisor(H, W, k, s, p, oh, ow, count_include_pad, divisor_override)
    if div is None:
        out = true_divide(total, divisor_override)
    else:
        out = true_divide(total, _tensor(div, dtype=ct, device=x._device))
    out = out.to(x._dtype)
    return out if batched else squeeze(out, 0)


avg_pool2d = defop("avg_pool2d(Tensor self, int[] kernel_size, int[] stride=(), int[] padding=0, "
                   "bool ceil_mode=False, bool count_include_pad=True, int? divisor_override=None) -> Tensor",
                   meta=_avgpool_meta, decomposition=_avg_pool2d, family="nn",
                   doc="Mean over each window, with PyTorch's divisor rules for padding and ceil_mode.")


def avg_pool2d_backward(grad, x_shape, kernel_size, stride, padding, ceil_mode, count_include_pad,
                        divisor_override):
    """The gradient of avg_pool2d, in Ember operators (col2im of the divided gradient)."""
    k = _tuple_arg(kernel_size, 2, "kernel_size", "avg_pool2d")
    s = _tuple_arg(stride, 2, "stride", "avg_pool2d") if stride not in (None, (), []) else k
    p = _tuple_arg(padding, 2, "padding", "avg_pool2d")
    batched = len(x_shape) == 4
    g = grad if batched else unsqueeze(grad, 0)
    N, C, oh, ow = g._shape
    H, W = x_shape[-2:]
    div = _avg_divisor(H, W, k, s, p, oh, ow, count_include_pad, divisor_override)
    if div is None:
        g = true_divide(g, divisor_override)
    else:
        g = true_divide(g, _tensor(div, dtype=g._dtype, device=g._device))
    cols = reshape(expand(reshape(g, (N, C, 1, 1, oh, ow)), (N, C, k[0], k[1], oh, ow)),
                   (N, C * k[0] * k[1], oh * ow))
    # col2im over the padded plane (ceil_mode may pad past H + 2p), then crop the padding
    hp = _b.max(H + 2 * p[0], (oh - 1) * s[0] + k[0])
    wp = _b.max(W + 2 * p[1], (ow - 1) * s[1] + k[1])
    out = narrow(narrow(col2im(cols, (hp, wp), k, 1, 0, s), 2, p[0], H), 3, p[1], W)
    return out if batched else squeeze(out, 0)


def _adaptive_meta(x, output_size):
    if x.ndim not in (3, 4):
        raise ShapeError(f"adaptive_avg_pool2d(): expected a 3-D or 4-D input, got shape {tuple(x._shape)}")
    _check_float("adaptive_avg_pool2d", x)
    H, W = x._shape[-2:]
    os_ = output_size if isinstance(output_size, (list, tuple)) else (output_size, output_size)
    if len(os_) != 2:
        raise InvalidArgumentError(f"adaptive_avg_pool2d(): output_size must be an int or a pair, got {output_size!r}")
    oh = H if os_[0] is None else os_[0]
    ow = W if os_[1] is None else os_[1]
    if oh < 0 or ow < 0 or (0 in (oh, ow) and x.numel()):
        raise InvalidArgumentError(f"adaptive_avg_pool2d(): output_size must be positive, got {(oh, ow)}")
    return Spec(x._shape[:-2] + (oh, ow), x._dtype, (oh, ow))


def _adaptive_matrix(n, o, dt, device):
    """(o, n): row i averages input positions floor(i*n/o) .. ceil((i+1)*n/o)."""
    rows = []
    for i in range(o):
        a, b = (i * n) // o, -(-((i + 1) * n) // o)
        rows.append([1.0 / (b - a) if a <= j < b else 0.0 for j in range(n)])
    return _tensor(rows, dtype=dt, device=device)


def _adaptive_avg_pool2d(x, output_size):
    oh, ow = _adaptive_meta(x, output_size).extra
    H, W = x._shape[-2:]
    ct = _compute_dtype(x._dtype)
    xc = x.to(ct)
    out = matmul(matmul(_adaptive_matrix(H, oh, ct, x._device), xc),
                 _adaptive_matrix(W, ow, ct, x._device).t())
    return out.to(x._dtype)


adaptive_avg_pool2d = defop("adaptive_avg_pool2d(Tensor self, int[] output_size) -> Tensor",
                            meta=_adaptive_meta, decomposition=_adaptive_avg_pool2d, family="nn",
                            doc="PyTorch's adaptive windows, as two averaging matrices: P_h @ x @ P_w^T.")


# -- normalization -------------------------------------------------------------------

def _layer_norm_meta(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    ns = tuple(normalized_shape) if isinstance(normalized_shape, (list, tuple)) else (normalized_shape,)
    _check_float("layer_norm", x)
    if not ns or tuple(x._shape[-len(ns):]) != ns or len(ns) > x.ndim:
        raise ShapeError(f"layer_norm(): normalized_shape {ns} must match the last dims of the input's shape "
                         f"{tuple(x._shape)}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t._shape) != ns:
            raise ShapeError(f"layer_norm(): {name} must have shape {ns} (normalized_shape), got {tuple(t._shape)}")
    return Spec(x._shape, x._dtype, tuple(range(x.ndim - len(ns), x.ndim)))


def _layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    dims = _layer_norm_meta(x, normalized_shape, weight, bias, eps).extra
    xc = x.to(_compute_dtype(x._dtype))
    m = mean(xc, dims, True)
    xm = sub(xc, m)
    v = mean(mul(xm, xm), dims, True)
    out = mul(xm, rsqrt(add(v, eps)))
    if weight is not None:
        out = mul(out, weight)
    if bias is not None:
        out = add(out, bias)
    return out.to(x._dtype)


layer_norm = defop("layer_norm(Tensor input, int[] normalized_shape, Tensor? weight=None, Tensor? bias=None, "
                   "float eps=1e-05) -> Tensor", meta=_layer_norm_meta, decomposition=_layer_norm, family="nn",
                   doc="(x - mean) / sqrt(var + eps) * weight + bias over the last len(normalized_shape) dims "
                       "(biased variance).")


def _group_norm_meta(x, num_groups, weight=None, bias=None, eps=1e-5):
    _check_float("group_norm", x)
    if x.ndim < 2:
        raise ShapeError(f"group_norm(): expected an input of at least 2 dims (N, C, ...), got shape "
                         f"{tuple(x._shape)}")
    C = x._shape[1]
    if not isinstance(num_groups, _int) or num_groups < 1 or C % num_groups:
        raise ShapeError(f"group_norm(): the {C} channels of input shape {tuple(x._shape)} must be divisible "
                         f"by num_groups={num_groups!r}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t._shape) != (C,):
            raise ShapeError(f"group_norm(): {name} must have shape ({C},), got {tuple(t._shape)}")
    return Spec(x._shape, x._dtype)


def _group_norm(x, num_groups, weight=None, bias=None, eps=1e-5):
    _group_norm_meta(x, num_groups, weight, bias, eps)
    N, C = x._shape[:2]
    xc = reshape(x.to(_compute_dtype(x._dtype)), (N, num_groups, -1))
    m = mean(xc, 2, True)
    xm = sub(xc, m)
    v = mean(mul(xm, xm), 2, True)
    out = reshape(mul(xm, rsqrt(add(v, eps))), x._shape)
    bshape = (C,) + (1,) * (x.ndim - 2)
    if weight is not None:
        out = mul(out, reshape(weight, bshape))
    if bias is not None:
        out = add(out, reshape(bias, bshape))
    return out.to(x._dtype)


group_norm = defop("group_norm(Tensor input, int num_groups, Tensor? weight=None, Tensor? bias=None, "
                   "float eps=1e-05) -> Tensor", meta=_group_norm_meta, decomposition=_group_norm, family="nn",
                   doc="Normalizes each group of C/num_groups channels over the channels and spatial dims.")


def _batch_norm_meta(x, running_mean=None, running_var=None, weight=None, bias=None, training=False,
                     momentum=0.1, eps=1e-5):
    _check_float("batch_norm", x)
    if x.ndim < 2:
        raise ShapeError(f"batch_norm(): expected an input of at least 2 dims (N, C, ...), got shape "
                         f"{tuple(x._shape)}")
    C = x._shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if t is not None and tuple(t._shape) != (C,):
            raise ShapeError(f"batch_norm(): {name} must have shape ({C},) for an input of shape "
                             f"{tuple(x._shape)}, got {tuple(t._shape)}")
    if not training and (running_mean is None or running_var is None):
        raise InvalidArgumentError("batch_norm(): running_mean and running_var are required when training=False")
    if (running_mean is None) != (running_var is None):
        raise InvalidArgumentError("batch_norm(): running_mean and running_var must both be None or neither be "
                                   "None; pass both buffers, or neither to use only the batch's statistics")
    if training and numel(x._shape) // _b.max(C, 1) <= 1:
        raise InvalidArgumentError(f"batch_norm(): expected more than 1 value per channel when training, got input "
                                   f"of shape {tuple(x._shape)}")
    return Spec(x._shape, x._dtype, tuple(d for d in range(x.ndim) if d != 1))


def _batch_norm(x, running_mean=None, running_var=None, weight=None, bias=None, training=False,
                momentum=0.1, eps=1e-5):
    _batch_norm_meta(x, running_mean, running_var, weight, bias, training, momentum, eps)
    C = x._shape[1]
    if training:
        if running_mean is not None:
            batch_norm_update_stats_(running_mean, running_var, x, momentum)
        return batch_norm_train(x, weight, bias, eps)
    bshape = (C,) + (1,) * (x.ndim - 2)
    xc = x.to(_compute_dtype(x._dtype))
    out = mul(sub(xc, reshape(running_mean, bshape)), rsqrt(add(reshape(running_var, bshape), eps)))
    if weight is not None:
        out = mul(out, reshape(weight, bshape))
    if bias is not None:
        out = add(out, reshape(bias, bshape))
    return out.to(x._dtype)


def _update_running(buf, stat, momentum):
    """buf <- (1 - momentum) * buf + momentum * stat, outside any gradient graph."""
    buf.mul_(1 - momentum).add_(mul(stat.to(buf._dtype), momentum))


def _bn_update_stats_meta(running_mean, running_var, x, momentum=0.1):
    _check_float("batch_norm_update_stats_", x)
    if x.ndim < 2:
        raise ShapeError(f"batch_norm_update_stats_(): expected an input of at least 2 dims (N, C, ...), got "
                         f"shape {tuple(x._shape)}")
    C = x._shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var)):
        if not isinstance(t, Tensor):
            raise ArgumentTypeError(f"batch_norm_update_stats_(): {name} must be a tensor, got "
                                    f"{type(t).__name__}")
        _check_float("batch_norm_update_stats_", t, what=(name,))
        if tuple(t._shape) != (C,):
            raise ShapeError(f"batch_norm_update_stats_(): {name} must have shape ({C},) for an input of shape "
                             f"{tuple(x._shape)}, got {tuple(t._shape)}")
    if numel(x._shape) // _b.max(C, 1) <= 1:
        raise InvalidArgumentError(f"batch_norm_update_stats_(): expected more than 1 value per channel, got "
                                   f"input of shape {tuple(x._shape)}")
    return Spec(running_mean._shape, running_mean._dtype, tuple(d for d in range(x.ndim) if d != 1))


def _batch_norm_update_stats_(running_mean, running_var, x, momentum=0.1):
    dims = _bn_update_stats_meta(running_mean, running_var, x, momentum).extra
    v, m = var_mean(x.to(_compute_dtype(x._dtype)), dims, correction=1)  # the running variance is the unbiased one
    _update_running(running_mean, m, momentum)
    _update_running(running_var, v, momentum)
    return running_mean


batch_norm_update_stats_ = defop(
    "batch_norm_update_stats_(Tensor running_mean, Tensor running_var, Tensor input, float momentum=0.1) -> Tensor",
    meta=_bn_update_stats_meta, decomposition=_batch_norm_update_stats_, adapter=_checked_adapter, family="nn",
    doc="The running statistics of batch norm in training, updated in place from the input's batch: "
        "running_mean <- (1 - momentum) * running_mean + momentum * mean, running_var likewise with the unbiased "
        "variance, per channel (dim 1); returns running_mean. Not differentiable. A kernel receives the schema "
        "arguments.")


def _bn_train_meta(x, weight=None, bias=None, eps=1e-5):
    _batch_norm_meta(x, None, None, weight, bias, True, 0.0, eps)
    return Spec(x._shape, x._dtype, tuple(d for d in range(x.ndim) if d != 1))


def _batch_norm_train(x, weight=None, bias=None, eps=1e-5):
    dims = _bn_train_meta(x, weight, bias, eps).extra
    C = x._shape[1]
    bshape = (C,) + (1,) * (x.ndim - 2)
    xc = x.to(_compute_dtype(x._dtype))
    xm = sub(xc, mean(xc, dims, True))
    out = mul(xm, rsqrt(add(mean(mul(xm, xm), dims, True), eps)))
    if weight is not None:
        out = mul(out, reshape(weight, bshape))
    if bias is not None:
        out = add(out, reshape(bias, bshape))
    return out.to(x._dtype)


batch_norm_train = defop("batch_norm_train(Tensor input, Tensor? weight=None, Tensor? bias=None, float eps=1e-05) "
                         "-> Tensor", meta=_bn_train_meta, decomposition=_batch_norm_train,
                         adapter=_checked_adapter, family="nn",
                         doc="Batch normalization with the batch's statistics (biased variance), no running "
                             "stats. A kernel receives the schema arguments.")


def _bn_train_backward_meta(grad, x, weight=None, eps=1e-5):
    _bn_train_meta(x, weight, None, eps)
    if tuple(grad._shape) != tuple(x._shape):
        raise ShapeError(f"batch_norm_train_backward(): grad_output has shape {tuple(grad._shape)} but the input "
                         f"has {tuple(x._shape)}")
    C = x._shape[1]
    wdt = x._dtype if weight is None else weight._dtype
    return (Spec(x._shape, x._dtype), Spec((C,), wdt), Spec((C,), wdt))


def _batch_norm_train_backward(grad, x, weight=None, eps=1e-5):
    """(grad_input, grad_weight, grad_bias) of batch_norm_train, in Ember operators."""
    dims = tuple(d for d in range(x.ndim) if d != 1)
    C = x._shape[1]
    bshape = (C,) + (1,) * (x.ndim - 2)
    ct = _compute_dtype(x._dtype)
    xc, g = x.to(ct), grad.to(ct)
    xm = sub(xc, mean(xc, dims, True))
    rstd = rsqrt(add(mean(mul(xm, xm), dims, True), eps))
    xhat = mul(xm, rstd)
    gb = sum(g, dims, True)
    gw = sum(mul(g, xhat), dims, True)
    n = numel(x._shape) // C
    scale = rstd if weight is None else mul(rstd, reshape(weight.to(ct), bshape))
    gi = mul(sub(sub(g, true_divide(gb, n)), mul(xhat, true_divide(gw, n))), scale)
    wdt = x._dtype if weight is None else weight._dtype
    return gi.to(x._dtype), reshape(gw, (C,)).to(wdt), reshape(gb, (C,)).to(wdt)


batch_norm_train_backward = defop(
    "batch_norm_train_backward(Tensor grad_output, Tensor input, Tensor? weight=None, float eps=1e-05) "
    "-> (Tensor, Tensor, Tensor)", meta=_bn_train_backward_meta, decomposition=_batch_norm_train_backward,
    adapter=_checked_adapter, family="nn",
    doc="(grad_input, grad_weight, grad_bias) of batch_norm_train, statistics recomputed from input. "
                     "A kernel receives the schema arguments.")


batch_norm = defop("batch_norm(Tensor input, Tensor? running_mean=None, Tensor? running_var=None, "
                   "Tensor? weight=None, Tensor? bias=None, bool training=False, float momentum=0.1, "
                   "float eps=1e-05) -> Tensor", meta=_batch_norm_meta, decomposition=_batch_norm, family="nn",
                   doc="Batch statistics when training (running stats updated in place with the unbiased "
                       "variance), running stats otherwise.")


# -- embedding -----------------------------------------------------------------------

def _embedding_meta(weight, indices, padding_idx=None):
    if weight.ndim != 2:
        raise ShapeError(f"embedding(): weight must be 2-D (num_embeddings, embedding_dim), got shape "
                         f"{tuple(weight._shape)}")
    if indices._dtype not in (D.int64, D.int32):
        raise DTypeError(f"embedding(): indices must be int64 or int32, got {indices._dtype.name}; convert "
                         f"them with .long()")
    n = weight._shape[0]
    if padding_idx is not None and not -n <= padding_idx < n:
        raise IndexOutOfRangeError(f"embedding(): padding_idx {padding_idx} is out of range for {n} embeddings")
    return Spec(indices._shape + (weight._shape[1],), weight._dtype)


def _embedding(weight, indices, padding_idx=None):
    spec = _embedding_meta(weight, indices, padding_idx)
    return reshape(index_select(weight, 0, reshape(indices, (-1,))), spec.shape)


embedding = defop("embedding(Tensor weight, Tensor indices, int? padding_idx=None) -> Tensor",
                  meta=_embedding_meta, decomposition=_embedding, family="nn",
                  doc="Rows of weight picked by indices; padding_idx only stops that row's gradient.")


def embedding_backward(grad, indices, num_weights, padding_idx=None):
    D_ = grad._shape[-1]
    idx = reshape(indices, (-1,))
    g = reshape(grad, (-1, D_))
    if padding_idx is not None:
        g = masked_fill(g, unsqueeze(eq(idx, padding_idx % num_weights), 1), 0)
    out = full((num_weights, D_), 0, dtype=grad._dtype, device=grad._device)
    return index_add(out, 0, idx, g)


# -- activations ---------------------------------------------------------------------

def _same_meta(opname, floating=True):
    def meta(x, *args):
        if floating:
            _check_float(opname, x)
        elif x._dtype is D.bool:
            raise DTypeError(f"{opname}(): bool input is not supported")
        return Spec(x._shape, x._dtype)
    return meta


def _relu(x):
    if x._dtype is D.bool:
        raise DTypeError("relu(): bool input is not supported")
    return maximum(x, 0)


relu = defop("relu(Tensor self) -> Tensor", meta=_same_meta("relu", False), decomposition=_relu, family="nn",
             doc="max(x, 0); NaN propagates.")


def _threshold_backward_meta(grad, x, threshold):
    for name, t in (("grad_output", grad), ("self", x)):
        if not isinstance(t, Tensor):
            raise ArgumentTypeError(f"threshold_backward(): {name} must be a tensor, got {type(t).__name__}")
        if t._dtype is D.bool or t._dtype.is_complex:
            raise DTypeError(f"threshold_backward(): {name} has dtype {t._dtype.name}, which is not supported; "
                             f"convert it with .float()")
    if isinstance(threshold, bool) or not isinstance(threshold, (_int, _float)):
        raise ArgumentTypeError(f"threshold_backward(): threshold must be a real number, got {threshold!r}")
    dt = D.result_type(grad, x)
    check_scalar(threshold, dt, "threshold_backward")   # converted to the dtype, checked, as PyTorch
    return Spec(broadcast_shapes(grad._shape, x._shape), dt)


def _threshold_backward(grad, x, threshold):
    spec = _threshold_backward_meta(grad, x, threshold)
    r = where(le(x, threshold), 0, grad)  # NaN in self is not <= threshold: grad passes, as PyTorch
    return r if r._dtype is spec.dtype else r.to(spec.dtype)


def _threshold_backward_adapter(op, kernel, backend):
    decomposition = op.decomposition

    def entry(grad, x, threshold):
        spec = _threshold_backward_meta(grad, x, threshold)
        if grad._dtype is not spec.dtype or x._dtype is not spec.dtype or grad._shape != x._shape:
            return decomposition(grad, x, threshold)
        return kernel(grad, x, threshold)
    return entry


threshold_backward = defop(
    "threshold_backward(Tensor grad_output, Tensor self, Scalar threshold) -> Tensor",
    meta=_threshold_backward_meta, decomposition=_threshold_backward, adapter=_threshold_backward_adapter,
    family="nn",
    doc="0 where self <= threshold, else grad_output (relu's gradient with threshold 0): a NaN in self passes "
        "the gradient, as in PyTorch; broadcast, in the promoted dtype. kernel(grad, self, threshold) -> Tensor: "
        "grad and self of one shape and of the result's dtype (other calls run the decomposition).")


_SQRT1_2 = 1 / math.sqrt(2)
_SQRT_2_PI = math.sqrt(2 / math.pi)


def _gelu_meta(x, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise InvalidArgumentError(f"gelu(): approximate must be 'none' or 'tanh', got {approximate!r}")
    _check_float("gelu", x)
    return Spec(x._shape, x._dtype)


def _gelu(x, approximate="none"):
    _gelu_meta(x, approximate)
    xc = x.to(_compute_dtype(x._dtype))
    if approximate == "tanh":
        inner = mul(add(xc, mul(mul(mul(xc, xc), xc), 0.044715)), _SQRT_2_PI)
        out = mul(mul(xc, 0.5), add(tanh(inner), 1))
    else:
        out = mul(mul(xc, 0.5), add(erf(mul(xc, _SQRT1_2)), 1))
    return out.to(x._dtype)


gelu = defop("gelu(Tensor self, str approximate='none') -> Tensor", meta=_gelu_meta, decomposition=_gelu,
             adapter=_checked_adapter, family="nn",
             doc="x * Phi(x) with the exact erf, or PyTorch's tanh approximation. A kernel receives the schema "
                 "arguments, checked, and returns a new tensor of self's dtype.")


def _gelu_backward_meta(grad, x, approximate="none"):
    _gelu_meta(x, approximate)
    if grad._shape != x._shape or grad._dtype is not x._dtype:
        raise ShapeError(f"gelu_backward(): grad_output must have the input's shape {tuple(x._shape)} and dtype "
                         f"{x._dtype.name}, got {tuple(grad._shape)} {grad._dtype.name}")
    return Spec(x._shape, x._dtype)


def _gelu_backward(grad, x, approximate="none"):
    """grad * gelu'(x): Phi(x) + x phi(x) exactly, or the tanh approximation's derivative."""
    _gelu_backward_meta(grad, x, approximate)
    ct = _compute_dtype(x._dtype)
    xc, g = x.to(ct), grad.to(ct)
    if approximate == "tanh":
        x2 = mul(xc, xc)
        t = tanh(mul(add(xc, mul(mul(x2, xc), 0.044715)), _SQRT_2_PI))
        du = mul(add(mul(x2, 3 * 0.044715), 1), _SQRT_2_PI)
        d = add(mul(add(t, 1), 0.5), mul(mul(mul(xc, 0.5), sub(1, mul(t, t))), du))
    else:
        cdf = mul(add(erf(mul(xc, _SQRT1_2)), 1), 0.5)
        pdf = mul(exp(mul(mul(xc, xc), -0.5)), _INV_SQRT_2PI)
        d = add(cdf, mul(xc, pdf))
    return mul(g, d).to(x._dtype)


_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
gelu_backward = defop("gelu_backward(Tensor grad_output, Tensor self, str approximate='none') -> Tensor",
                      meta=_gelu_backward_meta, decomposition=_gelu_backward, adapter=_checked_adapter, family="nn",
                      doc="grad_output * gelu'(self) (the gradient of gelu). A kernel receives the schema arguments, "
                          "shapes and dtype checked, and returns a new tensor of self's dtype.")


def _silu(x):
    _check_float("silu", x)
    return mul(x, sigmoid(x))


silu = defop("silu(Tensor self) -> Tensor", meta=_same_meta("silu"), decomposition=_silu, family="nn",
             doc="x * sigmoid(x).")


# -- losses --------------------------------------------------------------------------

def _pointwise_loss_meta(opname):
    def meta(x, target, reduction="mean"):
        _reduction_arg(opname, reduction)
        _check_float(opname, x, target, what=("input", "target"))
        if tuple(x._shape) != tuple(target._shape):
            raise ShapeError(f"{opname}(): input shape {tuple(x._shape)} and target shape {tuple(target._shape)} "
                             f"must be equal")
        dt = D.promote_types(x._dtype, target._dtype)
        return Spec(x._shape if reduction == "none" else (), dt)
    return meta


def _mse_loss(x, target, reduction="mean"):
    _pointwise_loss_meta("mse_loss")(x, target, reduction)
    d = sub(x, target)
    return _reduce(mul(d, d), reduction)


def _l1_loss(x, target, reduction="mean"):
    _pointwise_loss_meta("l1_loss")(x, target, reduction)
    return _reduce(abs(sub(x, target)), reduction)


mse_loss = defop("mse_loss(Tensor self, Tensor target, str reduction='mean') -> Tensor",
                 meta=_pointwise_loss_meta("mse_loss"), decomposition=_mse_loss, family="nn",
                 doc="(input - target)^2, reduced.")
l1_loss = defop("l1_loss(Tensor self, Tensor target, str reduction='mean') -> Tensor",
                meta=_pointwise_loss_meta("l1_loss"), decomposition=_l1_loss, family="nn",
                doc="|input - target|, reduced.")


def _bce_meta(x, target, weight=None, reduction="mean"):
    spec = _pointwise_loss_meta("binary_cross_entropy")(x, target, reduction)
    if weight is not None:
        _broadcast_to("binary_cross_entropy", "weight", weight, x)
    return spec


def _broadcast_to(opname, name, t, x):
    try:
        ok = broadcast_shapes(t._shape, x._shape) == tuple(x._shape)
    except ShapeError:
        ok = False
    if not ok:
        raise ShapeError(f"{opname}(): {name} of shape {tuple(t._shape)} does not broadcast to the input's "
                         f"shape {tuple(x._shape)}")


def _binary_cross_entropy(x, target, weight=None, reduction="mean"):
    _bce_meta(x, target, weight, reduction)
    if x._backend.capabilities.host_memory:
        # As PyTorch: checked where reading the values back is free (its CUDA kernel asserts on the
        # device instead); elsewhere a loss must not cost a device sync per training step.
        check_probabilities(x, "binary_cross_entropy", "input")
        check_probabilities(target, "binary_cross_entropy", "target")
    lx = maximum(log(x), -100.0)
    l1x = maximum(log(sub(1, x)), -100.0)
    loss = neg(add(mul(target, lx), mul(sub(1, target), l1x)))
    if weight is not None:
        loss = mul(loss, weight)
    return _reduce(loss, reduction)


binary_cross_entropy = defop("binary_cross_entropy(Tensor self, Tensor target, Tensor? weight=None, "
                             "str reduction='mean') -> Tensor", meta=_bce_meta, decomposition=_binary_cross_entropy,
                             family="nn", doc="-(t log x + (1 - t) log(1 - x)); logs clamped at -100 as in PyTorch.")


def _bce_logits_meta(x, target, weight=None, pos_weight=None, reduction="mean"):
    spec = _pointwise_loss_meta("binary_cross_entropy_with_logits")(x, target, reduction)
    if weight is not None:
        _broadcast_to("binary_cross_entropy_with_logits", "weight", weight, x)
    if pos_weight is not None:
        _broadcast_to("binary_cross_entropy_with_logits", "pos_weight", pos_weight, x)
    return spec


def _bce_with_logits(x, target, weight=None, pos_weight=None, reduction="mean"):
    dt = _bce_logits_meta(x, target, weight, pos_weight, reduction).dtype
    ct = _compute_dtype(dt)  # float16/bfloat16 compute in float32 and round once
    x, target = x.to(ct), target.to(ct)
    soft = add(log1p(exp(neg(abs(x)))), maximum(neg(x), 0))   # log(1 + exp(-x)), stably
    if pos_weight is not None:
        soft = mul(soft, add(mul(sub(pos_weight.to(ct), 1), target), 1))
    loss = add(mul(sub(1, target), x), soft)
    if weight is not None:
        loss = mul(loss, weight.to(ct))
    return _reduce(loss, reduction).to(dt)


binary_cross_entropy_with_logits = defop(
    "binary_cross_entropy_with_logits(Tensor self, Tensor target, Tensor? weight=None, Tensor? pos_weight=None, "
    "str reduction='mean') -> Tensor", meta=_bce_logits_meta, decomposition=_bce_with_logits, family="nn",
    doc="binary_cross_entropy(sigmoid(x), t), computed stably from logits; pos_weight scales the positive term.")


def _nll_shapes(opname, x, target, weight):
    if x.ndim < 1:
        raise ShapeError(f"{opname}(): input must have at least 1 dim (C,) or (N, C, ...), got shape ()")
    cdim = 0 if x.ndim == 1 else 1
    C = x._shape[cdim]
    if weight is not None and tuple(weight._shape) != (C,):
        raise ShapeError(f"{opname}(): weight must have shape ({C},) (one per class), got {tuple(weight._shape)}")
    return cdim, C


def _nll_meta(x, target, weight=None, reduction="mean", ignore_index=-100):
    _reduction_arg("nll_loss", reduction)
    _check_float("nll_loss", x)
    cdim, C = _nll_shapes("nll_loss", x, target, weight)
    expect = x._shape[:cdim] + x._shape[cdim + 1:]
    if target._dtype not in (D.int64, D.int32, D.uint8, D.int16, D.int8):
        raise DTypeError(f"nll_loss(): target must hold class indices (int64), got dtype {target._dtype.name}")
    if tuple(target._shape) != tuple(expect):
        raise ShapeError(f"nll_loss(): target shape {tuple(target._shape)} does not match input shape "
                         f"{tuple(x._shape)}: expected {tuple(expect)} (the input without its class dim {cdim})")
    return Spec(expect if reduction == "none" else (), x._dtype, (cdim, C))


def target_out_of_range(opname, value, C, ignore_index) -> IndexOutOfRangeError:
    """The error of a class target outside [0, C) that is not ignore_index (for kernels to raise too)."""
    return IndexOutOfRangeError(f"{opname}(): target {value} is out of bounds for {C} classes (valid: 0..{C - 1}"
                                f", or ignore_index={ignore_index})")


def _check_targets(opname, target, C, ignore_index):
    bad = logical_and(ne(target, ignore_index), logical_or(lt(target, 0), gt(target, C - 1)))
    if bad.any().item():
        raise target_out_of_range(opname, target[bad].reshape(-1)[0].item(), C, ignore_index)


def _nll_loss(x, target, weight=None, reduction="mean", ignore_index=-100):
    cdim, C = _nll_meta(x, target, weight, reduction, ignore_index).extra
    target = target.to(D.int64)
    keep = ne(target, ignore_index)
    safe = where(keep, target, 0)
    try:
        # gather checks the targets' range itself (one readback on a GPU), so there is no separate
        # check (and sync) on the way of every training step; its error is retold in nll's words.
        picked = squeeze(gather(x, cdim, unsqueeze(safe, cdim)), cdim)
    except IndexOutOfRangeError:
        _check_targets("nll_loss", target, C, ignore_index)
        raise
    if weight is not None:
        w = reshape(index_select(weight, 0, reshape(safe, (-1,))), safe._shape)
        w = where(keep, w, 0)
    else:
        w = keep.to(x._dtype)
    loss = neg(mul(picked, w))
    if reduction == "mean":
        return true_divide(sum(loss), sum(w))
    return _reduce(loss, reduction)


nll_loss = defop("nll_loss(Tensor self, Tensor target, Tensor? weight=None, str reduction='mean', "
                 "int ignore_index=-100) -> Tensor", meta=_nll_meta, decomposition=_nll_loss, family="nn",
                 doc="-input[target] (times weight[target]); 'mean' divides by the summed weights of the "
                     "targets that are not ignore_index. Out-of-range targets raise.")


def _ce_meta(x, target, weight=None, reduction="mean", ignore_index=-100, label_smoothing=0.0):
    _reduction_arg("cross_entropy", reduction)
    _check_float("cross_entropy", x)
    if not 0.0 <= label_smoothing <= 1.0:
        raise InvalidArgumentError(f"cross_entropy(): label_smoothing must be in [0, 1], got {label_smoothing}")
    cdim, C = _nll_shapes("cross_entropy", x, target, weight)
    if target._dtype.is_floating_point:  # class probabilities
        if tuple(target._shape) != tuple(x._shape):
            raise ShapeError(f"cross_entropy(): probability targets must have the input's shape "
                             f"{tuple(x._shape)}, got {tuple(target._shape)}")
        out = x._shape[:cdim] + x._shape[cdim + 1:]
        return Spec(out if reduction == "none" else (), x._dtype, (cdim, C, True))
    spec = _nll_meta(x, target, weight, reduction, ignore_index)
    return Spec(spec.shape, x._dtype, (cdim, C, False))


def _cross_entropy(x, target, weight=None, reduction="mean", ignore_index=-100, label_smoothing=0.0):
    cdim, C, probs = _ce_meta(x, target, weight, reduction, ignore_index, label_smoothing).extra
    logp = log_softmax(x, cdim)
    wshape = (C,) + (1,) * (x.ndim - cdim - 1)
    if probs:
        t = target
        if label_smoothing > 0:
            t = add(mul(t, 1 - label_smoothing), label_smoothing / C)
        prod = mul(logp, t)
        if weight is not None:
            prod = mul(prod, reshape(weight, wshape))
        loss = neg(sum(prod, cdim))
        if reduction == "mean":
            return true_divide(sum(loss), numel(loss._shape))  # an empty batch gives nan, as PyTorch
        return _reduce(loss, reduction)
    nll = nll_loss(logp, target, weight, reduction, ignore_index)
    if label_smoothing <= 0:
        return nll
    keep = ne(target, ignore_index)
    lw = logp if weight is None else mul(logp, reshape(weight, wshape))
    smooth = where(keep, neg(sum(lw, cdim)), 0)
    if reduction == "mean":
        if weight is None:
            smooth = true_divide(sum(smooth), sum(keep.to(x._dtype)))
        else:
            safe = where(keep, target.to(D.int64), 0)
            tw = where(keep, reshape(index_select(weight, 0, reshape(safe, (-1,))), safe._shape), 0)
            smooth = true_divide(sum(smooth), sum(tw))
    elif reduction == "sum":
        smooth = sum(smooth)
    return add(mul(nll, 1 - label_smoothing), mul(smooth, label_smoothing / C))


def _ce_adapter(op, kernel, backend):
    """Class-index targets go to the kernel; probability targets use the decomposition."""
    decomposition = op.decomposition

    def entry(x, target, weight=None, reduction="mean", ignore_index=-100, label_smoothing=0.0):
        cdim, C, probs = _ce_meta(x, target, weight, reduction, ignore_index, label_smoothing).extra
        if probs:
            return decomposition(x, target, weight, reduction, ignore_index, label_smoothing)
        return kernel(x, target, weight, reduction, ignore_index, label_smoothing, cdim)
    return entry


cross_entropy = defop("cross_entropy(Tensor self, Tensor target, Tensor? weight=None, str reduction='mean', "
                      "int ignore_index=-100, float label_smoothing=0.0) -> Tensor", meta=_ce_meta,
                      decomposition=_cross_entropy, adapter=_ce_adapter, family="nn",
                      doc="log_softmax over the class dim, then nll_loss (class-index targets) or -sum(t * "
                          "log p) (probability targets), with label smoothing as in PyTorch. A kernel serves "
                          "class-index targets: kernel(x, target, weight, reduction, ignore_index, "
                          "label_smoothing, class_dim) -> Tensor, and raises IndexOutOfRangeError naming a "
                          "target outside [0, C) that is not ignore_index.")


def _ce_backward_meta(grad, x, target, weight=None, reduction="mean", ignore_index=-100, label_smoothing=0.0):
    _ce_meta(x, target, weight, reduction, ignore_index, label_smoothing)
    return Spec(x._shape, x._dtype)


def _cross_entropy_backward(grad, x, target, weight=None, reduction="mean", ignore_index=-100,
                            label_smoothing=0.0):
    cdim, C, probs = _ce_meta(x, target, weight, reduction, ignore_index, label_smoothing).extra
    eps = label_smoothing
    dt = x._dtype
    p = softmax(x, cdim)
    wshape = (C,) + (1,) * (x.ndim - cdim - 1)
    w = None if weight is None else reshape(weight, wshape)
    if probs:
        t = target if eps == 0 else add(mul(target, 1 - eps), eps / C)
        wt = t if w is None else mul(t, w)
        g = sub(mul(p, sum(wt, cdim, True)), wt)
        if reduction == "none":
            return mul(g, unsqueeze(grad, cdim))
        if reduction == "mean":
            n = numel(x._shape) // C if C else 0
            return mul(g, true_divide(grad, n)) if n else mul(g, grad)
        return mul(g, grad)
    tgt = target.to(D.int64)
    keep = ne(tgt, ignore_index)
    safe = where(keep, tgt, 0)
    keepf = keep.to(dt)
    onehot = eq(reshape(arange(C, device=x._device), wshape), unsqueeze(safe, cdim)).to(dt)
    g = sub(p, onehot)
    if weight is not None:
        wy = reshape(index_select(weight, 0, reshape(safe, (-1,))), safe._shape)
        g = mul(g, unsqueeze(wy, cdim))
    if eps > 0:
        S = sum(weight) if weight is not None else C
        smooth = sub(mul(p, S), w if w is not None else 1)
        g = add(mul(g, 1 - eps), mul(smooth, eps / C))
    g = mul(g, unsqueeze(keepf, cdim))
    if reduction == "none":
        return mul(g, unsqueeze(grad, cdim))
    if reduction == "mean":
        denom = sum(keepf) if weight is None else sum(mul(wy, keepf))
        # every target ignored: the loss is 0/0 (NaN) but its gradient 0, as PyTorch's (g is all 0 here)
        return mul(g, true_divide(grad, where(eq(denom, 0), 1, denom)))
    return mul(g, grad)


def _ce_weight_grad(grad, x, target, weight, reduction, ignore_index, label_smoothing):
    """The gradient of cross_entropy with respect to its class weights, in Ember operators."""
    cdim, C, probs = _ce_meta(x, target, weight, reduction, ignore_index, label_smoothing).extra
    eps = label_smoothing
    logp = movedim(log_softmax(x, cdim), cdim, -1)                        # (..., C)
    if probs:
        t = movedim(target, cdim, -1)
        t = t if eps == 0 else add(mul(t, 1 - eps), eps / C)
        per = neg(mul(t, logp))                                              # d loss_i / d w_c
        n = numel(per._shape) // C if C else 0
        coef = grad if reduction != "mean" else true_divide(grad, _b.max(n, 1))
        if reduction == "none":
            return sum(mul(per, unsqueeze(grad, -1)), tuple(range(per.ndim - 1)))
        return mul(sum(per, tuple(range(per.ndim - 1))), coef)
    tgt = target.to(D.int64)
    keep = ne(tgt, ignore_index)
    safe = where(keep, tgt, 0)
    keepf = unsqueeze(keep.to(x._dtype), -1)
    onehot = mul(eq(arange(C, device=x._device), unsqueeze(safe, -1)).to(x._dtype), keepf)     # [y_i = c], kept
    per = neg(add(mul(mul(onehot, logp), 1 - eps), mul(mul(logp, keepf), eps / C)))         # d loss_i / d w_c
    dims = tuple(range(per.ndim - 1))
    if reduction == "none":
        return sum(mul(per, unsqueeze(grad, -1)), dims)
    dS = sum(per, dims)
    if reduction == "sum":
        return mul(dS, grad)
    wy = reshape(index_select(weight, 0, reshape(safe, (-1,))), safe._shape)
    D_ = sum(mul(wy, keep.to(x._dtype)))
    S = sum(mul(per, weight))
    return mul(sub(true_divide(dS, D_), mul(true_divide(S, mul(D_, D_)), sum(onehot, dims))), grad)


def _ce_target_grad(grad, x, target, weight, reduction, label_smoothing):
    """The gradient of cross_entropy with respect to probability targets: -(1 - eps) * w * log p, scaled."""
    cdim, C = (0 if x.ndim == 1 else 1), x._shape[0 if x.ndim == 1 else 1]
    g = mul(log_softmax(x, cdim), -(1 - label_smoothing))
    if weight is not None:
        g = mul(g, reshape(weight, (C,) + (1,) * (x.ndim - cdim - 1)))
    if reduction == "none":
        return mul(g, unsqueeze(grad, cdim))
    if reduction == "mean":
        n = numel(x._shape) // C if C else 0
        return mul(g, true_divide(grad, _b.max(n, 1)))
    return mul(g, grad)


def _ce_backward_adapter(op, kernel, backend):
    decomposition = op.decomposition

    def entry(grad, x, target, weight=None, reduction="mean", ignore_index=-100, label_smoothing=0.0):
        cdim, C, probs = _ce_meta(x, target, weight, reduction, ignore_index, label_smoothing).extra
        if probs:
            return decomposition(grad, x, target, weight, reduction, ignore_index, label_smoothing)
        return kernel(grad, x, target, weight, reduction, ignore_index, label_smoothing, cdim)
    return entry


cross_entropy_backward = defop(
    "cross_entropy_backward(Tensor grad_output, Tensor self, Tensor target, Tensor? weight=None, "
    "str reduction='mean', int ignore_index=-100, float label_smoothing=0.0) -> Tensor",
    meta=_ce_backward_meta, decomposition=_cross_entropy_backward, adapter=_ce_backward_adapter, family="nn",
    doc="The gradient of cross_entropy with respect to its input (softmax minus the smoothed, weighted "
        "targets, scaled by the reduction). A kernel serves class-index targets: kernel(grad, x, target, weight, "
        "reduction, ignore_index, label_smoothing, class_dim) -> Tensor.")


# -- attention -----------------------------------------------------------------------

def _sdpa_meta(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    _check_float("scaled_dot_product_attention", q, k, v, what=("query", "key", "value"))
    _same_dtype("scaled_dot_product_attention", q, (("key", k), ("value", v)))
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise ShapeError(f"scaled_dot_product_attention(): query, key and value need at least 2 dims, got "
                         f"{tuple(q._shape)}, {tuple(k._shape)}, {tuple(v._shape)}")
    if q._shape[-1] != k._shape[-1] or k._shape[-2] != v._shape[-2]:
        raise ShapeError(f"scaled_dot_product_attention(): query {tuple(q._shape)} and key {tuple(k._shape)} "
                         f"must share the last dim (E), and key and value {tuple(v._shape)} the second-to-last "
                         f"(S)")
    if is_causal and attn_mask is not None:
        raise InvalidArgumentError("scaled_dot_product_attention(): pass either attn_mask or is_causal=True, not both")
    if not 0.0 <= dropout_p <= 1.0:
        raise InvalidArgumentError(f"scaled_dot_product_attention(): dropout_p must be in [0, 1], got {dropout_p}")
    batch = broadcast_shapes(q._shape[:-2], k._shape[:-2], v._shape[:-2])
    L, S = q._shape[-2], k._shape[-2]
    if attn_mask is not None:
        try:
            broadcast_shapes(attn_mask._shape, batch + (L, S))
        except ShapeError:
            raise ShapeError(f"scaled_dot_product_attention(): attn_mask of shape {tuple(attn_mask._shape)} "
                             f"does not broadcast to the attention weights' shape {batch + (L, S)}") from None
    return Spec(batch + (L, v._shape[-1]), q._dtype)


def _sdpa(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    _sdpa_meta(q, k, v, attn_mask, dropout_p, is_causal, scale)
    L, S, E = q._shape[-2], k._shape[-2], q._shape[-1]
    sc = 1.0 / math.sqrt(E) if scale is None else scale
    w = mul(matmul(q, k.transpose(-2, -1)), sc)
    if is_causal:
        keep = full((L, S), 1, dtype=D.bool, device=q._device).tril()
        w = masked_fill(w, logical_not(keep), -math.inf)
    elif attn_mask is not None:
        if attn_mask._dtype is D.bool:
            w = masked_fill(w, logical_not(attn_mask), -math.inf)
        else:
            w = add(w, attn_mask)
    w = softmax(w, -1)
    if dropout_p > 0:
        w = _dropout(w, dropout_p, True)
    return matmul(w, v)


scaled_dot_product_attention = defop(
    "scaled_dot_product_attention(Tensor query, Tensor key, Tensor value, Tensor? attn_mask=None, "
    "float dropout_p=0.0, bool is_causal=False, *, float? scale=None) -> Tensor",
    meta=_sdpa_meta, decomposition=_sdpa, family="nn",
    doc="softmax(q k^T * scale + mask) v; a bool mask marks the positions that take part; is_causal keeps "
        "the lower triangle.")


FUNCTIONS: dict = {}
METHODS: dict = {}


# -- optimizer updates ---------------------------------------------------------------
# One operator per parameter update, so an optimizer step is one dispatch per parameter; the
# decomposition is the update written out with Ember's in-place operators.

def _adam_meta(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq=None, lr=1e-3, beta1=0.9, beta2=0.999,
               eps=1e-8, weight_decay=0.0, step=1.0, decoupled=False):
    for name, t in (("grad", grad), ("exp_avg", exp_avg), ("exp_avg_sq", exp_avg_sq),
                    ("max_exp_avg_sq", max_exp_avg_sq)):
        if t is not None and tuple(t._shape) != tuple(param._shape):
            raise ShapeError(f"adam_step_(): {name} has shape {tuple(t._shape)} but the parameter has "
                             f"{tuple(param._shape)}")
    _check_float("adam_step_", param)
    return Spec(param._shape, param._dtype)


def _adam_step_(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq=None, lr=1e-3, beta1=0.9, beta2=0.999,
                eps=1e-8, weight_decay=0.0, step=1.0, decoupled=False):
    _adam_meta(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, lr, beta1, beta2, eps, weight_decay, step,
               decoupled)
    if weight_decay:
        if decoupled:
            param.mul_(1 - lr * weight_decay)
        else:
            grad = add(grad, mul(param, weight_decay))
    exp_avg.mul_(beta1).add_(mul(grad, 1 - beta1))
    exp_avg_sq.mul_(beta2).add_(mul(mul(grad, grad), 1 - beta2))
    bc1 = 1 - beta1 ** step
    bc2_sqrt = math.sqrt(1 - beta2 ** step)
    v = exp_avg_sq
    if max_exp_avg_sq is not None:
        max_exp_avg_sq.copy_(maximum(max_exp_avg_sq, exp_avg_sq))
        v = max_exp_avg_sq
    denom = add(true_divide(sqrt(v), bc2_sqrt), eps)
    return param.sub_(mul(true_divide(exp_avg, denom), lr / bc1))


adam_step_ = defop("adam_step_(Tensor self, Tensor grad, Tensor exp_avg, Tensor exp_avg_sq, "
                   "Tensor? max_exp_avg_sq=None, float lr=0.001, float beta1=0.9, float beta2=0.999, float eps=1e-08, float weight_decay=0.0, "
                   "float step=1.0, bool decoupled=False) -> Tensor",
                   meta=_adam_meta, decomposition=_adam_step_, adapter=_checked_adapter,
                   family="optim",
                   doc="One Adam/AdamW update of self in place (PyTorch's rule; decoupled=True is AdamW's weight "
                       "decay); exp_avg, exp_avg_sq (and max_exp_avg_sq for AMSGrad) are updated in place. "
                       "A kernel receives the schema arguments.")



def _sgd_meta(param, grad, momentum_buffer=None, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
              nesterov=False, first=False):
    for name, t in (("grad", grad), ("momentum_buffer", momentum_buffer)):
        if t is not None and tuple(t._shape) != tuple(param._shape):
            raise ShapeError(f"sgd_step_(): {name} has shape {tuple(t._shape)} but the parameter has "
                             f"{tuple(param._shape)}")
    _check_float("sgd_step_", param)
    return Spec(param._shape, param._dtype)


def _sgd_step_(param, grad, momentum_buffer=None, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
               nesterov=False, first=False):
    _sgd_meta(param, grad, momentum_buffer, lr, momentum, dampening, weight_decay, nesterov, first)
    if weight_decay:
        grad = add(grad, mul(param, weight_decay))
    if momentum_buffer is not None:
        if first:
            momentum_buffer.copy_(grad)
        else:
            momentum_buffer.mul_(momentum).add_(grad if dampening == 0 else mul(grad, 1 - dampening))
        grad = add(grad, mul(momentum_buffer, momentum)) if nesterov else momentum_buffer
    return param.sub_(mul(grad, lr))


sgd_step_ = defop("sgd_step_(Tensor self, Tensor grad, Tensor? momentum_buffer=None, float lr=0.001, "
                  "float momentum=0.0, float dampening=0.0, float weight_decay=0.0, bool nesterov=False, "
                  "bool first=False) -> Tensor", meta=_sgd_meta, decomposition=_sgd_step_,
                  adapter=_checked_adapter, family="optim",
                  doc="One SGD update of self in place (PyTorch's rule); momentum_buffer, when given, is updated "
                      "in place (first=True: it starts as the gradient). A kernel receives the schema arguments.")


# -- derivative formulas -------------------------------------------------------------
# Written with Ember operators, so they are differentiable again (double backward).
# Composites not listed here get their gradients from their decompositions.

def _register_derivatives(derivative):
    @derivative("conv2d", save=("input", "weight"))
    def _conv2d_grad(grad, input, weight, bias, stride, padding, dilation, groups):
        s, p, dl, batched = _conv2d_meta(input, weight, None, stride, padding, dilation, groups).extra
        x = input if batched else unsqueeze(input, 0)
        g = grad if batched else unsqueeze(grad, 0)
        gi, gw, gb = conv2d_backward(g, x, weight, s, p, dl, groups)
        return (gi if batched else squeeze(gi, 0)), gw, (None if bias is None else gb)

    @derivative("conv_transpose2d", save=("input", "weight"))
    def _conv_transpose2d_grad(grad, input, weight, bias, stride, padding, output_padding, groups, dilation):
        s, p, op, dl, batched = _conv_transpose2d_meta(input, weight, None, stride, padding, output_padding, groups,
                                                       dilation).extra
        x = input if batched else unsqueeze(input, 0)
        g = grad if batched else unsqueeze(grad, 0)
        gi, gw, gb = conv_transpose2d_backward(g, x, weight, s, p, op, groups, dl)
        return (gi if batched else squeeze(gi, 0)), gw, (None if bias is None else gb)

    @derivative("im2col", save=())
    def _im2col_grad(grad, self, kernel_size, dilation=1, padding=0, stride=1):
        return col2im(grad, self.shape[-2:], kernel_size, dilation, padding, stride)

    @derivative("col2im", save=())
    def _col2im_grad(grad, self, output_size, kernel_size, dilation=1, padding=0, stride=1):
        return im2col(grad, kernel_size, dilation, padding, stride)

    @derivative("max_pool2d_with_indices", save=("result",))
    def _maxpool_grad(grads, self, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False, result=None):
        return max_pool2d_backward(grads[0], tuple(self.shape), result[1])

    @derivative("avg_pool2d", save=())
    def _avgpool_grad(grad, self, kernel_size, stride=(), padding=0, ceil_mode=False, count_include_pad=True,
                      divisor_override=None):
        return avg_pool2d_backward(grad, tuple(self.shape), kernel_size, stride, padding, ceil_mode,
                                   count_include_pad, divisor_override)

    def _pad_jvp(tangents, self, pad, value=0, result=None):  # affine in self: the padding's tangent is 0
        return None if tangents[0] is None else constant_pad_nd(tangents[0], pad, 0)

    @derivative("constant_pad_nd", save=(), jvp=_pad_jvp)
    def _pad_grad(grad, self, pad, value=0):
        return constant_pad_nd(grad, tuple(-q for q in pad))

    @derivative("embedding", save=("indices",))
    def _embedding_grad(grad, weight, indices, padding_idx=None):
        return embedding_backward(grad, indices, weight.shape[0], padding_idx), None

    @derivative("cross_entropy", save=("self", "target", "weight"))
    def _ce_grad(grad, self, target, weight=None, reduction="mean", ignore_index=-100, label_smoothing=0.0):
        gi = cross_entropy_backward(grad, self, target, weight, reduction, ignore_index, label_smoothing)
        gw = None if weight is None else _ce_weight_grad(grad, self, target, weight, reduction, ignore_index,
                                                         label_smoothing)
        gt = None
        if target._dtype.is_floating_point:  # probability targets are differentiable too
            gt = _ce_target_grad(grad, self, target, weight, reduction, label_smoothing)
        return gi, gt, gw

    @derivative("batch_norm_train", save=("input", "weight"))
    def _bn_train_grad(grad, input, weight=None, bias=None, eps=1e-5):
        gi, gw, gb = batch_norm_train_backward(grad, input, weight, eps)
        return gi, (gw if weight is not None else None), (gb if bias is not None else None)

    @derivative("gelu", save=("self",), elementwise=True)
    def _gelu_grad(grad, self, approximate="none"):
        return gelu_backward(grad, self, approximate)

    @derivative("relu", save=("result",))
    def _relu_grad(grad, self, result=None):
        return threshold_backward(grad, result, 0)   # 0 where result <= 0 (even for an inf or NaN grad), as PyTorch

    @derivative("threshold_backward", save=("self",), linear=("grad_output",))
    def _threshold_backward_grad(grad, grad_output, self, threshold):
        return threshold_backward(grad, self, threshold), None   # piecewise constant in self


try:
    from ..autograd.registry import derivative as _derivative, nondifferentiable as _nondifferentiable
except ImportError:  # a core without autograd: the formulas wait for it
    _derivative = None
if _derivative is not None:
    _register_derivatives(_derivative)
    _nondifferentiable("batch_norm_update_stats_")   # an in-place update of buffers, as in PyTorch
