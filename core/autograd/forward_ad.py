"""Forward-mode AD: dual tensors carry a tangent, and each operator pushes it forward (a JVP).

    import ember.autograd.forward_ad as fwAD
    with fwAD.dual_level():
        x = fwAD.make_dual(primal, tangent)
        y = f(x)
        jvp = fwAD.unpack_dual(y).tangent

Rules come from the operator's derivative registration (``linear=``,
``elementwise=``, ``jvp=``); an operator with only a backward formula gets its
JVP by differentiating that formula once more (the formula is linear in the
output gradient ``u``, so d/du <formula(u), t> is the JVP).
"""

from __future__ import annotations

from collections import namedtuple

from .._tensor import Tensor
from ..dispatch.keys import AUTOGRAD
from . import forward_state as FW
from .graph import TensorInfo, meta_of, fit_grads
from ..errors import InvalidArgumentError

__all__ = ["dual_level", "make_dual", "unpack_dual", "enter_dual_level", "exit_dual_level", "UnpackedDualTensor"]

_AG = AUTOGRAD.bit
UnpackedDualTensor = namedtuple("UnpackedDualTensor", ["primal", "tangent"])


def enter_dual_level():
    if FW.state.level >= 0:
        raise InvalidArgumentError("ember.autograd.forward_ad supports one dual level at a time; exit the current "
                                   "dual_level() first")
    FW.state.next += 1
    FW.state.level = FW.state.next
    return FW.state.level


def exit_dual_level(*, level=None):
    FW.state.level = -1


class dual_level:
    """Context in which dual tensors carry tangents; on exit every tangent is dropped."""

    def __enter__(self):
        return enter_dual_level()

    def __exit__(self, *exc):
        exit_dual_level()
        return False


def make_dual(tensor, tangent, *, level=None):
    """A view of ``tensor`` whose tangent is ``tangent`` (same shape), inside a dual_level()."""
    if FW.state.level < 0:
        raise InvalidArgumentError("make_dual() must be called inside `with ember.autograd.forward_ad.dual_level():`")
    if not isinstance(tangent, Tensor) or tangent._shape != tensor._shape:
        raise InvalidArgumentError(f"make_dual(): the tangent must be a tensor of the primal's shape {tuple(tensor._shape)}, "
                                   f"got {getattr(tangent, 'shape', type(tangent).__name__)}")
    if not tensor._dtype.is_floating_point:
        raise InvalidArgumentError(f"make_dual(): expected a floating primal, got dtype {tensor._dtype.name}")
    from ..ops.views import view
    prev = FW.state.busy
    FW.state.busy = True
    try:
        out = view(tensor, tensor._shape)
    finally:
        FW.state.busy = prev
    m = meta_of(out)
    m.fw = tangent if tangent._dtype is tensor._dtype else tangent.to(tensor._dtype)
    m.fw_level = FW.state.level
    out._keys |= _AG
    return out


def unpack_dual(tensor, *, level=None):
    """(primal, tangent) of a dual tensor; the tangent is None when it has none."""
    m = tensor._ag
    t = None
    if m is not None and m.fw is not None and m.fw_level == FW.state.level and FW.state.level >= 0:
        t = m.fw
    if t is None:
        return UnpackedDualTensor(tensor, None)
    from ..ops.views import view
    prev = FW.state.busy
    FW.state.busy = True
    try:
        primal = view(tensor, tensor._shape)
    finally:
        FW.state.busy = prev
    return UnpackedDualTensor(primal, t)


def _set_tangent(o, t):
    if t is None or not isinstance(o, Tensor) or not o._dtype.is_floating_point:
        return
    if t._dtype is not o._dtype:
        t = t.to(o._dtype)
    if t._shape != o._shape:
        from ..ops.views import expand
        t = expand(t, o._shape).contiguous()
    m = meta_of(o)
    m.fw = t
    m.fw_level = FW.state.level
    o._keys |= _AG


def _tangents(plan, args):
    """One tangent per tensor argument (flattened over Tensor[] arguments), None where zero."""
    from .kernels import _tangent
    out = []
    for i, is_list in plan.tpos:
        a = args[i]
        for x in (a if is_list else (a,)):
            out.append(_tangent(x) if isinstance(x, Tensor) else None)
    return out


