"""The elementwise prims as C expressions, one small entry per operator.

An entry maps the computation type (a CType, see ctypes_) and operand
expressions to a C expression, and may name helper functions (templates
instantiated per computation type, emitted once before the kernel). The
semantics follow core/ops/elementwise.py and numpy/PyTorch: floor division and
remainder take the sign of the divisor, round is half to even, maximum/minimum
propagate NaN, shifts by the width or more give 0 (or the sign for a right
shift), integer pow by a negative exponent gives 0 (but 1 and -1 stay), and an
integer division by zero (which core's backends report before launching) gives 0.
"""

from __future__ import annotations

from string import Template

from .ctypes_ import CType
from ember.errors import UnsupportedError

# Helper templates: $T is the computation type, $S a suffix naming it.
HELPERS = {
    "floordiv_f": Template("""\
DEVICE $T ek_floordiv_$S($T a, $T b) {
    if (b == 0) return a / b;
    $T m = fmod(a, b);
    $T d = (a - m) / b;
    if (m != 0 && ((b < 0) != (m < 0))) d -= 1;
    if (d == 0) return copysign(($T)0, a / b);
    $T f = floor(d);
    if (d - f > ($T)0.5) f += 1;
    return f;
}
"""),
    "remainder_f": Template("""\
DEVICE $T ek_remainder_$S($T a, $T b) {
    $T m = fmod(a, b);
    if (m != 0) { if ((b < 0) != (m < 0)) m += b; }
    else m = copysign(($T)0, b);
    return m;
}
"""),
    "div_i": Template("""\
DEVICE $T ek_tdiv_$S($T a, $T b) {
    if (b == 0) return 0;
    if (b == -1) return ($T)(0 - (u64)a);
    return ($T)(a / b);
}
DEVICE $T ek_tmod_$S($T a, $T b) {
    if (b == 0 || b == -1) return 0;
    return ($T)(a % b);
}
DEVICE $T ek_floordiv_$S($T a, $T b) {
    $T q = ek_tdiv_$S(a, b);
    $T r = ek_tmod_$S(a, b);
    if (r != 0 && ((r < 0) != (b < 0))) q -= 1;
    return q;
}
DEVICE $T ek_remainder_$S($T a, $T b) {
    $T r = ek_tmod_$S(a, b);
    if (r != 0 && ((r < 0) != (b < 0))) r += b;
    return r;
}
"""),
    "div_u": Template("""\
DEVICE $T ek_tdiv_$S($T a, $T b) { return b == 0 ? ($T)0 : ($T)(a / b); }
DEVICE $T ek_tmod_$S($T a, $T b) { return b == 0 ? ($T)0 : ($T)(a % b); }
"""),
    "ipow": Template("""\
DEVICE $T ek_pow_$S($T a, $T b) {
    if (b < 0) return a == 1 ? ($T)1 : (a == -1 ? ((b & 1) ? ($T)-1 : ($T)1) : ($T)0);
    u64 r = 1, x = (u64)a;
    while (b) { if (b & 1) r *= x; x *= x; b >>= 1; }
    return ($T)r;
}
"""),
    "upow": Template("""\
DEVICE $T ek_pow_$S($T a, $T b) {
    u64 r = 1, x = (u64)a;
    while (b) { if (b & 1) r *= x; x *= x; b >>= 1; }
    return ($T)r;
}
"""),
    "erfinv": Template("""\
DEVICE $T ek_erfinv_$S($T y) {
    if (isnan(y) || y < -1 || y > 1) return ($T)EK_NAN;
    if (y == 1) return ($T)EK_INF;
    if (y == -1) return -($T)EK_INF;
    /* Giles' single-precision approximation, then Newton steps in $T */
    f32 yf = (f32)y;
    f32 w = -log((1.0f - yf) * (1.0f + yf));
    f32 p;
    if (w < 5.0f) {
        w = w - 2.5f;
        p = 2.81022636e-08f; p = 3.43273939e-07f + p * w; p = -3.5233877e-06f + p * w;
        p = -4.39150654e-06f + p * w; p = 0.00021858087f + p * w; p = -0.00125372503f + p * w;
        p = -0.00417768164f + p * w; p = 0.246640727f + p * w; p = 1.50140941f + p * w;
    } else {
        w = sqrt(w) - 3.0f;
        p = -0.000200214257f; p = 0.000100950558f + p * w; p = 0.00134934322f + p * w;
        p = -0.00367342844f + p * w; p = 0.00573950773f + p * w; p = -0.0076224613f + p * w;
        p = 0.00943887047f + p * w; p = 1.00167406f + p * w; p = 2.83297682f + p * w;
    }
    $T x = ($T)(p * yf);
    for (int i = 0; i < 2; ++i) {
        $T e = erf(x) - y;
        x -= e / (($T)1.1283791670955126 * exp(-x * x));
    }
    return x;
}
"""),
    "logaddexp": Template("""\
DEVICE $T ek_logaddexp_$S($T a, $T b) {
    if (a == b) return a + ($T)0.6931471805599453;
    $T m = a > b ? a : b;
    return m + log1p(exp(-fabs(a - b)));
}
"""),
    "sigmoid": Template("""\
DEVICE $T ek_sigmoid_$S($T a) {
    if (a >= 0) return ($T)1 / (($T)1 + exp(-a));
    $T e = exp(a);
    return e / (($T)1 + e);
}
"""),
}


