"""Transcendental and power functions on the required prims (exp, log, sqrt, sin, cos, atan2, ...).

Each decomposition is the textbook formula that stays accurate in the dtype it computes in:
Kahan's expm1 and log1p, atan2 for the inverse trigonometric functions, Cephes' ndtr rationals
for erf and erfc, Giles' polynomials for erfinv, pow by exp(b·log|a|) with C99's special cases.
Those marked ``f64=True`` compute float32 through float64 where the device declares it; their
float32 path (a device without float64) splits or compensates its roundings instead. Operands
arrive promoted and broadcast (see ``prims.elementwise_decomposition``).

Coefficients: Cephes ``ndtr.c`` (S. L. Moshier, public domain); M. Giles, "Approximating the
erfinv function", GPU Computing Gems Jade Edition (2011), double-precision version.
"""

from __future__ import annotations

import math

from ... import dtypes as D
from .. import elementwise as E
from ..creation import full, full_like
from ..prims import elementwise_decomposition

LN2 = math.log(2.0)
LN10 = math.log(10.0)
INF = math.inf
NAN = math.nan

# Cephes ndtr.c: erf(x) = x·T(x²)/U(x²) for |x| < 1; erfc(x) = exp(-x²)·P(x)/Q(x) for 1 <= x < 8,
# exp(-x²)·R(x)/S(x) beyond. U, Q and S are monic (their leading 1 is not stored).
ERF_T = (9.60497373987051638749e0, 9.00260197203842689217e1, 2.23200534594684319226e3,
         7.00332514112805075473e3, 5.55923013010394962768e4)
ERF_U = (3.35617141647503099647e1, 5.21357949780152679795e2, 4.59432382970980127987e3,
         2.26290000613890934246e4, 4.92673942608635921086e4)
ERFC_P = (2.46196981473530512524e-10, 5.64189564831068821977e-1, 7.46321056442269912687e0,
          4.86371970985681366614e1, 1.96520832956077098242e2, 5.26445194995477358631e2,
          9.34528527171957607540e2, 1.02755188689515710272e3, 5.57535335369399327526e2)
ERFC_Q = (1.32281951154744992508e1, 8.67072140885989742329e1, 3.54937778887819891062e2,
          9.75708501743205489753e2, 1.82390916687909736289e3, 2.24633760818710981792e3,
          1.65666309194161350182e3, 5.57535340817727675546e2)
ERFC_R = (5.64189583547755073984e-1, 1.27536670759978104416e0, 5.01905042251180477414e0,
          6.16021097993053585195e0, 7.40974269950448939160e0, 2.97886665372100240670e0)
ERFC_S = (2.26052863220117276590e0, 9.39603524938001434673e0, 1.20489539808096656605e1,
          1.70814450747565897222e1, 9.60896809063285878198e0, 3.36907645100081516050e0)
#: Beyond this |x|, erf is ±1 and erfc is 0 or 2 in every dtype; clamping keeps the rationals finite.
ERF_CLAMP = 30.0

