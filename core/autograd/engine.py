"""The backward pass: run the graph's nodes in dependency order from the roots."""

from __future__ import annotations

import threading

from .grad_mode import is_grad_enabled, _set
from .graph import AccumulateGrad, edge_of
from ..errors import InvalidArgumentError

__all__ = ["run_backward", "backward", "grad", "queue_callback"]

# Per thread, one list of final callbacks per backward pass now running (nested passes stack).
_tls = threading.local()


def queue_callback(callback) -> None:
    """Run ``callback()`` once the backward pass now running has finished (every node, every hook).

    PyTorch spells this ``Variable._execution_engine.queue_callback``; DistributedDataParallel uses it to wait
    for the gradient all-reduces it launched from hooks. Call it from a hook during backward; callbacks run in
    the order queued, may queue more, and are dropped if the pass raises.
    """
    stack = getattr(_tls, "callbacks", None)
    if not stack:
        raise InvalidArgumentError("queue_callback: final callbacks can only be installed during the backward pass; "
                                   "call it from a tensor or node hook that runs inside backward()")
    stack[-1].append(callback)


def _add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    if getattr(a, "is_sparse", False) and not getattr(b, "is_sparse", False):
        return b + a  # sparse + dense is not defined; dense + sparse is, and is dense, as PyTorch sums them
    return a + b


def _seq_key(n):
    return n.seq


def _collect(roots):
    """Every node reachable from the roots, with how many edges lead into it."""
    deps = {n: 0 for n in roots}
    stack = list(roots)
    pop, push = stack.pop, stack.append
    while stack:
        for e in pop().edges:
            if e is None:
                continue
            c = e[0]
            d = deps.get(c)
            if d is None:
                deps[c] = 1
                push(c)
            else:
                deps[c] = d + 1
    return deps


def _needed(deps, targets):
    """Nodes from which a target node can be reached (only they run when inputs are given)."""
    need = set()
    children = {}
    for n in deps:
        children[n] = [e[0] for e in n.edges if e is not None]
    # iterate to a fixed point in reverse topological order via repeated DFS
    order, state = [], {}
    for root in deps:
        if root in state:
            continue
        stack = [(root, iter(children[root]))]
        state[root] = 1
        while stack:
            node, it = stack[-1]
            for c in it:
                if c not in state:
                    state[c] = 1
                    stack.append((c, iter(children[c])))
                    break
            else:
                stack.pop()
                order.append(node)
    for n in order:  # children come before parents
        if n in targets or any(c in need for c in children[n]):
            need.add(n)
    return need


def run_backward(root_edges, root_grads, retain_graph, create_graph, inputs=None, accumulate=True):
    """Run backward from (edge, grad) roots. With ``inputs`` (tensors), return their gradients."""
    prev = is_grad_enabled()
    _set(create_graph)
    stack = getattr(_tls, "callbacks", None)
    if stack is None:
        stack = _tls.callbacks = []
    callbacks = []
    stack.append(callbacks)
    try:
        res = _run(root_edges, root_grads, retain_graph, create_graph, inputs, accumulate)
        i = 0
        while i < len(callbacks):  # a callback may queue another
            callbacks[i]()
            i += 1
        return res
    finally:
        stack.pop()
        _set(prev)


def _run(root_edges, root_grads, retain_graph, create_graph, inputs, accumulate):
    roots = []
    for e in root_edges:
        if e[0] not in roots:
            roots.append(e[0])
    deps = _collect(roots)
    # What to capture: (node, nr) -> slot in the result
    capture = None
    targets = None
    if inputs is not None:
        capture = {}
        targets = set()
        for i, t in enumerate(inputs):
            e = edge_of(t)
            if e is None:
                continue
            capture.setdefault((e[0], e[1]), []).append(i)
            targets.add(e[0])
        need = _needed(deps, targets)
    else:
        need = None
    results = [None] * (len(inputs) if inputs is not None else 0)
    buffers: dict = {}
    for (node, nr), g in zip(root_edges, root_grads):
        buf = buffers.get(node)
        if buf is None:
            buf = buffers[node] = {}
        buf[nr] = _add(buf.get(nr), g)
    # Every edge leads from a node to one made before it (a lower seq), so descending seq is a
    # topological order of the reachable graph.
    order = sorted(deps, key=_seq_key, reverse=True)
    user_grads = set(id(g) for g in root_grads)
    for g in root_grads:  # t's backward may hand on the base of a transposed gradient: it is the user's too
        b = getattr(g, "_base", None)
        if b is not None:
            user_grads.add(id(b))
    stored = set()
    for node in order:
        buf = buffers.pop(node, None)
        if buf is None:
            continue
        if node.pre_hooks:
            for nr, hooks in node.pre_hooks.items():
                for h in list(hooks):
                    r = h(buf.get(nr))
                    if r is not None:
                        buf[nr] = r
        if capture is not None:
            for nr, g in buf.items():
                for i in capture.get((node, nr), ()):
                    results[i] = g
        if node.__class__ is AccumulateGrad:
            if inputs is None or (accumulate and node in targets):
                _accumulate(node, buf.get(0), create_graph, user_grads, stored)
            continue
        if need is not None and node not in need:
            continue
        nout = node.nout
        grads = [buf.get(0)] if nout == 1 else [buf.get(i) for i in range(nout)]
        outs = node.apply(grads)
        if node.post_hooks:
            for h in node.post_hooks:
                r = h(outs, grads)
                if r is not None:
                    outs = list(r)
        if not retain_graph:
            node.release()
        for e, g in zip(node.edges, outs):
            if e is None or g is None:
                continue
            c, nr = e
            b = buffers.get(c)
            if b is None:
                buffers[c] = {nr: g}
            else:
                b[nr] = _add(b.get(nr), g)
    return results


