"""Which reduction kernels each device runs, chosen by measurement (as gemm.py chooses GEMM tiles).

Two shapes of kernel reduce sum, prod, amax, amin, all and any (kernels.py):

- ``tree`` (``reduction``, ``reduction_contig``): a GPU's reductions, work-groups of up to 256
  work-items that interleave their elements (coalesced loads) and combine in local memory with
  barriers;
- ``cpu`` (``reduction_cpu``): a CPU's, each work-item reducing a long run of its own into U
  accumulators written out unrolled (vector operations on contiguous loads), no local memory and
  no barriers, the partial results reduced by a short second launch. Rows (the full reduction, or
  over the last dims; their elements adjacent or evenly spaced) split into enough runs to fill the
  device, floats into runs of at most ``MAX_RUN`` x U elements; columns (a reduced dim above
  adjacent kept ones: ``sum(0)`` of a matrix) go U columns a work-item down runs of at most
  ``COL_RUN`` rows; other layouts take the ``tree`` kernels. On pocl (one core of an AMD EPYC), a
  sum of 2**24 float32 takes about 2.8 ms this way (numpy: 2.7) and 12 ms through ``tree``; over
  the rows of that as a (4096, 4096) matrix, about 5 ms (numpy: 4.3) and 130 ms.

A driver that names its devices for tuning (``Driver.tune_key(device)``) has each device measured
the first time a reduction runs there: each of ``CANDIDATES`` sums TUNE_N float32 in full and over
the rows of a (TUNE_ROWS, TUNE_N / TUNE_ROWS) matrix (the column case), and the fastest in total is
kept, in memory and on disk (``reduce-shapes.json`` in the kernel cache directory, keyed by
dialect, the driver's key and a hash of the candidates' sources). A driver without ``tune_key``
(cuda, rocm) runs ``tree``.

``EMBER_KERNEL_REDUCE`` overrides both: ``tree``, or ``U`` / ``UxBLOCK`` for ``cpu`` with U
accumulators per work-item (one of kernels.CPU_WIDTHS) and BLOCK work-items per work-group
(default 16).
"""

from __future__ import annotations

import hashlib
import time

from ember import dtypes as D
from ember.errors import InvalidArgumentError

from . import kernels as KD, tuning
from .cache import cache_dir
from .render import render

ENV = "EMBER_KERNEL_REDUCE"
TUNE_N = 1 << 22             # the tuning problems: TUNE_N float32, in full and as TUNE_ROWS rows summed
TUNE_ROWS = 1024
TUNE_FILE = "reduce-shapes.json"

#: the most elements one accumulator combines in a row before the next launch takes over (float32
#: sums in runs of at most 2048 terms, then a sum of the partial results): bounds rounding error
MAX_RUN = 2048
#: the most rows one work-item walks down its columns (on pocl, a (4096, 4096) float32 sum over
#: rows takes about 4 ms in runs of 256 rows and 15 ms in runs of 2048)
COL_RUN = 256
#: the fewest elements worth a work-item of their own
MIN_ITEMS = 4096

#: what a tuned device chooses from: ("tree",) or ("cpu", U, work-items per work-group)
CANDIDATES = (("tree",), ("cpu", 16, 16), ("cpu", 32, 16))
UNTUNED = ("tree",)


def parse(text: str):
    """The choice an EMBER_KERNEL_REDUCE value names."""
    s = text.strip().lower()
    if s == "tree":
        return ("tree",)
    try:
        parts = [int(v) for v in s.split("x")]
    except ValueError:
        parts = []
    if len(parts) in (1, 2) and parts[0] in KD.CPU_WIDTHS and (len(parts) == 1 or 1 <= parts[1] <= 1024):
        return ("cpu", parts[0], parts[1] if len(parts) == 2 else 16)
    raise InvalidArgumentError(
        f"{ENV}={text!r} names no reduction kernel: use 'tree', or 'U' / 'UxBLOCK' (accumulators per "
        f"work-item, one of {', '.join(map(str, KD.CPU_WIDTHS))}; work-items per work-group), e.g. '16x16'")


