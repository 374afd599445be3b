"""Runtime services every device shares: caching allocator, streams and events, device selection, RNG, memory stats.

Backends supply mechanisms (raw alloc/free, queues, events; see
``ember.plugins.hookspecs``); this package supplies the policy once:

- :mod:`.allocator`: the caching allocator (``allocate(device, nbytes, stream=None) -> Allocation``)
  and the memory API (``memory_stats``, ``memory_allocated``, ``empty_cache``, ...);
- :mod:`.streams`: ``Stream``, ``Event``, ``stream(s)``, ``current_stream``, ``synchronize``;
- :mod:`.device`: the current device per type, ``set_device``, ``device_guard``,
  ``device_count`` and the per-type modules (``ember.cuda``, ...);
- :mod:`.random`: ``Generator`` and the Philox counter-based RNG.
"""

from __future__ import annotations

from . import allocator, copies, device, random, streams
from .allocator import (Allocation, CachingAllocator, allocate, allocation_of, empty_cache, max_memory_allocated,
                        max_memory_reserved, memory_allocated, memory_reserved, memory_stats, record_stream,
                        reset_accumulated_memory_stats, reset_peak_memory_stats)
from .device import DeviceModule, current_device, device_count, device_guard, device_module, is_available, set_device
from .random import Generator, default_generator, fork_rng, manual_seed
from .streams import Event, Stream, current_stream, default_stream, set_stream, stream, synchronize

__all__ = ["Allocation", "CachingAllocator", "allocate", "allocation_of", "empty_cache", "max_memory_allocated",
           "max_memory_reserved", "memory_allocated", "memory_reserved", "memory_stats", "record_stream",
           "reset_accumulated_memory_stats", "reset_peak_memory_stats", "DeviceModule", "current_device",
           "device_count", "device_guard", "device_module", "is_available", "set_device", "Event", "Stream",
           "current_stream", "default_stream", "set_stream", "stream", "synchronize", "Generator",
           "default_generator", "fork_rng", "manual_seed"]


def install() -> None:
    """Bind the runtime's Tensor methods (called once by ``import ember``)."""
    from .._tensor import Tensor
    Tensor.record_stream = record_stream
