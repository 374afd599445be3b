"""MultiheadAttention, with PyTorch's parameter layout (so its state dicts load)."""

from __future__ import annotations

import math

from ... import dtypes as D
from ...errors import DTypeError, ShapeError
from ...ops.creation import empty, full
from ...ops.shape import cat
from .. import functional as F
from .. import init
from ..module import Module
from ..parameter import Parameter
from .linear import Linear
from ...errors import InvalidArgumentError


class MultiheadAttention(Module):
    """Attention over num_heads heads: in_proj (3E x E), or q/k/v_proj when kdim or vdim differ from
    embed_dim; out_proj Linear(E, E); add_bias_kv appends a learned key and value to every sequence,
    add_zero_attn a zero key and value (after the heads are split).

    Masks follow PyTorch: in ``attn_mask`` and ``key_padding_mask`` a bool True marks a position that may
    NOT be attended; a float mask is added to the scores.
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False, add_zero_attn=False,
                 kdim=None, vdim=None, batch_first=False, device=None, dtype=None):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise InvalidArgumentError(f"MultiheadAttention: embed_dim ({embed_dim}) and num_heads ({num_heads}) must be "
                                       f"positive")
        if embed_dim % num_heads:
            raise InvalidArgumentError(f"MultiheadAttention: embed_dim ({embed_dim}) must be divisible by num_heads "
                                       f"({num_heads})")
        self.embed_dim, self.num_heads, self.dropout = embed_dim, num_heads, dropout
        self.kdim = embed_dim if kdim is None else kdim
        self.vdim = embed_dim if vdim is None else vdim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.head_dim = embed_dim // num_heads
        self.batch_first = batch_first
        self.add_zero_attn = add_zero_attn
        kw = dict(device=device, dtype=dtype)
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(empty((3 * embed_dim, embed_dim), **kw))
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:   # keys and values of other widths: one projection each (PyTorch's layout)
            self.q_proj_weight = Parameter(empty((embed_dim, embed_dim), **kw))
            self.k_proj_weight = Parameter(empty((embed_dim, self.kdim), **kw))
            self.v_proj_weight = Parameter(empty((embed_dim, self.vdim), **kw))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(empty((3 * embed_dim,), **kw))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, **kw)
        if add_bias_kv:   # one learned key and value appended to every sequence
            self.bias_k = Parameter(empty((1, 1, embed_dim), **kw))
            self.bias_v = Parameter(empty((1, 1, embed_dim), **kw))
        else:
            self.bias_k = self.bias_v = None
        self._reset_parameters()

    def _reset_parameters(self):
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    def _mask(self, mask, what, shape, dtype):
        """A float mask to add to the scores, from a bool (True = blocked) or float mask."""
        if mask is None:
            return None
        if mask.dtype is D.bool:
            return full(tuple(mask.shape), 0, dtype=dtype, device=mask.device).masked_fill(mask, -math.inf)
        if not mask.dtype.is_floating_point:
            raise DTypeError(f"MultiheadAttention: {what} must be bool or floating, got {mask.dtype.name}")
        return mask.to(dtype)

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        batched = query.ndim == 3
        if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
            raise ShapeError(f"MultiheadAttention: query, key and value must all be 2-D (unbatched) or 3-D, got "
                             f"{tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}")
        for what, t, width in (("query", query, self.embed_dim), ("key", key, self.kdim), ("value", value, self.vdim)):
            if t.shape[-1] != width:
                name = {"query": "embed_dim", "key": "kdim", "value": "vdim"}[what]
                raise ShapeError(f"MultiheadAttention: expected the {what}'s last dim to be {name}={width}, got "
                                 f"shape {tuple(t.shape)}")
        if not batched:
            query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        elif self.batch_first:
            query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
        L, N, E = query.shape
        S = key.shape[0]
        H, hd = self.num_heads, self.head_dim
        b = self.in_proj_bias
        if self._qkv_same_embed_dim:
            w = self.in_proj_weight
            wq, wk, wv = w[:E], w[E:2 * E], w[2 * E:]
        else:
            wq, wk, wv = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        bq, bk, bv = (None, None, None) if b is None else (b[:E], b[E:2 * E], b[2 * E:])
        q = F.linear(query, wq, bq).reshape(L, N * H, hd).transpose(0, 1)   # (N*H, L, hd)
        k, v = F.linear(key, wk, bk), F.linear(value, wv, bv)               # (S, N, E)
        mask = self._mask(attn_mask, "attn_mask", None, q.dtype)
        if mask is None and is_causal:
            mask = full((L, S), 0, dtype=q.dtype, device=q.device).masked_fill(
                full((L, S), 1, dtype=D.bool, device=q.device).triu(1), -math.inf)
        if mask is not None:
            if tuple(mask.shape) not in ((L, S), (N * H, L, S)):
                raise ShapeError(f"MultiheadAttention: attn_mask must have shape ({L}, {S}) or ({N * H}, {L}, {S}),"
                                 f" got {tuple(attn_mask.shape)}")
            mask = mask.reshape(-1, L, S)
        kpm = self._mask(key_padding_mask, "key_padding_mask", None, q.dtype)
        if kpm is not None and tuple(kpm.shape) != (N, S):
            raise ShapeError(f"MultiheadAttention: key_padding_mask must have shape ({N}, {S}), got "
                             f"{tuple(key_padding_mask.shape)}")
        extra = []   # key/value positions appended after the S given ones (the masks never block them)
        if self.bias_k is not None:
            extra.append((self.bias_k.expand(1, N, E), self.bias_v.expand(1, N, E)))
        if self.add_zero_attn:
            z = full((1, N, E), 0, dtype=k.dtype, device=k.device)
            extra.append((z, z))
        if extra:
            k = cat([k] + [ek for ek, _ in extra], 0)
            v = cat([v] + [ev for _, ev in extra], 0)
            n = len(extra)
            if mask is not None:
                mask = cat([mask, full((mask.shape[0], L, n), 0, dtype=mask.dtype, device=mask.device)], -1)
            if kpm is not None:
                kpm = cat([kpm, full((N, n), 0, dtype=kpm.dtype, device=kpm.device)], -1)
            S += n
        k = k.reshape(S, N * H, hd).transpose(0, 1)
        v = v.reshape(S, N * H, hd).transpose(0, 1)
        if kpm is not None:
            kpm = kpm.reshape(N, 1, 1, S).expand(N, H, 1, S).reshape(N * H, 1, S)
            mask = kpm if mask is None else mask + kpm
        p = self.dropout if self.training else 0.0
        if need_weights:
            scores = (q * (1.0 / math.sqrt(hd))) @ k.transpose(-2, -1)
            if mask is not None:
                scores = scores + mask
            attn = F.softmax(scores, -1)
            out = F.dropout(attn, p, True) @ v if p > 0 else attn @ v
        else:
            out = F.scaled_dot_product_attention(q, k, v, mask, p)
            attn = None
        out = out.transpose(0, 1).reshape(L, N, E)
        out = self.out_proj(out)
        if self.batch_first and batched:
            out = out.transpose(0, 1)
        if attn is not None:
            attn = attn.reshape(N, H, L, S)
            if average_attn_weights:
                attn = attn.mean(1)
            if not batched:
                attn = attn.squeeze(0)
        if not batched:
            out = out.squeeze(1)
        return out, attn
