"""Operators: the special functions (lgamma, digamma, polygamma, mvlgamma, i0, ndtri).

Each decomposes to elementwise operators, accurate to float64, so that every backend
runs them; a backend may register a library kernel instead (cpu uses scipy.special).

- lgamma: Lanczos' approximation (g = 7, nine terms) for x >= 0.5, the reflection
  formula below; log|Gamma(x)|, +inf at the poles (0, -1, -2, ...).
- digamma: the reflection formula below 0.5, then ten steps of psi(x) = psi(x + 1) - 1/x
  and the asymptotic series; -inf at 0 and NaN at the negative integers, as PyTorch.
- polygamma(n, x): forty steps of the same recurrence, then the asymptotic series
  (accurate for x > -20; trigamma uses the reflection formula everywhere).
- i0: the power series for |x| <= 30, the asymptotic series above.
- ndtri: Acklam's rational approximation refined by one Halley step on erfc.
"""

from __future__ import annotations

import math

from .. import dtypes as D
from ..autograd.registry import derivative
from ..dispatch import defop
from ..errors import InvalidArgumentError
from . import creation as C
from . import elementwise as E
from ._helpers import Spec, check_size

_PI = math.pi


def _float_meta(x, *rest):
    return Spec(x._shape, x._dtype if x._dtype.is_floating_point else D.get_default_dtype())


def _float(x):
    dt = x._dtype if x._dtype.is_floating_point else D.get_default_dtype()
    return x if x._dtype is dt else x.to(dt)


def _c(v, like):
    return C.full((), v, dtype=like._dtype, device=like._device)


def _sinpi(x):
    """sin(pi x), with x reduced modulo 2 first so that large arguments stay exact."""
    return E.sin(E.mul(E.fmod(x, 2.0), _PI))


def _is_pole(x):
    return E.logical_and(E.le(x, 0), E.eq(x, E.floor(x)))


# -- lgamma ---------------------------------------------------------------------------------------

_LANCZOS_G = 7.0
_LANCZOS = (0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
            -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6,
            1.5056327351493116e-7)
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _lgamma_lanczos(z):
    """log Gamma(z) for z >= 0.5."""
    z = E.sub(z, 1.0)
    s = _c(_LANCZOS[0], z)
    for i, p in enumerate(_LANCZOS[1:], 1):
        s = E.add(s, E.true_divide(_c(p, z), E.add(z, float(i))))
    t = E.add(z, _LANCZOS_G + 0.5)
    return E.add(E.sub(E.add(E.mul(E.add(z, 0.5), E.log(t)), _HALF_LOG_2PI), t), E.log(s))


def _lgamma(x):
    x = _float(x)
    low = E.lt(x, 0.5)
    main = _lgamma_lanczos(E.where(low, E.sub(_c(1.0, x), x), x))
    refl = E.sub(E.log(E.true_divide(_c(_PI, x), E.abs(_sinpi(x)))), main)
    out = E.where(low, refl, main)
    return E.where(E.logical_or(_is_pole(x), E.isinf(x)), _c(float("inf"), x), out)


lgamma = defop("lgamma(Tensor self) -> Tensor", meta=_float_meta, decomposition=_lgamma, family="special",
               doc="log|Gamma(x)|; +inf at 0, the negative integers and both infinities.")


# -- digamma, polygamma ---------------------------------------------------------------------------

#: B_2k / (2k) for k = 1..7: the asymptotic series psi(z) ~ log z - 1/(2z) - sum B_2k / (2k z^2k).
_PSI_ASYM = (1 / 12, -1 / 120, 1 / 252, -1 / 240, 1 / 132, -691 / 32760, 1 / 12)


def _digamma_pos(z):
    """psi(z) for z >= 0.5 (any z above the poles: ten recurrence steps, then the asymptotic series)."""
    acc = None
    for _ in range(10):
        r = E.reciprocal(z)
        acc = r if acc is None else E.add(acc, r)
        z = E.add(z, 1.0)
    zi2 = E.reciprocal(E.mul(z, z))
    s = _c(_PSI_ASYM[-1], z)
    for c in reversed(_PSI_ASYM[:-1]):
        s = E.add(E.mul(s, zi2), c)
    series = E.mul(s, zi2)
    return E.sub(E.sub(E.sub(E.log(z), E.true_divide(_c(0.5, z), z)), series), acc)


