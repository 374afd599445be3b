"""Bilinear, EmbeddingBag, CosineSimilarity, PairwiseDistance and their functional forms.

Each is built from Ember operators (matmul, index_add, gather, reductions), so every backend runs it
and autograd differentiates it.
"""

from __future__ import annotations

import math

from ... import dtypes as D
from ..._tensor import Tensor
from ...ops._helpers import broadcast_shapes
from ...ops.creation import empty
from .. import init
from ..module import Module, _no_grad
from ..parameter import Parameter
from ...errors import ArgumentTypeError, InvalidArgumentError, UnsupportedError

__all__ = ["Bilinear", "EmbeddingBag", "CosineSimilarity", "PairwiseDistance", "bilinear", "embedding_bag",
           "cosine_similarity", "pairwise_distance"]


def _ember():
    import ember
    return ember


def _shape(t):
    return tuple(t._shape)


# -- norms -------------------------------------------------------------------------------------------------
def _safe_sqrt(s):
    """sqrt(s) whose gradient is 0 (not nan) where s is 0, as PyTorch's norm backward."""
    e = _ember()
    zero = s == 0
    return e.where(zero, e.zeros_like(s), e.where(zero, e.ones_like(s), s).sqrt())


def _norm(x, p, dim, keepdim=False):
    """The p-norm over ``dim`` (p may be 0, inf or -inf), with PyTorch's zero gradient at a zero norm."""
    a = x.abs()
    if p == 2:
        return _safe_sqrt((x * x).sum(dim, keepdim=keepdim))
    if p == 1:
        return a.sum(dim, keepdim=keepdim)
    if p == math.inf:
        return a.amax(dim, keepdim=keepdim)
    if p == -math.inf:
        return a.amin(dim, keepdim=keepdim)
    if p == 0:
        return (x != 0).to(x._dtype).sum(dim, keepdim=keepdim)
    s = (a ** p).sum(dim, keepdim=keepdim)
    e = _ember()
    zero = s == 0
    return e.where(zero, e.zeros_like(s), e.where(zero, e.ones_like(s), s) ** (1.0 / p))


# -- functional --------------------------------------------------------------------------------------------
def bilinear(input1, input2, weight, bias=None):
    """y[..., o] = sum_ij input1[..., i] * weight[o, i, j] * input2[..., j] + bias[o]."""
    if weight.ndim != 3:
        raise InvalidArgumentError(f"bilinear(): weight must be 3-D (out, in1, in2), got shape {_shape(weight)}")
    out_f, in1, in2 = _shape(weight)
    if _shape(input1)[:-1] != _shape(input2)[:-1]:
        raise InvalidArgumentError(f"bilinear(): input batch dimensions do not match: got {_shape(input1)[:-1]} and "
                                   f"{_shape(input2)[:-1]}")
    if input1._shape[-1] != in1 or input2._shape[-1] != in2:
        raise InvalidArgumentError(f"bilinear(): input sizes {input1._shape[-1]} and {input2._shape[-1]} do not match "
                                   f"the weight's in1_features={in1} and in2_features={in2}")
    if bias is not None and _shape(bias) != (out_f,):
        raise InvalidArgumentError(f"bilinear(): bias must have shape ({out_f},), got {_shape(bias)}")
    # (..., in1) @ (in1, out*in2) -> (..., out, in2), then contract in2 with input2
    w = weight.permute(1, 0, 2).reshape(in1, out_f * in2)
    t = input1.matmul(w).reshape(_shape(input1)[:-1] + (out_f, in2))
    y = (t * input2.unsqueeze(-2)).sum(-1)
    return y if bias is None else y + bias


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """sum(x1/|x1| * x2/|x2|) over ``dim``, each norm clamped below at eps (in value only, as PyTorch)."""
    shape = broadcast_shapes(x1._shape, x2._shape)
    x1, x2 = x1.expand(shape), x2.expand(shape)
    n1 = _norm(x1, 2, dim, keepdim=True)
    n2 = _norm(x2, 2, dim, keepdim=True)
    # the clamp changes the value, not the gradient: PyTorch clamps a clone in place under no_grad
    n1 = n1 + (n1.detach().clamp(min=eps) - n1.detach())
    n2 = n2 + (n2.detach().clamp(min=eps) - n2.detach())
    return ((x1 / n1) * (x2 / n2)).sum(dim)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """The p-norm of x1 - x2 + eps over the last dimension."""
    dim = max(x1.ndim, x2.ndim) - 1
    return _norm(x1 - x2 + eps, p, max(dim, 0), keepdim)


_MODES = ("sum", "mean", "max")


