"""Ember dtypes as C types: how each is stored, computed in, loaded, stored and cast.

float16 and bfloat16 are stored as 16-bit words and computed in float32 (each
result rounded once when stored, as PyTorch's GPU kernels do); bool is stored
as a byte 0/1 and computed as C's bool.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CType:
    name: str      # ember dtype name
    store: str     # C storage type
    comp: str      # C computation type
    kind: str      # "b" bool, "u" unsigned, "i" signed, "f" floating
    bits: int
    sig: str       # signature char of a scalar of this dtype passed to a kernel

    @property
    def vec4(self) -> str:
        return self.store + "x4"

    @property
    def is_float(self) -> bool:
        return self.kind == "f"

    @property
    def fp64(self) -> bool:
        return self.name == "float64"

    def load(self, e: str) -> str:
        if self.name == "float16":
            return f"ek_h2f({e})"
        if self.name == "bfloat16":
            return f"ek_bf2f({e})"
        if self.kind == "b":
            return f"(({e}) != 0)"
        return e

    def store_(self, e: str) -> str:
        if self.name == "float16":
            return f"ek_f2h({e})"
        if self.name == "bfloat16":
            return f"ek_f2bf({e})"
        if self.kind == "b":
            return f"(u8)({e})"
        return e

    @property
    def lowest(self) -> str:
        """The identity of max: -inf, or the type's minimum."""
        if self.kind == "f":
            return "(-EK_INF)"
        if self.kind == "b":
            return "false"
        if self.kind == "u":
            return "0"
        return f"(({self.comp})(((u64)1) << {self.bits - 1}))"

    @property
    def highest(self) -> str:
        if self.kind == "f":
            return "EK_INF"
        if self.kind == "b":
            return "true"
        if self.kind == "u":
            return f"(({self.comp})(~({self.comp})0))"
        return f"(({self.comp})((((u64)1) << {self.bits - 1}) - 1))"


CTYPES = {
    "bool": CType("bool", "u8", "bool", "b", 8, "q"),
    "uint8": CType("uint8", "u8", "u8", "u", 8, "q"),
    "int8": CType("int8", "i8", "i8", "i", 8, "q"),
    "int16": CType("int16", "i16", "i16", "i", 16, "q"),
    "int32": CType("int32", "i32", "i32", "i", 32, "q"),
    "int64": CType("int64", "i64", "i64", "i", 64, "q"),
    "float16": CType("float16", "u16", "f32", "f", 16, "f"),
    "bfloat16": CType("bfloat16", "u16", "f32", "f", 16, "f"),
    "float32": CType("float32", "f32", "f32", "f", 32, "f"),
    "float64": CType("float64", "f64", "f64", "f", 64, "d"),
}

ALL = tuple(CTYPES)


def ct(dtype) -> CType:
    """The CType of an ember dtype (or dtype name)."""
    return CTYPES[dtype if isinstance(dtype, str) else dtype.name]


def cast(e: str, src: CType, dst: CType) -> str:
    """Convert a computation value of src to one of dst, as a cast (numpy's astype) would."""
    if src.name == dst.name:
        return e
    if dst.kind == "b":
        return f"(({e}) != 0)"
    if src.kind == "f" and dst.kind in "iu" and dst.bits < 64:
        e = f"(i64)({e})"  # float -> small integer wraps through int64, as numpy's cast does
    if dst.name in ("float16", "bfloat16"):
        # round to the 16-bit format once, and keep computing in float32
        return f"{dst.load(dst.store_(f'(f32)({e})'))}"
    return f"({dst.comp})({e})"

