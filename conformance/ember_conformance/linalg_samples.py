"""Sample generators for the factorizations and solvers of core/ops/linalg_solvers.py (their
references are in linalg_refs.py).

Inputs are well conditioned (a random matrix plus n times the identity; A A^T + n I for
Cholesky; symmetric matrices with well separated eigenvalues for eigh), so that float32
results sit within a few ulps of the float64 references. Only float32 and float64 are
supported: every other dtype is refused with a DTypeError (a TypeError).
"""

from __future__ import annotations

import numpy as np

from . import linalg_refs  # noqa: F401  (fills REFERENCES)
from .samples import Sample, arr, gen


def _ok(dt):
    return dt.name in ("float32", "float64")


def _refused(dt, rng, make):
    return [Sample(f"{dt.name}_refused", make(arr(rng, (3, 3), dt)), error=TypeError)]


def _general(rng, shape, dt):
    """Random matrices plus n I: far from singular."""
    n = shape[-1]
    return (rng.uniform(-1, 1, shape) + n * np.eye(n)).astype(dt.np)


def _spd(rng, shape, dt):
    x = rng.uniform(-1, 1, shape)
    return (x @ np.swapaxes(x, -1, -2) + shape[-1] * np.eye(shape[-1])).astype(dt.np)


def _symmetric(rng, shape, dt):
    """Q diag(1, 2, ..., n) Q^T with a random orthogonal Q: eigenvalues one apart."""
    n = shape[-1]
    q, _ = np.linalg.qr(rng.standard_normal(shape))
    return ((q * np.arange(1, n + 1)) @ np.swapaxes(q, -1, -2)).astype(dt.np)


def _bad_shapes(dt, rng, extra=()):
    return [Sample("not_square", (arr(rng, (3, 4), dt),) + extra, error=ValueError),
            Sample("vector", (arr(rng, (3,), dt),) + extra, error=ValueError)]


@gen("_linalg_cholesky_ex")
def cholesky_ex(name, dt, rng):
    if not _ok(dt):
        return _refused(dt, rng, lambda a: (a,))
    return [Sample("3x3", (_spd(rng, (3, 3), dt),)), Sample("batched_upper", (_spd(rng, (2, 4, 4), dt), True)),
            Sample("empty_batch", (_spd(rng, (0, 3, 3), dt),), tags=("empty",)),
            Sample("0x0", (np.zeros((0, 0), dt.np),), tags=("empty",))] + _bad_shapes(dt, rng)


@gen("_linalg_inv_ex")
def inv_ex(name, dt, rng):
    if not _ok(dt):
        return _refused(dt, rng, lambda a: (a,))
    return [Sample("3x3", (_general(rng, (3, 3), dt),)), Sample("batched", (_general(rng, (2, 2, 4, 4), dt),)),
            Sample("1x1", (_general(rng, (1, 1), dt),)),
            Sample("empty_batch", (_general(rng, (0, 2, 2), dt),), tags=("empty",))] + _bad_shapes(dt, rng)


@gen("_linalg_solve_ex")
def solve_ex(name, dt, rng):
    if not _ok(dt):
        return _refused(dt, rng, lambda a: (a, a))
    b = lambda s: arr(rng, s, dt, -2, 2)  # noqa: E731
    return [Sample("3x3", (_general(rng, (3, 3), dt), b((3, 2)))),
            Sample("broadcast", (_general(rng, (2, 3, 3), dt), b((3, 4)))),
            Sample("broadcast_A", (_general(rng, (3, 3), dt), b((2, 3, 1)))),
            Sample("right", (_general(rng, (2, 3, 3), dt), b((2, 4, 3)), False)),
            Sample("empty_batch", (_general(rng, (0, 3, 3), dt), b((0, 3, 2))), tags=("empty",)),
            Sample("rows", (_general(rng, (3, 3), dt), b((4, 2))), error=ValueError),
            Sample("dtypes", (_general(rng, (3, 3), dt), b((3, 2)).astype(np.float64 if dt.name == "float32"
                                                                          else np.float32)), error=TypeError)]


@gen("_linalg_slogdet")
def slogdet(name, dt, rng):
    if not _ok(dt):
        return _refused(dt, rng, lambda a: (a,))
    neg = _general(rng, (3, 3), dt)
    neg[[0, 1]] = neg[[1, 0]]   # a row swap: a negative determinant
    return [Sample("3x3", (_general(rng, (3, 3), dt),)), Sample("negative", (neg,)),
            Sample("batched", (_general(rng, (2, 4, 4), dt),)),
            Sample("singular", (np.zeros((2, 2), dt.np),)),
            Sample("0x0", (np.zeros((0, 0), dt.np),), tags=("empty",))] + _bad_shapes(dt, rng)


@gen("_linalg_qr")
def qr(name, dt, rng):
    if not _ok(dt):
        return _refused(dt, rng, lambda a: (a,))
    x = lambda s: arr(rng, s, dt, -1, 1)  # noqa: E731
    return [Sample("tall", (x((5, 3)),)), Sample("wide", (x((3, 5)),)), Sample("square_complete", (x((4, 4)), "complete")),
            Sample("tall_complete", (x((2, 5, 3)), "complete")), Sample("wide_r", (x((2, 3, 4)), "r")),
            Sample("empty_cols", (x((3, 0)),), tags=("empty",)),
            Sample("bad_mode", (x((3, 3)), "full"), error=ValueError),
            Sample("vector", (x((3,)),), error=ValueError)]


@gen("_linalg_eigh")
def eigh(name, dt, rng):
    if not _ok(dt):
        return _refused(dt, rng, lambda a: (a,))
    a = _symmetric(rng, (4, 4), dt)
    upper = np.triu(a) + np.tril(arr(rng, (4, 4), dt), -1)   # only the upper triangle counts
    return [Sample("4x4", (a,)), Sample("batched", (_symmetric(rng, (2, 3, 3), dt),)), Sample("upper", (upper, "U")),
            Sample("empty_batch", (np.zeros((0, 2, 2), dt.np),), tags=("empty",)),
            Sample("bad_uplo", (a, "X"), error=ValueError)] + _bad_shapes(dt, rng)


@gen("_linalg_svd")
def svd(name, dt, rng):
    if not _ok(dt):
        return _refused(dt, rng, lambda a: (a,))
    x = lambda s: arr(rng, s, dt, -1, 1)  # noqa: E731
    return [Sample("tall_thin", (x((5, 3)), False)), Sample("wide_thin", (x((2, 3, 5)), False)),
            Sample("square", (x((4, 4)),)), Sample("tall_full", (x((5, 3)),)), Sample("wide_full", (x((3, 4)),)),
            Sample("empty_batch", (x((0, 3, 2)),), tags=("empty",)),
            Sample("vector", (x((3,)),), error=ValueError)]
