"""The xla lowering of ``ember.compile`` graphs: one ``jax.jit`` of the whole graph.

The graph's eager replay is traced by JAX over *shadow* tensors: tensors with the placeholders'
geometry whose storage cells hold JAX tracers instead of arrays. Every operator runs its ordinary xla
kernel (the kernels' own jitted functions inline into the outer trace); an in-place write replaces a
shadow cell's tracer, so after the trace the cells that changed are the graph's writes. The jitted
function takes the placeholders' arrays (one per distinct storage) and returns the outputs' arrays and
the new arrays of the written storages; a call writes those back into the real cells, as eager
in-place kernels do.

Declined (the graph then replays eagerly): graphs that must record autograd, and graphs with random
operators (the generator's seed and offset would be baked into the computation).
"""

from __future__ import annotations

import jax

from ember import Tensor

from . import _engine as E
from . import _state as S
from . import runtime as R

__all__ = ["lower_jit"]

_make = Tensor._make


def lower_jit(graph, example_inputs):
    if graph.needs_autograd or any(getattr(n.op, "family", "") == "random" for n in graph.nodes):
        return None
    if any(t._device.type != "xla" for t in example_inputs):
        return None
    return _JitGraph(graph, example_inputs)


class _JitGraph:
    """The callable a compiled xla graph runs: placeholders in, graph outputs out."""

    def __init__(self, graph, example):
        self.replay = graph.replay
        self.name = graph.name
        cells, slot = [], []
        for t in example:
            c = t._storage
            k = next((i for i, x in enumerate(cells) if x is c), None)
            if k is None:
                k = len(cells)
                cells.append(c)
            slot.append(k)
        self.slot = slot                 # placeholder -> distinct storage index
        self.first = [slot.index(k) for k in range(len(cells))]   # storage index -> first placeholder
        self.geo = [(t._offset, t._shape, t._strides, t._dtype, t._device, t._backend) for t in example]
        self.cell_facts = [(c.n, c.dtype, c.dev) for c in cells]
        self.plan = None                 # set by the first trace: outputs and written storages
        arrays = [R.concrete(c) for c in cells]
        with E._x64(True):
            jax.eval_shape(self._pure, *arrays)   # traces once: fills self.plan
        self.fn = jax.jit(self._pure)

    def _pure(self, *arrays):
        shadow_cells = [R.Cell(a, n, dt, dev) for a, (n, dt, dev) in zip(arrays, self.cell_facts)]
        shadows = [_make(shadow_cells[k], off, shape, strides, dt, devc, be)
                   for k, (off, shape, strides, dt, devc, be) in zip(self.slot, self.geo)]
        prev, S.graphs = S.graphs, None
        S.jit_tracing = True
        try:
            outs = self.replay(*shadows)
        finally:
            S.graphs = prev
            S.jit_tracing = False
        plan_outs, new_cells, out_arrays = [], [], []
        ids = {id(s): i for i, s in enumerate(shadows)}
        cell_ids = {id(c): i for i, c in enumerate(shadow_cells)}
        for o in outs:
            i = ids.get(id(o))
            if i is not None:
                plan_outs.append(("input", i))
                continue
            geo = (o._offset, o._shape, o._strides, o._dtype, o._device)
            k = cell_ids.get(id(o._storage))
            if k is not None:
                plan_outs.append(("view", k, geo))
                continue
            j = next((j for j, c in enumerate(new_cells) if c is o._storage), None)
            if j is None:
                j = len(new_cells)
                new_cells.append(o._storage)
                out_arrays.append(R.concrete(o._storage))
            c = o._storage
            plan_outs.append(("new", j, geo, (c.n, c.dtype, c.dev)))
        written = [k for k, c in enumerate(shadow_cells) if c.a is not arrays[k]]
        self.plan = (plan_outs, written)
        return tuple(out_arrays), tuple(shadow_cells[k].a for k in written)

    def __call__(self, *placeholders):
        first = self.first
        cells = [placeholders[i]._storage for i in first]
        arrays = [R.concrete(c) for c in cells]
        new, writes = E.call_jitted(self.fn, arrays)
        plan_outs, written = self.plan
        for k, a in zip(written, writes):
            cells[k].a = a
        made = [None] * len(new)
        res = []
        for p in plan_outs:
            kind = p[0]
            if kind == "input":
                res.append(placeholders[p[1]])
            elif kind == "view":
                off, shape, strides, dt, dev = p[2]
                res.append(_make(cells[p[1]], off, shape, strides, dt, dev, R.backend))
            else:
                j = p[1]
                if made[j] is None:
                    n, dt, d = p[3]
                    made[j] = R.Cell(new[j], n, dt, d)
                off, shape, strides, dt, dev = p[2]
                res.append(_make(made[j], off, shape, strides, dt, dev, R.backend))
        return tuple(res)
