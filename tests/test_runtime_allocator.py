"""The caching allocator, tested through the "counting" fixture backend.

tests/fixtures/plugins/counting/ember_counting.py is a pure-Python backend
whose raw allocator counts its calls over a fixed-capacity arena and whose
streams are queues of deferred work. It is registered in this process by hand
(loaded from its file, so its entry point never reaches the plugin scan of
other tests); one test loads it through its entry point in a subprocess, the
way tests/test_plugins.py installs fixture plugins.
"""

from __future__ import annotations

import gc
import os
import random
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import ember
from ember.runtime import allocator as A

from counting import FIXTURE, load_counting  # noqa: E402


def _backends():
    from ember.plugins.manager import registered_backends
    return registered_backends()


@pytest.fixture(scope="module")
def counting():
    return load_counting()


@pytest.fixture
def dev(counting):
    """counting:0 with an empty cache and an idle device, so each test counts from a clean state."""
    d = ember.device("counting:0")
    gc.collect()
    ember.synchronize(d)
    ember.empty_cache(d)
    return d


def raw(counting, d):
    return counting.runtime.counts(d.index)


def stats(d):
    return ember.memory_stats(d)


# -- reuse, splitting, coalescing ------------------------------------------------------------

def test_reuse_without_new_raw_calls(counting, dev):
    x = ember.empty(1000, device=dev)
    h, off = x._storage.allocation.handle, x._storage.allocation.offset
    before, hits = raw(counting, dev), stats(dev)["num_cache_hits"]
    del x
    y = ember.empty(1000, device=dev)          # same size: the cached block comes back
    assert raw(counting, dev)["raw_alloc"] == before["raw_alloc"]
    assert (y._storage.allocation.handle, y._storage.allocation.offset) == (h, off)
    assert stats(dev)["num_cache_hits"] == hits + 1
    for n in (10, 500, 999):                   # smaller sizes reuse the cached segment too
        z = ember.empty(n, device=dev)
        assert z._storage.allocation.handle == h
        del z
    assert raw(counting, dev)["raw_alloc"] == before["raw_alloc"]


def test_sizes_round_and_pools(counting, dev):
    a = A.allocate(dev, 1)
    assert a.nbytes == 1 and a.size == 512
    b = A.allocate(dev, 513)
    assert b.size == 1024
    s = stats(dev)
    assert s["allocated_bytes.small_pool.current"] == 1536 and s["requested_bytes.all.current"] == 514
    assert s["reserved_bytes.small_pool.current"] == A.SMALL_SEGMENT      # one 2 MiB small segment
    c = A.allocate(dev, (1 << 20) + 1)                                   # over 1 MiB: the large pool
    assert c.size == (1 << 20) + 512
    assert stats(dev)["reserved_bytes.large_pool.current"] == A.LARGE_SEGMENT
    e = A.allocate(dev, 11 << 20)                                       # fits in the rest of that segment
    assert stats(dev)["reserved_bytes.large_pool.current"] == A.LARGE_SEGMENT and e.handle == c.handle
    d = A.allocate(dev, (21 << 20) + 1)                                 # >= 10 MiB: a segment rounded to 2 MiB
    assert stats(dev)["reserved_bytes.large_pool.current"] == A.LARGE_SEGMENT + (22 << 20)
    z = A.allocate(dev, 0)                                              # zero bytes still get a valid handle
    assert z.handle is not None and z.size == 512
    del a, b, c, d, e, z


def test_splitting(counting, dev):
    before = raw(counting, dev)["raw_alloc"]
    a = A.allocate(dev, 1024)
    b = A.allocate(dev, 4096)
    c = A.allocate(dev, 100_000)
    assert raw(counting, dev)["raw_alloc"] == before + 1          # one 2 MiB segment, split three ways
    assert a.handle == b.handle == c.handle
    assert (a.offset, b.offset, c.offset) == (0, 1024, 1024 + 4096)
    big = A.allocate(dev, 2 << 20)                                 # large pool: 20 MiB segment, split
    big2 = A.allocate(dev, 3 << 20)
    assert big.handle == big2.handle and big2.offset == 2 << 20
    assert raw(counting, dev)["raw_alloc"] == before + 2
    del a, b, c, big, big2


