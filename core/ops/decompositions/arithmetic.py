"""Exact decompositions: sign and rounding, predicates, comparisons, division, logic and shifts.

Every formula here is exact. It uses only the required prims' exact operations (add, mul,
fmod, trunc_divide, eq, lt, bitwise_and, bitwise_xor) and picks between cases with where,
so NaN, ±inf, the sign of zero and integer wraparound come out as numpy's. float16 and
bfloat16 compute in their own dtype: each step is exact or rounds once (floor_divide alone
runs them in float32, as PyTorch does).

Operands arrive as a kernel gets them: promoted to the computation dtype and broadcast; one
of the two operands of a binary operator may be a Python scalar. The sign bit of a NaN is
invisible to the prims, so a negative NaN counts as a NaN: signbit(-nan) is False.
"""

from __future__ import annotations

import math

from ... import dtypes as D
from .. import elementwise as E
from ..._tensor import Tensor
from ...dispatch import get
from ..prims import elementwise_decomposition

_INF = math.inf


def _exact(name):
    return elementwise_decomposition(name, upcast=False)


def _dtype(*operands):
    return next(x._dtype for x in operands if isinstance(x, Tensor))


def _width(dt):
    return 8 * dt.itemsize


def _is_tensor(x):
    return isinstance(x, Tensor)


def _unchecked(name):
    """The backend's kernel of the required prim ``name`` (trunc_divide, fmod) without core's integer
    zero-divisor test: callers pass a divisor already checked by the operator they decompose, or a power
    of two, with operands already promoted and broadcast as a kernel takes them."""
    op = get(name)

    def call(a, b):
        k = op.kernels.get((a if isinstance(a, Tensor) else b)._backend.key.index)
        return k(a, b, None) if k is not None else op.fn(a, b)
    return call


_trunc_divide = _unchecked("trunc_divide")
_fmod = _unchecked("fmod")


# -- unary: sign and magnitude ---------------------------------------------------------------

@_exact("neg")
def _neg(x):
    """x·(−1): exact for floats (+0 gives −0); integers wrap, unsigned ones too (x·(2ⁿ−1))."""
    return E.mul(x, -1)


@_exact("abs")
def _abs(x):
    """where(x < 0, −x, x), plus 0.0 for floats (−0 becomes +0); the most negative integer wraps to itself."""
    dt = x._dtype
    if not dt.is_signed:
        return x.clone()
    r = E.where(E.lt(x, 0), E.mul(x, -1), x)
    return E.add(r, 0.0) if dt.is_floating_point else r


@_exact("sign")
def _sign(x):
    """1 where 0 < x, −1 where x < 0, else x (+0.0 for floats: ±0 gives +0, NaN stays NaN, as numpy)."""
    dt = x._dtype
    if dt is D.bool:
        return x.clone()
    if not dt.is_signed:
        return E.where(E.lt(0, x), 1, x)
    rest = E.add(x, 0.0) if dt.is_floating_point else x
    return E.where(E.lt(0, x), 1, E.where(E.lt(x, 0), -1, rest))


@_exact("square")
def _square(x):
    """x·x."""
    return E.mul(x, x)


@_exact("signbit")
def _signbit(x):
    """x < 0, where a zero stands in for 1/x so that −0 (giving −inf) counts as negative."""
    dt = x._dtype
    if dt.is_floating_point:
        return E.lt(E.where(E.eq(x, 0), E.true_divide(1.0, x), x), 0)
    return E.lt(x, 0) if dt.is_signed else E.lt(x, x)  # unsigned and bool: never negative


# -- unary: rounding (floats only: integers never reach these) ---------------------------------

@_exact("trunc")
def _trunc(x):
    """trunc_divide(x, 1): the prim's float contract is trunc(a/b), and x/1 is exact (±0, ±inf, NaN pass)."""
    return E.trunc_divide(x, 1.0)


@_exact("floor")
def _floor(x):
    """t = trunc(x), minus 1 where x < t (negative non-integers); −0.5 gives −1, −0 stays −0."""
    t = E.trunc(x)
    return E.where(E.lt(x, t), E.add(t, -1.0), t)


@_exact("ceil")
def _ceil(x):
    """t = trunc(x), plus 1 where t < x (positive non-integers); −0.5 gives −0."""
    t = E.trunc(x)
    return E.where(E.lt(t, x), E.add(t, 1.0), t)


@_exact("round")
def _round(x):
    """Half to even: t = trunc(x) steps away from zero where |x − t| > ½, or = ½ with t odd.

    All steps are exact: x − t, and t odd as trunc(t/2) ≠ t·½ (cheaper than fmod).
    """
    t = E.trunc(x)
    neg = E.lt(x, 0)
    d = E.sub(x, t)
    ad = E.where(neg, E.mul(d, -1), d)  # |x − t|; NaN for ±inf and NaN, which then keep t
    even = E.eq(E.trunc_divide(t, 2.0), E.mul(t, 0.5))
    up = E.where(even, E.lt(0.5, ad), E.eq(E.lt(ad, 0.5), False))
    return E.where(up, E.where(neg, E.add(t, -1.0), E.add(t, 1.0)), t)


