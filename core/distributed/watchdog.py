"""The watchdog: one thread per process that turns a hung or dead peer into an error naming it.

Each process group marks the operation it is blocked in (``_busy``: sequence number, name,
deadline). Every ``PERIOD`` seconds the watchdog answers its peers' questions on each group's
control communicator and, when an operation passes its deadline, asks every peer what it is doing:
a peer that answers is alive and says which collective it is in (or that it runs its own code); a
peer that does not answer within the grace period is dead or stuck. The group is then aborted
with that diagnosis: the blocked MPI call returns with an error (Open MPI's ULFM revokes the
communicator; ``ember-run`` turns it on), and without ULFM the job is ended with the message.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time

from ..errors import DistributedTimeoutError
from . import mpi as _backend   # mpi imports this module too: only its MPI attribute is read, later

PERIOD = 0.05
_ASK, _ANSWER, _GAVE_UP = 7701, 7702, 7703

_groups: list = []
_lock = threading.Lock()
_thread = None
_stop = threading.Event()
_failed = False


def grace(timeout: float) -> float:
    """How long a timed-out rank waits for its peers' answers."""
    return min(max(0.5, timeout / 4), 5.0)


def add(pg) -> None:
    global _thread
    with _lock:
        _groups.append(pg)
        if _thread is None:
            _thread = threading.Thread(target=_loop, name="ember-distributed-watchdog", daemon=True)
            _thread.start()
            atexit.register(_at_exit)


def remove(pg) -> None:
    with _lock:
        if pg in _groups:
            _groups.remove(pg)


def _state(pg) -> tuple:
    busy = pg._busy or pg._busy_p2p
    if busy is None:
        return ("idle",) + tuple(pg._last[:2])
    return ("busy", busy[0], busy[1])


def _loop() -> None:
    while not _stop.wait(PERIOD):
        with _lock:
            groups = list(_groups)
        now = time.monotonic()
        for pg in groups:
            try:
                _answer(pg)
                busy = pg._busy or pg._busy_p2p
                if busy is not None and now > busy[2] and pg._failure is None:
                    _timed_out(pg, busy)
            except Exception as e:  # noqa: BLE001  (the watchdog must outlive any one group)
                print(f"ember.distributed watchdog: {type(e).__name__}: {e}", file=sys.stderr, flush=True)


def _answer(pg, heard=None) -> None:
    """Answer every question waiting on ``pg``'s control channel; keep answers in ``heard``."""
    MPI = _backend.MPI
    st = MPI.Status()
    while pg._ctl.Iprobe(MPI.ANY_SOURCE, MPI.ANY_TAG, st):
        src, tag = st.Get_source(), st.Get_tag()
        msg = pg._ctl.recv(source=src, tag=tag)
        if tag == _ASK:
            pg._ctl.isend(_state(pg), dest=src, tag=_ANSWER)   # small: completes eagerly
        elif tag == _GAVE_UP:
            if pg._peer_failure is None:
                pg._peer_failure = (pg._ranks[src], msg)
        elif heard is not None:
            heard[src] = msg


def tell_peers(pg, reason: str) -> None:
    """Tell every peer why this rank gives up on ``pg`` (before the communicator is revoked)."""
    for p in range(pg._size):
        if p != pg._rank:
            try:
                pg._ctl.isend(reason, dest=p, tag=_GAVE_UP)
            except Exception:  # noqa: BLE001  (a dead peer: nothing to tell)
                pass


def peer_failure(pg, wait: float = 0.5):
    """(global rank, reason) of the peer that gave up on ``pg``, waiting up to ``wait`` s for the note."""
    end = time.monotonic() + wait
    while pg._peer_failure is None and time.monotonic() < end:
        time.sleep(0.01)
    return pg._peer_failure


def _timed_out(pg, busy) -> None:
    global _failed
    seq, what, _ = busy
    me = pg._ranks[pg._rank]
    for p in range(pg._size):
        if p != pg._rank:
            pg._ctl.isend(("ask",), dest=p, tag=_ASK)
    heard: dict = {}
    end = time.monotonic() + grace(pg._timeout)
    while len(heard) < pg._size - 1 and time.monotonic() < end:
        _answer(pg, heard)
        time.sleep(0.01)
    label = f"{what} (collective #{seq})" if seq else what
    notes = []
    for p in range(pg._size):
        if p == pg._rank:
            continue
        r, st = pg._ranks[p], heard.get(p)
        if st is None:
            notes.append(f"rank {r} did not answer: it died or is stuck outside Python")
        elif st[0] == "idle":
            notes.append(f"rank {r} is running its own code and has not called it "
                         f"(its last collective: {st[2]} #{st[1]})")
        elif st[1] != seq or st[2] != what:
            notes.append(f"rank {r} waits in {st[2]}" + (f" (collective #{st[1]})" if st[1] else "")
                         + ": the ranks called different operations")
    if not notes:
        notes.append("every rank answered and waits in it too: the transfer itself is stuck")
    msg = (f"{label} did not complete within {pg._timeout:g} s on rank {me} (timeout of the "
           f"process group): " + "; ".join(notes))
    _failed = True
    pg.abort(msg, DistributedTimeoutError)
    if os.environ.get("OMPI_MCA_mpi_ft_enable") != "1":
        # Without ULFM nothing can interrupt the blocked call: end the job with the diagnosis.
        print(f"ember.distributed: DistributedTimeoutError: {msg}\n(the job is aborted: run it with "
              f"ember-run, which enables MPI fault tolerance, to get a Python exception instead)",
              file=sys.stderr, flush=True)
        _backend.MPI.COMM_WORLD.Abort(1)


def _at_exit() -> None:
    """Stop the watchdog before MPI finalises; after a failure end the job (a peer may still hang,
    and MPI_Finalize would wait for it forever)."""
    _stop.set()
    if _thread is not None:
        _thread.join(timeout=2.0)
    if _failed or any(pg._failure is not None for pg in _groups):
        sys.stderr.flush()
        sys.stdout.flush()
        _backend.MPI.COMM_WORLD.Abort(1)
