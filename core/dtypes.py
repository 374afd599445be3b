"""Ember's dtypes and PyTorch's type-promotion rules, kept as data.

numpy has no bfloat16; ml_dtypes provides it. Its extension takes most of
``import ember``'s time, so bfloat16's numpy dtype (``ember.bfloat16.np``) is
made on first use, and a program that never touches bfloat16 never loads it.
"""

from __future__ import annotations

import numpy as np
from .errors import ArgumentTypeError, AttributeNotFoundError

__all__ = [
    "DType", "bool", "uint8", "int8", "int16", "int32", "int64", "float16",
    "bfloat16", "float32", "float64", "complex64", "complex128", "all_dtypes", "complex_dtypes",
    "promote_types",
    "result_type", "get_default_dtype", "set_default_dtype", "from_numpy_dtype",
]

_builtin_bool = bool


class DType:
    """A tensor element type. Instances are singletons compared by identity."""

    __slots__ = ("name", "itemsize", "kind", "np", "is_floating_point", "is_signed", "is_complex",
                 "category", "key_bit", "_index", "__weakref__")

    def __init__(self, name: str, npdtype, kind: str, index: int, itemsize: int = 0):
        self.name = name
        if npdtype is not None:
            self.np = np.dtype(npdtype)
        self.itemsize = self.np.itemsize if npdtype is not None else itemsize
        self.kind = kind  # "b" bool, "u" unsigned, "i" signed int, "f" floating, "c" complex
        self.is_floating_point = kind == "f"
        self.is_complex = kind == "c"
        self.is_signed = kind in "ifc"
        self.category = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}[kind]
        self.key_bit = 0  # complex dtypes: the Complex dispatch key's bit, set below
        self._index = index

    def __repr__(self) -> str:
        return f"ember.{self.name}"

    def __reduce__(self):
        return self.name

    def __getattr__(self, attr):
        # Reached only while a slot is unset: bfloat16's numpy dtype before its first use.
        if attr == "np":
            self.np = np.dtype(_extension_type(self.name))
            _by_np[self.np] = self
            return self.np
        raise AttributeNotFoundError(f"'DType' object has no attribute {attr!r}")


def _extension_type(name: str):
    import ml_dtypes
    return getattr(ml_dtypes, name)


bool = DType("bool", np.bool_, "b", 0)
uint8 = DType("uint8", np.uint8, "u", 1)
int8 = DType("int8", np.int8, "i", 2)
int16 = DType("int16", np.int16, "i", 3)
int32 = DType("int32", np.int32, "i", 4)
int64 = DType("int64", np.int64, "i", 5)
float16 = DType("float16", np.float16, "f", 6)
bfloat16 = DType("bfloat16", None, "f", 7, itemsize=2)  # numpy dtype: from ml_dtypes, on first use
float32 = DType("float32", np.float32, "f", 8)
float64 = DType("float64", np.float64, "f", 9)

# Complex dtypes are kept apart from ``all_dtypes``: operators take them only where they declare it
# (the "complex" tag, see ops/complex.py), and a backend only where its capabilities list them.
complex64 = DType("complex64", np.complex64, "c", 10)
complex128 = DType("complex128", np.complex128, "c", 11)

all_dtypes = (bool, uint8, int8, int16, int32, int64, float16, bfloat16, float32, float64)
complex_dtypes = (complex64, complex128)
floating_dtypes = (float16, bfloat16, float32, float64)
integral_dtypes = (uint8, int8, int16, int32, int64)

# PyTorch aliases
half, float, double = float16, float32, float64
short, int, long = int16, int32, int64
cfloat, cdouble = complex64, complex128

_by_name = {d.name: d for d in all_dtypes + complex_dtypes}
_by_name.update(half=float16, float=float32, double=float64, short=int16, int=int32, long=int64,
                cfloat=complex64, cdouble=complex128)
_by_np = {d.np: d for d in all_dtypes + complex_dtypes if d is not bfloat16}

#: complex dtype -> the real dtype of its parts, and floating dtype -> the complex dtype holding it
#: (there is no complex32: float16 and bfloat16 pair with complex64).
_TO_REAL = {complex64: float32, complex128: float64}
_TO_COMPLEX = {float16: complex64, bfloat16: complex64, float32: complex64, float64: complex128,
               complex64: complex64, complex128: complex128}