def helper_source(name: str, t: CType, qualify) -> str:
    return qualify(HELPERS[name].substitute(T=t.comp, S=t.comp))


def _f(fn):
    """A float function applied as is (the dialects overload it for float and double)."""
    return lambda t, a: (f"{fn}({a})", ())


def _same(t, a):
    return (a, ())


def _minmax(sym):
    def e(t, a, b):
        if t.kind == "b":
            return (f"({a} {'||' if sym == '>' else '&&'} {b})", ())
        pick = f"(({a}) {sym} ({b}) ? ({a}) : ({b}))"
        if t.kind == "f":
            return (f"(isnan({a}) ? ({a}) : isnan({b}) ? ({b}) : {pick})", ())
        return (pick, ())
    return e


def _by_kind(f=None, i=None, u=None, b=None):
    def e(t, *xs):
        g = {"f": f, "i": i, "u": u if u is not None else i, "b": b if b is not None else (u or i)}[t.kind]
        if g is None:
            raise UnsupportedError(f"no {t.name} form")
        return g(t, *xs)
    return e


def _helper(name, call):
    return lambda t, *xs: (f"ek_{call}_{t.comp}({', '.join(xs)})", (name,))


UNARY = {
    "neg": lambda t, a: (f"(-{a})", ()),
    "abs": _by_kind(f=_f("fabs"), i=lambda t, a: (f"({a} < 0 ? -{a} : {a})", ()), u=lambda t, a: (a, ())),
    "sign": _by_kind(f=lambda t, a: (f"(isnan({a}) ? {a} : ({t.comp})(({a} > 0) - ({a} < 0)))", ()),
                     i=lambda t, a: (f"(({a} > 0) - ({a} < 0))", ()), u=lambda t, a: (f"({a} > 0)", ()),
                     b=lambda t, a: (a, ())),
    "square": lambda t, a: (f"({a} * {a})", ()),
    "exp": _f("exp"), "exp2": _f("exp2"), "expm1": _f("expm1"), "log": _f("log"), "log2": _f("log2"),
    "log10": _f("log10"), "log1p": _f("log1p"), "sqrt": _f("sqrt"),
    "rsqrt": lambda t, a: (f"(({t.comp})1 / sqrt({a}))", ()),
    "sin": _f("sin"), "cos": _f("cos"), "tan": _f("tan"), "asin": _f("asin"), "acos": _f("acos"),
    "atan": _f("atan"), "sinh": _f("sinh"), "cosh": _f("cosh"), "tanh": _f("tanh"), "asinh": _f("asinh"),
    "acosh": _f("acosh"), "atanh": _f("atanh"), "erf": _f("erf"), "erfc": _f("erfc"),
    "sigmoid": _helper("sigmoid", "sigmoid"), "erfinv": _helper("erfinv", "erfinv"),
    "reciprocal": lambda t, a: (f"(({t.comp})1 / {a})", ()),
    # integers and bool are already whole: the identity (C overloads floor/trunc/... only for floating types)
    "floor": _by_kind(f=_f("floor"), i=_same), "ceil": _by_kind(f=_f("ceil"), i=_same),
    "round": _by_kind(f=_f("rint"), i=_same), "trunc": _by_kind(f=_f("trunc"), i=_same),
    "frac": lambda t, a: (f"({a} - trunc({a}))", ()),
    "logical_not": lambda t, a: (f"(!{a})", ()),
    "bitwise_not": _by_kind(i=lambda t, a: (f"(~{a})", ()), b=lambda t, a: (f"(!{a})", ())),
    "isnan": _by_kind(f=lambda t, a: (f"(isnan({a}) != 0)", ()), i=lambda t, a: ("false", ())),
    "isinf": _by_kind(f=lambda t, a: (f"(isinf({a}) != 0)", ()), i=lambda t, a: ("false", ())),
    "isfinite": _by_kind(f=lambda t, a: (f"(isfinite({a}) != 0)", ()), i=lambda t, a: ("true", ())),
    "signbit": _by_kind(f=lambda t, a: (f"(signbit({a}) != 0)", ()), i=lambda t, a: (f"({a} < 0)", ()),
                        u=lambda t, a: ("false", ())),
}


