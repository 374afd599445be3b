"""The bounded fuzz run: every registered operator against PyTorch, each case in a worker subprocess
(tests/fuzz). Fixed seed (EMBER_FUZZ_SEED overrides it), fixed number of cases per operator; a
failure prints its case and the command that replays it. The long run:
``python -m tests.fuzz --seed 123 --examples 200``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("hypothesis")
sys.path.insert(0, str(Path(__file__).parent))

from fuzz.case import Arr, Case  # noqa: E402
from fuzz.judge import judge, values_differ  # noqa: E402
from fuzz.pool import Pool  # noqa: E402
from fuzz.run import default_seed, generate, operators, run  # noqa: E402

#: Cases per operator in the bounded run (35,000 cases: about 2 minutes on two idle cores).
EXAMPLES = int(os.environ.get("EMBER_FUZZ_EXAMPLES", 100))


def test_fuzz_every_operator_against_torch(capsys):
    seed = default_seed()
    report = run(seed=seed, examples=EXAMPLES, jobs=2)
    with capsys.disabled():
        print(f"\nember fuzz: seed {seed}, {EXAMPLES} cases per operator (EMBER_FUZZ_SEED overrides)")
        print(report.table())
    ops, skipped = operators()
    assert len(report.rows) == len(ops) and len(ops) + len(skipped) > 300
    assert not report.failures, "\n".join(f.line(seed, EXAMPLES) for f in report.failures[:20])


def test_cases_are_deterministic_and_varied():
    a = generate("add", 7, 30)
    b = generate("add", 7, 30)
    assert [repr(c) for c in a] == [repr(c) for c in b]
    arrs = [x for c in a for x in c.args if isinstance(x, Arr)]
    assert {x.layout for x in arrs} >= {"contiguous", "expanded"}
    assert any(x.values.ndim == 0 for x in arrs) and any(x.values.size == 0 for x in arrs)
    assert any(np.isnan(x.values).any() or np.isinf(x.values).any() for x in arrs if x.values.dtype.kind == "f")


def test_a_crash_and_a_hang_are_caught_and_the_worker_replaced():
    ok = Case("add", (Arr(np.ones(3, np.float32)), Arr(np.ones(3, np.float32))))
    cases = [Case("__crash__", ()), ok, Case("__hang__", ()), ok]
    with Pool(1) as pool:
        got = sorted(pool.map(cases, timeout=10), key=lambda r: r[0])
    assert [g[1] for g in got] == ["crash", "done", "hang", "done"]
    assert judge("add", "binary", *got[1][2]) == ("ok", "")


def test_judge_flags_wrong_values_errors_and_foreign_exceptions():
    t = ("T", "float32", (2,), np.array([1.0, np.nan], np.float32))
    ok = ("ok", [t], [])
    assert judge("neg", "unary", ok, ok) == ("ok", "")
    off = ("ok", [("T", "float32", (2,), np.array([1.1, np.nan], np.float32))], [])
    assert judge("neg", "unary", off, ok)[0] == "wrong"
    assert judge("neg", "unary", ("E", "ValueError", False, "boom", ""), ok)[0] == "non-ember"
    assert judge("neg", "unary", ("E", "ShapeError", True, "bad", ""), ok)[0] == "ember-raises"
    assert judge("neg", "unary", ok, ("E", "RuntimeError", False, "size mismatch", ""))[0] == "wrong"
    assert judge("neg", "unary", ("E", "ShapeError", True, "x", ""), ("E", "RuntimeError", False, "y", "")) \
        == ("ok", "")
    assert values_differ(np.array([np.inf]), np.array([-np.inf]), "float64", "unary")
