"""Copies between devices, ordered on streams: what ``copy_`` and ``.to(device, non_blocking=...)`` do across devices.

A backend whose memory is not host memory may add two runtime methods (see
``ember.plugins.hookspecs``):

- ``copy_from_host(dst, array, non_blocking)``: queue a copy of the
  C-contiguous numpy ``array`` (dst's shape and dtype) into the contiguous
  tensor ``dst`` on ``ember.current_stream(dst.device)``; keep ``array``
  alive until the copy has run. Blocking (``non_blocking=False``) returns once
  the copy is done.
- ``copy_to_host(src, out, non_blocking)``: queue a copy of the contiguous
  tensor ``src`` into the C-contiguous numpy array ``out`` on the current
  stream of ``src.device``. Non-blocking returns at once: ``out`` holds the
  values after that stream is synchronized (``ember.current_stream(dev).synchronize()``
  or an event), as with PyTorch's ``x.to("cpu", non_blocking=True)``.

Without them (or between two devices that are not host memory) the copy goes
through host memory with ``to_numpy`` / ``from_numpy`` and is blocking.
Host memory handed to a non-blocking host-to-device copy must not change until
the copy has run.
"""

from __future__ import annotations

import threading

import numpy as np

__all__ = ["cross_device_copy", "read_for_check", "reading_for_check"]

_check = threading.local()


def read_for_check(t):
    """The Python value of a one-element tensor that core reads back for a check of its own (an
    integer divisor of zero): one device sync. Conformance's strict mode does not count such a read
    as a kernel leaving its device."""
    _check.active = True
    try:
        return t.item()
    finally:
        _check.active = False


def reading_for_check() -> bool:
    """Whether the current thread is inside ``read_for_check``."""
    return getattr(_check, "active", False)


def cross_device_copy(kernel, dst, src, non_blocking: bool):
    """Copy ``src`` (already broadcast to dst's shape) into ``dst`` on another device; ``kernel`` is dst's copy_."""
    sb, db = src._backend, dst._backend
    if sb is not db:
        to_dev = getattr(db.runtime, "copy_from_host", None)
        if to_dev is not None and sb.capabilities.host_memory:
            return _host_to_device(to_dev, kernel, dst, src, non_blocking)
        to_host = getattr(sb.runtime, "copy_to_host", None)
        if to_host is not None and db.capabilities.host_memory:
            return _device_to_host(to_host, dst, src, non_blocking)
    # Through host memory, blocking (a direct peer path may be registered by a backend later).
    host = sb.runtime.to_numpy(src)
    return kernel(dst, db.runtime.from_numpy(host, dst._device))


def _host_to_device(to_dev, kernel, dst, src, non_blocking):
    host = src._backend.runtime.as_numpy(src)
    want = dst._dtype.np
    if host.dtype != want:
        host = host.astype(want)                      # a fresh array the copy owns
    if not host.flags.c_contiguous:
        host = np.ascontiguousarray(host)
    if dst.is_contiguous():
        to_dev(dst, host, non_blocking)
        return dst
    from ..ops.creation import empty
    tmp = empty(dst._shape, dtype=dst._dtype, device=dst._device)
    to_dev(tmp, host, non_blocking)
    return kernel(dst, tmp)                            # queued after the upload on the same stream


def _device_to_host(to_host, dst, src, non_blocking):
    if src._dtype is not dst._dtype:
        src = src.to(dst._dtype)                       # cast on the device, on the current stream
    if not src.is_contiguous():
        src = src.contiguous()
    out = dst._backend.runtime.as_numpy(dst)
    if out.flags.c_contiguous and out.flags.writeable:
        to_host(src, out, non_blocking)
        return dst
    tmp = np.empty(dst._shape, dst._dtype.np)
    to_host(src, tmp, False)                           # a strided host destination: wait, then scatter
    out[...] = tmp
    return dst
