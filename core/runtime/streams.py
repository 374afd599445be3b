"""Streams and events, device-generic and shaped like PyTorch's.

A :class:`Stream` is an ordered queue of work on one device; kernels launch on
the *current* stream of their device (``ember.current_stream(device).handle``).
An :class:`Event` marks a point in a stream: other streams can wait for it,
the host can poll or block on it, and two timing events measure the device
time between them.

The backend supplies the mechanisms (``stream_create``, ``stream_default``,
``stream_synchronize``, ``stream_query``, ``event_create``, ``event_record``,
``event_query``, ``event_synchronize``, ``event_elapsed_ms``,
``stream_wait_event``; see ``ember.plugins.hookspecs``). A device whose
backend declares ``Capabilities(streams=False)`` (cpu, meta) still has
streams and events here: its work is synchronous, so every stream is the
default stream in effect, queries answer True, and events time with the host
clock. Code written against streams therefore runs on every device.

The current stream is per thread and per device, as in PyTorch.
"""

from __future__ import annotations

import threading
import time

from ..device import Device, resolve
from ..errors import ArgumentTypeError, InvalidArgumentError

__all__ = ["Stream", "Event", "stream", "current_stream", "default_stream", "set_stream", "synchronize",
           "StreamContext"]


class _TLS(threading.local):
    def __init__(self):
        self.current = {}      # id(Device) -> Stream (absent: the device's default stream)
        self.ctx_devices = []  # devices of the enclosing ``with ember.stream(s)`` blocks, innermost last


_tls = _TLS()
_defaults: dict = {}          # Device -> its default Stream
_default_ids: dict = {}       # id(Device) -> its default Stream (devices are interned: ids are stable)
_defaults_lock = threading.Lock()
# True until some thread makes a stream current (``with ember.stream(s)``, ``set_stream``): until then
# every thread's current stream is its device's default, and the per-launch lookup skips the
# thread-local state. It only ever goes from True to False, so no lock is needed.
_only_defaults = True


def _device(device) -> Device:
    """The canonical device a stream call is about (None: the innermost stream context's, else the default)."""
    if device is None:
        ctx = _tls.ctx_devices
        if ctx:
            return ctx[-1]
        return resolve(None)[1]
    if isinstance(device, Device) and device.index is not None:
        return device
    if isinstance(device, int):  # an index of the default device type, as torch.cuda APIs take
        b, d = resolve(None)
        device = Device(d.type, device) if b.indexed else d
    return resolve(device)[1]


def _caps(backend):
    return backend.capabilities.streams


def _takes_priority(runtime) -> bool:
    """Whether the backend's ``stream_create`` takes a ``priority`` argument."""
    import inspect
    try:
        return "priority" in inspect.signature(runtime.stream_create).parameters
    except (TypeError, ValueError):
        return False


class Stream:
    """An ordered queue of work on one device, like ``torch.cuda.Stream``.

    ``ember.Stream(device)`` creates a new stream (the backend's
    ``stream_create``); ``device`` defaults to the current device.
    ``.handle`` is the backend's handle: kernels launch on
    ``ember.current_stream(device).handle``. On a device without streams the
    handle is None and work is synchronous.
    """

    __slots__ = ("device", "handle", "priority", "_runtime", "_streams", "__weakref__")

    def __init__(self, device=None, priority: int = 0, *, _handle=None, _default=False):
        dev = _device(device)
        backend = resolve(dev)[0]
        self.device = dev
        self.priority = priority
        self._runtime = backend.runtime
        self._streams = _caps(backend)
        if not self._streams:
            self.handle = None
        elif _handle is not None:
            self.handle = _handle
        elif _default:
            self.handle = backend.runtime.stream_default(dev.index or 0)
        elif priority and _takes_priority(backend.runtime):
            self.handle = backend.runtime.stream_create(dev.index or 0, priority)
        else:   # priority 0, or a backend without priorities: a hint it may ignore, as in PyTorch
            self.handle = backend.runtime.stream_create(dev.index or 0)

    def query(self) -> bool:
        """True when all work queued on this stream has finished."""
        if not self._streams:
            return True
        return bool(self._runtime.stream_query(self.handle))

    def synchronize(self) -> None:
        """Block the host until all work queued on this stream has finished."""
        if self._streams:
            self._runtime.stream_synchronize(self.handle)
        else:
            self._runtime.synchronize(self.device)

    def wait_event(self, event: "Event") -> None:
        """Make work queued on this stream after now wait until ``event`` completes (the host does not block)."""
        event.wait(self)

    def wait_stream(self, stream: "Stream") -> None:
        """Make work queued on this stream after now wait for all work queued on ``stream`` so far."""
        if stream is self:
            return
        self.wait_event(stream.record_event())

    def record_event(self, event: "Event | None" = None) -> "Event":
        """Record ``event`` (a new one if None) on this stream and return it."""
        if event is None:
            event = Event()
        event.record(self)
        return event

    # Equality and hashing are identity (fast: streams key the allocator's pools). Each
    # device's default stream is one object; ember.Stream(...) makes a new stream each time.

    def __repr__(self):
        kind = "default " if self is _defaults.get(self.device) else ""
        return f"<ember.Stream {kind}device={self.device} handle={self.handle!r}>"


