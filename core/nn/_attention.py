"""F.scaled_dot_product_attention with PyTorch's full signature, over Ember's attention operator.

The operator computes softmax(q k^T * scale + mask) v; this layer adds what PyTorch's function does
around it: grouped-query attention (key and value heads repeated to the query's), the mask dtype and
shape rules, and rows whose every key is masked giving zeros (with zero gradients) instead of NaN.
"""

from __future__ import annotations

import math

from .. import dtypes as D
from ..errors import DTypeError, IndexOutOfRangeError, ShapeError
from ..ops import nn as _nn
from ..ops._helpers import broadcast_shapes
from ..errors import InvalidArgumentError

__all__ = ["scaled_dot_product_attention"]


def _repeat_heads(t, heads, what, q_shape):
    """(..., Hkv, S, E) -> (..., heads, S, E), each of the Hkv heads repeated heads // Hkv times in turn."""
    hkv = t._shape[-3]
    if hkv == heads:
        return t
    if hkv == 0 or heads % hkv:
        raise ShapeError(f"scaled_dot_product_attention(): with enable_gqa=True the number of {what} heads "
                         f"({hkv}, dim -3 of {tuple(t._shape)}) must divide the number of query heads ({heads}, "
                         f"dim -3 of {tuple(q_shape)})")
    lead, rest = t._shape[:-3], t._shape[-2:]
    t = t.unsqueeze(-3).expand(*lead, hkv, heads // hkv, *rest)
    return t.reshape(*lead, heads, *rest)


def _check_mask(attn_mask, query, key, value):
    if attn_mask._dtype is not D.bool and attn_mask._dtype not in (D.float32, query._dtype):
        raise DTypeError(f"scaled_dot_product_attention(): attn_mask must be bool, float32 or the query's dtype "
                         f"({query._dtype.name}), got {attn_mask._dtype.name}; convert it with .to(query.dtype)")
    batch = broadcast_shapes(query._shape[:-2], key._shape[:-2], value._shape[:-2])
    weights = tuple(batch) + (query._shape[-2], key._shape[-2])
    try:
        fits = tuple(broadcast_shapes(attn_mask._shape, weights)) == weights
    except ShapeError:
        fits = False
    if not fits:
        raise ShapeError(f"scaled_dot_product_attention(): attn_mask of shape {tuple(attn_mask._shape)} does not "
                         f"broadcast to the attention weights' shape {weights} (batch..., L, S)")


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False):
    """softmax(query @ key^T * scale + mask) @ value, as ``torch.nn.functional.scaled_dot_product_attention``.

    A bool ``attn_mask`` marks with True the positions that take part, a float one is added to the scores;
    it broadcasts over the batch dims. ``is_causal`` keeps the top-left lower triangle of the (L, S) scores.
    ``scale`` defaults to 1/sqrt(E). ``enable_gqa`` lets key and value have fewer heads (dim -3) than the
    query, each shared by a group of query heads. ``dropout_p`` drops attention weights (always, as PyTorch:
    pass 0.0 in evaluation).
    """
    for name, t in (("query", query), ("key", key), ("value", value)):
        if t.ndim < 2:
            raise ShapeError(f"scaled_dot_product_attention(): query, key and value must be at least 2-D "
                             f"(..., L or S, E), got {name} of shape {tuple(t._shape)}")
    if enable_gqa:
        if query.ndim < 3 or key.ndim < 3 or value.ndim < 3:
            raise IndexOutOfRangeError(
                f"scaled_dot_product_attention(): enable_gqa=True needs a heads dim (-3) in query, key and "
                f"value, got shapes {tuple(query._shape)}, {tuple(key._shape)}, {tuple(value._shape)}")
        heads = query._shape[-3]
        key = _repeat_heads(key, heads, "key", query._shape)
        value = _repeat_heads(value, heads, "value", query._shape)
    dropout_p = float(dropout_p)
    if attn_mask is None:
        return _nn.scaled_dot_product_attention(query, key, value, None, dropout_p, bool(is_causal), scale=scale)
    if is_causal:
        raise InvalidArgumentError("scaled_dot_product_attention(): pass either attn_mask or is_causal=True, not both")
    _check_mask(attn_mask, query, key, value)
    # A row that may attend to nothing gives zeros, as PyTorch's safe softmax: unmask it for the operator (so
    # the softmax stays finite) and zero its output afterwards (so its gradients are zero too).
    if attn_mask._dtype is D.bool:
        blocked = attn_mask.any(-1, keepdim=True).logical_not()
        attn_mask = attn_mask.logical_or(blocked)
    else:
        blocked = (attn_mask == -math.inf).all(-1, keepdim=True)
        attn_mask = attn_mask.to(query._dtype).masked_fill(blocked, 0.0)
    out = _nn.scaled_dot_product_attention(query, key, value, attn_mask, dropout_p, False, scale=scale)
    return out.masked_fill(blocked, 0.0)
