"""Generating, running and judging fuzz cases for many operators, and the summary table.

Cases of one operator come from a Hypothesis run seeded with (seed, operator name), so a failure
reproduces alone: ``python -m tests.fuzz --seed S --examples N --ops OP --case K``."""

from __future__ import annotations

import os
import time
import zlib
from dataclasses import dataclass, field

from .judge import FAILURES, judge
from .pool import Pool
from .torch_ops import SKIP, torch_callable

DEFAULT_SEED = 20261206
CASE_TIMEOUT = 30.0


def default_seed() -> int:
    return int(os.environ.get("EMBER_FUZZ_SEED", DEFAULT_SEED))


def operators(names=None) -> tuple[list[str], dict[str, str]]:
    """(operators to fuzz, {skipped operator: reason}) among ``names`` (default: the whole registry)."""
    from ember.dispatch import registry
    names = sorted(registry) if not names else list(names)
    unknown = [n for n in names if n not in registry]
    if unknown:
        raise SystemExit(f"unknown operator(s) {unknown}; `ember info --ops` lists them")
    skipped = {n: SKIP[n] for n in names if n in SKIP}
    skipped.update({n: "no torch counterpart found" for n in names if n not in SKIP and torch_callable(n) is None})
    return [n for n in names if n not in skipped], skipped


def generate(name: str, seed: int, examples: int) -> list:
    """The cases Hypothesis draws for operator ``name`` (deterministic for a seed)."""
    from ember.dispatch import registry
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed

    from .strategy import cases
    out: list = []

    @hseed(zlib.crc32(f"{seed}/{name}".encode()))
    @settings(max_examples=examples, database=None, deadline=None, phases=(Phase.generate,),
              suppress_health_check=list(HealthCheck), derandomize=False)
    @given(cases(registry[name]))
    def collect(case):
        out.append(case)
    collect()
    return out


@dataclass
class Failure:
    op: str
    index: int
    kind: str
    reason: str
    case: object

    def line(self, seed, examples) -> str:
        return (f"{self.kind}: {self.op} case {self.index}: {self.reason}\n    case: {self.case!r}\n"
                f"    reproduce: python -m tests.fuzz --seed {seed} --examples {examples} --ops {self.op} "
                f"--case {self.index}")


@dataclass
class Report:
    seed: int
    examples: int
    rows: dict = field(default_factory=dict)      # op -> {"cases": n, kind: n}
    failures: list = field(default_factory=list)
    skipped: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return bool(self.failures)

    def table(self) -> str:
        cols = ("cases",) + FAILURES
        head = f"{'operator':<28}" + "".join(f"{c:>13}" for c in cols)
        lines = [head]
        total = dict.fromkeys(cols, 0)
        total_torch = sum(r.get("torch-failed", 0) for r in self.rows.values())
        for op, row in sorted(self.rows.items()):
            for c in cols:
                total[c] += row.get(c, 0)
            if any(row.get(c, 0) for c in FAILURES):
                lines.append(f"{op:<28}" + "".join(f"{row.get(c, 0):>13}" for c in cols))
        lines.append(f"{'total (' + str(len(self.rows)) + ' operators)':<28}" + "".join(
            f"{total[c]:>13}" for c in cols))
        lines.append(f"skipped operators: {len(self.skipped)} "
                     + ", ".join(f"{k} ({v})" for k, v in sorted(self.skipped.items())))
        lines.append(f"torch itself crashed or hung on {total_torch} cases (not counted against Ember)")
        lines.append(f"seed {self.seed}, {self.examples} examples per operator, {self.seconds:.0f} s")
        return "\n".join(lines)


def run(names=None, *, seed=None, examples=20, jobs=2, timeout=CASE_TIMEOUT, case_index=None,
        budget=None, progress=None) -> Report:
    """Fuzz the operators; ``budget`` (seconds) stops generating new operators once spent."""
    from ember.dispatch import registry
    seed = default_seed() if seed is None else seed
    ops, skipped = operators(names)
    report = Report(seed, examples, skipped=skipped)
    t0 = time.monotonic()
    with Pool(jobs) as pool:
        for name in ops:
            if budget is not None and time.monotonic() - t0 > budget:
                report.skipped[name] = "time budget spent"
                continue
            batch = generate(name, seed, examples)
            picked = list(enumerate(batch)) if case_index is None else [(case_index, batch[case_index])]
            row = report.rows.setdefault(name, {"cases": 0})
            family = registry[name].family
            for j, status, payload in pool.map([c for _, c in picked], timeout):
                i, case = picked[j]
                row["cases"] += 1
                if status == "done":
                    kind, reason = judge(name, family, *payload, case=case)
                elif status in ("torch-crash", "torch-hang"):
                    kind, reason = "ok", ""   # torch's defect (e.g. SIGFPE on INT64_MIN // -1)
                    row["torch-failed"] = row.get("torch-failed", 0) + 1
                elif status == "crash":
                    kind, reason = "crash", f"the worker died (exit code {payload})"
                elif status == "hang":
                    kind, reason = "hang", f"no answer within {payload:.0f} s"
                else:
                    kind, reason = "harness", str(payload)
                if kind != "ok":
                    row[kind] = row.get(kind, 0) + 1
                    report.failures.append(Failure(name, i, kind, reason, case))
            if progress:
                progress(name, row)
    report.seconds = time.monotonic() - t0
    return report