# Giles' double-precision erfinv(y) = y·p(w), w = −log((1 − y)(1 + y)), in three pieces:
# (below this w, shift, polynomial in (w − shift) or in (sqrt(w) − shift)). Highest degree first.
ERFINV_PIECES = (
    (6.25, 3.125, False, (
        -3.6444120640178196996e-21, -1.685059138182016589e-19, 1.2858480715256400167e-18,
        1.115787767802518096e-17, -1.333171662854620906e-16, 2.0972767875968561637e-17,
        6.6376381343583238325e-15, -4.0545662729752068639e-14, -8.1519341976054721522e-14,
        2.6335093153082322977e-12, -1.2975133253453532498e-11, -5.4154120542946279317e-11,
        1.051212273321532285e-09, -4.1126339803469836976e-09, -2.9070369957882005086e-08,
        4.2347877827932403518e-07, -1.3654692000834678645e-06, -1.3882523362786468719e-05,
        0.0001867342080340571352, -0.00074070253416626697512, -0.0060336708714301490533,
        0.24015818242558961693, 1.6536545626831027356)),
    (16.0, 3.25, True, (
        2.2137376921775787049e-09, 9.0756561938885390979e-08, -2.7517406297064545428e-07,
        1.8239629214389227755e-08, 1.5027403968909827627e-06, -4.013867526981545969e-06,
        2.9234449089955446044e-06, 1.2475304481671778723e-05, -4.7318229009055733981e-05,
        6.8284851459573175448e-05, 2.4031110387097893999e-05, -0.0003550375203628474796,
        0.00095328937973738049703, -0.0016882755560235047313, 0.0024914420961078508066,
        -0.0037512085075692412107, 0.005370914553590063617, 1.0052589676941592334,
        3.0838856104922207635)),
    (INF, 5.0, True, (
        -2.7109920616438573243e-11, -2.5556418169965252055e-10, 1.5076572693500548083e-09,
        -3.7894654401267369937e-09, 7.6157012080783393804e-09, -1.4960026627149240478e-08,
        2.9147953450901080826e-08, -6.7711997758452339498e-08, 2.2900482228026654717e-07,
        -9.9298272942317002539e-07, 4.5260625972231537039e-06, -1.9681778105531670567e-05,
        7.5995277030017761139e-05, -0.00021503011930044477347, -0.00013871931833623122026,
        1.0103004648645343977, 4.8499064014085844221)),
)

#: Per computation dtype: the magnitude beyond which asinh(x) = log(2|x|) and acosh(x) = log(2x)
#: to the last bit (1/(4x²) is below an ulp).
_LOG2X_ABOVE = {D.float32: 2.0 ** 12, D.float64: 2.0 ** 28}
#: float32's exp2 squares over this many bits of |n|: 2^255 and 2^-255 are already inf and 0.
_F32_EXP2_BITS = 8
#: Veltkamp's splitting constant for float32, 2^12 + 1: it halves a 24-bit significand so that
#: products of halves are exact.
_F32_SPLITTER = 4097.0


# -- helpers --------------------------------------------------------------------------------

def _magnitude(x):
    """|x| in two launches (−0 stays −0: callers put the sign back with ``_with_sign``)."""
    return E.where(E.lt(x, 0.0), E.neg(x), x)


def _with_sign(x, r):
    """r with x's sign, for an odd function computed on |x|."""
    return E.where(E.lt(x, 0.0), E.neg(r), r)


def _polevl(x, coeffs):
    """c0·x^n + ... + cn by Horner's rule (Cephes polevl)."""
    p = E.add(E.mul(x, coeffs[0]), coeffs[1])
    for c in coeffs[2:]:
        p = E.add(E.mul(p, x), c)
    return p


def _p1evl(x, coeffs):
    """x^n + c0·x^(n-1) + ... (Cephes p1evl: the leading 1 is not stored)."""
    p = E.add(x, coeffs[0])
    for c in coeffs[1:]:
        p = E.add(E.mul(p, x), c)
    return p


def _tensor(v, like):
    """A Python scalar operand as a 0-d tensor of ``like``'s dtype and device."""
    if hasattr(v, "_dtype"):
        return v
    return full((), v, dtype=like._dtype, device=like._device)


# -- exponentials and logarithms ------------------------------------------------------------

@elementwise_decomposition("exp2", f64=True)
def _exp2(x):
    """2^x. float64: exp(x·ln2), off by at most |x|·2^-53 relative. float32: x = n + f with
    n = trunc(x), so |f·ln2| < 1 rounds exp's argument below an ulp and 2^n is exact (Ember has
    no ldexp: 2^n is built by squaring over n's bits)."""
    if x._dtype is D.float64:
        return E.exp(E.mul(x, LN2))
    top = 2.0 ** _F32_EXP2_BITS - 1
    x = E.where(E.lt(x, -top), -top, E.where(E.lt(top, x), top, x))  # NaN passes
    f = E.fmod(x, 1.0)
    n = E.sub(x, f)
    base = E.where(E.lt(n, 0.0), 0.5, 2.0)  # 2^sign(n), squared each step: 2^(±2^k)
    p = None
    for k in range(_F32_EXP2_BITS):
        factor = E.where(E.eq(E.fmod(n, 2.0), 0.0), 1.0, base)
        p = factor if p is None else E.mul(p, factor)
        if k + 1 < _F32_EXP2_BITS:
            n = E.trunc_divide(n, 2.0)
            base = E.mul(base, base)
    return E.mul(p, E.exp(E.mul(f, LN2)))


