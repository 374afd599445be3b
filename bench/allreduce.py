"""all_reduce bandwidth between ranks on this machine: ember.distributed beside mpi4py's own Allreduce.

For each size (float32, 1 KiB to 256 MiB) the table shows the median time of

- ``ember``: ``ember.distributed.all_reduce(t)`` on a cpu tensor (SUM, in place: the MPI backend
  hands MPI a numpy view of the tensor, and runs under the group's watchdog);
- ``mpi4py``: ``comm.Allreduce(MPI.IN_PLACE, array)`` on a numpy array of the same size, in the
  same run, on the same ranks,

from interleaved samples (a barrier, then ``number`` calls; the two take turns for ``--repeat``
rounds), the algorithm bandwidth size/time of each, and the ratio mpi4py/ember = median(mpi4py) /
median(ember) of the two time columns: ember's speed relative to mpi4py's (1.00x: the same; the
goal is at least 0.9x from 1 MiB up). Times are rank 0's.

    python bench/allreduce.py [--nproc 2] [--repeat 15] [--max-mib 256] [--threads 1] [--json out.json]

Run directly, it starts itself on ``--nproc`` ranks through ``ember-run``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys

import numpy as np

from _common import add_threads_option, fmt, fmt_ratio, interleave, medians, pin_threads, ratio, threads_line

SIZES = [1 << k for k in range(10, 29, 2)]   # 1 KiB, 4 KiB, ..., 256 MiB


def _label(nbytes: int) -> str:
    for unit, shift in (("MiB", 20), ("KiB", 10)):
        if nbytes >= 1 << shift:
            return f"{nbytes >> shift} {unit}"
    return f"{nbytes} B"


def _number(nbytes: int) -> int:
    """Calls per sample: enough that a sample of a small size lasts well over the clock's resolution."""
    return max(1, min(200, (4 << 20) // nbytes))


def measure(args) -> list:
    import ember
    import ember.distributed as dist
    from mpi4py import MPI

    dist.init_process_group("mpi")
    comm = MPI.COMM_WORLD
    rows = []
    for nbytes in [s for s in SIZES if s <= args.max_mib << 20]:
        n = nbytes // 4
        t = ember.ones(n)
        a = np.ones(n, np.float32)
        k = _number(nbytes)
        all_reduce, Allreduce, IN_PLACE, barrier = dist.all_reduce, comm.Allreduce, MPI.IN_PLACE, comm.Barrier

        def ember_side():
            barrier()
            for _ in range(k):
                all_reduce(t)

        def mpi_side():
            barrier()
            for _ in range(k):
                Allreduce(IN_PLACE, a)

        ember_side(), mpi_side()   # warm up: first-touch pages, MPI's connections
        m = medians(interleave({"ember": ember_side, "mpi4py": mpi_side}, repeat=args.repeat))
        # each sample holds one barrier and k calls: per call, the barrier's share is small at k >= 1
        per = {name: v / k for name, v in m.items()}
        rows.append({"size": nbytes, "ember_s": per["ember"], "mpi4py_s": per["mpi4py"],
                     "ratio": ratio(per["mpi4py"], per["ember"])})
    dist.destroy_process_group()
    return rows


def report(rows, args) -> None:
    print(f"all_reduce SUM float32 between {args.nproc} ranks (ember.distributed vs mpi4py Allreduce, "
          f"same run); {threads_line()}; {platform.processor() or platform.machine()}, Python "
          f"{platform.python_version()}")
    print(f"{'size':>10} {'ember':>12} {'mpi4py':>12} {'ember GB/s':>11} {'mpi4py GB/s':>12} {'mpi4py/ember':>13}")
    for r in rows:
        print(f"{_label(r['size']):>10} {fmt(r['ember_s'] * 1e6, ' us'):>12} {fmt(r['mpi4py_s'] * 1e6, ' us'):>12} "
              f"{fmt(r['size'] / r['ember_s'] / 1e9):>11} {fmt(r['size'] / r['mpi4py_s'] / 1e9):>12} "
              f"{fmt_ratio(r['ratio']):>13}")
    big = [r["ratio"] for r in rows if r["size"] >= 1 << 20]
    if big:
        print(f"lowest ratio from 1 MiB up: {fmt_ratio(min(big))} (goal: 0.90x)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"nproc": args.nproc, "rows": rows}, f, indent=1)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--nproc", type=int, default=2, help="ranks (default 2)")
    p.add_argument("--repeat", type=int, default=15, help="samples per size and side (default 15)")
    p.add_argument("--max-mib", type=int, default=256, help="largest size in MiB (default 256)")
    p.add_argument("--json", help="also write the figures to this file")
    add_threads_option(p)
    args = p.parse_args()
    if "OMPI_COMM_WORLD_RANK" not in os.environ:   # not started as a rank yet: start the ranks
        cmd = [sys.executable, "-m", "ember.distributed.run", "--nproc-per-node", str(args.nproc), __file__,
               *sys.argv[1:]]
        return subprocess.call(cmd)
    pin_threads(args.threads)
    rows = measure(args)
    if int(os.environ["OMPI_COMM_WORLD_RANK"]) == 0:
        report(rows, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
