"""Tracing: the dispatcher's ``Python`` key records every operator call into a graph.

While a trace runs, the tracing thread's dispatch state includes the Python key, so each top-level
operator call (the function's own, those autograd's backward runs, an optimizer's) reaches the
operator's Python entry first. The entry runs the operator below itself (the Python key excluded, so
decompositions and autograd's inner calls are not recorded twice) and appends a node. The function
runs for real: the first call of a compiled function returns eager results.

Reading tensor values on the host (``item()``, ``bool(t)``, ``tolist()``, ``numpy()``) outside an
operator means Python control flow may depend on data the graph cannot replay: a *graph break*. The
trace stops recording (the call finishes eagerly) or, with ``fullgraph=True``, raises.
"""

from __future__ import annotations

import os
import sys
import threading

from .. import _tensor
from .._tensor import Tensor
from ..dispatch import operator as _operator
from ..dispatch.keys import AUTOGRAD, PYTHON
from ..dispatch.operator import registry, state
from ..errors import GraphBreakError
from .graph import ALIAS, Graph, Node, Value

__all__ = ["Tracer", "current", "install"]

_PY = PYTHON.bit
_NOT_PY = ~_PY
_AG = AUTOGRAD.bit
_CORE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class _Local(threading.local):
    tracer = None


_local = _Local()


def current():
    """The trace running on this thread, or None."""
    return _local.tracer


def _entry_for(op):
    below = op.fn.positional

    def python_entry(*args):
        S = state
        allowed = S.allowed
        tr = _local.tracer
        S.allowed = allowed & _NOT_PY
        if tr is None:  # Python key left on by a trace that ended abnormally: just run
            try:
                return below(*args)
            finally:
                S.allowed = allowed
        tr.depth += 1
        try:
            out = below(*args)
        finally:
            S.allowed = allowed
            tr.depth -= 1
        tr.record(op, args, out, S.included & _NOT_PY, allowed & _NOT_PY, S.inplace_keys)
        return out
    python_entry.__name__ = f"trace_{op.name}"
    return python_entry


def _install_op(op):
    if PYTHON.index not in op.kernels:
        entry = _entry_for(op)
        entry._yields = True   # an explicit Python-key registration replaces it (that operator then is not traced)
        op.kernels[PYTHON.index] = entry
        op.rebuild()


_installed = False


def install() -> None:
    """Give every operator its Python entry (once, on the first trace; later operators on definition)."""
    global _installed
    if _installed:
        return
    for op in list(registry.values()):
        _install_op(op)
    _operator._define_hooks.append(_install_op)
    _tensor._host_read_hooks.append(_on_host_read)
    _installed = True


def _on_host_read(t):
    tr = _local.tracer
    if tr is not None and tr.depth == 0 and tr.broken is None:
        tr.graph_break(_host_read_reason())


def _host_read_reason() -> str:
    f = sys._getframe(2)
    what = "a host read"
    while f is not None:
        name = f.f_code.co_name
        if os.path.abspath(f.f_code.co_filename).startswith(_CORE):
            if name in ("item", "tolist", "numpy", "__bool__", "__int__", "__float__", "__index__", "__array__",
                        "__format__"):
                what = {"__bool__": "bool(tensor)", "__int__": "int(tensor)", "__float__": "float(tensor)",
                        "__index__": "operator.index(tensor)", "__array__": "numpy.asarray(tensor)",
                        "__format__": "format(tensor)"}.get(name, f"Tensor.{name}()")
            f = f.f_back
            continue
        return f"{what} at {f.f_code.co_filename}:{f.f_lineno} (in {name})"
    return what


