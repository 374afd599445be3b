"""The cases of a run, generated from the operator registry and the backend's capabilities.

Tiers: 0 runtime and device basics; 1 prims; 2 every other operator, views and
aliasing, bad-input errors, gradients, RNG identity with cpu; 3 end to end.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

TIER_NAMES = {0: "runtime and device basics", 1: "prims", 2: "all operators, views, errors, gradients, RNG",
              3: "end to end"}


@dataclass
class Case:
    id: str
    tier: int
    run: Callable | None          # run(ctx) -> list of numpy outputs (for --compare), or raises
    op: str | None = None
    dtype: str | None = None
    status: str | None = None     # preset: "n/a" or "fail" without running
    reason: str = ""


@dataclass
class Context:
    """What a case needs to know about the backend under test."""

    backend: object
    device: str
    device_type: str
    strict: bool = True
    certify: bool = True
    watch: object = None
    dtypes: tuple = field(default=())


#: How many samples per (operator, dtype) also run in each non-contiguous layout.
NONCONTIGUOUS_SAMPLES = 3


def seed_for(*parts) -> int:
    return zlib.crc32("/".join(map(str, parts)).encode())


def op_cases(ctx: Context, tiers) -> list[Case]:
    import ember
    from ember.dispatch import registry

    from .opcase import run_op_sample
    from .samples import GENERATORS, missing_generators, sample_inputs

    out: list[Case] = []
    missing = set(missing_generators())
    declared = {d.name for d in ctx.dtypes}
    for name in sorted(registry):
        op = registry[name]
        tier = 1 if op.is_prim else 2
        if tier not in tiers:
            continue
        if name in missing:
            out.append(Case(f"op/{name}", tier, None, name, None, "fail",
                            f"no sample generator for operator {name!r}: ember-conformance must be taught every "
                            f"operator (add it to ember_conformance/opsamples.py and references.py)"))
            continue
        # complex dtypes only for the operators that take them (core tags them "complex")
        dtypes = ember.dtypes.all_dtypes + (ember.dtypes.complex_dtypes if "complex" in op.tags else ())
        for dt in dtypes:
            if dt.name not in declared:
                out.append(Case(f"op/{name}/{dt.name}", tier, None, name, dt.name, "n/a",
                                f"{dt.name} is not among the backend's declared dtypes"))
                continue
            samples = sample_inputs(name, dt, rng=np.random.default_rng(seed_for(name, dt.name)))
            strided = 0
            for s in samples:
                layouts = s.layouts
                if len(layouts) > 1 and s.only_layouts is None:
                    # Non-contiguous layouts for the first few samples that can have them: each
                    # layout is a different kernel path, each extra sample of it mostly is not.
                    strided += 1
                    if strided > NONCONTIGUOUS_SAMPLES:
                        layouts = ("contiguous",)
                for layout in layouts:
                    cid = f"op/{name}/{dt.name}/{s.name}" + ("" if layout == "contiguous" else f"@{layout}")
                    out.append(Case(cid, tier, _bind(run_op_sample, op, dt, s, layout), name, dt.name))
        assert name in GENERATORS
    return out


def _bind(fn, op, dt, s, layout):
    return lambda ctx: fn(ctx, op, dt, s, layout)


def all_cases(ctx: Context, tiers=(0, 1, 2, 3)) -> list[Case]:
    from . import extra, hypo, runtime_cases
    tiers = set(tiers)
    cases: list[Case] = []
    if 0 in tiers:
        cases += runtime_cases.cases(ctx)
    cases += op_cases(ctx, tiers)
    if 2 in tiers:
        cases += hypo.cases(ctx)
        cases += extra.gradient_cases(ctx)
        cases += extra.rng_cases(ctx)
    if 3 in tiers:
        cases += extra.end_to_end_cases(ctx)
    if tiers & {2, 3}:
        from .autocast_cases import autocast_cases
        cases += autocast_cases(ctx, tiers)
    return cases