def describe(choice) -> str:
    """A choice in words, as EMBER_KERNEL_REDUCE spells it."""
    return "tree" if choice[0] == "tree" else f"{choice[1]}x{choice[2]}"


def choice_for(b, device):
    """The reduction choice for ``device``: EMBER_KERNEL_REDUCE, else the tuned one, else ``tree``."""
    return tuning.device_choice(b, device, b._reduce, ENV, parse, tuned, UNTUNED)


def choose(b, device, choice):
    """Make ``device`` run ``choice`` (as ``parse`` returns it) from now on; returns the previous
    choice (None when none was made yet). Cached plans are dropped."""
    choice = tuple(choice)
    ok = choice == ("tree",) or (len(choice) == 3 and choice[0] == "cpu" and choice[1] in KD.CPU_WIDTHS
                                 and isinstance(choice[2], int) and choice[2] >= 1)
    if not ok:
        raise InvalidArgumentError(
            f"{choice!r} is no reduction choice: use ('tree',) or ('cpu', U, BLOCK) with U one of "
            f"{', '.join(map(str, KD.CPU_WIDTHS))} and BLOCK >= 1")
    prev = b._reduce.get(device)
    b._reduce[device] = choice
    b._rplans.clear()
    return prev


def fingerprint(dialect: str) -> str:
    """A hash of the candidates and the float32 sum kernels they run: a changed kernel is measured again."""
    h = hashlib.sha256(f"{TUNE_N}|{TUNE_ROWS}|{MAX_RUN}|{COL_RUN}|{MIN_ITEMS}|{CANDIDATES}".encode())
    f = "float32"
    h.update(render(KD.reduction_contig("sum", f, f, f, KD.BLOCK), dialect).encode())
    h.update(render(KD.reduction("sum", f, f, f, 1, 1, KD.BLOCK, False), dialect).encode())
    for u in sorted({c[1] for c in CANDIDATES if c[0] == "cpu"}):
        for kind in ("rows", "cols"):
            w = KD.cpu_width("sum", f, kind, u)
            h.update(render(KD.reduction_cpu("sum", f, f, f, kind, w), dialect).encode())
    return h.hexdigest()[:16]


def tuned(b, device, key: str):
    """The measured best choice for the device ``key`` names: from the tuning file, else measured now."""
    return tuning.choice(cache_dir() / TUNE_FILE, f"{b.dialect}|{key}|{fingerprint(b.dialect)}", CANDIDATES,
                         lambda: measure(b, device), describe, UNTUNED)


def measure(b, device, candidates=None, repeat=3) -> dict:
    """{choice: seconds} of a full float32 sum of TUNE_N elements plus the same elements summed over
    the first dim of a (TUNE_ROWS, TUNE_N / TUNE_ROWS) matrix, for each of ``candidates`` (default
    CANDIDATES) that runs on ``device``: best of ``repeat`` after a first run that compiles."""
    from .host_more import reduce_plan, run_plan
    candidates = candidates or CANDIDATES
    f32 = D.float32
    x = b.empty((TUNE_N,), f32, device)
    b.elementwise("fill", x, f32, (1.0,), x._shape, device)
    m = x._view((TUNE_ROWS, TUNE_N // TUNE_ROWS), (TUNE_N // TUNE_ROWS, 1))
    full = b.empty((), f32, device)
    cols = b.empty((TUNE_N // TUNE_ROWS,), f32, device)
    probe = cols._view((), (), cols._offset)

    timings: dict = {}
    for c in candidates:
        try:
            p1 = reduce_plan(b, "sum", x, (0,), False, f32, c)
            p2 = reduce_plan(b, "sum", m, (0,), False, f32, c)

            def timed():
                t0 = time.perf_counter()
                run_plan(b, p1, x, full)
                run_plan(b, p2, m, cols)
                b.d.to_host(probe)
                return time.perf_counter() - t0

            timed()
            t = min(timed() for _ in range(repeat))
        except Exception:  # noqa: BLE001  (a kernel this device cannot compile or launch is not a candidate)
            continue
        timings[c] = t
    return timings