def test_coalescing(counting, dev):
    before = raw(counting, dev)
    blocks = [A.allocate(dev, 256 << 10) for _ in range(8)]      # eight 256 KiB blocks fill one 2 MiB segment
    h = blocks[0].handle
    assert {b.handle for b in blocks} == {h}
    offsets = [b.offset for b in blocks]
    del blocks[1], blocks[1]                                       # free the middle two: they merge
    m = A.allocate(dev, 512 << 10)                                 # fits only in the merged hole
    assert (m.handle, m.offset) == (h, offsets[1])
    del m
    blocks.clear()                                                 # everything free: one whole segment again
    ember.empty_cache(dev)
    after = raw(counting, dev)
    assert after["raw_alloc"] == before["raw_alloc"] + 1 and after["raw_free"] == before["raw_free"] + 1
    assert after["live"] == before["live"] == 0
    assert stats(dev)["reserved_bytes.all.current"] == 0


def test_empty_cache_and_stats(counting, dev):
    ember.reset_peak_memory_stats(dev)
    base = stats(dev)
    assert base["allocated_bytes.all.current"] == 0 and base["reserved_bytes.all.current"] == 0
    xs = [ember.empty(256, 256, device=dev) for _ in range(3)]    # 256 KiB float32 each
    s = stats(dev)
    assert s["allocated_bytes.all.current"] == 3 * (256 << 10) == ember.memory_allocated(dev)
    assert s["allocation.all.allocated"] == base["allocation.all.allocated"] + 3
    assert ember.memory_reserved(dev) == A.SMALL_SEGMENT
    del xs[:2]
    assert ember.memory_allocated(dev) == 256 << 10
    assert ember.max_memory_allocated(dev) == 3 * (256 << 10)
    assert stats(dev)["allocation.all.freed"] == base["allocation.all.freed"] + 2
    ember.reset_peak_memory_stats(dev)
    assert ember.max_memory_allocated(dev) == 256 << 10
    ember.empty_cache(dev)                                          # one tensor still lives there
    assert ember.memory_reserved(dev) == A.SMALL_SEGMENT
    del xs
    ember.empty_cache(dev)
    assert ember.memory_reserved(dev) == 0 and ember.max_memory_reserved(dev) == A.SMALL_SEGMENT
    assert ember.counting.memory_allocated(0) == 0                 # the per-type module agrees
    A.reset_accumulated_memory_stats(dev)
    assert stats(dev)["num_cache_hits"] == 0 and stats(dev)["allocation.all.allocated"] == 0


def test_memory_api_on_unmanaged_devices():
    s = ember.memory_stats("cpu")
    assert s["allocated_bytes.all.current"] == 0 and "reserved_bytes.all.peak" in s
    assert ember.memory_allocated("cpu") == 0 and ember.memory_reserved("cpu") == 0
    ember.empty_cache("cpu")
    ember.reset_peak_memory_stats("cpu")
    with pytest.raises(TypeError, match="managed_memory=False"):
        A.allocate("cpu", 16)


# -- stream-ordered reuse ------------------------------------------------------------------

def test_stream_ordered_reuse(counting, dev):
    s1, s2 = ember.Stream(dev), ember.Stream(dev)
    with ember.stream(s1):
        x = ember.empty(1024, device=dev)
        x.fill_(1.0)                       # queued on s1, not run yet
        h, off = x._storage.allocation.handle, x._storage.allocation.offset
        del x
        y = ember.empty(1024, device=dev)  # freed on s1, reused on s1 at once: no event needed
        assert (y._storage.allocation.handle, y._storage.allocation.offset) == (h, off)
        waits = len(counting.runtime.log)
        y.fill_(2.0)                       # queued on s1 after the first fill
        del y
    assert not s1.query()
    assert len(counting.runtime.log) == waits
    cross = stats(dev)["num_cross_stream_reuses"]
    with ember.stream(s2):
        z = ember.empty(1024, device=dev)  # freed on s1, wanted on s2: s2 waits for s1's event
        assert (z._storage.allocation.handle, z._storage.allocation.offset) == (h, off)
        z.fill_(3.0)
    assert stats(dev)["num_cross_stream_reuses"] == cross + 1
    kind, waiting, _ = counting.runtime.log[-1]
    assert kind == "wait" and waiting is s2.handle
    s2.synchronize()                       # runs s1's fills first (through the wait), then s2's
    assert s1.query()
    assert counting.runtime.view(z).tolist() == [3.0] * 1024