def to_real(d: DType) -> DType:
    """The dtype of a complex dtype's real and imaginary parts (a real dtype is returned as is)."""
    return _TO_REAL.get(d, d)


def to_complex(d: DType) -> DType:
    """The complex dtype whose parts are the floating dtype ``d`` (integers and bool: complex64)."""
    return _TO_COMPLEX.get(d, complex64)


def from_numpy_dtype(npdtype) -> DType:
    """The Ember dtype of a numpy dtype; TypeError naming it when there is none."""
    npdtype = np.dtype(npdtype)
    d = _by_np.get(npdtype)
    if d is None and npdtype.name == "bfloat16" and bfloat16.np == npdtype:
        d = bfloat16
    if d is None:
        raise ArgumentTypeError(
            f"numpy dtype {np.dtype(npdtype)} has no Ember equivalent; "
            f"supported: {', '.join(str(x.np) for x in all_dtypes + complex_dtypes)}")
    return d


def dtype_from_name(name: str) -> DType:
    try:
        return _by_name[name]
    except KeyError:
        raise ArgumentTypeError(f"unknown dtype name {name!r}; known: {', '.join(_by_name)}") from None


# The promotion lattice, written as the pairs whose join is not simply the
# higher-ranked of the two (the rank order is the order of ``all_dtypes``).
_SPECIAL_JOINS = {
    (uint8, int8): int16,
    (float16, bfloat16): float32,
    (float64, complex64): complex128,
}


def _build_table():
    every = all_dtypes + complex_dtypes
    n = len(every)
    table = [[None] * n for _ in range(n)]
    for a in every:
        for b in every:
            lo, hi = (a, b) if a._index <= b._index else (b, a)
            table[a._index][b._index] = _SPECIAL_JOINS.get((lo, hi), hi)
    return table


_PROMOTE = _build_table()


def promote_types(a: DType, b: DType) -> DType:
    """The smallest dtype both ``a`` and ``b`` convert to without losing their category."""
    return _PROMOTE[a._index][b._index]


_default_float = float32


def get_default_dtype() -> DType:
    return _default_float


def set_default_dtype(d: DType) -> None:
    global _default_float
    if not isinstance(d, DType) or not d.is_floating_point:
        raise ArgumentTypeError(f"set_default_dtype expects a floating dtype, got {d!r}")
    _default_float = d


def scalar_dtype(x) -> DType:
    """The dtype a Python scalar gets when it becomes a tensor on its own."""
    if isinstance(x, _builtin_bool) or isinstance(x, np.bool_):
        return bool
    if isinstance(x, (builtins_int, np.integer)):
        return int64
    if isinstance(x, (builtins_float, np.floating)):
        return _default_float
    if isinstance(x, (builtins_complex, np.complexfloating)):
        return _TO_COMPLEX[_default_float]  # PyTorch's default complex dtype follows the default float
    raise ArgumentTypeError(f"expected a Python number, got {type(x).__name__}: {x!r}")


import builtins as _builtins  # noqa: E402

builtins_int = _builtins.int
builtins_float = _builtins.float
builtins_complex = _builtins.complex


def _join(acc, d):
    return d if acc is None else promote_types(acc, d)


def result_type(*operands) -> DType:
    """PyTorch's result type: dimensioned tensors outrank 0-d tensors, which
    outrank Python scalars, except where a lower rank brings a higher category
    (bool < integer < floating)."""
    dim = zero = wrapped = None
    for x in operands:
        dt = getattr(x, "_dtype", None)
        if dt is not None:
            if x._shape:
                dim = _join(dim, dt)
            else:
                zero = _join(zero, dt)
        elif isinstance(x, DType):
            dim = _join(dim, x)
        else:
            wrapped = _join(wrapped, scalar_dtype(x))
    low = _category_combine(zero, wrapped)
    out = _category_combine(dim, low)
    if out is None:
        raise ArgumentTypeError("result_type needs at least one tensor, dtype or scalar")
    return out


def _category_combine(higher, lower):
    # Same category: the higher-priority operand decides. A higher category in
    # the lower-priority operand wins (int tensor + float scalar -> default float);
    # a complex one keeps a floating operand's width (float64 tensor + 1j -> complex128).
    if higher is None:
        return lower
    if lower is None or lower.category <= higher.category:
        return higher
    if lower.is_complex and higher.is_floating_point:
        return _TO_COMPLEX[higher]
    return lower
