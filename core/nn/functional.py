"""ember.nn.functional: the stateless forms of the layers, with PyTorch's signatures.

Each function checks its Python-level arguments and calls one of the nn
operators (core/ops/nn.py), so every backend runs it.
"""

from __future__ import annotations

from ..errors import ShapeError
from ..ops import nn as _nn
from ..ops import reduction as _red
from ..ops.elementwise import mul, sigmoid as _sigmoid, tanh as _tanh
from ..ops.linalg import addmm, matmul
from . import _random
from ..errors import InvalidArgumentError, UnsupportedError

__all__ = ["linear", "conv1d", "conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "batch_norm",
           "layer_norm", "group_norm", "embedding", "dropout", "relu", "gelu", "silu", "tanh", "sigmoid",
           "softmax", "log_softmax", "cross_entropy", "nll_loss", "mse_loss", "l1_loss", "binary_cross_entropy",
           "binary_cross_entropy_with_logits", "scaled_dot_product_attention", "pad", "unfold", "fold",
           "one_hot"]


def linear(input, weight, bias=None):
    """input @ weight.T + bias."""
    if weight.ndim != 2 or input.ndim < 1 or input._shape[-1] != weight._shape[1]:
        raise ShapeError(f"linear(): input of shape {tuple(input._shape)} and weight of shape "
                         f"{tuple(weight._shape)} do not fit: the input's last dim must equal weight.shape[1]"
                         + ("" if weight.ndim != 2 else f" ({weight._shape[1]})"))
    if input.ndim > 2:   # fold the leading dims into rows: one matrix product forward and backward
        lead = input._shape[:-1]
        return linear(input.reshape(-1, input._shape[-1]), weight, bias).reshape(lead + (weight._shape[0],))
    if bias is not None and input.ndim == 2:
        return addmm(bias, input, weight.t())
    out = matmul(input, weight.t())
    return out + bias if bias is not None else out


