"""Running the cases of one backend: skips, strict mode, progress, the tier reached."""

from __future__ import annotations

import fnmatch
import os
import sys
import time
import traceback as _tb
import zlib
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
    traceback: str = field(default="", repr=False)    # of a failing case, for --traceback

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
    tier_reached: int | None      # None for a partial run, which claims no tier
    seconds: float
    skips_file: str | None
    strict: bool
    certify: bool
    tiers: tuple
    only: tuple = ()              # the -k patterns that selected the cases
    totals: dict | None = None    # tier -> number of cases a complete run of that tier has
    stopped_at: str | None = None  # -x: the failing case after which the run stopped
    sample: float | None = None   # --sample: the fraction of the cases run, chosen by id

    def counts(self, tier=None) -> dict:
        c = {s: 0 for s in STATUSES}
        for r in self.results:
            if tier is None or r.tier == tier:
                c[r.status] += 1
        return c

    def failures(self) -> list:
        return [r for r in self.results if r.status == "fail"]

    @property
    def partial(self) -> bool:
        """Fewer cases ran than a complete run of these tiers has (-k, -x, a pytest selection)."""
        return is_partial(self.results, self.tiers, self.totals)

    def coverage(self) -> dict:
        """tier -> (cases that ran, cases of a complete run)."""
        ran = {t: 0 for t in self.tiers}
        for r in self.results:
            ran[r.tier] = ran.get(r.tier, 0) + 1
        totals = self.totals or ran
        return {t: (ran.get(t, 0), totals.get(t, 0)) for t in self.tiers}


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


def tier_totals(cases) -> dict:
    """tier -> number of cases, to tell a partial run from a complete one."""
    totals: dict = {}
    for c in cases:
        totals[c.tier] = totals.get(c.tier, 0) + 1
    return totals


def is_partial(results, tiers, totals) -> bool:
    """Whether some tier ran fewer cases than it has (``totals``: tier -> cases; None: not known)."""
    if totals is None:
        return False
    ran = tier_totals(results)
    return any(ran.get(t, 0) < totals.get(t, 0) for t in tiers)


def claimed_tier(results, tiers, totals) -> int | None:
    """The tier a run may claim: None when it is partial (a subset proves no tier), else tier_reached."""
    return None if is_partial(results, tiers, totals) else tier_reached(results, tiers)


def select(cases, only, sample=None):
    """The cases whose id matches one of the fnmatch patterns ``only`` (all of them without patterns);
    with ``sample`` (a fraction in (0, 1]), only the cases whose id hashes below it: the same ids on every
    run and machine (CRC-32 of the id), spread over every operator, dtype and tier."""
    if only:
        cases = [c for c in cases if any(fnmatch.fnmatchcase(c.id, p) for p in only)]
    if sample is not None:
        if not 0 < sample <= 1:
            raise ValueError(f"sample must be a fraction in (0, 1], got {sample}")
        bound = sample * 2 ** 32
        cases = [c for c in cases if zlib.crc32(c.id.encode()) < bound]
    return list(cases)


def full_traceback(e: BaseException) -> str:
    """The traceback of a failing case, including the backend's exception that a CaseFailure was
    raised over (the suite raises ``from None`` to keep its one-line reasons short)."""
    e.__suppress_context__ = False
    return "".join(_tb.format_exception(type(e), e, e.__traceback__))


def resolve_backend(name: str):
    """The Backend object for a device type, loading its plugin; raises with the reason."""
    from ember.plugins.manager import require_backend
    return require_backend(name.split(":")[0])