@elementwise_decomposition("expm1")
def _expm1(x):
    """e^x − 1 by Kahan: u = exp(x); (u − 1)·(x / log u) cancels exp's rounding; u = 1 gives x,
    u − 1 = −1 gives −1, u = inf gives inf."""
    u = E.exp(x)
    um1 = E.sub(u, 1.0)
    r = E.mul(um1, E.true_divide(x, E.log(u)))
    r = E.where(E.eq(u, INF), INF, r)
    r = E.where(E.eq(um1, -1.0), -1.0, r)
    return E.where(E.eq(u, 1.0), x, r)


@elementwise_decomposition("log1p")
def _log1p(x):
    """log(1 + x) by Kahan: u = 1 + x; log(u)·(x / (u − 1)) cancels the rounding of 1 + x
    (dividing first: x·log u can overflow); u = 1 gives x, x = inf gives inf."""
    u = E.add(x, 1.0)
    r = E.mul(E.log(u), E.true_divide(x, E.sub(u, 1.0)))
    r = E.where(E.eq(x, INF), INF, r)
    return E.where(E.eq(u, 1.0), x, r)


@elementwise_decomposition("log2")
def _log2(x):
    """log(x)/ln2 (dividing keeps log2 of a power of two whole)."""
    return E.true_divide(E.log(x), LN2)


@elementwise_decomposition("log10")
def _log10(x):
    """log(x)/ln10."""
    return E.true_divide(E.log(x), LN10)


# -- trigonometric ----------------------------------------------------------------------------

@elementwise_decomposition("tan")
def _tan(x):
    """sin/cos: each is accurate relative to itself, so their quotient is too."""
    return E.true_divide(E.sin(x), E.cos(x))


def _cos_of_asin(x):
    """sqrt(1 − x²) as sqrt((1 − x)(1 + x)), which keeps its bits near |x| = 1."""
    return E.sqrt(E.mul(E.sub(1.0, x), E.add(x, 1.0)))


@elementwise_decomposition("asin")
def _asin(x):
    """atan2(x, sqrt((1 − x)(1 + x))); NaN beyond ±1 from the sqrt."""
    return E.atan2(x, _cos_of_asin(x))


@elementwise_decomposition("acos")
def _acos(x):
    """atan2(sqrt((1 − x)(1 + x)), x); NaN beyond ±1 from the sqrt."""
    return E.atan2(_cos_of_asin(x), x)


@elementwise_decomposition("atan")
def _atan(x):
    """atan2(x, 1)."""
    return E.atan2(x, 1.0)


# -- hyperbolic -------------------------------------------------------------------------------

def _half_exp_squared(a):
    """e^a / 2 as exp(a/2)·(exp(a/2)/2): exact halving, no overflow before the result does, and
    no ln2 subtracted from a large a (that rounding alone costs a·2^-p relative)."""
    h = E.exp(E.mul(a, 0.5))
    return E.mul(h, E.mul(h, 0.5))


#: Above this |x|, e^-|x| is below an ulp of e^|x| in float64, so sinh and cosh are e^|x|/2.
_HYPERBOLIC_SPLIT = 20.0


@elementwise_decomposition("sinh", f64=True)
def _sinh(x):
    """(e + e/(e + 1))/2 with e = expm1(|x|), accurate down to the smallest |x|; e^|x|/2 above 20;
    odd."""
    a = _magnitude(x)
    e = E.expm1(a)
    small = E.mul(E.add(e, E.true_divide(e, E.add(e, 1.0))), 0.5)
    return _with_sign(x, E.where(E.lt(a, _HYPERBOLIC_SPLIT), small, _half_exp_squared(a)))


