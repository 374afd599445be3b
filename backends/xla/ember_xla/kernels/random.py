"""philox_random: Philox4x32-10 words in uint32 arithmetic, bit-identical to every other backend.

Element n of the output is word n % 4 of philox4x32_10(counter = offset + n // 4 as a
128-bit number in four little-endian 32-bit words, key = (seed low, seed high)).
The 32x32 -> 64-bit products use uint64, which the per-call x64 scope provides.
Seed and counter words are arguments of the jitted function, so a new seed or offset
never retraces.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import lax

from .._engine import creation, run
from ..runtime import geom, set_val

_U32 = jnp.uint32
_U64 = jnp.uint64
_M0, _M1 = 0xD2511F53, 0xCD9E8D57
_W0, _W1 = 0x9E3779B9, 0xBB67AE85
_MASK = 0xFFFFFFFF


def _mulhilo(a, b):
    p = a.astype(_U64) * jnp.asarray(b, _U64)
    return (p >> 32).astype(_U32), (p & _MASK).astype(_U32)


def philox4x32_10(c0, c1, c2, c3, k0, k1):
    """Ten Philox rounds on uint32 arrays (counter words c0..c3, key words k0, k1)."""
    for r in range(10):
        if r:
            k0 = k0 + _U32(_W0)
            k1 = k1 + _U32(_W1)
        hi0, lo0 = _mulhilo(c0, _M0)
        hi1, lo1 = _mulhilo(c2, _M1)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return c0, c1, c2, c3


@creation
def _philox(key):
    _, numel, dev = key
    groups = (numel + 3) // 4

    def fn(k0, k1, o0, o1, o2, o3):
        j = lax.iota(_U64, groups)
        jlo = (j & _MASK).astype(_U32)
        jhi = (j >> 32).astype(_U32)
        # counter = offset + j, with carries across the four 32-bit words
        c0 = o0 + jlo
        carry = (c0 < jlo).astype(_U32)
        t = o1 + jhi
        carry1 = (t < o1).astype(_U32)
        c1 = t + carry
        carry = carry1 | (c1 < t).astype(_U32)
        c2 = o2 + carry
        carry = (c2 < carry).astype(_U32)
        c3 = o3 + carry
        words = jnp.stack(philox4x32_10(c0, c1, c2, c3, k0, k1), axis=1).reshape(-1)[:numel]
        return (words.astype(jnp.int64),)
    return fn


def philox_random(out, seed, offset):
    """Fill the contiguous int64 tensor ``out`` with Philox words 0..numel-1 (INTERFACES.md)."""
    c = out._storage
    n = out.numel()
    seed, offset = int(seed), int(offset)
    args = tuple(np.uint32((v >> s) & _MASK) for v, s in ((seed, 0), (seed, 32), (offset, 0), (offset, 32),
                                                          (offset, 64), (offset, 96)))
    r = run((_philox, n, c.dev), args, c.dev)
    if n == c.n and geom(out) == out._shape:
        set_val(c, r[0])
    else:
        out.copy_(_wrap_words(r[0], out))
    return out


def _wrap_words(a, like):
    from ..runtime import wrap
    return wrap(a, like._shape, like._dtype, like._storage.dev)


KERNELS = {"philox_random": philox_random}
