"""Kernel descriptions: a name, typed parameters, a body in neutral C, the helpers it needs.

A description is data; ``render.render(desc, dialect)`` turns it into source.
Bodies are ``string.Template`` texts ($name placeholders; C's braces stay as
they are) written with the prelude's names and the KERNEL/GLOBAL/LOCAL words.
"""

from __future__ import annotations

from dataclasses import dataclass
from string import Template


@dataclass(frozen=True)
class Kernel:
    name: str
    params: tuple          # ((signature char, declaration), ...)
    body: str
    helpers: tuple = ()    # neutral C sources emitted before the kernel, in order, once each
    fp64: bool = False

    @property
    def signature(self) -> str:
        return "".join(c for c, _ in self.params)


class Params:
    """Builds a parameter list; buffer(...) adds the pointer and its byte offset and a typed view line."""

    def __init__(self):
        self.params: list = []
        self.setup: list = []

    def buffer(self, name: str, store: str, const: bool = False):
        self.params.append(("p", f"GLOBAL char* {name}_p"))
        self.params.append(("q", f"i64 {name}_off"))
        c = "const " if const else ""
        self.setup.append(f"GLOBAL {c}{store}* {name} = (GLOBAL {c}{store}*)({name}_p + {name}_off);")
        return self

    def scalar(self, sig: str, decl: str):
        self.params.append((sig, decl))
        return self

    def longs(self, *names):
        for n in names:
            self.params.append(("q", f"i64 {n}"))
        return self


def make(name: str, params: Params, body: str, helpers=(), fp64=False, **subs) -> Kernel:
    text = Template(body).substitute(**subs) if subs else body
    setup = "\n".join("    " + s for s in params.setup)
    return Kernel(name, tuple(params.params), setup + "\n" + text, tuple(dict.fromkeys(helpers)), fp64)


def indent(lines, n=4):
    pad = " " * n
    return "\n".join(pad + ln if ln else ln for ln in "\n".join(lines).split("\n"))


def unravel(index: str, ndim: int, size: str, operands, rest: str = "r") -> list:
    """C lines turning a linear row-major ``index`` over sizes {size}0..{size}{ndim-1} into
    offsets o_<op> = sum(coord_d * <op>_st<d>) for each operand name."""
    lines = [f"i64 {rest} = {index};"] + [f"i64 o_{o} = 0;" for o in operands]
    for d in range(ndim - 1, -1, -1):
        if d:
            lines.append(f"{{ i64 c = {rest} % {size}{d}; {rest} /= {size}{d};"
                         + "".join(f" o_{o} += c * {o}_st{d};" for o in operands) + " }")
        else:
            lines.append("{ i64 c = " + rest + ";" + "".join(f" o_{o} += c * {o}_st0;" for o in operands) + " }")
    return lines