@elementwise_decomposition("cosh", f64=True)
def _cosh(x):
    """(u + 1/u)/2 with u = exp(|x|); e^|x|/2 above 20."""
    a = _magnitude(x)
    u = E.exp(a)
    small = E.mul(E.add(u, E.true_divide(1.0, u)), 0.5)
    return E.where(E.lt(a, _HYPERBOLIC_SPLIT), small, _half_exp_squared(a))


@elementwise_decomposition("tanh")
def _tanh(x):
    """tanh|x| = −e/(e + 2) with e = expm1(−2|x|), accurate near 0 and exactly 1 far out;
    odd (the sign flip is folded in, so ±0 keep their sign)."""
    e = E.expm1(E.mul(_magnitude(x), -2.0))
    t = E.true_divide(e, E.add(e, 2.0))  # −tanh|x|
    return E.where(E.lt(x, 0.0), t, E.neg(t))


@elementwise_decomposition("asinh")
def _asinh(x):
    """log1p(a + a²/(1 + sqrt(1 + a²))), a = |x|, written a·(1 + a/(1 + sqrt(1 + a²))) so −0
    survives; log(a) + ln2 once 1/a² is below an ulp; odd."""
    a = _magnitude(x)
    near = E.log1p(E.mul(a, E.add(E.true_divide(a, E.add(E.sqrt(E.add(E.mul(a, a), 1.0)), 1.0)), 1.0)))
    far = E.add(E.log(a), LN2)
    return _with_sign(x, E.where(E.lt(a, _LOG2X_ABOVE[x._dtype]), near, far))


@elementwise_decomposition("acosh")
def _acosh(x):
    """log1p(t + sqrt(t)·sqrt(x + 1)) with t = x − 1 (exact near 1); log(x) + ln2 for large x."""
    t = E.sub(x, 1.0)
    near = E.log1p(E.add(t, E.mul(E.sqrt(t), E.sqrt(E.add(x, 1.0)))))  # NaN below 1
    far = E.add(E.log(x), LN2)
    return E.where(E.lt(x, _LOG2X_ABOVE[x._dtype]), near, far)


@elementwise_decomposition("atanh")
def _atanh(x):
    """½·log1p(2a/(1 − a)), a = |x| (1 − a is exact where it matters); odd."""
    a = _magnitude(x)
    return _with_sign(x, E.mul(E.log1p(E.true_divide(E.mul(a, 2.0), E.sub(1.0, a))), 0.5))


@elementwise_decomposition("sigmoid")
def _sigmoid(x):
    """1/(1 + e) for x >= 0 and e/(1 + e) below, with e = exp(−|x|): never overflows."""
    e = E.exp(E.where(E.lt(x, 0.0), x, E.neg(x)))
    d = E.add(e, 1.0)
    return E.where(E.lt(x, 0.0), E.true_divide(e, d), E.true_divide(1.0, d))


# -- error functions --------------------------------------------------------------------------

def _exp_neg_square(a):
    """exp(−a²) with a² split as h² + (a − h)(a + h), h = a rounded down to a multiple of 1/128:
    h² is exact, so the rounding of a² (a²·2^-p relative in the result) is gone (Cephes expx2)."""
    lo = E.fmod(a, 1.0 / 128)
    h = E.sub(a, lo)
    return E.mul(E.exp(E.neg(E.mul(h, h))), E.exp(E.neg(E.mul(lo, E.add(a, h)))))


def _erf_erfc(a):
    """(erf(a), erfc(a)) for a >= 0 (NaN passes), from Cephes ndtr's rationals: x·T(x²)/U(x²)
    below 1, where erfc = 1 − erf loses little; exp(−a²)·P/Q (R/S from 8) above, where
    erf = 1 − erfc loses nothing."""
    a = E.where(E.lt(ERF_CLAMP, a), ERF_CLAMP, a)
    z = E.mul(a, a)
    core = E.true_divide(E.mul(a, _polevl(z, ERF_T)), _p1evl(z, ERF_U))
    mid = E.lt(a, 8.0)
    p = E.where(mid, _polevl(a, ERFC_P), _polevl(a, ERFC_R))
    q = E.where(mid, _p1evl(a, ERFC_Q), _p1evl(a, ERFC_S))
    tail = E.true_divide(E.mul(_exp_neg_square(a), p), q)
    small = E.lt(a, 1.0)
    return E.where(small, core, E.sub(1.0, tail)), E.where(small, E.sub(1.0, core), tail)


