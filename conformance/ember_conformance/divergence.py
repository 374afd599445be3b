"""``--compare OTHER``: where two backends really differ on the same cases.

A divergence is a case that ran on both backends and either passed on one and
failed on the other, or gave outputs that differ by more than the suite's own
tolerance allows (compare.py, with twice the tolerance: each backend may be
that far from the reference on its own side). Noise is kept out and counted
apart: cases one side skipped, marked n/a or does not have, and the values of
operators that two correct backends need not share (UNDEFINED_VALUES).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .compare import compare
from .opsamples import RANDOM

#: Two backends that each lie within the tolerance of the reference may be twice that apart.
SLACK = 2.0

_RANDOM_REASON = ("random: drawn from the global generator, whose state at this case depends on every "
                  "draw before it in the run (the rng/* cases check identity with cpu under a fixed seed)")

#: Operators whose values are undefined or nondeterministic, and why: their cases are compared on
#: status only (pass on one backend and fail on the other is still a divergence).
UNDEFINED_VALUES = {
    "empty": "uninitialised memory: the values are whatever the allocator handed out",
    **{name: _RANDOM_REASON for name in RANDOM},
}

#: Statuses of a case that ran: its outputs can be compared.
RAN = ("pass", "fail")


@dataclass
class Comparison:
    """The result of comparing run ``a`` with run ``b``; ``divergences`` is what counts."""

    backends: tuple
    divergences: list = field(default_factory=list)   # {"id", "kind", a: status, b: status, "why", ...}
    coverage: list = field(default_factory=list)      # cases not run on both: {"id", a: status, b: status}
    compared: int = 0                                 # cases whose outputs were compared
    failed_on_both: int = 0                           # failed on both sides with no outputs to compare
    undefined: dict = field(default_factory=dict)     # op -> cases whose values were not compared

    def counts(self) -> dict:
        kinds = {"status": 0, "values": 0}
        for d in self.divergences:
            kinds[d["kind"]] = kinds.get(d["kind"], 0) + 1
        return {"divergences": len(self.divergences), **{f"divergences_{k}": n for k, n in kinds.items()},
                "outputs_compared": self.compared, "failed_on_both_without_outputs": self.failed_on_both,
                "values_undefined": sum(self.undefined.values()), "not_run_on_both": len(self.coverage)}

    def as_json(self) -> dict:
        return {"backends": list(self.backends), "counts": self.counts(), "divergences": self.divergences,
                "not_run_on_both": self.coverage,
                "values_not_compared": {op: {"cases": n, "reason": UNDEFINED_VALUES[op]}
                                        for op, n in sorted(self.undefined.items())}}

    def lines(self, limit=30) -> list[str]:
        """The text report; its count is the length of ``divergences``, as in the JSON."""
        a, b = self.backends
        c = self.counts()
        out = [f"  {c['divergences']} cases diverge between {a} and {b} ({c['divergences_status']} pass on one "
               f"and fail on the other, {c['divergences_values']} give other values)",
               f"  compared by value: {c['outputs_compared']} cases; not compared: "
               f"{c['not_run_on_both']} did not run on both (skipped, n/a or absent on one side), "
               f"{c['values_undefined']} have undefined values ({', '.join(sorted(self.undefined)) or 'none'}), "
               f"{c['failed_on_both_without_outputs']} failed on both without outputs"]
        for d in self.divergences[:limit]:
            out.append(f"    {d['id']}: {d[a]} on {a}, {d[b]} on {b}: {d['why'][:160]}")
        if len(self.divergences) > limit:
            out.append(f"    ... and {len(self.divergences) - limit} more (see the compare JSON with --report)")
        return out


def compare_runs(run_a, run_b) -> Comparison:
    """Compare two runs of the same cases, case by case (by id)."""
    a, b = run_a.backend, run_b.backend
    if a == b:
        a, b = f"{a} (1)", f"{b} (2)"
    cmp = Comparison((a, b))
    by_id = {r.id: r for r in run_b.results}
    seen = set()
    for ra in run_a.results:
        seen.add(ra.id)
        _one(cmp, ra, by_id.get(ra.id))
    for rb in run_b.results:
        if rb.id not in seen:
            cmp.coverage.append({"id": rb.id, a: "absent", b: rb.status})
    return cmp


def _one(cmp: Comparison, ra, rb) -> None:
    a, b = cmp.backends
    if rb is None or ra.status not in RAN or rb.status not in RAN:
        cmp.coverage.append({"id": ra.id, a: ra.status, b: rb.status if rb is not None else "absent"})
        return
    entry = {"id": ra.id, a: ra.status, b: rb.status}
    if ra.status != rb.status:
        failed = ra if ra.status == "fail" else rb
        cmp.divergences.append({**entry, "kind": "status",
                                "why": f"{a if failed is ra else b}: {failed.reason[:300]}"})
        return
    if ra.op in UNDEFINED_VALUES:
        cmp.undefined[ra.op] = cmp.undefined.get(ra.op, 0) + 1
        return
    if ra.outputs is None or rb.outputs is None:
        cmp.failed_on_both += ra.status == "fail"
        return
    cmp.compared += 1
    why = differ(ra.outputs, rb.outputs, ra.op)
    if why is not None:
        cmp.divergences.append({**entry, "kind": "values", **why, "why": f"{why['why']} (got: {b}, expected: {a})"})


def differ(xs, ys, op=None) -> dict | None:
    """What differs between two lists of read-back outputs: None when they agree within SLACK times
    the tolerance of their dtype (compare.py); else {"why", "output", "max_error", "first_mismatch"}."""
    from ember import dtypes as D
    if len(xs) != len(ys):
        return {"why": f"{len(xs)} outputs vs {len(ys)}"}
    for i, (x, y) in enumerate(zip(xs, ys)):
        if x is None or y is None:
            continue
        x, y = np.asarray(x), np.asarray(y)
        if x.dtype != y.dtype or x.shape != y.shape:
            return {"why": f"output {i}: {x.dtype} {x.shape} vs {y.dtype} {y.shape}", "output": i}
        try:
            dt = D.from_numpy_dtype(x.dtype)
        except Exception:  # noqa: BLE001  (not an ember dtype: compare exactly)
            if np.array_equal(x, y):
                continue
            return {"why": f"output {i}: the values differ", "output": i}
        m = compare(y, x, dt, op, slack=SLACK)
        if m is not None:
            return {"why": f"output {i}: {m.message}", "output": i, "max_error": m.max_error,
                    "first_mismatch": m.first_index}
    return None
