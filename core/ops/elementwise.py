"""Elementwise operators: the unary, binary, comparison, logical and bitwise families.

Each family is a table (name -> promotion rule); one adapter per arity applies
the rule once in core, so a backend kernel receives operands already promoted
to the computation dtype and broadcast to the output shape, and only computes:

    kernel(a, b, out) -> Tensor   # out is None, or a tensor of the result dtype to write into

Python scalars reach kernels as Python scalars of the computation type.
"""

from __future__ import annotations

from .. import dtypes as D
from .._tensor import Tensor
from ..dispatch import defop
from ..errors import DTypeError, InvalidArgumentError, ShapeError
from ..runtime.copies import read_for_check
from ._helpers import Spec, broadcast_shapes, broadcast_strides, check_int, check_scalar
from ..errors import DivisionByZeroError

# Promotion rules: how the computation dtype and result dtype follow from the
# promoted input dtype.
#   same      result = promoted type
#   float     integers and bool compute in the default float
#   compare   compute in the promoted type, result bool
#   logical   compute in bool, result bool
#   bitwise   integers and bool only
#   integer   integers only
#   intfloat  numbers only (no bool)
#   nobool    no bool operand at all, even beside a number (PyTorch's sub)
#   boolint   bool computes in int64 (PyTorch's square)
#   floatonly floating only (rounding ops keep integers as they are)
_NUMERIC = tuple(d for d in D.all_dtypes if d is not D.bool)
_INTEGRAL_AND_BOOL = (D.bool,) + D.integral_dtypes

UNARY = {
    "neg": "intfloat", "abs": "intfloat", "sign": "same", "square": "boolint",
    "exp": "float", "exp2": "float", "expm1": "float", "log": "float", "log2": "float",
    "log10": "float", "log1p": "float", "sqrt": "float", "rsqrt": "float", "sin": "float",
    "cos": "float", "tan": "float", "asin": "float", "acos": "float", "atan": "float",
    "sinh": "float", "cosh": "float", "tanh": "float", "asinh": "float", "acosh": "float",
    "atanh": "float", "sigmoid": "float", "erf": "float", "erfc": "float", "erfinv": "float",
    "reciprocal": "float",
    "floor": "rounding", "ceil": "rounding", "round": "rounding", "trunc": "rounding",
    "frac": "floatonly",
    "logical_not": "logical", "bitwise_not": "bitwise",
    "isnan": "predicate", "isinf": "predicate", "isfinite": "predicate", "signbit": "predicate",
}

BINARY = {
    "add": "same", "sub": "nobool", "mul": "same", "true_divide": "float",
    "floor_divide": "intfloat", "trunc_divide": "intfloat", "remainder": "intfloat",
    "fmod": "intfloat", "pow": "intfloat", "maximum": "same", "minimum": "same",
    "atan2": "float", "hypot": "floatonly", "logaddexp": "floatonly", "copysign": "float",
    "eq": "compare", "ne": "compare", "lt": "compare", "le": "compare", "gt": "compare", "ge": "compare",
    "logical_and": "logical", "logical_or": "logical", "logical_xor": "logical",
    "bitwise_and": "bitwise", "bitwise_or": "bitwise", "bitwise_xor": "bitwise",
    "bitwise_left_shift": "integer", "bitwise_right_shift": "integer",
}

# -- kernel contracts, written from the tables --------------------------------------
# Each operator's doc is the contract its kernel keeps (tests/test_prim_docs.py checks every prim has
# one): its signature, what it receives, what ``out`` is, the dtype of its result and its edge cases.

_RESULT_DOC = {
    "same": "the operands' dtype (they arrive promoted to one dtype, bool included)",
    "nobool": "the operands' dtype (never bool: core refuses a bool operand)",
    "intfloat": "the operands' dtype (integers and floats; core refuses bool)",
    "boolint": "the operand's dtype (bool arrives converted to int64)",
    "float": "the operand's dtype, always floating (integer and bool inputs arrive converted to the default float dtype)",
    "floatonly": "the operands' floating dtype (core refuses other dtypes)",
    "rounding": "the operand's floating dtype (integers never reach the kernel: they are already whole)",
    "compare": "bool (the operands arrive promoted to one dtype)",
    "logical": "bool (the operands arrive converted to bool)",
    "predicate": "bool (the operand keeps its dtype)",
    "bitwise": "the operands' dtype: an integer dtype or bool (core refuses floats)",
    "integer": "the operands' integer dtype (core refuses bool and floats)",
}