class StreamContext:
    """``with ember.stream(s):``: make ``s`` the current stream of its device (and its device current).

    Restores the previous current stream and device on exit. ``ember.stream(None)`` does nothing.
    """

    __slots__ = ("stream", "_prev_stream", "_prev_index")

    def __init__(self, stream: "Stream | None"):
        self.stream = stream

    def __enter__(self):
        s = self.stream
        if s is None:
            return None
        from . import device as _dev
        global _only_defaults
        _only_defaults = False
        dev = s.device
        cur = _tls.current
        self._prev_stream = cur.get(id(dev))
        cur[id(dev)] = s
        self._prev_index = _dev._get_index(dev.type) if dev.index is not None else None
        if dev.index is not None:
            _dev._set_index(dev.type, dev.index)
        _tls.ctx_devices.append(dev)
        return s

    def __exit__(self, *exc):
        s = self.stream
        if s is None:
            return False
        from . import device as _dev
        dev = s.device
        _tls.ctx_devices.pop()
        if self._prev_stream is None:
            _tls.current.pop(id(dev), None)
        else:
            _tls.current[id(dev)] = self._prev_stream
        if self._prev_index is not None:
            _dev._set_index(dev.type, self._prev_index)
        return False


def stream(s: "Stream | None") -> StreamContext:
    """Context manager: run the block with ``s`` as the current stream of ``s.device`` (like ``torch.cuda.stream``)."""
    if s is not None and not isinstance(s, Stream):
        raise ArgumentTypeError(f"ember.stream() expects an ember.Stream or None, got {type(s).__name__}: {s!r}")
    return StreamContext(s)


# ``with s:`` is ``with ember.stream(s):``; the contexts stack per thread (Stream has __slots__).
def _stream_enter(self):
    ctx = StreamContext(self)
    _tls.__dict__.setdefault("with_stack", []).append(ctx)
    return ctx.__enter__()


def _stream_exit(self, *exc):
    return _tls.with_stack.pop().__exit__(*exc)


Stream.__enter__ = _stream_enter
Stream.__exit__ = _stream_exit


def default_stream(device=None) -> Stream:
    """The default stream of ``device`` (default: the current device)."""
    dev = _device(device)
    s = _default_ids.get(id(dev))
    if s is None:
        with _defaults_lock:
            s = _defaults.get(dev)
            if s is None:
                s = Stream(dev, _default=True)
                _defaults[dev] = s
                _default_ids[id(dev)] = s
    return s


def current_stream(device=None) -> Stream:
    """The stream that work on ``device`` is queued on in this thread (default: the device's default stream)."""
    dev = _device(device)
    s = _tls.current.get(id(dev))
    return s if s is not None else default_stream(dev)


def _current_stream_of(dev: Device) -> Stream:
    """current_stream for a canonical device (the hot path of allocation and kernel launch).

    Dictionaries here are keyed by ``id(dev)``: devices are interned (one object each, kept
    for the life of the process), and an int hashes without calling ``Device.__hash__``.
    """
    if _only_defaults:
        s = _default_ids.get(id(dev))
        return s if s is not None else default_stream(dev)
    k = id(dev)
    s = _tls.current.get(k)
    if s is None:
        s = _default_ids.get(k)
        if s is None:
            s = default_stream(dev)
    return s


def set_stream(s: Stream) -> None:
    """Make ``s`` the current stream of its device in this thread (prefer ``with ember.stream(s)``)."""
    global _only_defaults
    if not isinstance(s, Stream):
        raise ArgumentTypeError(f"set_stream() expects an ember.Stream, got {type(s).__name__}")
    if s is _defaults.get(s.device):
        _tls.current.pop(id(s.device), None)
    else:
        _only_defaults = False
        _tls.current[id(s.device)] = s


