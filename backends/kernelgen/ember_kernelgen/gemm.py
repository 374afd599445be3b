"""The host side of bmm: which GEMM kernel and tile each device runs, chosen by measurement.

Two kernels compute out[b] = a[b] @ b[b] (kernels.py):

- ``tiled`` (``bmm``): a GPU's GEMM, 16x16 work-groups staging slices of a and b in local memory;
- ``rb`` (``gemm_pack`` + ``bmm_rb``): a CPU's GEMM, b packed into column panels, then one
  work-item per RM x RN block of out in registers, no local memory, no barriers. Where a has
  fewer rows than b has columns, it computes out^T = b^T @ a^T instead, so that the smaller
  operand is the one packed. On pocl (one AVX-512 core of an AMD EPYC), 1024x1024 float32 runs at
  about 78 GFLOP/s this way (numpy's OpenBLAS: about 95) and 4 GFLOP/s tiled.

A driver that names its devices for tuning (``Driver.tune_key(device)``, optional) has its devices
measured the first time a bmm runs on them: each of ``CANDIDATES`` computes a TUNE_N-cubed float32
GEMM, and the fastest is kept, in memory and on disk (``gemm-tiles.json`` in the kernel cache
directory, keyed by dialect, the driver's key and a hash of the candidates' sources, so a changed
kernel is measured again). Every dtype then runs that choice; an 8-byte accumulation (float64, the
integers) halves RN so that the block keeps its register footprint. A driver without ``tune_key``
(cuda and rocm, whose bmm is BLAS and this only its fallback) runs ``tiled``.

``EMBER_KERNEL_GEMM`` overrides both: ``tiled``, or ``RMxRN`` / ``RMxRNxBLOCK`` for ``rb`` with that
tile (BLOCK work-items per work-group, default 1).
"""

from __future__ import annotations

import hashlib
import time

from ember import dtypes as D
from ember.errors import InvalidArgumentError

from . import kernels as KD, tuning
from .cache import cache_dir
from .render import render

ENV = "EMBER_KERNEL_GEMM"
TUNE_N = 512                 # the tuning problem: TUNE_N^3 float32
TUNE_FILE = "gemm-tiles.json"
_BIG_GRID = 65535

#: what a tuned device chooses from: ("tiled",) or ("rb", RM, RN, work-items per work-group),
#: RN for a 4-byte accumulation. 8x16, 6x32 and 4x32 keep 16 to 24 vector accumulators of 8 lanes
#: (CPUs with 32 vector registers: AVX-512); 6x16 keeps 12 (16 registers: AVX2)
CANDIDATES = (("rb", 8, 16, 1), ("rb", 6, 32, 1), ("rb", 4, 32, 1), ("rb", 6, 16, 1), ("rb", 8, 16, 16),
              ("tiled",))
UNTUNED = ("tiled",)


