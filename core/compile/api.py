"""``ember.compile``: trace a function (or a Module's forward, or a whole train step) into graphs of
operator calls, keep one per set of guards, and run the lowered graph on later calls.

A call whose guards match a ready entry runs its lowered graph. A call that matches no entry is traced
(it runs eagerly while recording); an entry is installed once two consecutive traces give the same graph
(so state created lazily on a first call, such as momentum buffers, has settled), and kept eager when
the trace met a graph break or the graph keeps changing. Past ``config.cache_size_limit`` entries, calls
that match none run eagerly, with a warning naming the guard that failed.
"""

from __future__ import annotations

import functools
import warnings
import weakref

from .._tensor import Tensor
from . import config
from . import tracer as T
from .graph import Value
from .guards import Guards, by_value, flatten, unflatten
from .lowering import CompileWarning, select

__all__ = ["CompiledFunction", "is_compiling"]

_MODES = (None, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
_PENDING, _READY, _EAGER = "pending", "ready", "eager"
_all = weakref.WeakSet()   # for reset()


def is_compiling() -> bool:
    """Whether the calling code runs inside an ember.compile trace."""
    return T.current() is not None


class _Entry:
    """One cache entry: its guards, its state, and (when ready) the lowered graph."""

    __slots__ = ("guards", "state", "graph", "run", "signature", "traces", "out_spec", "consts", "n_out",
                 "grad_sets", "lowering")

    def __init__(self, guards):
        self.guards = guards
        self.state = _PENDING
        self.graph = None
        self.run = None
        self.signature = None
        self.traces = 0
        self.out_spec = None
        self.consts = None
        self.n_out = 0
        self.grad_sets = ()
        self.lowering = None


class CompiledFunction:
    """What ``ember.compile(fn)`` returns: calls like ``fn``; ``graphs()`` lists the installed graphs."""

    def __init__(self, fn, *, fullgraph, dynamic, backend, mode, module=None):
        self._fn = fn
        self._fullgraph = fullgraph
        self._dynamic = dynamic
        self._backend = backend
        self._mode = mode
        self._module = module
        self._entries: list = []
        self._warned_limit = False
        self._name = getattr(fn, "__qualname__", None) or type(fn).__name__
        _all.add(self)
        if module is None:
            try:
                functools.update_wrapper(self, fn)
            except (AttributeError, TypeError):
                pass

    def graphs(self) -> list:
        """The graphs of the ready cache entries, oldest first."""
        return [e.graph for e in self._entries if e.state is _READY]

    def reset(self) -> None:
        """Forget every traced graph (the next call traces again)."""
        self._entries = []
        self._warned_limit = False

    def __get__(self, obj, objtype=None):  # a compiled method binds like the function it wraps
        return self if obj is None else functools.partial(self, obj)

    def __call__(self, *args, **kwargs):
        if T.current() is not None:  # inside another trace: that trace records our operators
            return self._fn(*args, **kwargs)
        leaves: list = []
        spec = flatten((args, kwargs), leaves)
        for e in self._entries:
            if e.guards.check(spec, leaves):
                if e.state is _READY:
                    return self._run(e, leaves)
                if e.state is _EAGER:
                    return self._fn(*args, **kwargs)
                return self._trace(e, args, kwargs, spec, leaves)
        if len(self._entries) >= config.cache_size_limit:
            if not self._warned_limit:
                self._warned_limit = True
                why = self._entries[-1].guards.why(spec, leaves)
                warnings.warn(f"ember.compile: {self._name} hit config.cache_size_limit "
                              f"({config.cache_size_limit}) after {len(self._entries)} graphs; the last guard that "
                              f"failed: {why}. Calls matching no graph now run eagerly; raise "
                              f"ember.compiler.config.cache_size_limit, or keep shapes and dtypes steady",
                              CompileWarning, stacklevel=2)
            return self._fn(*args, **kwargs)
        return self._trace(None, args, kwargs, spec, leaves)

    # -- running a ready entry -------------------------------------------------------
    def _run(self, e, leaves):
        outs = e.run(*leaves, *e.guards.externals)
        for t, k in e.grad_sets:
            t._ag.grad = None if k is None else outs[k]
        return unflatten(e.out_spec, outs, e.consts)

    # -- tracing ----------------------------------------------------------------------
    def _trace(self, e, args, kwargs, spec, leaves):
        T.install()
        tr = T.Tracer(self._name, self._fullgraph)
        for t in leaves:
            tr.add_input(t)
        guards = e.guards if e is not None else Guards(spec, leaves, (), self._module)
        tr.start()
        try:
            result = self._fn(*args, **kwargs)
        finally:
            tr.stop()
        if e is None:
            e = _Entry(guards)
            self._entries.append(e)
        e.traces += 1
        if tr.broken is not None:
            e.state = _EAGER
            warnings.warn(f"ember.compile: graph break in {self._name}: {tr.broken}; this call and later calls "
                          f"with the same guards run eagerly (fullgraph=True raises instead)", CompileWarning,
                          stacklevel=3)
            return result
        self._finish(e, tr, result, leaves)
        return result

    def _finish(self, e, tr, result, leaves):
        out_leaves: list = []
        out_spec = flatten(result, out_leaves)
        outs = [tr.value(t) for t in out_leaves]
        grad_sets, backward_ran = [], False
        for v in list(tr.externals):
            m = v.tensor._ag
            if m is None or not m.requires_grad:
                continue
            g = m.grad
            if g is None:
                grad_sets.append((v.tensor, None))
            elif id(g) in tr.ids:
                gv = tr.ids[id(g)]
                backward_ran = backward_ran or gv.kind == "node"
                grad_sets.append((v.tensor, len(outs)))
                outs.append(gv)
        needs_ag = not backward_ran and any(n.grad for n in tr.nodes) and any(
            t._ag is not None and t._ag.requires_grad for t in out_leaves)
        consts = _consts(result)
        graph = tr.finish(outs, needs_ag)
        sig = _signature(graph, out_spec, grad_sets)
        e.guards.set_externals([v.tensor for v in graph.externals])
        if e.signature is not None and sig == e.signature:
            e.graph, e.out_spec, e.consts = graph, out_spec, consts
            e.grad_sets = tuple((t, k) for t, k in grad_sets)
            self._lower(e, leaves)
            return
        e.signature = sig
        if e.traces >= config.max_traces_to_settle:
            e.state = _EAGER
            warnings.warn(f"ember.compile: the graph of {self._name} changed on each of {e.traces} calls with "
                          f"the same guards (Python state it reads, such as a step count or a learning rate, "
                          f"changes); these calls run eagerly", CompileWarning, stacklevel=4)

    def _lower(self, e, leaves):
        graph = e.graph
        devices = {v.device.type for v in graph.placeholders} | {o.device.type for n in graph.nodes
                                                                  for o in n.outs if o is not None}
        device_type = devices.pop() if len(devices) == 1 else "mixed"
        backend = self._backend
        name, lower = select(backend, device_type, self._mode)
        example = [*leaves, *(v.tensor for v in graph.externals)]
        try:
            run = lower(graph, example)
        except Exception as err:  # noqa: BLE001  (a lowering that fails leaves the graph to eager replay)
            if callable(backend) or backend not in (None, "inductor"):
                raise
            warnings.warn(f"ember.compile: graph lowering {name!r} for {device_type} failed on {self._name} "
                          f"({type(err).__name__}: {err}); replaying the graph eagerly", CompileWarning,
                          stacklevel=5)
            name, run = "eager", None
        e.run = run if run is not None else graph.replay
        e.lowering = name if run is not None else "eager"
        e.state = _READY


def _consts(result) -> dict:
    out: dict = {}

    def walk(x):
        if isinstance(x, (list, tuple)):
            for y in x:
                walk(y)
        elif isinstance(x, dict):
            for y in x.values():
                walk(y)
        elif not isinstance(x, Tensor):
            out[id(x)] = x
    walk(result)
    return out


def _sig_arg(a):
    if a.__class__ is Value:
        return ("%", a.index)
    if isinstance(a, (list, tuple)):
        return (a.__class__, tuple(_sig_arg(x) for x in a))
    if isinstance(a, (int, float, bool, str, type(None), complex)) or by_value(a):
        return (a.__class__, a)
    return (object, id(a))


def _signature(graph, out_spec, grad_sets):
    """What must be equal for two traces to be the same graph."""
    nodes = tuple((n.op.name, tuple(_sig_arg(a) for a in n.args), n.keys, n.multi,
                   tuple(None if o is None else o.index for o in n.outs)) for n in graph.nodes)
    return (nodes, tuple(id(v.tensor) for v in graph.externals), tuple(o.index for o in graph.outputs),
            out_spec, tuple((id(t), k) for t, k in grad_sets), graph.needs_autograd)