def test_record_stream_delays_reuse_until_the_other_stream_is_done(counting, dev):
    side = ember.Stream(dev)
    x = ember.empty(4096, device=dev)      # allocated on the default stream
    h, off = x._storage.allocation.handle, x._storage.allocation.offset
    with ember.stream(side):
        x.fill_(5.0)                       # used on the side stream, queued
    x.record_stream(side)
    del x
    assert stats(dev)["num_pending_frees"] == 1
    y = ember.empty(4096, device=dev)      # the side stream may still write there: another block
    assert (y._storage.allocation.handle, y._storage.allocation.offset) != (h, off)
    side.synchronize()
    del y
    z = ember.empty(4096, device=dev)      # now the block is back (and merged with y's)
    assert (z._storage.allocation.handle, z._storage.allocation.offset) == (h, off)
    assert stats(dev)["num_pending_frees"] == 0
    with pytest.raises(TypeError, match="ember.Stream"):
        z.record_stream("side")
    ember.Tensor.record_stream(ember.zeros(2), ember.Stream("cpu"))   # unmanaged memory: nothing to do


def test_empty_cache_waits_for_pending_frees(counting, dev):
    side = ember.Stream(dev)
    x = ember.empty(4096, device=dev)
    with ember.stream(side):
        x.fill_(1.0)
    x.record_stream(side)
    del x
    before = raw(counting, dev)["raw_free"]
    ember.empty_cache(dev)                 # waits for the side stream, then frees the segment
    assert side.query()
    assert raw(counting, dev)["raw_free"] == before + 1 and ember.memory_reserved(dev) == 0


# -- out of memory -----------------------------------------------------------------------

def test_out_of_memory_then_recovery(counting):
    d = ember.device("counting:1")
    gc.collect()
    ember.empty_cache(d)
    cap = counting.runtime.arena(1).capacity
    n = cap // (12 << 20)                                   # 12 MiB tensors: each its own segment
    xs = [ember.empty(3 << 20, device=d) for _ in range(n)]
    small = ember.empty(10, device=d)                       # leaves some cached small-pool memory
    del small
    retries = stats(d)["num_alloc_retries"]
    with pytest.raises(ember.OutOfMemoryError) as e:
        ember.empty(3 << 20, device=d)
    msg = str(e.value)
    err = e.value
    assert isinstance(err, RuntimeError)
    assert err.requested == 12 << 20 and err.allocated == n * (12 << 20)
    assert err.reserved == n * (12 << 20)                   # the cached small segment was freed before failing
    assert err.total == cap and err.free == cap - n * (12 << 20)
    for v in ("counting:1", str(12 << 20), str(err.allocated), str(err.reserved), str(err.free), "empty_cache"):
        assert v in msg, (v, msg)
    assert stats(d)["num_alloc_retries"] == retries + 1 and stats(d)["num_ooms"] >= 1
    del xs[0], xs[0]                                        # two neighbouring segments become free (cached)
    big = ember.empty(5 << 20, device=d)                    # 20 MiB: fits only once the cache is freed
    assert big.numel() == 5 << 20
    assert stats(d)["num_alloc_retries"] == retries + 2
    with pytest.raises(ember.OutOfMemoryError, match="out of memory"):
        A.allocate(d, cap + 1)
    del big, xs
    ember.empty_cache(d)
    assert counting.runtime.counts(1)["live"] == 0


