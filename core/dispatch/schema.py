"""Operator signatures, written once as text: ``add(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor``."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from ..errors import InvalidArgumentError

__all__ = ["Argument", "Schema", "parse_schema"]

_TYPES = {"Tensor", "Scalar", "int", "float", "bool", "str", "ScalarType", "Device", "Any"}
_ARG_RE = re.compile(r"^(?P<type>[A-Za-z]+)(?P<list>\[\d*\])?(?P<opt>\?)?\s+(?P<name>\w+)(?:\s*=\s*(?P<default>.+))?$")


@dataclass(frozen=True)
class Argument:
    name: str
    type: str          # base type, e.g. "Tensor"
    is_list: bool
    optional: bool
    kwarg_only: bool
    has_default: bool
    default: object = None

    @property
    def is_tensor(self) -> bool:
        return self.type == "Tensor"

    def __str__(self):
        t = self.type + ("[]" if self.is_list else "") + ("?" if self.optional else "")
        d = f"={self.default!r}" if self.has_default else ""
        return f"{t} {self.name}{d}"


@dataclass(frozen=True)
class Schema:
    name: str
    arguments: tuple[Argument, ...]
    returns: str

    def __str__(self):
        parts, star = [], False
        for a in self.arguments:
            if a.kwarg_only and not star:
                parts.append("*")
                star = True
            parts.append(str(a))
        return f"{self.name}({', '.join(parts)}) -> {self.returns}"

    @property
    def tensor_arguments(self) -> tuple[Argument, ...]:
        return tuple(a for a in self.arguments if a.is_tensor)

    @property
    def num_returns(self) -> int:
        r = self.returns.strip()
        if r.startswith("("):
            return len(r[1:-1].split(","))
        return 1


def _split_args(text: str) -> list[str]:
    out, depth, cur = [], 0, []
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        out.append("".join(cur).strip())
    return out


def _default(text: str):
    value = ast.literal_eval(text)
    return tuple(value) if isinstance(value, list) else value


def parse_schema(text: str) -> Schema:
    """Parse a signature; ValueError names the part it could not read."""
    m = re.match(r"^\s*(\w+)\((.*)\)\s*->\s*(.+?)\s*$", text)
    if not m:
        raise InvalidArgumentError(f"cannot parse operator schema {text!r}: expected 'name(args) -> returns'")
    name, argtext, returns = m.groups()
    args, kwonly = [], False
    for part in _split_args(argtext):
        if part == "*":
            kwonly = True
            continue
        am = _ARG_RE.match(part)
        if not am or am["type"] not in _TYPES:
            raise InvalidArgumentError(f"cannot parse argument {part!r} of schema {text!r}")
        has_default = am["default"] is not None
        args.append(Argument(am["name"], am["type"], bool(am["list"]), bool(am["opt"]), kwonly,
                             has_default, _default(am["default"]) if has_default else None))
    return Schema(name, tuple(args), returns)
