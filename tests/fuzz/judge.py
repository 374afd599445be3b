"""Judging one case from what Ember and torch did: the verdict is "ok" or a failure kind with a
one-line reason. Kinds: crash and hang (from the pool), wrong (values, dtype, shape or a missing
error), non-ember (Ember raised something that is not an EmberError), ember-raises (Ember refused
what torch computes)."""

from __future__ import annotations

import re

import numpy as np

from .differences import DIFFERENCES, EMPTY_DTYPE, TORCH_ONLY_ERRORS, arrays_of, undefined_values
from .torch_ops import SHAPE_ONLY

FAILURES = ("crash", "hang", "wrong", "non-ember", "ember-raises")

#: (rtol, atol) by result dtype; values are compared in float64, NaN and inf positions exactly.
TOL = {
    "float16": (2e-3, 1e-3), "bfloat16": (1.6e-2, 1e-2), "float32": (1e-5, 1e-5), "float64": (1e-10, 1e-10),
    "complex64": (1e-5, 1e-5), "complex128": (1e-10, 1e-10),
}
#: Families whose results sum many terms in an order Ember and torch need not share: wider tolerance.
LOOSE = {"reduction", "statistics", "linalg", "linalg_solvers", "nn", "breadth", "tensor_more", "fft",
         "optim", "sparse", "ternary", "indexing", "special", "counting"}
LOOSE_FACTOR = 100

#: torch errors that mean "torch has no kernel for this dtype/layout": Ember may compute instead.
TORCH_LACKS = re.compile(r"not implemented for|Could not run|not supported for|does not support|"
                         r"only supports|is not supported|not implemented on|Unsupported dtype|"
                         r"expected scalar type|expected both inputs|must have the same dtype|"
                         r"expected .*dtype|got mixed torch\.|Expected object of scalar type|"
                         r"can only be called on|should be the same|view size is not compatible", re.I)

#: Operators whose index output is ambiguous when the input has equal values: (index output).
TIE_INDICES = {"topk": 1, "sort": 1, "argsort": 0, "kthvalue": 1, "mode": 1, "median_dim": 1,
               "nanmedian_dim": 1, "max_dim": 1, "min_dim": 1, "cummax": 1, "cummin": 1, "aminmax": None,
               "max_pool2d_with_indices": 1}


def judge(op: str, family: str, got, want, case=None) -> tuple[str, str]:
    """(verdict, reason) for Ember's outcome ``got`` against torch's ``want`` (see worker.run_side);
    ``case`` (when given) tells about the inputs' layouts."""
    if got[0] == "E" and got[1] == "HarnessError":
        return "harness", got[3]
    if got[0] == "E":
        if not got[2]:
            return "non-ember", f"Ember raised {got[1]}: {got[3][:200]}"
        if want[0] == "E":
            return "ok", ""
        for pat, msg, _ in DIFFERENCES:
            if re.search(pat, op) and re.search(msg, got[3]):
                return "ok", ""
        if case is not None and _any_empty(case) and EMPTY_DTYPE.search(got[3]):
            return "ok", ""
        return "ember-raises", f"Ember raised {got[1]}: {got[3][:200]}; torch computed a result"
    if want[0] == "E":
        if want[1] == "HarnessError" or TORCH_LACKS.search(want[3]):
            return "ok", ""
        if any(re.search(pat, op) and re.search(msg, want[3]) for pat, msg, _ in TORCH_ONLY_ERRORS):
            return "ok", ""
        return "wrong", f"torch raised {want[1]}: {want[3][:200]}; Ember returned a result"
    if case is not None and op.endswith("_") and _self_expanded(case):
        return "ok", ""  # torch wrote through overlapping memory (it checks only some in-place ops)
    return _compare(op, family, got, want, case)



def _any_empty(case):
    return any(a.values.size == 0 for a in arrays_of(case))


def _self_expanded(case):
    arrs = arrays_of(case)
    return bool(arrs) and arrs[0].layout == "expanded"


def _ties(arrays) -> bool:
    return any(a.size != np.unique(a.astype(np.float64)).size for a in arrays if a.size)


def _signs_fixed(vecs: np.ndarray, vals: np.ndarray, axis: int) -> np.ndarray:
    """Eigen/singular vectors with each one's sign chosen so its largest-magnitude entry is positive
    (both libraries are right up to that sign); zeros where the values are degenerate (the vectors
    are then any basis of a subspace) or not finite."""
    v = np.moveaxis(np.asarray(vecs, np.float64), axis, -1)      # vectors along the last axis
    with np.errstate(all="ignore"):
        big = np.take_along_axis(v, np.abs(np.nan_to_num(v)).argmax(-1)[..., None], -1)
        v = v * np.where(big < 0, -1.0, 1.0)
        w = np.sort(np.asarray(vals, np.float64), -1)
        gap = np.diff(w, axis=-1).min(initial=np.inf) if w.shape[-1] > 1 else np.inf
        if not np.all(np.isfinite(v)) or gap <= 1e-3 * max(1.0, float(np.abs(w).max(initial=0))):
            v = np.zeros_like(v)
    return np.moveaxis(v, -1, axis)


#: Operators whose vector outputs are defined up to sign: (vector output, values output, vector axis).
SIGN_FREE = {"_linalg_eigh": ((1, 0, -2),), "_linalg_svd": ((0, 1, -2), (2, 1, -1))}


