"""backends/rocm/tools/compile_all.py: HIP kernels compile for AMD targets with hipcc, and a kernel that does
not compile is found by bisection and named with the compiler's log. Skips without hipcc (CI installs
it: .ci/run compiles the whole catalogue for gfx90a and gfx1030)."""

from __future__ import annotations

import dataclasses
import importlib.util
import shutil
import tempfile
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[1] / "backends" / "rocm" / "tools" / "compile_all.py"
spec = importlib.util.spec_from_file_location("compile_all", TOOL)
compile_all = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compile_all)

pytestmark = pytest.mark.skipif(compile_all.hipcc() is None,
                                reason="hipcc not installed (apt-get install hipcc libamdhip64-dev)")


def _kernels(n):
    from ember_kernelgen.catalog import all_kernels
    ks = list(all_kernels())
    # one of each family: elementwise, reductions, scans, sorts, gather/scatter, bmm, philox, nn rows
    picked, seen = [], set()
    for k in ks:
        fam = k.name.split("_")[0]
        if fam not in seen:
            seen.add(fam)
            picked.append(k)
    return picked[:n]


def test_one_kernel_of_each_family_compiles_for_wave64_and_wave32_targets():
    ks = _kernels(40)
    assert len(ks) >= 12
    with tempfile.TemporaryDirectory() as work:
        for target in ("gfx90a", "gfx1030"):
            assert compile_all.check_unit(ks, target, work, "fam", ()) == [], target


def test_a_broken_kernel_is_named_by_bisection():
    ks = _kernels(7)
    bad = dataclasses.replace(ks[3], name="ek_broken_on_purpose", body=ks[3].body + "\n    undeclared_name += 1;")
    units = ks[:3] + [bad] + ks[3:]
    with tempfile.TemporaryDirectory() as work:
        failures = compile_all.check_unit(units, "gfx90a", work, "bis", ())
    assert [name for name, _ in failures] == ["ek_broken_on_purpose"]
    assert "undeclared_name" in failures[0][1]


def test_an_unknown_target_is_reported_not_crashed():
    with tempfile.TemporaryDirectory() as work:
        why = compile_all.target_known("gfx9999", work)
    assert why and "gfx9999" in why


def test_cli_small_run(capsys):
    assert shutil.which("hipcc") or compile_all.hipcc()
    rc = compile_all.main(["--targets", "gfx90a", "--limit", "12", "--per-unit", "6", "--jobs", "2"])
    out = capsys.readouterr().out
    assert rc == 0 and "12 HIP kernels x 1 targets (gfx90a): 12 compiled, 0 failed" in out, out
