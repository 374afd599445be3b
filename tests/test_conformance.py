"""The conformance suite itself: samples, references, tolerances, skips, and cpu's certification.

The full cpu run below is the acceptance test of the suite: cpu must reach the
highest tier this ember-core makes available, well inside the time budget.
"""

from __future__ import annotations

import contextlib
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
from ember_conformance.opcase import CaseFailure  # noqa: E402
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


# -- helpers: a cpu that differs, for as long as a test needs it ------------------------------

@contextlib.contextmanager
def cpu_kernel(name, fn):
    """cpu's kernel of operator ``name`` replaced by ``fn`` inside the block (a backend that differs)."""
    op = ember.dispatch.get(name)
    key = suite.resolve_backend("cpu").key.index
    old = op.kernels.get(key)
    op.kernels[key] = fn
    op.rebuild()
    try:
        yield op
    finally:
        if old is None:
            op.kernels.pop(key, None)
        else:
            op.kernels[key] = old
        op.rebuild()


def saturating_cast(plus=0):
    """A float -> integer _to_copy that saturates instead of wrapping (and adds ``plus``): wrong."""
    def kernel(x, dtype=None, device=None, non_blocking=False):
        info = np.iinfo(dtype.np)
        vals = np.clip(np.trunc(x.numpy().astype(np.float64)) + plus, info.min, info.max)
        return ember.tensor(vals.astype(dtype.np))
    return kernel


def _exploding_kernel(x, dtype=None, device=None, non_blocking=False):
    raise RuntimeError("kernel exploded")


def quiet_run(only, tiers=(0, 1, 2, 3), **kw):
    return suite.run("cpu", tiers, only=only, progress=suite._NoProgress(), **kw)


# -- --compare: only real divergences ---------------------------------------------------------

def _run_of(backend, results):
    return suite.Run(backend, results, None, 0.0, None, True, True, (0, 1, 2, 3))


def test_compare_counts_only_real_divergences():
    from ember_conformance.divergence import compare_runs
    R = suite.Result
    rtol, atol = C.tolerance("add", "float32")
    one = np.ones(3, np.float32)

    def pair(cid, sa, sb, oa=None, ob=None, op="add"):
        return R(cid, 1, sa, op=op, outputs=oa), R(cid, 1, sb, op=op, outputs=ob)
    rows = [pair("pass_fail", "pass", "fail", [one], None),
            pair("skip", "pass", "skip", [one]), pair("na", "n/a", "pass", None, [one]),
            pair("empty", "pass", "pass", [one], [one * 7], op="empty"),
            pair("rand", "pass", "pass", [one], [one * 3], op="rand"),
            pair("close", "pass", "pass", [one], [one * np.float32(1 + 1.5 * (rtol + atol))]),
            pair("far", "pass", "pass", [one], [one * np.float32(1 + 10 * (rtol + atol))]),
            pair("ints", "pass", "pass", [np.arange(3)], [np.arange(3) + 1]),
            pair("fail_same", "fail", "fail", [one], [one]),
            pair("fail_other", "fail", "fail", [one], [one * 2]),
            pair("fail_nothing", "fail", "fail")]
    a = _run_of("a", [x for x, _ in rows] + [R("only_a", 1, "pass", outputs=[one])])
    b = _run_of("b", [y for _, y in rows] + [R("only_b", 1, "pass", outputs=[one])])
    cmp = compare_runs(a, b)
    assert {d["id"]: d["kind"] for d in cmp.divergences} == {"pass_fail": "status", "far": "values",
                                                            "ints": "values", "fail_other": "values"}
    assert next(d for d in cmp.divergences if d["id"] == "pass_fail")["a"] == "pass"
    assert {c["id"] for c in cmp.coverage} == {"skip", "na", "only_a", "only_b"}
    assert cmp.undefined == {"empty": 1, "rand": 1} and cmp.failed_on_both == 1
    out = cmp.as_json()
    assert out["counts"]["divergences"] == len(out["divergences"]) == 4
    assert out["counts"]["not_run_on_both"] == 4 and "uninitialised" in out["values_not_compared"]["empty"]["reason"]
    assert cmp.lines()[0].startswith("  4 cases diverge between a and b (1 pass on one and fail on the other, 3 ")


