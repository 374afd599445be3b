"""Run examples/train_digits.py on the xla device, eagerly or in lazy mode.

    python bench/xla_digits.py                  # eager: one XLA call per operator
    python bench/xla_digits.py --lazy           # lazy: each training step is one compiled graph
    python bench/xla_digits.py --lazy --epochs 3

Extra arguments go to the example. In lazy mode the example's ``loss.item()`` after each step
is the sync point, so every full batch runs the same graph: it is compiled once (one more
for the smaller last batch, and for evaluation); the number of graph compiles is printed.
"""

from __future__ import annotations

import contextlib
import pathlib
import runpy
import sys


def main() -> None:
    args = sys.argv[1:]
    lazy = "--lazy" in args
    args = [a for a in args if a != "--lazy"]
    if "--device" not in args:
        args = ["--device", "xla"] + args
    if "--no-progress" not in args:
        args.append("--no-progress")
    import ember_xla

    example = pathlib.Path(__file__).resolve().parent.parent / "examples" / "train_digits.py"
    if not example.exists():
        sys.exit(f"{example} is not in this checkout yet")
    sys.argv = [str(example)] + args
    with ember_xla.lazy() if lazy else contextlib.nullcontext():
        runpy.run_path(str(example), run_name="__main__")
    s = ember_xla.stats
    print(f"xla {'lazy' if lazy else 'eager'}: {s['traces']} kernel traces, {s['graph_compiles']} graph compiles, "
          f"{s['graph_runs']} graph runs")


if __name__ == "__main__":
    main()