@elementwise_decomposition("erf", f64=True)
def _erf(x):
    """Cephes ndtr on |x| (clamped at 30), odd."""
    return _with_sign(x, _erf_erfc(_magnitude(x))[0])


@elementwise_decomposition("erfc", f64=True)
def _erfc(x):
    """Cephes ndtr on |x| (clamped at 30); 2 − erfc|x| for negative x."""
    c = _erf_erfc(_magnitude(x))[1]
    return E.where(E.lt(x, 0.0), E.sub(2.0, c), c)


@elementwise_decomposition("erfinv", f64=True)
def _erfinv(y):
    """a·p(w), Giles' double-precision polynomials in w = −log((1 − a)(1 + a)), a = |y|: within
    3 ulps of erfinv in float64 and float32 alike, so no Newton step is needed (one measured no
    gain in float64, and a loss in float32, where erf's own rounding feeds back). ±1 gives ±inf,
    beyond is NaN; odd."""
    a = _magnitude(y)
    w = E.neg(E.log(E.mul(E.sub(1.0, a), E.add(a, 1.0))))
    root = E.sqrt(w)
    p = None
    for below, shift, in_root, coeffs in reversed(ERFINV_PIECES):
        piece = _polevl(E.sub(root if in_root else w, shift), coeffs)
        p = piece if p is None else E.where(E.lt(w, below), piece, p)
    return _with_sign(y, E.where(E.eq(a, 1.0), INF, E.mul(a, p)))


# -- reciprocals ------------------------------------------------------------------------------

@elementwise_decomposition("reciprocal")
def _reciprocal(x):
    """1/x, correctly rounded."""
    return E.true_divide(1.0, x)


@elementwise_decomposition("rsqrt")
def _rsqrt(x):
    """1/sqrt(x) (−0 gives −inf, as 1/sqrt(−0) does)."""
    return E.true_divide(1.0, E.sqrt(x))


# -- binary -----------------------------------------------------------------------------------

def _two_product_error(a, b, p, splitter):
    """a·b − p exactly, for p = fl(a·b): Dekker's product on Veltkamp's halves."""
    def split(v):
        c = E.mul(v, splitter)
        hi = E.sub(c, E.sub(c, v))
        return hi, E.sub(v, hi)
    ah, al = split(a)
    bh, bl = split(b)
    err = E.sub(E.mul(ah, bh), p)
    err = E.add(err, E.mul(ah, bl))
    err = E.add(err, E.mul(al, bh))
    return E.add(err, E.mul(al, bl))


#: Bound on a float32 pow correction (see _exp_b_log).
_F32_MAX_CORRECTION = 2.0 ** -16
#: Where |log a| is above this, a Newton step knows log a better than log's own rounding.
_F32_LOG_CORRECTED = 4.0


def _exp_b_log(b, a):
    """exp(b·log a) for a >= 0. float64 (and float32 computed in it): as written, off by at most
    |b·log a|·2^-52 relative. float32: the result is off by the absolute error of b·log a, so add
    back the product's rounding (Dekker) and, for |log a| > 4, log's own (a Newton step on exp:
    a·e^-l − 1). Measured: below 1e-6 relative for |b| <= 4 and any a, growing as |b|·2e-7
    beyond (float32 has no wider log to do better)."""
    l = E.log(a)
    p = E.mul(b, l)
    if a._dtype is not D.float32:
        return E.exp(p)
    dl = E.where(E.lt(_F32_LOG_CORRECTED, _magnitude(l)), E.sub(E.mul(a, E.exp(E.neg(l))), 1.0), 0.0)
    c = E.add(_two_product_error(b, l, p, _F32_SPLITTER), E.mul(b, dl))
    # A true correction is below 2^-16 wherever the result is finite and not 1; anything larger
    # comes from a split or e^-l that overflowed, where exp(p) is 0, inf or exactly 1.
    c = E.where(E.lt(_magnitude(c), _F32_MAX_CORRECTION), c, 0.0)
    return E.mul(E.exp(p), E.add(c, 1.0))