#: Edge semantics a kernel must keep, where an operator has some beyond IEEE arithmetic.
_EDGES = {
    "add": "integers wrap (two's complement); bool add is logical or",
    "mul": "integers wrap (two's complement); bool mul is logical and",
    "sub": "integers wrap (two's complement)",
    "neg": "integers wrap (-(-128) is -128 in int8; unsigned negation is 2**bits - x)",
    "abs": "integers wrap (abs of the most negative value is itself); abs(-0.0) is +0.0",
    "true_divide": "IEEE, correctly rounded: x/0 is +-inf, 0/0 NaN",
    "trunc_divide": ("integers: C's truncating division (-7 / 2 = -3); core raises ZeroDivisionError before the "
                     "kernel runs if a divisor is 0, so the kernel never divides an integer by zero; the most "
                     "negative value divided by -1 wraps. Floats: trunc(a / b), IEEE for 0 and inf"),
    "floor_divide": ("integers: floor of the quotient (-7 // 2 = -4); core raises ZeroDivisionError for a zero "
                     "divisor before the kernel runs. Floats: Python's float floor division (1.0 // 0.1 = 9.0), "
                     "x // 0 is +-inf or NaN"),
    "fmod": ("C's fmod: the remainder has the dividend's sign, exact for floats; integer division by zero "
             "never reaches the kernel (core raises ZeroDivisionError)"),
    "remainder": ("Python's %: the remainder has the divisor's sign; integer division by zero never reaches "
                  "the kernel (core raises ZeroDivisionError)"),
    "pow": ("integers wrap; an integer exponent that is negative never reaches the kernel (core raises "
            "ValueError for a negative Python scalar and handles negative tensor elements: 1 for base 1, "
            "+-1 for base -1, else 0, as PyTorch); floats as C's pow (pow(x, 0) = 1 even for NaN)"),
    "eq": "IEEE: NaN equals nothing, -0.0 == +0.0",
    "ne": "IEEE: NaN differs from everything",
    "lt": "IEEE: a comparison with NaN is false", "le": "IEEE: a comparison with NaN is false",
    "gt": "IEEE: a comparison with NaN is false", "ge": "IEEE: a comparison with NaN is false",
    "maximum": "NaN propagates (either operand NaN gives NaN)",
    "minimum": "NaN propagates (either operand NaN gives NaN)",
    "sqrt": "correctly rounded; sqrt(-x) is NaN, sqrt(-0.0) is -0.0",
    "exp": "libm accuracy; overflow gives inf, exp(-inf) is 0",
    "log": "libm accuracy; log(0) is -inf, log of a negative number is NaN",
    "sin": "libm accuracy, including large arguments (full range reduction); sin(inf) is NaN",
    "cos": "libm accuracy, including large arguments (full range reduction); cos(inf) is NaN",
    "atan2": "IEEE/C99 special cases: atan2(+-0, -0) = +-pi, atan2(+-0, +0) = +-0, infinities as C99",
    "bitwise_and": "bool and integers; bool is logical and",
    "bitwise_xor": "bool and integers; bool is logical xor",
    "bitwise_left_shift": "a shift by a count >= the width gives 0; a negative count is undefined",
    "bitwise_right_shift": "arithmetic for signed types; a count >= the width gives 0 or -1 by sign",
    "round": "half to even (2.5 -> 2.0), as torch.round",
    "sign": "sign(0) is 0, sign(NaN) is NaN; bool returns itself",
    "signbit": "true for -0.0 and negative values",
    "copysign": "the result has a's magnitude and b's sign, -0.0 counting as negative",
    "hypot": "inf wins over NaN",
    "erfinv": "erfinv(+-1) is +-inf, outside [-1, 1] NaN",
    "where": "selects elements: NaN and inf pass through untouched",
}