def _digamma(x):
    x = _float(x)
    low = E.lt(x, 0.5)
    main = _digamma_pos(E.where(low, E.sub(_c(1.0, x), x), x))
    tan = E.tan(E.mul(E.fmod(x, 1.0), _PI))
    out = E.where(low, E.sub(main, E.true_divide(_c(_PI, x), tan)), main)
    out = E.where(_is_pole(x), _c(float("nan"), x), out)
    out = E.where(E.eq(x, 0), E.where(E.signbit(x), _c(float("inf"), x), _c(float("-inf"), x)), out)
    return E.where(E.eq(x, float("inf")), x, out)


digamma = defop("digamma(Tensor self) -> Tensor", meta=_float_meta, decomposition=_digamma, family="special",
                doc="The logarithmic derivative of Gamma; -inf at 0, NaN at the negative integers.")

#: Bernoulli numbers B_2, B_4, ..., B_20 for the polygamma asymptotic series.
_BERNOULLI = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510, 43867 / 798,
              -174611 / 330)
_SHIFT = 40


def _polygamma_meta(n, x):
    if n < 0:
        raise InvalidArgumentError(f"polygamma(n, x) does not support negative n, got n={n}")
    return _float_meta(x)


def _polygamma_pos(n, x):
    """psi^(n)(x), n >= 1, by _SHIFT recurrence steps and the asymptotic series."""
    acc = None
    z = x
    for _ in range(_SHIFT):
        r = E.pow(E.reciprocal(z), float(n + 1))
        acc = r if acc is None else E.add(acc, r)
        z = E.add(z, 1.0)
    zi = E.reciprocal(z)
    fact = math.factorial
    series = E.add(E.mul(E.pow(zi, float(n)), float(fact(n - 1))), E.mul(E.pow(zi, float(n + 1)), fact(n) / 2.0))
    for k, b in enumerate(_BERNOULLI, 1):
        coef = b * fact(2 * k + n - 1) / fact(2 * k)
        series = E.add(series, E.mul(E.pow(zi, float(2 * k + n)), coef))
    total = E.add(series, E.mul(acc, float(fact(n))))
    return total if n % 2 else E.neg(total)


def _polygamma(n, x):
    _polygamma_meta(n, x)
    x = _float(x)
    if n == 0:
        return _digamma(x)
    if n == 1:   # trigamma: psi1(x) + psi1(1 - x) = pi^2 / sin^2(pi x)
        low = E.lt(x, 0.5)
        main = _polygamma_pos(1, E.where(low, E.sub(_c(1.0, x), x), x))
        s = _sinpi(x)
        out = E.where(low, E.sub(E.true_divide(_c(_PI * _PI, x), E.mul(s, s)), main), main)
    else:
        out = _polygamma_pos(n, x)
    return E.where(_is_pole(x), _c(float("inf") if n % 2 else float("-inf"), x), out)


polygamma = defop("polygamma(int n, Tensor self) -> Tensor", meta=_polygamma_meta, decomposition=_polygamma,
                  family="special", doc="The n-th derivative of digamma (polygamma(0, x) is digamma(x)).")


def _mvlgamma_meta(x, p):
    if p < 1:
        raise InvalidArgumentError(f"mvlgamma(): p has to be greater than or equal to 1, got p={p}")
    if not x._dtype.is_floating_point:
        raise InvalidArgumentError(f"mvlgamma(): expected a floating point input, got {x._dtype.name}; "
                                   f"convert with .to(ember.float32)")
    check_size(x._shape + (p,), "mvlgamma", x._dtype)  # the p terms of each element are computed at once
    return Spec(x._shape, x._dtype)


def _mvlgamma(x, p):
    _mvlgamma_meta(x, p)   # elements at or below (p-1)/2 meet lgamma's poles or its negative side, as PyTorch
    from . import reduction as R
    from . import views as V
    # the p terms at once along a new last dim (as PyTorch): a huge p is one allocation that the
    # size checks refuse, never p operator calls
    shifts = E.mul(C.arange(0, p, dtype=x._dtype, device=x._device), 0.5)
    terms = lgamma(E.sub(V.unsqueeze(x, -1), shifts))
    return E.add(R.sum(terms, [-1]), p * (p - 1) / 4 * math.log(math.pi))


mvlgamma = defop("mvlgamma(Tensor self, int p) -> Tensor", meta=_mvlgamma_meta, decomposition=_mvlgamma,
                 family="special", doc="The multivariate log-gamma function of dimension p.")


# -- i0 -------------------------------------------------------------------------------------------

_I0_SERIES_MAX = 30.0
_I0_TERMS = 90


