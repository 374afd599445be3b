"""A rank that fails on purpose (argv[1]: raise, exit, kill, hang, stuck, mismatch, async), to check that the others
end within the group's timeout with an error naming it. Rank 0 prints ``CAUGHT <error>`` for the
error it got, then re-raises so that the launcher sees the failure."""

import ctypes
import os
import signal
import sys
import time
from datetime import timedelta

import ember
import ember.distributed as dist

dist.init_process_group("mpi", timeout=timedelta(seconds=float(os.environ.get("EMBER_TEST_TIMEOUT", "2"))))
rank, mode = dist.get_rank(), sys.argv[1]
t = ember.ones(4)
dist.all_reduce(t)
print(f"READY {rank}", flush=True)
if rank == 1:
    if mode == "raise":
        raise ValueError("boom on rank 1")
    if mode == "exit":
        os._exit(3)
    if mode == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "hang":
        time.sleep(120)
    if mode == "stuck":  # blocked in C holding the interpreter: its watchdog cannot answer either
        ctypes.PyDLL(None).sleep(120)
    if mode == "mismatch":
        dist.barrier()
start = time.monotonic()
try:
    if mode == "async":
        dist.all_reduce(t, async_op=True).wait() if rank == 0 else time.sleep(120)
    else:
        dist.all_reduce(t)
except dist.DistributedError as e:
    print(f"CAUGHT {type(e).__name__} after {time.monotonic() - start:.1f}s: {e}", flush=True)
    raise
