"""Factorizations and solvers on jax.numpy.linalg / jax.scipy.linalg (XLA's LAPACK-backed custom calls
on CPU, cuSOLVER on GPUs), for the operators of ember.ops.linalg_solvers.

Core has checked every input (float32/float64 batches, nothing empty). LAPACK's info of inv and solve
is read off the LU factorization's diagonal (1 + the first exactly zero pivot), in the same jitted
function. XLA's cholesky fills a failed factorization with NaN and so loses potrf's info (the order of
the first leading minor that is not positive-definite); when a batch has a failure, a column-by-column
Cholesky in a loop finds it, under a ``lax.cond``, so that a batch that factors pays one NaN test.
"""

from __future__ import annotations

import jax.numpy as jnp
import jax.scipy.linalg as jsl
from jax import lax

from ember import dtypes as D

from .._engine import read, run
from ..runtime import geom, val, wrap


def _lu_info(lu):
    zero = jnp.diagonal(lu, 0, -2, -1) == 0
    first = jnp.argmax(zero, -1)
    return jnp.where(jnp.any(zero, -1), first + 1, 0).astype(jnp.int32)


def _chol_loop(A):
    """Cholesky-Banachiewicz on (*, n, n), reading the lower triangle, as potrf: (L, info), info the order of
    the first leading minor whose pivot is not positive (NaN included), L NaN where info != 0."""
    n = A.shape[-1]
    rows = jnp.arange(n)

    def column(j, carry):
        Lw, info = carry
        lj = lax.dynamic_index_in_dim(Lw, j, -2, keepdims=False)               # (*, n): L[j, :j], zeros after
        aj = lax.dynamic_index_in_dim(A, j, -1, keepdims=False)                 # (*, n): column j of A
        c = aj - jnp.einsum("...ik,...k->...i", Lw, lj, precision=lax.Precision.HIGHEST)
        d = lax.dynamic_index_in_dim(c, j, -1, keepdims=False)
        ok = d > 0
        info = jnp.where((info == 0) & ~ok, j + 1, info)
        ljj = jnp.sqrt(jnp.where(ok, d, 1))
        col = jnp.where(rows > j, c / ljj[..., None], jnp.where(rows == j, ljj[..., None], 0))
        return lax.dynamic_update_index_in_dim(Lw, col[..., None], j, -1), info

    Lw, info = lax.fori_loop(0, n, column, (jnp.zeros_like(A), jnp.zeros(A.shape[:-2], jnp.int32)))
    return jnp.where((info != 0)[..., None, None], jnp.nan, Lw).astype(A.dtype), info


def _cholesky_maker(key):
    _, g = key

    def fn(a):
        A = read(a, g)
        Lw = lax.linalg.cholesky(A, symmetrize_input=False)
        failed = jnp.isnan(Lw).any((-2, -1))

        def redo(A):  # the failed matrices again, through the loop that finds potrf's info
            L2, info = _chol_loop(A)
            return jnp.where(failed[..., None, None], L2, Lw), jnp.where(failed, info, 0)

        Lw, info = lax.cond(failed.any(), redo, lambda A: (Lw, jnp.zeros(failed.shape, jnp.int32)), A)
        return Lw.reshape(-1), info.reshape(-1)
    return fn


def cholesky(A):
    dev = A._storage.dev
    r = run((_cholesky_maker, geom(A)), (val(A),), dev)
    return wrap(r[0], A._shape, A._dtype, dev), wrap(r[1], A._shape[:-2], D.int32, dev)


def _inv_maker(key):
    _, g, n = key

    def fn(a):
        A = read(a, g)
        lu, piv = jsl.lu_factor(A)
        eye = jnp.broadcast_to(jnp.eye(n, dtype=A.dtype), A.shape)
        return jsl.lu_solve((lu, piv), eye).reshape(-1), _lu_info(lu).reshape(-1)
    return fn


