"""Host overhead per operator call on small tensors (4x4 float32): Ember cpu vs PyTorch CPU vs numpy.

On tensors this small the arithmetic is free, so the time per call is the
cost of getting from Python to the kernel and back: argument binding,
dispatch, meta checks, allocation. Each op is timed with timeit (``--number``
calls per sample, ``--repeat`` samples); the table shows the median per call
in microseconds and the ratio Ember/PyTorch (lower is better for Ember).
An operator Ember does not have yet shows as "n/a".

    python bench/overhead.py [--repeat 7] [--number 20000] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import timeit

import numpy as np

import ember

try:
    import torch
except ImportError:  # PyTorch is optional: its column is then n/a
    torch = None

SHAPE = (4, 4)


def _cases(ex, ey, tx, ty, nx, ny):
    """op name -> {library: zero-argument callable, or None where the op is missing}."""
    has = lambda name: hasattr(ember, name)  # noqa: E731
    index = hasattr(ember.Tensor, "__getitem__")
    t = torch is not None
    return {
        "add": {"ember": lambda: ember.add(ex, ey), "torch": t and (lambda: torch.add(tx, ty)),
                "numpy": lambda: np.add(nx, ny)},
        "mul": {"ember": lambda: ember.mul(ex, ey), "torch": t and (lambda: torch.mul(tx, ty)),
                "numpy": lambda: np.multiply(nx, ny)},
        "sum": {"ember": has("sum") and (lambda: ember.sum(ex)), "torch": t and (lambda: torch.sum(tx)),
                "numpy": lambda: np.sum(nx)},
        "matmul": {"ember": has("matmul") and (lambda: ember.matmul(ex, ey)),
                   "torch": t and (lambda: torch.matmul(tx, ty)), "numpy": lambda: np.matmul(nx, ny)},
        "transpose (view)": {"ember": lambda: ex.transpose(0, 1), "torch": t and (lambda: tx.transpose(0, 1)),
                             "numpy": lambda: nx.swapaxes(0, 1)},
        "x[1] (index)": {"ember": index and (lambda: ex[1]), "torch": t and (lambda: tx[1]),
                         "numpy": lambda: nx[1]},
    }


def _check(fn):
    """None when fn runs (and is warmed up), else why not."""
    if not fn:
        return "not available"
    try:
        fn()
    except Exception as e:  # noqa: BLE001  (an op that fails is reported, the rest still run)
        return f"{type(e).__name__}: {e}"
    return None


def run(repeat: int, number: int) -> dict:
    rng = np.random.default_rng(0)
    nx = rng.standard_normal(SHAPE, dtype=np.float32)
    ny = rng.standard_normal(SHAPE, dtype=np.float32)
    ex, ey = ember.tensor(nx, device="cpu"), ember.tensor(ny, device="cpu")
    tx, ty = (torch.from_numpy(nx.copy()), torch.from_numpy(ny.copy())) if torch is not None else (None, None)
    results = []
    libs = ("ember", "torch", "numpy")
    for op, fns in _cases(ex, ey, tx, ty, nx, ny).items():
        row = {"op": op}
        notes = {lib: _check(fns[lib]) for lib in libs}
        timers = {lib: timeit.Timer(fns[lib]) for lib in libs if notes[lib] is None}
        # Samples of the three libraries are interleaved, so that a change in the
        # machine's load hits all of them alike; the ratio is the median of the
        # per-round ratios.
        samples = {lib: [] for lib in timers}
        for _ in range(repeat):
            for lib, timer in timers.items():
                samples[lib].append(timer.timeit(number) / number * 1e6)
        for lib in libs:
            row[f"{lib}_us"] = statistics.median(samples[lib]) if lib in samples else None
            if notes[lib]:
                row[f"{lib}_note"] = notes[lib]
        row["ember_over_torch"] = (statistics.median(e / t for e, t in zip(samples["ember"], samples["torch"]))
                                   if "ember" in samples and "torch" in samples else None)
        results.append(row)
    return {
        "shape": list(SHAPE), "dtype": "float32", "repeat": repeat, "number": number,
        "versions": {"ember": ember.__version__, "torch": torch.__version__ if torch else None,
                     "numpy": np.__version__, "python": platform.python_version()},
        "machine": platform.machine(), "processor": platform.processor() or platform.platform(),
        "results": results,
    }


def _fmt(v, spec=".2f", suffix=""):
    return "n/a" if v is None else f"{v:{spec}}{suffix}"


def table(report: dict) -> str:
    v = report["versions"]
    lines = [f"host time per call, median of {report['repeat']} x {report['number']} calls, "
             f"{'x'.join(map(str, report['shape']))} {report['dtype']} on cpu",
             f"ember {v['ember']}, torch {v['torch'] or 'not installed'}, numpy {v['numpy']}, "
             f"python {v['python']}", ""]
    head = f"{'op':<18}{'ember us':>10}{'torch us':>10}{'numpy us':>10}{'ember/torch':>13}"
    lines += [head, "-" * len(head)]
    for r in report["results"]:
        lines.append(f"{r['op']:<18}{_fmt(r['ember_us']):>10}{_fmt(r['torch_us']):>10}"
                     f"{_fmt(r['numpy_us']):>10}{_fmt(r['ember_over_torch'], '.2f', 'x'):>13}")
    notes = [f"  {r['op']}: ember {r['ember_note']}" for r in report["results"]
             if r.get("ember_note") and r["ember_note"] != "not available"]
    if notes:
        lines += ["", "failures:", *notes]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=7, help="timing samples per op (the median is reported)")
    p.add_argument("--number", type=int, default=20000, help="calls per sample")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    args = p.parse_args(argv)
    if args.repeat < 1 or args.number < 1:
        p.error("--repeat and --number must be positive")
    report = run(args.repeat, args.number)
    print(table(report))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
