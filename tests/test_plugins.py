"""The plugin machinery: discovery, lazy loading, failures, switches, registration rules.

Fake plugin distributions live in tests/fixtures/plugins/<name>/ (a module plus
``<dist>.dist-info`` with METADATA and entry_points.txt). Each test that uses
them runs Python in a subprocess with those folders on PYTHONPATH, so that
importlib.metadata finds their entry points and no state leaks between tests.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import re
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest

import ember
from ember.plugins import hookspecs

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures" / "plugins"
ALL_FAKES = ("broken", "future", "toy")


def run_py(code: str, plugins=(), env=None, args=None) -> subprocess.CompletedProcess:
    """Run ``code`` (or ``python -m ...`` with ``args``) with the fake plugins on the entry-point path."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("EMBER_")}
    paths = [str(FIXTURES / p) for p in plugins]
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    e["PYTHONPATH"] = os.pathsep.join(paths)
    e["PYTHONDONTWRITEBYTECODE"] = "1"  # keep the fixture folders clean
    e.update(env or {})
    cmd = [sys.executable] + (args if args is not None else ["-c", textwrap.dedent(code)])
    return subprocess.run(cmd, env=e, capture_output=True, text=True, timeout=120, cwd=HERE)


def check(code: str, plugins=(), env=None) -> str:
    r = run_py(code, plugins, env)
    assert r.returncode == 0, f"subprocess failed:\n{r.stdout}\n{r.stderr}"
    return r.stdout


def ember_info(*flags, plugins=ALL_FAKES, env=None) -> str:
    r = run_py("", plugins, env, args=["-m", "ember", "info", *flags])
    assert r.returncode == 0, f"ember info failed:\n{r.stdout}\n{r.stderr}"
    return r.stdout


@functools.lru_cache(maxsize=1)
def fresh_operators() -> frozenset:
    """The operator names of a freshly imported ember (other tests may define operators in process)."""
    out = check("import ember, json; print(json.dumps(sorted(ember.dispatch.registry)))")
    return frozenset(json.loads(out))


def plugin_line(out: str, name: str) -> str:
    m = re.search(rf"^  {name} .*$", out, re.M)
    assert m, f"no line for plugin {name!r} in:\n{out}"
    return m.group(0)


# -- failures never break ember ----------------------------------------------------

def test_import_and_cpu_work_beside_broken_plugins():
    out = check("""
        import ember
        x = ember.ones(2, 3)
        print((x + x).tolist())
    """, ALL_FAKES)
    assert "[[2.0, 2.0, 2.0], [2.0, 2.0, 2.0]]" in out


def test_info_shows_each_plugin_with_its_status_and_error():
    out = ember_info()
    assert re.search(r"ember-core\s+0\.1\.0", out)
    for lib in ("Python", "numpy", "pluggy"):
        assert re.search(rf"^  {lib}\s+\S", out, re.M), lib
    broken = plugin_line(out, "broken")
    assert "ember-broken" in broken and "failed" in broken
    assert "import failed: ImportError: ember_broken needs libbroken.so.3, which is not installed" in out
    future = plugin_line(out, "future")
    assert "ember-future" in future and "failed" in future
    assert "written for Ember plugin API 2.0" in out and f"speaks API {hookspecs.API_VERSION}" in out
    toy = plugin_line(out, "toy")
    assert "loaded" in toy and "toy, toy_offline" in toy and "ember_register_backends" in toy
    assert "ember_info" in toy and "toy: numpy" in out  # the plugin's ember_info facts
    assert re.search(r"^  cpu\s+ember-cpu\s+\S+\s+loaded", out, re.M)
    assert "Traceback" not in out and "--traceback" in out


