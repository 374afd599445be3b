"""CUDA graphs: ``ember.cuda.CUDAGraph``, ``graph``, ``graph_pool_handle``, ``make_graphed_callables``,
and the "cudagraphs" lowering of ``ember.compile`` (``mode="reduce-overhead"``).

Capture runs the work on a non-default stream between ``cuStreamBeginCapture`` and
``cuStreamEndCapture``: kernels, copies and cuBLAS calls queued on it are recorded, not run, and
``cuGraphLaunch`` replays them with one driver call. Memory allocated while capturing comes from a
private pool of core's caching allocator (``ember.runtime.allocator.PrivatePool``): a replay writes
the same addresses, so those blocks are never handed to eager code while a graph using them lives.
New pool segments are allocated in relaxed capture mode (``cuMemAlloc`` is an unsafe call during a
global or thread-local capture). Unlike PyTorch, the Philox RNG offset is not advanced per replay:
random operators replay the numbers of the capture (the compile lowering declines such graphs).

Driver entry points are called through ctypes on ``libcuda.so.1`` (the real driver or the stand-in of
tests/fixtures/fakecuda, which records captured work the same way).
"""

from __future__ import annotations

import ctypes
import gc
from ctypes import POINTER, byref, c_char_p, c_int, c_size_t, c_uint, c_ulonglong, c_void_p

from ember.device import Device, resolve
from ember.errors import ArgumentTypeError, GraphCaptureError, InvalidArgumentError
from ember.runtime.allocator import PrivatePool, allocator_for
from ember.runtime.streams import Stream, _current_stream_of, default_stream, stream as _stream_ctx

from . import driver as _drv
from . import runtime as _rt

__all__ = ["CUDAGraph", "graph", "graph_pool_handle", "make_graphed_callables", "is_current_stream_capturing"]

_CAPTURE_MODES = {"global": 0, "thread_local": 1, "relaxed": 2}
_RELAXED = 2

# name in libcuda.so.1 -> argument types (all return CUresult)
_PROTOTYPES = {
    "cuStreamBeginCapture_v2": (c_void_p, c_int),
    "cuStreamEndCapture": (c_void_p, POINTER(c_void_p)),
    "cuStreamIsCapturing": (c_void_p, POINTER(c_int)),
    "cuThreadExchangeStreamCaptureMode": (POINTER(c_int),),
    "cuGraphInstantiateWithFlags": (POINTER(c_void_p), c_void_p, c_ulonglong),
    "cuGraphLaunch": (c_void_p, c_void_p),
    "cuGraphDestroy": (c_void_p,),
    "cuGraphExecDestroy": (c_void_p,),
    "cuGraphGetNodes": (c_void_p, c_void_p, POINTER(c_size_t)),
    "cuGraphDebugDotPrint": (c_void_p, c_char_p, c_uint),
}


class _Api:
    """The graph entry points, declared once (a private CDLL object: prototypes set here touch no one else's)."""

    def __init__(self):
        self.drv = _drv.get()
        lib = ctypes.CDLL("libcuda.so.1")
        for name, argtypes in _PROTOTYPES.items():
            fn = getattr(lib, name)
            fn.argtypes = argtypes
            fn.restype = c_int
            setattr(self, name, fn)


_api_obj = None


def _api() -> _Api:
    global _api_obj
    if _api_obj is None:
        _api_obj = _Api()
    return _api_obj


def _relaxed_raw_alloc(nbytes, device_index):
    """A pool segment allocated while a capture may run: cuMemAlloc in relaxed mode, as PyTorch does."""
    api = _api()
    mode = c_int(_RELAXED)
    api.drv.check(api.cuThreadExchangeStreamCaptureMode(byref(mode)), "cuThreadExchangeStreamCaptureMode")
    try:
        return _rt.runtime.raw_alloc(nbytes, device_index)
    finally:
        api.cuThreadExchangeStreamCaptureMode(byref(mode))


def graph_pool_handle() -> PrivatePool:
    """An opaque token for a graph memory pool: pass it as ``pool=`` so several graphs share memory
    (PyTorch's ``torch.cuda.graph_pool_handle``; replay them in the order they were captured)."""
    return PrivatePool(_relaxed_raw_alloc)


def _cuda_device(device=None) -> Device:
    if device is None:
        from ember.runtime.device import _get_index
        device = Device("cuda", _get_index("cuda"))
    return resolve(device)[1]