class Tracer:
    """Records one call of ``fn`` into a Graph. Tensors met for the first time that no node made become
    externals (or, when they share a value's storage, an alias node of it)."""

    def __init__(self, name, fullgraph):
        self.name = name
        self.fullgraph = fullgraph
        self.depth = 0
        self.broken = None
        self.nodes: list = []
        self.inputs: list = []
        self.externals: list = []
        self.ids: dict = {}        # id(tensor) -> Value
        self.storages: dict = {}   # id(storage) -> (Value, tensor) first seen on it
        self.keep: list = []       # every tensor met, alive until the trace ends (ids stay unique)
        self.count = 0
        self._saved = None

    # -- values ------------------------------------------------------------------
    def _new(self, kind, t, keep=False) -> Value:
        v = Value(self.count, kind, t, keep)
        self.count += 1
        self.ids[id(t)] = v
        self.keep.append(t)
        self.storages.setdefault(id(t._storage), (v, t))
        return v

    def add_input(self, t) -> Value:
        v = self._new("input", t)
        self.inputs.append(v)
        return v

    def value(self, t) -> Value:
        v = self.ids.get(id(t))
        if v is not None:
            return v
        hit = self.storages.get(id(t._storage))
        if hit is None:
            v = self._new("external", t, keep=True)
            self.externals.append(v)
            return v
        src = hit[0]
        v = self._new("node", t)
        self.nodes.append(Node(ALIAS, (src, t._shape, t._strides, t._offset), [v], False,
                               (state.included & _NOT_PY, state.allowed & _NOT_PY, state.inplace_keys)))
        return v

    def _map(self, a):
        if isinstance(a, Tensor):
            return self.value(a)
        c = a.__class__
        if c is list or c is tuple:
            return c(self._map(x) for x in a) if any(isinstance(x, (Tensor, list, tuple)) for x in a) else a
        return a

    # -- recording ---------------------------------------------------------------
    def record(self, op, args, out, included, allowed, inplace_keys):
        if self.broken is not None:
            return
        mapped = tuple(self._map(a) for a in args)
        if isinstance(out, Tensor):
            outs, multi = [self._new("node", out)], False
        elif isinstance(out, (tuple, list)):
            outs = [self._new("node", o) if isinstance(o, Tensor) else None for o in out]
            multi = True
        else:
            outs, multi = [None], False
        self.nodes.append(Node(op, mapped, outs, multi, (included, allowed, inplace_keys)))

    def graph_break(self, reason: str) -> None:
        if self.fullgraph:
            self.stop()
            raise GraphBreakError(
                f"ember.compile(fullgraph=True): tracing {self.name} met data-dependent Python control flow: "
                f"{reason}. Compute with tensor operators instead (ember.where, masks), move the host read out "
                f"of the compiled function, or compile with fullgraph=False to run such calls eagerly")
        self.broken = reason
        state.included &= _NOT_PY   # the rest of the call runs eagerly at full speed

    # -- lifetime ----------------------------------------------------------------
    def start(self) -> None:
        self._saved = _local.tracer
        _local.tracer = self
        state.included |= _PY

    def stop(self) -> None:
        if _local.tracer is self:
            _local.tracer = self._saved
            if self._saved is None:
                state.included &= _NOT_PY

    def finish(self, out_values, needs_autograd) -> Graph:
        """The graph of what was recorded, returning ``out_values`` (calls whose results nothing uses and
        that write nothing are dropped: the transposes autograd makes and never reads)."""
        g = Graph(self.name, self.inputs, self.externals, _live(self.nodes, out_values), out_values,
                  needs_autograd)
        self.keep = []
        self.ids = {}
        self.storages = {}
        return g


def _pure(op) -> bool:
    if op is ALIAS:
        return True
    return (not op.name.endswith("_") and op.family != "random"
            and not any(a.name == "out" for a in op.schema.arguments))


def _uses(a, used):
    if a.__class__ is Value:
        used.add(a.index)
    elif isinstance(a, (list, tuple)):
        for x in a:
            _uses(x, used)


def _live(nodes, outputs) -> list:
    used = {v.index for v in outputs}
    keep = []
    for n in reversed(nodes):
        if _pure(n.op) and not any(o is not None and o.index in used for o in n.outs):
            continue
        keep.append(n)
        for a in n.args:
            _uses(a, used)
    keep.reverse()
    return keep
