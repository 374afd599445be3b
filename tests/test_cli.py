"""The ``ember`` command (``ember info``), in process and as a real command."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import ember
from ember import cli


def _env():
    e = {k: v for k, v in os.environ.items() if not k.startswith("EMBER_")}
    e["PYTHONDONTWRITEBYTECODE"] = "1"
    return e


def test_info_sections(capsys):
    assert cli.main(["info", "--plain"]) == 0
    out = capsys.readouterr().out
    for section in ("Ember\n", "\nPlugins (", "\nDevices\n", "\nOperator coverage"):
        assert section in out, section
    assert re.search(rf"^  ember-core\s+{re.escape(ember.__version__)}$", out, re.M)
    assert re.search(r"^  Python\s+\S+ 3\.\d+", out, re.M)
    import numpy
    import pluggy
    assert re.search(rf"^  numpy\s+{re.escape(numpy.__version__)}$", out, re.M)
    assert re.search(rf"^  pluggy\s+{re.escape(pluggy.__version__)}$", out, re.M)
    assert re.search(r"^  meta\s+ember-core\s+\S+\s+loaded\s+meta\s+ember_register_backends$", out, re.M)
    assert re.search(r"^  cpu\s+ember-cpu\s+\S+\s+loaded\s+cpu\s+", out, re.M)
    assert re.search(r"^  cpu\s+available\s+1\s+ember-cpu", out, re.M)
    assert "Operators (" not in out  # only with --ops


def _backend(device_type):
    from ember.device import get_backend
    return get_backend(device_type)


def test_info_coverage_counts_match_the_registry(capsys):
    cli.main(["info"])
    out = capsys.readouterr().out
    cov = out.split("\nOperator coverage")[1]
    n = len(ember.dispatch.registry)
    for backend in ("cpu", "meta"):
        m = re.search(rf"^  {backend}\s+(\d+)\s+(\d+)\s+(\d+)", cov, re.M)
        assert m, backend
        k, d, missing = map(int, m.groups())
        assert k + d + missing == n
        # (test_plugins checks, in a fresh process, that nothing is missing on cpu)
        assert missing == sum(cli.implementation(op, _backend(backend)) == "missing"
                              for op in ember.dispatch.registry.values())
    k_cpu = int(re.search(r"^  cpu\s+(\d+)", cov, re.M).group(1))
    assert k_cpu == sum(op.implementation("cpu") == "kernel" for op in ember.dispatch.registry.values())


def test_info_ops(capsys):
    cli.main(["info", "--ops"])
    out = capsys.readouterr().out
    table = out.split("\nOperators (")[1]
    assert table.startswith(f"{len(ember.dispatch.registry)})")
    for name, op in ember.dispatch.registry.items():
        line = re.search(rf"^  {re.escape(name)} .*$", table, re.M)
        assert line, name
        assert str(op.schema) in line.group(0)
        kind = "prim" if op.is_prim else "view" if op.is_view else "composite"
        assert line.group(0).split()[1] == kind


def test_collect_facts():
    facts = cli.collect(ops=True)
    names = {p["name"]: p for p in facts["plugins"]}
    assert names["cpu"]["status"] == "loaded" and names["cpu"]["distribution"] == "ember-cpu"
    assert "ember_register_backends" in names["cpu"]["hooks"]
    devices = {d["type"]: d for d in facts["devices"]}
    assert devices["cpu"]["status"] == "available" and devices["cpu"]["count"] == 1
    from ember.device import registered_backends
    if "cuda" not in {b.device_type for b in registered_backends()}:
        assert devices["cuda"]["status"] == "not installed" and "backends/cuda" in devices["cuda"]["reason"]
    ops = {o["name"]: o for o in facts["ops"]}
    assert ops["add"]["impl"]["cpu"] == "kernel" and ops["add"]["kind"] == "prim"
    assert ops["view"]["kind"] == "view"
    assert ops["full"]["impl"]["meta"] == "kernel"  # the meta device runs every meta function


def test_info_function_matches_command(capsys):
    text = ember.info()
    cli.main(["info"])
    assert capsys.readouterr().out == text


def test_no_command_prints_help(capsys):
    assert cli.main([]) == 0
    assert "info" in capsys.readouterr().out


def test_unknown_command_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["no-such-command"])
    assert e.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_table_alignment():
    lines = cli._table(("A", "BB", "C"), [("xxx", "y", "last column is ragged"), ("x", "yyyy", "")])
    assert lines == ["  A    BB    C", "  xxx  y     last column is ragged", "  x    yyyy"]


def test_rich_rendering(capsys):
    pytest.importorskip("rich")
    cli._render_rich(cli.collect(ops=True), show_traceback=True)
    out = capsys.readouterr().out
    assert "Plugins" in out and "ember-cpu" in out and "Operator coverage" in out


def test_python_m_ember_info():
    r = subprocess.run([sys.executable, "-m", "ember", "info"], capture_output=True, text=True, env=_env(),
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert "\nDevices\n" in r.stdout and r.stderr == ""


def test_console_script():
    exe = Path(sys.executable).parent / ("ember.exe" if os.name == "nt" else "ember")
    if not exe.exists():
        pytest.skip(f"the ember console script is not installed next to {sys.executable}")
    r = subprocess.run([str(exe), "info", "--ops"], capture_output=True, text=True, env=_env(), timeout=120)
    assert r.returncode == 0, r.stderr
    assert "\nOperators (" in r.stdout


# -- the scripts the README points at ----------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent


def test_demo_runs():
    r = subprocess.run([sys.executable, str(ROOT / "examples" / "demo.py"), "--device", "cpu"],
                       capture_output=True, text=True, env=_env(), timeout=120)
    assert r.returncode == 0, r.stderr
    assert "on device 'cpu'" in r.stdout and "back on the host" in r.stdout


def test_overhead_bench_runs(tmp_path):
    out = tmp_path / "overhead.json"
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "overhead.py"), "--repeat", "1", "--number", "5",
                        "--json", str(out)], capture_output=True, text=True, env=_env(), timeout=120)
    assert r.returncode == 0, r.stderr
    assert "ember/torch" in r.stdout
    import json
    report = json.loads(out.read_text())
    ops = [row["op"] for row in report["results"]]
    assert ops == ["add", "mul", "sum", "matmul", "add_ (in-place)", "transpose (view)", "x[1] (index)",
                   "add (broadcast)", "mul (scalar)", "exp", "relu", "mean", "max", "sum(1)", "mean(0)", "max(1)",
                   "linear", "view", "x.t()"]
    assert all(row["ember_us"] > 0 and not row.get("ember_note") for row in report["results"])
    assert all(row["ember_grad_us"] > 0 for row in report["results"] if "in-place" not in row["op"])


def test_readme_shows_the_commands_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text().splitlines()
    cmds = re.findall(r"""^(?:SETUP|TESTS)=(['"])(.*)\1$""", ci, re.M)
    assert len(cmds) == 2
    for _, cmd in cmds:
        assert cmd in readme, cmd