def is_current_stream_capturing() -> bool:
    """True when the current cuda stream is capturing a graph (``torch.cuda.is_current_stream_capturing``)."""
    h = _current_stream_of(_cuda_device()).handle
    if not h:
        return False
    status = c_int(0)
    _api().drv.check(_api().cuStreamIsCapturing(h, byref(status)), "cuStreamIsCapturing")
    return status.value == 1


class CUDAGraph:
    """A CUDA graph: ``capture_begin``/``capture_end`` record the work queued on the current (non-default)
    stream, ``replay`` launches it on the current stream (PyTorch's ``torch.cuda.CUDAGraph``).

    ``keep_graph=True`` keeps the captured graph after ``capture_end`` (``instantiate`` then makes it
    launchable; ``debug_dump`` needs it, as does ``enable_debug_mode``)."""

    def __init__(self, keep_graph: bool = False):
        self._keep = bool(keep_graph)
        self._debug = False
        self._graph = self._exec = None
        self._pool = None
        self._stream = None
        self._device = None
        self._capturing = False

    # -- capture -------------------------------------------------------------------------
    def capture_begin(self, pool=None, capture_error_mode: str = "global") -> None:
        """Begin capturing the current stream's work; allocations on it come from ``pool`` (a
        ``graph_pool_handle()`` or another graph's ``pool()``; default: a new private pool)."""
        if self._capturing or self._graph is not None or self._exec is not None:
            raise GraphCaptureError("CUDAGraph.capture_begin(): this graph already holds a capture; call reset() "
                                    "before capturing again, or make a new CUDAGraph")
        mode = _CAPTURE_MODES.get(capture_error_mode)
        if mode is None:
            raise InvalidArgumentError(f"CUDAGraph.capture_begin(): unknown capture_error_mode "
                                       f"{capture_error_mode!r}; use 'global', 'thread_local' or 'relaxed'")
        if pool is not None and not isinstance(pool, PrivatePool):
            raise ArgumentTypeError(f"CUDAGraph.capture_begin(): pool must come from graph_pool_handle() or "
                                    f"another graph's pool(), got {type(pool).__name__}")
        dev = _cuda_device()
        s = _current_stream_of(dev)
        if not s.handle or s is default_stream(dev):
            raise GraphCaptureError("CUDA graphs must be captured on a non-default stream (after capture, they may "
                                    "be replayed on the default stream): capture inside "
                                    "`with ember.cuda.stream(ember.cuda.Stream()):` or use ember.cuda.graph(g)")
        pool = pool if pool is not None else (self._pool or graph_pool_handle())
        api = _api()
        api.drv.set_device(dev.index or 0)
        alloc = allocator_for(dev)
        pool.users += 1
        alloc.begin_allocate_to_pool(s, pool)
        err = api.cuStreamBeginCapture_v2(s.handle, mode)
        if err:
            alloc.end_allocate_to_pool(s)
            self._drop_pool(pool, alloc)
            api.drv.fail("cuStreamBeginCapture", err)
        self._pool, self._stream, self._device, self._capturing = pool, s, dev, True

    def capture_end(self) -> None:
        """End the capture and instantiate the graph; raises GraphCaptureError when the captured work
        cannot be a graph (a host read or sync, an allocation outside the pool, ...)."""
        if not self._capturing:
            raise GraphCaptureError("CUDAGraph.capture_end() without capture_begin()")
        api, s = _api(), self._stream
        g = c_void_p()
        err = api.cuStreamEndCapture(s.handle, byref(g))
        allocator_for(self._device).end_allocate_to_pool(s)
        self._capturing = False
        if err:
            self.reset()
            raise GraphCaptureError(f"CUDA graph capture failed: cuStreamEndCapture answered "
                                    f"{api.drv.error_name(err)} ({err}): the captured work made a call a capture "
                                    f"cannot record (a host read or synchronize, a pageable host copy, an "
                                    f"allocation outside the graph's pool). Run that part outside the capture")
        self._graph = g.value
        if not (self._keep or self._debug):
            self.instantiate()
            api.cuGraphDestroy(self._graph)
            self._graph = None

    def instantiate(self) -> None:
        """Make the captured graph launchable (done by capture_end unless ``keep_graph=True``)."""
        if self._graph is None:
            raise GraphCaptureError("CUDAGraph.instantiate(): nothing captured (call capture_begin/capture_end)")
        if self._exec is None:
            api = _api()
            e = c_void_p()
            api.drv.check(api.cuGraphInstantiateWithFlags(byref(e), self._graph, 0), "cuGraphInstantiateWithFlags")
            self._exec = e.value

    # -- use -----------------------------------------------------------------------------
    def replay(self) -> None:
        """Launch the captured work on the current stream."""
        if self._exec is None:
            self.instantiate()
        api = _api()
        dev = self._device
        if api.drv._tls.device != dev.index:
            api.drv.set_device(dev.index or 0)
        err = api.cuGraphLaunch(self._exec, _current_stream_of(dev).handle or None)
        if err:
            api.drv.fail("cuGraphLaunch", err)

    def reset(self) -> None:
        """Free the graph and let its memory pool go once no other graph shares it."""
        api = _api_obj
        if api is not None:
            if self._exec is not None:
                api.cuGraphExecDestroy(self._exec)
            if self._graph is not None:
                api.cuGraphDestroy(self._graph)
        self._exec = self._graph = None
        pool, self._pool = self._pool, None
        if pool is not None and self._device is not None:
            self._drop_pool(pool, allocator_for(self._device))

    @staticmethod
    def _drop_pool(pool, alloc) -> None:
        pool.users -= 1
        if pool.users <= 0:
            alloc.release_pool(pool)

    def pool(self) -> PrivatePool:
        """This graph's memory pool, to share with graphs captured after it (``capture_begin(pool=...)``)."""
        if self._pool is None:
            self._pool = graph_pool_handle()
        return self._pool

    def enable_debug_mode(self) -> None:
        """Keep the captured graph so that ``debug_dump`` can write it."""
        self._debug = True

    def debug_dump(self, debug_path: str) -> None:
        """Write the captured graph as Graphviz DOT to ``debug_path`` (needs enable_debug_mode or keep_graph)."""
        if self._graph is None:
            raise GraphCaptureError("CUDAGraph.debug_dump(): no graph kept; call enable_debug_mode() (or make the "
                                    "CUDAGraph with keep_graph=True) before capture")
        api = _api()
        api.drv.check(api.cuGraphDebugDotPrint(self._graph, str(debug_path).encode(), 0), "cuGraphDebugDotPrint")

    def num_nodes(self) -> int:
        """Nodes of the kept graph (an Ember addition, for tests and debugging)."""
        if self._graph is None:
            raise GraphCaptureError("CUDAGraph.num_nodes(): no graph kept (enable_debug_mode or keep_graph=True)")
        n = c_size_t(0)
        _api().drv.check(_api().cuGraphGetNodes(self._graph, None, byref(n)), "cuGraphGetNodes")
        return n.value

    def __del__(self):
        try:
            if not self._capturing:
                self.reset()
        except Exception:  # noqa: BLE001  (never raise from a finalizer; interpreter shutdown)
            pass


