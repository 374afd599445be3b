"""ember.special: PyTorch's torch.special namespace.

Aliases are the same function objects as the operators they name
(``ember.special.gammaln is ember.lgamma``); entr, ndtr and round with decimals are
small compositions of operators, so every backend runs them and autograd follows them.
"""

from __future__ import annotations

import math

from .ops import breadth as B
from .ops import elementwise as E
from .ops import reduction as R
from .ops import special as SP

__all__ = ["erf", "erfc", "erfinv", "expit", "logit", "xlogy", "gammaln", "digamma", "psi", "polygamma",
           "multigammaln", "logsumexp", "softmax", "log_softmax", "entr", "i0", "ndtr", "ndtri", "sinc", "round",
           "expm1", "log1p", "exp2"]

erf, erfc, erfinv = E.erf, E.erfc, E.erfinv
expit = E.sigmoid
logit = B.logit
xlogy = B.xlogy
gammaln = SP.lgamma
digamma = psi = SP.digamma
polygamma = SP.polygamma
multigammaln = SP.mvlgamma
i0 = SP.i0
ndtri = SP.special_ndtri
sinc = B.sinc
expm1, log1p, exp2 = E.expm1, E.log1p, E.exp2
logsumexp = R.logsumexp


def softmax(input, dim, dtype=None):
    return R.softmax(input, dim, dtype)


def log_softmax(input, dim, dtype=None):
    return R.log_softmax(input, dim, dtype)


def entr(input):
    """-x log x for x > 0, 0 at 0, -inf below 0 (NaN stays NaN)."""
    x = input if input._dtype.is_floating_point else input.to(SP._float_meta(input).dtype)
    pos = E.gt(x, 0)
    safe = E.where(pos, x, 1.0)
    out = E.where(pos, E.neg(E.mul(safe, E.log(safe))), E.where(E.eq(x, 0), 0.0, float("-inf")))
    return E.where(E.isnan(x), x, out)


def ndtr(input):
    """The standard normal CDF: erfc(-x / sqrt(2)) / 2."""
    x = input if input._dtype.is_floating_point else input.to(SP._float_meta(input).dtype)
    return E.mul(E.erfc(E.mul(x, -1 / math.sqrt(2))), 0.5)


def round(input, *, decimals=0):
    """Round half to even, to ``decimals`` decimal places (negative: to tens, hundreds, ...)."""
    if decimals == 0:
        return E.round(input)
    scale = 10.0 ** decimals
    return E.true_divide(E.round(E.mul(input, scale)), scale) if decimals > 0 else \
        E.mul(E.round(E.true_divide(input, 10.0 ** -decimals)), 10.0 ** -decimals)
