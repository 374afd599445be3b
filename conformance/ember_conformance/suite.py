"""Running the cases of one backend: skips, strict mode, progress, the tier reached."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

from .cases import TIER_NAMES, Case, Context, all_cases
from .opcase import CaseFailure, CaseSkip

STATUSES = ("pass", "fail", "skip", "n/a")


@dataclass
class Result:
    id: str
    tier: int
    status: str
    reason: str = ""
    op: str | None = None
    dtype: str | None = None
    max_error: float | None = None
    first_mismatch: list | None = None
    seconds: float = 0.0
    outputs: list = field(default=None, repr=False)   # read-back results, kept for --compare only

    def as_json(self) -> dict:
        d = {"id": self.id, "tier": self.tier, "status": self.status}
        if self.reason:
            d["reason"] = self.reason
        if self.op:
            d["op"] = self.op
        if self.dtype:
            d["dtype"] = self.dtype
        if self.status == "fail":
            d["max_error"] = self.max_error
            d["first_mismatch"] = self.first_mismatch
        return d


@dataclass
class Run:
    backend: str
    results: list
    tier_reached: int
    seconds: float
    skips_file: str | None
    strict: bool
    certify: bool
    tiers: tuple

    def counts(self, tier=None) -> dict:
        c = {s: 0 for s in STATUSES}
        for r in self.results:
            if tier is None or r.tier == tier:
                c[r.status] += 1
        return c

    def failures(self) -> list:
        return [r for r in self.results if r.status == "fail"]


def tier_reached(results, tiers=(0, 1, 2, 3)) -> int:
    """The highest tier whose cases, and every lower tier's, have no failure and at least one pass;
    -1 when tier 0 is not reached. Skips (the skips file, a missing feature) and n/a do not block."""
    reached = -1
    for t in sorted(tiers):
        rs = [r for r in results if r.tier == t]
        if any(r.status == "fail" for r in rs) or not any(r.status == "pass" for r in rs):
            break
        reached = t
    return reached


def resolve_backend(name: str):
    """The Backend object for a device type, loading its plugin; raises with the reason."""
    from ember.plugins.manager import require_backend
    return require_backend(name.split(":")[0])


def make_context(name: str, strict=True, certify=True) -> Context:
    from .watch import Watch
    backend = resolve_backend(name)
    device = name if ":" in name or not backend.indexed else f"{name}:0"
    ctx = Context(backend=backend, device=device, device_type=backend.device_type, strict=strict,
                  certify=certify, dtypes=tuple(backend.capabilities.dtypes))
    ctx.watch = Watch(backend)
    return ctx


def run_case(ctx, case: Case, skip=None, keep_outputs=False) -> Result:
    r = Result(case.id, case.tier, "pass", op=case.op, dtype=case.dtype)
    if case.status is not None:
        r.status, r.reason = case.status, case.reason
        return r
    if skip is not None:
        r.status, r.reason = "skip", f"{skip.reason} (skips file line {skip.line}: {skip.pattern})"
        return r
    t0 = time.perf_counter()
    try:
        out = case.run(ctx)
        if keep_outputs:
            r.outputs = out
    except CaseFailure as e:
        r.status, r.reason, r.max_error, r.first_mismatch = "fail", str(e), e.max_error, e.first_index
    except CaseSkip as e:
        r.status, r.reason = "skip", str(e)
    except NotImplementedError as e:
        r.status, r.reason = "fail", f"NotImplementedError: {e}"
    except Exception as e:  # noqa: BLE001  (a backend's crash is a failing case, never a crashed run)
        msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
        r.status, r.reason = "fail", f"{type(e).__name__}: {msg[:300]}"
    r.seconds = time.perf_counter() - t0
    return r


def run(name: str, tiers=(0, 1, 2, 3), *, strict=True, certify=True, only=None, progress=None,
        keep_outputs=False, max_tier=None) -> Run:
    """Run the suite on one backend. ``only``: fnmatch patterns of case ids to keep."""
    import fnmatch

    from . import skips as S

    t0 = time.perf_counter()
    if max_tier is not None:
        tiers = tuple(t for t in tiers if t <= max_tier)
    ctx = make_context(name, strict, certify)
    skips, skips_path = S.load(ctx.backend)
    cases = all_cases(ctx, tiers)
    if only:
        cases = [c for c in cases if any(fnmatch.fnmatchcase(c.id, p) for p in only)]
    results = []
    show = progress if progress is not None else _progress(len(cases))
    ctx.watch.install()
    try:
        with show as advance:
            available = True
            for case in cases:
                if not available and case.tier > 0:
                    res = Result(case.id, case.tier, "fail", "the device is not available (see runtime/available)",
                                 case.op, case.dtype)
                else:
                    res = run_case(ctx, case, S.match(skips, case.id), keep_outputs)
                if case.id == "runtime/available" and res.status == "fail":
                    available = False
                results.append(res)
                advance(res)
    finally:
        ctx.watch.uninstall()
    return Run(ctx.device_type, results, tier_reached(results, tiers), time.perf_counter() - t0, skips_path,
               strict, certify, tuple(tiers))


class _NoProgress:
    def __enter__(self):
        return lambda res: None

    def __exit__(self, *exc):
        return False


class _RichProgress:
    def __init__(self, total):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        self.p = Progress(TextColumn("[bold]conformance"), BarColumn(), MofNCompleteColumn(),
                          TextColumn("[red]{task.fields[fails]} failed"), TimeElapsedColumn(),
                          TextColumn("{task.fields[case]}"), transient=True)
        self.task = self.p.add_task("cases", total=total, fails=0, case="")
        self.fails = 0

    def __enter__(self):
        self.p.__enter__()

        def advance(res):
            self.fails += res.status == "fail"
            self.p.update(self.task, advance=1, fails=self.fails, case=res.id[:60])
        return advance

    def __exit__(self, *exc):
        return self.p.__exit__(*exc)


class _PlainProgress:
    """One line rewritten in place, for a terminal without rich."""

    def __init__(self, total):
        self.total, self.n, self.fails, self.last = total, 0, 0, 0.0

    def __enter__(self):
        def advance(res):
            self.n += 1
            self.fails += res.status == "fail"
            now = time.monotonic()
            if now - self.last > 0.2 or self.n == self.total:
                self.last = now
                sys.stderr.write(f"\rconformance {self.n}/{self.total} cases, {self.fails} failed ")
                sys.stderr.flush()
        return advance

    def __exit__(self, *exc):
        sys.stderr.write("\n")
        return False


def _progress(total):
    if not sys.stderr.isatty():
        return _NoProgress()
    try:
        return _RichProgress(total)
    except ImportError:
        return _PlainProgress(total)


def summary(run: Run) -> str:
    """A short plain-text summary: per tier counts, the tier reached, the first failures."""
    lines = [f"ember-conformance on {run.backend}: {len(run.results)} cases in {run.seconds:.1f} s"
             f"{' (strict)' if run.strict else ''}"]
    for t in run.tiers:
        c = run.counts(t)
        lines.append(f"  tier {t} ({TIER_NAMES[t]}): {c['pass']} passed, {c['fail']} failed, {c['skip']} skipped, "
                     f"{c['n/a']} not applicable")
    fails = run.failures()
    if fails:
        by_op: dict = {}
        for r in fails:
            by_op.setdefault(r.op or r.id.split("/")[0], []).append(r)
        lines.append(f"  failures ({len(fails)} cases, {len(by_op)} operators or groups):")
        for key, rs in sorted(by_op.items())[:40]:
            lines.append(f"    {key}: {len(rs)} failed, e.g. {rs[0].id}: {rs[0].reason[:160]}")
        if len(by_op) > 40:
            lines.append(f"    ... and {len(by_op) - 40} more (see the certificate)")
    reached = run.tier_reached
    lines.append(f"  tier reached: {reached}" + ("" if reached >= 0 else " (none: tier 0 has a failure or no passing case)"))
    return "\n".join(lines)
