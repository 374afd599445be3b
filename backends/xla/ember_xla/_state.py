"""Lazy mode: operations are recorded into one graph per device and compiled into one XLA
computation at a sync point (reading values, printing, ``mark_step()``, leaving ``lazy()``).

A recorded call leaves a ``Ref`` (graph, node, output) in the storage cell it produced or
wrote. At a sync point the graph becomes one function of its leaves (the concrete
arrays and Python scalars it read) that returns the values of every cell still alive
and holding one of its refs; that function is jitted once per *structure* (the
sequence of operator keys with their wiring, and which outputs are live), so a
training loop that records the same graph each step compiles it once.
"""

from __future__ import annotations

import weakref

import jax
from ember.errors import InvalidArgumentError

#: None in eager mode; in lazy mode, device index -> the Graph being recorded.
graphs = None
#: True while ember.compile's jit lowering traces a graph (compile.py): kernels skip their eager
#: value checks (bounds, division by zero), as they do in lazy mode.
jit_tracing = False
_GRAPHS: dict = {}   # structure key -> jitted graph function


class Ref:
    """Output ``i`` of node ``node`` of a graph not yet executed."""

    __slots__ = ("graph", "node", "i")

    def __init__(self, graph, node, i):
        self.graph = graph
        self.node = node
        self.i = i

    def __repr__(self):
        return f"<lazy value: node {self.node} output {self.i}>"


class Outs:
    """The outputs of one recorded node; index it like the tuple an eager call returns."""

    __slots__ = ("graph", "node")

    def __init__(self, graph, node):
        self.graph = graph
        self.node = node

    def __getitem__(self, i):
        return Ref(self.graph, self.node, i)


class Graph:
    __slots__ = ("dev", "sig", "leaves", "leaf_ids", "cells")

    def __init__(self, dev):
        self.dev = dev
        self.sig = []        # per node: (key, wiring); wiring: leaf index, or (node, output)
        self.leaves = []     # concrete arrays and scalars the graph reads
        self.leaf_ids = {}   # id(array) -> leaf index
        self.cells = []      # weak references to the cells given refs of this graph


def record(key, args, dev):
    g = graphs.get(dev)
    if g is None:
        g = graphs[dev] = Graph(dev)
    wiring = []
    leaves = g.leaves
    for a in args:
        if a.__class__ is Ref:
            if a.graph is not g:
                _flush_foreign(a)
                a = a.graph  # unreachable: _flush_foreign raises
            wiring.append((a.node, a.i))
        elif isinstance(a, jax.Array):
            j = g.leaf_ids.get(id(a))
            if j is None:
                j = g.leaf_ids[id(a)] = len(leaves)
                leaves.append(a)
            wiring.append(j)
        else:
            wiring.append(len(leaves))
            leaves.append(a)
    g.sig.append((key, tuple(wiring)))
    return Outs(g, len(g.sig) - 1)


def _flush_foreign(ref):
    raise InvalidArgumentError("a lazy value from another device's graph reached this graph; move tensors "
                               "between xla devices outside lazy mode or call ember_xla.mark_step() first")


def track(cell):
    """Note that ``cell`` now holds a ref, so that the graph returns its value at the sync point."""
    cell.a.graph.cells.append(weakref.ref(cell))


def sync(graph) -> None:
    """Compile (once per structure) and run one graph; every live cell it wrote gets its array."""
    global graphs
    if graphs is not None and graphs.get(graph.dev) is graph:
        graphs[graph.dev] = Graph(graph.dev)
    out_cells, outs, seen = [], [], set()
    for w in graph.cells:
        c = w()
        if c is None or id(c) in seen:
            continue
        a = c.a
        if a.__class__ is not Ref or a.graph is not graph:
            continue
        seen.add(id(c))
        out_cells.append(c)
        outs.append((a.node, a.i))
    if not outs:
        return
    from . import _engine as E
    key = (graph.dev, tuple(graph.sig), tuple(outs))
    fn = _GRAPHS.get(key)
    if fn is None:
        if len(_GRAPHS) >= E.CACHE_SIZE:
            for k in list(_GRAPHS)[:len(_GRAPHS) // 2]:
                _GRAPHS.pop(k).clear_cache()
        fn = _GRAPHS[key] = jax.jit(_graph_function(graph.sig, tuple(outs)),
                                    out_shardings=E.sharding(graph.dev))
    res = E.call_jitted(fn, graph.leaves)
    E.stats["graph_runs"] += 1
    for c, a in zip(out_cells, res):
        c.a = a


def _graph_function(sig, outs):
    from . import _engine as E
    fns = [(E.pure(k), w) for k, w in sig]

    def graph_fn(*leaves):
        E.stats["graph_compiles"] += 1
        vals = []
        for f, wiring in fns:
            vals.append(f(*[leaves[s] if s.__class__ is int else vals[s[0]][s[1]] for s in wiring]))
        return tuple(vals[n][i] for n, i in outs)
    return graph_fn


def mark_step() -> None:
    """Run everything recorded so far (one compiled computation per device)."""
    if graphs:
        for g in list(graphs.values()):
            sync(g)


class lazy:
    """``with ember_xla.lazy():`` record xla operations and run them as one computation at sync points.

    Sync points: reading values (``item()``, ``tolist()``, ``.cpu()``, printing), an
    operation whose output shape depends on data (``nonzero``, ``masked_select``),
    ``mark_step()``, and leaving the block. Nested blocks share the outer graph.
    """

    __slots__ = ("_outer",)

    def __enter__(self):
        global graphs
        self._outer = graphs is not None
        if not self._outer:
            graphs = {}
        return self

    def __exit__(self, *exc):
        global graphs
        if not self._outer:
            try:
                mark_step()
            finally:
                graphs = None
        return False


def is_lazy() -> bool:
    return graphs is not None
