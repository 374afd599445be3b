"""The "cudagraphs" lowering of ``ember.compile`` graphs (``mode="reduce-overhead"``): one CUDA graph.

A compiled graph runs in three phases, one call each:

1. warm-up: the graph is replayed eagerly on a side stream (kernels get compiled and cached, cuBLAS
   binds to the stream) and that replay is the call's result;
2. capture: static input buffers are allocated once from a private pool, the call's inputs are copied
   into them, and the replay over (static inputs, live externals) is captured on the side stream and
   instantiated; the graph is then launched for this call;
3. every later call copies its inputs into the static buffers (one device memcpy each), launches the
   graph on the current stream, copies back the inputs the graph writes, and returns the outputs.

Outputs are not cloned, as in PyTorch's cudagraph trees: a returned tensor made by the graph reads
the graph's static memory, which the next call overwrites; clone what must outlive the next call.
Externals (parameters, optimizer state) are read in place: the graph is captured against their
memory, and is captured again if one of them is given new storage.

Declined, with a warning (the graph is then replayed eagerly): graphs that must record autograd,
random operators (the Philox offset would be frozen in the graph), inputs that share memory.
A capture that fails (a host read or sync, a host copy, an allocation outside the pool) warns and
leaves the graph to eager replay.
"""

from __future__ import annotations

import warnings

from ember import Tensor
from ember.compile.graph import ALIAS, Value, alias
from ember.compile.lowering import CompileWarning
from ember.compile.tracer import _pure
from ember.dispatch.keys import AUTOGRAD
from ember.dispatch.operator import state as _S
from ember.runtime.allocator import PrivatePool, allocator_for, record_stream
from ember.runtime.streams import Stream, _current_stream_of, stream as _stream_ctx

from . import graphs as G
from . import runtime as _rt

__all__ = ["lower_cudagraphs"]

_AG = AUTOGRAD.bit
_side: dict = {}      # device -> the side stream compiled graphs warm up and capture on


def _decline_reason(graph, example):
    if graph.needs_autograd:
        return "its outputs must record autograd for a backward run after the call"
    if any(getattr(n.op, "family", "") == "random" for n in graph.nodes):
        return "it has random operators (a replay would repeat the captured numbers)"
    if any(t._device.type != "cuda" for t in example) or len({t._device for t in example}) > 1:
        return "its tensors are not all on one cuda device"
    seen = set()
    n_in = len(graph.inputs)
    for k, t in enumerate(example):
        key = id(t._storage)
        if key in seen and (k < n_in or any(id(u._storage) == key for u in example[:n_in])):
            return "two of its inputs share memory"
        seen.add(key)
    return None


def lower_cudagraphs(graph, example_inputs):
    """``lower(graph, example_inputs)`` of the plugin contract: a callable, or None (eager replay)."""
    if not graph.nodes:
        return None
    why = _decline_reason(graph, example_inputs)
    if why is not None:
        warnings.warn(f"ember.compile: the cudagraphs lowering declined {graph.name}: {why}; it replays "
                      f"eagerly", CompileWarning, stacklevel=2)
        return None
    return _GraphRunner(graph, example_inputs)


def _sub(a, vals):
    if a.__class__ is Value:
        return vals[a.index]
    if isinstance(a, (list, tuple)) and any(x.__class__ is Value or isinstance(x, (list, tuple)) for x in a):
        return a.__class__(_sub(x, vals) for x in a)
    return a


def _values(a, out):
    if a.__class__ is Value:
        out.append(a)
    elif isinstance(a, (list, tuple)):
        for x in a:
            _values(x, out)