def _i0(x):
    x = E.abs(_float(x))
    small = E.le(x, _I0_SERIES_MAX)
    xs = E.where(small, x, _c(0.0, x))
    q = E.mul(E.mul(xs, xs), 0.25)
    term = _c(1.0, x)
    total = term
    for k in range(1, _I0_TERMS):
        term = E.true_divide(E.mul(term, q), float(k * k))
        total = E.add(total, term)
    xl = E.where(small, _c(_I0_SERIES_MAX + 1, x), x)
    inv8 = E.reciprocal(E.mul(xl, 8.0))
    term = _c(1.0, x)
    asym = term
    for k in range(1, 20):
        term = E.mul(term, E.mul(inv8, (2 * k - 1) ** 2 / k))
        asym = E.add(asym, term)
    big = E.true_divide(E.mul(E.exp(E.mul(xl, 0.5)), asym), E.sqrt(E.mul(xl, 2 * math.pi)))
    big = E.mul(big, E.exp(E.mul(xl, 0.5)))   # e^x in two halves: finite while e^x / sqrt(x) is
    return E.where(small, total, big)


i0 = defop("i0(Tensor self) -> Tensor", meta=_float_meta, decomposition=_i0, family="special",
           doc="The modified Bessel function of the first kind, of order 0.")


# -- ndtri ----------------------------------------------------------------------------------------

_A = (-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02,
      -3.066479806614716e+01, 2.506628277459239e+00)
_B = (-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01,
      -1.328068155288572e+01, 1.0)
_CC = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00,
       4.374664141464968e+00, 2.938163982698783e+00)
_DD = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00, 1.0)


def _horner(coefs, t):
    out = _c(coefs[0], t)
    for c in coefs[1:]:
        out = E.add(E.mul(out, t), c)
    return out


def _ndtri(p):
    p = _float(p)
    q = E.minimum(p, E.sub(_c(1.0, p), p))          # exact for p >= 0.5; the lower half, sign restored below
    qs = E.where(E.gt(q, 0), q, _c(0.5, p))
    tail = E.lt(qs, 0.02425)
    t = E.sqrt(E.mul(E.log(E.where(tail, qs, _c(0.01, p))), -2.0))
    x_tail = E.true_divide(_horner(_CC, t), _horner(_DD, t))
    r = E.sub(qs, 0.5)
    r2 = E.mul(r, r)
    x_mid = E.true_divide(E.mul(_horner(_A, r2), r), _horner(_B, r2))
    x = E.where(tail, x_tail, x_mid)
    e = E.sub(E.mul(E.erfc(E.mul(x, -1 / math.sqrt(2))), 0.5), qs)   # Halley's step on Phi(x) - q
    u = E.mul(E.mul(e, math.sqrt(2 * math.pi)), E.exp(E.mul(E.mul(x, x), 0.5)))
    x = E.sub(x, E.true_divide(u, E.add(E.mul(E.mul(x, u), 0.5), 1.0)))
    x = E.where(E.gt(p, 0.5), E.neg(x), x)
    x = E.where(E.eq(p, 0), _c(float("-inf"), p), E.where(E.eq(p, 1), _c(float("inf"), p), x))
    bad = E.logical_or(E.logical_or(E.lt(p, 0), E.gt(p, 1)), E.isnan(p))
    return E.where(bad, _c(float("nan"), p), x)


special_ndtri = defop("_special_ndtri(Tensor self) -> Tensor", meta=_float_meta, decomposition=_ndtri,
                      family="special", doc="The inverse of the standard normal CDF (ember.special.ndtri).")


# -- derivatives: the library kernels of these operators are not differentiable pieces --------------

@derivative("lgamma", save=("self",), elementwise=True)
def _(grad, x):
    return E.mul(grad, digamma(x))


@derivative("digamma", save=("self",), elementwise=True)
def _(grad, x):
    return E.mul(grad, polygamma(1, x))


@derivative("polygamma", save=("self",), elementwise=True)
def _(grad, n, x):
    return E.mul(grad, polygamma(n + 1, x))


def _polygamma_method(self, n):
    return polygamma(n, self)


def _inplace(op):
    def method(self, *args):
        return self.copy_(op(self, *args))
    method.__name__ = op.__name__ + "_"
    return method


METHODS = {"polygamma": _polygamma_method, "polygamma_": lambda self, n: self.copy_(polygamma(n, self))}
METHODS.update({f.__name__ + "_": _inplace(f) for f in (lgamma, digamma, i0, mvlgamma)})