@_exact("frac")
def _frac(x):
    """x − trunc(x): exact; ±inf give NaN, and whole x give +0, as the formula does in IEEE arithmetic."""
    return E.sub(x, E.trunc(x))


# -- unary: predicates and logic ---------------------------------------------------------------

@_exact("isnan")
def _isnan(x):
    """¬(x == x); integers and bool are never NaN (x < x is all False)."""
    if not x._dtype.is_floating_point:
        return E.lt(x, x)
    return E.eq(E.eq(x, x), False)


@_exact("isinf")
def _isinf(x):
    """x == inf ∨ x == −inf."""
    if not x._dtype.is_floating_point:
        return E.lt(x, x)
    return E.where(E.eq(x, _INF), True, E.eq(x, -_INF))


@_exact("isfinite")
def _isfinite(x):
    """x·0 == 0: zero for every finite x, NaN for ±inf and NaN."""
    if not x._dtype.is_floating_point:
        return E.eq(x, x)
    return E.eq(E.mul(x, 0.0), 0.0)


@_exact("logical_not")
def _logical_not(x):
    """x == False (x arrives as bool)."""
    return E.eq(x, False)


@_exact("bitwise_not")
def _bitwise_not(x):
    """x ^ −1 (all ones, whatever the width; −1 wraps to 2ⁿ−1 for unsigned); ¬x for bool."""
    if x._dtype is D.bool:
        return E.eq(x, False)
    return E.bitwise_xor(x, -1)


# -- binary: comparisons and logic ---------------------------------------------------------------

@_exact("ne")
def _ne(a, b):
    """¬(a == b): True where either is NaN."""
    return E.eq(E.eq(a, b), False)


@_exact("le")
def _le(a, b):
    """a < b ∨ a == b (¬(b < a) would be True for NaN)."""
    return E.where(E.lt(a, b), True, E.eq(a, b))


@_exact("gt")
def _gt(a, b):
    """b < a."""
    return E.lt(b, a)


@_exact("ge")
def _ge(a, b):
    """b ≤ a."""
    return _le(b, a)


def _or_bool(a, b):
    """a ∨ b on bool as where(a, True, b): one launch."""
    if not _is_tensor(a):
        a, b = b, a
    if not _is_tensor(b):
        return E.eq(a, a) if b else a.clone()
    return E.where(a, True, b)


@_exact("logical_and")
def _logical_and(a, b):
    """bitwise_and on bool."""
    return E.bitwise_and(a, b)


@_exact("logical_or")
def _logical_or(a, b):
    """where(a, True, b) on bool."""
    return _or_bool(a, b)


@_exact("logical_xor")
def _logical_xor(a, b):
    """bitwise_xor on bool."""
    return E.bitwise_xor(a, b)


@_exact("bitwise_or")
def _bitwise_or(a, b):
    """(a ^ b) ^ (a & b): the bits set in exactly one, then those set in both; where(a, True, b) for bool."""
    if _dtype(a, b) is D.bool:
        return _or_bool(a, b)
    return E.bitwise_xor(E.bitwise_xor(a, b), E.bitwise_and(a, b))


# -- binary: arithmetic -------------------------------------------------------------------------

@_exact("sub")
def _sub(a, b):
    """a + b·(−1): exact in IEEE arithmetic (signed zeros included); integers wrap."""
    if not _is_tensor(b):
        return E.add(a, -b)  # an integer −b past the dtype's range wraps, as b·(−1) would
    return E.add(a, E.mul(b, -1))


def _is_nan_scalar(x):
    return isinstance(x, float) and x != x


def _first_or_nan(cond, a):
    """cond ∨ isnan(a), for a tensor a (floats only can be NaN)."""
    if not a._dtype.is_floating_point:
        return cond
    return E.where(E.eq(a, a), cond, True)


@_exact("maximum")
def _maximum(a, b):
    """where(b < a ∨ isnan(a), a, b): NaN from either side wins; of two equal values (±0) b, as numpy."""
    if _is_nan_scalar(a):
        return E.add(b, a)
    cond = E.lt(b, a)
    return E.where(_first_or_nan(cond, a) if _is_tensor(a) else cond, a, b)


@_exact("minimum")
def _minimum(a, b):
    """where(a < b ∨ isnan(a), a, b): NaN from either side wins; of two equal values (±0) b, as numpy."""
    if _is_nan_scalar(a):
        return E.add(b, a)
    cond = E.lt(a, b)
    return E.where(_first_or_nan(cond, a) if _is_tensor(a) else cond, a, b)


@_exact("copysign")
def _copysign(a, b):
    """where(signbit(b), −|a|, |a|). Operands are floats (integers promote)."""
    if not _is_tensor(b):
        m = E.abs(a)
        return E.neg(m) if math.copysign(1.0, b) < 0 else m
    if not _is_tensor(a):
        from ..creation import full
        m = abs(a)
        return E.where(E.signbit(b), full((), -m, dtype=b._dtype, device=b._device), m)
    m = E.abs(a)
    return E.where(E.signbit(b), E.neg(m), m)


