"""``ember-conformance --backend NAME [--tier N] [--report DIR] [--compare OTHER]``."""

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
                   help="run the same cases on OTHER too and report where the two backends diverge")
    p.add_argument("-k", "--only", action="append", metavar="PATTERN",
                   help="run only the cases whose id matches this fnmatch pattern (repeatable), e.g. 'op/add/*'")
    p.add_argument("--explore", action="store_true",
                   help="let Hypothesis draw new random examples (certification runs are derandomized)")
    p.add_argument("--no-strict", action="store_true",
                   help="allow data to leave the device (a fallback is then not a failure)")
    p.add_argument("--list", action="store_true", help="list the case ids and exit")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from . import report, suite
    tiers = tuple(range(args.tier + 1))
    try:
        if args.list:
            from .cases import all_cases
            ctx = suite.make_context(args.backend)
            for c in all_cases(ctx, tiers):
                print(c.id)
            return 0
        kw = dict(strict=not args.no_strict, certify=not args.explore, only=args.only,
                  keep_outputs=args.compare is not None)
        if args.quiet:
            kw["progress"] = suite._NoProgress()
        run = suite.run(args.backend, tiers, **kw)
    except Exception as e:  # noqa: BLE001  (no backend, a bad skips file: say so, no traceback)
        print(f"ember-conformance: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    print(suite.summary(run))
    backend = suite.resolve_backend(args.backend)
    if args.report:
        jp, hp = report.write(run, backend, args.report)
        print(f"  certificate: {jp}\n  matrix: {hp}")
    code = 1 if run.failures() else 0
    if args.compare:
        other = suite.run(args.compare, tiers, **kw)
        print(suite.summary(other))
        divs = report.divergences(run, other)
        print(f"  {len(divs)} cases diverge between {run.backend} and {other.backend}")
        for d in divs[:30]:
            print(f"    {d['id']}: {d.get('why', '')[:160]}")
        if args.report:
            report.write(other, suite.resolve_backend(args.compare), args.report)
            print(f"  divergences: {report.write_compare(run, other, divs, args.report)}")
        code = code or (1 if divs else 0)
    return code


if __name__ == "__main__":
    sys.exit(main())