def test_info_devices_and_coverage():
    out = ember_info()
    devices = out.split("\nDevices\n")[1].split("\n\n")[0]
    assert re.search(r"^  cpu\s+available\s+1\s", devices, re.M)
    assert re.search(r"^  toy\s+available\s+1\s", devices, re.M)
    assert re.search(r"^  toy_offline\s+unavailable\s+0\s.*toy_offline is never available", devices, re.M)
    # mps: on MLX (Metal or its CPU build), else unavailable with the reason
    assert re.search(r"^  mps\s+(available\s+1\s.*mlx \S+ on|unavailable\s+0\s.*MLX is not installed)", devices, re.M)
    coverage = out.split("\nOperator coverage")[1]
    n = len(fresh_operators())
    cpu = re.search(r"^  cpu\s+(\d+)\s+(\d+)\s+(\d+)", coverage, re.M)
    toy = re.search(r"^  toy\s+(\d+)\s+(\d+)\s+(\d+)\s+(.*)$", coverage, re.M)
    assert cpu and toy
    assert sum(map(int, cpu.groups())) == n and cpu.group(3) == "0"
    assert sum(map(int, toy.groups()[:3])) == n and toy.group(1) == "5"  # fill_, copy_, add, mul, neg
    assert "exp" in toy.group(4)


def test_info_traceback_flag():
    out = ember_info("--traceback")
    assert "Traceback (most recent call last)" in out
    assert "ember_broken.py" in out and "raise ImportError" in out


def test_info_ops_lists_every_operator():
    out = ember_info("--ops", plugins=("toy",))
    ops = out.split("\nOperators (")[1]
    header = ops.splitlines()[1].split()
    assert header[:3] == ["NAME", "KIND", "FAMILY"] and "cpu" in header and "toy" in header
    assert header[-1] == "SCHEMA"
    cpu, toy = header.index("cpu"), header.index("toy")
    table, note = ops.split("\n\n", 1)
    rows = {line.split()[0]: line.split() for line in table.splitlines()[2:] if line.strip()}
    assert set(rows) == fresh_operators()
    from ember.ops.prims import REQUIRED
    assert f"{len(REQUIRED)} are prims, required of every backend: {', '.join(sorted(REQUIRED))}" in note
    assert rows["add"][1] == "prim" and rows["add"][cpu] == "K" and rows["add"][toy] == "K"
    assert rows["exp"][toy] == "-"
    assert rows["full"][1] == "composite" and rows["full"][toy] == "D"
    assert rows["view"][1] == "view"
    schema = str(ember.dispatch.get("full").schema)
    assert schema in out


def test_failed_plugin_asked_for_by_name_fails_loudly():
    check("""
        import ember, pytest
        with pytest.raises(ember.PluginError) as e:
            ember.zeros(2, device="future")
        msg = str(e.value)
        assert "future" in msg and "ember-future" in msg and "API 2.0" in msg and "ember info" in msg, msg
    """, ALL_FAKES)


# -- the toy backend: kernels, decompositions, and neither -------------------------------

def test_toy_backend_kernels_and_decompositions():
    out = check("""
        import json, numpy as np, pytest, ember
        from ember.dispatch import get
        x = ember.tensor([[1.0, 2.0], [3.0, 4.0]], device="toy")
        assert str(x.device) == "toy:0" and x.dtype is ember.float32
        r = {}
        r["add"] = (x + x).tolist()                   # toy kernels
        r["mul"] = (x * 3).tolist()
        r["neg"] = (-x).tolist()
        # no toy kernel: these run through their decompositions (empty + fill_, add + mul, ...)
        for name in ("full", "addcmul", "clone", "eye"):
            assert get(name).implementation("toy") == "decomposition", name
        assert get("add").implementation("toy") == "kernel"
        r["full"] = ember.full((2, 2), 2.5, device="toy").tolist()
        r["addcmul"] = ember.addcmul(x, x, x).tolist()
        r["clone_t"] = x.t().clone().tolist()
        r["eye"] = ember.eye(2, device="toy").tolist()
        r["to_cpu"] = x.to("cpu").numpy().tolist()
        r["device"] = str(ember.full((1,), 1.0, device="toy").device)
        print(json.dumps(r))
    """, ("toy",))
    r = json.loads(out)
    assert r["add"] == [[2, 4], [6, 8]] and r["mul"] == [[3, 6], [9, 12]] and r["neg"] == [[-1, -2], [-3, -4]]
    assert r["full"] == [[2.5, 2.5], [2.5, 2.5]]
    assert r["addcmul"] == [[2, 6], [12, 20]]
    assert r["clone_t"] == [[1, 3], [2, 4]] and r["eye"] == [[1, 0], [0, 1]]
    assert r["to_cpu"] == [[1, 2], [3, 4]] and r["device"] == "toy:0"