def synchronize(device=None) -> None:
    """Block the host until all work on every stream of ``device`` (default: the current device) has finished."""
    dev = _device(device)
    backend = resolve(dev)[0]
    backend.runtime.synchronize(dev)
    from . import allocator
    a = allocator._allocators.get(dev)
    if a is not None:
        a.process_events()


class Event:
    """A marker in a stream, like ``torch.cuda.Event``.

    Created lazily: the backend event is made on the first ``record``, on the
    recording stream's device. ``enable_timing=True`` lets ``elapsed_time``
    measure between two recorded events. ``blocking`` and ``interprocess`` are
    accepted for PyTorch compatibility; ``synchronize`` always blocks the host.
    """

    __slots__ = ("enable_timing", "blocking", "interprocess", "device", "handle", "_runtime", "_streams",
                 "_t", "_recorded", "__weakref__")

    def __init__(self, enable_timing: bool = False, blocking: bool = False, interprocess: bool = False):
        self.enable_timing = bool(enable_timing)
        self.blocking = bool(blocking)
        self.interprocess = bool(interprocess)
        self.device = None
        self.handle = None
        self._runtime = None
        self._streams = False
        self._t = None
        self._recorded = False

    def _bind(self, s: Stream) -> None:
        if self.device is None:
            self.device = s.device
            self._runtime = s._runtime
            self._streams = s._streams
            if s._streams:
                self.handle = s._runtime.event_create(s.device.index or 0, self.enable_timing)
        elif self.device is not s.device:
            raise InvalidArgumentError(f"this event was first recorded on {self.device}; it cannot be recorded on a "
                                       f"stream of {s.device}: create one event per device")

    def record(self, stream: "Stream | None" = None) -> None:
        """Record the event on ``stream`` (default: the current stream): it completes when the stream reaches it."""
        s = current_stream(self.device) if stream is None else stream
        self._bind(s)
        if self._streams:
            self._runtime.event_record(self.handle, s.handle)
        else:
            self._t = time.perf_counter()
        self._recorded = True

    def wait(self, stream: "Stream | None" = None) -> None:
        """Make future work on ``stream`` (default: the current stream) wait until this event completes.

        Waiting on an event that was never recorded does nothing, as in CUDA.
        """
        s = current_stream(self.device) if stream is None else stream
        if not self._recorded:
            return
        if s._streams and self._streams:
            if s.device.type != self.device.type:
                self.synchronize()  # streams of different backends cannot wait on each other's events
            else:
                s._runtime.stream_wait_event(s.handle, self.handle)
        elif self._streams:  # a synchronous device waits by blocking
            self.synchronize()

    def query(self) -> bool:
        """True when the work recorded before this event has finished (True if never recorded)."""
        if not self._recorded or not self._streams:
            return True
        return bool(self._runtime.event_query(self.handle))

    def synchronize(self) -> None:
        """Block the host until this event has completed."""
        if self._recorded and self._streams:
            self._runtime.event_synchronize(self.handle)

    def elapsed_time(self, end_event: "Event") -> float:
        """Milliseconds of device time between this event and ``end_event`` (both recorded, timing enabled)."""
        for name, e in (("start", self), ("end", end_event)):
            if not e.enable_timing:
                raise InvalidArgumentError(f"elapsed_time(): the {name} event was created without enable_timing=True; "
                                           f"create both events with ember.Event(enable_timing=True)")
            if not e._recorded:
                raise InvalidArgumentError(f"elapsed_time(): the {name} event was never recorded; call .record() on both "
                                           f"events first")
        if self.device is not end_event.device:
            raise InvalidArgumentError(f"elapsed_time(): the events are on different devices ({self.device} and "
                                       f"{end_event.device})")
        if not self._streams:
            return (end_event._t - self._t) * 1000.0
        self.synchronize()
        end_event.synchronize()
        return float(self._runtime.event_elapsed_ms(self.handle, end_event.handle))

    def __del__(self):
        h = self.handle
        if h is not None:
            destroy = getattr(self._runtime, "event_destroy", None)
            if destroy is not None:
                try:
                    destroy(h)
                except Exception:  # noqa: BLE001  (never raise from a finalizer)
                    pass

    def __repr__(self):
        state = "unrecorded" if not self._recorded else ("complete" if self.query() else "pending")
        return f"<ember.Event device={self.device} {state} timing={self.enable_timing}>"
