"""What every benchmark in bench/ shares: one thread count for every library, interleaved samples, medians, ratios.

A comparison is only fair when both sides may use the same number of threads. ``pin_threads(n)``
is called before torch or jax is imported and limits

- numpy's BLAS (which Ember's cpu backend calls) and any OpenMP runtime already loaded, through
  threadpoolctl's ``threadpool_limits``;
- PyTorch, through ``torch.set_num_threads``;
- XLA (JAX, ember-xla): XLA sizes its intra-op thread pool by the cores the process may run
  on, and no flag limits it (``--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1``
  in ``XLA_FLAGS`` is set for n = 1, yet jax 0.10 still spreads a jitted matmul over four
  threads), so where n is below the number of cores the process is restricted to n of them
  (``os.sched_setaffinity``, before jax is imported). Every library in the process then shares
  those n cores, which keeps the comparison fair but lets a busy core slow all of them;
- pocl (OpenCL on the cpu), through ``POCL_CPU_MAX_CU_COUNT`` / ``POCL_MAX_PTHREAD_COUNT``.

``threads_line()`` then reports what each library was actually left with, read back from the
libraries, so that the printed figure is the one the run used.

Ratios are always ``median(a) / median(b)`` of the medians printed beside them, so a reader can
check them from the columns.
"""

from __future__ import annotations

import gc
import os
import statistics
import sys
import time

DEFAULT_THREADS = 1

_state = {"n": None, "limits": None, "xla": None, "affinity": None, "pocl": False}


def add_threads_option(parser) -> None:
    """The ``--threads N`` option every benchmark has (default 1)."""
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS, metavar="N",
                        help=f"threads for every library compared (numpy's BLAS, PyTorch, XLA; "
                             f"default {DEFAULT_THREADS})")


def pin_threads(n: int, *, torch: bool = False, jax: bool = False, pocl: bool = False):
    """Limit every library this benchmark compares to ``n`` threads; returns torch when asked for (else None).

    Call it before anything imports torch or jax. ``torch=True`` imports PyTorch (None when it is
    not installed); ``jax=True`` prepares XLA_FLAGS for a later ``import jax``; ``pocl=True`` limits
    pocl's cpu device.
    """
    if n < 1:
        raise SystemExit(f"--threads must be at least 1, got {n}")
    _state["n"] = n
    if jax:
        if "jax" in sys.modules:
            raise RuntimeError("pin_threads(jax=True) must run before jax is imported: XLA reads XLA_FLAGS once")
        if n == 1:
            flags = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
            os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + flags).strip()
        ncpu = _cpu_count()
        if n < ncpu and hasattr(os, "sched_setaffinity"):
            cores = sorted(os.sched_getaffinity(0))[:n]
            os.sched_setaffinity(0, cores)
            _state["affinity"] = cores
            _state["xla"] = f"{n} (process restricted to core{'s' if n > 1 else ''} {', '.join(map(str, cores))})"
        elif n < ncpu:
            _state["xla"] = f"all {ncpu} cores (XLA cannot be limited to {n} here: no sched_setaffinity)"
        else:
            _state["xla"] = f"{ncpu} (every core)"
    if pocl:
        for var in ("POCL_CPU_MAX_CU_COUNT", "POCL_MAX_PTHREAD_COUNT"):
            os.environ[var] = str(n)
        _state["pocl"] = True
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        raise SystemExit("the benchmarks need threadpoolctl to pin numpy's BLAS threads: "
                         "python -m pip install threadpoolctl") from None
    import numpy  # noqa: F401  (its BLAS must be loaded for threadpoolctl to limit it)
    mod = None
    if torch:
        try:
            import torch as mod
        except ImportError:
            mod = None
        else:
            mod.set_num_threads(n)
    # The limit lasts while this object lives; it covers every thread pool loaded so far. A BLAS loaded
    # later (scipy ships its own OpenBLAS) reads its thread count from the environment when it loads.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    _state["limits"] = threadpool_limits(limits=n)
    return mod


def threads_line() -> str:
    """What each library was left with, e.g. ``threads: 1 (numpy BLAS 1, torch 1, XLA 1 (...))``."""
    from threadpoolctl import threadpool_info
    parts = []
    blas = sorted({p["num_threads"] for p in threadpool_info() if p.get("user_api") == "blas"})
    parts.append("numpy BLAS " + ("/".join(map(str, blas)) if blas else "none loaded"))
    if "torch" in sys.modules:
        parts.append(f"torch {sys.modules['torch'].get_num_threads()}")
    if _state["xla"]:
        parts.append(f"XLA {_state['xla']}")
    if _state["pocl"]:
        parts.append(f"pocl {os.environ['POCL_CPU_MAX_CU_COUNT']}")
    return f"threads: {_state['n']} ({', '.join(parts)})"


def _cpu_count() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


# -- timing -----------------------------------------------------------------------------------

def interleave(fns: dict, repeat: int, number: int = 1, *, clock=time.perf_counter, gc_off: bool = False) -> dict:
    """Seconds per call of each zero-argument function: ``repeat`` samples of ``number`` calls each.

    The functions take turns, one sample each per round, so a change in the machine's load hits
    all of them alike. ``gc_off`` disables the garbage collector during a sample, as timeit does.
    """
    samples = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            was = gc.isenabled()
            if gc_off:
                gc.disable()
            try:
                t0 = clock()
                for _ in range(number):
                    fn()
                dt = clock() - t0
            finally:
                if gc_off and was:
                    gc.enable()
            samples[name].append(dt / number)
    return samples


def medians(samples: dict) -> dict:
    """name -> median of its samples."""
    return {name: statistics.median(v) for name, v in samples.items()}


def ratio(a, b):
    """``a / b``, or None where either is missing (or b is 0)."""
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt(v, unit: str = "", digits: int = 4) -> str:
    """A figure to ``digits`` significant digits (enough to check a ratio from it); "n/a" for None."""
    if v is None:
        return "n/a"
    if v == 0 or not (v == v):  # zero or NaN
        return f"{v}{unit}"
    mag = 0
    a = abs(v)
    while a >= 10:
        a /= 10
        mag += 1
    while a < 1:
        a *= 10
        mag -= 1
    decimals = max(0, digits - 1 - mag)
    return f"{v:.{decimals}f}{unit}"


def fmt_ratio(v) -> str:
    return "n/a" if v is None else f"{v:.2f}x"
