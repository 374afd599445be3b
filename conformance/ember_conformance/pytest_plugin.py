"""``pytest --ember-backend=NAME``: the conformance cases of one backend as pytest items.

Loaded through the ``pytest11`` entry point; without the option it does nothing.
With it, pytest collects the conformance cases instead of test files: a failing
case is a failing test (its message carries the numbers), a skipped or
not-applicable one a skip with its reason.
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
            return f"{r.id}: {r.reason}{extra}"
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return "ember-conformance", None, self.case.id


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
    from .suite import make_context
    name = config.getoption("--ember-backend")
    ctx = make_context(name, strict=True, certify=not config.getoption("--ember-explore"))
    skips, path = S.load(ctx.backend)
    ctx.watch.install()
    config._ember_conformance = (ctx, [], path)
    tiers = tuple(range(config.getoption("--ember-tier") + 1))
    results = config._ember_conformance[1]
    items[:] = [ConformanceItem.from_parent(session, name=c.id, case=c, ctx=ctx, skip=S.match(skips, c.id),
                                            results=results) for c in all_cases(ctx, tiers)]


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    state = getattr(config, "_ember_conformance", None)
    if state is None:
        return
    ctx, results, path = state
    ctx.watch.uninstall()
    from .suite import Run, summary, tier_reached
    tiers = tuple(range(config.getoption("--ember-tier") + 1))
    run = Run(ctx.device_type, results, tier_reached(results, tiers), 0.0, path, ctx.strict, ctx.certify, tiers)
    terminalreporter.write_line(summary(run))
    out = config.getoption("--ember-report")
    if out:
        from .report import write
        jp, hp = write(run, ctx.backend, out)
        terminalreporter.write_line(f"certificate: {jp}  matrix: {hp}")