_UNARY_CONTRACT = (
    "Kernel: kernel(a, out) -> Tensor\n"
    "Operands: a is a tensor of the computation dtype, any strides (possibly a non-contiguous view), "
    "never a Python scalar.\n"
    "Out: None (return a new tensor) or a tensor of the result's shape and dtype to write and return; "
    "for the in-place form {name}_ it is a itself, possibly a strided view.\n"
    "Result: {result}.\n"
    "Edges: {edges}.")

_BINARY_CONTRACT = (
    "Kernel: kernel(a, b, out) -> Tensor\n"
    "Operands: a and b arrive promoted to the computation dtype and broadcast to the result's shape "
    "(possibly stride-0 or non-contiguous views); either one (never both) may be a Python scalar "
    "(bool, int or float, matching the computation dtype's kind and already wrapped into its range).\n"
    "Out: None (return a new tensor) or a tensor of the result's shape and dtype to write and return; "
    "for the in-place form {name}_ it is a itself, possibly a strided view.\n"
    "Result: {result}.\n"
    "Edges: {edges}.")


def _contract(template, name, rule):
    return template.format(name=name, result=_RESULT_DOC[rule], edges=_EDGES.get(name, "IEEE arithmetic; "
                           "NaN in gives NaN out"))


def _dtypes_for_rule(opname: str, rule: str, promoted: D.DType):
    """(computation dtype, result dtype) for a promoted input dtype, or DTypeError."""
    if rule == "same":
        return promoted, promoted
    if rule == "boolint":
        return (D.int64, D.int64) if promoted is D.bool else (promoted, promoted)
    if rule == "intfloat" or rule == "nobool":
        if promoted is D.bool:
            raise DTypeError(f"{opname}() does not support bool tensors; convert with .to(ember.int64) "
                             f"or use the logical_* operators")
        return promoted, promoted
    if rule == "float":
        ct = promoted if promoted.category >= 2 else D.get_default_dtype()
        return ct, ct
    if rule == "rounding":
        if promoted is D.bool:
            raise DTypeError(f"{opname}() does not support bool tensors")
        return promoted, promoted
    if rule == "floatonly":
        if not promoted.is_floating_point:
            raise DTypeError(f"{opname}() supports only floating dtypes, got {promoted.name}")
        return promoted, promoted
    if rule == "compare":
        return promoted, D.bool
    if rule == "logical":
        return D.bool, D.bool
    if rule == "predicate":
        return promoted, D.bool
    if rule == "integer":
        if promoted.category != 1:
            raise DTypeError(f"{opname}() supports only integer dtypes, got {promoted.name}")
        return promoted, promoted
    if rule == "bitwise":
        if promoted.is_floating_point:
            raise DTypeError(f"{opname}() supports only integer and bool dtypes, got {promoted.name}")
        return promoted, promoted
    raise AssertionError(rule)


def _scalar_as(x, dtype: D.DType):
    check_int(x)  # an int no 64-bit integer holds is refused, as PyTorch does, never wrapped
    if dtype.is_floating_point:
        return float(x)
    if dtype is D.bool:
        return bool(x)
    if dtype.is_complex:
        return complex(x)
    x = int(x)
    lo, hi = _INT_RANGE[dtype]
    if x < lo or x > hi:  # wrap as a two's-complement cast would
        x = (x - lo) % (hi - lo + 1) + lo
    return x


_INT_RANGE = {d: ((-(1 << (8 * d.itemsize - 1)), (1 << (8 * d.itemsize - 1)) - 1) if d.is_signed
                  else (0, (1 << (8 * d.itemsize)) - 1)) for d in D.integral_dtypes}
_ANY_INT = (-(1 << 63), (1 << 64) - 1)  # the ints a number argument may be (a float tensor's fast path)
_F16, _BF16 = D.float16, D.bfloat16
_HALF_MAX = {_F16: 65504.0, _BF16: 3.3895313892515355e38}


def _wide_for(dt, x) -> bool:
    """A finite Python number beyond a 16-bit float dtype's range: PyTorch computes with it in float32
    (the op-math type) instead of rounding it to the tensor's dtype first."""
    m = _HALF_MAX.get(dt)
    c = x.__class__
    return m is not None and (c is float or c is int) and (x > m or x < -m) and x - x == 0


