"""Comparing a result with its reference: per-dtype tolerances (tolerances.toml), exact integers."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

import numpy as np

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib


@functools.lru_cache(maxsize=1)
def tolerance_table() -> dict:
    with resources.files("ember_conformance").joinpath("tolerances.toml").open("rb") as f:
        return tomllib.load(f)


def tolerance(op: str | None, dtype_name: str) -> tuple[float, float]:
    """(rtol, atol) for a result of ``dtype_name`` from operator ``op``."""
    table = tolerance_table()
    base = table.get("dtype", {}).get(dtype_name)
    if base is None:
        return 0.0, 0.0
    over = table.get("op", {}).get(op or "", {})
    t = over.get(dtype_name) or over.get("all") or base
    return float(t["rtol"]), float(t["atol"])


@dataclass
class Mismatch:
    message: str
    max_error: float | None = None
    first_index: list | None = None


def to_f64(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    return a.astype(np.float64) if a.dtype.kind == "f" or a.dtype.kind == "V" or a.dtype.name == "bfloat16" else a


def compare(got: np.ndarray, want: np.ndarray, dtype, op: str | None = None, slack: float = 1.0) -> Mismatch | None:
    """None when ``got`` (of ember dtype ``dtype``) matches ``want``, else what differs and where.
    ``slack`` scales the tolerance (--compare: two backends may each be a tolerance from the reference)."""
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        return Mismatch(f"shape {got.shape}, expected {want.shape}")
    if got.size == 0:
        return None
    if dtype.is_complex:  # each part within the tolerance of the parts' dtype
        from ember import dtypes as D
        return (compare(got.real, np.real(want), D.to_real(dtype), op, slack)
                or compare(got.imag, np.imag(want), D.to_real(dtype), op, slack))
    if not dtype.is_floating_point:
        bad = got != want
        if not bad.any():
            return None
        idx = [int(i) for i in np.argwhere(bad)[0]] if got.ndim else []
        g, w = got[tuple(idx)], want[tuple(idx)]
        err = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64))))
        return Mismatch(f"{int(bad.sum())} of {got.size} elements differ; first at {idx}: got {g!r}, "
                        f"expected {w!r}", err, idx)
    rtol, atol = (slack * t for t in tolerance(op, dtype.name))
    g, w = to_f64(got), to_f64(want)
    gn, wn = np.isnan(g), np.isnan(w)
    with np.errstate(all="ignore"):
        finite = np.isfinite(w) & np.isfinite(g)
        err = np.where(finite, np.abs(g - w), 0.0)
        bad = (gn != wn) | (np.isinf(w) & (g != w)) | (np.isinf(g) & (g != w)) | (finite & (err > atol + rtol * np.abs(w)))
    if not bad.any():
        return None
    idx = [int(i) for i in np.argwhere(bad)[0]] if got.ndim else []
    maxerr = float(np.max(np.where(bad & ~finite, np.inf, err)))
    return Mismatch(f"{int(bad.sum())} of {got.size} elements outside rtol={rtol:g}, atol={atol:g}; first at "
                    f"{idx}: got {float(g[tuple(idx)])!r}, expected {float(w[tuple(idx)])!r}", maxerr, idx)


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Exact equality, NaN meeting NaN (for inputs that must be left untouched)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.dtype.kind in "fV" or a.dtype.name in ("bfloat16", "float16"):
        a, b = a.astype(np.float64), b.astype(np.float64)
        return bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))
    return bool(np.array_equal(a, b))


def show(a, items=6) -> str:
    """An array for a message: dtype, shape and a few values, nested as its shape is (so that a 0-d
    ``True`` and a 1-element ``[True]`` read differently)."""
    a = np.asarray(a)
    vals = np.array2string(a, threshold=items, edgeitems=2, separator=", ").replace("\n", "")
    return f"{a.dtype} shape {tuple(a.shape)} {' '.join(vals.split())}"


def differences(want, got) -> str:
    """What differs between two arrays that must be bit-identical: shape, dtype, or the first element."""
    want, got = np.asarray(want), np.asarray(got)
    diffs = []
    if got.shape != want.shape:
        diffs.append(f"shape {tuple(got.shape)} instead of {tuple(want.shape)}")
    if got.dtype != want.dtype:
        diffs.append(f"dtype {got.dtype} instead of {want.dtype}")
    if not diffs:
        a, b = to_f64(got), to_f64(want)
        bad = ~((a == b) | (_isnan(a) & _isnan(b)))
        if bad.any():
            idx = [int(i) for i in np.argwhere(bad)[0]] if got.ndim else []
            diffs.append(f"{int(bad.sum())} of {got.size} elements differ, first at {idx}: "
                         f"{_elem(got, idx)} instead of {_elem(want, idx)}")
    return "; ".join(diffs) or "the same values"


def mismatch_message(what: str, want, got) -> str:
    """``what``, then what differs, then both arrays (expected first) with dtype, shape and values."""
    return f"{what}: {differences(want, got)} (expected {show(want)}, got {show(got)})"


def _elem(a, idx) -> str:
    return np.array2string(np.asarray(a[tuple(idx)]))


def _isnan(a):
    return np.isnan(a) if a.dtype.kind == "f" else np.zeros(a.shape, bool)