class graph:  # noqa: N801  (PyTorch's name)
    """``with ember.cuda.graph(g):`` captures the block into ``g`` on ``stream`` (default: a side stream
    shared by all captures), after a device synchronize, a garbage collection and ``empty_cache`` so the
    capture starts from a clean cache (PyTorch's ``torch.cuda.graph``)."""

    default_capture_stream = None

    def __init__(self, cuda_graph: CUDAGraph, pool=None, stream: Stream | None = None,
                 capture_error_mode: str = "global"):
        if not isinstance(cuda_graph, CUDAGraph):
            raise ArgumentTypeError(f"ember.cuda.graph() expects an ember.cuda.CUDAGraph, got "
                                    f"{type(cuda_graph).__name__}")
        if stream is None:
            if graph.default_capture_stream is None:
                graph.default_capture_stream = Stream(_cuda_device())
            stream = graph.default_capture_stream
        self.cuda_graph = cuda_graph
        self.pool = () if pool is None else (pool,)
        self.capture_stream = stream
        self.stream_ctx = _stream_ctx(stream)
        self.capture_error_mode = capture_error_mode

    def __enter__(self):
        import ember
        dev = self.capture_stream.device
        ember.cuda.synchronize(dev)
        gc.collect()
        allocator_for(dev).empty_cache()
        self.stream_ctx.__enter__()
        try:
            self.cuda_graph.capture_begin(*self.pool, capture_error_mode=self.capture_error_mode)
        except BaseException:
            self.stream_ctx.__exit__(None, None, None)
            raise

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self.cuda_graph.capture_end()
            else:  # the block raised: end the capture quietly and let its error through
                try:
                    self.cuda_graph.capture_end()
                except Exception:  # noqa: BLE001
                    pass
        finally:
            self.stream_ctx.__exit__(exc_type, exc, tb)
        return False


from .graphed import make_graphed_callables  # noqa: E402  (uses CUDAGraph and graph above)
