"""The engine under every xla kernel: jitted functions cached by key, and strided views as XLA ops.

A kernel describes its computation by a hashable *key* whose first element is
a *maker*: ``maker(key)`` returns a pure function of flat jax arrays (and
Python scalars) that returns a tuple of flat arrays. The key carries everything
static: the operator, the geometry of every tensor argument, static
parameters. ``run(key, args, dev)`` jits that function once per key (JAX then
keeps one executable per argument shape and dtype) and calls it; in lazy mode
it records the call into the device's graph instead (see ``lazy.py``).

Every call runs with JAX's 64-bit types enabled for the duration of the call
only (``jax.enable_x64`` is thread-local and scoped), so int64 and float64
tensors are real 64-bit arrays while JAX's global flag stays as the user set it.
"""

from __future__ import annotations

import itertools
import os

import ember_arraycell as _arraycell
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from . import _state

#: Counters for tests and benchmarks: traces (pure functions traced by jax.jit),
#: graph_compiles (lazy graphs traced and compiled), graph_runs (lazy graphs executed).
stats = {"traces": 0, "graph_compiles": 0, "graph_runs": 0}

_PURE: dict = {}   # key -> the pure function (traced inside lazy graphs)
_FNS: dict = {}    # key -> jax.jit of it (eager calls), oldest first

#: How many jitted functions (each holding its compiled executables, about a megabyte apiece on
#: CPU XLA) the eager cache keeps. Past it, the older half is dropped and their executables
#: released, so a program that meets endless new shapes keeps bounded memory while a training
#: loop's few functions stay compiled. EMBER_XLA_CACHE_SIZE sets it.
CACHE_SIZE = max(2, int(os.environ.get("EMBER_XLA_CACHE_SIZE", "2048")))
_x64 = jax.enable_x64
_devices = None


def jax_devices():
    global _devices
    if _devices is None:
        _devices = jax.devices()
    return _devices


def sharding(dev: int):
    return jax.sharding.SingleDeviceSharding(jax_devices()[dev])


def pure(key):
    f = _PURE.get(key)
    if f is None:
        body = key[0](key)

        def f(*args, _body=body):
            stats["traces"] += 1
            return _body(*args)
        _PURE[key] = f
    return f


def creation(maker):
    """Mark a maker whose function takes no array input: its key ends with the device index."""
    maker.creation = True
    return maker


def _evict():
    """Drop the older entries of the eager cache (at least half of it, and down below CACHE_SIZE even
    when the bound was lowered while it was full) and release the executables of what is dropped."""
    keep = min(len(_FNS) - len(_FNS) // 2, CACHE_SIZE // 2)
    for key in list(itertools.islice(_FNS, len(_FNS) - keep)):
        _FNS.pop(key).clear_cache()
        _PURE.pop(key, None)


def _jit(key):
    if len(_FNS) >= CACHE_SIZE:
        _evict()
    f = pure(key)
    if getattr(key[0], "creation", False):
        fn = jax.jit(f, out_shardings=sharding(key[-1]))
    else:
        fn = jax.jit(f)
    _FNS[key] = fn
    return fn


def _run_ctx(key, args, dev=0):
    """Call the function of ``key`` on ``args`` (eager), or record the call (lazy). Returns a tuple."""
    if _state.graphs is not None:
        return _state.record(key, args, dev)
    fn = _FNS.get(key)
    if fn is None:
        fn = _jit(key)
    with _x64(True):
        return fn(*args)


def _call_jitted_ctx(fn, args):
    with _x64(True):
        return fn(*args)


# The scope costs ~3 us through the public context manager and ~0.6 us through the
# thread-local swap underneath it; the swap is used where this jax has it (and no hook).
_swap = getattr(_x64, "swap_local", None)
_set = getattr(_x64, "set_local", None)
if _swap is not None and _set is not None and getattr(_x64, "_update_thread_local_hook", None) is None:
    def run(key, args, dev=0):
        """Call the function of ``key`` on ``args`` (eager), or record the call (lazy). Returns a tuple."""
        if _state.graphs is not None:
            return _state.record(key, args, dev)
        fn = _FNS.get(key)
        if fn is None:
            fn = _jit(key)
        prev = _swap(True)
        try:
            return fn(*args)
        finally:
            _set(prev)

    def call_jitted(fn, args):
        prev = _swap(True)
        try:
            return fn(*args)
        finally:
            _set(prev)
else:  # pragma: no cover - other jax versions
    run = _run_ctx
    call_jitted = _call_jitted_ctx


def run_eager(key, args, dev=0):
    """Run now even in lazy mode (``args`` must be concrete arrays): for data-dependent shapes."""
    fn = _FNS.get(key)
    if fn is None:
        fn = _jit(key)
    return call_jitted(fn, args)


# -- strided views as XLA operations (trace time) ---------------------------------------

is_whole = _arraycell.is_whole
needs_read = _arraycell.needs_read
_plan = _arraycell.view_plan


def _index(shape, strides, off, n):
    it = jnp.int32 if n < 2**31 - 1 else jnp.int64
    idx = jnp.full(shape, off, it)
    for d, s in enumerate(strides):
        if s and shape[d] != 1:
            idx = idx + lax.broadcasted_iota(it, shape, d) * s
    return idx


def read(x, g):
    """The elements of the view ``g`` of the flat array ``x``, as an array of the view's shape."""
    if not g or g[0] != "v":
        return x.reshape(g)
    _, shape, strides, off = g
    p = _plan(shape, strides, off)
    kind = p[0]
    if kind == "empty":
        return jnp.zeros(shape, x.dtype)
    if kind == "dense":
        _, sizes, perm, mid, total, _b = p
        block = lax.slice(x, (off,), (off + total,)).reshape(sizes)
        if perm != tuple(range(len(perm))):
            block = block.transpose(perm)
        block = block.reshape(mid)
        return jnp.broadcast_to(block, shape) if mid != shape else block
    return x[_index(shape, strides, off, x.shape[0])]


def write(x, g, v):
    """The flat array ``x`` with the view ``g`` replaced by ``v`` (already of x's dtype and the view's shape)."""
    if not g or g[0] != "v":
        return v.reshape(-1)
    _, shape, strides, off = g
    p = _plan(shape, strides, off)
    kind = p[0]
    if kind == "empty":
        return x
    if kind == "dense" and not p[5]:
        _, sizes, perm, mid, total, _b = p
        vb = v.reshape([m for m in mid if m != 1] or ())
        if perm != tuple(range(len(perm))):
            inv = tuple(int(i) for i in np.argsort(perm))
            vb = vb.transpose(inv)
        return lax.dynamic_update_slice(x, vb.reshape(-1), (off,))
    idx = _index(shape, strides, off, x.shape[0])
    return x.at[idx.reshape(-1)].set(v.reshape(-1))
