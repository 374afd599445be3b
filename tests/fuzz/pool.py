"""Worker subprocesses (spawned, so a crash cannot take the parent with it): each case goes to one
worker with a deadline; a worker that dies is a crash, one that misses the deadline is a hang and is
killed. Either way the next case gets a fresh worker."""

from __future__ import annotations

import multiprocessing as mp
import queue
import threading

from .worker import serve

START_TIMEOUT = 120.0


class Worker:
    def __init__(self):
        self.proc = None
        self.conn = None

    def start(self):
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=serve, args=(child,), daemon=True, name="ember-fuzz-worker")
        self.proc.start()
        child.close()
        if not self.conn.poll(START_TIMEOUT) or self.conn.recv() != "ready":
            self.stop()
            raise RuntimeError("the fuzz worker did not start")

    def stop(self):
        if self.proc is not None:
            if self.proc.is_alive():
                self.proc.kill()
            self.proc.join(10)
            self.conn.close()
        self.proc = self.conn = None

    def run(self, case, timeout: float):
        """("done", (ember outcome, torch outcome)); ("crash", exit code) or ("hang", timeout) when
        Ember crashed or hung; ("torch-crash", ...) or ("torch-hang", ...) when Ember had answered
        and torch then did (torch's own defects: not counted against Ember)."""
        if self.proc is None:
            self.start()
        got = None
        try:
            self.conn.send(case)
            for _ in range(2):
                if not self.conn.poll(timeout):
                    self.stop()
                    return ("hang" if got is None else "torch-hang"), timeout
                who, outcome = self.conn.recv()
                if who == "ember":
                    got = outcome
                else:
                    return "done", (got, outcome)
        except (EOFError, OSError, BrokenPipeError):
            self.proc.join(5)
            code = self.proc.exitcode
            self.stop()
            return ("crash" if got is None else "torch-crash"), code
        raise RuntimeError("the fuzz worker answered out of order")


class Pool:
    """``jobs`` workers fed from one queue; ``map(cases, timeout)`` yields (index, status, payload) in
    completion order."""

    def __init__(self, jobs: int = 2):
        self.workers = [Worker() for _ in range(max(1, jobs))]

    def map(self, cases, timeout: float):
        todo: queue.Queue = queue.Queue()
        done: queue.Queue = queue.Queue()
        for item in enumerate(cases):
            todo.put(item)

        def drain(w):
            while True:
                try:
                    i, case = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    done.put((i,) + w.run(case, timeout))
                except Exception as e:  # noqa: BLE001  (a worker that cannot start: every case reports it)
                    done.put((i, "harness", repr(e)))
        threads = [threading.Thread(target=drain, args=(w,), daemon=True) for w in self.workers]
        for t in threads:
            t.start()
        for _ in range(len(cases)):
            yield done.get()
        for t in threads:
            t.join()

    def close(self):
        for w in self.workers:
            w.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