def _op(sym):
    return lambda t, a, b: (f"({a} {sym} {b})", ())


def _intdiv(kind_call):
    return _by_kind(i=lambda t, a, b: (f"ek_{kind_call}_{t.comp}({a}, {b})", ("div_i",)),
                    u=lambda t, a, b: (f"ek_{ {'floordiv': 'tdiv', 'remainder': 'tmod'}.get(kind_call, kind_call)}_{t.comp}({a}, {b})", ("div_u",)))


def _shift(left):
    def e(t, a, b):
        if left:
            return (f"((u64){b} >= {t.bits} ? ({t.comp})0 : ({t.comp})((u64){a} << {b}))", ())
        neg = f"({a} < 0 ? ({t.comp})-1 : ({t.comp})0)" if t.kind == "i" else f"({t.comp})0"
        return (f"((u64){b} >= {t.bits} ? {neg} : ({t.comp})({a} >> {b}))", ())
    return e


BINARY = {
    "add": _by_kind(f=_op("+"), i=_op("+"), b=_op("||")),
    "sub": _op("-"),
    "mul": _by_kind(f=_op("*"), i=_op("*"), b=_op("&&")),
    "true_divide": _op("/"),
    "floor_divide": _by_kind(f=lambda t, a, b: (f"ek_floordiv_{t.comp}({a}, {b})", ("floordiv_f",)),
                             i=_intdiv("floordiv"), u=_intdiv("floordiv")),
    "trunc_divide": _by_kind(f=lambda t, a, b: (f"trunc({a} / {b})", ()), i=_intdiv("tdiv"), u=_intdiv("tdiv")),
    "remainder": _by_kind(f=lambda t, a, b: (f"ek_remainder_{t.comp}({a}, {b})", ("remainder_f",)),
                          i=_intdiv("remainder"), u=_intdiv("remainder")),
    "fmod": _by_kind(f=lambda t, a, b: (f"fmod({a}, {b})", ()), i=_intdiv("tmod"), u=_intdiv("tmod")),
    "pow": _by_kind(f=lambda t, a, b: (f"pow({a}, {b})", ()),
                    i=lambda t, a, b: (f"ek_pow_{t.comp}({a}, {b})", ("ipow",)),
                    u=lambda t, a, b: (f"ek_pow_{t.comp}({a}, {b})", ("upow",))),
    "maximum": _minmax(">"), "minimum": _minmax("<"),
    "atan2": lambda t, a, b: (f"atan2({a}, {b})", ()),
    "hypot": lambda t, a, b: (f"hypot({a}, {b})", ()),
    "logaddexp": lambda t, a, b: (f"ek_logaddexp_{t.comp}({a}, {b})", ("logaddexp",)),
    "copysign": lambda t, a, b: (f"copysign({a}, {b})", ()),
    "eq": _op("=="), "ne": _op("!="), "lt": _op("<"), "le": _op("<="), "gt": _op(">"), "ge": _op(">="),
    "logical_and": _op("&&"), "logical_or": _op("||"), "logical_xor": _op("!="),
    "bitwise_and": _by_kind(i=_op("&"), b=lambda t, a, b: (f"(({a} & {b}) != 0)", ())),
    "bitwise_or": _by_kind(i=_op("|"), b=lambda t, a, b: (f"(({a} | {b}) != 0)", ())),
    "bitwise_xor": _by_kind(i=_op("^"), b=lambda t, a, b: (f"(({a} ^ {b}) != 0)", ())),
    "bitwise_left_shift": _shift(True), "bitwise_right_shift": _shift(False),
}

TERNARY = {"where": lambda t, c, a, b: (f"({c} ? {a} : {b})", ())}

INT_DIVISION = ("floor_divide", "trunc_divide", "remainder", "fmod")


def expression(op: str, t: CType, operands):
    """(C expression, helper names) of ``op`` on operands computed in ``t``."""
    table = UNARY if len(operands) == 1 else BINARY if len(operands) == 2 else TERNARY
    return table[op](t, *operands)
