"""Operators: multinomial and poisson, drawn from Ember's Philox generator.

multinomial samples with replacement by inverting the running sum of the
weights (rand, cumsum, searchsorted), and without replacement by the
exponential-race form of Gumbel-top-k (the k largest ``p / Exp(1)``). poisson
inverts the CDF for small rates and uses Hormann's transformed rejection
(PTRS) for large ones. The same seed gives the same samples on every backend.
"""

from __future__ import annotations

import math

from .. import dtypes as D
from ..dispatch import defop
from ..errors import DTypeError, ShapeError
from . import creation as C
from . import elementwise as E
from . import reduction as R
from . import shape as S
from . import sorting as SO
from . import views as V
from ._helpers import Spec
from .counting import searchsorted_op
from .random import _generator, _has_float64, _uniform01
from ..errors import InvalidArgumentError


def _multinomial_meta(x, num_samples, replacement=False, generator=None):
    if not x._dtype.is_floating_point:
        raise DTypeError(f"multinomial(): expects a floating point tensor of probabilities, got {x._dtype.name}")
    if x.ndim not in (1, 2):
        raise ShapeError(f"multinomial(): probabilities must be 1-d or 2-d, got shape {tuple(x._shape)}")
    n = x._shape[-1]
    if n == 0:
        raise ShapeError("multinomial(): the probability tensor has no categories")
    if num_samples <= 0:
        raise InvalidArgumentError(f"multinomial(): cannot sample num_samples={num_samples} <= 0 samples")
    if not replacement and num_samples > n:
        raise InvalidArgumentError(f"multinomial(): cannot sample num_samples={num_samples} > {n} categories without "
                                   f"replacement; pass replacement=True")
    return Spec(x._shape[:-1] + (num_samples,), D.int64)


def _check_probs(p):
    """PyTorch's checks of the weights' values: one read back to the host. (Without replacement,
    zero-weight categories come last once the others are drawn, as in PyTorch.)"""
    bad = R.any(E.logical_or(E.lt(p, 0), E.logical_not(E.isfinite(p))))
    empty = R.any(E.le(R.sum(p, [-1]), 0))
    bad, empty = S.stack([bad, empty], 0).tolist()
    if bad:
        raise InvalidArgumentError("multinomial(): probability tensor contains either inf, nan or element < 0")
    if empty:
        raise InvalidArgumentError("multinomial(): invalid multinomial distribution (sum of probabilities <= 0)")


def _multinomial(x, num_samples, replacement=False, generator=None):
    spec = _multinomial_meta(x, num_samples, replacement, generator)
    gen, dev = _generator(generator, x._device)
    ct = D.float64 if x._dtype is D.float64 else D.float32
    p = V.reshape(x, (1, -1) if x.ndim == 1 else x._shape).to(ct)
    _check_probs(p)
    rows, n = p._shape
    if replacement:
        cdf = R.cumsum(p, -1)
        u = V.reshape(_uniform01(gen, dev, rows * num_samples, ct), (rows, num_samples))
        target = E.mul(u, V.narrow(cdf, -1, n - 1, 1))
        idx = E.clamp(searchsorted_op(cdf, target, right=True), None, n - 1)
    else:
        u = V.reshape(_uniform01(gen, dev, rows * n, ct), (rows, n))
        race = E.neg(E.log1p(E.neg(u)))                              # Exp(1) times
        # zero weights get keys below every positive one, ordered among themselves by the race too
        keys = E.where(E.gt(p, 0), E.true_divide(p, race), E.neg(race))
        idx = SO.topk(keys, num_samples, -1)[1]
    return V.reshape(idx, spec.shape)


multinomial = defop("multinomial(Tensor self, int num_samples, bool replacement=False, *, Any generator=None) "
                    "-> Tensor", meta=_multinomial_meta, decomposition=_multinomial, family="sampling",
                    doc="Indices of categories drawn with probabilities proportional to each row of self.")


# -- poisson ------------------------------------------------------------------------------

#: Rates below this use CDF inversion (at most _INVERSION_STEPS steps); others use PTRS.
_SMALL_RATE = 10.0
_INVERSION_STEPS = 48
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _log_factorial(k):
    """log(k!) for a float tensor of non-negative whole numbers: Stirling's series shifted by 6."""
    x = E.add(k, 7.0)
    series = E.true_divide(E.sub(1.0 / 12, E.true_divide(1.0 / 360, E.mul(x, x))), x)
    lg = E.add(E.add(E.mul(E.sub(x, 0.5), E.log(x)), E.sub(_HALF_LOG_2PI, x)), series)
    shift = E.log(R.prod(S.stack([E.add(k, float(i)) for i in range(1, 7)], 0), [0]))
    return E.sub(lg, shift)


