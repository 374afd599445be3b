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
    #: True where the backend's memory goes through core's caching allocator.
    managed_memory: bool = False
    #: True where the runtime has streams and events.
    streams: bool = False
    #: Free-form facts shown by ``ember info``.
    notes: tuple = field(default=())
