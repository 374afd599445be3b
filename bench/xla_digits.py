"""Run examples/train_digits.py on the xla device, eagerly or in lazy mode.

    python bench/xla_digits.py                  # eager: one XLA call per operator
    python bench/xla_digits.py --lazy           # lazy: each training step is one compiled graph
    python bench/xla_digits.py --lazy --epochs 3 --threads 1

``--threads N`` (default 1) limits XLA and numpy's BLAS to N threads, as every benchmark here does
(see bench/_common.py). Extra arguments go to the example. In lazy mode the example's ``loss.item()`` after each step
is the sync point, so every full batch runs the same graph: it is compiled once (one more
for the smaller last batch, and for evaluation); the number of graph compiles is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import pathlib
import runpy
import sys

from _common import add_threads_option, pin_threads, threads_line


def main() -> None:
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--lazy", action="store_true")
    add_threads_option(ap)
    ours, args = ap.parse_known_args(sys.argv[1:])
    if "--device" not in args:
        args = ["--device", "xla"] + args
    if "--no-progress" not in args:
        args.append("--no-progress")
    if "--blas-threads" not in args:
        args += ["--blas-threads", str(ours.threads)]
    lazy = ours.lazy
    pin_threads(ours.threads, jax=True)
    import ember_xla

    example = pathlib.Path(__file__).resolve().parent.parent / "examples" / "train_digits.py"
    if not example.exists():
        sys.exit(f"{example} is not in this checkout yet")
    print(threads_line())
    sys.argv = [str(example)] + args
    sys.path.insert(0, str(example.parent))   # as when the example runs as a script: its helpers import
    with ember_xla.lazy() if lazy else contextlib.nullcontext():
        runpy.run_path(str(example), run_name="__main__")
    s = ember_xla.stats
    print(f"xla {'lazy' if lazy else 'eager'}: {s['traces']} kernel traces, {s['graph_compiles']} graph compiles, "
          f"{s['graph_runs']} graph runs")


if __name__ == "__main__":
    main()