def test_every_operator_without_checked_values_is_in_the_undefined_table():
    """An operator whose reference gives no values (random, uninitialised) must not be compared by value."""
    from ember_conformance.divergence import UNDEFINED_VALUES
    from ember_conformance.opcase import widen
    unchecked = []
    for name in sorted(ember.dispatch.registry):
        s = next((s for s in sample_inputs(name, ember.float32, rng=np.random.default_rng(0)) if s.error is None),
                 None)
        if s is None:  # a float-less operator (bitwise): every float32 sample is a bad input
            continue
        try:
            want = REFERENCES[name](*widen(s.args), **widen(s.kwargs))
        except Exception:  # noqa: BLE001  (a sample the meta function refuses: no values either way)
            continue
        if want is None:
            unchecked.append(name)
    assert unchecked and sorted(set(unchecked) - set(UNDEFINED_VALUES)) == []


def test_compare_finds_two_failing_backends_that_differ():
    """Two cpus with differently wrong casts both fail: their outputs still diverge. The same wrong
    cast on both does not, nor do empty and random operators, whatever their values."""
    from ember_conformance.divergence import compare_runs
    only = ["op/_to_copy/float32/to_int8_wrap", "op/empty/float32/*", "op/rand/float32/*", "op/add/float32/same"]
    runs = []
    for plus in (0, 1, 0):
        with cpu_kernel("_to_copy", saturating_cast(plus)):
            runs.append(quiet_run(only, (1, 2), keep_outputs=True))
    a, b, c = runs
    assert [r.status for r in a.results if r.op == "_to_copy"] == ["fail"]
    cmp = compare_runs(a, b)
    assert [(d["id"], d["kind"]) for d in cmp.divergences] == [("op/_to_copy/float32/to_int8_wrap", "values")]
    assert cmp.undefined.get("empty") and cmp.undefined.get("rand") and cmp.compared >= 2
    assert compare_runs(a, c).divergences == []


# -- partial runs, -x and --traceback ---------------------------------------------------------

def test_a_partial_run_claims_no_tier(tmp_path):
    from ember_conformance import report
    run = quiet_run(["op/add/float32/*"])
    ran, total = run.coverage()[1]
    assert run.partial and run.tier_reached is None and ran == len(run.results) < total
    text = suite.summary(run)
    assert "tier reached" not in text
    assert f"partial run (only 'op/add/float32/*'): tiers covered: 1 ({ran} of {total} cases)" in text
    assert "tier 0 (runtime and device basics): not run (0 of " in text
    assert f"tier 1 (prims): {ran} of {total} cases ran: {ran} passed" in text
    jp, hp = report.write(run, suite.resolve_backend("cpu"), tmp_path)
    cert = json.loads(jp.read_text())
    assert cert["partial"] is True and cert["only"] == ["op/add/float32/*"] and cert["tier_reached"] is None
    assert cert["tiers"]["1"]["ran"] == ran and cert["tiers"]["1"]["cases"] == total
    assert "no tier claimed" in hp.read_text()


def test_a_sample_is_the_same_spread_subset_every_run(tmp_path):
    from ember_conformance import report
    from ember_conformance.cases import all_cases
    every = all_cases(suite.make_context("cpu"), (1, 2))
    picked = suite.select(every, None, 0.05)
    assert [c.id for c in picked] == [c.id for c in suite.select(every, None, 0.05)]
    assert 0.03 < len(picked) / len(every) < 0.07
    assert len({c.op for c in picked}) > 100 and {c.tier for c in picked} == {1, 2}
    assert {c.id for c in suite.select(every, None, 0.02)} <= {c.id for c in picked}
    with pytest.raises(ValueError, match="fraction"):
        suite.select(every, None, 1.5)
    run = suite.run("cpu", (1,), sample=0.02, progress=suite._NoProgress())
    assert run.partial and run.tier_reached is None and 0 < len(run.results) < run.coverage()[1][1]
    assert "(a 2% sample of the cases, chosen by id)" in suite.summary(run)
    jp, _ = report.write(run, suite.resolve_backend("cpu"), tmp_path)
    assert json.loads(jp.read_text())["sample"] == 0.02


