"""The vendor's path: a backend with only the required prims reaches tier 3 in at most 150 lines.

tests/fixtures/plugins/npy/ember_npy.py is a numpy device with its own memory space, written from
docs/writing-a-backend.md; it gives kernels for exactly ember.ops.prims.REQUIRED and gets every
other operator through core's decompositions. The full certification runs it through every
conformance case, in a subprocess as a vendor would (`ember-conformance --backend npy`).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import ember
from ember.ops.prims import REQUIRED

HERE = Path(__file__).resolve().parent
NPY = HERE / "fixtures" / "plugins" / "npy"
SOURCE = NPY / "ember_npy.py"

pytest.importorskip("ember_conformance")


def _code_lines(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines() if line.strip() and not line.strip().startswith("#"))


def _run(args, timeout):
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMBER_")}
    env["PYTHONPATH"] = os.pathsep.join([str(NPY)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=timeout,
                          cwd=HERE)


def test_required_prims_are_at_most_forty_and_exactly_the_prims():
    prims = {n for n, op in ember.dispatch.registry.items() if op.is_prim and not n.startswith("test_")}
    assert prims == set(REQUIRED), f"prims that are not required: {sorted(prims - set(REQUIRED))}"
    assert len(REQUIRED) <= 40


def test_every_other_former_prim_decomposes():
    for name, op in ember.dispatch.registry.items():
        if not op.is_prim and not op.is_view:
            assert op.decomposition is not None, f"{name} is neither required nor decomposed"


def test_the_vendor_backend_fits_in_150_lines_and_implements_only_the_required_prims():
    assert _code_lines(SOURCE) <= 150, f"{SOURCE.name} has {_code_lines(SOURCE)} code lines"
    sys.path.insert(0, str(NPY))
    try:
        import ember_npy
    finally:
        sys.path.remove(str(NPY))
    assert set(ember_npy.KERNELS) == set(REQUIRED)


def test_the_guide_links_the_vendor_backend_and_lists_the_prims():
    guide = (HERE.parent / "docs" / "writing-a-backend.md").read_text()
    assert "tests/fixtures/plugins/npy/ember_npy.py" in guide
    listed = set(re.findall(r"`(\w+)`", guide))
    assert set(REQUIRED) <= listed, f"the guide does not list {sorted(set(REQUIRED) - listed)}"


def test_scaffold_stubs_only_the_required_prims(tmp_path):
    r = _run(["-m", "ember", "new-backend", "demo", "--dir", str(tmp_path)], timeout=120)
    assert r.returncode == 0, r.stderr
    code = (tmp_path / "ember-demo" / "ember_demo" / "kernels.py").read_text()
    namespace: dict = {}
    exec(compile(code, "kernels.py", "exec"), namespace)
    assert set(namespace["KERNELS"]) == set(REQUIRED)
    assert "philox_random" not in namespace["KERNELS"]   # a stub would shadow its exact decomposition


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    out = tmp_path_factory.mktemp("npy")
    r = _run(["-m", "ember_conformance", "--backend", "npy", "--report", str(out), "-q"], timeout=3600)
    return r, json.loads((out / "npy.json").read_text()) if (out / "npy.json").exists() else None


def test_the_vendor_backend_certifies_at_tier_3(certificate):
    r, cert = certificate
    assert cert is not None, r.stdout + r.stderr
    failed = [c["id"] + ": " + c.get("reason", "") for c in cert["cases"] if c["status"] == "fail"]
    assert not failed, f"{len(failed)} cases failed, e.g. " + "\n".join(failed[:20])
    assert cert["tier_reached"] == 3, r.stdout
    skipped = {c["id"] for c in cert["cases"] if c["status"] == "skip"}
    # Only what the backend does not declare: streams, events and core's allocator statistics.
    assert all(s.startswith("runtime/") for s in skipped), sorted(skipped)
    assert r.returncode == 0, r.stdout + r.stderr
