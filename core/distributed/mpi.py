"""The MPI communication backend: mpi4py over Open MPI, for tensors of every device type.

Host-memory tensors (cpu) are handed to MPI as numpy views, with no copy; other devices are staged
through host memory and written back in place (``ember.distributed.host``). A blocking collective
runs in the calling thread, as a blocking MPI call (the fastest path MPI has); ``async_op=True``
runs it on the group's worker thread, so that it overlaps the caller's work, and later blocking
calls queue behind it to keep every rank's order. Point-to-point operations are MPI's nonblocking
requests. The watchdog (``ember.distributed.watchdog``) turns a hang into an error naming the rank.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from time import monotonic as _monotonic

import numpy as np

from ..errors import DistributedError
from ..plugins import API_VERSION, hookimpl
from . import host, watchdog
from . import mpi_types as T
from .work import DONE, ThreadWork, Work

MPI = None   # mpi4py.MPI, imported when the first group is made


@hookimpl
def ember_register_comm_backends(register):
    register("mpi", create, api_version=API_VERSION, devices=None)


def create(rank, world_size, timeout, init_method):
    """The default group: every process ``mpiexec`` (or ``ember-run``) started."""
    global MPI
    MPI = mpi = T.load()
    world = mpi.COMM_WORLD
    for name, given, actual in (("world_size", world_size, world.Get_size()), ("rank", rank, world.Get_rank())):
        if given not in (-1, actual):
            hint = ("start the ranks with ember-run or mpiexec" if world.Get_size() == 1 else
                    "leave it unset: MPI assigns it")
            raise DistributedError(
                f"init_process_group(backend='mpi'): {name}={given} but MPI says {actual}; {hint}")
    return ProcessGroupMPI(world.Dup(), list(range(world.Get_size())), timeout.total_seconds())


class ProcessGroupMPI:
    """A process group over one MPI communicator (see ``ember_register_comm_backends``)."""

    def __init__(self, comm, ranks, timeout: float):
        comm.Set_errhandler(MPI.ERRORS_RETURN)
        self._comm = comm
        self._ctl = comm.Dup()            # the watchdog's channel, apart from the data's
        self._rank = comm.Get_rank()
        self._size = comm.Get_size()
        self._ranks = ranks               # global rank of each rank of this group
        self._timeout = timeout
        self._seq = 0
        self._busy = None                 # (seq, what, deadline) of the collective running now
        self._busy_p2p = None             # the same for a point-to-point wait
        self._last = (0, "none", 0.0)    # the last operation: (seq, name, deadline)
        self._failure = None              # (error class, message) once the group gave up
        self._peer_failure = None         # (global rank, message) of a peer that gave up first
        self._queue = None
        self._worker = None
        watchdog.add(self)

    # -- contract basics ---------------------------------------------------------------------
    def rank(self) -> int:
        return self._rank

    def size(self) -> int:
        return self._size

    def name(self) -> str:
        return "mpi"

    def new_group(self, ranks, timeout):
        self._check()
        member = self._rank in ranks
        sub = self._comm.Split(0 if member else MPI.UNDEFINED, ranks.index(self._rank) if member else 0)
        if not member:
            return None
        return ProcessGroupMPI(sub, [self._ranks[r] for r in ranks], timeout.total_seconds())

    def abort(self, reason: str, cls=DistributedError) -> None:
        """Give up on this group: record why, and revoke the communicator so that every rank's
        pending and later operations on it fail instead of waiting (Open MPI's ULFM)."""
        if self._failure is None:
            self._failure = (cls, reason)
            watchdog.tell_peers(self, reason)
        if os.environ.get("OMPI_MCA_mpi_ft_enable") == "1":
            try:
                self._comm.Revoke()
            except MPI.Exception:
                pass

    def shutdown(self) -> None:
        watchdog.remove(self)
        if self._worker is not None:
            self._queue.put(None)
            self._worker.join(timeout=1.0)
            self._worker = None
        if self._failure is None:
            for c in (self._ctl, self._comm):
                try:
                    c.Free()
                except MPI.Exception:
                    pass

    # -- running an operation ----------------------------------------------------------------
    def _check(self) -> None:
        if self._failure is not None:
            cls, msg = self._failure
            raise cls(f"the process group was aborted earlier: {msg}")

    def _enter(self, what: str, timeout=None) -> None:
        self._seq += 1
        self._busy = (self._seq, what, time.monotonic() + (timeout or self._timeout))

    def _run(self, what, fn, args, posts, result, async_op, timeout=None) -> Work:
        """Run ``fn(*args)`` (a blocking MPI call) now, or on the worker thread."""
        if self._failure is not None:
            self._check()
        if async_op or (self._queue is not None and self._queue.unfinished_tasks):
            w = ThreadWork(posts, result, limit=self._timeout + watchdog.grace(self._timeout) + 5.0)
            if self._worker is None:
                self._queue = queue.Queue()
                self._worker = threading.Thread(target=self._work_loop, name="ember-mpi-worker", daemon=True)
                self._worker.start()
            self._queue.put((w, what, fn, args, timeout))
            return w
        self._seq += 1
        self._busy = busy = (self._seq, what, _monotonic() + (timeout or self._timeout))
        try:
            fn(*args)
        except MPI.Exception as e:
            raise self._error(e, what) from None
        finally:
            self._busy = None
            self._last = busy
        for f, a in posts:
            f(*a)
        return DONE

    def _work_loop(self) -> None:
        q = self._queue
        while True:
            item = q.get()
            if item is None:
                q.task_done()
                return
            w, what, fn, args, timeout = item
            try:
                self._check()
                self._enter(what, timeout)
                fn(*args)
            except MPI.Exception as e:
                w._error = self._error(e, what)
            except DistributedError as e:
                w._error = e
            finally:
                if self._busy is not None:
                    self._last = self._busy
                self._busy = None
                q.task_done()
                w.event.set()

    def _error(self, e, what: str) -> DistributedError:
        """The Ember error for an MPI failure of ``what``."""
        code = e.Get_error_class()
        if code == MPI.ERR_PROC_FAILED:
            failed = self._comm.Get_failed()
            dead = MPI.Group.Translate_ranks(failed, list(range(failed.Get_size())), self._comm.Get_group())
            names = ", ".join(str(self._ranks[r]) for r in dead) or "?"
            self.abort(f"{what}: rank {names} died (its process ended) while rank "
                       f"{self._ranks[self._rank]} was communicating with it; see that rank's output")
        elif self._failure is None:
            why = f"MPI error: {e}"
            if code == MPI.ERR_REVOKED:
                peer = watchdog.peer_failure(self)
                why = (f"rank {peer[0]} gave up on the group: {peer[1]}" if peer else
                       "another rank gave up on the group (see its error)")
            self._failure = (DistributedError, f"{what} failed on rank {self._ranks[self._rank]}: {why}")
        cls, msg = self._failure
        return cls(msg)

    # -- collectives ---------------------------------------------------------------------------
    def allreduce(self, t, op, async_op=False) -> Work:
        posts = []
        arr, wb = host.write_buffer(t, "all_reduce")
        buf, typ, mop = T.reducible(self._size, arr, t.dtype, op, "all_reduce", posts)
        _add(posts, wb)
        return self._run("all_reduce", self._comm.Allreduce, (MPI.IN_PLACE, [buf, typ], mop), posts, [t], async_op)

    def broadcast(self, t, root, async_op=False) -> Work:
        posts = []
        arr, wb = host.write_buffer(t, "broadcast", keep=self._rank == root)
        _add(posts, wb if self._rank != root else None)
        return self._run("broadcast", self._comm.Bcast, (T.as_bytes(arr), root), posts, [t], async_op)

    def reduce(self, t, root, op, async_op=False) -> Work:
        posts = []
        arr, wb = host.write_buffer(t, "reduce")
        buf, typ, mop = T.reducible(self._size, arr, t.dtype, op, "reduce", posts if self._rank == root else [])
        if self._rank == root:
            _add(posts, wb)
            args = (MPI.IN_PLACE, [buf, typ], mop, root)
        else:
            args = ([buf, typ], None, mop, root)
        return self._run("reduce", self._comm.Reduce, args, posts, [t], async_op)

    def allgather_into_tensor(self, out, t, async_op=False) -> Work:
        posts = []
        src = host.read_buffer(t, "all_gather_into_tensor")
        dst, wb = host.write_buffer(out, "all_gather_into_tensor", keep=False)
        _add(posts, wb)
        return self._run("all_gather_into_tensor", self._comm.Allgather, (T.as_bytes(src), T.as_bytes(dst)),
                         posts, [out], async_op)

    def allgather(self, out_list, t, async_op=False) -> Work:
        src = host.read_buffer(t, "all_gather")
        dst = np.empty((self._size,) + src.shape, src.dtype)
        posts = [(host.copy_into, (o, dst[i])) for i, o in enumerate(out_list)]
        return self._run("all_gather", self._comm.Allgather, (T.as_bytes(src), T.as_bytes(dst)), posts,
                         list(out_list), async_op)

    def reduce_scatter_tensor(self, out, t, op, async_op=False) -> Work:
        posts = []
        src = host.read_buffer(t, "reduce_scatter_tensor")
        dst, wb = host.write_buffer(out, "reduce_scatter_tensor", keep=False)
        sbuf, typ, mop = T.reducible(self._size, src, t.dtype, op, "reduce_scatter_tensor", [])
        rbuf, _, _ = T.reducible(self._size, dst, t.dtype, op, "reduce_scatter_tensor", posts)
        _add(posts, wb)
        return self._run("reduce_scatter_tensor", self._comm.Reduce_scatter_block,
                         ([sbuf, typ], [rbuf, typ], mop), posts, [out], async_op)

    def gather(self, out_list, t, root, async_op=False) -> Work:
        src = host.read_buffer(t, "gather")
        posts, dst = [], None
        if self._rank == root:
            dst = np.empty((self._size,) + src.shape, src.dtype)
            posts = [(host.copy_into, (o, dst[i])) for i, o in enumerate(out_list)]
        return self._run("gather", self._comm.Gather, (T.as_bytes(src), None if dst is None else T.as_bytes(dst), root),
                         posts, list(out_list or ()), async_op)

    def scatter(self, t, in_list, root, async_op=False) -> Work:
        posts = []
        dst, wb = host.write_buffer(t, "scatter", keep=False)
        _add(posts, wb)
        src = None
        if self._rank == root:
            src = np.stack([host.read_buffer(x, "scatter") for x in in_list])
        send = None if src is None else T.as_bytes(src)
        return self._run("scatter", self._comm.Scatter, (send, T.as_bytes(dst), root),
                         posts, [t], async_op)

    def alltoall_single(self, out, t, out_splits, in_splits, async_op=False) -> Work:
        posts = []
        src = host.read_buffer(t, "all_to_all_single")
        dst, wb = host.write_buffer(out, "all_to_all_single", keep=False)
        _add(posts, wb)
        if out_splits is None and in_splits is None:
            return self._run("all_to_all_single", self._comm.Alltoall, (T.as_bytes(src), T.as_bytes(dst)), posts,
                             [out], async_op)
        row = t.dtype.itemsize * T.rowsize(t.shape)
        sc, sd = T.counts(in_splits, t.shape[0] if t.dim() else 1, self._size, row)
        rc, rd = T.counts(out_splits, out.shape[0] if out.dim() else 1, self._size, row)
        return self._run("all_to_all_single", self._comm.Alltoallv,
                         ([src.reshape(-1).view(np.uint8), (sc, sd), MPI.BYTE],
                          [dst.reshape(-1).view(np.uint8), (rc, rd), MPI.BYTE]), posts, [out], async_op)

    def barrier(self, async_op=False, timeout=None) -> Work:
        return self._run("barrier", self._comm.Barrier, (), (), [], async_op, timeout)

    # -- point to point ------------------------------------------------------------------------
    def send(self, t, dst, tag) -> Work:
        self._check()
        src = host.read_buffer(t, "send")
        return _RequestWork(self, "send", self._comm.Isend(T.as_bytes(src), dst, tag), (), [t], src)

    def recv(self, t, src, tag) -> Work:
        self._check()
        posts = []
        dst, wb = host.write_buffer(t, "recv", keep=False)
        _add(posts, wb)
        source = MPI.ANY_SOURCE if src is None else src
        return _RequestWork(self, "recv", self._comm.Irecv(T.as_bytes(dst), source, tag), posts, [t], dst)


class _RequestWork(Work):
    """A nonblocking MPI request; ``wait`` blocks in MPI under the watchdog's eye."""

    __slots__ = ("_pg", "_what", "_req", "_status", "_keep")

    def __init__(self, pg, what, req, posts, result, keep):
        super().__init__(posts, result)
        self._pg, self._what, self._req, self._keep = pg, what, req, keep
        self._status = MPI.Status()

    def _block(self, timeout) -> None:
        pg = self._pg
        pg._busy_p2p = (0, self._what, time.monotonic() + (pg._timeout if timeout is None else timeout))
        try:
            self._req.Wait(self._status)
        except MPI.Exception as e:
            raise pg._error(e, self._what) from None
        finally:
            pg._busy_p2p = None
        self._source = pg._ranks[self._status.Get_source()] if self._what == "recv" else -1

    def _done(self) -> bool:
        try:
            done = self._req.Test(self._status)
        except MPI.Exception as e:
            self._error = self._pg._error(e, self._what)
            return True
        if done and self._what == "recv":
            self._source = self._pg._ranks[self._status.Get_source()]
        return done


def _add(posts, post) -> None:
    if post is not None:
        posts.append(post)
