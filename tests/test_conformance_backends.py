"""The suite against other backends: deliberately wrong kernels are caught and named, two backends
are compared, the pytest plugin runs, and a scaffold from `ember new-backend` installs and fails
cleanly with NotImplementedError.

Fake plugins (tests/fixtures/plugins/<name>) are found through PYTHONPATH in a subprocess, as in
test_plugins.py, so that no state leaks between tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("ember_conformance")

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures" / "plugins"


def run(args, paths=(), cwd=None, timeout=300):
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMBER_")}
    env["PYTHONPATH"] = os.pathsep.join([str(p) for p in paths] + ([os.environ["PYTHONPATH"]]
                                                                   if os.environ.get("PYTHONPATH") else []))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=timeout,
                          cwd=cwd or HERE)


def conformance(*args, paths=(FIXTURES / "wrong",)):
    return run(["-m", "ember_conformance", "-q", *args], paths)


def cases_of(path) -> dict:
    return {c["id"]: c for c in json.loads(Path(path).read_text())["cases"]}


@pytest.fixture(scope="module")
def wrong_certificate(tmp_path_factory):
    out = tmp_path_factory.mktemp("wrong")
    r = conformance("--backend", "wrong", "--report", str(out), "-k", "runtime/*", "-k", "op/add/*",
                    "-k", "op/sum/*", "-k", "op/fill_/*", "-k", "op/mul/*", "-k", "op/sub/*", "-k", "op/maximum/*",
                    "-k", "op/neg/*", "-k", "op/copy_/*")
    return r, out


def test_wrong_kernels_are_caught_and_named(wrong_certificate):
    r, out = wrong_certificate
    assert r.returncode == 1, r.stderr
    cases = cases_of(out / "wrong.json")
    add = cases["op/add/float32/same"]
    assert add["status"] == "fail" and "outside rtol" in add["reason"]
    assert add["max_error"] > 0.1 and add["first_mismatch"] == [0, 0]
    keep = cases["op/sum/float32/dim0_keepdim"]
    assert keep["status"] == "fail" and "shape (4,), core specifies (1, 4)" in keep["reason"]
    view = cases["op/fill_/float32/2d@stepped"]
    assert view["status"] == "fail" and "in-place write outside self's elements" in view["reason"]
    assert view["first_mismatch"] is not None
    dtype = cases["op/mul/float32/same"]
    assert dtype["status"] == "fail" and "dtype float64, core specifies float32" in dtype["reason"]
    # the right kernels pass beside them, and the summary names every wrong operator
    assert cases["op/neg/float32/2d@stepped"]["status"] == "pass"
    assert cases["runtime/copy_roundtrip/float32"]["status"] == "pass"
    for name in ("add:", "sum:", "fill_:", "mul:"):
        assert f"    {name}" in r.stdout
    # a run restricted with -k is partial: it says what it covered and claims no tier
    assert "tier reached" not in r.stdout and "no tier is claimed" in r.stdout
    assert "partial run (only 'runtime/*', 'op/add/*'," in r.stdout
    cert = json.loads((out / "wrong.json").read_text())
    assert cert["partial"] is True and cert["tier_reached"] is None and "op/copy_/*" in cert["only"]


def test_strict_mode_fails_a_fallback_to_another_device(wrong_certificate):
    _, out = wrong_certificate
    cases = cases_of(out / "wrong.json")
    assert "a fallback to another device" in cases["op/sub/float32/same"]["reason"]
    assert "strict mode: the call used cpu runtime" in cases["op/maximum/float32/same"]["reason"]


def test_dtypes_outside_capabilities_are_not_applicable(wrong_certificate):
    _, out = wrong_certificate
    c = cases_of(out / "wrong.json")["op/neg/float16"]
    assert c["status"] == "n/a" and "float16 is not among the backend's declared dtypes" in c["reason"]
    page = (out / "wrong.html").read_text()
    assert 'class="fail"' in page and 'class="na"' in page


def test_compare_reports_where_backends_diverge(tmp_path):
    r = conformance("--backend", "wrong", "--compare", "cpu", "--report", str(tmp_path), "-k", "op/add/float32/*",
                    "-k", "op/neg/*", "-k", "op/empty/*", "-k", "op/rand/*")
    assert r.returncode == 1, r.stderr
    out = json.loads((tmp_path / "compare-wrong-cpu.json").read_text())
    divs = out["divergences"]
    ids = {d["id"] for d in divs}
    assert "op/add/float32/same" in ids and all(d["kind"] == "status" for d in divs)
    # right kernels, undefined values (empty) and dtypes wrong does not declare are no divergence; a
    # random operator that fails on one side (wrong has no arange for it) still is
    assert not any(i.startswith(("op/neg/", "op/empty/")) for i in ids)
    assert "op/rand/float32/schema" in ids and set(out["values_not_compared"]) == {"empty"}
    assert {"id": "op/neg/float16", "wrong": "n/a", "cpu": "absent"} in out["not_run_on_both"]
    # the text says the same number as the JSON
    assert f"  {len(divs)} cases diverge between wrong and cpu" in r.stdout
    assert out["counts"]["divergences"] == len(divs)
    assert (tmp_path / "cpu.json").exists()


def test_pytest_plugin_runs_the_cases(tmp_path):
    r = run(["-m", "pytest", "-q", "-p", "no:cacheprovider", "--ember-backend=wrong", "--ember-tier=1",
             f"--ember-report={tmp_path}", "-k", "neg or mul"], [FIXTURES / "wrong"], cwd=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    # kernel checks (on in conformance runs) name the plugin and the operator where the kernel returns
    assert ("op/mul/float32/same: KernelResultError: the kernel of plugin ember-wrong (wrong) for operator "
            "'mul' returned dtype float64, core specifies float32") in r.stdout
    assert "passed" in r.stdout and "partial run (only 'pytest -k neg or mul')" in r.stdout
    assert "tier reached" not in r.stdout
    assert json.loads((tmp_path / "wrong.json").read_text())["partial"] is True


def test_pytest_plugin_registers_through_its_entry_point(tmp_path):
    """`pip install ember-conformance` brings pytest and the pytest11 plugin: no -p needed."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    project = tomllib.loads((HERE.parent / "conformance" / "pyproject.toml").read_text())["project"]
    assert any(d.replace(" ", "").startswith("pytest>=8") for d in project["dependencies"])
    r = run(["-m", "pytest", "-p", "no:cacheprovider", "--help"], cwd=tmp_path)
    assert r.returncode == 0 and "--ember-backend=NAME" in r.stdout and "--ember-only=PATTERN" in r.stdout


