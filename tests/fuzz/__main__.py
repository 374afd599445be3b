"""``python -m tests.fuzz [--seed S] [--examples N] [--ops a,b] [--case K] [--jobs J]``: the long fuzz
run; prints every failure with its reproducer and a table per operator; exit status 1 on failures."""

from __future__ import annotations

import argparse
import sys

from .run import CASE_TIMEOUT, default_seed, run


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__)
    p.add_argument("--seed", type=int, default=None, help="default: $EMBER_FUZZ_SEED or a fixed seed")
    p.add_argument("--examples", type=int, default=200, help="cases per operator (default 200)")
    p.add_argument("--ops", default="", help="comma-separated operator names (default: all)")
    p.add_argument("--case", type=int, default=None, help="run only this case index of each operator")
    p.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--timeout", type=float, default=CASE_TIMEOUT, help="seconds per case before a hang")
    p.add_argument("--budget", type=float, default=None, help="stop starting operators after this many s")
    p.add_argument("-v", "--verbose", action="store_true", help="a line per operator as it finishes")
    a = p.parse_args(argv)
    seed = default_seed() if a.seed is None else a.seed
    print(f"ember fuzz: seed {seed} (set EMBER_FUZZ_SEED or --seed to change)", flush=True)
    names = [n for n in a.ops.split(",") if n] or None
    prog = (lambda op, row: print(f"  {op}: {row}", flush=True)) if a.verbose else None
    report = run(names, seed=seed, examples=a.examples, jobs=a.jobs, timeout=a.timeout, case_index=a.case,
                 budget=a.budget, progress=prog)
    for f in report.failures:
        print(f.line(seed, a.examples))
    print(report.table())
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
