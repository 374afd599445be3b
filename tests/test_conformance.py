"""The conformance suite itself: samples, references, tolerances, skips, and cpu's certification.

The full cpu run below is the acceptance test of the suite: cpu must reach the
highest tier this ember-core makes available, well inside the time budget.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import ember

conf = pytest.importorskip("ember_conformance")
from ember_conformance import compare as C  # noqa: E402
from ember_conformance import skips as S  # noqa: E402
from ember_conformance import suite  # noqa: E402
from ember_conformance.references import REFERENCES, philox4x32_10  # noqa: E402
from ember_conformance.samples import Sample, missing_generators, sample_inputs  # noqa: E402


def test_every_operator_has_a_generator_and_a_reference():
    assert missing_generators() == []
    assert sorted(set(ember.dispatch.registry) - set(REFERENCES)) == []


def test_an_operator_without_a_generator_fails_the_run_loudly():
    code = textwrap.dedent("""
        import ember
        from ember.dispatch import defop
        from ember.ops._helpers import Spec
        defop("conformance_probe(Tensor self) -> Tensor", meta=lambda x: Spec(x._shape, x._dtype),
              decomposition=lambda x: x.clone())
        from ember_conformance import suite
        run = suite.run("cpu", (1, 2), only=["op/conformance_probe*"])
        r, = run.results
        print(r.status, "|", r.reason)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("fail | no sample generator for operator 'conformance_probe'")


@pytest.mark.parametrize("op", ["add", "sum", "gather", "matmul", "where", "view", "arange"])
@pytest.mark.parametrize("dtype", [ember.float32, "int64", ember.bfloat16])
def test_sample_inputs_contract(op, dtype):
    dt = ember.dtypes.dtype_from_name(dtype) if isinstance(dtype, str) else dtype
    a = sample_inputs(op, dtype, rng=np.random.default_rng(0))
    b = sample_inputs(op, dtype, rng=np.random.default_rng(0))
    assert a and all(isinstance(s, Sample) for s in a)
    assert [s.name for s in a] == [s.name for s in b]
    for s, t in zip(a, b):
        assert isinstance(s.args, tuple) and isinstance(s.kwargs, dict)
        arrays = [x for x in s.args if isinstance(x, np.ndarray)]
        for x, y in zip(arrays, [y for y in t.args if isinstance(y, np.ndarray)]):
            assert C.same_bits(x, y)  # the same rng gives the same samples
        if arrays and s.error is None and op not in ("gather",):
            assert arrays[0].dtype == np.dtype(dt.np) or arrays[0].dtype == np.bool_
        assert s.layouts[0] == "contiguous" or s.error is not None


def test_sample_layouts_put_the_same_values_on_a_device():
    s = sample_inputs("add", ember.float32, rng=np.random.default_rng(1))[0]
    assert s.layouts == ("contiguous", "transposed", "stepped")
    for layout in s.layouts:
        (x, y), _ = s.to_device("cpu", layout)
        assert (layout == "contiguous") == x.is_contiguous()
        assert C.same_bits(x.numpy(), s.args[0])


def test_zero_dim_samples_stay_zero_dim():
    s = next(s for s in sample_inputs("neg", ember.float32, rng=np.random.default_rng(0)) if s.name == "0d")
    (x,), _ = s.to_device("cpu")
    assert x.shape == () and s.args[0].shape == ()


def test_philox_reference_known_answer():
    words = [int(w) for w in philox4x32_10(0, 0, 0, 0, 0, 0)]
    assert words == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]
    assert REFERENCES["philox_random"]([4], 0, 0).tolist() == words


def test_compare_is_strict_about_nan_inf_and_tolerance():
    f32 = ember.float32
    want = np.array([1.0, np.nan, np.inf, -np.inf], np.float32)
    assert C.compare(want.copy(), want, f32) is None
    assert C.compare(np.array([1.0, 0.0, np.inf, -np.inf], np.float32), want, f32) is not None
    assert C.compare(np.array([1.0, np.nan, -np.inf, -np.inf], np.float32), want, f32) is not None
    rtol, atol = C.tolerance("add", "float32")
    near = np.float32(1.0 + rtol / 2)
    far = np.float32(1.0 + 10 * (rtol + atol))
    assert C.compare(np.array([near, np.nan, np.inf, -np.inf], np.float32), want, f32) is None
    m = C.compare(np.array([far, np.nan, np.inf, -np.inf], np.float32), want, f32)
    assert m.first_index == [0] and m.max_error == pytest.approx(float(far) - 1.0)
    assert C.compare(np.array([1, 2], np.int32), np.array([1, 3], np.int32), ember.int32).first_index == [1]