def test_pytest_plugin_runs_a_pattern_of_cases(tmp_path):
    r = run(["-m", "pytest", "-q", "-p", "no:cacheprovider", "--ember-backend=cpu", "--ember-only",
             "op/neg/float32/*", "--ember-only", "op/abs/float32/2d"], cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.rstrip().splitlines()[-1].startswith("13 passed in ")  # 12 of neg, 1 of abs
    assert "partial run (only 'op/neg/float32/*', 'op/abs/float32/2d'): tiers covered: " in r.stdout


def test_pytest_plugin_stops_at_the_first_failure_with_its_traceback(tmp_path):
    r = run(["-m", "pytest", "-q", "-p", "no:cacheprovider", "--ember-backend=wrong", "--ember-only",
             "op/add/float32/*", "-x", "--tb=long"], [FIXTURES / "wrong"], cwd=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stdout.rstrip().splitlines()[-1].startswith("1 failed in ")
    assert "op/add/float32/same: 12 of 12 elements outside" in r.stdout
    assert "Traceback (most recent call last)" in r.stdout and "partial run" in r.stdout


def test_pytest_plugin_is_inert_without_the_option(tmp_path):
    (tmp_path / "test_x.py").write_text("def test_x():\n    assert True\n")
    r = run(["-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path / "test_x.py")], cwd=tmp_path)
    assert r.returncode == 0 and "1 passed" in r.stdout, r.stdout + r.stderr


def test_unknown_backend_is_a_clear_error():
    r = conformance("--backend", "nosuchdevice", paths=())
    assert r.returncode == 2 and "unknown device type 'nosuchdevice'" in r.stderr


def test_new_backend_scaffold_installs_loads_and_fails_cleanly(tmp_path):
    """`ember new-backend demo`, pip-installed (into a target folder, not the shared venv), loads in
    `ember info`, and the suite runs it: its cases fail with NotImplementedError, nothing crashes."""
    r = run(["-m", "ember", "new-backend", "demo", "--dir", str(tmp_path)])
    assert r.returncode == 0, r.stderr
    src = tmp_path / "ember-demo"
    assert (src / "ember_demo" / "conformance-skips.txt").exists()
    site = tmp_path / "site"
    r = run(["-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index", "--target", str(site),
             str(src)], timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    r = run(["-m", "ember", "info"], [site])
    assert r.returncode == 0, r.stderr
    assert any(line.split()[:1] == ["demo"] and "loaded" in line for line in r.stdout.splitlines()), r.stdout
    r = run(["-m", "ember_conformance", "-q", "--backend", "demo", "--report", str(tmp_path / "out"),
             "-k", "runtime/*", "-k", "op/add/*", "-k", "op/mean/*", "-k", "hypothesis/add/*"], [site])
    assert r.returncode == 1, r.stdout + r.stderr
    cases = cases_of(tmp_path / "out" / "demo.json")
    assert cases["runtime/available"]["status"] == "pass"
    assert cases["op/add/float32/same"]["reason"].startswith("NotImplementedError: ember-demo:")
    assert cases["op/mean/float32/all_dims"]["status"] == "fail"
    assert "partial run" in r.stdout and "tier reached" not in r.stdout


def test_new_backend_rejects_a_bad_name(tmp_path):
    r = run(["-m", "ember", "new-backend", "My-Dev", "--dir", str(tmp_path)])
    assert r.returncode == 2 and "must be a lowercase identifier" in r.stderr


def test_docs_take_a_vendor_from_scaffold_to_certificate():
    text = (HERE.parent / "docs" / "writing-a-backend.md").read_text()
    for needle in ("ember new-backend mydev", "ember-conformance --backend mydev", "pytest --ember-backend=mydev",
                   "conformance-skips.txt", "--compare", "tolerances.toml", "--traceback", "--exitfirst",
                   "partial run", "--ember-only"):
        assert needle in text, needle
