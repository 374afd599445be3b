"""Render a kernel description as CUDA C, HIP C or OpenCL C source."""

from __future__ import annotations

from .desc import Kernel
from .dialects import PRELUDE_END, prelude, qualify
from .ops import HELPERS


def helpers_source(desc: Kernel) -> str:
    return "".join(desc.helpers)


def body_source(desc: Kernel, dialect: str) -> str:
    """Everything after the prelude: helpers and the kernel, with the dialect's qualifiers."""
    params = ",\n    ".join(decl for _, decl in desc.params)
    text = (helpers_source(desc) + f"KERNEL {desc.name}(\n    {params})\n{{\n{desc.body}\n}}\n")
    return qualify(text, dialect)


def render(desc: Kernel, dialect: str) -> str:
    """The complete source of ``desc`` in ``dialect`` ("cuda", "hip" or "opencl")."""
    return prelude(dialect, fp64=desc.fp64) + PRELUDE_END + body_source(desc, dialect)


def helper(name: str, comp: str) -> str:
    """A helper template (ops.HELPERS) instantiated for computation type ``comp`` (neutral C)."""
    return HELPERS[name].substitute(T=comp, S=comp)