def _operand(x, dtype, shape):
    """Cast and broadcast one operand for a kernel (a no-op in the common case)."""
    if x.__class__ is not Tensor and not isinstance(x, Tensor):
        return _scalar_as(x, dtype)
    if x._dtype is not dtype:
        x = x.to(dtype)
    if x._shape != shape:
        x = x._view(shape, broadcast_strides(x._shape, x._strides, shape))
    return x


def _check_inplace(opname, out, shape, result_dtype):
    if shape != out._shape:
        raise ShapeError(f"{opname}(): the result of shape {shape} cannot be written in place into "
                         f"a tensor of shape {out._shape}")
    if not _can_cast(result_dtype, out._dtype):
        raise DTypeError(f"{opname}(): result type {result_dtype.name} can't be cast to the desired "
                         f"output type {out._dtype.name}")


def _can_cast(src: D.DType, dst: D.DType) -> bool:
    """PyTorch's in-place rule: no float -> integer, no number -> bool."""
    return src.category <= dst.category


# -- binary -------------------------------------------------------------------

def _pow_meta(meta):
    """pow's meta: an integer power with a negative Python-scalar exponent is refused before the scalar
    is converted to the operand's dtype (uint8's -1 would become 255), as PyTorch refuses it."""
    def checked(a, b, *rest):
        spec = meta(a, b, *rest)
        if not spec.dtype.is_floating_point and b.__class__ is int and b < 0:
            raise InvalidArgumentError(f"pow(): Integers to negative integer powers are not allowed (exponent {b}); "
                             f"use a floating base, e.g. x.double() ** {b}")
        if b.__class__ is int and spec.dtype.category == 1:
            check_scalar(b, spec.dtype, "pow")  # PyTorch converts the exponent to the integer type, checked
        elif (b.__class__ is float or b.__class__ is int) and spec.dtype in _HALF_MAX:
            check_scalar(b, spec.dtype, "pow")  # and a float exponent to a 16-bit float type, checked too
        return spec
    return checked


def binary_meta(opname: str, rule: str):
    def meta(a, b, *_):
        if rule == "nobool" and any(x.__class__ is bool or getattr(x, "_dtype", None) is D.bool for x in (a, b)):
            raise DTypeError(f"{opname}() with a bool operand is not supported; use logical_xor() "
                             f"(or the ^ operator) for bool tensors")
        ct, ot = _dtypes_for_rule(opname, rule, D.result_type(a, b))
        sa = a._shape if isinstance(a, Tensor) else ()
        sb = b._shape if isinstance(b, Tensor) else ()
        return Spec(broadcast_shapes(sa, sb), ot, ct)
    return meta


