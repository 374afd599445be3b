"""What ``ember-run`` starts on every rank through ``mpiexec``: a small supervisor that sets torchrun's
environment variables from MPI's, runs the user's script in a child process, and leaves a status
file saying how the rank ended, so that ``ember-run`` can name the rank that failed even when it
died from ``os._exit`` or a signal (``mpiexec`` then kills the other ranks without a word).

``python -I .../ember/distributed/_rank.py [-m] TARGET ARGS...`` supervises (standard library
only); with ``--exec`` first (``python -m ember.distributed._rank --exec ...``) it runs
the target in this process: a rank whose script raises prints the traceback with every line tagged
``[rankN]:`` and exits 1 at once (MPI_Finalize would wait for the other ranks, which may be blocked
in a collective with it), and ``mpiexec`` then stops the other ranks.
"""

from __future__ import annotations

import os
import runpy
import signal
import subprocess
import sys
import traceback

#: torchrun's variable <- Open MPI's (or a PMI's).
_ENV = (("RANK", ("OMPI_COMM_WORLD_RANK", "PMI_RANK")),
        ("WORLD_SIZE", ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE")),
        ("LOCAL_RANK", ("OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID")),
        ("LOCAL_WORLD_SIZE", ("OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS")))


def _set_env() -> int:
    for name, sources in _ENV:
        for src in sources:
            if src in os.environ:
                os.environ[name] = os.environ[src]
                break
        else:
            os.environ.setdefault(name, "1" if "SIZE" in name else "0")
    rank, local_size = int(os.environ["RANK"]), int(os.environ["LOCAL_WORLD_SIZE"]) or 1
    os.environ["GROUP_RANK"] = os.environ["NODE_RANK"] = str(rank // local_size)
    os.environ["ROLE_RANK"], os.environ["ROLE_WORLD_SIZE"] = os.environ["RANK"], os.environ["WORLD_SIZE"]
    return rank


def _status(rank: int, text: str, *, first: bool = False) -> None:
    """Record how this rank ended (``first``: unless the script's process already did)."""
    d = os.environ.get("EMBER_RUN_STATUS_DIR")
    if not d or not os.path.isdir(d):
        return
    path = os.path.join(d, f"rank{rank}")
    if first and os.path.exists(path):
        return
    with open(path, "w") as f:
        f.write(text)


def _die_with_parent() -> None:
    """In the child: be killed when the supervisor is (mpiexec kills supervisors, not their children)."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def supervise(argv) -> int:
    rank = _set_env()
    d = os.environ.get("EMBER_RUN_STATUS_DIR")
    if d and os.path.isdir(d):   # ember-run kills what is left of the job through this
        with open(os.path.join(d, f"pid{rank}"), "w") as f:
            f.write(str(os.getpid()))
    cmd = [sys.executable, "-u", "-m", "ember.distributed._rank", "--exec"] + argv
    try:
        rc = subprocess.call(cmd, preexec_fn=_die_with_parent if sys.platform == "linux" else None)
    except KeyboardInterrupt:
        rc = -signal.SIGINT
    if rc < 0:
        try:
            name = signal.Signals(-rc).name
        except ValueError:
            name = f"signal {-rc}"
        _status(rank, f"signal {name}", first=True)
        return 128 - rc
    if rc:
        _status(rank, f"exit {rc}", first=True)
    return rc


def run(argv) -> int:
    """Run the target in this process (the supervisor's child)."""
    module = argv[0] == "-m"
    if module:
        argv = argv[1:]
    rank = int(os.environ.get("RANK", "0"))
    sys.argv = list(argv)
    if not module:
        sys.path.insert(0, os.path.dirname(os.path.abspath(argv[0])))
    try:
        if module:
            runpy.run_module(argv[0], run_name="__main__", alter_sys=True)
        else:
            runpy.run_path(argv[0], run_name="__main__")
    except SystemExit as e:
        if e.code is None or e.code == 0:
            _status(rank, "ok")
            return 0
        if not isinstance(e.code, int):
            print(e.code, file=sys.stderr)
        code = e.code if isinstance(e.code, int) else 1
        _status(rank, f"exit {code}")
        _exit_now(code)
    except BaseException as e:  # noqa: BLE001  (any failure of the script is this rank's failure)
        text = "".join(traceback.format_exception(type(e), e, e.__traceback__)).rstrip("\n")
        sys.stderr.write("".join(f"[rank{rank}]: {line}\n" for line in text.split("\n")))
        first = str(e).splitlines()[0] if str(e) else ""
        _status(rank, f"error {type(e).__name__}: {first}")
        _exit_now(1)
    _status(rank, "ok")
    return 0


def _exit_now(code: int) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    execute = bool(argv) and argv[0] == "--exec"
    if execute:
        argv.pop(0)
    if not argv or argv == ["-m"]:
        print("usage: _rank.py [--exec] [-m] script.py [args...]", file=sys.stderr)
        return 2
    return run(argv) if execute else supervise(argv)


if __name__ == "__main__":
    sys.exit(main())