def make_context(name: str, strict=True, certify=True) -> Context:
    from .watch import Watch
    backend = resolve_backend(name)
    # Every kernel's result is compared with its operator's meta while the suite runs, so that a wrong
    # kernel is named even where a decomposition calls it (EMBER_CHECK_KERNELS=0 turns this off).
    if os.environ.get("EMBER_CHECK_KERNELS", "1").strip().lower() not in ("", "0", "false", "no", "off"):
        from ember.dispatch import set_kernel_checks
        set_kernel_checks(True)
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
        r.traceback = full_traceback(e)
        if keep_outputs:  # what the backend computed, so that --compare can tell two failures apart
            r.outputs = getattr(e, "outputs", None)
    except CaseSkip as e:
        r.status, r.reason = "skip", str(e)
    except NotImplementedError as e:
        r.status, r.reason, r.traceback = "fail", f"NotImplementedError: {e}", full_traceback(e)
    except Exception as e:  # noqa: BLE001  (a backend's crash is a failing case, never a crashed run)
        msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
        r.status, r.reason, r.traceback = "fail", f"{type(e).__name__}: {msg[:300]}", full_traceback(e)
    r.seconds = time.perf_counter() - t0
    return r


def run(name: str, tiers=(0, 1, 2, 3), *, strict=True, certify=True, only=None, progress=None,
        keep_outputs=False, max_tier=None, exitfirst=False, sample=None) -> Run:
    """Run the suite on one backend. ``only``: fnmatch patterns of case ids to keep (a partial run);
    ``sample``: a fraction of the cases, chosen by id (a partial run, see :func:`select`);
    ``exitfirst``: stop after the first failing case (also a partial run, unless it was the last)."""
    from . import skips as S

    t0 = time.perf_counter()
    if max_tier is not None:
        tiers = tuple(t for t in tiers if t <= max_tier)
    ctx = make_context(name, strict, certify)
    skips, skips_path = S.load(ctx.backend)
    every = all_cases(ctx, tiers)
    cases = select(every, only, sample)
    results, stopped = [], None
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
                if exitfirst and res.status == "fail":
                    stopped = case.id
                    break
    finally:
        ctx.watch.uninstall()
    totals = tier_totals(every)
    return Run(ctx.device_type, results, claimed_tier(results, tiers, totals), time.perf_counter() - t0,
               skips_path, strict, certify, tuple(tiers), tuple(only or ()), totals, stopped, sample)


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
    """A short plain-text summary: per tier counts, the tier reached (or why none is claimed), the
    first failures."""
    lines = [f"ember-conformance on {run.backend}: {len(run.results)} cases in {run.seconds:.1f} s"
             f"{' (strict)' if run.strict else ''}"]
    coverage = run.coverage()
    for t in run.tiers:
        c, (ran, total) = run.counts(t), coverage[t]
        if run.partial and not ran:
            lines.append(f"  tier {t} ({TIER_NAMES[t]}): not run (0 of {total} cases)")
            continue
        scope = f"{ran} of {total} cases ran: " if run.partial else ""
        lines.append(f"  tier {t} ({TIER_NAMES[t]}): {scope}{c['pass']} passed, {c['fail']} failed, "
                     f"{c['skip']} skipped, {c['n/a']} not applicable")
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
    lines += _verdict(run, coverage)
    return "\n".join(lines)


def _verdict(run: Run, coverage: dict) -> list[str]:
    """The last lines: the tier reached, or for a partial run what it covered and that it claims none."""
    out = []
    if run.stopped_at:
        out.append(f"  stopped at the first failing case (-x): {run.stopped_at}")
    if run.partial:
        covered = [f"{t} ({ran} of {total} cases)" for t, (ran, total) in coverage.items() if ran]
        only = f" (only {', '.join(repr(p) for p in run.only)})" if run.only else ""
        if run.sample is not None:
            only += f" (a {run.sample:.0%} sample of the cases, chosen by id)"
        out.append(f"  partial run{only}: tiers covered: {', '.join(covered) or 'none'}")
        out.append("  no tier is claimed: a tier is reached only by a run of all its cases (no -k, no -x)")
        return out
    reached = run.tier_reached
    why = "" if reached >= 0 else " (none: tier 0 has a failure or no passing case)"
    out.append(f"  tier reached: {reached}{why}")
    return out
