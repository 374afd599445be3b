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


def render_many(descs, dialect: str) -> str:
    """One source holding several kernels (one prelude; each helper once; names must differ)."""
    descs = list(descs)
    seen: dict = {}
    for d in descs:
        for h in d.helpers:
            seen.setdefault(h, None)
    helpers = qualify("".join(seen), dialect)
    kernels = []
    for d in descs:
        params = ",\n    ".join(decl for _, decl in d.params)
        kernels.append(qualify(f"KERNEL {d.name}(\n    {params})\n{{\n{d.body}\n}}\n", dialect))
    return prelude(dialect, fp64=any(d.fp64 for d in descs)) + PRELUDE_END + helpers + "".join(kernels)