def _check_bag_args(input, weight, offsets, mode, per_sample_weights, scale_grad_by_freq, sparse):
    if not isinstance(input, Tensor) or input._dtype not in (D.int64, D.int32):
        got = input._dtype.name if isinstance(input, Tensor) else type(input).__name__
        raise ArgumentTypeError(f"embedding_bag(): input must be an int64 or int32 tensor of indices, got {got}")
    if per_sample_weights is not None and _shape(input) != _shape(per_sample_weights):
        raise InvalidArgumentError(f"embedding_bag: If per_sample_weights ({_shape(per_sample_weights)}) is not None, then "
                                   f"it must have the same shape as the input ({_shape(input)})")
    if weight.ndim != 2:
        raise InvalidArgumentError(f"weight has to be a 2D Tensor, but got Tensor of dimension {weight.ndim}")
    if input.ndim == 2 and offsets is not None:
        raise InvalidArgumentError(f"if input is 2D, then offsets has to be None, as input is treated is a mini-batch of "
                                   f"fixed length sequences. However, found offsets of type {type(offsets).__name__}")
    if input.ndim == 1 and (offsets is None or offsets.ndim != 1):
        raise InvalidArgumentError(f"offsets has to be a 1D Tensor but got "
                                   f"{'None' if offsets is None else f'shape {_shape(offsets)}'}")
    if input.ndim not in (1, 2):
        raise InvalidArgumentError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension {input.ndim}")
    if mode not in _MODES:
        raise InvalidArgumentError(f"mode has to be one of sum, mean or max, got {mode!r}")
    if mode == "max" and scale_grad_by_freq:
        raise InvalidArgumentError("max mode does not support scaling the gradient by the frequency")
    if mode == "max" and sparse:
        raise InvalidArgumentError("max mode does not support sparse weights")
    if scale_grad_by_freq:
        raise UnsupportedError("embedding_bag(): scale_grad_by_freq is not supported in Ember; leave it False")
    if per_sample_weights is not None and mode != "sum":
        raise UnsupportedError(f"embedding_bag: per_sample_weights was not None. per_sample_weights is only "
                                  f"supported for mode='sum' (got mode='{mode}').")


def _renorm_rows_(weight, idx, max_norm, norm_type):
    """Scale the rows of ``weight`` that ``idx`` looks up to norm at most max_norm, in place."""
    e = _ember()
    with _no_grad():
        rows = weight[idx]
        n = _norm(rows, norm_type, 1, keepdim=True)
        scale = e.where(n > max_norm, max_norm / (n + 1e-7), e.ones_like(n))
        weight[idx] = rows * scale


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2, scale_grad_by_freq=False,
                  mode="mean", sparse=False, per_sample_weights=None, include_last_offset=False,
                  padding_idx=None):
    """Sum, mean or max of the embedding rows in each bag, without building the (indices, dim) rows per
    bag: bags are given by ``offsets`` into a 1-D ``input``, or are the rows of a 2-D ``input``."""
    e = _ember()
    _check_bag_args(input, weight, offsets, mode, per_sample_weights, scale_grad_by_freq, sparse)
    num, dim = _shape(weight)
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise InvalidArgumentError(f"padding_idx {padding_idx} must be within num_embeddings ({num})")
        padding_idx %= num
    dev = weight._device
    fixed = input.ndim == 2
    if fixed:
        nbags, length = _shape(input)
        input = input.reshape(-1)
        if per_sample_weights is not None:
            per_sample_weights = per_sample_weights.reshape(-1)
    n = input._shape[0]
    input = input.to(D.int64)
    if max_norm is not None:
        _renorm_rows_(weight, input, max_norm, norm_type)
    if sparse:  # the weight's gradient: one sparse row per looked-up index, padding_idx's left out
        from ..functional import embedding
        rows = embedding(input, weight, padding_idx, sparse=True)
    else:
        rows = weight[input]                                        # (n, dim)
    if fixed:
        seg = e.arange(n, device=dev) // max(length, 1)
        valid = e.ones((n,), dtype=D.bool, device=dev)
    else:
        offsets = offsets.to(D.int64)
        nbags = offsets._shape[0] - (1 if include_last_offset else 0)
        # bag id of each position: count the bag starts at or before it
        marks = e.zeros((n + 1,), dtype=D.int64, device=dev).index_add(
            0, offsets.clamp(0, n), e.ones(offsets._shape, dtype=D.int64, device=dev))
        seg = marks[:n].cumsum(0) - 1
        valid = (seg >= 0) & (seg < nbags)
    if padding_idx is not None:
        valid = valid & (input != padding_idx)
    seg_c = seg.clamp(0, max(nbags - 1, 0))
    mask = valid.to(weight._dtype).unsqueeze(1)
    if mode == "max":
        return _bag_max(e, rows, seg_c, valid, nbags, length if fixed else None, offsets, n, include_last_offset)
    if per_sample_weights is not None:
        rows = rows * per_sample_weights.unsqueeze(1)
    out = e.zeros((nbags, dim), dtype=weight._dtype, device=dev).index_add(0, seg_c, rows * mask)
    if mode == "mean":
        count = e.zeros((nbags,), dtype=weight._dtype, device=dev).index_add(0, seg_c, mask.squeeze(1))
        out = out / count.clamp(min=1).unsqueeze(1)
    return out


