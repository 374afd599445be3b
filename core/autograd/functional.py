"""Function transforms on top of the engine: vjp, jvp, hvp, vhp, jacobian, hessian."""

from __future__ import annotations

from .._tensor import Tensor
from .engine import grad
from .grad_mode import enable_grad

__all__ = ["vjp", "jvp", "hvp", "vhp", "jacobian", "hessian"]


def _tup(x):
    return (tuple(x), True) if isinstance(x, (tuple, list)) else ((x,), False)


def _prep(inputs, create_graph):
    return tuple(x.detach().requires_grad_(True) if not create_graph else
                 (x if x.requires_grad else x.detach().requires_grad_(True)) for x in inputs)


def _ret(xs, is_tuple):
    return tuple(xs) if is_tuple else xs[0]


def _zeros_if_none(gs, like):
    from ..ops.creation import zeros_like
    return [g if g is not None else zeros_like(x) for g, x in zip(gs, like)]


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T J): the vector-Jacobian product at inputs."""
    inputs, in_tuple = _tup(inputs)
    with enable_grad():
        xs = _prep(inputs, create_graph)
        out = func(*xs)
        outs, out_tuple = _tup(out)
        vs = _tup(v)[0] if v is not None else (None,) * len(outs)
        gs = grad(outs, xs, vs, create_graph=create_graph, allow_unused=True)
    res = _zeros_if_none(gs, xs)
    outs = tuple(o if create_graph else o.detach() for o in outs)
    return _ret(outs, out_tuple), _ret([g if create_graph else g.detach() for g in res], in_tuple)


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), J v): the Jacobian-vector product, by differentiating a vjp (the double-vjp trick)."""
    from ..ops.creation import zeros_like, ones_like
    inputs, in_tuple = _tup(inputs)
    with enable_grad():
        xs = _prep(inputs, create_graph)
        out = func(*xs)
        outs, out_tuple = _tup(out)
        us = [zeros_like(o).requires_grad_(True) for o in outs]
        gs = grad(outs, xs, us, create_graph=True, allow_unused=True)
        vs = _tup(v)[0] if v is not None else tuple(ones_like(x) for x in xs)
        pairs = [(g, vi) for g, vi in zip(gs, vs) if g is not None and g.requires_grad]
        if not pairs:
            res = [zeros_like(o) for o in outs]
        else:
            res = grad([g for g, _ in pairs], us, [vi for _, vi in pairs], create_graph=create_graph,
                       allow_unused=True)
            res = _zeros_if_none(res, outs)
    outs = tuple(o if create_graph else o.detach() for o in outs)
    return _ret(outs, out_tuple), _ret([r if create_graph else r.detach() for r in res], out_tuple)


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T H) for a scalar function."""
    inputs, in_tuple = _tup(inputs)
    with enable_grad():
        xs = _prep(inputs, create_graph)
        out = func(*xs)
        gs = grad(out, xs, create_graph=True, allow_unused=True)
        vs = _tup(v)[0]
        pairs = [(g, vi, x) for g, vi, x in zip(gs, vs, xs) if g is not None]
        hs = grad([p[0] for p in pairs], xs, [p[1] for p in pairs], create_graph=create_graph, allow_unused=True)
    res = _zeros_if_none(hs, xs)
    return (out if create_graph else out.detach()), _ret([r if create_graph else r.detach() for r in res], in_tuple)


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), H v) for a scalar function (H is symmetric, so this is vhp)."""
    return vhp(func, inputs, v, create_graph, strict)


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False):
    """The full Jacobian, one vjp per output element: shape output.shape + input.shape per pair."""
    import numpy as np
    from .._factory import tensor
    from ..ops.views import reshape
    from ..ops.shape import stack
    inputs, in_tuple = _tup(inputs)
    with enable_grad():
        xs = _prep(inputs, create_graph)
        outs, out_tuple = _tup(func(*xs))
        table = []
        for o in outs:
            rows = [[] for _ in xs]
            n = o.numel()
            for m in range(n):
                e = np.zeros(n)
                e[m] = 1.0
                gs = grad([o], xs, [tensor(e.reshape(o._shape), dtype=o._dtype, device=o._device)],
                          retain_graph=True, create_graph=create_graph, allow_unused=True)
                for k, (g, x) in enumerate(zip(_zeros_if_none(gs, xs), xs)):
                    rows[k].append(g)
            per = []
            for k, x in enumerate(xs):
                if n:
                    j = reshape(stack(rows[k]), tuple(o._shape) + tuple(x._shape))
                else:
                    from ..ops.creation import zeros
                    j = zeros(tuple(o._shape) + tuple(x._shape), dtype=x._dtype, device=x._device)
                per.append(j if create_graph else j.detach())
            table.append(_ret(per, in_tuple))
    return _ret(table, out_tuple)


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False):
    """The Hessian of a scalar function: the Jacobian of its gradient."""
    inputs, in_tuple = _tup(inputs)

    def grad_fn(*xs):
        with enable_grad():
            out = func(*xs)
            gs = grad(out, xs, create_graph=True, allow_unused=True)
        return _ret(_zeros_if_none(gs, xs), in_tuple)
    return jacobian(grad_fn, _ret(inputs, in_tuple), create_graph=create_graph)