def test_toy_missing_operator_names_op_backend_and_plugin():
    check("""
        import pytest, ember
        x = ember.ones(3, device="toy")
        with pytest.raises(ember.NotImplementedForBackend) as e:
            ember.exp(x)
        msg = str(e.value)
        assert "'exp'" in msg and "'toy'" in msg and "ember-toy" in msg, msg
        assert "add" in msg and "fill_" in msg, msg   # what the backend does implement
    """, ("toy",))


def test_toy_errors_across_devices_and_unavailable_device():
    check("""
        import pytest, ember
        with pytest.raises(ember.DeviceMismatchError, match=r"toy:0.*cpu|cpu.*toy:0"):
            ember.ones(2, device="toy") + ember.ones(2)
        with pytest.raises(ember.BackendUnavailableError) as e:
            ember.zeros(2, device="toy_offline")
        assert "toy_offline is never available" in str(e.value) and "ember-toy" in str(e.value)
        with pytest.raises(ember.UnknownDeviceError, match=r"toy:3 is out of range.*1 device"):
            ember.zeros(2, device="toy:3")
    """, ("toy",))


# -- switches --------------------------------------------------------------------------

def test_allowlist_disables_the_others():
    env = {"EMBER_PLUGINS": "cpu"}
    out = ember_info(env=env)
    for name in ALL_FAKES:
        line = plugin_line(out, name)
        assert "disabled" in line, line
    assert "not in EMBER_PLUGINS=cpu" in out
    assert re.search(r"^  cpu\s+ember-cpu\s+\S+\s+loaded", out, re.M)
    assert "ImportError" not in out  # a disabled plugin is never imported
    check("""
        import sys, pytest, ember
        assert (ember.ones(2) + 1).tolist() == [2.0, 2.0]
        with pytest.raises(ember.PluginError, match=r"disabled.*EMBER_PLUGINS"):
            ember.ones(2, device="toy")
        assert "ember_toy" not in sys.modules and "ember_broken" not in sys.modules
    """, ALL_FAKES, env)


def test_autoload_off_loads_nothing():
    env = {"EMBER_PLUGINS_AUTOLOAD": "0"}
    out = ember_info(env=env)
    assert "EMBER_PLUGINS_AUTOLOAD=0" in out
    plugins = out.split("\nPlugins (")[1].split("\n\n")[0]
    assert re.search(r"^  meta\s+ember-core", plugins, re.M)
    for name in ("cpu", *ALL_FAKES):
        assert not re.search(rf"^  {name} ", plugins, re.M), name
    check("""
        import sys, pytest, ember
        with pytest.raises(ember.BackendNotInstalledError, match="EMBER_PLUGINS_AUTOLOAD"):
            ember.zeros(2)
        with pytest.raises(ember.UnknownDeviceError, match="EMBER_PLUGINS_AUTOLOAD"):
            ember.zeros(2, device="toy")
        assert ember.zeros(2, 3, device="meta").shape == (2, 3)   # core's own plugin is there
        assert not any(m.startswith(("ember_cpu", "ember_toy", "ember_broken")) for m in sys.modules)
        # a plugin can still be registered by hand
        import ember_cpu.plugin
        rec = ember.plugins.register_plugin(ember_cpu.plugin, name="cpu")
        assert rec.status == "loaded" and rec.distribution == "ember-cpu", rec
        assert ember.ones(2).tolist() == [1.0, 1.0]
    """, ALL_FAKES, env)