def _accumulate(node, g, create_graph, user_grads, stored):
    t = node.ref()
    if t is None or g is None:
        return
    m = t._ag
    if m.hooks:
        for h in list(m.hooks):
            r = h(g)
            if r is not None:
                g = r
    if not create_graph:
        if g._ag is not None and g._ag.requires_grad:
            g = g.detach()
    if m.grad is None:
        if id(g) in user_grads or id(g) in stored or g._base is not None:
            g = g.clone() if not create_graph else g + 0
        m.grad = g
        stored.add(id(g))
    else:
        m.grad = _add(m.grad, g)
        stored.add(id(m.grad))
    if node.post_acc_hooks:
        for h in list(node.post_acc_hooks):
            h(t)


def _make_grads(outputs, grad_outputs, create_graph):
    from ..ops.creation import full
    grads = []
    for i, (o, g) in enumerate(zip(outputs, grad_outputs)):
        if g is None:
            if o.numel() != 1:
                raise InvalidArgumentError(f"grad can be implicitly created only for scalar outputs; output {i} has "
                                           f"shape {tuple(o._shape)}: pass gradient= (or grad_outputs=) of that shape")
            g = full(o._shape, 1, dtype=o._dtype, device=o._device)
        elif not hasattr(g, "_shape"):
            g = full(o._shape, g, dtype=o._dtype, device=o._device)
        elif g._shape != o._shape:
            raise InvalidArgumentError(f"mismatch in shape: grad_output[{i}] has a shape of {tuple(g._shape)} and "
                                       f"output[{i}] has a shape of {tuple(o._shape)}")
        grads.append(g)
    return grads


def _as_tuple(x):
    if x is None:
        return None
    if isinstance(x, (tuple, list)):
        return tuple(x)
    return (x,)


def _root_edges(outputs):
    edges = []
    for i, o in enumerate(outputs):
        e = edge_of(o)
        if e is None:
            raise InvalidArgumentError(f"element {i} of tensors does not require grad and does not have a grad_fn; "
                                       f"call requires_grad_() on a leaf (or create it with requires_grad=True) before "
                                       f"the computation")
        edges.append(e)
    return edges


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Compute the gradient of tensors w.r.t. the graph's leaves, adding it to their ``.grad``."""
    tensors = _as_tuple(tensors)
    grad_tensors = _as_tuple(grad_tensors) or (None,) * len(tensors)
    if retain_graph is None:
        retain_graph = create_graph
    grads = _make_grads(tensors, grad_tensors, create_graph)
    edges = _root_edges(tensors)
    inputs = _as_tuple(inputs)
    if inputs is not None:
        for t in inputs:
            if t._ag is None or not t._ag.requires_grad:
                raise InvalidArgumentError("backward(inputs=...): every input must require grad")
        res = run_backward(edges, grads, retain_graph, create_graph, inputs=inputs, accumulate=True)
        for t, g in zip(inputs, res):  # non-leaf inputs get their grad too, as in PyTorch
            if g is not None and t._ag.grad_fn is not None:
                m = t._ag
                m.grad = g if m.grad is None else m.grad + g
        return None
    run_backward(edges, grads, retain_graph, create_graph)
    return None


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, only_inputs=True,
         allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """The gradients of outputs w.r.t. inputs (a tuple), without touching any ``.grad``."""
    outputs = _as_tuple(outputs)
    inputs = _as_tuple(inputs)
    if allow_unused is None:
        allow_unused = materialize_grads
    grad_outputs = _as_tuple(grad_outputs) or (None,) * len(outputs)
    if retain_graph is None:
        retain_graph = create_graph
    for i, t in enumerate(inputs):
        if t._ag is None or not t._ag.requires_grad:
            raise InvalidArgumentError(f"one of the differentiated tensors (input {i}, shape {tuple(t._shape)}) does not "
                                       f"require grad")
    grads = _make_grads(outputs, grad_outputs, create_graph)
    edges = _root_edges(outputs)
    res = run_backward(edges, grads, retain_graph, create_graph, inputs=inputs, accumulate=False)
    out = []
    for i, (t, g) in enumerate(zip(inputs, res)):
        if g is None:
            if materialize_grads:
                from ..ops.creation import zeros_like
                g = zeros_like(t)
            elif not allow_unused:
                raise InvalidArgumentError(f"one of the differentiated tensors (input {i}, shape {tuple(t._shape)}) appears "
                                           f"to not have been used in the graph; set allow_unused=True if this is the "
                                           f"desired behavior")
        elif not create_graph and g._ag is not None and g._ag.requires_grad:
            g = g.detach()
        out.append(g)
    return tuple(out)