def test_mid_size_request_falls_back_to_its_own_segment_size(counting):
    """A 1-10 MiB request normally gets a 20 MiB segment; on a device with only 16 MiB free it gets a
    segment of its own size instead of failing."""
    d = ember.device("counting:1")
    gc.collect()
    ember.empty_cache(d)
    cap = counting.runtime.arena(1).capacity
    hold = [ember.empty(3 << 20, device=d) for _ in range((cap - (16 << 20)) // (12 << 20))]
    free = cap - len(hold) * (12 << 20)
    assert (4 << 20) < free < (20 << 20)
    before = stats(d)["reserved_bytes.all.current"]
    x = ember.empty(1 << 20, device=d)                      # 4 MiB
    assert stats(d)["reserved_bytes.all.current"] == before + (4 << 20)
    x.fill_(2.0)
    assert float(x.sum()) == 2.0 * (1 << 20)
    del x, hold
    ember.empty_cache(d)
    assert counting.runtime.counts(1)["live"] == 0


# -- no leak; threads ------------------------------------------------------------------------

def test_no_leak_after_10000_mixed_allocations(counting, dev):
    gc.collect()
    base = stats(dev)
    base_raw = raw(counting, dev)
    rng = random.Random(0)
    streams = [ember.current_stream(dev), ember.Stream(dev)]
    live = []
    sizes = [1, 100, 512, 4000, 65536, 300_000, 1 << 20, (1 << 20) + 1, 3 << 20]
    for i in range(10_000):
        if live and (rng.random() < 0.5 or len(live) > 12):
            live.pop(rng.randrange(len(live)))
        else:
            s = streams[rng.randrange(2)]
            a = A.allocate(dev, rng.choice(sizes) + rng.randrange(64), s)
            if rng.random() < 0.1:
                a.record_stream(streams[0] if s is streams[1] else streams[1])
            live.append(a)
    del a
    live.clear()
    gc.collect()
    ember.synchronize(dev)
    s = stats(dev)
    assert s["allocated_bytes.all.current"] == base["allocated_bytes.all.current"] == 0
    assert s["requested_bytes.all.current"] == 0 and s["allocation.all.current"] == 0
    assert s["allocation.all.allocated"] - base["allocation.all.allocated"] == \
        s["allocation.all.freed"] - base["allocation.all.freed"]
    n_allocs = s["allocation.all.allocated"] - base["allocation.all.allocated"]
    n_raw = s["segment.all.allocated"] - base["segment.all.allocated"]
    assert n_allocs > 4000 and n_raw < 50                              # the cache did its job
    assert s["num_cache_hits"] - base["num_cache_hits"] == n_allocs - n_raw
    ember.empty_cache(dev)
    assert ember.memory_reserved(dev) == 0
    r = raw(counting, dev)
    assert r["live"] == base_raw["live"] == 0 and r["used"] == 0
    ok = (r["raw_alloc"] - r["failed"]) - (base_raw["raw_alloc"] - base_raw["failed"])
    assert ok == r["raw_free"] - base_raw["raw_free"]                 # every raw allocation was given back


def test_four_threads_allocate_at_once(counting, dev):
    gc.collect()
    errors, kept = [], []
    barrier = threading.Barrier(4)

    def work(seed):
        try:
            rng = random.Random(seed)
            s = ember.Stream(dev)
            live = []
            barrier.wait()
            with ember.stream(s):
                for _ in range(1500):
                    if live and (rng.random() < 0.5 or len(live) > 8):
                        live.pop(rng.randrange(len(live)))
                    else:
                        live.append(A.allocate(dev, rng.choice((64, 3000, 200_000, 2 << 20))))
            kept.extend(live)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    spans = sorted((a.handle + a.offset, a.handle + a.offset + a.size) for a in kept)
    for (s0, e0), (s1, e1) in zip(spans, spans[1:]):
        assert e0 <= s1, "two live allocations overlap"
    assert ember.memory_allocated(dev) == sum(a.size for a in kept)
    kept.clear()
    gc.collect()
    ember.synchronize(dev)
    assert ember.memory_allocated(dev) == 0 and stats(dev)["allocation.all.current"] == 0
    ember.empty_cache(dev)
    assert raw(counting, dev)["live"] == 0


def test_finalizer_that_finds_the_lock_taken_defers_the_free(counting, dev):
    a = A.allocate(dev, 1000)
    alloc = A.allocator_for(dev)
    with alloc.lock:                      # as if the collector ran inside the allocator
        del a
        assert len(alloc._deferred) == 1
    assert ember.memory_allocated(dev) == 0 and not alloc._deferred


# -- the backend's view: tensors and the entry point ---------------------------------------------

def test_counting_tensors_compute_and_hold_their_allocation(counting, dev):
    x = ember.tensor(np.arange(12.0).reshape(3, 4), device=dev)
    assert isinstance(x._storage.allocation, ember.runtime.Allocation)
    assert ember.runtime.allocation_of(x) is x._storage.allocation
    v = x.t()[1:]                          # a view keeps the memory alive
    del x
    gc.collect()
    assert ember.memory_allocated(dev) > 0
    assert v.tolist() == np.arange(12.0).reshape(3, 4).T[1:].tolist()
    assert (v * 2).sum().item() == 2 * np.arange(12.0).reshape(3, 4).T[1:].sum()


def test_counting_plugin_loads_through_its_entry_point():
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMBER_")}
    env["PYTHONPATH"] = os.pathsep.join([str(FIXTURE)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    code = textwrap.dedent("""
        import sys, ember
        assert "ember_counting" not in sys.modules
        assert ember.counting.is_available() and ember.counting.device_count() == 2
        x = ember.ones(4, device="counting")
        assert x.tolist() == [1.0] * 4 and ember.memory_allocated("counting") == 512
        import ember_counting
        assert ember_counting.runtime.counts(0)["raw_alloc"] == 1
        print("ok")
    """)
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr


def test_managed_memory_without_streams(counting):
    """counting_sync: the same allocator policy on a backend whose work is synchronous (streams=False)."""
    d = ember.device("counting_sync:0")
    gc.collect()
    ember.empty_cache(d)
    rt = counting.sync_runtime
    before = rt.counts(0)
    x = ember.full((1000,), 2.0, device=d)
    assert x.tolist() == [2.0] * 1000 and x._storage.allocation.handle is not None
    h = (x._storage.allocation.handle, x._storage.allocation.offset)
    del x
    y = ember.empty(1000, device=d)                        # reused, no new raw call
    assert (y._storage.allocation.handle, y._storage.allocation.offset) == h
    assert rt.counts(0)["raw_alloc"] == before["raw_alloc"] + 1
    s = ember.Stream(d)
    assert s.handle is None and s.query()
    with ember.stream(s):
        z = ember.empty(1000, device=d)                    # another stream object: reuse needs no event
        z.fill_(4.0)                                       # runs at once
        assert rt.view(z).tolist() == [4.0] * 1000
    z.record_stream(ember.default_stream(d))
    del y, z
    assert stats(d)["num_pending_frees"] == 0 and ember.memory_allocated(d) == 0
    e1, e2 = ember.Event(enable_timing=True), ember.Event(enable_timing=True)
    e1.record(ember.default_stream(d))
    e2.record(s)
    assert e1.elapsed_time(e2) >= 0.0 and e2.query()
    ember.empty_cache(d)
    assert rt.counts(0)["live"] == 0 and ember.memory_reserved(d) == 0
    with pytest.raises(ember.OutOfMemoryError, match="counting_sync:0 is out of memory"):
        ember.empty(rt.arena(0).capacity, device=d)


# -- the fast path: exact-size bins ------------------------------------------------------------

def n_binned(alloc):
    return sum(len(lst) for d in alloc._bins.values() for lst in d.values())


def check_structure(alloc):
    """Every segment is a chain of blocks that tile it; each free block is in exactly one place
    (a best-fit pool or a bin of its own stream), and no two free neighbours of one stream sit in
    the best-fit pools unmerged."""
    pooled = {id(e[2]) for pool in alloc._free for lst in pool.values() for e in lst}
    binned = {id(b): (s, size) for s, d in alloc._bins.items() for size, lst in d.items() for b in lst}
    assert len(binned) == n_binned(alloc)
    for pool, dirty in enumerate(alloc._dirty):                    # the bins a coalescing will visit
        assert len({id(lst) for lst in dirty}) == len(dirty) and all(lst.dirty for lst in dirty)
        for lst in dirty:
            assert all(b.pool == pool for b in lst)
    dirty_ids = {id(lst) for dirty in alloc._dirty for lst in dirty}
    for d in alloc._bins.values():
        for lst in d.values():
            assert lst.dirty == (id(lst) in dirty_ids)
            assert not lst or lst.dirty                            # a bin with blocks is always visited
    pending = {id(b) for _, b in alloc._pending}
    for first in alloc._segments.values():
        assert first.prev is None and first.offset == 0
        b, end = first, 0
        while b is not None:
            assert b.offset == end and b.handle == first.handle and b.size >= A.MIN_BLOCK
            assert b.pool == first.pool
            end += b.size
            places = (id(b) in pooled) + (id(b) in binned) + (id(b) in pending)
            assert places <= 1 and b.in_pool == (id(b) in pooled)
            if id(b) in binned:
                s, size = binned[id(b)]
                assert s is b.stream and size <= b.size and b.bin is alloc._bins[s][size]
            nxt = b.next
            if nxt is not None:
                assert nxt.prev is b
                assert not (b.in_pool and nxt.in_pool and b.stream is nxt.stream), "unmerged free neighbours"
            b = nxt
        if first.pool == 0:
            assert end == A.SMALL_SEGMENT
        else:
            assert end == A.LARGE_SEGMENT or (end >= A.MIN_LARGE_ALLOC and end % A.ROUND_LARGE == 0)


def test_exact_size_bin_serves_the_same_size_without_splitting(counting, dev):
    alloc = A.allocator_for(dev)
    a = A.allocate(dev, 3000)
    h, off, size = a.handle, a.offset, a.size
    seq_before = alloc._seq
    hits = stats(dev)["num_cache_hits"]
    del a
    assert n_binned(alloc) == 1                      # freed into its bin, not merged back yet
    check_structure(alloc)
    for n in (3000, 2561, 3072):                   # every request that rounds to 3072 bytes
        b = A.allocate(dev, n)
        assert (b.handle, b.offset, b.size, b.nbytes) == (h, off, size, n)
        assert alloc._seq == seq_before            # no split, no new block
        del b
    assert stats(dev)["num_cache_hits"] == hits + 3
    s = stats(dev)
    assert s["allocated_bytes.all.current"] == 0 and s["requested_bytes.all.current"] == 0
    assert s["allocation.all.current"] == 0
    c = A.allocate(dev, 1000)                      # another size: from the free pool; the bin stays
    assert n_binned(alloc) == 1 and (c.handle, c.offset) != (h, off)
    check_structure(alloc)
    d = A.allocate(dev, 3000)                      # so the repeated size still hits its bin
    assert (d.handle, d.offset) == (h, off)
    del c, d


def test_bins_coalesce_when_the_pool_has_no_fit(counting, dev):
    """Freed neighbours sit in their bins; a request of another size that the free pool cannot serve
    merges them, then searches again."""
    alloc = A.allocator_for(dev)
    xs = [A.allocate(dev, 64 << 10) for _ in range(32)]   # 32 x 64 KiB fill one 2 MiB segment
    assert len({x.handle for x in xs}) == 1
    offs = [x.offset for x in xs]
    del xs[1:4]                                    # three neighbours, binned separately
    assert n_binned(alloc) == 3
    n_raw = raw(counting, dev)["raw_alloc"]
    m = A.allocate(dev, 192 << 10)                 # no free block fits: merge the bins; the hole fits exactly
    assert raw(counting, dev)["raw_alloc"] == n_raw
    assert m.offset == offs[1] and n_binned(alloc) == 0
    check_structure(alloc)
    del m
    y = A.allocate(dev, 192 << 10)                 # now from the bin
    assert y.offset == offs[1]
    del y, xs
    ember.empty_cache(dev)                         # binned blocks merge into a whole segment and go back
    assert ember.memory_reserved(dev) == 0 and not alloc._segments and n_binned(alloc) == 0
    assert raw(counting, dev)["live"] == 0


def test_bins_are_per_stream(counting, dev):
    """A block binned on one stream is not handed to another stream without an event wait."""
    alloc = A.allocator_for(dev)
    s1, s2 = ember.Stream(dev), ember.Stream(dev)
    a = A.allocate(dev, 8192, s1)
    h, off = a.handle, a.offset
    del a
    assert alloc._bins[s1][8192] and s2 not in alloc._bins
    cross = stats(dev)["num_cross_stream_reuses"]
    n_log = len(counting.runtime.log)
    b = A.allocate(dev, 8192, s2)                  # s2's bin is empty: coalesce, then take s1's block
    assert (b.handle, b.offset) == (h, off) and b.stream is s2
    assert stats(dev)["num_cross_stream_reuses"] == cross + 1
    assert [e[:2] for e in counting.runtime.log[n_log:]] == [("wait", s2.handle)]
    del b
    assert alloc._bins[s2][8192] and not alloc._bins.get(s1, {}).get(8192)
    c = A.allocate(dev, 8192, s2)                  # back on s2: from its bin, no event
    assert (c.handle, c.offset) == (h, off) and len(counting.runtime.log) == n_log + 1
    check_structure(alloc)
    del c


def test_record_stream_block_is_not_binned_until_the_stream_is_done(counting, dev):
    alloc = A.allocator_for(dev)
    side = ember.Stream(dev)
    x = A.allocate(dev, 4096)
    h, off = x.handle, x.offset
    x.record_stream(side)
    del x
    assert n_binned(alloc) == 0 and len(alloc._pending) == 1
    z = A.allocate(dev, 4096)                      # side's event has not completed: another block
    assert (z.handle, z.offset) != (h, off) and len(alloc._pending) == 1
    del z                                          # binned, next to the pending block
    side.synchronize()
    y = A.allocate(dev, 4096)                      # the pending block returns, merged, before the search
    assert (y.handle, y.offset) == (h, off) and not alloc._pending
    check_structure(alloc)
    del y


def test_large_block_bigger_than_its_size_class_is_rebinned(counting, dev):
    """A large-pool block keeps a remainder too small to split; freed, it serves its size class again."""
    alloc = A.allocator_for(dev)
    a = A.allocate(dev, 19 << 20)                  # a 20 MiB segment; 1 MiB left is too small to split off
    assert a.size == A.LARGE_SEGMENT
    ember.reset_peak_memory_stats(dev)
    h = a.handle
    del a
    b = A.allocate(dev, (19 << 20) - 100)          # same rounded size: the whole 20 MiB block from its bin
    assert b.handle == h and b.size == A.LARGE_SEGMENT
    s = stats(dev)
    assert s["allocated_bytes.large_pool.current"] == A.LARGE_SEGMENT == s["allocated_bytes.all.peak"]
    assert s["requested_bytes.all.current"] == (19 << 20) - 100
    del b
    assert stats(dev)["allocated_bytes.all.current"] == 0
    check_structure(alloc)


def test_stats_counters_with_bins_and_resets(counting, dev):
    A.reset_accumulated_memory_stats(dev)
    ember.reset_peak_memory_stats(dev)
    live = [A.allocate(dev, 1 << 10) for _ in range(3)]
    del live[0]
    s = stats(dev)
    assert s["allocation.all.allocated"] == 3 and s["allocation.all.freed"] == 1
    assert s["allocation.all.current"] == 2 and s["allocation.all.peak"] == 3
    assert s["allocated_bytes.all.allocated"] == 3 << 10 and s["allocated_bytes.all.freed"] == 1 << 10
    assert s["allocated_bytes.small_pool.current"] == 2 << 10 and s["requested_bytes.all.peak"] == 3 << 10
    A.reset_accumulated_memory_stats(dev)         # counts start again; current values stay
    live.append(A.allocate(dev, 1 << 10))         # from the bin: a cache hit
    s = stats(dev)
    assert s["allocation.all.allocated"] == 1 and s["allocation.all.freed"] == 0
    assert s["allocation.all.current"] == 3 and s["num_cache_hits"] == 1
    assert s["allocated_bytes.all.allocated"] == 1 << 10 and s["allocated_bytes.all.freed"] == 0
    live.clear()
    s = stats(dev)
    assert s["allocation.all.freed"] == 3 and s["allocated_bytes.all.freed"] == 3 << 10
    assert s["allocated_bytes.all.current"] == 0 and s["allocation.all.peak"] == 3


def test_deferred_free_goes_to_its_bin(counting, dev):
    alloc = A.allocator_for(dev)
    a = A.allocate(dev, 5000)
    key = (a.handle, a.offset)
    with alloc.lock:
        del a
        assert len(alloc._deferred) == 1 and n_binned(alloc) == 0
    b = A.allocate(dev, 5000)                     # drained first, then served from the bin
    assert (b.handle, b.offset) == key and not alloc._deferred
    check_structure(alloc)
    del b


def test_empty_cache_lets_go_of_dead_streams_bins(counting, dev):
    import weakref
    alloc = A.allocator_for(dev)
    s = ember.Stream(dev)
    ref = weakref.ref(s)
    a = A.allocate(dev, 2048, s)
    del a
    assert s in alloc._bins
    keep = A.allocate(dev, 4096)                  # a live block on the default stream keeps its bin
    del s
    ember.empty_cache(dev)
    gc.collect()
    assert ref() is None                           # the allocator no longer holds the stream
    assert list(alloc._bins) == [ember.current_stream(dev)]
    del keep
    assert n_binned(alloc) == 1
    ember.empty_cache(dev)
    assert ember.memory_reserved(dev) == 0


def test_random_mix_keeps_the_structure(counting, dev):
    """Random sizes, streams, frees and record_stream: the block structure stays consistent."""
    alloc = A.allocator_for(dev)
    rng = random.Random(1)
    streams = [ember.current_stream(dev), ember.Stream(dev), ember.Stream(dev)]
    sizes = [1, 700, 4096, 4096, 50_000, 200_000, (1 << 20) + 1, 3 << 20]
    live = []
    for i in range(3000):
        if live and (rng.random() < 0.45 or len(live) > 20):
            live.pop(rng.randrange(len(live)))
        else:
            s = rng.choice(streams)
            a = A.allocate(dev, rng.choice(sizes), s)
            if rng.random() < 0.05:
                a.record_stream(rng.choice(streams))
            live.append(a)
        if i % 100 == 0:
            check_structure(alloc)
            if rng.random() < 0.3:
                streams[rng.randrange(1, 3)].synchronize()
    a = None
    spans = sorted((a.handle + a.offset, a.handle + a.offset + a.size) for a in live)
    for (_, e0), (s1, _) in zip(spans, spans[1:]):
        assert e0 <= s1, "two live allocations overlap"
    assert ember.memory_allocated(dev) == sum(a.size for a in live)
    live.clear()
    ember.synchronize(dev)
    assert ember.memory_allocated(dev) == 0
    ember.empty_cache(dev)
    assert ember.memory_reserved(dev) == 0 and raw(counting, dev)["live"] == 0


def test_bins_on_a_device_without_streams(counting):
    d = ember.device("counting_sync:0")
    gc.collect()
    ember.empty_cache(d)
    alloc = A.allocator_for(d)
    a = A.allocate(d, 1000, ember.Stream(d))      # the stream is ignored: one pool, one set of bins
    key = (a.handle, a.offset)
    del a
    assert list(alloc._bins) == [None]
    b = A.allocate(d, 1000)
    assert (b.handle, b.offset) == key
    b.record_stream(ember.Stream(d))               # nothing to wait for: freed straight into its bin
    del b
    assert n_binned(alloc) == 1 and not alloc._pending
    check_structure(alloc)
    ember.empty_cache(d)
    assert ember.memory_reserved(d) == 0


def test_a_new_size_does_not_flush_the_bins_of_a_repeating_step(counting, dev):
    """A training step allocates and frees the same sizes each time; one request of a size never seen
    before (served from the free pool) must not give the other sizes' bins back, or every later request
    of the step would miss and search again."""
    alloc = A.allocator_for(dev)

    def step(i):
        a = A.allocate(dev, 3000)
        b = A.allocate(dev, 70_000)
        del a
        e = A.allocate(dev, 100_000 + 4096 * i)   # a new size each step
        c = A.allocate(dev, 5000)
        d = A.allocate(dev, 3000)
        del b, c, d, e

    step(0)
    step(1)
    for i in range(2, 7):
        seq = alloc._seq
        step(i)
        assert alloc._seq == seq + 1               # only e split a block; a, b, c, d came from their bins
    check_structure(alloc)