def inv(A):
    dev = A._storage.dev
    r = run((_inv_maker, geom(A), A._shape[-1]), (val(A),), dev)
    return wrap(r[0], A._shape, A._dtype, dev), wrap(r[1], A._shape[:-2], D.int32, dev)


def _solve_maker(key):
    _, ga, gb = key

    def fn(a, b):
        A, B = read(a, ga), read(b, gb)
        lu, piv = jsl.lu_factor(A)
        return jsl.lu_solve((lu, piv), B).reshape(-1), _lu_info(lu).reshape(-1)
    return fn


def solve(A, B):
    dev = A._storage.dev
    r = run((_solve_maker, geom(A), geom(B)), (val(A), val(B)), dev)
    return wrap(r[0], B._shape, A._dtype, dev), wrap(r[1], A._shape[:-2], D.int32, dev)


def _slogdet_maker(key):
    _, g = key

    def fn(a):
        sign, logabs = jnp.linalg.slogdet(read(a, g))
        return sign.reshape(-1), logabs.reshape(-1)
    return fn


def slogdet(A):
    dev = A._storage.dev
    r = run((_slogdet_maker, geom(A)), (val(A),), dev)
    b = A._shape[:-2]
    return wrap(r[0], b, A._dtype, dev), wrap(r[1], b, A._dtype, dev)


def _qr_maker(key):
    _, g, mode = key

    def fn(a):
        A = read(a, g)
        if mode == "r":
            return (jnp.linalg.qr(A, mode="r").reshape(-1),)
        q, r = jnp.linalg.qr(A, mode=mode)
        return q.reshape(-1), r.reshape(-1)
    return fn


def qr(A, mode):
    dev = A._storage.dev
    r = run((_qr_maker, geom(A), mode), (val(A),), dev)
    *b, m, n = A._shape
    b, k = tuple(b), min(m, n)
    if mode == "r":
        from ember.ops.creation import full
        return full((0,), 0, dtype=A._dtype, device=A._device), wrap(r[0], b + (k, n), A._dtype, dev)
    qs, rs = ((m, m), (m, n)) if mode == "complete" else ((m, k), (k, n))
    return wrap(r[0], b + qs, A._dtype, dev), wrap(r[1], b + rs, A._dtype, dev)


def _eigh_maker(key):
    _, g, uplo = key

    def fn(a):
        A = read(a, g)
        T = jnp.tril(A) if uplo == "L" else jnp.triu(A)
        S = T + jnp.swapaxes(T, -1, -2) - T * jnp.eye(A.shape[-1], dtype=A.dtype)
        w, v = jnp.linalg.eigh(S, symmetrize_input=False)
        return w.reshape(-1), v.reshape(-1)
    return fn


def eigh(A, UPLO):
    dev = A._storage.dev
    r = run((_eigh_maker, geom(A), UPLO), (val(A),), dev)
    return wrap(r[0], A._shape[:-1], A._dtype, dev), wrap(r[1], A._shape, A._dtype, dev)


def _svd_maker(key):
    _, g, full = key

    def fn(a):
        u, s, vh = jnp.linalg.svd(read(a, g), full_matrices=full)
        return u.reshape(-1), s.reshape(-1), vh.reshape(-1)
    return fn


def svd(A, full_matrices):
    dev = A._storage.dev
    full = bool(full_matrices)
    r = run((_svd_maker, geom(A), full), (val(A),), dev)
    *b, m, n = A._shape
    b, k = tuple(b), min(m, n)
    us, vs = ((m, m), (n, n)) if full else ((m, k), (k, n))
    return wrap(r[0], b + us, A._dtype, dev), wrap(r[1], b + (k,), A._dtype, dev), wrap(r[2], b + vs, A._dtype, dev)


KERNELS = {"_linalg_cholesky_ex": cholesky, "_linalg_inv_ex": inv, "_linalg_solve_ex": solve,
           "_linalg_slogdet": slogdet, "_linalg_qr": qr, "_linalg_eigh": eigh, "_linalg_svd": svd}
