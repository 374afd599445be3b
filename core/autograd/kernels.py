"""The Autograd dispatch key's entries: one per operator, built from its formula.

An entry runs only when some argument carries the Autograd key bit (it
requires grad, is a dual tensor, or was saved for backward) and grad mode is
on. It computes the operator below itself (the Autograd key excluded), then
records a node with the operator's formula. A composite without a formula
runs its decomposition with autograd on, so its pieces record themselves,
and a backend kernel for it is bypassed only when a gradient is needed.
"""

from __future__ import annotations

from .._tensor import Tensor
from ..dispatch import fast as _fastpath
from ..dispatch.keys import AUTOGRAD
from ..dispatch.operator import registry, state
from . import forward_state as FW
from .graph import AutogradMeta, TensorInfo, bump_version, detached, edge_of, meta_of, rebase
from .registry import FORMULAS, NONDIFFERENTIABLE
from ..errors import UnsupportedError

_AG = AUTOGRAD.bit
_NOT_AG = ~_AG
__all__ = ["install", "install_op", "below"]


def below(fn, args):
    """Run fn with the Autograd key excluded (the redispatch below this key)."""
    S = state
    prev, prev_inplace = S.allowed, S.inplace_keys
    S.allowed = prev & _NOT_AG
    S.inplace_keys = 0
    try:
        return fn(*args)
    finally:
        S.allowed = prev
        S.inplace_keys = prev_inplace


def _clean(out):
    """Outputs computed below autograd may be views that copied an input's key bit: drop it."""
    if out.__class__ is Tensor:
        if out._ag is None:
            out._keys &= _NOT_AG
    elif isinstance(out, (tuple, list)):
        for o in out:
            if isinstance(o, Tensor) and o._ag is None:
                o._keys &= _NOT_AG
    return out


def _requires(a):
    m = a._ag
    return m is not None and m.requires_grad


def _tangent(a):
    m = a._ag
    if m is None or m.fw is None or m.fw_level != FW.state.level:
        return None
    return m.fw


def _leaf_error(opname):
    return RuntimeError(
        f"a leaf tensor that requires grad is being used in an in-place operation ({opname}); do it under "
        f"`with ember.no_grad():`, or on a clone()")


def _view_of_leaf_error(opname):
    return RuntimeError(
        f"a view of a leaf tensor that requires grad is being used in an in-place operation ({opname}); do it "
        f"under `with ember.no_grad():`, or on a clone() of the leaf")


class _Plan:
    """Per-operator facts the entry needs, computed once."""

    __slots__ = ("op", "fn", "tpos", "names", "save_pos", "want_result", "result_keep", "multi", "inplace", "is_view",
                 "formula", "opname", "base_fn", "node_cls", "save_if", "save_if_items")

    def __init__(self, op, formula):
        self.op = op
        self.fn = op.fn.positional
        args = op.schema.arguments
        self.tpos = tuple((i, a.is_list) for i, a in enumerate(args) if a.is_tensor)
        self.names = tuple(a.name for a in args)
        save = formula.save if formula is not None else None
        self.save_pos = frozenset(i for i, _ in self.tpos if save is None or self.names[i] in save)
        # save_if: position -> edge indices of the arguments whose gradient needs it
        self.save_if = None
        if isinstance(save, dict):
            edge_index = {}
            k = 0
            for i, is_list in self.tpos:
                edge_index[self.names[i]] = k
                k += 1
            self.save_if = {self.names.index(n): tuple(edge_index[c] for c in conds)
                            for n, conds in save.items() if not n.startswith("result") and conds is not None}
        self.save_if_items = tuple(self.save_if.items()) if self.save_if is not None else ()
        picked = sorted(int(n[7:-1]) for n in (save or ()) if n.startswith("result["))
        self.want_result = save is not None and ("result" in save or bool(picked))
        # per output, whether it is saved ("result[k]" saves output k alone); None: every output
        self.result_keep = tuple(k in picked for k in range(picked[-1] + 1)) if picked else None
        r = op.schema.returns.strip()
        self.multi = r.startswith("(") or r.endswith("[]")
        self.inplace = op.name.endswith("_")
        self.is_view = op.is_view
        self.formula = formula
        self.opname = op.name
        from .graph import node_class
        self.node_cls = node_class(op.name)
        base = registry.get(formula.name) if formula is not None else None
        self.base_fn = base.fn.positional if base is not None else op.fn.positional


