"""What a backend can do, declared at registration."""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import dtypes as D


@dataclass(frozen=True)
class Capabilities:
    #: Element types the backend's kernels accept.
    dtypes: tuple = D.all_dtypes
    #: True where tensor memory is host memory, so ``Tensor.numpy()`` can share it.
    host_memory: bool = False
    #: True where the backend's memory goes through core's caching allocator: its runtime then
    #: has raw_alloc/raw_free (and optionally mem_get_info), and its empty() calls
    #: ember.runtime.allocate (see hookspecs.ember_register_backends).
    managed_memory: bool = False
    #: True where the runtime has streams and events (stream_create, stream_default,
    #: stream_synchronize, stream_query, event_create, event_record, event_query,
    #: event_synchronize, event_elapsed_ms, stream_wait_event). False: work is synchronous.
    streams: bool = False
    #: Free-form facts shown by ``ember info``.
    notes: tuple = field(default=())