def test_plugins_load_lazily():
    check("""
        import sys, ember
        assert "ember_cpu" not in sys.modules and "ember_toy" not in sys.modules
        ember.zeros(2)                       # first use of cpu loads ember_cpu, and only it
        assert "ember_cpu" in sys.modules
        assert "ember_toy" not in sys.modules and "ember_broken" not in sys.modules
        ember.zeros(2, device="toy")
        assert "ember_toy" in sys.modules
    """, ALL_FAKES)


# -- errors for devices that are not there ---------------------------------------------------

def _installed(dist: str) -> bool:
    try:
        metadata.distribution(dist)
        return True
    except metadata.PackageNotFoundError:
        return False


@pytest.mark.skipif(_installed("ember-rocm"), reason="ember-rocm is installed here")
def test_catalogued_backend_not_installed_says_how_to_install():
    with pytest.raises(ember.BackendNotInstalledError) as e:
        ember.zeros(2, device="rocm")
    msg = str(e.value)
    assert "'rocm'" in msg and "ember-rocm" in msg and "pip install" in msg, msg
    assert "planned" not in msg, "rocm has code now: " + msg
    with pytest.raises(ember.BackendNotInstalledError, match="ember-rocm"):
        ember.tensor([1.0]).to("rocm:1")


def test_install_hint_names_only_what_exists(tmp_path, monkeypatch):
    from ember.plugins import catalogue as C
    (tmp_path / "backends" / "here").mkdir(parents=True)
    (tmp_path / "backends" / "here" / "pyproject.toml").write_text("[project]\nname = 'ember-here'\n")
    (tmp_path / "plugins.toml").write_text(
        '[backend.here]\ndistribution = "ember-here"\npath = "backends/here"\n\n'
        '[backend.gone]\ndistribution = "ember-gone"\npath = "backends/gone"\n\n'
        '[backend.later]\ndistribution = "ember-later"\npath = "backends/later"\nplanned = true\n')
    monkeypatch.setenv("EMBER_PLUGINS_CATALOGUE", str(tmp_path / "plugins.toml"))
    C.catalogue.cache_clear()
    try:
        assert C.install_hint("here") == f"install it with: pip install {tmp_path / 'backends' / 'here'}"
        assert C.install_hint("gone") == "install it with: pip install ember-gone"   # no checkout: by name
        assert "pip install" not in C.install_hint("later") and "planned" in C.install_hint("later")
    finally:
        monkeypatch.delenv("EMBER_PLUGINS_CATALOGUE")
        C.catalogue.cache_clear()


def test_unknown_device_lists_known_types():
    with pytest.raises(ember.UnknownDeviceError) as e:
        ember.zeros(2, device="foo")
    msg = str(e.value)
    assert "'foo'" in msg
    for known in ("cpu", "cuda", "meta", "xla"):
        assert known in msg, msg
    assert not isinstance(e.value, ember.BackendNotInstalledError)


# -- registration rules -------------------------------------------------------------------------

def test_second_kernel_for_same_operator_and_key_is_an_error():
    ember.zeros(1)  # make sure cpu is registered
    from ember.dispatch import keys
    op = ember.dispatch.get("add")
    key = keys.backend_key("cpu")
    before = op.kernels[key.index]
    with pytest.raises(ember.RegistrationError) as e:
        op.register(key, lambda a, b, out: None)
    assert "'add'" in str(e.value) and key.name in str(e.value)
    assert op.kernels[key.index] is before
    with pytest.raises(ember.RegistrationError, match="no operator named 'no_such_op'"):
        ember.dispatch.register_kernel("no_such_op", key, lambda: None)


