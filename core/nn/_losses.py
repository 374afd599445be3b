"""The loss functions of torch.nn.functional beyond the cross-entropy family, as composites of Ember operators.

Each follows PyTorch's formula, its reductions and its weighting rules (for
example a weighted 'mean' of l1/mse divides by the summed weights, huber's
by the element count). Hinges use ``where`` so that the gradient at the kink
is PyTorch's: ``clamp_min(z, 0)`` passes the gradient at z == 0, the margin
losses written with ``if z > 0`` in PyTorch's kernels do not.
"""

from __future__ import annotations

import builtins as _b
import math
import warnings

from ..errors import ShapeError
from ..ops._helpers import broadcast_shapes
from ..ops.creation import arange, zeros_like
from ..ops.elementwise import abs as _abs
from ..ops.elementwise import (eq, exp, ge, gt, log, logaddexp, logical_and, logical_not, lt, maximum, minimum, mul,
                               ne, neg, sqrt, true_divide, where)
from ..ops.indexing import gather, index_select
from ..ops.nn import REDUCTIONS, _reduce
from ..ops.reduction import cumprod, sum
from ..ops.views import expand, reshape, unsqueeze
from .modules.misc import pairwise_distance
from ..errors import InvalidArgumentError

__all__ = ["smooth_l1_loss", "huber_loss", "kl_div", "poisson_nll_loss", "gaussian_nll_loss",
           "margin_ranking_loss", "hinge_embedding_loss", "multilabel_margin_loss", "multilabel_soft_margin_loss",
           "soft_margin_loss", "cosine_embedding_loss", "multi_margin_loss", "triplet_margin_loss",
           "triplet_margin_with_distance_loss"]


def legacy_reduction(size_average, reduce, reduction):
    """The reduction named by PyTorch's deprecated size_average/reduce flags, else ``reduction``."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    reduction = ("mean" if size_average else "sum") if reduce else "none"
    warnings.warn(f"size_average and reduce args will be deprecated, please use reduction='{reduction}' instead.",
                  stacklevel=3)
    return reduction


def check_reduction(opname, reduction, allowed=REDUCTIONS):
    if reduction not in allowed:
        raise InvalidArgumentError(f"{opname}(): reduction must be one of {', '.join(map(repr, allowed))}, got {reduction!r}")
    return reduction


def _broadcast(opname, a, b):
    if tuple(a._shape) != tuple(b._shape):
        warnings.warn(f"{opname}(): using a target size ({tuple(b._shape)}) that is different to the input size "
                      f"({tuple(a._shape)}); this will likely lead to incorrect results due to broadcasting. "
                      f"Please ensure they have the same size.", stacklevel=3)
        shape = broadcast_shapes(a._shape, b._shape)
        a, b = expand(a, shape), expand(b, shape)
    return a, b


def _zero(x):
    """Zeros of x's dtype, device and shape, without a graph edge to x (x * 0 would be NaN at inf)."""
    return zeros_like(x)


def clamp_min0(z):
    """max(z, 0) with PyTorch's clamp_min gradient: it passes where z >= 0."""
    return where(lt(z, 0), _zero(z), z)


def _hinge(z):
    """max(z, 0) with the gradient of a kernel written ``if z > 0``: none at z == 0."""
    return where(gt(z, 0), z, _zero(z))


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    reduction = check_reduction("smooth_l1_loss", legacy_reduction(size_average, reduce, reduction))
    if beta < 0:
        raise InvalidArgumentError(f"smooth_l1_loss(): beta must be >= 0, got {beta}")
    input, target = _broadcast("smooth_l1_loss", input, target)
    d = input - target
    ad = _abs(d)
    if beta == 0:
        return _reduce(ad, reduction)
    return _reduce(where(lt(ad, beta), mul(d * d, 0.5 / beta), ad - 0.5 * beta), reduction)


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    check_reduction("huber_loss", reduction)
    if delta <= 0:
        raise InvalidArgumentError(f"huber_loss(): delta must be > 0, got {delta}")
    input, target = _broadcast("huber_loss", input, target)
    d = input - target
    ad = _abs(d)
    loss = where(lt(ad, delta), mul(d * d, 0.5), mul(ad - 0.5 * delta, delta))
    if weight is not None:
        if tuple(weight._shape) != tuple(input._shape):
            raise ShapeError(f"huber_loss(): weight of shape {tuple(weight._shape)} and input of shape "
                             f"{tuple(input._shape)} must have the same size")
        loss = loss * weight
    return _reduce(loss, reduction)


def _xlogx(t):
    """t * log(t), 0 where t == 0."""
    z = eq(t, 0)
    return where(z, _zero(t), t * log(where(z, _zero(t) + 1, t)))


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """target * (log target - input) pointwise; 'batchmean' divides the sum by the batch size (input.size(0))."""
    reduction = check_reduction("kl_div", legacy_reduction(size_average, reduce, reduction),
                                ("none", "batchmean", "sum", "mean"))
    if reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the support size. "
                      "'batchmean' divides only by the batch size, and aligns with the KL div math definition.",
                      stacklevel=2)
    if log_target:
        loss = exp(target) * (target - input)
    else:
        loss = _xlogx(target) - target * input
    if reduction == "batchmean":
        total = sum(loss)
        return true_divide(total, input._shape[0]) if input.ndim else total
    return _reduce(loss, reduction)