def _compare(op, family, got, want, case=None):
    g_out, w_out = got[1], want[1]
    if len(g_out) != len(w_out):
        return "wrong", f"{len(g_out)} outputs, torch gives {len(w_out)}"
    if op in SIGN_FREE and all(x[0] == "T" for x in g_out + w_out):
        g_out, w_out = list(g_out), list(w_out)
        for vi, si, axis in SIGN_FREE[op]:
            for out in (g_out, w_out):
                t = out[vi]
                out[vi] = t[:3] + (_signs_fixed(t[3], w_out[si][3], axis),)
    shape_only = op in SHAPE_ONLY or (family == "linalg_solvers" and _ill_posed(got, want, case)) or \
        (case is not None and undefined_values(op, case))
    tie = TIE_INDICES.get(op, -1) if op in TIE_INDICES and _ties([a for _, a in got[2]]) else -1
    for i, (g, w) in enumerate(zip(g_out, w_out)):
        label = f"output {i}: " if len(g_out) > 1 else ""
        if g[0] != w[0]:
            return "wrong", f"{label}{_kind(g)}, torch gives {_kind(w)}"
        if g[0] == "V":
            if not _same_value(g[1], w[1]):
                return "wrong", f"{label}{g[1]!r}, torch gives {w[1]!r}"
            continue
        if g[1] != w[1]:
            return "wrong", f"{label}dtype {g[1]}, torch gives {w[1]}"
        if g[2] != w[2]:
            return "wrong", f"{label}shape {g[2]}, torch gives {w[2]}"
        if not shape_only and i != tie:
            m = values_differ(g[3], w[3], g[1], family)
            if m:
                return "wrong", f"{label}{m}"
    if not shape_only:
        for i, ((dt, g), (_, w)) in enumerate(zip(got[2], want[2])):
            m = values_differ(g, w, dt, family)
            if m:
                return "wrong", f"input {i} after the call: {m}"
    return "ok", ""


def _ill_posed(got, want, case=None) -> bool:
    """A linear-algebra input with NaN/inf, a stride-0 (singular) one, or one LAPACK flags (info != 0):
    garbage in, garbage out."""
    if any(not np.all(np.isfinite(a)) for _, a in got[2] if a.dtype.kind in "fc"):
        return True
    if case is not None and any(a.layout == "expanded" for a in arrays_of(case)):
        return True
    return any(o[0] == "T" and o[1] in ("int32", "int64") and np.any(o[3] != 0) for o in want[1][1:])


def _kind(x):
    return "a tensor" if x[0] == "T" else f"{type(x[1]).__name__} {x[1]!r}"


def _same_value(a, b):
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    return a == b


def values_differ(g: np.ndarray, w: np.ndarray, dtype: str, family: str) -> str | None:
    """None when ``g`` matches ``w`` (NaN where NaN, inf where inf, the rest within tolerance)."""
    if g.shape != w.shape:
        return f"shape {g.shape}, torch gives {w.shape}"
    if g.size == 0:
        return None
    if dtype not in TOL:
        bad = g != w
        if np.any(bad):
            i = tuple(int(k) for k in np.argwhere(bad)[0])
            return f"{int(bad.sum())} of {g.size} elements differ; first at {list(i)}: {g[i]!r} vs torch {w[i]!r}"
        return None
    if np.iscomplexobj(g) or np.iscomplexobj(w):
        # parts compared apart; an infinite complex value has no single right NaN/sign pattern in its other
        # part (C99 Annex G and numpy differ from torch), so a part is judged only where both are finite
        g, w = np.asarray(g, np.complex128), np.asarray(w, np.complex128)
        ok = np.isfinite(g) & np.isfinite(w)
        finite_g, finite_w = np.isfinite(g), np.isfinite(w)   # a finite value against a non-finite one is wrong
        g = np.stack([np.where(ok, g.real, np.where(finite_g, 0, np.inf)), np.where(ok, g.imag, 0)], -1)
        w = np.stack([np.where(ok, w.real, np.where(finite_w, 0, np.inf)), np.where(ok, w.imag, 0)], -1)
        dtype = "float32" if dtype == "complex64" else "float64"
    rtol, atol = TOL[dtype]
    if family in LOOSE:
        rtol, atol = rtol * LOOSE_FACTOR, atol * LOOSE_FACTOR
    g = g.astype(np.float64)
    w = w.astype(np.float64)
    with np.errstate(all="ignore"):
        gn, wn = np.isnan(g), np.isnan(w)
        gi, wi = np.isinf(g), np.isinf(w)
        fin = ~(gn | wn | gi | wi)
        bad = (gn != wn) | (gi != wi) | (gi & wi & (g != w))
        if family in LOOSE:  # overflow in one summation order and not the other: inf against a huge value
            huge = float(np.finfo(np.float32 if dtype in ("float32", "complex64") else np.float64).max) / 1e3 \
                if dtype not in ("float16", "bfloat16") else 1e3
            near = (gi & ~wn & (np.abs(np.nan_to_num(w)) > huge)) | (wi & ~gn & (np.abs(np.nan_to_num(g)) > huge))
            near |= (gn | gi) & (wn | wi)  # overflow inside a formula: NaN against inf (inf - inf, 0 * inf)
            near |= gn & ~(wn | wi) & (np.abs(np.nan_to_num(w)) > huge)   # NaN against a huge value
            near |= wn & ~(gn | gi) & (np.abs(np.nan_to_num(g)) > huge)
            bad &= ~near
        scale = np.abs(w)
        bad |= fin & (np.abs(g - w) > atol + rtol * scale)
    if np.any(bad):
        i = tuple(int(k) for k in np.argwhere(bad)[0])
        return f"{int(bad.sum())} of {g.size} values differ; first at {list(i)}: {g[i]!r} vs torch {w[i]!r}"
    return None