def test_plugins_that_break_registration_rules_are_recorded_and_rolled_back():
    check("""
        import ember
        from ember.plugins import API_VERSION, hookimpl
        from ember.plugins.manager import records

        class DuplicateKernel:
            @hookimpl
            def ember_register_kernels(self, register_kernel):
                register_kernel("add", "cpu", lambda a, b, out: None)

        class DuplicateDevice:
            @hookimpl
            def ember_register_backends(self, register):
                register("cpu", api_version=API_VERSION, runtime=object(), kernels={})

        class UnknownOperator:
            @hookimpl
            def ember_register_backends(self, register):
                register("extra", api_version=API_VERSION, runtime=object(), kernels={"no_such_op": len})

        ember.zeros(1)
        for plugin, words in ((DuplicateKernel(), ["RegistrationError", "'add'", "already has a kernel"]),
                              (DuplicateDevice(), ["RegistrationError", "'cpu'", "already registered by ember-cpu"]),
                              (UnknownOperator(), ["RegistrationError", "unknown operators: no_such_op"])):
            rec = ember.plugins.register_plugin(plugin, name=type(plugin).__name__)
            assert rec.status == "failed", rec
            for w in words:
                assert w in rec.error, (w, rec.error)
        from ember.device import registered_backends
        assert "extra" not in {b.device_type for b in registered_backends()}
        assert (ember.ones(2) + 1).tolist() == [2.0, 2.0]        # cpu's kernel is untouched
        text = ember.info()
        assert "DuplicateKernel" in text and "already has a kernel" in text
    """)


def test_ember_register_kernels_hook_adds_kernels_to_another_plugins_backend():
    out = check("""
        import json, ember
        from ember.plugins import hookimpl

        class Accelerate:
            @hookimpl
            def ember_register_kernels(self, register_kernel):
                import numpy as np, ember_toy
                def exp(x, out):
                    return ember_toy._wrap(np.exp(ember_toy._np(x)), x)
                register_kernel("exp", "toy", exp)

        x = ember.ones(2, device="toy")
        rec = ember.plugins.register_plugin(Accelerate(), name="accelerate")
        assert rec.status == "loaded" and rec.hooks == ["ember_register_kernels"], rec
        print(json.dumps(ember.exp(x).tolist()))
    """, ("toy",))
    assert json.loads(out) == pytest.approx([2.7182817, 2.7182817])


def test_ember_register_comm_backends_hook_registers_and_rolls_back():
    out = check("""
        import json
        import ember
        from ember.plugins import API_VERSION, hookimpl
        from ember.plugins.comm import comm_backends

        class Pigeon:
            @hookimpl
            def ember_register_comm_backends(self, register):
                register("pigeon", lambda rank, world_size, timeout, init_method: None,
                         api_version=API_VERSION, devices="toy")

        class HalfBroken:
            @hookimpl
            def ember_register_comm_backends(self, register):
                register("raven", lambda *a: None, api_version=API_VERSION)
                register("raven", lambda *a: None, api_version=API_VERSION)   # a duplicate: refused

        rec = ember.plugins.register_plugin(Pigeon(), name="pigeon")
        bad = ember.plugins.register_plugin(HalfBroken(), name="half-broken")
        print(json.dumps([rec.status, rec.comm_backends, comm_backends["pigeon"].devices,
                          bad.status, "already registered" in bad.error, "raven" in comm_backends]))
    """)
    assert json.loads(out) == ["loaded", ["pigeon"], ["toy"], "failed", True, False]


# -- meta-tests: the contract is documented and exercised ------------------------------------------

def _hookspecs():
    return {name: fn for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
            if hasattr(fn, "ember_spec")}


def test_every_hook_has_a_docstring():
    specs = _hookspecs()
    assert {"ember_register_backends", "ember_register_kernels", "ember_info"} <= set(specs)
    for name, fn in specs.items():
        doc = inspect.getdoc(fn) or ""
        assert len(doc) > 40, f"hook {name} needs a docstring that documents it"


def test_every_hook_is_tested_and_documented():
    here = Path(__file__).read_text()
    fixtures = "".join(p.read_text() for p in FIXTURES.rglob("*.py"))
    guide = HERE.parent / "docs" / "writing-a-backend.md"
    for name in _hookspecs():
        assert f"def {name}(" in here + fixtures, f"no test or fixture implements hook {name}"
        if guide.exists():
            assert name in guide.read_text(), f"docs/writing-a-backend.md does not mention hook {name}"