def _conv_padding(opname, input, weight, stride, padding, dilation, nd):
    """'valid' and 'same' as PyTorch: 'same' pads asymmetrically (extra on the right) for even kernels."""
    if not isinstance(padding, str):
        return input, padding
    if padding == "valid":
        return input, 0
    if padding != "same":
        raise InvalidArgumentError(f"{opname}(): padding must be 'valid', 'same', an int or a tuple, got {padding!r}")
    s = _nn._tuple_arg(stride, nd, "stride", opname, 1)
    if any(x != 1 for x in s):
        raise InvalidArgumentError(f"{opname}(): padding='same' is not supported for strided convolutions (stride={s})")
    d = _nn._tuple_arg(dilation, nd, "dilation", opname, 1)
    ks = weight._shape[2:]
    left, extra = [], []
    for i in range(nd):
        total = d[i] * (ks[i] - 1)
        left.append(total // 2)
        extra.append(total - 2 * (total // 2))
    if any(extra):
        pads = []
        for i in reversed(range(nd)):
            pads += [0, extra[i]]
        input = _nn.constant_pad_nd(input, pads)
    return input, tuple(left)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    input, padding = _conv_padding("conv1d", input, weight, stride, padding, dilation, 1)
    return _nn.conv1d(input, weight, bias, stride, padding, dilation, groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    input, padding = _conv_padding("conv2d", input, weight, stride, padding, dilation, 2)
    return _nn.conv2d(input, weight, bias, stride, padding, dilation, groups)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    r = _nn.max_pool2d_with_indices(input, kernel_size, () if stride is None else stride, padding, dilation,
                                    ceil_mode)
    return r if return_indices else r[0]


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    return _nn.avg_pool2d(input, kernel_size, () if stride is None else stride, padding, ceil_mode,
                          count_include_pad, divisor_override)


def adaptive_avg_pool2d(input, output_size):
    return _nn.adaptive_avg_pool2d(input, output_size)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    return _nn.batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    return _nn.layer_norm(input, tuple(normalized_shape), weight, bias, eps)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    return _nn.group_norm(input, num_groups, weight, bias, eps)


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
              sparse=False):
    """Rows of ``weight`` picked by ``input``. With ``sparse=True`` the weight's gradient is a sparse COO
    tensor: one row per looked-up index (those equal to ``padding_idx`` left out), uncoalesced, as PyTorch."""
    if max_norm is not None or scale_grad_by_freq:
        raise UnsupportedError("embedding(): max_norm and scale_grad_by_freq are not supported")
    if sparse:
        return _sparse_embedding().apply(weight, input, padding_idx)
    return _nn.embedding(weight, input, padding_idx)


_SPARSE_EMBEDDING = None


def _sparse_embedding():
    """The embedding lookup as an autograd Function whose weight gradient is sparse (made on first use: it
    needs the sparse tensors and autograd)."""
    global _SPARSE_EMBEDDING
    if _SPARSE_EMBEDDING is None:
        from ..autograd.function import Function
        from ..ops.creation import clone
        from ..ops.indexing import index_select, nonzero
        from ..ops.elementwise import ne
        from ..ops.views import reshape
        from ..sparse import SparseCooTensorWithDimsAndTensors

        class Embedding(Function):
            @staticmethod
            def forward(ctx, weight, indices, padding_idx):
                ctx.indices, ctx.padding_idx, ctx.size = indices, padding_idx, tuple(weight._shape)
                return _nn.embedding(weight, indices, padding_idx)

            @staticmethod
            def backward(ctx, g):
                num, dim = ctx.size
                idx = reshape(ctx.indices, (-1,)).long()
                rows = reshape(g, (-1, dim))
                if ctx.padding_idx is not None:
                    keep = reshape(nonzero(ne(idx, ctx.padding_idx % num)), (-1,))
                    idx, rows = index_select(idx, 0, keep), index_select(rows, 0, keep)
                else:
                    rows = clone(rows)  # the weight's .grad keeps these rows: not an alias of the output's grad
                grad = SparseCooTensorWithDimsAndTensors.apply(reshape(idx, (1, -1)), rows, (num, dim),
                                                               idx._shape[0] <= 1)
                return grad, None, None

        _SPARSE_EMBEDDING = Embedding
    return _SPARSE_EMBEDDING


def dropout(input, p=0.5, training=True, inplace=False, generator=None):
    """Zero each element with probability p and scale the rest by 1/(1-p), when training.

    Ember's ``dropout`` operator (over the Philox generator) does the work where the core has it."""
    op = _dropout_op()
    if op is not None:
        return op(input, p, training, inplace, generator=generator)
    if not 0.0 <= p <= 1.0:
        raise InvalidArgumentError(f"dropout(): p must be a probability in [0, 1], got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        out = mul(input, 0)
    else:
        keep = _random.rand(input._shape, dtype=input._dtype if input._dtype.is_floating_point else None,
                            device=input._device, generator=generator) >= p
        out = mul(input, mul(keep.to(input._dtype), 1.0 / (1.0 - p)))
    return input.copy_(out) if inplace else out


def _dropout_op():
    from ..dispatch import registry
    op = registry.get("dropout")
    return None if op is None else op.fn


def relu(input, inplace=False):
    out = _nn.relu(input)
    return input.copy_(out) if inplace else out


def gelu(input, approximate="none"):
    return _nn.gelu(input, approximate)


def silu(input, inplace=False):
    out = _nn.silu(input.clone() if inplace and input.requires_grad else input)  # silu saves its input
    return input.copy_(out) if inplace else out


def tanh(input):
    return _tanh(input)


def sigmoid(input):
    return _sigmoid(input)


def _softmax_dim(input, dim):
    if dim is None:  # PyTorch's legacy default
        return 0 if input.ndim in (0, 1, 3) else 1
    return dim


def softmax(input, dim=None, dtype=None):
    return _red.softmax(input, _softmax_dim(input, dim), dtype)


def log_softmax(input, dim=None, dtype=None):
    return _red.log_softmax(input, _softmax_dim(input, dim), dtype)


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    return _nn.cross_entropy(input, target, weight, reduction, ignore_index, float(label_smoothing))


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    return _nn.nll_loss(input, target, weight, reduction, ignore_index)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if weight is not None:
        return _weighted_pointwise_loss(_nn.mse_loss, input, target, reduction, weight)
    return _nn.mse_loss(input, target, reduction)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if weight is not None:
        return _weighted_pointwise_loss(_nn.l1_loss, input, target, reduction, weight)
    return _nn.l1_loss(input, target, reduction)


def _weighted_pointwise_loss(op, input, target, reduction, weight):
    """PyTorch's weighted l1/mse: the 'mean' divides by the summed weights, not the element count."""
    if tuple(weight._shape) != tuple(input._shape):
        raise ShapeError(f"weight of shape {tuple(weight._shape)} and input of shape {tuple(input._shape)} must "
                         f"have the same size")
    loss = mul(op(input, target, "none"), weight)
    if reduction == "none":
        return loss
    total = _red.sum(loss)
    return total if reduction == "sum" else total / _red.sum(weight)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    return _nn.binary_cross_entropy(input, target, weight, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    return _nn.binary_cross_entropy_with_logits(input, target, weight, pos_weight, reduction)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    return _nn.scaled_dot_product_attention(query, key, value, attn_mask, float(dropout_p), is_causal,
                                            scale=scale)


def pad(input, pad, mode="constant", value=None):
    if mode != "constant":
        raise UnsupportedError(f"pad(): mode {mode!r} is not supported; only 'constant'")
    return _nn.constant_pad_nd(input, tuple(pad), 0 if value is None else value)


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    return _nn.im2col(input, kernel_size, dilation, padding, stride)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    return _nn.col2im(input, output_size, kernel_size, dilation, padding, stride)


def one_hot(tensor, num_classes=-1):
    return tensor.one_hot(num_classes)


# -- the rest of PyTorch's activations and losses, composed of the operators above --------

from ._activations import (celu, elu, glu, hardshrink, hardsigmoid, hardswish, hardtanh, leaky_relu,  # noqa: E402
                           logsigmoid, mish, prelu, relu6, rrelu, selu, softmin, softplus, softshrink, softsign,
                           tanhshrink, threshold)
from ._losses import (cosine_embedding_loss, gaussian_nll_loss, hinge_embedding_loss, huber_loss,  # noqa: E402
                      kl_div, margin_ranking_loss, multi_margin_loss, multilabel_margin_loss,
                      multilabel_soft_margin_loss, poisson_nll_loss, smooth_l1_loss, soft_margin_loss,
                      triplet_margin_loss, triplet_margin_with_distance_loss)
from ._losses import legacy_reduction as _legacy_reduction  # noqa: E402
from ._ctc import ctc_loss  # noqa: E402

__all__ += ["celu", "elu", "glu", "hardshrink", "hardsigmoid", "hardswish", "hardtanh", "leaky_relu", "logsigmoid",
            "mish", "prelu", "relu6", "rrelu", "selu", "softmin", "softplus", "softshrink", "softsign", "tanhshrink",
            "threshold", "cosine_embedding_loss", "gaussian_nll_loss", "hinge_embedding_loss", "huber_loss", "kl_div",
            "margin_ranking_loss", "multi_margin_loss", "multilabel_margin_loss", "multilabel_soft_margin_loss",
            "poisson_nll_loss", "smooth_l1_loss", "soft_margin_loss", "triplet_margin_loss",
            "triplet_margin_with_distance_loss", "ctc_loss"]

from .modules.misc import bilinear, cosine_similarity, embedding_bag, pairwise_distance  # noqa: E402

__all__ += ["bilinear", "cosine_similarity", "embedding_bag", "pairwise_distance"]

from ._attention import scaled_dot_product_attention  # noqa: E402,F811  (adds enable_gqa and safe masking)

from ._padding import pad  # noqa: E402,F811  (every mode: constant, reflect, replicate, circular)
from ._conv_more import conv3d, conv_transpose1d, conv_transpose2d, conv_transpose3d  # noqa: E402

__all__ += ["conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"]
from ._pooling import (adaptive_avg_pool1d, adaptive_avg_pool3d, adaptive_max_pool1d,  # noqa: E402
                       adaptive_max_pool2d, adaptive_max_pool3d, avg_pool1d, avg_pool3d, lp_pool1d, lp_pool2d,
                       lp_pool3d, max_pool1d, max_pool3d, max_unpool1d, max_unpool2d, max_unpool3d)

__all__ += ["adaptive_avg_pool1d", "adaptive_avg_pool3d", "adaptive_max_pool1d", "adaptive_max_pool2d",
            "adaptive_max_pool3d", "avg_pool1d", "avg_pool3d", "lp_pool1d", "lp_pool2d", "lp_pool3d", "max_pool1d",
            "max_pool3d", "max_unpool1d", "max_unpool2d", "max_unpool3d"]
from ._interpolate import (interpolate, pixel_shuffle, pixel_unshuffle, upsample, upsample_bilinear,  # noqa: E402
                           upsample_nearest)

__all__ += ["interpolate", "pixel_shuffle", "pixel_unshuffle", "upsample", "upsample_bilinear", "upsample_nearest"]

from .modules.normalization_more import instance_norm, local_response_norm, rms_norm  # noqa: E402
from .modules.dropout import alpha_dropout, dropout1d, dropout2d, dropout3d, feature_alpha_dropout  # noqa: E402

__all__ += ["instance_norm", "local_response_norm", "rms_norm", "alpha_dropout", "dropout1d", "dropout2d", "dropout3d",
            "feature_alpha_dropout"]
from ._normalize import gumbel_softmax, normalize  # noqa: E402
from ._grid_sample import affine_grid, grid_sample  # noqa: E402

__all__ += ["normalize", "gumbel_softmax", "affine_grid", "grid_sample"]
from .modules.channel_shuffle import channel_shuffle, native_channel_shuffle  # noqa: E402
from .modules.fractional_pool import fractional_max_pool2d, fractional_max_pool2d_with_indices  # noqa: E402

__all__ += ["channel_shuffle", "native_channel_shuffle", "fractional_max_pool2d", "fractional_max_pool2d_with_indices"]

from ..amp.kernels import wrap_functions as _amp_wrap  # noqa: E402  (autocast policies of the composites above)
_amp_wrap(globals(), "F.")
