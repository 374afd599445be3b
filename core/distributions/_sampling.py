"""Samplers built on Ember's RNG (``ember.rand`` / ``ember.randn``), vectorised: rejection methods run a bounded
number of rounds over the whole tensor, each round keeping the proposals that were accepted, so no Python loop
visits single elements. They draw from the default generator, so ``ember.manual_seed`` makes them repeatable."""

from __future__ import annotations

import ember

from ._special import lgamma
from .utils import finfo_tiny

__all__ = ["standard_gamma", "poisson", "binomial", "categorical"]

_MAX_ROUNDS = 64     # rejection rounds; each accepts with probability > 0.9, so 64 are never all needed


def standard_gamma(alpha):
    """Gamma(alpha, 1) samples of alpha's shape, by Marsaglia and Tsang's method (2000); alpha < 1 is boosted
    with Gamma(alpha) = Gamma(alpha + 1) * U ** (1 / alpha)."""
    alpha = alpha.detach()
    shape, dtype, device = tuple(alpha.shape), alpha.dtype, alpha.device
    small = alpha < 1
    a = ember.where(small, alpha + 1, alpha)
    d = a - 1.0 / 3.0
    c = 1.0 / ember.sqrt(9.0 * d)
    out = d.clone()
    done = ember.zeros(shape, dtype=ember.bool, device=device)
    for _ in range(_MAX_ROUNDS):
        z = ember.randn(shape, dtype=dtype, device=device)
        u = ember.rand(shape, dtype=dtype, device=device)
        v = (1 + c * z) ** 3
        positive = v > 0
        v_safe = ember.where(positive, v, 1.0)
        ok = positive & (ember.log(u) < 0.5 * z * z + d - d * v_safe + d * ember.log(v_safe))
        out = ember.where(ok & ~done, d * v_safe, out)
        done = done | ok
        if bool(done.all()):
            break
    if bool(small.any()):
        u = ember.rand(shape, dtype=dtype, device=device)
        boost = ember.exp(ember.log(u) / ember.where(small, alpha, 1.0))
        out = ember.where(small, out * boost, out)
    return out.clamp(min=finfo_tiny(dtype))


def _poisson_inversion(rate):
    """Sequential search of the CDF, all elements stepping together (for rates below 10)."""
    shape, dtype, device = tuple(rate.shape), rate.dtype, rate.device
    u = ember.rand(shape, dtype=dtype, device=device)
    p = ember.exp(-rate)
    cdf = p
    count = ember.zeros(shape, dtype=dtype, device=device)
    limit = int(float(rate.amax()) * 3 + 60) if rate.numel() else 0
    for k in range(1, limit):
        above = u > cdf
        if not bool(above.any()):
            break
        count = count + above.to(dtype)
        p = p * rate / k
        cdf = cdf + p
    return count


def _poisson_ptrs(rate):
    """Hörmann's transformed rejection with squeeze (PTRS, 1993), for rates of 10 and more."""
    shape, dtype, device = tuple(rate.shape), rate.dtype, rate.device
    slam = ember.sqrt(rate)
    loglam = ember.log(rate)
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    invalpha = 1.1239 + 1.1328 / (b - 3.4)
    vr = 0.9277 - 3.6224 / (b - 2)
    out = ember.floor(rate)
    done = ember.zeros(shape, dtype=ember.bool, device=device)
    for _ in range(_MAX_ROUNDS):
        u = ember.rand(shape, dtype=dtype, device=device) - 0.5
        v = ember.rand(shape, dtype=dtype, device=device)
        us = 0.5 - u.abs()
        k = ember.floor((2 * a / us + b) * u + rate + 0.43)
        quick = (us >= 0.07) & (v <= vr)
        reject = (k < 0) | ((us < 0.013) & (v > us))
        k_safe = ember.where(k < 0, 0.0, k)
        slow = (ember.log(v) + ember.log(invalpha) - ember.log(a / (us * us) + b)
                <= -rate + k_safe * loglam - lgamma(k_safe + 1))
        ok = quick | (~reject & slow)
        out = ember.where(ok & ~done, k, out)
        done = done | ok
        if bool(done.all()):
            break
    return out


def poisson(rate):
    """Poisson(rate) counts (as floats of rate's dtype, like ``torch.poisson``) of rate's shape."""
    rate = rate.detach()
    large = rate >= 10
    if not bool(large.any()):
        return _poisson_inversion(rate)
    if bool(large.all()):
        return _poisson_ptrs(rate)
    small = _poisson_inversion(ember.where(large, 0.0, rate))
    big = _poisson_ptrs(ember.where(large, rate, 10.0))
    return ember.where(large, big, small)


_CHUNK = 1024


def binomial(total_count, probs):
    """Binomial(total_count, probs) counts as sums of Bernoulli trials, in chunks of trials; the cost grows with
    the largest total_count."""
    total_count, probs = total_count.detach(), probs.detach()
    shape, dtype, device = tuple(probs.shape), probs.dtype, probs.device
    n_max = int(float(total_count.amax())) if total_count.numel() else 0
    out = ember.zeros(shape, dtype=dtype, device=device)
    n = total_count.unsqueeze(-1)
    p = probs.unsqueeze(-1)
    for start in range(0, n_max, _CHUNK):
        width = min(_CHUNK, n_max - start)
        trial = ember.arange(start, start + width, dtype=dtype, device=device)
        u = ember.rand(shape + (width,), dtype=dtype, device=device)
        out = out + ((u < p) & (trial < n)).to(dtype).sum(-1)
    return out


def categorical(probs, sample_shape):
    """Category indices (int64) of shape ``sample_shape + probs.shape[:-1]``, drawn by inverting the cumulative
    sum of the (unnormalised) probabilities; a zero-probability category is never drawn."""
    probs = probs.detach()
    k = probs.shape[-1]
    cdf = ember.cumsum(probs, -1)
    shape = tuple(sample_shape) + tuple(probs.shape[:-1])
    u = ember.rand(shape + (1,), dtype=probs.dtype, device=probs.device) * cdf[..., -1:]
    idx = (cdf <= u).to(ember.int64).sum(-1)
    return idx.clamp(max=k - 1)
