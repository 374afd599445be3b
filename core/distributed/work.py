"""``Work``: the handle an ``async_op=True`` collective returns (PyTorch's ``torch.distributed.Work``).

A Work finishes in two steps: the backend completes the transfer, then the Work's *posts* run once,
in the thread that first sees it complete (writing a staged copy back into a device tensor, dividing
for ``ReduceOp.AVG``). A post is a ``(function, args)`` pair, so no closure is built per call.
"""

from __future__ import annotations

import threading

from ..errors import DistributedError, DistributedTimeoutError


class Work:
    """A distributed operation that may still be running. ``wait()`` blocks until it is done (raising
    its error, if any); until then the tensors it writes must not be read."""

    __slots__ = ("_posts", "_result", "_error", "_finished", "_source")

    def __init__(self, posts=(), result=None):
        self._posts = posts
        self._result = result if result is not None else []
        self._error = None
        self._finished = False
        self._source = -1

    # -- what a backend overrides -------------------------------------------
    def _block(self, timeout) -> None:
        """Wait for the transfer to end (raise on failure or timeout)."""

    def _done(self) -> bool:
        """True when the transfer has ended (without blocking)."""
        return True

    # -- PyTorch's API ---------------------------------------------------------
    def wait(self, timeout=None) -> bool:
        """Block until the operation completed and its outputs are written; raise its error.
        ``timeout`` (a ``timedelta`` or seconds) caps the wait below the group's own timeout."""
        if not self._finished:
            if self._error is None:
                try:
                    self._block(_seconds(timeout))
                except DistributedError as e:
                    self._error = e
            self._finish()
        if self._error is not None:
            raise self._error
        return True

    def is_completed(self) -> bool:
        if not self._finished and self._done():
            self._finish()
        return self._finished

    def is_success(self) -> bool:
        return self.is_completed() and self._error is None

    def exception(self):
        self.is_completed()
        return self._error

    def source_rank(self) -> int:
        """The rank a ``recv`` from any source received from (-1 before it completed)."""
        self.wait()
        return self._source

    def result(self) -> list:
        """The output tensors, after ``wait()``."""
        self.wait()
        return self._result

    synchronize = wait

    def _finish(self) -> None:
        if self._error is None:
            for fn, args in self._posts:
                fn(*args)
        self._finished = True

    def __repr__(self):
        state = "failed" if self._error is not None else ("completed" if self._finished else "pending")
        return f"<ember.distributed.Work {state}>"


class ThreadWork(Work):
    """A Work run by a backend's worker thread: the thread sets ``event`` (and ``_error`` on failure)."""

    __slots__ = ("event", "limit")

    def __init__(self, posts=(), result=None, limit=None):
        super().__init__(posts, result)
        self.event = threading.Event()
        self.limit = limit   # seconds after which wait() stops waiting even if the backend never answers

    def _block(self, timeout) -> None:
        limit = self.limit if timeout is None else timeout
        if not self.event.wait(limit):
            raise DistributedTimeoutError(
                f"Work.wait(): the operation did not complete within {limit:.3g} s; pass a longer "
                f"timeout= to wait() or to init_process_group()")

    def _done(self) -> bool:
        return self.event.is_set()


def completed(posts=(), result=None) -> Work:
    """A Work whose operation already ran (in the calling thread); its posts run now."""
    w = Work(posts, result)
    w._finish()
    return w


#: What a blocking operation that already ran in the calling thread returns (its posts ran too).
DONE = completed()


def _seconds(timeout):
    if timeout is None:
        return None
    s = timeout.total_seconds() if hasattr(timeout, "total_seconds") else float(timeout)
    return None if s <= 0 else s  # PyTorch's default timedelta(0) means "the group's timeout"
