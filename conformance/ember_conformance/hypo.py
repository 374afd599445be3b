"""Property cases driven by Hypothesis: random shapes, broadcasting and values for the
elementwise operators, judged like every other sample. In certification mode (the
default) Hypothesis runs derandomized, so a certificate is reproducible."""

from __future__ import annotations

import numpy as np

from .cases import Case
from .opcase import CaseFailure
from .samples import Sample

OPS = ("add", "sub", "mul", "true_divide", "maximum", "minimum", "eq", "lt")
DTYPES = ("float32", "int32", "float16")
EXAMPLES = 12


def cases(ctx) -> list[Case]:
    try:
        import hypothesis  # noqa: F401
    except ImportError:
        return [Case("hypothesis", 2, None, status="fail", reason="hypothesis is not installed")]
    from ember.dispatch import registry
    declared = {d.name for d in ctx.dtypes}
    out = []
    for name in OPS:
        if name not in registry:
            continue
        for dt in DTYPES:
            if dt in declared:
                out.append(Case(f"hypothesis/{name}/{dt}", 2, _bind(name, dt), name, dt))
    return out


def _bind(name, dt):
    return lambda ctx: _run(ctx, name, dt)


def _run(ctx, name, dtname):
    import ember
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    from .opcase import run_op_sample

    dt = ember.dtypes.dtype_from_name(dtname)
    op = ember.dispatch.get(name)
    npdt = np.dtype(dt.np)
    if dt.is_floating_point:
        elems = st.floats(-100, 100, width=16 if dtname == "float16" else 32, allow_subnormal=False)
    else:
        elems = st.integers(-100, 100)
    if name == "true_divide" and not dt.is_floating_point:
        elems = st.integers(1, 100)
    last: list = []

    @settings(max_examples=EXAMPLES, derandomize=ctx.certify, database=None, deadline=None,
              suppress_health_check=list(HealthCheck), report_multiple_bugs=False,
              phases=(Phase.explicit, Phase.generate))  # no shrinking: a failing backend fails fast
    @given(st.data())
    def prop(data):
        shapes = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4))
        a = data.draw(hnp.arrays(npdt, shapes.input_shapes[0], elements=elems)).astype(dt.np)
        b = data.draw(hnp.arrays(npdt, shapes.input_shapes[1], elements=elems)).astype(dt.np)
        s = Sample("hypothesis", (a, b))
        last[:] = [s]
        for layout in s.layouts:
            run_op_sample(ctx, op, dt, s, layout)

    try:
        prop()
    except CaseFailure as e:
        s = last[0] if last else None
        where = f" (shapes {s.args[0].shape} and {s.args[1].shape})" if s else ""
        raise CaseFailure(f"{e}{where}", e.max_error, e.first_index) from None