def test_a_pattern_that_selects_whole_tiers_is_a_complete_run():
    run = quiet_run(["runtime/*"], (0,))
    assert not run.partial and run.tier_reached == 0
    assert "tier reached: 0" in suite.summary(run)


def test_exitfirst_stops_at_the_first_failing_case():
    only = ["op/_to_copy/float32/*"]
    with cpu_kernel("_to_copy", saturating_cast()):
        every = quiet_run(only, (2,))
        first = quiet_run(only, (2,), exitfirst=True)
    fails = [r.id for r in every.results if r.status == "fail"]
    assert len(fails) > 1
    assert [r.id for r in first.results] == [r.id for r in every.results][:len(first.results)]
    assert first.results[-1].id == fails[0] == first.stopped_at and first.partial
    assert f"stopped at the first failing case (-x): {fails[0]}" in suite.summary(first)


def test_traceback_prints_each_failing_case_after_the_summary(capsys, tmp_path):
    from ember_conformance import cli
    with cpu_kernel("_to_copy", _exploding_kernel):
        code = cli.main(["--backend", "cpu", "-q", "-k", "op/_to_copy/float32/to_int8_wrap", "--traceback",
                         "--report", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 1
    start = out.index("tracebacks of the 1 failing cases on cpu")
    assert out.index("no tier is claimed") < start
    assert "in _exploding_kernel" in out[start:] and "RuntimeError: kernel exploded" in out[start:]
    case, = json.loads((tmp_path / "cpu.json").read_text())["cases"]
    assert case["reason"] == "RuntimeError: kernel exploded" and "traceback" not in case


# -- tier 0 messages --------------------------------------------------------------------------

def test_tier0_mismatch_names_shapes_dtypes_and_values(monkeypatch):
    from ember_conformance import runtime_cases
    ctx = suite.make_context("cpu")
    rt = ctx.backend.runtime
    real = rt.to_numpy
    monkeypatch.setattr(rt, "to_numpy", lambda t: np.atleast_1d(real(t)))
    with pytest.raises(CaseFailure) as e:
        runtime_cases._roundtrip(ctx, ember.bool)
    msg = str(e.value)
    assert "bool array of shape (): shape (1,) instead of () (expected bool shape () " in msg, msg
    assert ", got bool shape (1,) [" in msg
    monkeypatch.setattr(rt, "to_numpy", lambda t: real(t).astype(np.int64))
    with pytest.raises(CaseFailure, match=r"dtype int64 instead of int32 \(expected int32 shape \(3, 4\) \[\["):
        runtime_cases._roundtrip(ctx, ember.int32)


def test_mismatch_message_names_the_first_differing_element():
    msg = C.mismatch_message("x", np.arange(4.0), np.array([0.0, 1.0, 5.0, 3.0]))
    assert msg.startswith("x: 1 of 4 elements differ, first at [2]: 5. instead of 2. (expected float64 shape (4,)")


# -- edge semantics: float -> integer casts, division by zero, negative integer powers ----------

def test_edge_references_give_pytorchs_answers():
    import ml_dtypes
    from ember_conformance.references import cast
    bf = np.array([-36.0]).astype(ml_dtypes.bfloat16).astype(np.float64)
    assert cast(bf, ember.uint8).tolist() == [220]
    assert cast(np.array([300.5, -129.5]), ember.int8).tolist() == [44, 127]
    assert cast(np.array([-1.5]), ember.uint8).tolist() == [255]
    assert REFERENCES["pow"](np.array([2, 1, -1, 0]), np.array([-1, -2, -3, -1])).tolist() == [0, 1, -1, 0]
    assert REFERENCES["pow"](np.array([-1, -1]), np.array([-4, -5])).tolist() == [1, -1]


@pytest.mark.parametrize("dt", ["float16", "bfloat16", "float32", "float64"])
def test_cast_samples_stay_where_the_cast_is_defined(dt):
    from ember_conformance.opsamples import cast_values
    x = cast_values(np.random.default_rng(0), ember.dtypes.dtype_from_name(dt)).astype(np.float64)
    t = np.trunc(x)
    assert np.isfinite(x).all() and (t >= -2**31).all() and (t <= 2**31 - 1).all()
    assert -36.0 in x and (np.abs(t) > 255).any()  # values that wrap in uint8 and int8


def test_edge_cases_sit_at_their_operators_tier():
    """Tier 1 for a prim's semantics, tier 2 for a composite's, as every operator case."""
    from ember_conformance.cases import all_cases
    ctx = suite.make_context("cpu")
    tiers = {c.id: c.tier for c in all_cases(ctx, (1, 2))}
    for cid in ("op/floor_divide/int32/zero_divisor", "op/fmod_/int8/zero_scalar", "op/remainder/float32/zero_divisor",
                "op/pow/int16/negative_exponent", "op/pow_/uint8/negative_scalar_exponent",
                "op/copy_/int8/cast_wrap_from_bfloat16", "op/div/int64/zero_divisor_mode_trunc",
                "op/true_divide/int32/zero_scalar", "op/_to_copy/float16/to_uint8_wrap"):
        assert tiers[cid] == (1 if ember.dispatch.get(cid.split("/")[1]).is_prim else 2), cid


def test_a_backend_that_saturates_float_to_int_casts_fails():
    from ember_conformance.opcase import run_op_sample
    ctx = suite.make_context("cpu")
    s = next(s for s in sample_inputs("_to_copy", ember.float32, rng=np.random.default_rng(0))
             if s.name == "to_int8_wrap")
    with cpu_kernel("_to_copy", saturating_cast()) as op:
        with pytest.raises(CaseFailure, match="elements differ"):
            run_op_sample(ctx, op, ember.float32, s, "contiguous")


def test_a_bad_input_sample_can_fix_the_message():
    from ember_conformance.opcase import _check_message
    s = Sample("neg_exp", (np.ones(3, np.int32), -2), error=ValueError,
               match="Integers to negative integer powers are not allowed")
    _check_message(s, ValueError("Integers to negative integer powers are not allowed."))
    with pytest.raises(CaseFailure, match="does not match"):
        _check_message(s, ValueError("negative exponent"))


EDGE_CASES = ["op/*/*/zero_divisor*", "op/*/*/zero_scalar*", "op/pow*/*/negative*", "op/_to_copy/*/to_*_wrap*",
              "op/copy_/*/cast_wrap_from_*"]


def test_edge_cases_pass_on_cpu():
    """Edge semantics every backend shares, as PyTorch has them: cpu, the reference backend, keeps them."""
    run = quiet_run(EDGE_CASES, (1, 2))
    assert len(run.results) > 300
    fails = run.failures()
    assert not fails, "\n".join(f"{r.id}: {r.reason}" for r in fails[:20])


def test_a_result_dtype_the_backend_lacks_skips_the_case():
    from types import SimpleNamespace
    from ember_conformance.opcase import CaseSkip, _need_declared_result
    ctx = SimpleNamespace(dtypes=[ember.float32, ember.int64])
    real_in_complex_out = ember.empty(3, dtype=ember.complex64, device="meta")
    with pytest.raises(CaseSkip, match="complex64"):
        _need_declared_result(ctx, (ember.empty(3, device="meta"), real_in_complex_out))
    _need_declared_result(ctx, ember.empty(3, device="meta"))   # float32: declared, runs