def _binary_adapter(rule: str, inplace: bool = False):
    def adapter(op, kernel, backend):
        meta = op.meta
        opname = op.name
        guard = _INTEGER_SEMANTICS.get(opname.rstrip("_"))
        if guard is not None:
            kernel = guard(opname, kernel)
        same: dict = {}  # dtype -> (compute, result), filled on first use per dtype

        def slow(a, b, alpha=1):
            if b.__class__ is int:
                check_int(b, opname)
            if alpha != 1:
                b = mul(b, alpha) if isinstance(b, Tensor) else b * alpha
            spec = meta(a, b)
            ct, shape = spec.extra, spec.shape
            wide = _wide_for(ct, b) or _wide_for(ct, a)
            if wide:
                ct = D.float32
            if inplace:
                _check_inplace(opname, a, shape, spec.dtype)
                out = a
                if ct is not a._dtype:
                    return a.copy_(kernel(_operand(a, ct, shape), _operand(b, ct, shape), None))
            else:
                out = None
            r = kernel(_operand(a, ct, shape), _operand(b, ct, shape), out)
            return r.to(spec.dtype) if wide and r._dtype is not spec.dtype else r

        scalar: dict = {}  # (dtype, scalar type) -> (compute, result)

        def entry(a, b, alpha=1):
            # Fast paths: tensor op tensor of one dtype and shape, and tensor op
            # Python scalar where the scalar does not change the dtype.
            if alpha == 1 and a.__class__ is Tensor:
                bc = b.__class__
                dt = a._dtype
                if bc is Tensor:
                    if dt is b._dtype and a._shape == b._shape:
                        r = same.get(dt)
                        if r is None:
                            r = same[dt] = _dtypes_for_rule(opname, rule, dt)
                        if r[0] is dt and (not inplace or r[1] is dt):
                            return kernel(a, b, a if inplace else None)
                elif (bc is float or bc is int) and dt is not D.bool:  # bool: the slow path casts b
                    r = scalar.get((dt, bc))
                    if r is None:
                        r = scalar[(dt, bc)] = _dtypes_for_rule(opname, rule, D.result_type(dt, bc(1)))
                    if r[0] is dt and (not inplace or r[1] is dt):
                        if bc is float:
                            if (dt is not _F16 and dt is not _BF16) or not _wide_for(dt, b):
                                return kernel(a, b, a if inplace else None)
                        else:
                            lim = _INT_RANGE.get(dt, _ANY_INT)
                            if lim[0] <= b <= lim[1] and (
                                    (dt is not _F16 and dt is not _BF16) or not _wide_for(dt, b)):
                                return kernel(a, b, a if inplace else None)
            return slow(a, b, alpha)

        def direct(a, b):
            """The result dtype when ``entry(a, b)`` is ``kernel(a, b, None)`` itself (``kernel(a, b, a)`` in
            place) with one dtype, one shape, no cast and no scalar wider than the dtype; else None. The native
            fast path plans by it (dispatch/fast.py)."""
            if not isinstance(a, Tensor):
                return None
            dt = a._dtype
            if isinstance(b, Tensor):   # shapes that broadcast: the kernel's operands are broadcast views
                if dt is not b._dtype or (inplace and a._shape != b._shape):
                    return None
                r = _dtypes_for_rule(opname, rule, dt)
            elif (b.__class__ is float or b.__class__ is int) and dt is not D.bool and dt is not _F16 \
                    and dt is not _BF16 and (b.__class__ is float or dt not in _INT_RANGE):
                r = _dtypes_for_rule(opname, rule, D.result_type(dt, b.__class__(1)))
            else:
                return None
            return r[1] if r[0] is dt and (not inplace or r[1] is dt) else None
        entry.direct = direct
        return entry
    return adapter


# -- integer semantics kept in core, the same on every backend ----------------------------

def _nonzero_divisor(opname, kernel):
    """Integer division, remainder and fmod raise ZeroDivisionError for a zero divisor, as PyTorch on CPU
    does, before any kernel runs (a kernel never divides an integer by zero)."""
    def checked(a, b, out):
        if not (a if a.__class__ is Tensor or isinstance(a, Tensor) else b)._dtype.is_floating_point:
            zero = read_for_check(eq(b, 0).any()) if isinstance(b, Tensor) else b == 0
            if zero:
                raise DivisionByZeroError(
                    f"{opname}(): integer division by zero (the divisor "
                    f"{'tensor has a zero element' if isinstance(b, Tensor) else 'is 0'}); divide floating "
                    f"tensors for IEEE inf/NaN, or replace the zeros first (e.g. ember.where(b == 0, 1, b))")
        return kernel(a, b, out)
    return checked


def _integer_pow(opname, kernel):
    """Integer pow with a negative exponent, as PyTorch: a negative Python scalar raises ValueError; a
    negative tensor element gives 1 for base 1, +-1 by parity for base -1 and 0 for any other base. The
    kernel only ever sees non-negative integer exponents."""
    def checked(a, b, out):
        t = a if isinstance(a, Tensor) else b
        if t._dtype.is_floating_point or not t._dtype.is_signed:
            return kernel(a, b, out)
        if not isinstance(b, Tensor):
            if b < 0:
                raise InvalidArgumentError(f"{opname}(): Integers to negative integer powers are not allowed "
                                 f"(exponent {b}); use a floating base, e.g. x.double() ** {b}")
            return kernel(a, b, out)
        negative = lt(b, 0)
        r = kernel(a, where(negative, 0, b), None)
        minus_one = where(eq(bitwise_and(b, 1), 1), -1, 1)
        if isinstance(a, Tensor):
            special = where(eq(a, 1), 1, where(eq(a, -1), minus_one, 0))
        else:
            special = 1 if a == 1 else minus_one if a == -1 else 0
        r = where(negative, special, r).to(t._dtype)
        return r if out is None else out.copy_(r)
    return checked


