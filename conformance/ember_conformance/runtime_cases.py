"""Tier 0: the runtime and device basics every later tier stands on."""

from __future__ import annotations

import numpy as np

from .cases import Case, seed_for
from .compare import mismatch_message, same_bits
from .opcase import CaseFailure, CaseSkip
from .samples import arr, special


def cases(ctx) -> list[Case]:
    out = [Case("runtime/available", 0, _available), Case("runtime/device_count", 0, _device_count),
           Case("runtime/synchronize", 0, _synchronize)]
    for dt in ctx.dtypes:
        out.append(Case(f"runtime/empty/{dt.name}", 0, _bind(_empty, dt), None, dt.name))
        out.append(Case(f"runtime/copy_roundtrip/{dt.name}", 0, _bind(_roundtrip, dt), None, dt.name))
        out.append(Case(f"runtime/to_cpu_and_back/{dt.name}", 0, _bind(_to_cpu, dt), None, dt.name))
    out += [Case("runtime/streams", 0, _streams), Case("runtime/events", 0, _events),
            Case("runtime/memory_stats", 0, _memory_stats), Case("runtime/allocator", 0, _allocator)]
    return out


def _bind(fn, dt):
    return lambda ctx: fn(ctx, dt)


def _available(ctx):
    rt = ctx.backend.runtime
    if not rt.is_available():
        raise CaseFailure(f"device type {ctx.device_type!r} is not available: {rt.unavailable_reason()}")


def _device_count(ctx):
    n = ctx.backend.runtime.device_count()
    if not isinstance(n, int) or n < 1:
        raise CaseFailure(f"device_count() returned {n!r}; an available device type has at least 1 device")


def _synchronize(ctx):
    import ember
    ctx.backend.runtime.synchronize(ember.device(ctx.device))


def _empty(ctx, dt):
    import ember
    for shape in ((2, 3), (), (0, 4)):
        t = ember.empty(shape, dtype=dt, device=ctx.device)
        if tuple(t.shape) != shape or t.dtype is not dt or t.device.type != ctx.device_type:
            raise CaseFailure(f"empty({shape}, dtype={dt.name}) gave shape {tuple(t.shape)}, dtype "
                              f"{t.dtype.name}, device {t.device}; expected shape {shape}, dtype {dt.name}, "
                              f"device type {ctx.device_type}")


def _values(dt, rng):
    vals = [arr(rng, (3, 4), dt), arr(rng, (), dt), arr(rng, (0, 4), dt), arr(rng, (2, 3, 5), dt)]
    if dt.is_floating_point:
        vals.append(special(dt))
    return vals


def _roundtrip(ctx, dt):
    import ember
    rng = np.random.default_rng(seed_for("roundtrip", dt.name))
    for a in _values(dt, rng):
        t = ember.tensor(a, dtype=dt, device=ctx.device)
        ctx.backend.runtime.synchronize(t.device)
        back = t._to_numpy_copy()
        if t.device.type != ctx.device_type:
            raise CaseFailure(f"ember.tensor(..., device={ctx.device!r}) is on {t.device}")
        if back.dtype != np.dtype(dt.np) or not same_bits(back, a):
            raise CaseFailure(mismatch_message(f"host -> device -> host changed a {dt.name} array of shape "
                                               f"{a.shape}", a, back))


def _to_cpu(ctx, dt):
    import ember
    from ember.device import get_backend
    if ctx.device_type == "cpu":
        raise CaseSkip("the backend under test is cpu")
    try:
        get_backend("cpu")
    except Exception:  # noqa: BLE001
        raise CaseSkip("ember-cpu is not installed, so there is no other device to copy to") from None
    rng = np.random.default_rng(seed_for("to_cpu", dt.name))
    for a in _values(dt, rng):
        c = ember.tensor(a, dtype=dt, device=ctx.device).to("cpu")
        _same_copy(f".to('cpu') of a {dt.name} tensor of shape {a.shape}", c, "cpu", a)
        d = ember.tensor(a, dtype=dt, device="cpu").to(ctx.device)
        _same_copy(f"cpu tensor .to({ctx.device!r}) of dtype {dt.name} shape {a.shape}", d, ctx.device_type, a)


def _same_copy(what, t, device_type, want):
    """A copy must land on ``device_type`` with ``want``'s dtype, shape and bits."""
    if t.device.type != device_type:
        raise CaseFailure(f"{what} is on {t.device}, not on device type {device_type}")
    got = t._to_numpy_copy()
    if got.dtype != want.dtype or not same_bits(got, want):
        raise CaseFailure(mismatch_message(f"{what} changed it", want, got))


def _need(ctx, flag, what):
    import ember
    if not getattr(ctx.backend.capabilities, flag, False):
        raise CaseSkip(f"the backend does not declare {flag}=True in its Capabilities")
    if not all(hasattr(ember, n) for n in what):
        raise CaseSkip(f"this ember-core has no {', '.join('ember.' + n for n in what)} yet (runtime services)")


def _streams(ctx):
    import ember
    _need(ctx, "streams", ("Stream", "current_stream"))
    s = ember.Stream(ctx.device)
    x = ember.ones((64,), device=ctx.device)
    y = x + x
    s.synchronize()
    if hasattr(s, "query") and not s.query():
        raise CaseFailure("Stream.query() is False after Stream.synchronize()")
    cur = ember.current_stream(ctx.device)
    if cur is None:
        raise CaseFailure("current_stream() returned None")
    got, want = y._to_numpy_copy(), np.full(64, 2, np.float32)
    if got.dtype != want.dtype or not same_bits(got, want):
        raise CaseFailure(mismatch_message("ones(64) + ones(64) was wrong after synchronizing its stream", want, got))


def _events(ctx):
    import ember
    _need(ctx, "streams", ("Stream", "Event"))
    s = ember.Stream(ctx.device)
    start, end = ember.Event(enable_timing=True), ember.Event(enable_timing=True)
    start.record(s)
    ember.ones((1024,), device=ctx.device).sum()
    end.record(s)
    end.synchronize()
    if hasattr(end, "query") and not end.query():
        raise CaseFailure("Event.query() is False after Event.synchronize()")
    ms = start.elapsed_time(end)
    if not (isinstance(ms, float) and ms >= 0):
        raise CaseFailure(f"Event.elapsed_time() returned {ms!r}; expected a non-negative float")


def _memory_stats(ctx):
    import ember
    _need(ctx, "managed_memory", ("runtime",))
    rt = ember.runtime
    fn = getattr(rt, "memory_allocated", None)
    if fn is None:
        raise CaseSkip("this ember-core has no ember.runtime.memory_allocated() yet (runtime services)")
    before = fn(ember.device(ctx.device))
    x = ember.empty((1 << 20,), dtype=ember.uint8, device=ctx.device)
    after = fn(ember.device(ctx.device))
    if after < before + (1 << 20):
        raise CaseFailure(f"memory_allocated() went from {before} to {after} after allocating 1 MiB")
    del x


def _allocator(ctx):
    import ember
    _need(ctx, "managed_memory", ("runtime",))
    alloc = getattr(ember.runtime, "allocate", None)
    if alloc is None:
        raise CaseSkip("this ember-core has no ember.runtime.allocate() yet (runtime services)")
    a = alloc(ember.device(ctx.device), 1000)
    if getattr(a, "nbytes", 0) < 1000:
        raise CaseFailure(f"allocate(1000 bytes) gave an Allocation of {getattr(a, 'nbytes', None)} bytes")
