"""``ember-conformance --backend NAME [--tier N] [--report DIR] [--compare OTHER] [-k PATTERN] [-x] [--traceback]``."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ember-conformance",
        description="Certify an Ember backend: run the conformance cases on it, write a JSON certificate and "
                    "an HTML operator-by-dtype matrix, and say which tier it reached.")
    p.add_argument("--backend", required=True, help="device type to certify, e.g. cpu, cuda, xla (or cuda:1)")
    p.add_argument("--tier", type=int, choices=(0, 1, 2, 3), default=3,
                   help="run tiers 0..N only (default 3: everything)")
    p.add_argument("--report", metavar="DIR", default=None,
                   help="write DIR/<backend>.json (certificate) and DIR/<backend>.html (matrix)")
    p.add_argument("--compare", metavar="OTHER", default=None,
                   help="run the same cases on OTHER too and report where the two backends diverge: a case that "
                        "passes on one and fails on the other, or outputs beyond the tolerance (skips, n/a and "
                        "undefined values such as empty and random operators are counted apart)")
    p.add_argument("-k", "--only", action="append", metavar="PATTERN",
                   help="run only the cases whose id matches this fnmatch pattern (repeatable), e.g. 'op/add/*'; "
                        "a partial run claims no tier")
    p.add_argument("--sample", type=float, metavar="FRACTION",
                   help="run only this fraction of the cases (e.g. 0.05), the same ones on every run: a spread "
                        "over every operator, dtype and tier for backends whose full run is long; a partial run")
    p.add_argument("-x", "--exitfirst", action="store_true",
                   help="stop at the first failing case (a partial run)")
    p.add_argument("--traceback", action="store_true",
                   help="after the summary, print the full traceback of each failing case")
    p.add_argument("--explore", action="store_true",
                   help="let Hypothesis draw new random examples (certification runs are derandomized)")
    p.add_argument("--no-strict", action="store_true",
                   help="allow data to leave the device (a fallback is then not a failure)")
    p.add_argument("--list", action="store_true", help="list the case ids and exit")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from . import suite
    tiers = tuple(range(args.tier + 1))
    try:
        if args.list:
            return _list(args, tiers)
        kw = dict(strict=not args.no_strict, certify=not args.explore, only=args.only,
                  keep_outputs=args.compare is not None, exitfirst=args.exitfirst, sample=args.sample)
        if args.quiet:
            kw["progress"] = suite._NoProgress()
        run = suite.run(args.backend, tiers, **kw)
    except Exception as e:  # noqa: BLE001  (no backend, a bad skips file: say so, no traceback)
        print(f"ember-conformance: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    _report(args, run)
    code = 1 if run.failures() else 0
    if args.compare:
        code = _compare(args, run, tiers, kw) or code
    return code


def _list(args, tiers) -> int:
    from . import suite
    from .cases import all_cases
    ctx = suite.make_context(args.backend)
    for c in suite.select(all_cases(ctx, tiers), args.only, args.sample):
        print(c.id)
    return 0


def _report(args, run) -> None:
    """The summary, the tracebacks (--traceback) and the certificate (--report) of one run."""
    from . import report, suite
    print(suite.summary(run))
    if args.traceback:
        print(tracebacks(run))
    if args.report:
        jp, hp = report.write(run, suite.resolve_backend(run.backend), args.report)
        print(f"  certificate: {jp}\n  matrix: {hp}")


def tracebacks(run) -> str:
    """Each failing case's full traceback, after the summary that names them."""
    fails = run.failures()
    lines = [f"tracebacks of the {len(fails)} failing cases on {run.backend}:" if fails else
             f"no failing case on {run.backend}, no traceback"]
    for r in fails:
        lines.append(f"\n____ {r.id} ____")
        lines.append(r.traceback.rstrip() or f"(no traceback: {r.reason})")
    return "\n".join(lines)


def _compare(args, run, tiers, kw) -> int:
    """Run the same cases on --compare OTHER and print (and with --report write) the divergences."""
    from . import report, suite
    from .divergence import compare_runs
    other = suite.run(args.compare, tiers, **kw)
    _report(args, other)
    cmp = compare_runs(run, other)
    print("\n".join(cmp.lines()))
    if args.report:
        print(f"  divergences: {report.write_compare(cmp, args.report)}")
    return 1 if cmp.divergences else 0


if __name__ == "__main__":
    sys.exit(main())
