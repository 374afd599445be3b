"""Start-up time: `import ember` and a first operation, beside `import numpy` and `import torch`, in fresh processes.

Each contender is a fresh ``python -c`` process, timed from launch to exit (wall time,
the interpreter's own start-up included: ``python -c pass`` is shown for scale):

- ``ember``: ``import ember; ember.ones(2) + 1`` with only the cpu plugin (``EMBER_PLUGINS=cpu``),
  so the time includes loading that plugin and running a first kernel;
- ``numpy``: ``import numpy`` (Ember's cpu backend is built on it);
- ``torch``: ``import torch``, where PyTorch is installed.

The contenders take turns for ``--runs`` rounds (so a change in the machine's load hits them
alike) and the table shows each one's median in seconds, with the ratios
median(row) / median(numpy) and median(row) / median(torch) of the medians in the first column.
Every process gets the same thread count for its numerical libraries
(``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS`` = ``--threads``, default 1),
since creating thread pools is part of importing them. Bytecode caches are allowed (and warmed by a
first, untimed run), as for an installed package. ``--detail`` adds the modules that cost
Ember's start-up the most, from ``python -X importtime``.

    python bench/import_time.py [--runs 7] [--threads 1] [--detail] [--json out.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time

from _common import DEFAULT_THREADS, fmt, fmt_ratio, medians, ratio

EMBER_CODE = "import ember; ember.ones(2) + 1"
GOAL_S = 0.3
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def contenders() -> dict:
    """name -> (code, extra environment); torch only where it is installed."""
    c = {"python -c pass": ("pass", {}),
         "ember": (EMBER_CODE, {"EMBER_PLUGINS": "cpu"}),
         "numpy": ("import numpy", {})}
    if importlib.util.find_spec("torch") is not None:
        c["torch"] = ("import torch", {})
    return c


def _env(threads: int, extra: dict) -> dict:
    env = dict(os.environ)
    # Measure what a user meets: an installed package has its bytecode cached (pip compiles it at
    # install; an editable checkout caches it on first import, the warm-up run below). With
    # PYTHONDONTWRITEBYTECODE set, every run would compile Ember's source again instead.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update({v: str(threads) for v in THREAD_VARS})
    env.update(extra)
    return env


def run_once(code: str, env: dict, cwd: str, flags=()) -> tuple:
    """(seconds from launch to exit, stderr) of one fresh interpreter running ``code``."""
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, *flags, "-c", code], env=env, cwd=cwd,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"`python -c {code!r}` failed (exit {r.returncode}):\n{r.stderr}")
    return dt, r.stderr


def measure(runs: int, threads: int) -> dict:
    """name -> list of wall times in seconds, the contenders interleaved round by round."""
    cs = contenders()
    samples = {name: [] for name in cs}
    with tempfile.TemporaryDirectory() as cwd:   # no stray module in the working directory is imported
        for name, (code, extra) in cs.items():   # warm the file system cache once
            run_once(code, _env(threads, extra), cwd)
        for _ in range(runs):
            for name, (code, extra) in cs.items():
                samples[name].append(run_once(code, _env(threads, extra), cwd)[0])
    return samples


def importtime(threads: int, top: int = 15) -> tuple:
    """(the ``top`` modules by self time, the top-level packages by cumulative time) of Ember's start-up,
    each a list of (microseconds, module)."""
    with tempfile.TemporaryDirectory() as cwd:
        _, err = run_once(EMBER_CODE, _env(threads, {"EMBER_PLUGINS": "cpu"}), cwd, ("-X", "importtime"))
    rows = []
    for line in err.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cum_us, name = line[len("import time:"):].split("|", 2)
        rows.append((int(self_us), int(cum_us), name[1:].rstrip()))   # name keeps its indentation (nesting)
    by_self = sorted(((s, n.strip()) for s, _, n in rows), reverse=True)[:top]
    # A top-level import is printed without indentation: its cumulative time includes its children.
    roots = sorted(((c, n) for _, c, n in rows if not n.startswith(" ")), reverse=True)[:top]
    return by_self, roots


def table(med: dict, runs: int, threads: int) -> str:
    lines = [f"start-up time, fresh process, median of {runs} interleaved runs (wall seconds, interpreter start "
             f"included); threads: {threads} ({', '.join(THREAD_VARS)} = {threads} in every process)",
             f"python {sys.version.split()[0]}, {os.cpu_count()} cpus", ""]
    head = f"{'':<16}{'seconds':>9}{'/ numpy':>10}{'/ torch':>10}   command"
    lines += [head, "-" * (len(head) + 30)]
    cs = contenders()
    for name, s in med.items():
        lines.append(f"{name:<16}{fmt(s, digits=3):>9}{fmt_ratio(ratio(s, med.get('numpy'))):>10}"
                     f"{fmt_ratio(ratio(s, med.get('torch'))):>10}   {cs[name][0]}"
                     + ("   (EMBER_PLUGINS=cpu)" if name == "ember" else ""))
    e = med["ember"]
    lines += ["", f"ember: {fmt(e, digits=3)} s; goal <= {GOAL_S} s "
                  f"({'met' if e <= GOAL_S else f'{fmt(e - GOAL_S, digits=3)} s over'})"]
    return "\n".join(lines)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7, help="fresh processes per contender (the median is reported)")
    ap.add_argument("--threads", type=int, default=DEFAULT_THREADS, metavar="N",
                    help=f"thread count given to every process's numerical libraries (default {DEFAULT_THREADS})")
    ap.add_argument("--detail", action="store_true", help="also list what Ember's start-up spends its time on")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    args = ap.parse_args(argv)
    if args.runs < 1 or args.threads < 1:
        ap.error("--runs and --threads must be positive")
    samples = measure(args.runs, args.threads)
    med = medians(samples)
    print(table(med, args.runs, args.threads))
    report = {"runs": args.runs, "threads": args.threads, "median_s": med, "samples_s": samples, "goal_s": GOAL_S}
    if args.detail:
        by_self, roots = importtime(args.threads)
        report["importtime"] = {"self_us": by_self, "top_level_cumulative_us": roots}
        print(f"\n`python -X importtime -c {EMBER_CODE!r}` (one run; microseconds)")
        print("most self time:")
        for us, name in by_self:
            print(f"  {us:>9}  {name}")
        print("top-level imports, cumulative:")
        for us, name in roots:
            print(f"  {us:>9}  {name}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
            f.write("\n")
    return report


if __name__ == "__main__":
    main()