def _poisson_meta(x, generator=None):
    if not x._dtype.is_floating_point:
        raise DTypeError(f"poisson(): expects a floating point tensor of rates, got {x._dtype.name}")
    return Spec(x._shape, x._dtype)


def _poisson(x, generator=None):
    spec = _poisson_meta(x, generator)
    gen, dev = _generator(generator, x._device)
    ct = D.float64 if _has_float64(dev) else D.float32
    lam = V.reshape(x, (-1,)).to(ct)
    n = lam._shape[0]
    if n == 0:
        return C.empty(spec.shape, dtype=spec.dtype, device=dev)
    if not R.all(E.ge(lam, 0)).item():       # NaN fails this test too (it would never be accepted below)
        raise InvalidArgumentError("poisson(): rates must be non-negative numbers (got a negative or NaN rate); "
                                   "check the tensor of rates, e.g. with ember.isnan(rates).any()")
    infinite = E.isinf(lam)                   # Poisson(inf) is inf; PTRS would never accept a draw for it
    lam = E.where(infinite, _SMALL_RATE, lam)
    small = E.lt(lam, _SMALL_RATE)
    # inversion: count the steps of the CDF below one uniform
    u = _uniform01(gen, dev, n, ct)
    term = E.exp(E.neg(E.where(small, lam, 0.0)))
    cdf, k_inv = term, C.zeros((n,), dtype=ct, device=dev)
    for i in range(1, _INVERSION_STEPS + 1):
        more = E.gt(u, cdf)
        k_inv = E.add(k_inv, more.to(ct))
        term = E.mul(term, E.true_divide(lam, float(i)))
        cdf = E.add(cdf, term)
    # PTRS for the others: rounds of proposals until every large rate has an accepted one
    big = E.where(small, _SMALL_RATE, lam)
    slam = E.sqrt(big)
    b = E.add(E.mul(slam, 2.53), 0.931)
    a = E.add(E.mul(b, 0.02483), -0.059)
    inv_alpha = E.add(E.true_divide(0.6786, E.sub(b, 3.4)), 1.1239)
    vr = E.add(E.true_divide(-3.6224, E.sub(b, 2.0)), 0.9277)
    k_big, done = C.zeros((n,), dtype=ct, device=dev), small
    while not R.all(done).item():            # about 1.2 rounds on average; each reads one flag back
        uv = _uniform01(gen, dev, 2 * n, ct)
        uu, v = E.sub(V.narrow(uv, 0, 0, n), 0.5), V.narrow(uv, 0, n, n)
        us = E.sub(0.5, E.abs(uu))
        k = E.floor(E.add(E.mul(E.add(E.true_divide(E.mul(a, 2.0), us), b), uu), E.add(big, 0.43)))
        quick = E.logical_and(E.ge(us, 0.07), E.le(v, vr))
        kk = E.clamp(k, 0.0, None)
        lhs = E.log(E.true_divide(E.mul(v, inv_alpha), E.add(E.true_divide(a, E.mul(us, us)), b)))
        rhs = E.sub(E.sub(E.mul(kk, E.log(big)), big), _log_factorial(kk))
        slow = E.logical_and(E.logical_and(E.ge(k, 0), E.logical_or(E.ge(us, 0.013), E.le(v, us))), E.le(lhs, rhs))
        take = E.logical_and(E.logical_not(done), E.logical_or(quick, slow))
        k_big = E.where(take, k, k_big)
        done = E.logical_or(done, take)
    out = E.where(infinite, math.inf, E.where(small, k_inv, k_big))
    return V.reshape(out, spec.shape).to(spec.dtype)


poisson = defop("poisson(Tensor input, *, Any generator=None) -> Tensor", meta=_poisson_meta,
                decomposition=_poisson, family="sampling",
                doc="Poisson counts with the rates in self (as floats of self's dtype).")


from ..autograd.registry import nondifferentiable  # noqa: E402

nondifferentiable("poisson", "unique_consecutive", "count_nonzero")