_INTEGER_SEMANTICS = {"floor_divide": _nonzero_divisor, "trunc_divide": _nonzero_divisor,
                      "remainder": _nonzero_divisor, "fmod": _nonzero_divisor, "pow": _integer_pow}


def _define_binary(name: str, rule: str, extra_sig: str = ""):
    sig = f"{name}(Tensor self, Tensor other{extra_sig}) -> Tensor"
    meta = binary_meta(name, rule)
    if name == "pow":
        meta = _pow_meta(meta)
    doc = _contract(_BINARY_CONTRACT, name, rule)
    f = defop(sig, meta=meta, prim=True, family="binary", adapter=_binary_adapter(rule), doc=doc)
    fi = None
    if rule not in ("compare", "logical"):
        fi = defop(f"{name}_(Tensor self, Tensor other{extra_sig}) -> Tensor", meta=meta, prim=True,
                   family="binary_inplace", adapter=_binary_adapter(rule, inplace=True),
                   decomposition=None, doc=doc)
    return f, fi


# -- unary --------------------------------------------------------------------

def unary_meta(opname: str, rule: str):
    def meta(a, *_):
        ct, ot = _dtypes_for_rule(opname, rule, a._dtype)
        return Spec(a._shape, ot, ct)
    return meta


def _unary_adapter(rule: str, inplace: bool = False):
    def adapter(op, kernel, backend):
        opname = op.name
        cache: dict = {}

        def entry(a):
            dt = a._dtype
            r = cache.get(dt)
            if r is None:
                r = cache[dt] = _dtypes_for_rule(opname, rule, dt)
            ct, ot = r
            if inplace:
                _check_inplace(opname, a, a._shape, ot)
                if rule == "rounding" and not dt.is_floating_point:
                    return a  # integers are already whole: nothing to write, no kernel
                if ct is dt and ot is dt:
                    return kernel(a, a)
                return a.copy_(kernel(a.to(ct) if ct is not dt else a, None))
            if rule == "rounding" and not dt.is_floating_point:
                return a.clone()  # integers are already whole
            return kernel(a if ct is dt else a.to(ct), None)

        def direct(a):
            """The result dtype when ``entry(a)`` is ``kernel(a, None)`` itself, else None (dispatch/fast.py)."""
            dt = a._dtype
            ct, ot = _dtypes_for_rule(opname, rule, dt)
            if inplace or ct is not dt or (rule == "rounding" and not dt.is_floating_point):
                return None
            return ot
        entry.direct = direct
        return entry
    return adapter


def _define_unary(name: str, rule: str):
    meta = unary_meta(name, rule)
    doc = _contract(_UNARY_CONTRACT, name, rule)
    f = defop(f"{name}(Tensor self) -> Tensor", meta=meta, prim=True, family="unary",
              adapter=_unary_adapter(rule), doc=doc)
    fi = None
    if rule not in ("predicate",):
        fi = defop(f"{name}_(Tensor self) -> Tensor", meta=meta, prim=True, family="unary_inplace",
                   adapter=_unary_adapter(rule, inplace=True), doc=doc)
    return f, fi


_namespace = globals()
for _n, _r in UNARY.items():
    _namespace[_n], _fi = _define_unary(_n, _r)
    if _fi is not None:
        _namespace[_n + "_"] = _fi
for _n, _r in BINARY.items():
    _namespace[_n], _fi = _define_binary(_n, _r)
    if _fi is not None:
        _namespace[_n + "_"] = _fi


# -- where and the composites ---------------------------------------------------

def _where_meta(cond, a, b):
    if isinstance(cond, Tensor) and cond._dtype is not D.bool:
        raise DTypeError(f"where(): condition must be a bool tensor, got dtype {cond._dtype.name}")
    dt = D.result_type(a, b)
    for x in (a, b):  # a number must fit the result dtype, as PyTorch checks (an int8 result takes no 1000)
        if not isinstance(x, Tensor):
            check_scalar(x, dt, "where")
    shapes = [x._shape for x in (cond, a, b) if isinstance(x, Tensor)]
    return Spec(broadcast_shapes(*shapes), dt, dt)


