"""MultiheadAttention, with PyTorch's parameter layout (so its state dicts load)."""

from __future__ import annotations

import math

from ... import dtypes as D
from ...errors import DTypeError, ShapeError
from ...ops.creation import empty, full
from .. import functional as F
from .. import init
from ..module import Module
from ..parameter import Parameter
from .linear import Linear


class MultiheadAttention(Module):
    """Attention over num_heads heads: in_proj (3E x E), out_proj Linear(E, E).

    Masks follow PyTorch: in ``attn_mask`` and ``key_padding_mask`` a bool True marks a position that may
    NOT be attended; a float mask is added to the scores.
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False, add_zero_attn=False,
                 kdim=None, vdim=None, batch_first=False, device=None, dtype=None):
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be divisible by num_heads "
                             f"({num_heads})")
        if add_bias_kv or add_zero_attn or (kdim not in (None, embed_dim)) or (vdim not in (None, embed_dim)):
            raise NotImplementedError("MultiheadAttention: add_bias_kv, add_zero_attn and kdim/vdim other than "
                                      "embed_dim are not supported")
        self.embed_dim, self.num_heads, self.dropout = embed_dim, num_heads, dropout
        self.head_dim = embed_dim // num_heads
        self.batch_first = batch_first
        self.in_proj_weight = Parameter(empty((3 * embed_dim, embed_dim), device=device, dtype=dtype))
        if bias:
            self.in_proj_bias = Parameter(empty((3 * embed_dim,), device=device, dtype=dtype))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, device=device, dtype=dtype)
        self._reset_parameters()

    def _reset_parameters(self):
        init.xavier_uniform_(self.in_proj_weight)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)

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
        if query.shape[-1] != self.embed_dim:
            raise ShapeError(f"MultiheadAttention: expected the query's last dim to be embed_dim="
                             f"{self.embed_dim}, got shape {tuple(query.shape)}")
        if not batched:
            query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        elif self.batch_first:
            query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
        L, N, E = query.shape
        S = key.shape[0]
        H, hd = self.num_heads, self.head_dim
        w, b = self.in_proj_weight, self.in_proj_bias
        wq, wk, wv = w[:E], w[E:2 * E], w[2 * E:]
        bq, bk, bv = (None, None, None) if b is None else (b[:E], b[E:2 * E], b[2 * E:])
        q = F.linear(query, wq, bq).reshape(L, N * H, hd).transpose(0, 1)   # (N*H, L, hd)
        k = F.linear(key, wk, bk).reshape(S, N * H, hd).transpose(0, 1)
        v = F.linear(value, wv, bv).reshape(S, N * H, hd).transpose(0, 1)
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
        if kpm is not None:
            if tuple(kpm.shape) != (N, S):
                raise ShapeError(f"MultiheadAttention: key_padding_mask must have shape ({N}, {S}), got "
                                 f"{tuple(key_padding_mask.shape)}")
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
