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
    #: The lower-precision floating dtypes ``ember.autocast`` may run this backend's operators in, its
    #: default first (PyTorch: bfloat16 on cpu and xla, float16 on cuda, xpu, mps). Empty: no autocast here.
    autocast_dtypes: tuple = ()
    #: Which of PyTorch's autocast operator lists the backend follows (``ember.amp.tables.LISTS``): "cpu",
    #: or "cuda" (the list CUDA, XPU, MPS and XLA share).
    autocast_lists: str = "cuda"
    #: Free-form facts shown by ``ember info``.
    notes: tuple = field(default=())