def tile_for(choice, dtype_name: str):
    """(RM, RN) of an "rb" choice for dtype: RN halves (to at least 4) for an 8-byte panel type."""
    _, rm, rn, _ = choice
    if getattr(D, KD.gemm_panel_dtype(dtype_name)).itemsize == 8:
        rn = max(4, rn // 2)
    return rm, rn


def family_keys(dtype_name: str) -> tuple:
    """The description keys of every candidate "rb" tile for dtype (families.py: one program)."""
    keys, packs = [], []
    for c in CANDIDATES:
        if c[0] == "rb":
            rm, rn = tile_for(c, dtype_name)
            for tout in (False, True):
                k = ("bmm_rb", dtype_name, rm, rn, tout)
                if k not in keys:
                    keys.append(k)
            if ("gemm_pack", dtype_name, rn) not in packs:
                packs.append(("gemm_pack", dtype_name, rn))
    return tuple(keys + packs)


def parse(text: str):
    """The choice an EMBER_KERNEL_GEMM value names."""
    s = text.strip().lower()
    if s == "tiled":
        return ("tiled",)
    try:
        parts = [int(v) for v in s.split("x")]
    except ValueError:
        parts = []
    if len(parts) in (2, 3) and all(1 <= v <= 64 for v in parts[:2]) and (len(parts) == 2 or parts[2] >= 1):
        return ("rb", parts[0], parts[1], parts[2] if len(parts) == 3 else 1)
    raise InvalidArgumentError(
        f"{ENV}={text!r} names no GEMM kernel: use 'tiled', or 'RMxRN' / 'RMxRNxBLOCK' "
        f"(rows and columns of out per work-item, 1 to 64 each; work-items per work-group), e.g. '8x16'")


# -- launching one choice -------------------------------------------------------------------------

def run(b, choice, x, y, out):
    """out = x @ y (bmm shapes, out contiguous (Bn, N, P)) with ``choice``; every size is non-zero."""
    Bn, N, K = x._shape
    P = y._shape[2]
    device = x._device
    dt = x._dtype.name
    if choice[0] == "tiled":
        desc = b.desc(("bmm", dt))
        T, S = KD.TILE, KD.TILE * KD.REG
        b.launch(desc, device, ((P + S - 1) // S, (N + S - 1) // S, min(Bn, _BIG_GRID)), (T, T, 1),
                 (*b.buf(out), *b.buf(x), *b.buf(y), Bn, N, K, P, *x._strides, *y._strides))
        return out
    rm, rn = tile_for(choice, dt)
    block = max(1, min(choice[3], b.limits(device).max_block))
    o_sb, o_sn, o_sp = N * P, P, 1
    (x_sb, x_sn, x_sk), (y_sb, y_sk, y_sp) = x._strides, y._strides
    x_sets = 1 if (Bn == 1 or x_sb == 0) else Bn         # distinct matrices in each operand
    y_sets = 1 if (Bn == 1 or y_sb == 0) else Bn
    if x_sets * N < y_sets * P:
        # pack the smaller operand: out^T = y^T @ x^T, written through out's transposed strides
        x, y = y._view((Bn, P, K), (y_sb, y_sp, y_sk)), x._view((Bn, K, N), (x_sb, x_sk, x_sn))
        N, P, o_sn, o_sp, y_sets = P, N, 1, P, x_sets
    pt = (P + rn - 1) // rn
    y_sb = y._strides[0]
    bn_packed = y_sets                                    # every batch of y the same: one set of panels
    panels = b.empty((bn_packed, pt, K, rn), getattr(D, KD.gemm_panel_dtype(dt)), device)
    pack = b.desc(("gemm_pack", dt, rn))
    b.launch_1d(pack, device, bn_packed * pt * K,
                (*b.buf(panels), *b.buf(y), bn_packed, K, P, y_sb, y._strides[1], y._strides[2]))
    desc = b.desc(("bmm_rb", dt, rm, rn, o_sp != 1))
    tiles = (N + rm - 1) // rm
    b.launch(desc, device, ((tiles + block - 1) // block, min(pt, _BIG_GRID), min(Bn, _BIG_GRID)), (block, 1, 1),
             (*b.buf(out), *b.buf(x), *b.buf(panels), Bn, N, K, P, *x._strides,
              0 if bn_packed == 1 else pt * K * rn, o_sb, o_sn, o_sp))
    return out


# -- choosing ------------------------------------------------------------------------------------------

def choice_for(b, device):
    """The GEMM choice for ``device``: EMBER_KERNEL_GEMM, else the tuned one, else ``tiled``."""
    return tuning.device_choice(b, device, b._gemm, ENV, parse, tuned, UNTUNED)


def fingerprint(dialect: str) -> str:
    """A hash of every candidate's float32 source: a changed kernel is measured again."""
    h = hashlib.sha256(f"{TUNE_N}|{CANDIDATES}".encode())
    for c in CANDIDATES:
        if c[0] == "tiled":
            h.update(render(KD.bmm("float32"), dialect).encode())
        else:
            rm, rn = tile_for(c, "float32")
            h.update(render(KD.bmm_rb("float32", rm, rn), dialect).encode())
            h.update(render(KD.bmm_rb("float32", rm, rn, True), dialect).encode())
            h.update(render(KD.gemm_pack("float32", rn), dialect).encode())
    return h.hexdigest()[:16]


def tuned(b, device, key: str):
    """The measured best tile for the device ``key`` names: from the tuning file, else measured now."""
    return tuning.choice(cache_dir() / TUNE_FILE, f"{b.dialect}|{key}|{fingerprint(b.dialect)}", CANDIDATES,
                         lambda: measure(b, device), describe, UNTUNED)


def measure(b, device, n=None, candidates=None, repeat=3) -> dict:
    """{choice: seconds} of an n^3 float32 GEMM (default TUNE_N) for each of ``candidates`` (default
    CANDIDATES) that runs on ``device``: best of ``repeat`` after a first run that compiles; a
    candidate over 4x the best so far runs once more only."""
    n = n or TUNE_N
    candidates = candidates or CANDIDATES
    f32 = D.float32
    x = b.empty((1, n, n), f32, device)
    y = b.empty((1, n, n), f32, device)
    out = b.empty((1, n, n), f32, device)
    b.elementwise("fill", x, f32, (1.0,), x._shape, device)
    b.elementwise("fill", y, f32, (0.5,), y._shape, device)
    probe = out._view((), (), out._offset)

    def timed(c):
        t0 = time.perf_counter()
        run(b, c, x, y, out)
        b.d.to_host(probe)
        return time.perf_counter() - t0

    timings: dict = {}
    for c in candidates:
        try:
            timed(c)
            t = timed(c)
            best = min(timings.values(), default=t)
            for _ in range(repeat - 1 if t < 4 * best else 0):
                t = min(t, timed(c))
        except Exception:  # noqa: BLE001  (a tile this device cannot compile or launch is not a candidate)
            continue
        timings[c] = t
    return timings


def describe(choice) -> str:
    """A choice in words, as EMBER_KERNEL_GEMM spells it."""
    if choice[0] == "tiled":
        return "tiled"
    return f"{choice[1]}x{choice[2]}" + (f"x{choice[3]}" if choice[3] != 1 else "")


def bmm(b, choice=None):
    """The bmm kernel of the table: (Bn, N, K) @ (Bn, K, P) -> new contiguous (Bn, N, P).

    It runs each device's choice (``choice_for``), or always ``choice`` when given. The kernel's
    ``choice(device)`` says which it runs; ``using(choice)`` is the same kernel fixed to another."""
    def kernel(x, y):
        device = x._device
        Bn, N, K = x._shape
        P = y._shape[2]
        out = b.empty((Bn, N, P), x._dtype, device)
        if Bn * N * P == 0:
            return out
        if K == 0:
            return b.elementwise("fill", out, x._dtype, (0,), out._shape, device)
        return run(b, choice or choice_for(b, device), x, y, out)
    kernel.__name__ = "bmm"
    kernel.choice = lambda device: choice or choice_for(b, device)
    kernel.using = lambda other: bmm(b, other)
    return kernel