def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None,
                     reduction="mean"):
    reduction = check_reduction("poisson_nll_loss", legacy_reduction(size_average, reduce, reduction))
    if log_input:
        loss = exp(input) - target * input
    else:
        loss = input - target * log(input + eps)
    if full:  # Stirling's approximation of log(target!), counted where target > 1
        big = gt(target, 1)
        ts = where(big, target, _zero(target) + 2)
        stirling = ts * log(ts) - ts + mul(log(mul(ts, 2 * math.pi)), 0.5)
        loss = loss + where(big, stirling, _zero(stirling))
    return _reduce(loss, reduction)


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """0.5 * (log var + (input - target)^2 / var); var is clamped at eps, its gradient passes the clamp."""
    if isinstance(var, (int, float)):
        if var < 0:
            raise InvalidArgumentError("gaussian_nll_loss(): var has negative entry/entries")
        var = _zero(input) + var
    elif bool(lt(var, 0).any().item()):
        raise InvalidArgumentError("gaussian_nll_loss(): var has negative entry/entries")
    vs, xs = tuple(var._shape), tuple(input._shape)
    if vs != xs:
        if xs[:-1] == vs:
            var = unsqueeze(var, -1)
        elif not (len(vs) == len(xs) and _b.sum(v for x, v in zip(xs, vs) if x != v) == 1):
            raise InvalidArgumentError(f"gaussian_nll_loss(): var is of incorrect size: var of shape {vs} for input of "
                                       f"shape {xs}; use the input's shape, or it with one dim of size 1 or the last dim "
                                       f"dropped")
    check_reduction("gaussian_nll_loss", reduction)
    vd = var.detach()
    var = (var - vd) + maximum(vd, eps)
    d = input - target
    loss = mul(log(var) + d * d / var, 0.5)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


def margin_ranking_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None, reduction="mean"):
    reduction = check_reduction("margin_ranking_loss", legacy_reduction(size_average, reduce, reduction))
    if not input1.ndim == input2.ndim == target.ndim:
        raise ShapeError(f"margin_ranking_loss(): all input tensors should have the same number of dimensions but "
                         f"got sizes: input1: {tuple(input1._shape)}, input2: {tuple(input2._shape)}, "
                         f"target: {tuple(target._shape)}")
    return _reduce(clamp_min0(neg(target) * (input1 - input2) + margin), reduction)


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None, reduction="mean"):
    """margin - x clamped at 0 where target == -1, x where target == 1 (PyTorch adds both for other targets)."""
    reduction = check_reduction("hinge_embedding_loss", legacy_reduction(size_average, reduce, reduction))
    margin_part = clamp_min0(neg(input) + margin)
    out = where(ne(target, 1), margin_part, _zero(margin_part)) + where(ne(target, -1), input, _zero(input))
    return _reduce(out, reduction)


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """log(1 + exp(-target * input)), computed without overflow."""
    reduction = check_reduction("soft_margin_loss", legacy_reduction(size_average, reduce, reduction))
    z = neg(input * target)
    return _reduce(logaddexp(z, _zero(z)), reduction)


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    reduction = check_reduction("multilabel_soft_margin_loss", legacy_reduction(size_average, reduce, reduction))
    if input.ndim == 0:
        raise ShapeError("multilabel_soft_margin_loss(): input must have a class dim, got a 0-d tensor")
    # -(t log sigmoid(x) + (1 - t) log sigmoid(-x)) = softplus(-x) + (1 - t) x
    sp = logaddexp(neg(input), _zero(input))
    loss = sp + (1 - target) * input
    if weight is not None:
        loss = loss * weight
    C = input._shape[-1]
    return _reduce(true_divide(sum(loss, -1), C), reduction)


def cosine_embedding_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None, reduction="mean"):
    """1 - cos(x1, x2) where target == 1, max(0, cos(x1, x2) - margin) where target == -1."""
    reduction = check_reduction("cosine_embedding_loss", legacy_reduction(size_average, reduce, reduction))
    td = target.ndim
    if td not in (0, 1):
        raise ShapeError(f"cosine_embedding_loss(): 0D or 1D target tensor expected, multi-target not supported; "
                         f"got target of shape {tuple(target._shape)}")
    want = 2 if td == 1 else 1
    if input1.ndim != want or input2.ndim != want:
        raise ShapeError(f"cosine_embedding_loss(): {td}D target tensor expects {want}D input tensors, but found "
                         f"inputs with sizes {tuple(input1._shape)} and {tuple(input2._shape)}")
    eps = 1e-12
    prod = sum(input1 * input2, td)
    m1 = sum(input1 * input1, td) + eps
    m2 = sum(input2 * input2, td) + eps
    cos = prod / sqrt(m1 * m2)
    pos = neg(cos) + 1
    negp = clamp_min0(cos - margin)
    out = where(eq(target, 1), pos, _zero(pos)) + where(eq(target, -1), negp, _zero(negp))
    return _reduce(out, reduction)


