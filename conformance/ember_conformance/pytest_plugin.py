"""``pytest --ember-backend=NAME``: the conformance cases of one backend as pytest items.

Loaded through the ``pytest11`` entry point; without the option it does nothing.
With it, pytest collects the conformance cases instead of test files: a failing
case is a failing test (its message carries the numbers), a skipped or
not-applicable one a skip with its reason. ``--ember-only PATTERN`` selects
cases by id as ``ember-conformance -k`` does; pytest's own ``-k``, ``-x`` and
``--tb=long`` (each failing case's full traceback) work too. A run of fewer
cases than its tiers have is partial and claims no tier.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser):
    g = parser.getgroup("ember-conformance")
    g.addoption("--ember-backend", default=None, metavar="NAME",
                help="run the Ember conformance suite on this device type instead of collecting tests")
    g.addoption("--ember-tier", type=int, default=3, metavar="N", help="conformance tiers 0..N (default 3)")
    g.addoption("--ember-report", default=None, metavar="DIR",
                help="also write the certificate (JSON and HTML) to DIR")
    g.addoption("--ember-explore", action="store_true", help="Hypothesis draws new examples (not derandomized)")
    g.addoption("--ember-only", action="append", default=None, metavar="PATTERN",
                help="only the conformance cases whose id matches this fnmatch pattern (repeatable), e.g. "
                     "'op/add/*'; a partial run claims no tier")


def _active(config):
    return config.getoption("--ember-backend", default=None) is not None


def pytest_ignore_collect(collection_path, config):
    if _active(config):
        return True
    return None


class ConformanceItem(pytest.Item):
    def __init__(self, *, case, ctx, skip, results, **kw):
        super().__init__(**kw)
        self.case, self.ctx, self.skip, self.results = case, ctx, skip, results
        self.add_marker(pytest.mark.ember_tier(case.tier))

    def runtest(self):
        from .suite import run_case
        r = run_case(self.ctx, self.case, self.skip)
        self.results.append(r)
        if r.status == "fail":
            raise ConformanceFailure(r)
        if r.status in ("skip", "n/a"):
            pytest.skip(f"{r.status}: {r.reason}")

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, ConformanceFailure):
            r = excinfo.value.result
            extra = f" (max error {r.max_error}, first mismatch at {r.first_mismatch})" if r.max_error is not None else ""
            text = f"{r.id}: {r.reason}{extra}"
            if _full_tracebacks(self.config) and r.traceback:
                text += "\n\n" + r.traceback.rstrip()
            return text
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return "ember-conformance", None, self.case.id


def _full_tracebacks(config) -> bool:
    """pytest's --tb=long or --full-trace: show the case's own traceback under its one-line reason."""
    return config.getoption("tbstyle", "auto") == "long" or bool(config.getoption("fulltrace", False))


class ConformanceFailure(Exception):
    def __init__(self, result):
        super().__init__(result.reason)
        self.result = result


def pytest_configure(config):
    config.addinivalue_line("markers", "ember_tier(n): the conformance tier of a case")


def pytest_collection_modifyitems(session, config, items):
    if not _active(config):
        return
    from . import skips as S
    from .cases import all_cases
    from .suite import make_context, select, tier_totals
    name = config.getoption("--ember-backend")
    ctx = make_context(name, strict=True, certify=not config.getoption("--ember-explore"))
    skips, path = S.load(ctx.backend)
    ctx.watch.install()
    tiers = tuple(range(config.getoption("--ember-tier") + 1))
    every = all_cases(ctx, tiers)
    only = config.getoption("--ember-only") or []
    results: list = []
    config._ember_conformance = (ctx, results, path, tier_totals(every), only)
    items[:] = [ConformanceItem.from_parent(session, name=c.id, case=c, ctx=ctx, skip=S.match(skips, c.id),
                                            results=results) for c in select(every, only)]


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    state = getattr(config, "_ember_conformance", None)
    if state is None:
        return
    ctx, results, path, totals, only = state
    ctx.watch.uninstall()
    from .suite import Run, claimed_tier, summary
    tiers = tuple(range(config.getoption("--ember-tier") + 1))
    keyword = config.getoption("keyword", "")
    only = tuple(only) + ((f"pytest -k {keyword}",) if keyword else ())
    run = Run(ctx.device_type, results, claimed_tier(results, tiers, totals), 0.0, path, ctx.strict, ctx.certify,
              tiers, only, totals)
    terminalreporter.write_line(summary(run))
    out = config.getoption("--ember-report")
    if out:
        from .report import write
        jp, hp = write(run, ctx.backend, out)
        terminalreporter.write_line(f"certificate: {jp}  matrix: {hp}")