def _scan(plan, args):
    """(edges, in_info, need grad, any tangent) for the tensor arguments."""
    edges, infos = [], []
    need = False
    fw = FW.state.level >= 0 and not FW.state.busy
    tan = False
    for i, is_list in plan.tpos:
        a = args[i]
        items = a if is_list else (a,)
        for x in items:
            if isinstance(x, Tensor):
                e = edge_of(x) if x._ag is not None else None
                if e is not None:
                    need = True
                edges.append(e)
                infos.append(TensorInfo(x) if e is not None else None)  # only what gets a gradient
                if fw and not tan and _tangent(x) is not None:
                    tan = True
            else:
                edges.append(None)
                infos.append(None)
    return edges, infos, need, tan


def _formula_entry(plan):
    opname = plan.opname
    fn = plan.fn

    inplace = plan.inplace

    def entry(*args):
        if inplace and not state.allowed & _AG:  # under no_grad: only the version counter moves
            out = below(fn, args)
            bump_version(args[0])
            return out
        edges, infos, need, tan = _scan(plan, args)
        if not need and not tan:
            out = below(fn, args)
            if inplace:
                bump_version(args[0])
                return out
            return _clean(out)
        if plan.inplace:
            return _inplace(plan, args, edges, infos, need, tan)
        out = below(fn, args)
        if out is args[0]:  # the input itself (contiguous() of a contiguous tensor): nothing to record
            return out
        if need:
            _record(plan, args, out, edges, infos)
        if tan:
            _forward(plan, args, args, out)
        return out
    entry.__name__ = f"autograd_{opname}"
    entry.plan = plan  # read by the native fast path (dispatch/fast.py), which records this entry's nodes
    return entry


def _saved_args(plan, args, edges):
    sp = plan.save_pos
    if plan.save_if is not None:
        drop = ()
        for i, conds in plan.save_if_items:
            for c in conds:
                if edges[c] is not None:
                    break
            else:
                drop += (i,)
        if drop:
            sp = sp.difference(drop)
    keep = []
    sargs = None
    for i, is_list in plan.tpos:
        a = args[i]
        if i in sp:
            for x in (a if is_list else (a,)):
                if isinstance(x, Tensor):
                    keep.append(x)
                    m = x._ag
                    if m is None or not m.requires_grad:
                        if m is None:
                            x._ag = AutogradMeta()
                        x._keys |= _AG  # tracked, so an in-place change bumps its version
        elif is_list:
            if sargs is None:
                sargs = list(args)
            sargs[i] = [TensorInfo(x) if isinstance(x, Tensor) else x for x in a]
        elif isinstance(a, Tensor):
            if sargs is None:
                sargs = list(args)
            sargs[i] = TensorInfo(a)
    return (tuple(args) if sargs is None else tuple(sargs)), keep


def _record(plan, args, out, edges, infos, self_override=None):
    sargs, keep = _saved_args(plan, args if self_override is None else (self_override,) + tuple(args[1:]), edges)
    if plan.multi:
        outs = out
        out_info = tuple(TensorInfo(o) if isinstance(o, Tensor) and o._dtype.category >= 2 else None
                         for o in outs)
    else:
        outs = (out,)
        out_info = (TensorInfo(out) if isinstance(out, Tensor) and out._dtype.category >= 2 else None,)
    result = None
    if plan.want_result:
        if plan.multi:
            rk = plan.result_keep
            result = tuple(detached(o) if rk is None or (k < len(rk) and rk[k]) else None for k, o in enumerate(outs))
        else:
            result = detached(out)
        saved = [o for o, r in zip(outs, result if plan.multi else (result,)) if isinstance(r, Tensor)]
        for o in saved:   # tracked, so that an in-place change bumps the version the node checks
            if o._ag is None or not o._ag.requires_grad:
                o._keys |= _AG
        keep = keep + [r for r in (result if plan.multi else (result,)) if isinstance(r, Tensor)]
    node = plan.node_cls(edges, plan.formula, plan.opname, sargs, keep, infos, out_info, result, plan.multi)
    if plan.inplace:
        return node
    base = None
    if plan.is_view:
        src = args[0]
        sm = src._ag
        base = sm.base if sm is not None and sm.base is not None else src
    for k, o in enumerate(outs):
        if out_info[k] is None:
            continue
        m = o._ag
        if m is None:
            m = o._ag = AutogradMeta()
        m.requires_grad = True
        m.grad_fn = node
        m.output_nr = k
        o._keys |= _AG
        if base is not None:
            m.base = base
            m.view_hist = meta_of(base).hist
    return node