def _frames(opname, input, target):
    """(N, C) view of a (C,) or (N, C) input; a 0-d input is one class."""
    if input.ndim > 2:
        raise ShapeError(f"{opname}(): expected a 1-D (C,) or 2-D (N, C) input, got shape {tuple(input._shape)}")
    C = input._shape[-1] if input.ndim else 1
    return reshape(input, (-1, C)), C


def multilabel_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """sum over target classes j and non-target classes i of max(0, 1 - (x[j] - x[i])), over C.

    ``target`` holds class indices, read up to its first negative entry."""
    reduction = check_reduction("multilabel_margin_loss", legacy_reduction(size_average, reduce, reduction))
    x, C = _frames("multilabel_margin_loss", input, target)
    N = x._shape[0]
    ok = (tuple(target._shape) == (N, C)) if input.ndim == 2 else (target.ndim <= 1 and target.numel() == C)
    if not ok:
        raise ShapeError(f"multilabel_margin_loss(): inconsistent target size: {tuple(target._shape)} for input "
                         f"of size: {tuple(input._shape)}; the target must have the input's shape")
    t = reshape(target, (N, C))
    valid = gt(cumprod(ge(t, 0).to(t._dtype), -1), 0)                        # (N, J): before the first -1
    ts = where(valid, t, _zero(t))
    onehot = logical_and(eq(unsqueeze(ts, -1), arange(C, device=x._device)), unsqueeze(valid, -1))  # (N, J, C)
    is_target = onehot.any(1)                                                  # (N, C)
    xy = gather(x, 1, ts)                                                      # (N, J)
    z = 1 - unsqueeze(xy, -1) + unsqueeze(x, 1)                                # (N, J, C)
    mask = logical_and(logical_and(unsqueeze(valid, -1), unsqueeze(logical_not(is_target), 1)), gt(z, 0))
    loss = true_divide(sum(where(mask, z, _zero(z)), (1, 2)), C)
    if input.ndim < 2:
        loss = reshape(loss, ())
    return _reduce(loss, reduction)


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, size_average=None, reduce=None,
                      reduction="mean"):
    """sum over i != y of max(0, margin - x[y] + x[i])^p (times weight[y]), over C."""
    reduction = check_reduction("multi_margin_loss", legacy_reduction(size_average, reduce, reduction))
    if p not in (1, 2):
        raise InvalidArgumentError(f"multi_margin_loss(): only p == 1 and p == 2 supported, got p={p}")
    x, C = _frames("multi_margin_loss", input, target)
    N = x._shape[0]
    if target.ndim > 1 or target.numel() != N:
        raise ShapeError(f"multi_margin_loss(): inconsistent target size, expected {N} class indices but got "
                         f"shape {tuple(target._shape)} for input of shape {tuple(input._shape)}")
    if weight is not None and (weight.ndim != 1 or weight.numel() != C):
        raise ShapeError(f"multi_margin_loss(): inconsistent weight size, expected ({C},) but got "
                         f"{tuple(weight._shape)}")
    t = reshape(target, (N, 1))
    xy = gather(x, 1, t)
    z = xy * -1 + x + margin
    h = where(logical_and(ne(arange(C, device=x._device), t), gt(z, 0)), z, _zero(z))
    if p == 2:
        h = h * h
    if weight is not None:
        h = h * unsqueeze(index_select(weight, 0, reshape(t, (N,))), 1)
    loss = reshape(true_divide(sum(h, 1), C), target._shape)
    return _reduce(loss, reduction)


def _same_ndim(opname, anchor, positive, negative):
    a, p, n = anchor.ndim, positive.ndim, negative.ndim
    if not a == p == n:
        raise ShapeError(f"{opname}(): the anchor, positive, and negative tensors are expected to have the same "
                         f"number of dimensions, but got: anchor {a}D, positive {p}D, and negative {n}D inputs")


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False, size_average=None,
                        reduce=None, reduction="mean"):
    reduction = check_reduction("triplet_margin_loss", legacy_reduction(size_average, reduce, reduction))
    _same_ndim("triplet_margin_loss", anchor, positive, negative)
    dpos = pairwise_distance(anchor, positive, p, eps)
    dneg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        dneg = minimum(dneg, pairwise_distance(positive, negative, p, eps))
    return _reduce(clamp_min0(dpos - dneg + margin), reduction)


def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None, margin=1.0,
                                      swap=False, reduction="mean"):
    check_reduction("triplet_margin_with_distance_loss", reduction)
    if margin <= 0:
        raise InvalidArgumentError(f"triplet_margin_with_distance_loss(): expected margin to be greater than 0, got {margin}")
    _same_ndim("triplet_margin_with_distance_loss", anchor, positive, negative)
    dist = distance_function if distance_function is not None else pairwise_distance
    dpos = dist(anchor, positive)
    dneg = dist(anchor, negative)
    if swap:
        dneg = minimum(dneg, dist(positive, negative))
    return _reduce(clamp_min0(dpos - dneg + margin), reduction)