def _bag_max(e, rows, seg, valid, nbags, length, offsets, n, include_last_offset):
    """Per-bag maximum: lay the bags out as (bags, longest bag, dim) padded with -inf, then max over
    dim 1; empty bags give 0 as in PyTorch. Offsets need one host read, the longest bag's length."""
    dev, dt = rows._device, rows._dtype
    dim = rows._shape[1]
    if length is None:
        ends = offsets[1:] if include_last_offset else e.cat([offsets[1:], e.tensor([n], device=dev)])
        starts = offsets[:nbags]
        length = int((ends.clamp(max=n) - starts).amax().item()) if nbags else 0
        pos = e.arange(n, device=dev) - starts[seg]
    else:
        pos = e.arange(n, device=dev) % max(length, 1)
    length = max(length, 1)
    slot = e.where(valid, seg * length + pos, e.full((n,), nbags * length, dtype=D.int64, device=dev))
    src = e.full((nbags * length + 1,), n, dtype=D.int64, device=dev)
    src = src.scatter(0, slot, e.arange(n, device=dev))[:nbags * length]
    table = e.cat([rows, e.full((1, dim), -math.inf, dtype=dt, device=dev)])
    best = table[src].reshape(nbags, length, dim).max(dim=1).values
    return e.where(best == -math.inf, e.zeros_like(best), best)


# -- modules -----------------------------------------------------------------------------------------------
class Bilinear(Module):
    """y = x1^T A x2 + b for each output feature, weight (out, in1, in2) uniform in +-1/sqrt(in1)."""

    def __init__(self, in1_features, in2_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in1_features, self.in2_features, self.out_features = in1_features, in2_features, out_features
        self.weight = Parameter(empty((out_features, in1_features, in2_features), device=device, dtype=dtype))
        if bias:
            self.bias = Parameter(empty((out_features,), device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        bound = 1 / math.sqrt(self.weight._shape[1]) if self.weight._shape[1] else 0
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1, input2):
        return bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self):
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")


class EmbeddingBag(Module):
    """Sums, averages or takes the max of bags of embeddings (an Embedding then a reduction, fused)."""

    def __init__(self, num_embeddings, embedding_dim, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
                 mode="mean", sparse=False, _weight=None, include_last_offset=False, padding_idx=None,
                 device=None, dtype=None):
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.max_norm, self.norm_type, self.scale_grad_by_freq = max_norm, norm_type, scale_grad_by_freq
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise InvalidArgumentError(f"padding_idx {padding_idx} must be within num_embeddings ({num_embeddings})")
            padding_idx %= num_embeddings
        self.padding_idx = padding_idx
        if _weight is None:
            self.weight = Parameter(empty((num_embeddings, embedding_dim), device=device, dtype=dtype))
            self.reset_parameters()
        else:
            if _shape(_weight) != (num_embeddings, embedding_dim):
                raise InvalidArgumentError(f"Shape of weight {_shape(_weight)} does not match num_embeddings and "
                                           f"embedding_dim ({num_embeddings}, {embedding_dim})")
            self.weight = Parameter(_weight)
        self.mode, self.sparse, self.include_last_offset = mode, sparse, include_last_offset

    def reset_parameters(self):
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with _no_grad():
                self.weight[self.padding_idx] = 0

    def forward(self, input, offsets=None, per_sample_weights=None):
        return embedding_bag(input, self.weight, offsets, self.max_norm, self.norm_type, self.scale_grad_by_freq,
                             self.mode, self.sparse, per_sample_weights, self.include_last_offset,
                             self.padding_idx)

    def extra_repr(self):
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            s += f", scale_grad_by_freq={self.scale_grad_by_freq}"
        s += f", mode={self.mode!r}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
                        mode="mean", sparse=False, include_last_offset=False, padding_idx=None):
        if embeddings.ndim != 2:
            raise InvalidArgumentError(f"Embeddings parameter is expected to be 2-dimensional, got shape "
                                       f"{_shape(embeddings)}")
        rows, cols = _shape(embeddings)
        bag = cls(rows, cols, max_norm, norm_type, scale_grad_by_freq, mode, sparse, embeddings,
                  include_last_offset, padding_idx)
        bag.weight.requires_grad_(not freeze)
        return bag


class CosineSimilarity(Module):
    """Cosine of the angle between x1 and x2 along ``dim``."""

    def __init__(self, dim=1, eps=1e-8):
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x1, x2):
        return cosine_similarity(x1, x2, self.dim, self.eps)


class PairwiseDistance(Module):
    """The p-norm distance between rows of x1 and x2: ||x1 - x2 + eps||_p over the last dimension."""

    def __init__(self, p=2.0, eps=1e-6, keepdim=False):
        super().__init__()
        self.norm, self.eps, self.keepdim = p, eps, keepdim

    def forward(self, x1, x2):
        return pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)