def _inplace(plan, args, edges, infos, need, tan):
    self = args[0]
    m = self._ag
    opname = plan.opname
    base = None
    if need:
        if m is not None and m.requires_grad and m.grad_fn is None and m.base is None:
            from .grad_mode import is_grad_enabled
            if is_grad_enabled():
                raise _leaf_error(opname)
        if m is not None and m.base is not None:
            base = m.base
        elif (m is None or not m.requires_grad) and self._base is not None:
            base = self._base
        if base is not None:
            bm = base._ag
            if bm is not None and bm.requires_grad and bm.grad_fn is None and bm.base is None:
                raise _view_of_leaf_error(opname)
    old_self = None
    if (need and 0 in plan.save_pos and (plan.save_if is None or 0 not in plan.save_if
                                         or any(edges[c] is not None for c in plan.save_if[0]))) or tan:
        from ..ops.creation import clone
        old_self = clone(self)  # the value before the change, with self's history, for the formula
    out = below(plan.fn, args)
    bump_version(self)
    if need:
        node = _record(plan, args, out, edges, infos, self_override=old_self)
        if base is None:
            m = meta_of(self)
            m.grad_fn = node
            m.output_nr = 0
            m.requires_grad = True
            m.hist += 1
            self._keys |= _AG
        else:
            rebase(base, self, node)
    if tan:
        _forward(plan, (old_self,) + tuple(args[1:]), args, out)
    return out


def _composite_entry(op):
    decomposition = op.decomposition
    fn = op.fn.positional
    inplace = op.name.endswith("_")
    plan = _Plan(op, None)
    outer = registry.get(op.name[:-1]) if inplace else None
    if outer is not None:
        # self_.op(...) as self.copy_(op(self.clone(), ...)): the out-of-place op may save its input,
        # which the in-place write would otherwise invalidate.
        from ..ops.creation import clone, copy_
        outer_fn = outer.fn.positional

        def decomposition(self, *rest):
            return copy_(self, outer_fn(clone(self), *rest))

    def entry(*args):
        if inplace and not state.allowed & _AG:
            out = below(fn, args)
            bump_version(args[0])
            return out
        edges, infos, need, tan = _scan(plan, args)
        if need or tan:
            return decomposition(*args)
        out = below(fn, args)
        if inplace:
            bump_version(args[0])
            return out
        return _clean(out)
    entry.__name__ = f"autograd_composite_{op.name}"
    return entry


def _bump_entry(op):
    fn = op.fn.positional

    def entry(*args):
        out = below(fn, args)
        bump_version(args[0])
        return out
    return entry


def _missing_entry(op):
    fn = op.fn.positional
    plan = _Plan(op, None)

    def entry(*args):
        edges, infos, need, tan = _scan(plan, args)
        if need or tan:
            raise UnsupportedError(
                f"the derivative of operator {op.name!r} is not implemented; register one with "
                f"@ember.autograd.derivative({op.name!r}) (see ember.autograd.registry)")
        return _clean(below(fn, args))
    return entry


def _forward(plan, args, cur_args, out):
    from .forward_ad import compute_jvp
    compute_jvp(plan, args, out)


def formula_for(name):
    f = FORMULAS.get(name)
    if f is None and name.endswith("_") and name[:-1] in FORMULAS:
        f = FORMULAS[name[:-1]]
    return f


def entry_for(op):
    """The Autograd entry of an operator, or None when it needs none."""
    name = op.name
    if not any(a.is_tensor for a in op.schema.arguments):
        return None
    f = formula_for(name)
    if f is not None:
        return _fastpath.autograd_entry(op, _formula_entry(_Plan(op, f)))
    inplace = name.endswith("_")
    if name in NONDIFFERENTIABLE:
        return _bump_entry(op) if inplace else None
    if op.decomposition is not None and not op.is_prim and not op.is_view:
        return _composite_entry(op)
    return _missing_entry(op)


def install_op(op):
    e = entry_for(op)
    idx = AUTOGRAD.index
    if e is None:
        if op.kernels.pop(idx, None) is not None:
            op.rebuild()
        return
    op.kernels[idx] = e
    op.rebuild()


def _on_formula(name):
    op = registry.get(name)
    if op is not None:
        install_op(op)
    op = registry.get(name + "_")
    if op is not None:
        install_op(op)


def install():
    from ..dispatch import operator as O
    from . import registry as R
    from .graph import bump_version
    O.bump_version = bump_version   # in-place writes through views the Autograd key does not see
    for op in list(registry.values()):
        install_op(op)
    if install_op not in O._define_hooks:
        O._define_hooks.append(install_op)
    if _on_formula not in R._listeners:
        R._listeners.append(_on_formula)
