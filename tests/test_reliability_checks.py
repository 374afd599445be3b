"""Misbehaving plugins stop in core, named: kernels returning None, a non-tensor, a tensor on another
device (always checked), or a shape or dtype other than the meta says (checked with EMBER_CHECK_KERNELS=1,
which Ember's tests and the conformance suite turn on); a package registering a device type plugins.toml
assigns to another package; a plugin calling sys.exit() at import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import ember
from ember.dispatch import defop, impl, set_kernel_checks
from ember.ops import Spec

sys.path.insert(0, str(Path(__file__).parent))
from fixture_plugins import load  # noqa: E402

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures" / "plugins"
load("npy")


def _meta(x):
    return Spec(x._shape, x._dtype)


@pytest.fixture(autouse=True)
def _forget_test_operators():
    """Operators a test defines leave the shared registry afterwards (later tests see only Ember's)."""
    before = set(ember.dispatch.registry)
    yield
    for name in set(ember.dispatch.registry) - before:
        del ember.dispatch.registry[name]


@pytest.fixture
def checks():
    """Set kernel checks for one test, restoring the previous setting."""
    prev = ember.dispatch.operator.checks.kernels
    yield set_kernel_checks
    set_kernel_checks(prev)


def _broken(name, kernel):
    """A prim test_<name> whose npy kernel is ``kernel``, and a composite calling it."""
    f = defop(f"test_{name}(Tensor self) -> Tensor", meta=_meta, prim=True)
    impl(f"test_{name}", "npy")(kernel)
    g = defop(f"test_{name}_outer(Tensor self) -> Tensor", meta=_meta, decomposition=lambda x: f(x) * 2)
    return f, g


def test_the_tests_run_with_kernel_checks_on():
    assert os.environ.get("EMBER_CHECK_KERNELS") == "1" or os.environ.get("EMBER_CHECK_KERNELS") is None
    assert ember.dispatch.operator.checks.kernels == (os.environ.get("EMBER_CHECK_KERNELS", "1") != "0")


@pytest.mark.parametrize("on", [True, False])
@pytest.mark.parametrize("kind,kernel,words", [
    ("none", lambda x: None, "returned None"),
    ("not_tensor", lambda x: [1.0, 2.0], "returned a list"),
    ("other_device", lambda x: ember.ones(x.shape), "returned a tensor on cpu"),
])
def test_structural_checks_are_always_on(checks, on, kind, kernel, words):
    checks(on)
    f, g = _broken(kind, kernel)
    x = ember.ones(2, 3, device="npy")
    for fn in (f, g):  # directly, and through a decomposition that calls it
        with pytest.raises(ember.KernelResultError, match=words) as e:
            fn(x)
        assert f"'test_{kind}'" in str(e.value) and "ember_npy" in str(e.value) and "(npy)" in str(e.value)


@pytest.mark.parametrize("kind,kernel,words", [
    ("bad_shape", lambda x: ember.ones(3, device="npy"), r"shape \(3,\), core specifies \(2, 3\)"),
    ("bad_dtype", lambda x: ember.ones(2, 3, dtype=ember.float64, device="npy"),
     "dtype float64, core specifies float32"),
])
def test_meta_checks_name_plugin_and_operator(checks, kind, kernel, words):
    f, g = _broken(kind, kernel)
    x = ember.ones(2, 3, device="npy")
    checks(True)
    for fn in (f, g):
        with pytest.raises(ember.KernelResultError, match=words) as e:
            fn(x)
        assert f"operator 'test_{kind}'" in str(e.value) and "plugin ember_npy (npy)" in str(e.value)
    checks(False)   # off: only the structural check runs (no meta call on the hot path)
    assert f(x).shape != (2, 3) or f(x).dtype is not ember.float32


def test_in_place_kernels_are_checked_against_self(checks):
    checks(True)
    defop("test_scale_(Tensor self) -> Tensor", meta=_meta, prim=True)
    impl("test_scale_", "npy")(lambda x: ember.ones(2, device="npy"))
    with pytest.raises(ember.KernelResultError, match=r"shape \(2,\), core specifies \(2, 3\)"):
        ember.dispatch.get("test_scale_").fn(ember.ones(2, 3, device="npy"))
    ember.add_(ember.ones(2, 3, dtype=ember.int32, device="npy"), 1)   # a right kernel passes


def test_a_conformance_run_turns_kernel_checks_on(checks):
    from ember_conformance.suite import make_context
    checks(False)
    make_context("cpu")
    assert ember.dispatch.operator.checks.kernels


# -- plugins: a squatter on another package's device type, sys.exit() at import ---------------------------

def _run(code, plugins):
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMBER_")}
    env["PYTHONPATH"] = os.pathsep.join([str(FIXTURES / p) for p in plugins]
                                        + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    cmd = [sys.executable] + (["-m", "ember", "info"] if code is None else ["-c", code])
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, cwd=HERE)


def test_ember_info_shows_a_refused_squatter_and_a_plugin_that_exits():
    r = _run(None, ("squatter", "exits"))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "ember-squatter" in out and "registers device type 'cpu', which belongs to package ember-cpu" in out
    assert "SystemExit: the plugin called sys.exit(3)" in out
    assert "Devices" in out and "ember-cpu" in out        # everything else is still printed


def test_the_catalogued_owner_serves_its_device_type_beside_a_squatter():
    r = _run("import ember\nx = ember.ones(2)\nprint(x._backend.distribution, (x + 1).tolist())\n"
             "from ember.plugins.manager import plugin_records\n"
             "print(sorted((p.name, p.status) for p in plugin_records()))", ("squatter", "exits"))
    assert r.returncode == 0, r.stderr
    assert "ember-cpu [2.0, 2.0]" in r.stdout
    assert "('cpu[ember-squatter]', 'failed')" in r.stdout and "('exits', 'failed')" in r.stdout


def test_a_squatter_registered_by_hand_is_refused_naming_both_packages():
    # In a process that loads no entry points, so that "rocm" (plugins.toml: ember-rocm) is still free.
    code = """
import ember, os
from ember.plugins import API_VERSION, hookimpl
from ember.device import registered_backends

class Squatter:
    @hookimpl
    def ember_register_backends(self, register):
        register("rocm", api_version=API_VERSION, runtime=object(), kernels={})

rec = ember.plugins.register_plugin(Squatter(), name="rocm-squatter")
print(rec.status)
print(rec.error)
print(rec.distribution)
print("rocm" in {b.device_type for b in registered_backends()})
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMBER_")}
    env["EMBER_PLUGINS_AUTOLOAD"] = "0"
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, cwd=HERE)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0] == "failed", r.stdout
    assert "registers device type 'rocm', which belongs to package ember-rocm" in r.stdout
    assert f"from package {lines[-2]}" in r.stdout
    assert lines[-1] == "False"