def _wrong_sign(r, b):
    """r ≠ 0 and sign(r) ≠ sign(b): where a C (truncating) remainder needs the floor correction."""
    if not _is_tensor(b):
        return E.lt(0, r) if b < 0 else E.lt(r, 0)
    return E.where(E.lt(b, 0), E.lt(0, r), E.lt(r, 0))


@elementwise_decomposition("floor_divide")
def _floor_divide(a, b):
    """Integers: q = trunc_divide(a, b), minus 1 where fmod(a, b) and b differ in sign.

    Floats: CPython's float floor division (Objects/floatobject.c, float_divmod) on fmod and
    true_divide, as PyTorch's: exact multiples stay exact (1.0 // 0.1 is 9), a zero quotient
    takes the sign of a/b, and division by zero gives a/b (±inf or NaN).
    """
    dt = _dtype(a, b)
    if not dt.is_floating_point:
        q = _trunc_divide(a, b)
        if not dt.is_signed:
            return q
        return E.where(_wrong_sign(_fmod(a, b), b), E.add(q, -1), q)
    if not _is_tensor(b) and b == 0:
        return E.true_divide(a, b)
    mod = E.fmod(a, b)
    div = E.true_divide(E.sub(a, mod), b)  # (a − mod)/b: close to a whole number
    div = E.where(_wrong_sign(mod, b), E.add(div, -1.0), div)
    q = E.floor(div)
    q = E.where(E.lt(0.5, E.sub(div, q)), E.add(q, 1.0), q)  # div rounded to nearest
    quotient = E.true_divide(a, b)
    q = E.where(E.eq(div, 0), E.mul(quotient, 0.0), q)  # a zero takes the sign of a/b
    if not _is_tensor(b):
        return q
    return E.where(E.eq(b, 0), quotient, q)


@_exact("remainder")
def _remainder(a, b):
    """r = fmod(a, b), plus b where r ≠ 0 and r's sign differs from b's (Python's %).

    For floats a zero remainder takes b's sign (0/b gives it), as numpy.
    """
    dt = _dtype(a, b)
    r = _fmod(a, b)
    if not dt.is_signed:
        return r
    r = E.where(_wrong_sign(r, b), E.add(r, b), r)
    if not dt.is_floating_point:
        return r
    zero = E.true_divide(0.0, b) if _is_tensor(b) else math.copysign(0.0, b)
    return E.where(E.eq(r, 0), zero, r)


# -- binary: shifts (integers only) --------------------------------------------------------------

def _pow2(b, width):
    """2**(b mod width) in b's dtype, squaring over b's bits: 1 + (b & 1), then ×2^(2^k) where bit k is set.

    2**(width − 1) wraps to the most negative value for signed dtypes.
    """
    p = E.add(E.bitwise_and(b, 1), 1)
    k = 1
    while (1 << k) < width:
        p = E.where(E.eq(E.bitwise_and(b, 1 << k), 0), p, E.mul(p, 1 << (1 << k)))
        k += 1
    return p


def _in_range(b, width):
    """0 ≤ b < width: no bit at or above log2(width) set (a negative count has them all)."""
    return E.eq(E.bitwise_and(b, -width), 0)


@_exact("bitwise_left_shift")
def _bitwise_left_shift(a, b):
    """a·2**b (integer multiplication wraps, which is what the shift does); 0 for a count outside [0, width)."""
    width = _width(_dtype(a, b))
    if not _is_tensor(b):
        return E.mul(a, 1 << b if 0 <= b < width else 0)
    return E.where(_in_range(b, width), E.mul(a, _pow2(b, width)), 0)


@_exact("bitwise_right_shift")
def _bitwise_right_shift(a, b):
    """Arithmetic shift: trunc_divide(a, 2**b), on ~a for negative a (~(~a >> b) is a >> b for a < 0).

    A count outside [0, width) gives 0, or −1 for negative a (the sign fills), as numpy; for signed
    dtypes 2**(width − 1) wraps negative and the quotient is 0, which the sign fill then completes.
    """
    dt = _dtype(a, b)
    width = _width(dt)
    if _is_tensor(b):
        p, ok = _pow2(b, width), _in_range(b, width)
    elif not dt.is_signed:
        if b >= width:
            return E.mul(a, 0)
        p, ok = 1 << b, None
    else:  # from width − 1 on, 2**b wraps to the most negative value: quotient 0, then the sign fills
        p, ok = (1 << b if 0 <= b < width - 1 else -(1 << (width - 1))), None
    if not dt.is_signed:
        return _masked(_trunc_divide(a, p), ok)
    if not _is_tensor(a):
        q = _masked(_trunc_divide(~a if a < 0 else a, p), ok)
        return E.bitwise_xor(q, -1) if a < 0 else q
    neg = E.lt(a, 0)
    q = _masked(_trunc_divide(E.where(neg, E.bitwise_xor(a, -1), a), p), ok)
    return E.where(neg, E.bitwise_xor(q, -1), q)


def _masked(q, ok):
    """q where the shift count is in range, else 0."""
    return q if ok is None else E.where(ok, q, 0)
