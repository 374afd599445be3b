"""F.normalize (x / max(||x||_p, eps) along a dim) and F.gumbel_softmax (a differentiable sample of a
categorical distribution, straight-through when ``hard``)."""

from __future__ import annotations

import warnings

from ..ops.creation import zeros_like
from ..ops.elementwise import where
from ..ops.random import rand_like
from ..ops.reduction import sum as _sum


def _norm(x, p, dim):
    """||x||_p along dim, kept. For p=2 the gradient at a zero vector is 0, as PyTorch's norm backward."""
    if p == 2:
        s = _sum(x * x, dim, True)
        zero = s == 0
        return where(zero, 0.0, where(zero, 1.0, s).sqrt())
    from ..linalg import vector_norm
    return vector_norm(x, p, dim, True)


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """``input / max(||input||_p, eps)`` along ``dim``: unit vectors, zero vectors left at zero."""
    dims = [dim] if isinstance(dim, int) else list(dim)
    denom = _norm(input, p, dims).clamp(min=eps)
    if out is None:
        return input / denom
    from .. import div
    return div(input.detach(), denom.detach(), out=out)


def gumbel_softmax(logits, tau=1.0, hard=False, eps=1e-10, dim=-1):
    """softmax((logits + g) / tau) with g ~ Gumbel(0, 1); with ``hard``, the one-hot of its argmax in the
    forward pass and the soft sample's gradient in the backward pass (straight-through)."""
    if eps != 1e-10:
        warnings.warn("`eps` parameter is deprecated and has no effect.", stacklevel=2)
    u = rand_like(logits)                            # [0, 1)
    gumbels = -(-(-u).log1p()).log()                 # -log(Exp(1)), Exp(1) = -log(1 - u)
    y_soft = ((logits + gumbels) / tau).softmax(dim)
    if not hard:
        return y_soft
    index = y_soft.argmax(dim, keepdim=True)
    y_hard = zeros_like(logits).scatter(dim, index, 1.0)
    return y_hard - y_soft.detach() + y_soft