def test_tolerances_are_data():
    table = C.tolerance_table()
    assert set(table["dtype"]) == {"float16", "bfloat16", "float32", "float64"}
    assert C.tolerance(None, "float64") == (table["dtype"]["float64"]["rtol"], table["dtype"]["float64"]["atol"])


def test_skips_file_lines_need_a_reason():
    skips = S.parse("# comment\n\nop/add/*   a reason here\nruntime/streams  no streams\n")
    assert [s.pattern for s in skips] == ["op/add/*", "runtime/streams"]
    assert S.match(skips, "op/add/float32/same").reason == "a reason here"
    assert S.match(skips, "op/sub/float32/same") is None
    with pytest.raises(S.SkipsFileError, match=r"x\.txt:2: the skip 'op/mul/\*' has no reason"):
        S.parse("op/add/* ok\nop/mul/*\n", "x.txt")


def test_cpu_skips_file_is_found_through_the_plugin_package():
    from ember.device import get_backend
    ember.zeros(1)  # loads cpu
    skips, path = S.load(get_backend("cpu"))
    assert path.endswith("ember_cpu/conformance-skips.txt")
    assert all(s.reason for s in skips)


def test_tier_reached_ignores_skips_and_needs_a_pass():
    R = suite.Result
    rs = [R("a", 0, "pass"), R("b", 1, "pass"), R("c", 1, "skip"), R("d", 2, "n/a"), R("e", 2, "pass"),
          R("f", 3, "skip")]
    assert suite.tier_reached(rs) == 2
    assert suite.tier_reached(rs + [R("g", 1, "fail")]) == 0
    assert suite.tier_reached([R("a", 0, "fail"), R("b", 1, "pass")]) == -1


def test_cpu_full_run_reaches_the_highest_available_tier(tmp_path):
    """The acceptance run: every case on cpu, timed, with its certificate and matrix."""
    from ember_conformance import report
    t0 = time.perf_counter()
    run = suite.run("cpu", progress=suite._NoProgress())
    seconds = time.perf_counter() - t0
    fails = run.failures()
    assert not fails, "\n".join(f"{r.id}: {r.reason}" for r in fails[:20])
    available = max(t for t in run.tiers if any(r.tier == t and r.status == "pass" for r in run.results))
    assert run.tier_reached == available >= 2
    assert seconds < 300, f"a full cpu run took {seconds:.0f} s; the budget is 5 minutes on 2 cores"
    jp, hp = report.write(run, suite.resolve_backend("cpu"), tmp_path)
    cert = json.loads(jp.read_text())
    assert cert["tier_reached"] == run.tier_reached
    assert cert["suite"]["name"] == "ember-conformance" and cert["core"]["version"] == ember.__version__
    assert cert["plugin"]["name"] == "ember-cpu" and cert["environment"]["python"]
    assert len(cert["cases"]) == len(run.results) > 10000
    assert {c["status"] for c in cert["cases"]} <= {"pass", "skip", "n/a"}
    assert all(c.get("reason") for c in cert["cases"] if c["status"] in ("skip", "n/a"))
    page = hp.read_text()
    assert "<th>bfloat16</th>" in page and ">addmm<" in page
    print(f"\ncpu conformance: {len(run.results)} cases in {seconds:.1f} s, tier {run.tier_reached}")


def test_view_aliasing_is_checked_against_the_reference_geometry():
    from ember_conformance.opcase import CaseFailure, _check_aliasing
    op = ember.dispatch.get("transpose")
    x = ember.tensor(np.arange(12.0).reshape(3, 4))
    s = Sample("t", (np.zeros((3, 4)), 0, 1))
    _check_aliasing(op, s, x, x.transpose(0, 1), 0, "")
    with pytest.raises(CaseFailure, match=r"aliases the wrong elements: element \[0, 1\] is storage element 1"):
        _check_aliasing(op, s, x, x.view([4, 3]), 0, "")


def test_inplace_write_through_a_view_must_stay_inside_it():
    """A fill_ that ignores the view's strides is caught on the stepped layout, on any backend."""
    from ember_conformance.opcase import CaseFailure, run_op_sample
    ctx = suite.make_context("cpu")
    op = ember.dispatch.get("fill_")
    s = Sample("2d", (np.zeros((3, 4), np.float32), 1.5))
    run_op_sample(ctx, op, ember.float32, s, "stepped")
    cpu_fill = op.kernels[ctx.backend.key.index]

    def flat_fill(x, value):
        x._storage[:x.numel()] = value
        return x
    op.kernels[ctx.backend.key.index] = flat_fill
    op.rebuild()
    try:
        with pytest.raises(CaseFailure, match="in-place write outside self's elements"):
            run_op_sample(ctx, op, ember.float32, s, "stepped")
    finally:
        op.kernels[ctx.backend.key.index] = cpu_fill
        op.rebuild()