def _int_pow(a, b):
    """Square-and-multiply over the exponent's bits (never negative here: core handles negative
    exponents); products wrap, as C's do. A Python exponent's bits are known here; a tensor's
    are walked over the dtype's width, without a host sync."""
    if not hasattr(b, "_dtype"):
        r = full_like(a, 1)
        while b:
            if b & 1:
                r = E.mul(r, a)
            b >>= 1
            if b:
                a = E.mul(a, a)
        return r
    a = _tensor(a, b)
    r = full_like(b, 1)
    bits = 8 * b._dtype.itemsize - (1 if b._dtype.is_signed else 0)
    for k in range(bits):
        r = E.mul(r, E.where(E.eq(E.bitwise_and(b, 1), 0), 1, a))
        if k + 1 < bits:
            b = E.trunc_divide(b, 2)
            a = E.mul(a, a)
    return r


@elementwise_decomposition("pow", f64=True)
def _pow(a, b):
    """Floats: exp(b·log|a|), then C99's special cases (numpy's on every pair of specials):
    x^±0 = 1 and 1^y = 1 even for NaN, (−1)^±inf = 1, a negative base gives NaN for a finite
    non-integer exponent and takes the sign for an odd one. A Python exponent 2 is a·a and 0.5 is
    sqrt(a), as in numpy and PyTorch (so (−0) ** 0.5 = −0 and (−inf) ** 0.5 = NaN there)."""
    t = a if hasattr(a, "_dtype") else b
    if not t._dtype.is_floating_point:
        return _int_pow(a, b)
    if not hasattr(b, "_dtype") and b in (2.0, 0.5):
        return E.mul(a, a) if b == 2.0 else E.sqrt(a)
    a, b = _tensor(a, b), _tensor(b, a)
    mag = _magnitude(a)
    r = _exp_b_log(b, mag)
    half = E.fmod(b, 2.0)  # ±1 exactly when b is an odd integer; NaN for infinite b
    odd = E.eq(E.mul(half, half), 1.0)
    r = E.where(E.logical_and(odd, E.signbit(a)), E.neg(r), r)
    frac = E.fmod(b, 1.0)  # nonzero and finite exactly when b is finite and not whole
    fractional = E.logical_or(E.lt(frac, 0.0), E.lt(0.0, frac))
    r = E.where(E.logical_and(fractional, E.logical_and(E.lt(a, 0.0), E.lt(-INF, a))), NAN, r)
    one = E.logical_or(E.eq(b, 0.0), E.eq(a, 1.0))
    one = E.logical_or(one, E.logical_and(E.eq(mag, 1.0), E.eq(_magnitude(b), INF)))
    return E.where(one, 1.0, r)


@elementwise_decomposition("hypot")
def _hypot(a, b):
    """m·sqrt(1 + (n/m)²) with m, n the larger and smaller of |a|, |b|: no overflow or underflow
    in between; 0 when both are 0, and inf wins over NaN (C99)."""
    a, b = _magnitude(_tensor(a, b)), _magnitude(_tensor(b, a))
    bigger = E.lt(a, b)
    m, n = E.where(bigger, b, a), E.where(bigger, a, b)
    q = E.true_divide(n, m)
    r = E.mul(m, E.sqrt(E.add(E.mul(q, q), 1.0)))
    r = E.where(E.eq(E.add(m, n), 0.0), 0.0, r)  # both zero (a NaN must stay NaN)
    return E.where(E.logical_or(E.eq(a, INF), E.eq(b, INF)), INF, r)


@elementwise_decomposition("logaddexp")
def _logaddexp(a, b):
    """log(e^a + e^b) = max + log1p(exp(−|a − b|)); a + ln2 when a == b (covers equal infinities)."""
    a, b = _tensor(a, b), _tensor(b, a)
    m = E.where(E.lt(a, b), b, a)
    d = E.sub(a, b)
    r = E.add(m, E.log1p(E.exp(E.where(E.lt(d, 0.0), d, E.neg(d)))))
    return E.where(E.eq(a, b), E.add(a, LN2), r)
