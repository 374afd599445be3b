"""Connectionist Temporal Classification loss: the forward (alpha) recursion in log space over Ember operators.

The recursion runs over time on all batch entries and all positions of the
blank-interleaved label sequence at once; autograd differentiates it. An
impossible alignment has a large finite log-likelihood below ``_NEG / 2``
inside the recursion (so no NaN enters the gradient) and is reported as inf,
or 0 with ``zero_infinity``. PyTorch's gradient with respect to ``log_probs``
assumes they are normalised (it adds ``exp(log_probs)`` over the valid time
steps); Ember adds the same term, so both gradients agree for any input.
"""

from __future__ import annotations

from .. import dtypes as D
from .._factory import tensor as _tensor
from ..errors import DTypeError, ShapeError
from ..ops.creation import arange, full, zeros_like
from ..ops.elementwise import eq, exp, gt, log, logical_and, lt, maximum, ne, neg, true_divide, where
from ..ops.indexing import gather
from ..ops.reduction import mean, sum
from ..ops.shape import cat, stack
from ..ops.views import expand, narrow, reshape, squeeze, unsqueeze
from ._losses import check_reduction
from ..errors import InvalidArgumentError

__all__ = ["ctc_loss"]

_NEG = -1e30


def _lengths(name, v, N, device):
    """Lengths as a host list (PyTorch reads them on the host too) and as an int64 tensor on ``device``."""
    if hasattr(v, "tolist"):
        vals = v.reshape(-1).tolist()
    elif isinstance(v, int):
        vals = [v]
    else:
        vals = [int(x) for x in v]
    if len(vals) != N:
        raise ShapeError(f"ctc_loss(): {name} must have one entry per batch element ({N}), got {len(vals)}")
    return vals, _tensor(vals, device=device)


def _padded_targets(targets, tl, device):
    """(N, S) class indices from padded (N, S) targets or from the 1-D concatenation of all of them."""
    N, S = len(tl), max(tl) if tl else 0
    if targets.ndim == 2:
        if targets._shape[1] < S:
            raise ShapeError(f"ctc_loss(): expected targets to have size at least {S} at dimension 1, but got "
                             f"size {targets._shape[1]}")
        return narrow(targets, 1, 0, S)
    starts, total = [], 0
    for n in tl:
        starts.append(total)
        total += n
    if targets.numel() < total:
        raise ShapeError(f"ctc_loss(): the concatenated targets hold {targets.numel()} labels but target_lengths "
                         f"add up to {total}")
    if S == 0:
        return reshape(targets[:0], (N, 0))
    idx = [[starts[b] + min(s, tl[b] - 1) if tl[b] else 0 for s in range(S)] for b in range(N)]
    return reshape(gather(targets, 0, reshape(_tensor(idx, device=device), (-1,))), (N, S))


def _lse(*xs):
    """log(sum(exp(x))) over a few same-shape tensors; the shift is a constant to autograd."""
    m = xs[0]
    for x in xs[1:]:
        m = maximum(m, x)
    m = m.detach()
    acc = exp(xs[0] - m)
    for x in xs[1:]:
        acc = acc + exp(x - m)
    return log(acc) + m


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean", zero_infinity=False):
    """CTC loss of (T, N, C) or (T, C) log-probabilities against label sequences, as torch.nn.functional.ctc_loss."""
    check_reduction("ctc_loss", reduction)
    if not log_probs._dtype.is_floating_point:
        raise DTypeError(f"ctc_loss(): log_probs must have a floating dtype, got {log_probs._dtype.name}")
    if targets._dtype.is_floating_point:
        raise DTypeError(f"ctc_loss(): targets must hold class indices (int64), got {targets._dtype.name}")
    unbatched = log_probs.ndim == 2
    if unbatched:
        log_probs = unsqueeze(log_probs, 1)
        if targets.ndim == 1:
            targets = unsqueeze(targets, 0)
    if log_probs.ndim != 3:
        raise ShapeError(f"ctc_loss(): log_probs must be (T, N, C) or (T, C), got shape {tuple(log_probs._shape)}")
    T, N, C = log_probs._shape
    if not 0 <= blank < C:
        raise InvalidArgumentError(f"ctc_loss(): blank must be in label range [0, {C}), got {blank}")
    dev, dt = log_probs._device, log_probs._dtype
    il, il_t = _lengths("input_lengths", input_lengths, N, dev)
    tl, tl_t = _lengths("target_lengths", target_lengths, N, dev)
    for v in il:
        if not 0 <= v <= T:
            raise InvalidArgumentError(f"ctc_loss(): expected input_lengths to have value at most {T}, but got value {v}")
    tgt = _padded_targets(targets, tl, dev).to(D.int64)
    S = tgt._shape[1]
    L = 2 * S + 1
    if S:  # blank, t1, blank, t2, ..., blank
        blanks = mul0(tgt) + blank
        ext = cat([reshape(stack([blanks, tgt], -1), (N, 2 * S)), blanks[:, :1]], 1)
    else:
        ext = full((N, 1), blank, dtype=D.int64, device=dev)
    pos = arange(L, device=dev)
    skip = None
    if L > 2:  # a label may follow the label two places back directly when they differ (no blank between)
        skip = logical_and(ne(ext, cat([ext[:, :2], ext[:, :-2]], 1)), logical_and(eq(pos % 2, 1), gt(pos, 2)))
    em = gather(log_probs, 2, expand(unsqueeze(ext, 0), (T, N, L)))        # (T, N, L)
    em = maximum(em, _NEG)
    neg_col = mul0(em[0][:, :1]) + _NEG
    alpha = where(lt(pos, 2), em[0], mul0(em[0]) + _NEG)
    il_col = reshape(il_t, (N, 1))
    for t in range(1, max(il) if il else 0):
        a1 = cat([neg_col, alpha[:, :-1]], 1)
        if skip is None:
            step = _lse(alpha, a1)
        else:
            a2 = cat([neg_col, neg_col, alpha[:, :-2]], 1)
            step = _lse(alpha, a1, where(skip, a2, mul0(a2) + _NEG))
        alpha = where(gt(il_col, t), step + em[t], alpha)
    last = reshape(tl_t * 2, (N, 1))
    fl = squeeze(gather(alpha, 1, last), 1)
    fp = squeeze(gather(alpha, 1, maximum(last - 1, 0)), 1)
    fp = where(gt(tl_t, 0), fp, mul0(fp) + _NEG)
    ll = _lse(fl, fp)
    impossible = lt(ll, _NEG / 2)
    # exp(log_probs) summed over the valid steps: 0 in value, PyTorch's extra gradient term
    valid_t = unsqueeze(gt(unsqueeze(il_t, 0), reshape(arange(T, device=dev), (T, 1))), -1)   # (T, N, 1)
    p = where(valid_t, exp(log_probs), mul0(log_probs))
    extra = sum(sum(p, 2), 0)
    loss = neg(ll) + (extra - extra.detach())
    loss = where(impossible, mul0(loss) + (0.0 if zero_infinity else float("inf")), loss)
    if reduction == "mean":
        return mean(true_divide(loss, maximum(tl_t, 1).to(dt)))
    if reduction == "sum":
        return sum(loss)
    return reshape(loss, ()) if unbatched else loss


def mul0(x):
    """Zeros like x, cut from the graph."""
    return zeros_like(x)