def _where_adapter(op, kernel, backend):
    def entry(cond, a, b):
        spec = _where_meta(cond, a, b)
        shape, ct = spec.shape, spec.dtype
        if not isinstance(a, Tensor) and not isinstance(b, Tensor):
            from .creation import full  # the kernel needs one operand to carry the dtype
            a = full((), a, dtype=ct, device=cond._device)
        return kernel(_operand(cond, D.bool, shape), _operand(a, ct, shape), _operand(b, ct, shape), None)
    return entry


where = defop("where(Tensor condition, Tensor self, Tensor other) -> Tensor", meta=_where_meta,
              prim=True, family="ternary", adapter=_where_adapter,
              doc="Elements of self where condition holds, else of other.\n"
                  "Kernel: kernel(cond, a, b, out) -> Tensor\n"
                  "Operands: cond is a bool tensor; a and b arrive promoted to the result dtype; all three are "
                  "broadcast to the result's shape (possibly stride-0 views); a or b (not cond, and never both) "
                  "may be a Python scalar of the result dtype's kind.\n"
                  "Out: None (return a new tensor) or a tensor of the result's shape and dtype to write.\n"
                  "Result: the promoted dtype of a and b.\n"
                  "Edges: " + _EDGES["where"] + ".")


def _clamp_meta(x, min=None, max=None):
    if min is None and max is None:
        raise InvalidArgumentError("clamp(): at least one of min and max must be given")
    dt = D.result_type(*[t for t in (x, min, max) if t is not None])
    for bound in (min, max):  # a number bound must fit the result dtype, as PyTorch checks
        if bound is not None and not isinstance(bound, Tensor):
            check_scalar(bound, dt, "clamp")
    return Spec(broadcast_shapes(*[t._shape for t in (x, min, max) if isinstance(t, Tensor)]), dt)


def _clamp(x, min=None, max=None):
    dt = _clamp_meta(x, min, max).dtype
    out = x if x._dtype is dt else x.to(dt)
    if min is not None:
        out = maximum(out, min)
    if max is not None:
        out = minimum(out, max)
    return out


clamp = defop("clamp(Tensor self, Tensor? min=None, Tensor? max=None) -> Tensor", meta=_clamp_meta,
              decomposition=_clamp, family="ternary")


def _clamp__meta(x, min=None, max=None):
    """clamp_ writes into self, so PyTorch's in-place rule applies: an int8 self with a float bound is refused."""
    spec = _clamp_meta(x, min, max)
    _check_inplace("clamp_", x, spec.shape, spec.dtype)
    return Spec(x._shape, x._dtype)


def _clamp_(x, min=None, max=None):
    _clamp__meta(x, min, max)
    return x.copy_(_clamp(x, min, max))


clamp_ = defop("clamp_(Tensor self, Tensor? min=None, Tensor? max=None) -> Tensor", meta=_clamp__meta,
               decomposition=_clamp_, family="ternary")


def _lerp_meta(start, end, weight):
    return Spec(broadcast_shapes(*[t._shape for t in (start, end, weight) if isinstance(t, Tensor)]),
                D.result_type(start, end))


def _lerp(start, end, weight):
    _float_only("lerp", start, end)
    return add(start, mul(weight, sub(end, start)))


lerp = defop("lerp(Tensor self, Tensor end, Tensor weight) -> Tensor", meta=_lerp_meta,
             decomposition=_lerp, family="ternary")


def _float_only(opname, *ts):
    for t in ts:
        if isinstance(t, Tensor) and not t._dtype.is_floating_point:
            raise DTypeError(f"{opname}() supports only floating dtypes, got {t._dtype.name}")


def _addc_meta_of(opname):
    def meta(x, t1, t2, value=1):
        dtype = D.result_type(x, t1, t2)
        if dtype is D.bool:
            raise DTypeError(f"{opname}() does not support bool tensors (as PyTorch); "
                             "convert them first, e.g. t.to(ember.int64)")
        # PyTorch's checked conversion of value to the type it computes in (float32 for 16-bit floats)
        check_scalar(value, D.float32 if dtype in (D.float16, D.bfloat16) else dtype, opname)
        return Spec(broadcast_shapes(x._shape, t1._shape, t2._shape), dtype)
    return meta


_addcmul_meta, _addcdiv_meta = _addc_meta_of("addcmul"), _addc_meta_of("addcdiv")


