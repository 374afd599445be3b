"""The benchmarks' shared helpers (bench/_common.py), their ratios, and the examples' one device rule."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import _common
    return _common


@pytest.fixture
def examples(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "examples"))
    import _device
    return _device


def _env():
    e = {k: v for k, v in os.environ.items() if not k.startswith("EMBER_")}
    e["PYTHONDONTWRITEBYTECODE"] = "1"
    return e


def test_ratio_is_of_the_printed_medians(bench):
    samples = bench.interleave({"a": lambda: None, "b": lambda: None}, repeat=3, number=2)
    assert set(samples) == {"a", "b"} and all(len(v) == 3 for v in samples.values())
    assert bench.medians({"a": [3.0, 1.0, 2.0], "b": [4.0, 8.0, 6.0]}) == {"a": 2.0, "b": 6.0}
    assert bench.ratio(2.0, 6.0) == pytest.approx(1 / 3)
    assert bench.ratio(None, 1.0) is None and bench.ratio(1.0, 0) is None
    assert bench.fmt_ratio(None) == "n/a" and bench.fmt_ratio(0.5) == "0.50x"


@pytest.mark.parametrize("v, text", [(2.6413, "2.641"), (0.92161, "0.9216"), (0.0902612, "0.09026"),
                                     (1234.56, "1235"), (12.0, "12.00"), (None, "n/a")])
def test_fmt_keeps_four_significant_digits(bench, v, text):
    assert bench.fmt(v) == text


def test_interleave_takes_turns(bench):
    order = []
    bench.interleave({"a": lambda: order.append("a"), "b": lambda: order.append("b")}, repeat=2, number=1)
    assert order == ["a", "b", "a", "b"]


def test_overhead_ratio_matches_its_medians(tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "overhead.json"
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "overhead.py"), "--repeat", "1", "--number", "5",
                        "--json", str(out)], capture_output=True, text=True, env=_env(), timeout=300)
    assert r.returncode == 0, r.stderr
    assert "threads: 1 (numpy BLAS 1, torch 1)" in r.stdout
    report = json.loads(out.read_text())
    for row in report["results"]:
        for e, t, r in (("ember_us", "torch_us", "ember_over_torch"),
                        ("ember_grad_us", "torch_grad_us", "grad_ember_over_torch")):
            if row[e] is not None and row[t] is not None:
                assert row[r] == pytest.approx(row[e] / row[t], rel=1e-12)
    assert sum(row["ember_grad_us"] is not None for row in report["results"]) >= 5   # the tape columns ran


def test_linalg_fft_ratios_match_their_medians(tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "linalg_fft.json"
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "linalg_fft.py"), "--n", "32", "--repeat", "1",
                        "--number", "1", "--json", str(out)], capture_output=True, text=True, env=_env(), timeout=300)
    assert r.returncode == 0, r.stderr
    report = json.loads(out.read_text())
    assert {row["case"] for row in report["results"]} >= {"solve", "svd", "eigh"}
    for row in report["results"]:
        assert row["ratio"] == pytest.approx(row["ember_ms"] / row["torch_ms"], rel=1e-12)


@pytest.mark.parametrize("model", ["lstm", "gpt"])
def test_train_step_runs_the_language_models(model):
    pytest.importorskip("torch")
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "train_step.py"), "--only", model, "--samples", "1"],
                       capture_output=True, text=True, env=_env(), timeout=300)
    assert r.returncode == 0, r.stderr
    line = r.stdout.strip().splitlines()[-1]
    ember_ms, torch_ms, ratio = (float(line.split()[i].rstrip("x")) for i in (-7, -4, -1))
    assert ratio == pytest.approx(ember_ms / torch_ms, abs=0.0051)   # printed to two decimals


def test_import_time_table(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import import_time
    text = import_time.table({"python -c pass": 0.02, "ember": 0.3, "numpy": 0.1, "torch": 1.5}, 7, 1)
    ember = next(line for line in text.splitlines() if line.startswith("ember "))
    assert "0.300" in ember and "3.00x" in ember and "0.20x" in ember
    assert "goal <= 0.3 s (met)" in text


def test_examples_share_one_device_rule(examples):
    import char_transformer
    import demo
    import train_digits
    assert demo.best_device is train_digits.best_device is char_transformer.best_device is examples.best_device


def test_host_backends_are_not_accelerators(examples):
    import ember
    from ember.device import get_backend, registered_backends
    ember.plugins.load_all()
    cpu = get_backend("cpu")
    assert examples.runs_on_host(cpu) and not examples.is_accelerator(cpu)
    best = examples.best_device()
    assert best in {b.device_type for b in registered_backends()} | {"cpu"}
    assert best != "meta"
    if best != "cpu":
        assert not examples.runs_on_host(get_backend(best))
    xla = next((b for b in registered_backends() if b.device_type == "xla"), None)
    if xla is not None and xla.runtime.is_available():
        import jax
        if jax.devices()[0].platform == "cpu":   # XLA's CPU client computes on the host
            assert examples.runs_on_host(xla) and best != "xla"