def compute_jvp(plan, args, out):
    """Attach the output tangent(s) of one operator call. ``args`` hold the pre-call values."""
    tans = _tangents(plan, args)
    if all(t is None for t in tans):
        return
    st = FW.state
    prev = st.busy
    st.busy = True
    try:
        r = _jvp(plan, args, tans, out)
    finally:
        st.busy = prev
    if plan.multi:
        for o, t in zip(out, r):
            _set_tangent(o, t)
    elif r is None and plan.inplace:
        m = out._ag
        if m is not None:
            m.fw = None   # overwritten by values without a tangent
    else:
        _set_tangent(out, r)


def _jvp(plan, args, tans, out):
    f = plan.formula
    if f.jvp is not None:
        return f.jvp(tans, *args, result=out)
    if f.linear:
        return _linear(plan, args, tans)
    if f.elementwise:
        return _elementwise(plan, args, tans, out)
    return _via_double_vjp(plan, args, tans, out)


def _zeros(x):
    from ..ops.creation import zeros_like
    return zeros_like(x)


def _linear(plan, args, tans):
    args = list(args)
    k = 0
    for i, is_list in plan.tpos:
        a = args[i]
        if is_list:
            new = []
            for x in a:
                t = tans[k]
                k += 1
                new.append(t if t is not None else _zeros(x))
            if plan.names[i] in plan.formula.linear:
                args[i] = new
        else:
            t = tans[k]
            k += 1
            if plan.names[i] in plan.formula.linear:
                if isinstance(a, Tensor):
                    args[i] = t if t is not None else _zeros(a)
                elif isinstance(a, (int, float)) and not isinstance(a, bool):
                    args[i] = 0   # a number in a tensor position is a constant: its tangent is zero
    return plan.base_fn(*args)


def _elementwise(plan, args, tans, out):
    f = plan.formula
    total = None
    res = out if out is not None else None
    k = 0
    for i, is_list in plan.tpos:
        t = tans[k]
        k += 1
        if t is None:
            continue
        shape = out._shape
        if t._shape != shape:
            from ..ops.views import expand
            t = expand(t, shape)
        r = f.fn(t, *args, result=res) if _wants_result(plan) else f.fn(t, *args)
        if not isinstance(r, (tuple, list)):
            r = (r,)
        g = r[k - 1]
        if g is None:
            continue
        if not isinstance(g, Tensor):
            continue
        total = g if total is None else total + g
    return total


def _wants_result(plan):
    return plan.want_result


def _via_double_vjp(plan, args, tans, out):
    from .engine import grad
    from .grad_mode import enable_grad
    from ..ops.creation import zeros_like
    from ..ops.reduction import sum as _sum
    outs = out if plan.multi else (out,)
    us = []
    with enable_grad():
        for o in outs:
            if isinstance(o, Tensor) and o._dtype.is_floating_point:
                u = zeros_like(o)
                u.requires_grad_(True)
                us.append(u)
            else:
                us.append(None)
        g = tuple(us) if plan.multi else us[0]
        infos = []
        for i, is_list in plan.tpos:
            a = args[i]
            for x in (a if is_list else (a,)):
                infos.append(TensorInfo(x) if isinstance(x, Tensor) and x._dtype.is_floating_point else None)
        if plan.want_result:
            r = plan.formula.fn(g, *args, result=out)
        else:
            r = plan.formula.fn(g, *args)
        grads = fit_grads(r, infos, len(infos))
        s = None
        for gi, t in zip(grads, tans):
            if gi is None or t is None:
                continue
            term = _sum(gi * t)
            s = term if s is None else s + term
        live = [u for u in us if u is not None]
        if s is None or not (s._ag is not None and s._ag.requires_grad):
            res = [None for _ in us]
        else:
            got = list(grad(s, live, allow_unused=True))
            res = [got.pop(0) if u is not None else None for u in us]
    res = [r.detach() if r is not None else None for r in res]
    return tuple(res) if plan.multi else res[0]