def _addcmul(x, t1, t2, value=1):
    dt = _addcmul_meta(x, t1, t2, value).dtype
    if not dt.is_floating_point and isinstance(value, float):
        value = int(value)  # an integer result truncates value, as PyTorch
    return add(x, mul(mul(t1, t2), value))


def _addcdiv(x, t1, t2, value=1):
    _addcdiv_meta(x, t1, t2, value)
    if not D.result_type(t1, t2).is_floating_point:
        raise DTypeError("addcdiv(): integer division with addcdiv is not supported; use floating tensors")
    return add(x, mul(true_divide(t1, t2), value))


addcmul = defop("addcmul(Tensor self, Tensor tensor1, Tensor tensor2, *, Scalar value=1) -> Tensor",
                meta=_addcmul_meta, decomposition=_addcmul, family="ternary")
addcdiv = defop("addcdiv(Tensor self, Tensor tensor1, Tensor tensor2, *, Scalar value=1) -> Tensor",
                meta=_addcdiv_meta, decomposition=_addcdiv, family="ternary")


def _div_meta(a, b, rounding_mode=None):
    rule = {None: "float", "trunc": "intfloat", "floor": "intfloat"}.get(rounding_mode)
    if rule is None:
        raise InvalidArgumentError(f"div(): rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r}")
    spec = binary_meta("div", rule)(a, b)
    if rounding_mode is not None and spec.dtype.is_complex:
        raise DTypeError(f"div(): rounding_mode={rounding_mode!r} does not support {spec.dtype.name}; complex "
                         f"numbers have no order to round in")
    return spec


def _div(a, b, rounding_mode=None):
    _div_meta(a, b, rounding_mode)
    if rounding_mode is None:
        return true_divide(a, b)
    return floor_divide(a, b) if rounding_mode == "floor" else trunc_divide(a, b)


div = defop("div(Tensor self, Tensor other, *, str? rounding_mode=None) -> Tensor", meta=_div_meta,
            decomposition=_div, family="binary")


# -- add and sub with alpha: other * alpha, checked as PyTorch checks it -------------------------

from ..dispatch import overlap as _overlap  # noqa: E402


class AlphaError(DTypeError, RuntimeError):
    """An alpha that the result's dtype cannot take (a RuntimeError too, as in PyTorch)."""


def _scaled_other(opname, a, b, alpha):
    dt = D.result_type(a, b)
    if alpha.__class__ is bool and dt is not D.bool:
        raise AlphaError(f"{opname}(): Boolean alpha only supported for Boolean results, got alpha={alpha} "
                         f"for a {dt.name} result")
    if isinstance(alpha, float) and not dt.is_floating_point:
        raise AlphaError(f"{opname}(): for integral input tensors, argument alpha must not be a floating point "
                         f"number, got alpha={alpha} for {dt.name}; pass an integer or use floating tensors")
    return mul(b, alpha) if isinstance(b, Tensor) else b * alpha


def _with_alpha(opname, fn):
    inplace = opname.endswith("_")

    def call(input, other, *, alpha=1):
        if alpha.__class__ is int and alpha == 1:
            return fn(input, other)
        if inplace and isinstance(other, Tensor) and other._storage is input._storage:
            _overlap.check_partial(input, other)   # other * alpha is a new tensor: decide on other itself
        return fn(input, _scaled_other(opname, input, other, alpha))
    call.__name__ = call.__qualname__ = opname
    call.__wrapped__ = fn
    _alpha_doc(call)
    return call


def _alpha_doc(call):
    sign = "+" if "add" in call.__name__ else "-"
    call.__doc__ = (f"{call.__name__}(input, other, *, alpha=1): input {sign} alpha * other, as PyTorch.\n\n"
                    f"{call.__wrapped__.__doc__}")


def refresh_docs():
    """Rewrite the alpha wrappers' docs from their operators' (called once every contract is final)."""
    for call in METHODS.values():
        _alpha_doc(call)


FUNCTIONS = {"add": _with_alpha("add", add), "sub": _with_alpha("sub", sub),
             "subtract": _with_alpha("subtract", sub)}
METHODS = dict(FUNCTIONS, add_=_with_alpha("add_", add_), sub_=_with_alpha("sub_", sub_),
               subtract_=_with_alpha("subtract_", sub_))