def _interpret(graph, placeholders) -> dict:
    """Run the graph's nodes as its eager replay does, keeping every value (index -> tensor)."""
    vals = {v.index: t for v, t in zip(graph.placeholders, placeholders)}
    saved = _S.included, _S.allowed, _S.inplace_keys
    try:
        for n in graph.nodes:
            k = n.keys if graph.needs_autograd else (n.keys[0], n.keys[1] & ~_AG, n.keys[2] | _AG)
            _S.included, _S.allowed, _S.inplace_keys = k
            fn = alias if n.op is ALIAS else n.op.fn.positional
            out = fn(*(_sub(a, vals) for a in n.args))
            if n.multi:
                for o, r in zip(n.outs, out):
                    if o is not None:
                        vals[o.index] = r
            elif n.outs and n.outs[0] is not None:
                vals[n.outs[0].index] = out
    finally:
        _S.included, _S.allowed, _S.inplace_keys = saved
    return vals


def _span_bytes(t) -> int:
    n = 1
    for size, stride in zip(t._shape, t._strides):
        if size == 0:
            return 0
        n += (size - 1) * stride
    return n * t._dtype.itemsize


def _empty_like_strided(t):
    """A new tensor with ``t``'s shape, strides and dtype (what guards hold the inputs to)."""
    base = _rt.runtime.empty((_span_bytes(t) // t._dtype.itemsize,), t._dtype, t._device)
    return base._view(t._shape, t._strides, 0)


class _GraphRunner:
    """The callable a compiled cuda graph runs: placeholders in, graph outputs out (see the module doc)."""

    def __init__(self, graph, example):
        self.graph = graph
        self.n_in = len(graph.inputs)
        self.device = example[0]._device
        self.index = self.device.index or 0
        self.cuda_graph = None
        self.pool = None
        self.statics = None
        self._run = self._warmup
        self.captures = 0

    def __call__(self, *placeholders):
        return self._run(*placeholders)

    def _side_stream(self) -> Stream:
        s = _side.get(self.device)
        if s is None:
            s = _side[self.device] = Stream(self.device)
        return s

    # -- phase 1 ---------------------------------------------------------------------
    def _warmup(self, *ph):
        cur = _current_stream_of(self.device)
        side = self._side_stream()
        side.wait_stream(cur)
        with _stream_ctx(side):
            outs = self.graph.replay(*ph)
        cur.wait_stream(side)
        for o in outs:   # made on the side stream, used on the current one
            if isinstance(o, Tensor) and getattr(o._storage, "allocation", None) is not None:
                record_stream(o, cur)
        self._run = self._capture
        return outs

    # -- phase 2 ---------------------------------------------------------------------
    def _capture(self, *ph):
        self.captures += 1
        cur = _current_stream_of(self.device)
        side = self._side_stream()
        side.wait_stream(cur)
        alloc = allocator_for(self.device)
        pool = PrivatePool(G._relaxed_raw_alloc)
        pool.users = 1                      # the static inputs' hold; the CUDAGraph takes its own
        g = G.CUDAGraph()
        n_in = self.n_in
        try:
            with _stream_ctx(side):
                alloc.begin_allocate_to_pool(side, pool)
                try:
                    statics = [_empty_like_strided(t) for t in ph[:n_in]]
                finally:
                    alloc.end_allocate_to_pool(side)
                self.statics = statics
                self._copy_in(ph, side.handle)
                g.capture_begin(pool=pool)
                try:
                    vals = _interpret(self.graph, [*statics, *ph[n_in:]])
                except BaseException:
                    try:
                        g.capture_end()
                    except Exception:  # noqa: BLE001  (the op's own error says more)
                        pass
                    raise
                g.capture_end()
        except Exception as err:  # noqa: BLE001  (anything a capture cannot record: replay eagerly)
            g.reset()
            self.statics = None
            pool.users -= 1
            alloc.release_pool(pool)
            cur.wait_stream(side)
            warnings.warn(f"ember.compile: {self.graph.name} could not be captured as a CUDA graph "
                          f"({type(err).__name__}: {err}); it replays eagerly", CompileWarning, stacklevel=4)
            self._run = self.graph.replay
            return self.graph.replay(*ph)
        cur.wait_stream(side)
        self._plan(vals, ph)
        if self.cuda_graph is not None:
            self.cuda_graph.reset()
        if self.pool is not None:
            self.pool.users -= 1
            alloc.release_pool(self.pool)
        self.cuda_graph, self.pool = g, pool
        self._run = self._replay
        return self._replay(*ph)

    def _plan(self, vals, ph):
        """What each call copies in, checks, copies back and returns, from the captured values."""
        graph, statics, n_in = self.graph, self.statics, self.n_in
        isz = [t._dtype.itemsize for t in statics]
        where = {id(t._storage): i for i, t in enumerate(statics)}
        self.copies = [(i, t._storage, t._offset, t._storage.ptr + t._offset * isz[i], _span_bytes(t), isz[i])
                       for i, t in enumerate(statics) if _span_bytes(t)]
        self.externals = [(k, ph[k]._storage) for k in range(n_in, len(ph))]
        written = set()
        for n in graph.nodes:
            if _pure(n.op):
                continue
            used: list = []
            for a in n.args:
                _values(a, used)
            for v in used:
                i = where.get(id(vals[v.index]._storage)) if v.index in vals else None
                if i is not None:
                    written.add(i)
        self.copy_back = [c for c in self.copies if c[0] in written]
        pos = {v.index: k for k, v in enumerate(graph.placeholders)}
        same = {id(t): k for k, t in enumerate([*statics, *ph[n_in:]])}
        plan = []
        for v in graph.outputs:
            t = vals.get(v.index)
            k = pos.get(v.index, same.get(id(t)))
            if k is not None:   # a placeholder, or an in-place op's result (self): the caller's tensor
                plan.append((0, k, None))
                continue
            i = where.get(id(t._storage))
            if i is not None:   # a view of a static input: the same view of the caller's input
                plan.append((1, i, (t._shape, t._strides, t._offset - statics[i]._offset)))
            else:
                plan.append((2, t, (t._storage, t._offset, t._shape, t._strides, t._dtype, t._device, t._backend)))
        self.plan = plan

    # -- phase 3 ---------------------------------------------------------------------
    def _copy_in(self, ph, stream):
        drv = G._api().drv
        for i, t in enumerate(self.statics):
            src = ph[i]
            nbytes = _span_bytes(src)
            if nbytes and not (src._storage is t._storage and src._offset == t._offset):
                isz = src._dtype.itemsize
                drv.check(drv.memcpy_dtod_async(t._storage.ptr + t._offset * isz,
                                                src._storage.ptr + src._offset * isz, nbytes, stream or None),
                          "cuMemcpyDtoDAsync")

    def _replay(self, *ph):
        for k, st in self.externals:
            if ph[k]._storage is not st:   # a parameter got new memory (p.data = ...): capture again
                return self._capture(*ph)
        drv = G._api().drv
        if drv._tls.device != self.index:
            drv.set_device(self.index)
        stream = _current_stream_of(self.device).handle or None
        copy = drv.memcpy_dtod_async
        for i, st, off, dst, nbytes, isz in self.copies:
            src = ph[i]
            if src._storage is not st or src._offset != off:
                err = copy(dst, src._storage.ptr + src._offset * isz, nbytes, stream)
                if err:
                    drv.fail("cuMemcpyDtoDAsync", err)
        self.cuda_graph.replay()
        for i, st, off, src, nbytes, isz in self.copy_back:
            d = ph[i]
            if d._storage is not st or d._offset != off:
                err = copy(d._storage.ptr + d._offset * isz, src, nbytes, stream)
                if err:
                    drv.fail("cuMemcpyDtoDAsync", err)
        make = Tensor._make
        out = []
        for kind, a, b in self.plan:
            if kind == 0:
                out.append(ph[a])
            elif kind == 1:
                x = ph[a]
                out.append(x._view(b[0], b[1], x._offset + b[2]))
            else:
                out.append(make(*b))
        return tuple(out)
