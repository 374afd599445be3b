"""The caching allocator: core's memory policy for every backend that declares managed memory.

A backend with ``Capabilities(managed_memory=True)`` supplies only
``raw_alloc(nbytes, device_index) -> handle | None`` and
``raw_free(handle, device_index)`` (see ``ember.plugins.hookspecs``); its
``runtime.empty`` asks core for memory with :func:`allocate` and keeps the
returned :class:`Allocation` in the tensor's storage. Everything else is here,
once, for all devices:

* sizes round up to 512 bytes; requests of at most 1 MiB come from the small
  pool (2 MiB segments), larger ones from the large pool (20 MiB segments up
  to 10 MiB, else the size rounded up to 2 MiB; a device that cannot give a
  20 MiB segment is asked for the request's own size, rounded up to 2 MiB);
* a cached block is split when it is bigger than asked for, and a freed block
  merges with free neighbours of its segment (coalescing);
* reuse is stream-ordered: a block freed on stream S is reused on S at once;
  on another stream T only after T waits on an event recorded on S; a block
  that ``Tensor.record_stream`` marked as used on other streams returns to the
  pool only once events recorded on those streams at free time complete;
* when ``raw_alloc`` answers None the allocator frees its cache (waiting for
  pending events) and retries, then raises :class:`ember.OutOfMemoryError`
  with the requested, allocated, reserved and free bytes;
* stats: allocated, reserved and requested bytes with their peaks, alloc and
  free counts, cache hits, raw allocations, retries and OOMs
  (:func:`memory_stats`), :func:`reset_peak_memory_stats`, :func:`empty_cache`.

The fast path. A training loop asks for the same sizes on the same stream
over and over, so a freed block first goes to an *exact-size bin*: a list per
(stream, rounded request size), appended to on free and popped on the next
request of that size, with no search, no split and no merge. A request its
bin cannot serve takes the best fit from the free pool; only when the pool has
no fit are the binned blocks returned to it (merging each with its free
neighbours, as an eager free would have) and the search repeated. So one new
size (a last partial batch, a varying sequence length) leaves the bins of
every other size in place, and no new segment is allocated while a merge of
binned blocks could still serve the request. Returning
record_stream blocks, empty_cache, the out-of-memory retry and cross-stream
reuse all see fully coalesced pools.

Private pools (PyTorch's graph memory pools). While a CUDA graph is captured on stream S, the
allocations ordered on S go to a :class:`PrivatePool` instead: the pool object stands in for the
stream as the key of bins, free lists and blocks, so its blocks are reused only by allocations made
for the same pool (a later capture sharing it), never by eager code, and its segments are not given
back while a graph using it lives: a replay writes those addresses. ``begin_allocate_to_pool`` and
``end_allocate_to_pool`` route a stream; ``release_pool`` lets a pool's memory go.

One lock per device, taken once per allocation and once per free. An
``Allocation`` returns its block when it is garbage-collected; a finalizer
that finds the lock taken (another thread, or a collection triggered inside
the allocator) queues the block and the next allocator call frees it.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, insort
from collections import deque

from ..device import Device, resolve
from ..errors import OutOfMemoryError
from . import streams as _streams
from .streams import _current_stream_of
from ..errors import ArgumentTypeError, InvalidArgumentError

__all__ = ["Allocation", "CachingAllocator", "PrivatePool", "allocate", "record_stream", "memory_stats", "memory_allocated",
           "max_memory_allocated", "memory_reserved", "max_memory_reserved", "reset_peak_memory_stats",
           "reset_accumulated_memory_stats", "empty_cache", "allocator_for", "MIN_BLOCK", "SMALL_SIZE",
           "SMALL_SEGMENT", "LARGE_SEGMENT", "MIN_LARGE_ALLOC", "ROUND_LARGE"]

MIN_BLOCK = 512                 # every size rounds up to a multiple of this
SMALL_SIZE = 1 << 20            # requests up to 1 MiB come from the small pool
SMALL_SEGMENT = 2 << 20         # the small pool grows by 2 MiB segments
MIN_LARGE_ALLOC = 10 << 20      # large requests below this get a whole LARGE_SEGMENT
LARGE_SEGMENT = 20 << 20
ROUND_LARGE = 2 << 20           # larger requests round up to a multiple of this

_SMALL, _LARGE = 0, 1


class Block:
    """A piece of a segment (one raw allocation): allocated, binned, pending or in a best-fit pool.

    ``bin`` is the exact-size bin the block goes to when freed: the list for
    (its stream, the rounded size it was last allocated for). A large-pool
    block may be bigger than that size (a remainder too small to split off).
    """

    __slots__ = ("handle", "offset", "size", "pool", "stream", "prev", "next", "in_pool", "uses", "seq", "key",
                 "bin")

    def __init__(self, handle, offset, size, pool, stream, seq):
        self.handle = handle
        self.offset = offset
        self.size = size
        self.pool = pool
        self.stream = stream      # the stream after whose queued work this block is free to reuse
        self.prev = None
        self.next = None
        self.in_pool = False      # in a best-fit free list (self._free)
        self.uses = None          # streams besides self.stream that used it (Tensor.record_stream)
        self.seq = seq
        self.key = None           # (size, seq): its sort key in a free list
        self.bin = None


class PrivatePool:
    """A private memory pool: what ``graph_pool_handle()`` returns and a CUDA graph's memory comes from.

    It keys the allocator's structures where a stream would, so its blocks never mix with a stream's.
    ``users``: graphs holding it (its segments stay reserved while > 0). ``raw_alloc``: optional
    ``(nbytes, device_index) -> handle`` for new segments, for a backend that must allocate
    differently while capturing (CUDA: in relaxed capture mode). ``handle`` is None: a pool is no
    stream, so the allocator never records events on it."""

    __slots__ = ("id", "users", "raw_alloc", "handle", "__weakref__")
    _count = 0

    def __init__(self, raw_alloc=None):
        PrivatePool._count += 1
        self.id = (0, PrivatePool._count)   # PyTorch's MempoolId_t shape: (0, n) for graph pools
        self.users = 0
        self.raw_alloc = raw_alloc
        self.handle = None

    def __repr__(self):
        return f"<ember PrivatePool id={self.id} users={self.users}>"


class _Bin(list):
    """An exact-size bin: free blocks of one (stream, rounded size), most recently freed last."""

    __slots__ = ("dirty",)   # had a block appended since its pool was last coalesced (is in _dirty)


class Allocation:
    """Memory handed to a backend: ``handle`` (the raw allocation it lies in), ``offset`` (bytes into it),
    ``nbytes`` (as asked), ``size`` (the block's rounded size), ``device`` and ``stream`` (where it was allocated).

    Kernels address it as (handle, offset). When the Allocation is garbage-collected
    its block returns to the cache, stream-ordered. A backend keeps it alive as
    (or inside) the tensor's storage, so views keep it alive too.
    """

    __slots__ = ("handle", "offset", "nbytes", "device", "_block", "_owner", "__weakref__")

    # Built by allocate() without calling __init__ (object.__new__ plus slot stores is cheaper).
    def __init__(self, block, nbytes, device, owner):
        self.handle = block.handle
        self.offset = block.offset
        self.nbytes = nbytes
        self.device = device
        self._block = block
        self._owner = owner

    @property
    def size(self) -> int:
        return self._block.size

    @property
    def stream(self):
        return self._block.stream

    def record_stream(self, stream) -> None:
        """Mark this memory as used by work queued on ``stream`` (see ``Tensor.record_stream``)."""
        self._owner.record_stream(self._block, stream)

    def __del__(self):
        # The free fast path, inline (CachingAllocator._free_locked is the same for deferred frees):
        # stats, then the block goes to its exact-size bin. A finalizer must never raise.
        try:
            a = self._owner
            b = self._block
            lock = a.lock
            if not lock.acquire(False):
                a._deferred.append((b, self.nbytes))
                return
            try:
                bs = b.size
                a._n_free += 1
                a._b_free += bs
                a._r_free += self.nbytes
                a.pool_allocated[b.pool] -= bs
                if b.uses is None:
                    lst = b.bin
                    lst.append(b)
                    if not lst.dirty:
                        lst.dirty = True
                        a._dirty[b.pool].append(lst)
                else:
                    a._free_used(b)
                if a._deferred:
                    a._drain()
            finally:
                lock.release()
        except Exception:  # noqa: BLE001  (interpreter shutdown, a failing backend event call)
            pass

    def __repr__(self):
        return (f"<Allocation {self.nbytes} bytes on {self.device}: handle={self.handle!r} offset={self.offset} "
                f"block={self._block.size}>")


_new = object.__new__


def _round(nbytes: int) -> int:
    if nbytes < MIN_BLOCK:
        return MIN_BLOCK
    return (nbytes + MIN_BLOCK - 1) // MIN_BLOCK * MIN_BLOCK


def _segment_size(size: int) -> int:
    if size <= SMALL_SIZE:
        return SMALL_SEGMENT
    if size < MIN_LARGE_ALLOC:
        return LARGE_SEGMENT
    return (size + ROUND_LARGE - 1) // ROUND_LARGE * ROUND_LARGE


def _fmt(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.2f} {unit} ({n} bytes)"
    return f"{n} bytes"


class CachingAllocator:
    """The caching allocator of one device. Build it through :func:`allocator_for`.

    Counters on the hot path are plain ints that only grow (``_n_alloc``/``_n_free``: counts,
    ``_b_alloc``/``_b_free``: block bytes, ``_r_alloc``/``_r_free``: requested bytes); current
    values are their differences, and :meth:`stats` builds PyTorch's dictionary from them.
    """

    def __init__(self, device: Device, runtime, streams: bool):
        self.device = device
        self.index = device.index or 0
        self.runtime = runtime
        self.streams = streams
        self._default_stream = None    # the device's default stream, once allocate() has looked it up
        self.lock = threading.Lock()
        self._raw_alloc = runtime.raw_alloc
        self._raw_free = runtime.raw_free
        # Exact-size bins: stream -> {rounded size: _Bin [free Block, ...]}; per pool, the bins that
        # had a block appended since the pool's last coalescing (_flush_bins visits only those).
        self._bins = {}
        self._dirty = ([], [])
        # Best-fit pools: per pool, per stream, a sorted list of (size, seq, block).
        self._free = ({}, {})
        self._segments = {}            # seq of its first block -> first Block of each raw allocation
        self._pending = []             # (event handles, block): freed, waiting for other streams' work
        self._deferred = deque()       # (block, nbytes) whose finalizer found the lock taken
        self._events = []              # idle event handles to reuse
        self._capture = {}             # stream -> PrivatePool its allocations go to (during a graph capture)
        self._seq = 0
        self._n_alloc = self._n_free = 0
        self._b_alloc = self._b_free = 0
        self._r_alloc = self._r_free = 0
        self._new_seg_allocs = 0       # allocations served by a new segment (the cache misses)
        self.reserved = self.segments = 0
        self.pool_allocated = [0, 0]
        self.pool_reserved = [0, 0]
        self.reset_accumulated()
        self.reset_peaks()

    # -- stats -----------------------------------------------------------------
    @property
    def allocated(self) -> int:
        return self._b_alloc - self._b_free

    @property
    def requested(self) -> int:
        return self._r_alloc - self._r_free

    @property
    def active(self) -> int:
        return self._n_alloc - self._n_free

    def reset_accumulated(self):
        self._base = (self._n_alloc, self._n_free, self._b_alloc, self._b_free, self._new_seg_allocs)
        self.num_raw_allocs = self.num_raw_frees = 0
        self.num_retries = self.num_ooms = self.num_cross_stream = 0

    def reset_peaks(self):
        self.peak_allocated = self.allocated
        self.peak_reserved = self.reserved
        self.peak_requested = self.requested
        self.peak_active = self.active
        self.peak_segments = self.segments

    def stats(self) -> dict:
        with self.lock:
            self._drain()
            n_alloc0, n_free0, b_alloc0, b_free0, new_seg0 = self._base
            num_allocs = self._n_alloc - n_alloc0
            return {
                "allocated_bytes.all.current": self.allocated,
                "allocated_bytes.all.peak": self.peak_allocated,
                "allocated_bytes.all.allocated": self._b_alloc - b_alloc0,
                "allocated_bytes.all.freed": self._b_free - b_free0,
                "allocated_bytes.small_pool.current": self.pool_allocated[_SMALL],
                "allocated_bytes.large_pool.current": self.pool_allocated[_LARGE],
                "reserved_bytes.all.current": self.reserved,
                "reserved_bytes.all.peak": self.peak_reserved,
                "reserved_bytes.small_pool.current": self.pool_reserved[_SMALL],
                "reserved_bytes.large_pool.current": self.pool_reserved[_LARGE],
                "requested_bytes.all.current": self.requested,
                "requested_bytes.all.peak": self.peak_requested,
                "allocation.all.current": self.active,
                "allocation.all.peak": self.peak_active,
                "allocation.all.allocated": num_allocs,
                "allocation.all.freed": self._n_free - n_free0,
                "segment.all.current": self.segments,
                "segment.all.peak": self.peak_segments,
                "segment.all.allocated": self.num_raw_allocs,
                "segment.all.freed": self.num_raw_frees,
                "num_cache_hits": num_allocs - (self._new_seg_allocs - new_seg0),
                "num_cross_stream_reuses": self.num_cross_stream,
                "num_alloc_retries": self.num_retries,
                "num_ooms": self.num_ooms,
                "num_pending_frees": len(self._pending),
            }

    # -- allocation --------------------------------------------------------------
    def allocate(self, nbytes: int, stream=None) -> Allocation:
        """An Allocation of ``nbytes`` ordered on ``stream`` (default: the current stream); see :func:`allocate`."""
        return allocate(self.device, nbytes, stream)

    def _allocate_miss(self, size, stream, nbytes):
        """The request's bin is empty: best fit from this stream's pool (coalescing the bins if it has
        none), another stream's (after an event), a new segment, or free-and-retry. The block is split
        and given its bin."""
        if size <= SMALL_SIZE:
            pool, split_min = _SMALL, MIN_BLOCK
        else:
            pool, split_min = _LARGE, SMALL_SIZE + 1
        block = self._take(pool, size, stream)
        if block is None and self._dirty[pool]:
            # Only now give the other sizes' bins back (merged with their neighbours): flushing on every
            # miss would undo the bins a repeating workload (a training step) hits on every later call.
            self._flush_bins(pool)
            block = self._take(pool, size, stream)
        if block is None:
            block = self._allocate_slow(pool, size, stream, nbytes)
        if block.size - size >= split_min:
            self._split(block, size)
        d = self._bins.get(stream)
        if d is None:
            d = self._bins[stream] = {}
        lst = d.get(size)
        if lst is None:
            lst = d[size] = _Bin()
            lst.dirty = False
        block.bin = lst
        return block

    def _allocate_slow(self, pool, size, stream, nbytes):
        """No block on this stream fits: another stream's (after an event), a new segment, or free-and-retry."""
        block = self._take_other_stream(pool, size, stream)
        if block is not None:
            return block
        block = self._new_segment(pool, size, stream)
        if block is not None:
            self._new_seg_allocs += 1
            return block
        # Free the cache (after waiting for pending frees; merging across idle streams) and try
        # again: the pools first, since merging may have made a block that fits.
        self.num_retries += 1
        self._release_cached(wait=True)
        block = self._take(pool, size, stream) or self._take_other_stream(pool, size, stream)
        if block is not None:
            return block
        block = self._new_segment(pool, size, stream)
        if block is None:
            self.num_ooms += 1
            raise self._oom(nbytes)
        self._new_seg_allocs += 1
        return block

    def _take(self, pool, size, stream):
        """Best fit from ``stream``'s free list of ``pool``: the smallest block that holds ``size``."""
        lst = self._free[pool].get(stream)
        if not lst:
            return None
        i = bisect_left(lst, (size, -1))
        if i == len(lst):
            return None
        block = lst.pop(i)[2]
        block.in_pool = False
        return block

    def _take_other_stream(self, pool, size, stream):
        """Best fit among other streams' free blocks; ``stream`` then waits for the block's stream.
        A private pool neither gives blocks to streams nor takes theirs."""
        if stream.__class__ is PrivatePool:
            return None
        best = best_list = best_i = None
        for s, lst in self._free[pool].items():
            if s is stream or not lst or s.__class__ is PrivatePool:
                continue
            i = bisect_left(lst, (size, -1))
            if i < len(lst) and (best is None or lst[i][0] < best[0]):
                best, best_list, best_i = lst[i], lst, i
        if best is None:
            return None
        del best_list[best_i]
        block = best[2]
        block.in_pool = False
        if self.streams and block.stream is not None and stream is not None:
            ev = self._event()
            rt = self.runtime
            rt.event_record(ev, block.stream.handle)
            rt.stream_wait_event(stream.handle, ev)  # the wait captures the record made just now
            self._events.append(ev)
        block.stream = stream
        self.num_cross_stream += 1
        return block

    def _event(self):
        if self._events:
            return self._events.pop()
        return self.runtime.event_create(self.index, False)

    def _new_segment(self, pool, size, stream):
        seg = _segment_size(size)
        raw_alloc = self._raw_alloc
        if stream.__class__ is PrivatePool and stream.raw_alloc is not None:
            raw_alloc = stream.raw_alloc
        handle = raw_alloc(seg, self.index)
        if handle is None:
            # A 1-10 MiB request asks for a 20 MiB segment, so that later ones share it; when the device
            # cannot give 20 MiB, a segment of the request's own size (rounded to 2 MiB) may still fit.
            tight = (size + ROUND_LARGE - 1) // ROUND_LARGE * ROUND_LARGE
            if tight >= seg:
                return None
            seg = tight
            handle = raw_alloc(seg, self.index)
            if handle is None:
                return None
        self._seq += 1
        block = Block(handle, 0, seg, pool, stream, self._seq)
        self._segments[block.seq] = block
        self.reserved += seg
        self.pool_reserved[pool] += seg
        self.segments += 1
        self.num_raw_allocs += 1
        if self.reserved > self.peak_reserved:
            self.peak_reserved = self.reserved
        if self.segments > self.peak_segments:
            self.peak_segments = self.segments
        return block

    def _split(self, block, size):
        self._seq += 1
        rest = Block(block.handle, block.offset + size, block.size - size, block.pool, block.stream, self._seq)
        rest.prev = block
        rest.next = block.next
        if block.next is not None:
            block.next.prev = rest
        block.next = rest
        block.size = size
        nxt = rest.next
        if nxt is not None and nxt.in_pool and nxt.stream is rest.stream:
            self._return(rest)    # after a cross-stream take: merge with a free neighbour of the new stream
        else:
            self._insert(rest)

    def _insert(self, block):
        block.key = (block.size, block.seq)
        lst = self._free[block.pool].get(block.stream)
        if lst is None:
            lst = self._free[block.pool][block.stream] = []
        insort(lst, (block.size, block.seq, block))
        block.in_pool = True

    def _remove(self, block):
        lst = self._free[block.pool][block.stream]
        i = bisect_left(lst, block.key)
        del lst[i]
        block.in_pool = False

    # -- freeing -----------------------------------------------------------------
    def _drain(self):
        d = self._deferred
        while d:
            self._free_locked(*d.popleft())

    def _free_locked(self, block, nbytes):
        """Free a block (lock held): what Allocation.__del__ does inline."""
        bs = block.size
        self._n_free += 1
        self._b_free += bs
        self._r_free += nbytes
        self.pool_allocated[block.pool] -= bs
        if block.uses is None:
            self._bin(block)
        else:
            self._free_used(block)

    def _free_used(self, block):
        """Free a block that record_stream marked: it waits for events on those streams before reuse."""
        uses = block.uses
        block.uses = None
        if not self.streams:
            self._bin(block)
            return
        rt = self.runtime
        events = []
        for s in uses:
            ev = self._event()
            rt.event_record(ev, s.handle)
            events.append(ev)
        self._pending.append((events, block))

    def _bin(self, block):
        lst = block.bin
        lst.append(block)
        if not lst.dirty:
            lst.dirty = True
            self._dirty[block.pool].append(lst)

    def _flush_bins(self, pool=None):
        """Return the binned blocks of ``pool`` (None: both) to the best-fit pools, merged with free neighbours."""
        ret = self._return
        for dirty in (self._dirty if pool is None else (self._dirty[pool],)):
            for lst in dirty:
                for b in lst:
                    ret(b)
                lst.clear()
                lst.dirty = False
            dirty.clear()

    def _return(self, block):
        """Put a free block back in its pool, merged with free neighbours of the same stream."""
        stream = block.stream
        prev = block.prev
        if prev is not None and prev.in_pool and prev.stream is stream:
            self._remove(prev)
            prev.size += block.size
            nxt = prev.next = block.next
            if nxt is not None:
                nxt.prev = prev
            block = prev
        nxt = block.next
        if nxt is not None and nxt.in_pool and nxt.stream is stream:
            lst = self._free[nxt.pool][stream]
            del lst[bisect_left(lst, nxt.key)]
            nxt.in_pool = False
            block.size += nxt.size
            after = block.next = nxt.next
            if after is not None:
                after.prev = block
        self._insert(block)

    def _process_events(self, wait: bool):
        """Return pending blocks whose streams have passed the events recorded at free time."""
        rt = self.runtime
        keep = []
        done = []
        for events, block in self._pending:
            if wait:
                for ev in events:
                    rt.event_synchronize(ev)
            elif not all(rt.event_query(ev) for ev in events):
                keep.append((events, block))
                continue
            self._events.extend(events)
            done.append(block)
        self._pending = keep
        if done:
            self._flush_bins()        # so that the returning blocks merge with binned neighbours too
            for block in done:
                self._return(block)

    def process_events(self):
        with self.lock:
            self._drain()
            if self._pending:
                self._process_events(False)

    def record_stream(self, block, stream) -> None:
        if stream is None or stream is block.stream:
            return
        with self.lock:
            if block.uses is None:
                block.uses = {stream}
            else:
                block.uses.add(stream)

    # -- releasing cached memory -------------------------------------------------------
    def _release_cached(self, wait: bool):
        """Give every wholly free segment back to the backend (waiting for pending frees when ``wait``)."""
        self._drain()
        if self._pending:
            self._process_events(wait)
        self._flush_bins()
        if wait and self._free_blocks_on_several_streams():
            # After a device-wide synchronize no stream uses any free block: merge across streams.
            if self.streams:
                self.runtime.synchronize(self.device)
            self._merge_across_streams()
        for key, first in list(self._segments.items()):
            if first.in_pool and first.next is None and first.prev is None and not (
                    first.stream.__class__ is PrivatePool and first.stream.users > 0):
                self._remove(first)
                del self._segments[key]
                self._raw_free(first.handle, self.index)
                self.reserved -= first.size
                self.pool_reserved[first.pool] -= first.size
                self.segments -= 1
                self.num_raw_frees += 1
        for pool in self._free:
            for s in [s for s, lst in pool.items() if not lst]:
                del pool[s]
        self._prune_bins()

    def _prune_bins(self):
        """Drop the (empty) bins no live block will return to, so dead streams and old sizes are let go."""
        used = set()
        for first in self._segments.values():
            b = first
            while b is not None:
                if not b.in_pool and b.bin is not None:
                    used.add(id(b.bin))
                b = b.next
        bins = {}
        for s, d in self._bins.items():
            kept = {size: lst for size, lst in d.items() if id(lst) in used}
            if kept:
                bins[s] = kept
        self._bins = bins

    def _free_blocks_on_several_streams(self) -> bool:
        return any(len([s for s, lst in pool.items() if lst]) > 1 for pool in self._free)

    def _merge_across_streams(self):
        for first in self._segments.values():
            b = first
            while b is not None:
                nxt = b.next
                if b.in_pool and nxt is not None and nxt.in_pool:
                    self._remove(b)
                    self._remove(nxt)
                    b.size += nxt.size
                    b.next = nxt.next
                    if nxt.next is not None:
                        nxt.next.prev = b
                    self._insert(b)
                    continue
                b = nxt

    def empty_cache(self) -> None:
        with self.lock:
            self._release_cached(wait=True)

    # -- private pools -----------------------------------------------------------------
    def begin_allocate_to_pool(self, stream, pool: PrivatePool) -> None:
        """From now on, allocations ordered on ``stream`` come from ``pool`` (a graph capture begins)."""
        with self.lock:
            self._capture[stream] = pool

    def end_allocate_to_pool(self, stream) -> None:
        """Allocations on ``stream`` are the stream's own again (the capture ended)."""
        with self.lock:
            self._capture.pop(stream, None)

    def release_pool(self, pool: PrivatePool) -> None:
        """Give back ``pool``'s wholly free segments once no graph uses it (``users`` is 0); blocks still
        held by tensors go back when those tensors die and the cache is emptied."""
        with self.lock:
            if pool.users <= 0:
                self._release_cached(wait=False)

    # -- errors ------------------------------------------------------------------------
    def _oom(self, nbytes) -> OutOfMemoryError:
        info = getattr(self.runtime, "mem_get_info", None)
        free_txt = "free memory unknown (the backend has no mem_get_info)"
        free = total = None
        if info is not None:
            try:
                free, total = info(self.index)
                free_txt = f"{_fmt(free)} free of {_fmt(total)} total on the device"
            except Exception:  # noqa: BLE001
                pass
        err = OutOfMemoryError(
            f"{self.device} is out of memory: tried to allocate {_fmt(nbytes)}; {_fmt(self.allocated)} is "
            f"allocated by tensors and {_fmt(self.reserved)} is reserved by Ember's caching allocator "
            f"(after freeing its cache and retrying); {free_txt}. Free tensors you no longer need "
            f"(del x), call ember.empty_cache(), or use smaller batches.")
        err.requested = nbytes
        err.allocated = self.allocated
        err.reserved = self.reserved
        err.free = free
        err.total = total
        err.device = self.device
        return err


# -- per-device allocators and the public functions --------------------------------------

_allocators: dict = {}         # Device -> its CachingAllocator
_allocator_ids: dict = {}      # id(Device) -> the same (devices are interned; an int key hashes in C)
_create_lock = threading.Lock()


def allocator_for(device) -> CachingAllocator:
    """The caching allocator of ``device`` (a managed-memory backend's device), created on first use."""
    a = _allocators.get(device)
    if a is not None:
        return a
    backend, dev = resolve(device)
    a = _allocators.get(dev)
    if a is not None:
        return a
    caps = backend.capabilities
    if not caps.managed_memory:
        raise ArgumentTypeError(f"device type {dev.type!r} ({backend.distribution}) does not use Ember's caching "
                                f"allocator: it registered Capabilities(managed_memory=False) and manages its own memory")
    with _create_lock:
        a = _allocators.get(dev)
        if a is None:
            a = CachingAllocator(dev, backend.runtime, bool(caps.streams))
            _allocators[dev] = a
            _allocator_ids[id(dev)] = a
    return a


def allocate(device, nbytes: int, stream=None) -> Allocation:
    """``nbytes`` of device memory from the caching allocator, ordered on ``stream`` (default: the current stream).

    On a device without streams the stream is ignored (work is synchronous).

    For backends that declare ``Capabilities(managed_memory=True)``: their
    ``runtime.empty`` calls this and keeps the :class:`Allocation` in the
    tensor's storage. Raises :class:`ember.OutOfMemoryError` when the device is
    full even after the cache is freed.
    """
    # The hot path of every device op's output: kept in one function (no method call, no kwargs).
    a = _allocator_ids.get(id(device))
    if a is None:
        a = allocator_for(device)
    if not a.streams:
        stream = None               # synchronous device: one pool, no stream order to keep
    elif stream is None:
        # The current stream: while no thread has made a stream current it is the default stream
        # (what _current_stream_of would answer, without the call).
        stream = a._default_stream if _streams._only_defaults else None
        if stream is None:
            stream = _current_stream_of(a.device)
            if _streams._only_defaults:
                a._default_stream = stream
    if a._capture:                  # a graph capture runs on some stream: its allocations go to the pool
        stream = a._capture.get(stream, stream)
    if nbytes.__class__ is not int:
        nbytes = int(nbytes)
    if nbytes < 0:
        raise InvalidArgumentError(f"cannot allocate a negative number of bytes ({nbytes})")
    size = (nbytes + 511) & -512 or MIN_BLOCK       # round up to MIN_BLOCK (512)
    lock = a.lock
    lock.acquire()
    try:
        if a._deferred:
            a._drain()
        if a._pending:
            a._process_events(False)
        # Pop this stream's exact-size bin; on a miss, search (CachingAllocator._allocate_miss).
        d = a._bins.get(stream)
        lst = d.get(size) if d is not None else None
        if lst:
            block = lst.pop()
        else:
            block = a._allocate_miss(size, stream, nbytes)
        bs = block.size
        n = a._n_alloc + 1
        a._n_alloc = n
        n -= a._n_free
        if n > a.peak_active:
            a.peak_active = n
        n = a._b_alloc + bs
        a._b_alloc = n
        n -= a._b_free
        if n > a.peak_allocated:
            a.peak_allocated = n
        n = a._r_alloc + nbytes
        a._r_alloc = n
        n -= a._r_free
        if n > a.peak_requested:
            a.peak_requested = n
        a.pool_allocated[block.pool] += bs
    finally:
        lock.release()
    al = _new(Allocation)
    al.handle = block.handle
    al.offset = block.offset
    al.nbytes = nbytes
    al.device = a.device
    al._block = block
    al._owner = a
    return al


def allocation_of(tensor) -> "Allocation | None":
    """The Allocation behind a tensor's storage (the storage itself, or its ``.allocation``), or None."""
    st = tensor._storage
    if isinstance(st, Allocation):
        return st
    a = getattr(st, "allocation", None)
    return a if isinstance(a, Allocation) else None


def record_stream(tensor, stream) -> None:
    """Mark ``tensor``'s memory as used by work queued on ``stream``, like ``torch.Tensor.record_stream``.

    When the tensor is freed, its block is not reused until the work queued on
    ``stream`` up to that moment has finished. Memory the caching allocator does
    not manage (cpu, backends with their own allocator) needs nothing: no-op.
    """
    from .streams import Stream
    if not isinstance(stream, Stream):
        raise ArgumentTypeError(f"record_stream() expects an ember.Stream, got {type(stream).__name__}")
    if stream.device is not tensor._device:
        raise InvalidArgumentError(f"record_stream(): the stream is on {stream.device} but the tensor is on {tensor._device}")
    a = allocation_of(tensor)
    if a is not None:
        a.record_stream(stream)


def _maybe(device):
    """The allocator of a device if it is managed and already in use (None otherwise)."""
    from .streams import _device
    dev = _device(device)
    a = _allocators.get(dev)
    if a is None:
        backend = resolve(dev)[0]
        if not backend.capabilities.managed_memory:
            return None
        a = allocator_for(dev)
    return a


_ZERO = None


def memory_stats(device=None) -> dict:
    """The allocator's statistics for ``device`` (default: the current device), PyTorch's key names.

    Keys include ``allocated_bytes.all.current`` / ``.peak``,
    ``reserved_bytes.all.current`` / ``.peak``, ``requested_bytes.all.current``,
    ``allocation.all.allocated`` / ``.freed`` (counts), ``segment.all.allocated``
    (raw allocations), ``num_cache_hits``, ``num_alloc_retries``, ``num_ooms``.
    A device whose memory the allocator does not manage reports zeros.
    """
    a = _maybe(device)
    if a is None:
        global _ZERO
        if _ZERO is None:
            _ZERO = {k: 0 for k in CachingAllocator(Device("meta"), _NoRuntime(), False).stats()}
        return dict(_ZERO)
    return a.stats()


class _NoRuntime:
    raw_alloc = raw_free = None


def memory_allocated(device=None) -> int:
    """Bytes held by tensors on ``device`` (rounded block sizes, as PyTorch counts)."""
    return memory_stats(device)["allocated_bytes.all.current"]


def max_memory_allocated(device=None) -> int:
    """The peak of memory_allocated since start or the last reset_peak_memory_stats."""
    return memory_stats(device)["allocated_bytes.all.peak"]


def memory_reserved(device=None) -> int:
    """Bytes the caching allocator holds from the backend (allocated plus cached)."""
    return memory_stats(device)["reserved_bytes.all.current"]


def max_memory_reserved(device=None) -> int:
    return memory_stats(device)["reserved_bytes.all.peak"]


def reset_peak_memory_stats(device=None) -> None:
    """Start the peaks (allocated, reserved, requested, counts) again from the current values."""
    a = _maybe(device)
    if a is not None:
        with a.lock:
            a._drain()
            a.reset_peaks()


def reset_accumulated_memory_stats(device=None) -> None:
    """Zero the accumulated counters (allocs, frees, cache hits, raw allocations, retries, OOMs)."""
    a = _maybe(device)
    if a is not None:
        with a.lock:
            a.reset_accumulated()


def empty_cache(device=None) -> None:
    """Give cached, unused memory back to the backend (waits for pending stream-ordered frees).

    ``device`` None: every device whose allocator is in use.
    """
    if device is None:
        for a in list(_allocators.values()):
            a.empty_cache()
        return
    a = _maybe(device)
    if a is not None:
        a.empty_cache()
